// Exporting a verified commit's tree for rendering: exactly its files, and nothing that could reach
// outside the folder (symbolic links, submodules) or fill the disk.
import { strict as assert } from "node:assert";
import { chmodSync, existsSync, readFileSync, statSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { InputError } from "../src/core/errors.ts";
import { exportTree } from "../src/git/export-tree.ts";
import { TestRepo } from "./helpers/git-fixture.ts";
import { requireTools, tempDir } from "./helpers/tools.ts";

const gitDirOf = (repo: TestRepo) => join(repo.dir, ".git");

test("a commit's whole tree is written, as of that commit, with executable bits kept", async (t) => {
  if (!requireTools(t, ["git"])) return;
  const repo = new TestRepo(tempDir(t));
  const first = repo.commit(
    { "envs/staging/app.yaml": "kind: ConfigMap\n", "apps/base/kustomization.yaml": "resources: []\n", "tools/run.sh": "#!/bin/sh\n" },
    null,
  );
  chmodSync(join(repo.dir, "tools/run.sh"), 0o755);
  repo.commit({ "envs/staging/app.yaml": "kind: Secret\n" }, null);
  const tree = await exportTree(gitDirOf(repo), first);
  t.after(() => tree.remove());
  assert.equal(
    readFileSync(join(tree.dir, "envs/staging/app.yaml"), "utf8"),
    "kind: ConfigMap\n",
    "the commit asked for, not the branch's head",
  );
  assert.ok(existsSync(join(tree.dir, "apps/base/kustomization.yaml")));
  const latest = await exportTree(gitDirOf(repo), repo.git("rev-parse", "HEAD"));
  t.after(() => latest.remove());
  assert.equal(readFileSync(join(latest.dir, "envs/staging/app.yaml"), "utf8"), "kind: Secret\n");
  assert.ok((statSync(join(latest.dir, "tools/run.sh")).mode & 0o111) !== 0);
  tree.remove();
  assert.ok(!existsSync(tree.dir));
});

test("a symbolic link in the tree is refused, and nothing is left behind", async (t) => {
  if (!requireTools(t, ["git"])) return;
  const repo = new TestRepo(tempDir(t));
  repo.commit({ "envs/staging/app.yaml": "kind: ConfigMap\n" }, null);
  symlinkSync("/etc/passwd", join(repo.dir, "envs/staging/passwd.yaml"));
  repo.git("add", "-A");
  const commit = repo.commitStaged(null, "TICKET-3: link");
  await assert.rejects(
    exportTree(gitDirOf(repo), commit),
    (e: Error) =>
      e instanceof InputError && e.message.includes("envs/staging/passwd.yaml is a symbolic link") && e.message.includes(commit),
  );
});

test("a submodule is refused: its content is not part of the verified revision", async (t) => {
  if (!requireTools(t, ["git"])) return;
  const repo = new TestRepo(tempDir(t));
  repo.commit({ "a.yaml": "a: 1\n" }, null);
  const other = repo.git("rev-parse", "HEAD");
  repo.git("update-index", "--add", "--cacheinfo", `160000,${other},vendor/lib`);
  const commit = repo.commitStaged(null, "TICKET-4: submodule");
  await assert.rejects(
    exportTree(gitDirOf(repo), commit),
    (e: Error) => e instanceof InputError && /vendor\/lib is a submodule/.test(e.message),
  );
});

test("a tree over the size limits is refused; an unknown commit is an error, not an empty tree", async (t) => {
  if (!requireTools(t, ["git"])) return;
  const repo = new TestRepo(tempDir(t));
  const commit = repo.commit({ "a.yaml": "a: 1\n", "b.yaml": "b: 2\n", "c.yaml": "c: 3\n" }, null);
  await assert.rejects(exportTree(gitDirOf(repo), commit, { files: 2, bytes: 1 << 20 }), /larger than the 2 files/);
  await assert.rejects(exportTree(gitDirOf(repo), "0".repeat(40)), /cannot read the tree of 0{40} from the repository: fatal: /);
  await assert.rejects(exportTree(gitDirOf(repo), "main"), /a full commit id is required/);
});
