// History scans read what each commit adds from git's patch (src/secrets/log-patch.ts) and run the rules on
// the added lines only. These tests hold that path to the guarantees of comparing whole files: a secret
// already there is not charged again (moved within its file), key blocks cut by an edit are still found,
// line numbers are the file's, merges, binary claims, submodules, type changes, paths git quotes, lines
// that look like patch syntax, and a repository configuration that changes git's diff output.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { LogPatchParser } from "../src/secrets/log-patch.ts";
import { TestRepo } from "./helpers/git-fixture.ts";
import { cryptoRandom, plantedLine, tokenKinds, type TokenKind } from "./helpers/secret-tokens.ts";
import { requireTools, tempDir, vigil } from "./helpers/tools.ts";

interface Fail {
  rule: string;
  subject: string;
  location: { file: string; line: number };
}

function scanAll(dir: string, env: NodeJS.ProcessEnv = {}): Fail[] {
  const r = vigil(["secrets", "scan", "--repo", dir, "--all-history", "--json"], { env });
  assert.ok(r.status === 0 || r.status === 1, r.stderr);
  return r.json().checks.filter((c: { status: string }) => c.status === "fail");
}

const brief = (fails: Fail[]) => fails.map((c) => [c.rule, c.subject, c.location.file, c.location.line]);

const kind = (rule: string): TokenKind => tokenKinds.find((k) => k.rule === rule)!;
const token = (rule: string) => plantedLine(kind(rule), cryptoRandom);

/** Lines of a ConfigMap's data, numbered so a test can say where a line lands. */
const settings = (n: number, eol = "\n") => Array.from({ length: n }, (_, i) => `  setting_${i}: "value-${i}"${eol}`);

test("a secret moved within its file is not reported again; one added beside it is", (t) => {
  if (!requireTools(t, ["git"])) return;
  const repo = new TestRepo(tempDir(t));
  const a = token("github-pat");
  const b = token("gitlab-pat");
  const lines = settings(10);
  const leak = repo.commit({ "app.yaml": ["data:\n", ...lines.slice(0, 2), `  ${a.line}\n`, ...lines.slice(2)].join("") }, null, "add");
  // The token's line moves to the end, and another secret comes in at the top.
  const moved = repo.commit({ "app.yaml": ["data:\n", `  ${b.line}\n`, ...lines, `  ${a.line}\n`].join("") }, null, "reorder");
  assert.deepEqual(brief(scanAll(repo.dir)), [
    ["github-pat", leak, "app.yaml", 4],
    ["gitlab-pat", moved, "app.yaml", 2],
  ]);
});

test("a PEM block edited in its middle, or losing a line, is a new key at its BEGIN line; an edit beside it is not", (t) => {
  if (!requireTools(t, ["git"])) return;
  const repo = new TestRepo(tempDir(t));
  const body = (seed: string) =>
    Array.from({ length: 6 }, (_, i) => `    ${Buffer.from(`${seed}-${i}-`.repeat(12)).toString("base64").slice(0, 64)}\n`);
  const file = (head: string[], keyBody: string[]) =>
    [
      "apiVersion: v1\nkind: Secret\nmetadata: { name: tls }\nstringData:\n",
      ...head,
      "  tls.key: |\n",
      "    -----BEGIN EC PRIVATE KEY-----\n",
      ...keyBody,
      "    -----END EC PRIVATE KEY-----\n",
      "  mode: strict\n",
    ].join("");
  const original = body("first");
  const added = repo.commit({ "tls.yaml": file([], original) }, null, "add key");
  const middle = [...original];
  middle[3] = body("second")[3]!;
  const edited = repo.commit({ "tls.yaml": file([], middle) }, null, "edit a line inside the key");
  repo.commit({ "tls.yaml": file(["  region: eu\n"], middle) }, null, "edit beside the key");
  const shorter = middle.filter((_, i) => i !== 2);
  const cut = repo.commit({ "tls.yaml": file(["  region: eu\n"], shorter) }, null, "drop a line inside the key");
  assert.deepEqual(brief(scanAll(repo.dir)), [
    ["private-key", added, "tls.yaml", 6],
    ["private-key", edited, "tls.yaml", 6],
    ["private-key", cut, "tls.yaml", 7],
  ]);
});

test("line numbers are the file's: several hunks, CRLF line ends, a last line with no newline", (t) => {
  if (!requireTools(t, ["git"])) return;
  const repo = new TestRepo(tempDir(t));
  const [a, b, c] = [token("github-pat"), token("slack-bot-token"), token("stripe-secret-key")];
  const lines = settings(30, "\r\n");
  repo.commit({ "crlf.yaml": lines.join("") }, null, "base");
  const next = [...lines.slice(0, 4), `  ${a.line}\r\n`, ...lines.slice(4, 24), `  ${b.line}\r\n`, ...lines.slice(24), `  ${c.line}`];
  const leak = repo.commit({ "crlf.yaml": next.join("") }, null, "three secrets");
  assert.deepEqual(brief(scanAll(repo.dir)), [
    ["github-pat", leak, "crlf.yaml", 5],
    ["slack-bot-token", leak, "crlf.yaml", 26],
    ["stripe-secret-key", leak, "crlf.yaml", 33],
  ]);
});

test("file lines that look like patch syntax are content: the reader stays in step and finds what follows", (t) => {
  if (!requireTools(t, ["git"])) return;
  const repo = new TestRepo(tempDir(t));
  const [a, b] = [token("github-pat"), token("gitlab-pat")];
  const commitId = "@" + "a".repeat(40) + " " + "b".repeat(40);
  const tricky = [
    "diff --git a/other.yaml b/other.yaml",
    "index 0000000000000000000000000000000000000000..1111111111111111111111111111111111111111 100644",
    "Binary files a/x and b/x differ",
    "--- a/evil",
    "+++ b/evil",
    "@@ -1,400 +1,400 @@",
    "\\ No newline at end of file",
    commitId,
    ":100644 100644 " + "c".repeat(40) + " " + "d".repeat(40) + " M",
    `  ${a.line}`,
  ];
  repo.commit({ "notes.txt": "start\n" }, null, "base");
  const leak = repo.commit({ "notes.txt": `start\n${tricky.join("\n")}\n`, "z.yaml": `${b.line}\n` }, null, "tricky lines");
  assert.deepEqual(brief(scanAll(repo.dir)), [
    ["github-pat", leak, "notes.txt", 11],
    ["gitlab-pat", leak, "z.yaml", 1],
  ]);
});

test("a file the repository's attributes call binary (-diff) is still read from its blob; real binary files are skipped", (t) => {
  if (!requireTools(t, ["git"])) return;
  const repo = new TestRepo(tempDir(t));
  const [a, b] = [token("github-pat"), token("gitlab-pat")];
  // Both where a repository says it (its tree) and where git always reads it (info/attributes).
  writeFileSync(join(repo.dir, ".git", "info", "attributes"), "*.yaml -diff\n");
  const first = repo.commit({ ".gitattributes": "*.yaml -diff\n", "hidden.yaml": `data:\n  ${a.line}\n` }, null, "hide from diff");
  const second = repo.commit({ "hidden.yaml": `data:\n  ${a.line}\n  ${b.line}\n` }, null, "more");
  writeFileSync(join(repo.dir, "blob.bin"), Buffer.concat([Buffer.from([0, 1, 2]), Buffer.from(token("slack-bot-token").line)]));
  repo.git("add", "blob.bin");
  repo.commitStaged(null, "a binary file");
  assert.deepEqual(brief(scanAll(repo.dir)), [
    ["github-pat", first, "hidden.yaml", 2],
    ["gitlab-pat", second, "hidden.yaml", 3],
  ]);
});

test("paths git would quote (tab, newline, quote, backslash, non-ASCII) are reported as they are", (t) => {
  if (!requireTools(t, ["git"])) return;
  const repo = new TestRepo(tempDir(t));
  const names = ['we"ird\tname\n.yaml', "back\\slash.yaml", "dossier/café-ü.yaml", "with space.yaml"];
  const files = Object.fromEntries(names.map((n) => [n, `${token("github-pat").line}\n`]));
  const leak = repo.commit(files, null, "odd names");
  const fails = scanAll(repo.dir);
  assert.deepEqual(fails.map((c) => c.location.file).sort(), [...names].sort());
  assert.ok(fails.every((c) => c.subject === leak && c.location.line === 1));
});

test("submodules are commit ids, not files; a submodule or a file becoming a file or a link is scanned as what git stores", (t) => {
  if (!requireTools(t, ["git"])) return;
  const repo = new TestRepo(tempDir(t));
  const base = repo.commit({ "a.yaml": "a: 1\n" }, null, "base");
  repo.git("update-index", "--add", "--cacheinfo", `160000,${base},vendor/lib`);
  repo.commitStaged(null, "a submodule");
  repo.git("update-index", "--cacheinfo", `160000,${repo.git("rev-parse", "HEAD")},vendor/lib`);
  repo.commitStaged(null, "the submodule moves");
  const a = token("github-pat");
  repo.git("rm", "-q", "--cached", "vendor/lib");
  const replaced = repo.commit({ "vendor/lib": `${a.line}\n` }, null, "the submodule becomes a file");
  const b = token("gitlab-pat");
  repo.git("rm", "-q", "vendor/lib");
  mkdirSync(join(repo.dir, "vendor"), { recursive: true });
  symlinkSync(b.secret, join(repo.dir, "vendor/lib"));
  repo.git("add", "vendor/lib");
  const linked = repo.commitStaged(null, "the file becomes a link");
  assert.deepEqual(brief(scanAll(repo.dir)), [
    ["github-pat", replaced, "vendor/lib", 1],
    ["gitlab-pat", linked, "vendor/lib", 1],
  ]);
});

test("a merge is charged with a secret its conflict resolution adds, and an orphan root commit with its own", (t) => {
  if (!requireTools(t, ["git"])) return;
  const repo = new TestRepo(tempDir(t));
  repo.commit({ "x.yaml": "mode: a\nkeep: 1\n" }, null, "base");
  repo.git("checkout", "-q", "-b", "feature");
  repo.commit({ "x.yaml": "mode: b\nkeep: 1\n" }, null, "feature");
  repo.git("checkout", "-q", "main");
  repo.commit({ "x.yaml": "mode: c\nkeep: 1\n" }, null, "main");
  const a = token("github-pat");
  spawnMerge(repo);
  const merge = repo.commit({ "x.yaml": `mode: d\n${a.line}\nkeep: 1\n` }, null, "merge, resolved with a token");
  assert.equal(repo.git("rev-list", "--parents", "-n1", "HEAD").split(" ").length, 3);
  repo.git("checkout", "-q", "--orphan", "other");
  repo.git("rm", "-rfq", ".");
  const b = token("gitlab-pat");
  const root = repo.commit({ "root.yaml": `${b.line}\n` }, null, "an unrelated root");
  const fails = brief(scanAll(repo.dir));
  assert.deepEqual(
    fails.sort((p, q) => String(p[1]).localeCompare(String(q[1]))),
    [
      ["github-pat", merge, "x.yaml", 2],
      ["gitlab-pat", root, "root.yaml", 1],
    ].sort((p, q) => String(p[1]).localeCompare(String(q[1]))),
  );
});

/** Starts a merge of feature into main that stops on its conflict, for the test to resolve and commit. */
function spawnMerge(repo: TestRepo): void {
  try {
    repo.git("merge", "-q", "--no-edit", "feature");
  } catch {
    // The conflict is the point: the next commit resolves it.
  }
}

test("the repository's diff and log settings, and git's environment, do not change what is read", (t) => {
  if (!requireTools(t, ["git"])) return;
  const repo = new TestRepo(tempDir(t));
  const [a, b, c] = [token("github-pat"), token("gitlab-pat"), token("slack-bot-token")];
  const lines = settings(40);
  repo.commit({ "one.yaml": lines.join("") }, null, "base");
  repo.commit(
    { "one.yaml": [...lines.slice(0, 3), `  ${a.line}\n`, ...lines.slice(3, 9), `  ${b.line}\n`, ...lines.slice(9)].join("") },
    null,
    "two",
  );
  repo.commit(
    {
      "one.yaml": null,
      "moved/one.yaml": [
        ...lines.slice(0, 3),
        `  ${a.line}\n`,
        ...lines.slice(3, 9),
        `  ${b.line}\n`,
        ...lines.slice(9),
        `  ${c.line}\n`,
      ].join(""),
    },
    null,
    "move",
  );
  const plain = brief(scanAll(repo.dir));
  assert.equal(plain.length, 3);
  for (const [key, value] of [
    ["diff.noprefix", "true"],
    ["diff.mnemonicPrefix", "true"],
    ["color.ui", "always"],
    ["color.diff", "always"],
    ["diff.external", "/bin/false"],
    ["diff.context", "9"],
    ["diff.interHunkContext", "20"],
    ["diff.renames", "false"],
    ["diff.suppressBlankEmpty", "true"],
    ["log.showRoot", "false"],
    ["log.showSignature", "true"],
    ["core.quotePath", "false"],
    ["diff.submodule", "log"],
    ["diff.relative", "true"],
  ])
    repo.git("config", key!, value!);
  assert.deepEqual(brief(scanAll(repo.dir)), plain);
  // And the environment's: context lines (GIT_DIFF_OPTS overrides -U0), an external diff.
  assert.deepEqual(brief(scanAll(repo.dir, { GIT_DIFF_OPTS: "--unified=5", GIT_EXTERNAL_DIFF: "/bin/false" })), plain);
});

test("the patch reader gives the same files however git's output is cut into chunks, and refuses a stream that disagrees with itself", (t) => {
  if (!requireTools(t, ["git"])) return;
  const repo = new TestRepo(tempDir(t));
  // An empty root commit comes last (git gives the newest first), an empty one in the middle.
  repo.git("commit", "-q", "--allow-empty", "-m", "empty root");
  repo.commit({ "a.yaml": settings(5).join(""), "odd\tname.yaml": "x: 1\n" }, null, "base");
  repo.git("commit", "-q", "--allow-empty", "-m", "empty");
  // A NUL at the start of an added line (past git's 8000-byte binary test) is content, not the end of a commit.
  const filler = `# ${"x".repeat(98)}\n`.repeat(82);
  const edited = `${settings(6).join("")}diff --git a/x b/x\n@@ -1 +1 @@\n${filler}\0@${"f".repeat(40)} ${"e".repeat(40)}\n`;
  repo.commit({ "a.yaml": edited, "b.yaml": "last line" }, null, "edit");
  const stream = execFileSync(
    "git",
    [
      "log",
      "--raw",
      "-p",
      "-U0",
      "-M",
      "--no-abbrev",
      "--full-index",
      "--no-color",
      "--diff-merges=off",
      "--root",
      "-z",
      "--format=format:@%H %P",
    ],
    { cwd: repo.dir },
  );
  const read = (chunks: Buffer[]) => {
    const seen: string[] = [];
    const parser = new LogPatchParser({
      commit: (id, parents) => seen.push(`commit ${id} ${parents}`),
      file: (f) =>
        seen.push(
          `${f.change.status} ${f.change.path} +[${f.added.toString("latin1")}] at ${[...f.addedLines.subarray(0, f.added.length ? f.added.toString("latin1").split("\n").length : 0)]} -[${f.removed.toString("latin1")}]`,
        ),
    });
    for (const c of chunks) parser.write(c);
    parser.end();
    return seen;
  };
  const whole = read([stream]);
  assert.equal(whole.filter((l) => l.startsWith("commit")).length, 4);
  assert.ok(whole.some((l) => l.startsWith("A odd\tname.yaml +[x: 1]")));
  assert.ok(
    whole.some((l) => l.startsWith("M a.yaml +[  setting_5") && l.includes(`\0@${"f".repeat(40)}`)),
    "the NUL line is an added line",
  );
  for (const size of [1, 2, 3, 7, 64]) {
    const chunks = Array.from({ length: Math.ceil(stream.length / size) }, (_, i) => stream.subarray(i * size, (i + 1) * size));
    assert.deepEqual(read(chunks), whole, `chunks of ${size} bytes`);
  }
  // A patch whose index line names another blob than its raw record, or a hunk shorter than its header says.
  const text = stream.toString("latin1");
  const otherBlob = text.replace(/(index [0-9a-f]{40}\.\.)([0-9a-f])/, (_, head: string, c: string) => head + (c === "0" ? "1" : "0"));
  assert.notEqual(otherBlob, text);
  assert.throws(
    () => read([Buffer.from(otherBlob, "latin1")]),
    /patch stream cannot be read: .*index line does not name the blobs of its raw record/,
  );
  assert.ok(text.includes("@@ -0,0 +1,5 @@"));
  assert.throws(() => read([Buffer.from(text.replace("@@ -0,0 +1,5 @@", "@@ -0,0 +1,50 @@"), "latin1")]), /patch stream cannot be read/);
});

test("a long history, read from both ends by two git processes, gives every finding once, oldest first, ranges included", (t) => {
  if (!requireTools(t, ["git"])) return;
  const dir = tempDir(t);
  execFileSync("git", ["init", "-q", "--bare", dir]);
  const [early, late, merged] = [token("github-pat"), token("gitlab-pat"), token("slack-bot-token")];
  // 2,400 commits on main (read newest first and oldest first until the two meet), a branch merged near
  // the end whose conflict resolution adds a token; a token added early and moved late, one added late.
  const data = (s: string) => `data ${Buffer.byteLength(s)}\n${s}\n`;
  const chunks: string[] = [];
  const lines = settings(20);
  const commit = (mark: number, branch: string, from: number | null, file: string, merge?: number) =>
    chunks.push(
      `commit refs/heads/${branch}\nmark :${mark}\ncommitter T <t@example.com> ${1_700_000_000 + mark * 60} +0000\n${data(`c${mark}`)}${from ? `from :${from}\n` : ""}${merge ? `merge :${merge}\n` : ""}M 100644 inline app.yaml\n${data(file)}`,
    );
  let body = lines.join("");
  for (let mark = 1; mark <= 2400; mark++) {
    if (mark === 10) body = `${body}  ${early.line}\n`;
    else if (mark === 2300) body = `  ${early.line}\n${lines.join("")}  v: ${mark}\n`;
    else if (mark === 2350) body = `${body}  ${late.line}\n`;
    else body = body.replace(/ {2}v: \d+\n$|$/, `  v: ${mark}\n`);
    commit(mark, "main", mark > 1 ? mark - 1 : null, body);
  }
  commit(5000, "side", 2390, `${body}  side: true\n`);
  commit(5001, "main", 2400, `  ${merged.line}\n${body}  side: true\n`, 5000);
  execFileSync("git", ["--git-dir", dir, "fast-import", "--quiet", `--export-marks=${dir}/marks`], { input: chunks.join("") });
  const ids = new Map(
    execFileSync("cat", [`${dir}/marks`], { encoding: "utf8" })
      .trim()
      .split("\n")
      .map((l) => [Number(l.split(" ")[0]!.slice(1)), l.split(" ")[1]!] as const),
  );
  assert.deepEqual(brief(scanAll(dir)), [
    ["github-pat", ids.get(10), "app.yaml", 22],
    ["gitlab-pat", ids.get(2350), "app.yaml", 23],
    ["slack-bot-token", ids.get(5001), "app.yaml", 1],
  ]);
  const range = vigil(["secrets", "scan", "--repo", dir, "--from", ids.get(5)!, "--to", "main", "--json"]);
  assert.deepEqual(
    brief(range.json().checks.filter((c: { status: string }) => c.status === "fail")),
    brief(scanAll(dir)),
    "the same from a range that starts after the first commits",
  );
  // Every commit once, wherever the two readers meet: a clean range says how many it scanned.
  const clean = vigil(["secrets", "scan", "--repo", dir, "--from", ids.get(2350)!, "--to", ids.get(2400)!, "--json"]);
  assert.equal(clean.status, 0, clean.stderr);
  assert.equal(clean.json().checks[0].message, "50 commits scanned, no secrets found");

  // A commit written to the range while the two ends are read (a race no test can time) is stood in for
  // by a git that counts one commit more than it then logs: the scan fails closed rather than pass a
  // range it did not read whole.
  const shim = join(tempDir(t), "bin");
  mkdirSync(shim);
  const realGit = execFileSync("sh", ["-c", "command -v git"], { encoding: "utf8" }).trim();
  writeFileSync(
    join(shim, "git"),
    `#!/bin/sh
for a in "$@"; do [ "$a" = --count ] && { n=$(${realGit} "$@") || exit $?; echo $((n + 1)); exit 0; }; done
exec ${realGit} "$@"
`,
    { mode: 0o755 },
  );
  const raced = vigil(["secrets", "scan", "--repo", dir, "--from", ids.get(2350)!, "--to", ids.get(2400)!, "--json"], {
    env: { PATH: `${shim}:${process.env.PATH}` },
  });
  assert.notEqual(raced.status, 0, "never a pass");
  assert.match(`${raced.stdout}${raced.stderr}`, /git log read 50 commits from the range's two ends, but git rev-list counts 51/);
});
