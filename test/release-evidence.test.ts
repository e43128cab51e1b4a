// vigil verify release --log: the release verdict on the agent's evidence. A withdrawal the log recorded
// and someone deleted from refs/vigil/ blocks (and still counts), where the refs alone let the release
// through with a warning; a soak ends at the log's first later apply of another tree, deploys within one
// second are ordered by the log, and a replayed copy of an old record changes nothing.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { revisionOf, signDeploymentRecord } from "../src/approvals/index.ts";
import { applyRecords, claimsRecord, deploymentRecord } from "../src/agent/records.ts";
import { openAuditLog, type AuditRecord } from "../src/audit/index.ts";
import { openRepo } from "../src/git/repo.ts";
import { approvalsFixture, minutesFromNow, type ApprovalsFixture } from "./helpers/approvals-fixture.ts";
import { makeLogKey } from "./helpers/audit.ts";
import { requireTools, tempDir } from "./helpers/tools.ts";

type Out = ReturnType<ApprovalsFixture["release"]>;
const ok = (out: { status: number; stdout: string; stderr: string }) => assert.equal(out.status, 0, out.stdout + out.stderr);
const checks = (out: Out, rule: string): { status: string; subject: string; message: string }[] =>
  out.json().checks.filter((c: { rule: string }) => c.rule === rule);

async function writeLog(location: string, keyFile: string, batches: AuditRecord[][]): Promise<string> {
  const log = await openAuditLog(location, { signingKeyFile: keyFile });
  try {
    for (const batch of batches) await log.append(batch);
    return await log.checkpoint();
  } finally {
    await log.close();
  }
}

/** The claims under refs/vigil/approvals/COMMIT/ as the agent records them when it first sees them. */
function claimsSeen(f: ApprovalsFixture, commit: string): AuditRecord {
  const refs = f.repo.git("for-each-ref", "--format=%(refname)", `refs/vigil/approvals/${commit}/`).trim().split("\n");
  return claimsRecord({
    environment: "prod",
    claims: refs.map((ref) => {
      const envelope = execFileSync("git", ["-C", f.repo.dir, "cat-file", "blob", ref], { encoding: "utf8" });
      return { ref, digest: `sha256:${createHash("sha256").update(envelope, "utf8").digest("hex")}`, envelope };
    }),
  });
}

test("a withdrawal the audit log recorded, deleted from refs/vigil/, blocks with --log and still counts; without --log the release says it cannot tell", async (t) => {
  if (!requireTools(t, ["git", "ssh-keygen"])) return;
  const f = approvalsFixture(t);
  const commit = f.repo.commit({ "envs/prod/app.yaml": "a: 1\n" }, f.alice);
  ok(f.record(commit, "--healthy-at", minutesFromNow(-60)));
  for (const who of [f.bob, f.carol, f.dave]) ok(f.approve(who, commit));
  const withdrawal = f.approve(f.carol, commit, "--withdraw");
  ok(withdrawal);
  const dir = tempDir(t);
  const key = makeLogKey(dir);
  const log = join(dir, "log");
  const checkpoint = join(dir, "checkpoint");
  writeFileSync(checkpoint, await writeLog(log, key.file, [[claimsSeen(f, commit)]]));

  let out = f.release(commit, "--log", log, "--checkpoint", checkpoint);
  ok(out);
  assert.equal(checks(out, "evidence")[0]!.status, "pass");

  // Someone with push access deletes carol's withdrawal: her approval would count again.
  const ref = withdrawal.json().ref as string;
  f.repo.git("update-ref", "-d", ref);
  out = f.release(commit);
  ok(out);
  assert.match(
    checks(out, "evidence")[0]!.message,
    /a withdrawal or deployment record deleted from there cannot be detected without the agent's audit log; pass --log/,
  );
  assert.equal(checks(out, "evidence")[0]!.status, "warn");

  out = f.release(commit, "--log", log, "--checkpoint", checkpoint);
  assert.equal(out.status, 1, out.stdout);
  const deleted = checks(out, "claim-deleted");
  assert.equal(deleted.length, 1);
  assert.equal(deleted[0]!.subject, ref);
  assert.match(
    deleted[0]!.message,
    /^the withdrawal recorded in audit log entry 0 \(.*\) is no longer in refs\/vigil\/approvals\/.*: someone deleted it; it still counts from the log's copy/,
  );
  assert.match(
    checks(out, "approval")
      .map((c) => c.message)
      .join("\n"),
    /not counted: carol withdrew it at /,
    "the log's copy of the withdrawal still counts",
  );
});

test("a soak ends at the log's first later apply of another tree; within a second the log's order decides; a replayed old record changes nothing", async (t) => {
  if (!requireTools(t, ["git", "ssh-keygen"])) return;
  const f = approvalsFixture(t);
  const commit = f.repo.commit({ "envs/prod/app.yaml": "a: 1\n" }, f.alice);
  const other = f.repo.commit({ "envs/staging/next.yaml": "b: 1\n" }, f.bob);
  for (const who of [f.bob, f.carol]) ok(f.approve(who, commit));
  const repo = await openRepo(f.repo.dir);
  const [target, next] = [await revisionOf(repo, commit), await revisionOf(repo, other)];
  repo.close();
  const healthy = new Date(Math.floor(Date.now() / 1000) * 1000 - 60 * 60_000);
  const { envelope } = signDeploymentRecord({
    environment: "staging",
    revision: target,
    key: f.staging.key,
    deployedAt: healthy,
    healthyAt: healthy,
  });
  const record = deploymentRecord({ environment: "staging", revision: target, envelope, time: healthy });
  const apply = (revision: { commit: string; tree: string }, time: Date): AuditRecord =>
    applyRecords({ environment: "staging", revision: revision.commit, tree: revision.tree, objects: [], sync: { objects: [] }, time })[0]!;
  const release = async (batches: AuditRecord[][]) => {
    const dir = tempDir(t);
    const log = join(dir, "log");
    const checkpoint = join(dir, "checkpoint");
    writeFileSync(checkpoint, await writeLog(log, makeLogKey(dir).file, batches));
    return f.release(commit, "--log", log, "--checkpoint", checkpoint);
  };
  const promotion = (out: Out) => checks(out, "promotion")[0]!;

  // The agent's record alone: an hour in staging, well past the 10m soak.
  ok(await release([[apply(target, healthy), record]]));

  // Another tree applied 5 minutes later, never healthy and never recorded: the soak ended there.
  let out = await release([[apply(target, healthy), record], [apply(next, new Date(healthy.getTime() + 5 * 60_000))]]);
  assert.equal(out.status, 1);
  assert.match(
    promotion(out).message,
    /ran healthy in staging only from \S+ until tree [0-9a-f]{12} replaced it at \S+ \(5m; audit log entry 2\), less than the 10m soak/,
  );

  // The same second: an apply the log put after the record ends the soak at once; one before it does not.
  out = await release([[apply(target, healthy), record, apply(next, healthy)]]);
  assert.equal(out.status, 1);
  assert.match(promotion(out).message, /replaced it at \S+ \(0s; audit log entry 2\)/);
  ok(await release([[apply(next, healthy), apply(target, healthy), record]]));

  // A replayed copy of the old record, appended after the other tree's apply, changes nothing.
  out = await release([[apply(target, healthy), record], [apply(next, new Date(healthy.getTime() + 5 * 60_000))], [record]]);
  assert.equal(out.status, 1);
  assert.match(promotion(out).message, /\(5m; audit log entry 2\), less than the 10m soak/);
});
