// Renames in history scans, followed as git log -M follows them: a file moved as it is (an exact rename)
// or moved and edited (at least half similar) is compared with its old path's version, so a secret it
// already held stays charged to the commit that added it, and only what the move adds is new.
import assert from "node:assert/strict";
import { test } from "node:test";
import { TestRepo } from "./helpers/git-fixture.ts";
import { cryptoRandom, plantedLine, tokenKinds } from "./helpers/secret-tokens.ts";
import { requireTools, tempDir, vigil } from "./helpers/tools.ts";

interface Fail {
  rule: string;
  subject: string;
  location: { file: string; line: number };
}

function scanAll(dir: string): Fail[] {
  const r = vigil(["secrets", "scan", "--repo", dir, "--all-history", "--json"]);
  assert.equal(r.status, 1, r.stderr);
  return r.json().checks.filter((c: { status: string }) => c.status === "fail");
}

/** A manifest long enough that a one-line edit keeps it well above git's 50% similarity. */
const manifest = (extra: string) =>
  `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web\n  namespace: shop\ndata:\n  mode: strict\n  replicas: "3"\n  region: eu-west-1\n  tier: frontend\n${extra}`;

test("an exact rename is not a new leak: the secret stays charged to the commit that added it", (t) => {
  if (!requireTools(t, ["git"])) return;
  const repo = new TestRepo(tempDir(t));
  const token = plantedLine(tokenKinds[0]!, cryptoRandom);
  const leak = repo.commit({ "apps/web/config.yaml": manifest(`  ${token.line}\n`) }, null, "add config");
  repo.commit({ "apps/web/config.yaml": null, "apps/frontend/config.yaml": manifest(`  ${token.line}\n`) }, null, "move web to frontend");
  const fails = scanAll(repo.dir);
  assert.deepEqual(
    fails.map((c) => [c.rule, c.subject, c.location.file]),
    [[tokenKinds[0]!.rule, leak, "apps/web/config.yaml"]],
  );
});

test("a rename with an edit charges the move only with the secret the edit adds", (t) => {
  if (!requireTools(t, ["git"])) return;
  const repo = new TestRepo(tempDir(t));
  const first = plantedLine(tokenKinds[0]!, cryptoRandom);
  const second = plantedLine(tokenKinds[1]!, cryptoRandom);
  const leak = repo.commit({ "a/settings.yaml": manifest(`  ${first.line}\n`) }, null, "add");
  const move = repo.commit(
    { "a/settings.yaml": null, "b/settings.yaml": manifest(`  ${first.line}\n  ${second.line}\n`) },
    null,
    "move and add",
  );
  const fails = scanAll(repo.dir);
  assert.deepEqual(
    fails.map((c) => [c.rule, c.subject, c.location.file, c.location.line]),
    [
      [tokenKinds[0]!.rule, leak, "a/settings.yaml", 11],
      [tokenKinds[1]!.rule, move, "b/settings.yaml", 12],
    ],
  );
});

test("a copy is not a rename: a secret copied to a second file while the first stays is reported at the copy", (t) => {
  if (!requireTools(t, ["git"])) return;
  const repo = new TestRepo(tempDir(t));
  const token = plantedLine(tokenKinds[2]!, cryptoRandom);
  const leak = repo.commit({ "one.yaml": manifest(`  ${token.line}\n`) }, null, "add");
  const copy = repo.commit({ "two.yaml": manifest(`  ${token.line}\n`) }, null, "copy");
  const fails = scanAll(repo.dir);
  assert.deepEqual(
    fails.map((c) => [c.subject, c.location.file]),
    [
      [leak, "one.yaml"],
      [copy, "two.yaml"],
    ],
  );
});

test("a rename in a range the revision gate checks is not charged with the old secret; a new file is", (t) => {
  if (!requireTools(t, ["git"])) return;
  const repo = new TestRepo(tempDir(t));
  const token = plantedLine(tokenKinds[3]!, cryptoRandom);
  const leak = repo.commit({ "x.yaml": manifest(`  ${token.line}\n`) }, null, "add");
  const move = repo.commit({ "x.yaml": null, "y.yaml": manifest(`  ${token.line}\n`) }, null, "rename");
  const range = vigil(["secrets", "scan", "--repo", repo.dir, "--from", leak, "--to", move, "--json"]);
  assert.equal(range.status, 0, range.stdout + range.stderr);
  assert.ok(!range.stdout.includes(token.secret));
});
