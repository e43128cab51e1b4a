// Git objects are read exactly as git reads them, and what git would not write is refused naming the
// object: every attack is an object written with hash-object --literally, and git fsck --strict is
// asked too, so a refusal is one git agrees with (or, where Vigil is stricter, says so).
import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { test, type TestContext } from "node:test";
import { CatFile } from "../src/git/cat-file.ts";
import { MAX_TREE_DEPTH, TreeWalker } from "../src/git/changes.ts";
import { MissingObjectError, OBJECT_LIMITS, ObjectFormatError, parseCommit, parseTag, parseTree } from "../src/git/objects.ts";
import { rawTreeBytes, soleOwnerPolicy, SshSigner, TestRepo, writeLiteralObject, type RawTreeEntry } from "./helpers/git-fixture.ts";
import { requireTools, tempDir, vigil } from "./helpers/tools.ts";

function fixture(t: TestContext): { repo: TestRepo; objects: CatFile; walker: TreeWalker; blob: string; commit: string; raw: string } {
  const repo = new TestRepo(tempDir(t));
  repo.commit({ "a.txt": "a\n" }, null);
  const commit = repo.commit({ "a.txt": "b\n", "dir/b.txt": "b\n" }, null);
  const objects = new CatFile(`${repo.dir}/.git`);
  t.after(() => objects.close());
  return { repo, objects, walker: new TreeWalker(objects), blob: repo.git("rev-parse", "HEAD:a.txt"), commit, raw: repo.catCommit(commit) };
}

/** Reads `id` through Vigil's object reader and parser, as the gates do. */
async function readCommit(objects: CatFile, id: string) {
  const o = await objects.read(id);
  assert.equal(o?.type, "commit");
  return parseCommit(id, o!.data);
}

/** What git fsck --strict says about the repository: its problems, or "" when it finds none. */
function fsckStrict(repo: TestRepo): string {
  const r = spawnSync("git", ["fsck", "--strict", "--no-dangling", "--no-progress"], { cwd: repo.dir, encoding: "utf8" });
  return r.stderr
    .split("\n")
    .filter((l) => /^(error|warning)/.test(l))
    .join("\n");
}

function refusedNaming(id: string, reason: RegExp) {
  return (e: unknown) => {
    assert.ok(e instanceof ObjectFormatError, `an ObjectFormatError, got ${String(e)}`);
    assert.equal(e.objectId, id);
    assert.match(e.message, new RegExp(id));
    assert.match(e.message, reason);
    return true;
  };
}

test("a parent header after committer is refused: git sees one parent, and so must Vigil", async (t) => {
  if (!requireTools(t, ["git"])) return;
  const { repo, objects, raw } = fixture(t);
  const [headers, ...body] = raw.split("\n\n");
  const otherParent = repo.git("rev-parse", "HEAD~1");
  const forged = repo.writeRawCommit(`${headers}\nparent ${otherParent}\n\n${body.join("\n\n")}`);
  assert.equal(repo.git("rev-list", "--parents", "-n1", forged).split(" ").length, 2, "git walks it with one parent");
  await assert.rejects(readCommit(objects, forged), refusedNaming(forged, /parent header appears out of git's order/));
  await assert.rejects(new TreeWalker(objects).commitTree(forged), refusedNaming(forged, /parent/));
});

test("the revision gate fails a forged commit with a verdict naming it (exit 1), never exit 3", async (t) => {
  if (!requireTools(t, ["git", "ssh-keygen"])) return;
  const { repo, raw } = fixture(t);
  const [headers, ...body] = raw.split("\n\n");
  const forged = repo.writeRawCommit(`${headers}\nparent ${repo.git("rev-parse", "HEAD~1")}\n\n${body.join("\n\n")}`);
  const trust = soleOwnerPolicy(`${tempDir(t)}/trust.yaml`, new SshSigner(tempDir(t), "alice"), "prod");
  const r = vigil(["verify", "commits", "--repo", repo.dir, "--trust", trust, "--json"]);
  assert.equal(r.status, 1, r.stderr);
  const failed = r.json().checks.find((c: { subject: string; status: string }) => c.subject === forged && c.status === "fail");
  assert.ok(failed, `a failing check on ${forged}: ${r.stdout}`);
  assert.match(failed.message, /parent header appears out of git's order/);
});

test("commit headers out of git's order, repeated, missing or malformed are refused naming the commit", async (t) => {
  if (!requireTools(t, ["git"])) return;
  const { repo, objects, raw } = fixture(t);
  const lines = raw.split("\n");
  const [tree, parent, author, committer] = lines as [string, string, string, string];
  const rest = lines.slice(4).join("\n");
  const cases: [string, string, RegExp][] = [
    ["an empty parent", [tree, "parent ", author, committer, rest].join("\n"), /parent "" is not a 40-digit lowercase object id/],
    ["a parent before the tree", [parent, tree, author, committer, rest].join("\n"), /expected a tree header, found "parent"/],
    ["no tree", [parent, author, committer, rest].join("\n"), /expected a tree header/],
    ["a second tree", [tree, parent, author, committer, tree, rest].join("\n"), /tree header appears out of git's order/],
    ["a second author", [tree, parent, author, author, committer, rest].join("\n"), /expected a committer header, found "author"/],
    [
      "an author after the committer",
      [tree, parent, author, committer, author, rest].join("\n"),
      /author header appears out of git's order/,
    ],
    ["no committer", [tree, parent, author, rest].join("\n"), /expected a committer header/],
    [
      "an uppercase parent id",
      [tree, parent.toUpperCase().replace("PARENT", "parent"), author, committer, rest].join("\n"),
      /lowercase object id/,
    ],
    ["a short tree id", [tree.slice(0, -1), parent, author, committer, rest].join("\n"), /40-digit/],
    ["a continued tree line", [tree, " x", parent, author, committer, rest].join("\n"), /tree/],
    ["no space before the email", [tree, parent, "author A<a@example.com> 1700000000 +0000", committer, rest].join("\n"), /author "A<a@/],
    ["a zero-padded date", [tree, parent, author, committer.replace(/> (\d+)/, "> 0$1"), rest].join("\n"), /committer/],
    ["a bad time zone", [tree, parent, author.replace(/\+0000$/, "+00"), committer, rest].join("\n"), /author/],
    ["a NUL in the message", raw + "\0", /NUL/],
    ["an unterminated header", `${tree}\n${parent}\n${author}\n${committer}`, /not terminated/],
  ];
  for (const [what, text, reason] of cases) {
    const id = writeLiteralObject(repo.dir, "commit", text);
    await assert.rejects(readCommit(objects, id), refusedNaming(id, reason), what);
  }
});

test("commits git writes still parse: merges, optional headers, a signature, and no message at all", async (t) => {
  if (!requireTools(t, ["git"])) return;
  const { repo, objects, raw, commit } = fixture(t);
  const parsed = await readCommit(objects, commit);
  assert.deepEqual(parsed.parents, [repo.git("rev-parse", "HEAD~1")]);
  assert.equal(parsed.tree, repo.git("rev-parse", "HEAD^{tree}"));
  assert.equal(parsed.payload.toString(), raw);

  const [headers, ...body] = raw.split("\n\n");
  const withExtras = writeLiteralObject(
    repo.dir,
    "commit",
    `${headers}\nencoding ISO-8859-1\ngpgsig -----BEGIN SSH SIGNATURE-----\n abc\n -----END SSH SIGNATURE-----\n\n${body.join("\n\n")}`,
  );
  const signed = await readCommit(objects, withExtras);
  assert.equal(signed.signature, "-----BEGIN SSH SIGNATURE-----\nabc\n-----END SSH SIGNATURE-----\n");
  assert.equal(
    signed.payload.toString(),
    `${headers}\nencoding ISO-8859-1\n\n${body.join("\n\n")}`,
    "the signature header is all that is left out",
  );

  // git's parser takes an object that ends after its headers; fsck --strict too.
  const bare = writeLiteralObject(repo.dir, "commit", `${headers}\n`);
  assert.equal((await readCommit(objects, bare)).message, "");
  assert.equal(fsckStrict(repo), "");
});

test("tags: object, type, tag and tagger in git's order, or refused naming the tag", async (t) => {
  if (!requireTools(t, ["git"])) return;
  const { repo, objects, commit } = fixture(t);
  repo.git("tag", "-a", "-m", "release", "v1", commit);
  const tagId = repo.git("rev-parse", "refs/tags/v1");
  const raw = repo.git("cat-file", "tag", tagId) + "\n";
  const read = async (id: string) => parseTag(id, (await objects.read(id))!.data);
  const good = await read(tagId);
  assert.deepEqual([good.object, good.type, good.tag, good.message], [commit, "commit", "v1", "release\n"]);

  const [object, type, tag, tagger] = raw.split("\n") as [string, string, string, string];
  const body = raw.split("\n").slice(4).join("\n");
  const cases: [string, string, RegExp][] = [
    ["type before object", [type, object, tag, tagger, body].join("\n"), /expected a object header, found "type"/],
    ["an unknown type", [object, "type commits", tag, tagger, body].join("\n"), /type "commits" is not an object type/],
    ["a second object", [object, type, tag, tagger, object, body].join("\n"), /object header appears out of git's order/],
    ["a second tagger", [object, type, tag, tagger, tagger, body].join("\n"), /tagger header appears out of git's order/],
    ["no tag name", [object, type, tagger, body].join("\n"), /expected a tag header/],
  ];
  for (const [what, text, reason] of cases) {
    const id = writeLiteralObject(repo.dir, "tag", text);
    await assert.rejects(read(id), refusedNaming(id, reason), what);
  }
});

/** Trees git fsck --strict reports, each refused by Vigil with the reason. */
function hostileTrees(blob: string, subtree: string): { what: string; entries: RawTreeEntry[]; reason: RegExp }[] {
  const file = (name: string | Buffer, mode = "100644"): RawTreeEntry => ({ mode, name, id: blob });
  const dir = (name: string): RawTreeEntry => ({ mode: "40000", name, id: subtree });
  return [
    {
      what: "a zero-padded directory mode",
      entries: [{ mode: "040000", name: "dir", id: subtree }],
      reason: /mode "040000", which git does not write/,
    },
    { what: "a zero-padded file mode", entries: [file("a", "0100644")], reason: /mode "0100644"/ },
    { what: "the legacy group-writable mode", entries: [file("a", "100664")], reason: /mode "100664"/ },
    { what: "an unknown mode", entries: [file("a", "100600")], reason: /mode "100600"/ },
    { what: ".GIT", entries: [dir(".GIT")], reason: /".GIT" is .git/ },
    { what: ".git", entries: [file(".git")], reason: /is .git/ },
    { what: "an NTFS short name", entries: [file("GIT~1")], reason: /is .git/ },
    { what: "trailing dots and spaces", entries: [file(".git. .")], reason: /is .git/ },
    { what: "an NTFS data stream", entries: [file(".git::$INDEX_ALLOCATION")], reason: /is .git/ },
    { what: "a backslash path", entries: [file("a\\.git")], reason: /is .git/ },
    { what: "an HFS+ ignorable code point", entries: [file(".g\u200cit")], reason: /is .git/ },
    { what: ".git and a byte that is not UTF-8", entries: [file(Buffer.from([0x2e, 0x67, 0x69, 0x74, 0xff]))], reason: /is .git/ },
    { what: ".", entries: [dir(".")], reason: /is named \. or \.\./ },
    { what: "..", entries: [dir("..")], reason: /is named \. or \.\./ },
    { what: "an empty name", entries: [file("")], reason: /has an empty name/ },
    { what: "a slash", entries: [file("a/b")], reason: /has "\/" in its name/ },
    { what: "a duplicate file", entries: [file("a"), file("a")], reason: /"a" is a duplicate/ },
    {
      what: "a directory after a file of its name",
      entries: [file("x"), file("x.y"), dir("x")],
      reason: /"x" is a directory with the same name as a file/,
    },
    { what: "a file after a directory of its name", entries: [dir("x"), file("x")], reason: /"x" is a duplicate/ },
    { what: "unsorted entries", entries: [file("b"), file("a")], reason: /"a" is out of git's tree order/ },
    { what: "a directory sorted as a file", entries: [dir("x"), file("x.y")], reason: /"x.y" is out of git's tree order/ },
    { what: "the null id", entries: [{ mode: "100644", name: "a", id: "0".repeat(40) }], reason: /null object id/ },
  ];
}

test("trees git fsck --strict reports are refused naming the tree, and the walker never diffs them", async (t) => {
  if (!requireTools(t, ["git"])) return;
  const { repo, objects, blob, commit } = fixture(t);
  const subtree = repo.git("rev-parse", `${commit}:dir`);
  const base = repo.git("rev-parse", `${commit}^{tree}`);
  for (const { what, entries, reason } of hostileTrees(blob, subtree)) {
    const probe = new TestRepo(tempDir(t));
    const id = writeLiteralObject(probe.dir, "tree", rawTreeBytes(entries));
    assert.match(fsckStrict(probe), new RegExp(`tree ${id}`), `git fsck --strict reports ${what} too`);
    assert.equal(writeLiteralObject(repo.dir, "tree", rawTreeBytes(entries)), id);
    assert.throws(
      () => parseTree(id, spawnSync("git", ["cat-file", "tree", id], { cwd: repo.dir }).stdout),
      refusedNaming(id, reason),
      what,
    );
    await assert.rejects(new TreeWalker(objects).diff(base, id), refusedNaming(id, reason), what);
  }
});

test("a directory written 040000 no longer hides the paths beneath it", async (t) => {
  if (!requireTools(t, ["git"])) return;
  const { repo, objects, commit } = fixture(t);
  const subtree = repo.git("rev-parse", `${commit}:dir`);
  const padded = writeLiteralObject(repo.dir, "tree", rawTreeBytes([{ mode: "040000", name: "dir", id: subtree }]));
  // git itself reads the padded entry as a directory: dir/b.txt is in the tree to git.
  assert.equal(repo.git("ls-tree", "-r", "--name-only", padded), "dir/b.txt");
  await assert.rejects(new TreeWalker(objects).diff(null, padded), refusedNaming(padded, /040000/));
});

test("trees git writes pass: names close to the refused ones, and a directory sorted after its name's files", async (t) => {
  if (!requireTools(t, ["git"])) return;
  const { repo, objects, blob, commit } = fixture(t);
  const subtree = repo.git("rev-parse", `${commit}:dir`);
  const entries: RawTreeEntry[] = [
    { mode: "100644", name: " .git", id: blob },
    { mode: "100644", name: "...", id: blob },
    { mode: "40000", name: ".github", id: subtree },
    { mode: "100644", name: ".gitignore", id: blob },
    { mode: "100755", name: "git~2", id: blob },
    { mode: "120000", name: "link", id: blob },
    { mode: "160000", name: "module", id: blob },
    { mode: "100644", name: "x-1", id: blob },
    { mode: "100644", name: "x.y", id: blob },
    { mode: "40000", name: "x", id: subtree },
    { mode: "100644", name: "\u00e9t\u00e9 \u200c", id: blob },
  ];
  const id = writeLiteralObject(repo.dir, "tree", rawTreeBytes(entries));
  assert.equal(fsckStrict(repo), "", "git fsck --strict finds nothing wrong");
  // (repo.git trims its output, which would take the first name's leading space)
  const lsTree = (...args: string[]) =>
    spawnSync("git", ["ls-tree", "--name-only", "-z", ...args, id], { cwd: repo.dir, encoding: "utf8" })
      .stdout.split("\0")
      .filter(Boolean);
  assert.deepEqual(
    lsTree(),
    entries.map((e) => String(e.name)),
    "in git's order",
  );
  const walker = new TreeWalker(objects);
  assert.deepEqual(
    (await walker.entries(id)).map((e) => e.name),
    entries.map((e) => String(e.name)),
  );
  assert.deepEqual((await walker.diff(null, id)).sort(), lsTree("-r").sort());
});

test("trees nested deeper than git's core.maxTreeDepth are refused; as deep as that still reads", async (t) => {
  if (!requireTools(t, ["git"])) return;
  const { repo, objects, blob } = fixture(t);
  const nested = (depth: number) => {
    const path = "d/".repeat(depth) + "f";
    repo.git("read-tree", "--empty");
    repo.git("update-index", "--add", "--cacheinfo", `100644,${blob},${path}`);
    return { path, tree: repo.git("write-tree") };
  };
  const deepest = nested(MAX_TREE_DEPTH);
  assert.deepEqual(await new TreeWalker(objects).diff(null, deepest.tree), [deepest.path]);
  const deeper = nested(MAX_TREE_DEPTH + 1);
  await assert.rejects(
    new TreeWalker(objects).diff(null, deeper.tree),
    (e) => e instanceof ObjectFormatError && /nested more than 4096 directories deep/.test(e.message),
  );
});

test("a missing tree or commit is a MissingObjectError naming it", async (t) => {
  if (!requireTools(t, ["git"])) return;
  const { objects, blob } = fixture(t);
  const walker = new TreeWalker(objects);
  const absent = "1".repeat(40);
  await assert.rejects(
    walker.diff(null, absent),
    (e) => e instanceof MissingObjectError && refusedNaming(absent, /missing from the repository/)(e),
  );
  await assert.rejects(walker.commitTree(absent), (e) => e instanceof MissingObjectError && refusedNaming(absent, /commit .* missing/)(e));
  await assert.rejects(walker.diff(null, blob), refusedNaming(blob, /is a blob, not a tree/));
});

test("a 40 MiB commit message is refused by the cap, naming the commit, and reading goes on", async (t) => {
  if (!requireTools(t, ["git"])) return;
  const { repo, objects, raw, commit } = fixture(t);
  const [headers] = raw.split("\n\n");
  const huge = writeLiteralObject(repo.dir, "commit", Buffer.concat([Buffer.from(`${headers}\n\n`), Buffer.alloc(40 << 20, "a")]));
  await assert.rejects(objects.read(huge), refusedNaming(huge, /commit .* is \d+ bytes, more than the 2097152 bytes/));
  assert.equal((await readCommit(objects, commit)).id, commit, "the next read gets its own object");

  // Under the whole-object cap but over the message cap: read, then refused by the parser.
  const long = writeLiteralObject(
    repo.dir,
    "commit",
    Buffer.concat([Buffer.from(`${headers}\n\n`), Buffer.alloc(OBJECT_LIMITS.messageBytes + 1, "a")]),
  );
  await assert.rejects(readCommit(objects, long), refusedNaming(long, /1048577-byte message, more than the 1048576 bytes/));
});

test("blobs are read whole and linearly past the commit cap, and refused over the reader's own cap", async (t) => {
  if (!requireTools(t, ["git"])) return;
  const { repo, objects, commit } = fixture(t);
  const content = Buffer.alloc(40 << 20);
  for (let i = 0; i < content.length; i += 4096) content.writeUInt32BE(i, i);
  const big = writeLiteralObject(repo.dir, "blob", content);
  const reads = await Promise.all([objects.read(commit), objects.read(big), objects.read("HEAD:a.txt"), objects.read("2".repeat(40))]);
  assert.equal(reads[0]?.id, commit);
  assert.ok(reads[1]?.data.equals(content), "the 40 MiB blob comes back byte for byte");
  assert.equal(reads[2]?.data.toString(), "b\n");
  assert.equal(reads[3], null);

  const capped = new CatFile(`${repo.dir}/.git`, { objectBytes: 1 << 20 });
  t.after(() => capped.close());
  await assert.rejects(capped.read(big), refusedNaming(big, /blob .* more than the 1048576 bytes/));
  assert.equal((await capped.read("HEAD:a.txt"))?.data.toString(), "b\n");
});

test("a refs/replace ref does not change what Vigil reads: the stored object, by its own id", async (t) => {
  if (!requireTools(t, ["git"])) return;
  const { repo, commit } = fixture(t);
  const stored = repo.catCommit(commit);
  const impostor = repo.commit({ "a.txt": "evil\n" }, null);
  repo.git("replace", commit, impostor);
  assert.notEqual(repo.catCommit(commit), stored, "git itself now shows the replacement");
  const fresh = new CatFile(`${repo.dir}/.git`);
  t.after(() => fresh.close());
  const o = await fresh.read(commit);
  assert.equal(o?.data.toString(), stored);
  const hashed = createHash("sha1").update(`commit ${o!.data.length}\0`).update(o!.data).digest("hex");
  assert.equal(hashed, commit, "the bytes hash to the id asked for");
});
