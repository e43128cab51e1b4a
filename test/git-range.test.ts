// The in-process range of a straight line of commits, which the revision and approval gates use instead
// of a git process per revision: it must be exactly git's `to ^from`, or null so git is asked.
import { strict as assert } from "node:assert";
import { test } from "node:test";
import { isAncestor, linearRange, openRepo, resolveRevision } from "../src/git/repo.ts";
import { TestRepo } from "./helpers/git-fixture.ts";
import { requireTools, tempDir } from "./helpers/tools.ts";

test("a straight line is git's range; a merge, a far or unrelated start, and a missing commit leave it to git", async (t) => {
  if (!requireTools(t, ["git"])) return;
  const repo = new TestRepo(tempDir(t));
  const commits = Array.from({ length: 5 }, (_, i) => repo.commit({ a: String(i) }, null));
  const r = await openRepo(repo.dir);
  t.after(() => r.close());
  const gitRange = (to: string, from: string) => repo.git("rev-list", "--reverse", to, `^${from}`).split("\n").filter(Boolean);
  assert.deepEqual(await linearRange(r, commits[4]!, commits[1]!), gitRange(commits[4]!, commits[1]!));
  assert.deepEqual(await linearRange(r, commits[2]!, commits[2]!), []);
  assert.equal(await linearRange(r, commits[4]!, commits[0]!, 2), null, "further back than the limit");
  assert.equal(await linearRange(r, commits[1]!, commits[3]!), null, "from is not behind to");
  assert.equal(await linearRange(r, commits[4]!, "f".repeat(40)), null);

  repo.git("checkout", "-q", "-b", "side", commits[2]!);
  const side = repo.commit({ b: "1" }, null);
  repo.git("checkout", "-q", "main");
  repo.git("merge", "-q", "--no-ff", "-m", "merge", "side");
  const merge = repo.git("rev-parse", "HEAD");
  assert.equal(await linearRange(r, merge, commits[4]!), null, "a merge is git's to walk");
  assert.equal(await isAncestor(r, commits[4]!, merge), true);
  assert.equal(await isAncestor(r, side, commits[4]!), false);
  assert.equal(await isAncestor(r, commits[1]!, commits[3]!), true);

  // A full commit id resolves without git; a full id of another kind of object is still refused.
  assert.deepEqual(await resolveRevision(r, commits[3]!), { commit: commits[3], tags: [] });
  await assert.rejects(resolveRevision(r, repo.git("rev-parse", "HEAD^{tree}")), /is a tree, not a commit/);
});
