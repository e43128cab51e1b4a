// Differential test: for every commit of repositories shaped like real histories (linear edits, renames,
// mode and type changes, symlinks, submodules, a directory replaced by a file, merges, octopus and
// criss-cross merges, unrelated roots), Vigil's parents and changed paths are git's own:
// `git rev-list --parents` and `git diff-tree -r -m --raw --no-renames`, parent by parent.
import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test, type TestContext } from "node:test";
import { CatFile, type ObjectReader } from "../src/git/cat-file.ts";
import { TreeWalker } from "../src/git/changes.ts";
import { ObjectStore } from "../src/git/object-store.ts";
import { parseCommit } from "../src/git/objects.ts";
import { TestRepo } from "./helpers/git-fixture.ts";
import { requireTools, tempDir } from "./helpers/tools.ts";

/** git's output, NUL-separated fields, never trimmed (names may start or end with spaces). */
function gitFields(repo: TestRepo, args: string[]): string[] {
  const r = spawnSync("git", args, { cwd: repo.dir, encoding: "utf8", maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`git ${args.join(" ")}: ${r.stderr}`);
  return r.stdout.split("\0").filter((f) => f !== "");
}

/** The paths in `git diff-tree -r --raw -z` output: each ":modes ids status" field is followed by its path. */
function rawPaths(fields: string[]): string[] {
  const paths: string[] = [];
  for (let i = 0; i < fields.length; i++) if (fields[i]!.startsWith(":")) paths.push(fields[++i]!);
  return paths.sort();
}

const sorted = (paths: string[]) => [...paths].sort();

/**
 * Compares Vigil with git on every commit reachable from any ref, through git's cat-file (the walk waits
 * on each read) and through the in-process object store (the walk runs at once, each tree checked
 * against the one it replaces); returns how many commits were compared.
 */
async function compareWithGit(t: TestContext, repo: TestRepo): Promise<number> {
  const readers = [new CatFile(join(repo.dir, ".git")), new ObjectStore(join(repo.dir, ".git"))];
  t.after(() => readers.forEach((r) => r.close()));
  let compared = 0;
  for (const objects of readers) compared = await compareThrough(objects, repo);
  return compared;
}

async function compareThrough(objects: ObjectReader, repo: TestRepo): Promise<number> {
  const walker = new TreeWalker(objects);
  const walked = repo
    .git("rev-list", "--all", "--parents")
    .split("\n")
    .map((l) => l.split(" "));
  for (const [id, ...gitParents] of walked as [string, ...string[]][]) {
    const commit = parseCommit(id, (await objects.read(id))!.data);
    assert.deepEqual(commit.parents, gitParents, `parents of ${id}`);
    const diffArgs = ["diff-tree", "-r", "--raw", "--no-renames", "-z"];
    const perParent = await Promise.all(commit.parents.map(async (p) => walker.diff(await walker.commitTree(p), commit.tree)));
    for (const [i, parent] of commit.parents.entries()) {
      assert.deepEqual(sorted(perParent[i]!), rawPaths(gitFields(repo, [...diffArgs, parent, id])), `${id} against parent ${parent}`);
      assert.equal(await walker.countChanges(await walker.commitTree(parent), commit.tree), perParent[i]!.length, `${id}: count`);
    }
    // -m: every parent's diff in one output, so the union is what git reports for the commit.
    const union = [...new Set(commit.parents.length === 0 ? await walker.diff(null, commit.tree) : perParent.flat())];
    assert.deepEqual(
      sorted(union),
      [...new Set(rawPaths(gitFields(repo, [...diffArgs, "-m", "--root", id])))].sort(),
      `${id}: git diff-tree -m`,
    );
    if (commit.parents.length > 1) {
      // What the gate counts as a merge's own change: paths that differ from every parent, git's combined diff.
      const combined = gitFields(repo, ["diff-tree", "-r", "-c", "--name-only", "-z", id]).slice(1);
      assert.deepEqual(sorted(await walker.commitChanges(commit)), sorted(combined), `${id}: git diff-tree -c`);
    }
  }
  return walked.length;
}

function write(repo: TestRepo, files: Record<string, string>): void {
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(join(repo.dir, path, ".."), { recursive: true });
    writeFileSync(join(repo.dir, path), content);
  }
}

function commitAll(repo: TestRepo, message: string): string {
  repo.git("add", "-A");
  return repo.commitStaged(null, message);
}

for (const objectFormat of ["sha1", "sha256"] as const) {
  test(`a linear history (${objectFormat}): edits, renames, modes, symlinks, type changes, a directory replaced by a file, submodules`, async (t) => {
    if (!requireTools(t, ["git"])) return;
    const repo = new TestRepo(tempDir(t), objectFormat);
    linearHistory(repo);
    assert.equal(await compareWithGit(t, repo), 14);
  });
}

function linearHistory(repo: TestRepo): void {
  write(repo, {
    "a.b": "1",
    "a-b": "1",
    "a/x": "1",
    "dir/sub/deep.txt": "1",
    "name with space": "1",
    "\u00e9t\u00e9.txt": "1",
    "z/1": "1",
  });
  commitAll(repo, "root");
  repo.commit({ "dir/sub/deep.txt": "2", "a/y": "new" }, null, "edit and add");
  repo.git("mv", "dir/sub", "dir/moved");
  commitAll(repo, "rename a directory");
  chmodSync(join(repo.dir, "a.b"), 0o755);
  commitAll(repo, "mode change only");
  symlinkSync("a.b", join(repo.dir, "link"));
  commitAll(repo, "symlink");
  rmSync(join(repo.dir, "link"));
  symlinkSync("a-b", join(repo.dir, "link"));
  commitAll(repo, "symlink retargeted");
  rmSync(join(repo.dir, "link"));
  write(repo, { link: "now a file" });
  commitAll(repo, "symlink becomes a file");
  rmSync(join(repo.dir, "dir"), { recursive: true });
  write(repo, { dir: "a file where a directory was" });
  commitAll(repo, "directory replaced by a file");
  rmSync(join(repo.dir, "a-b"));
  write(repo, { "a-b/inner": "a directory where a file was" });
  commitAll(repo, "file replaced by a directory, sorted among a.b and a/");
  repo.commitStaged(null, "empty");
  const first = repo.git("rev-parse", "HEAD~3");
  repo.git("update-index", "--add", "--cacheinfo", `160000,${first},vendor/module`);
  repo.commitStaged(null, "submodule gitlink");
  repo.git("update-index", "--cacheinfo", `160000,${repo.git("rev-parse", "HEAD~1")},vendor/module`);
  repo.commitStaged(null, "submodule moved");
  repo.git("update-index", "--force-remove", "vendor/module");
  repo.commitStaged(null, "submodule removed");
  repo.git("rm", "-r", "-q", "z");
  repo.git("commit", "-q", "-m", "delete a directory");
}

test("merges: clean, resolved with changes of its own, ours, octopus, criss-cross, and unrelated roots", async (t) => {
  if (!requireTools(t, ["git"])) return;
  const repo = new TestRepo(tempDir(t));
  repo.commit({ "shared.txt": "base\n", "left/a": "1", "right/b": "1" }, null, "base");
  const base = repo.git("rev-parse", "HEAD");
  const branch = (name: string, from: string, files: Record<string, string | null>) => {
    repo.git("checkout", "-q", "-b", name, from);
    repo.commit(files, null, name);
    repo.git("checkout", "-q", "main");
  };
  const merge = (...args: string[]) => repo.git("-c", "core.editor=true", "merge", "-q", "--no-ff", "--no-edit", ...args);

  branch("feature", base, { "left/a": "2", "new/file": "x" });
  repo.commit({ "right/b": "2" }, null, "main moves on");
  merge("feature");

  branch("conflict", "HEAD~1", { "shared.txt": "theirs\n" });
  repo.commit({ "shared.txt": "ours\n" }, null, "ours");
  spawnSync("git", ["merge", "-q", "--no-ff", "conflict"], { cwd: repo.dir });
  write(repo, { "shared.txt": "resolved\n", "only-in-merge": "evil" });
  commitAll(repo, "merge with a resolution and a change of its own");

  branch("ignored", base, { "left/a": "ignored" });
  merge("-s", "ours", "ignored");

  branch("o1", "HEAD", { "o/1": "1" });
  branch("o2", "HEAD", { "o/2": "2" });
  branch("o3", "HEAD", { "o/3": "3", "right/b": "3" });
  merge("o1", "o2", "o3");

  // Criss-cross: x and y each merge the other's first commit, then main merges both.
  const top = repo.git("rev-parse", "HEAD");
  branch("x", top, { "cc/x": "1" });
  branch("y", top, { "cc/y": "1" });
  repo.git("checkout", "-q", "x");
  merge("y~0");
  repo.commit({ "cc/x": "2" }, null, "x again");
  repo.git("checkout", "-q", "y");
  merge(repo.git("rev-parse", "x~1^1"));
  repo.commit({ "cc/y": "2" }, null, "y again");
  repo.git("checkout", "-q", "main");
  merge("x", "y");

  repo.git("checkout", "-q", "--orphan", "other");
  rmSync(join(repo.dir, "left"), { recursive: true });
  repo.commit({ "other-root": "1", "shared.txt": "other\n" }, null, "another root");
  repo.git("checkout", "-q", "-f", "main");
  spawnSync("git", ["merge", "-q", "--allow-unrelated-histories", "other"], { cwd: repo.dir });
  write(repo, { "shared.txt": "joined\n" });
  commitAll(repo, "join unrelated histories");

  const parents = repo
    .git("rev-list", "--all", "--parents")
    .split("\n")
    .map((l) => l.split(" ").length - 1);
  assert.ok(parents.includes(4) && parents.filter((n) => n === 0).length === 2, "an octopus merge and two roots are in the history");
  assert.ok((await compareWithGit(t, repo)) >= 20);
});
