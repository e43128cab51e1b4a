// Names mean what the environment means (issue 14 §6): an environment's branch is refs/heads/<branch>
// whatever else is spelled the same, a tag of a tag is followed with every tag object returned (each
// signature counts), a tag of a tree or a blob is bad input, and refs/replace/ changes nothing git shows.
import { strict as assert } from "node:assert";
import { join } from "node:path";
import { test } from "node:test";
import { InputError } from "../src/core/errors.ts";
import { isAncestor, MAX_TAG_CHAIN, openRepo, resolveBranch, resolveRevision, type Repo } from "../src/git/repo.ts";
import { SshSigner, soleOwnerPolicy, TestRepo } from "./helpers/git-fixture.ts";
import { run, tempDir, vigil } from "./helpers/tools.ts";

async function opened(t: { after(fn: () => void): void }, dir: string): Promise<Repo> {
  const repo = await openRepo(dir);
  t.after(() => repo.close());
  return repo;
}

/** A repository with two commits on main; `first` is also the target of whatever a test adds. */
function twoCommits(t: { after(fn: () => void): void }): { fixture: TestRepo; first: string; second: string } {
  const fixture = new TestRepo(join(tempDir(t), "repo"));
  const first = fixture.commit({ "a.txt": "one" }, null);
  const second = fixture.commit({ "a.txt": "two" }, null);
  return { fixture, first, second };
}

function writeObject(fixture: TestRepo, type: string, content: string): string {
  return run("git", ["hash-object", "-t", type, "-w", "--stdin", "--literally"], { cwd: fixture.dir, input: content }).trim();
}

async function inputError(promise: Promise<unknown>, pattern: RegExp): Promise<void> {
  await assert.rejects(promise, (e: Error) => {
    assert.ok(e instanceof InputError, `expected InputError, got ${e.name}: ${e.message}`);
    assert.match(e.message, pattern);
    return true;
  });
}

test("a tag named like the environment's branch does not shadow it: the branch resolves as refs/heads/<branch>", async (t) => {
  const { fixture, first, second } = twoCommits(t);
  fixture.git("tag", "main", first); // git itself prefers refs/tags/main for "main"
  const repo = await opened(t, fixture.dir);
  assert.equal((await resolveRevision(repo, "main")).commit, first, "git's own rule picks the tag: the reason resolveBranch exists");
  const branch = await resolveBranch(repo, "main");
  assert.deepEqual(branch, { commit: second, tags: [] });
});

test("resolveBranch refuses what is not a branch: a tag or commit id spelled as the branch, a bad name, a missing branch", async (t) => {
  const { fixture, first } = twoCommits(t);
  fixture.git("tag", "-a", "-m", "release", "v1", first);
  const repo = await opened(t, fixture.dir);
  await inputError(resolveBranch(repo, "v1"), /branch "v1" \(refs\/heads\/v1\) does not exist/);
  await inputError(resolveBranch(repo, first), /does not exist/);
  await inputError(resolveBranch(repo, "main..x"), /invalid branch name "main\.\.x"/);
  await inputError(resolveBranch(repo, "--upload-pack=x"), /invalid branch name/);
  await inputError(resolveBranch(repo, "HEAD"), /branch "HEAD" \(refs\/heads\/HEAD\) does not exist/);
});

test("a branch still resolves to its commit (the legitimate case), and a plain commit id carries no tags", async (t) => {
  const { fixture, second } = twoCommits(t);
  fixture.git("branch", "release", second);
  const repo = await opened(t, fixture.dir);
  assert.deepEqual(await resolveBranch(repo, "release"), { commit: second, tags: [] });
  assert.deepEqual(await resolveRevision(repo, second), { commit: second, tags: [] });
});

test("an annotated tag resolves with its object and ref (old fields kept alongside tags)", async (t) => {
  const { fixture, first } = twoCommits(t);
  fixture.git("tag", "-a", "-m", "release", "v1", first);
  const tagId = fixture.git("rev-parse", "refs/tags/v1");
  const repo = await opened(t, fixture.dir);
  assert.deepEqual(await resolveRevision(repo, "v1"), {
    commit: first,
    tags: [{ id: tagId, ref: "refs/tags/v1" }],
    tag: tagId,
    tagRef: "refs/tags/v1",
  });
});

test("a tag of a tag is followed to its commit, returning every tag object outermost first", async (t) => {
  const { fixture, first } = twoCommits(t);
  fixture.git("tag", "-a", "-m", "inner", "inner", first);
  fixture.git("tag", "-a", "-m", "outer", "outer", "refs/tags/inner");
  const inner = fixture.git("rev-parse", "refs/tags/inner");
  const outer = fixture.git("rev-parse", "refs/tags/outer");
  assert.equal(fixture.git("cat-file", "-p", outer).split("\n")[0], `object ${inner}`, "the fixture really is a tag of a tag");
  const repo = await opened(t, fixture.dir);
  const resolved = await resolveRevision(repo, "outer");
  assert.equal(resolved.commit, first);
  assert.deepEqual(resolved.tags, [{ id: outer, ref: "refs/tags/outer" }, { id: inner }]);
});

test(`a chain of more than ${MAX_TAG_CHAIN} tags is refused, not followed without end`, async (t) => {
  const { fixture, first } = twoCommits(t);
  let target = first;
  let type = "commit";
  for (let i = 0; i <= MAX_TAG_CHAIN; i++) {
    target = writeObject(
      fixture,
      "tag",
      `object ${target}\ntype ${type}\ntag t${i}\ntagger T <t@example.com> 1700000000 +0000\n\nlevel ${i}\n`,
    );
    type = "tag";
  }
  fixture.git("update-ref", "refs/tags/deep", target);
  const repo = await opened(t, fixture.dir);
  await inputError(resolveRevision(repo, "deep"), new RegExp(`chain of more than ${MAX_TAG_CHAIN} tags`));
});

test("a tag of a tree or of a blob is bad input, directly or through another tag", async (t) => {
  const { fixture, first } = twoCommits(t);
  const tree = fixture.git("rev-parse", `${first}^{tree}`);
  const blob = fixture.git("rev-parse", `${first}:a.txt`);
  fixture.git("tag", "-a", "-m", "a tree", "tree-tag", tree);
  fixture.git("tag", "-a", "-m", "a blob", "blob-tag", blob);
  fixture.git("tag", "-a", "-m", "tag of tree tag", "outer-tree", "refs/tags/tree-tag");
  const repo = await opened(t, fixture.dir);
  await inputError(resolveRevision(repo, "tree-tag"), /revision "tree-tag" is a tag of a tree, not a commit/);
  await inputError(resolveRevision(repo, "blob-tag"), /revision "blob-tag" is a tag of a blob, not a commit/);
  await inputError(resolveRevision(repo, "outer-tree"), /revision "outer-tree" is a tag of a tree, not a commit/);
  await inputError(resolveRevision(repo, tree), /is a tree, not a commit/);
});

test("a tag whose type header lies about its object is bad input", async (t) => {
  const { fixture, first } = twoCommits(t);
  const tree = fixture.git("rev-parse", `${first}^{tree}`);
  const lying = writeObject(
    fixture,
    "tag",
    `object ${tree}\ntype commit\ntag liar\ntagger T <t@example.com> 1700000000 +0000\n\nsays commit\n`,
  );
  fixture.git("update-ref", "refs/tags/liar", lying);
  const repo = await opened(t, fixture.dir);
  await inputError(resolveRevision(repo, "liar"), /says it tags a commit but .* is a tree/);
});

test("refs/replace/ does not change which commits a rewritten history descends from (git commands)", async (t) => {
  const { fixture, first, second } = twoCommits(t);
  // A rewrite: a root commit with no tie to the deployed `second`, made to look like its child by a replacement.
  const rewritten = fixture.git("commit-tree", "-m", "rewritten", `${first}^{tree}`);
  const forged = fixture.git("commit-tree", "-p", second, "-m", "rewritten", `${first}^{tree}`);
  fixture.git("replace", rewritten, forged);
  assert.equal(
    run("git", ["merge-base", "--is-ancestor", second, rewritten], { cwd: fixture.dir }),
    "",
    "plain git believes the replacement",
  );
  const repo = await opened(t, fixture.dir);
  // Two commits in a line from `rewritten` would be read in-process; this merge-base path is git's alone.
  const branchy = fixture.git("commit-tree", "-p", rewritten, "-p", first, "-m", "merge", `${first}^{tree}`);
  assert.equal(await isAncestor(repo, second, branchy), false);
});

test("refs/replace/ does not change what the in-process object reader sees", async (t) => {
  const { fixture, first, second } = twoCommits(t);
  const rewritten = fixture.git("commit-tree", "-m", "rewritten", `${first}^{tree}`);
  const forged = fixture.git("commit-tree", "-p", second, "-m", "rewritten", `${first}^{tree}`);
  fixture.git("replace", rewritten, forged);
  const repo = await opened(t, fixture.dir);
  assert.equal(await isAncestor(repo, second, rewritten), false);
});

test("vigil verify commits --env checks the environment's branch, not a tag of the same name", (t) => {
  const dir = tempDir(t);
  const alice = new SshSigner(dir, "alice");
  const fixture = new TestRepo(join(dir, "repo"));
  const signed = fixture.commit({ "envs/prod/a.yaml": "a: 1" }, alice);
  fixture.git("checkout", "-q", "-b", "side");
  const unsigned = fixture.commit({ "envs/prod/a.yaml": "a: 2" }, null);
  fixture.git("checkout", "-q", "main");
  fixture.git("tag", "main", unsigned);
  const policy = soleOwnerPolicy(join(dir, "trust.yaml"), alice, "prod");
  const r = vigil(["verify", "commits", "--repo", fixture.dir, "--trust", policy, "--env", "prod", "--json"]);
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.equal(r.json().subject.revision, signed);
  // The tag itself, named on purpose, is what it is: an unsigned commit, blocked.
  const tagged = vigil([
    "verify",
    "commits",
    "--repo",
    fixture.dir,
    "--trust",
    policy,
    "--env",
    "prod",
    "--to",
    "refs/tags/main",
    "--json",
  ]);
  assert.equal(tagged.status, 1);
  assert.equal(tagged.json().subject.revision, unsigned);
});
