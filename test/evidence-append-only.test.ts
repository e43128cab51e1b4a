// Evidence is read from the audit log only after it verifies against a checkpoint kept outside it
// (src/audit/evidence.ts, what the agent runs before every reconcile). On both stores, with their own
// storage edited as someone with access to it would: a record edited (stored hashes rewritten to match),
// the log cut, the log rolled back to an older copy and the log forked after a rollback are each refused
// with the reason, by a follower that was running when it happened and by one started afterwards; a log
// that only grew passes, and first sightings and claims come out of it.
import assert from "node:assert/strict";
import { cpSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { claimsRecord, reconcileRecord } from "../src/agent/records.ts";
import { LogFollower, openAuditLog } from "../src/audit/index.ts";
import { leafHash } from "../src/audit/hash.ts";
import { finding, logStores, makeLogKey, shopReconcile, type LogKey } from "./helpers/audit.ts";
import { sql } from "./helpers/postgres.ts";
import { tempDir } from "./helpers/tools.ts";

const stores = logStores();
const CLAIM_DIGEST = `sha256:${"c".repeat(64)}`;
const CLAIM_REF = `refs/vigil/approvals/${"2".repeat(40)}/0123456789abcdef`;

/** Three batches: a reconcile and a claims record (evidence), then findings. Returns the kept checkpoint. */
async function history(location: string, key: LogKey): Promise<string> {
  const log = await openAuditLog(location, { signingKeyFile: key.file });
  try {
    await log.append([
      reconcileRecord(shopReconcile()),
      claimsRecord({ environment: "prod", claims: [{ ref: CLAIM_REF, digest: CLAIM_DIGEST, envelope: "envelope-aaaa" }] }),
    ]);
    await log.append([finding(1), finding(2)]);
    await log.append([finding(3)]);
    return await log.checkpoint();
  } finally {
    await log.close();
  }
}

async function append(location: string, key: LogKey, n: number): Promise<string> {
  const log = await openAuditLog(location, { signingKeyFile: key.file });
  try {
    await log.append([finding(n)]);
    return await log.checkpoint();
  } finally {
    await log.close();
  }
}

/** What the agent does before a reconcile: open the log afresh, verify it against the kept checkpoint, index it. */
async function catchUp(follower: LogFollower, location: string, key: LogKey, kept: string): Promise<"pass" | string> {
  const log = await openAuditLog(location, { verifierKey: key.verifierKey });
  try {
    await follower.catchUp(log, { note: kept, where: "ConfigMap vigil-system/vigil-audit-checkpoint" });
    return "pass";
  } catch (e) {
    return (e as Error).message;
  } finally {
    await log.close();
  }
}

interface Tamper {
  /** Changes one byte of entry 1 (the claims record) and rewrites its stored hashes to match. */
  editClaims(location: string): Promise<void>;
  /** Removes the latest batch (entry 4 and its checkpoint). */
  cutLastBatch(location: string): Promise<void>;
}

const tamper: Record<string, Tamper> = {
  directory: {
    async editClaims(location) {
      const index = readFileSync(join(location, "index"));
      const [start, end] = [Number(index.readBigUInt64BE(0)), Number(index.readBigUInt64BE(8))];
      const entries = readFileSync(join(location, "entries"));
      const data = entries.subarray(start + 36, end);
      data[data.indexOf("aaaa")] = "b".charCodeAt(0);
      const hash = leafHash(data);
      hash.copy(entries, start + 4);
      writeFileSync(join(location, "entries"), entries);
      const leaves = readFileSync(join(location, "tree", "level-00"));
      hash.copy(leaves, 32);
      writeFileSync(join(location, "tree", "level-00"), leaves);
    },
    async cutLastBatch(location) {
      const checkpoints = readFileSync(join(location, "checkpoints"));
      let at = 0;
      const frames: number[] = [];
      for (; at < checkpoints.length; at += 36 + checkpoints.readUInt32BE(at)) frames.push(at);
      writeFileSync(join(location, "checkpoints"), checkpoints.subarray(0, frames.at(-1)!));
      assert.ok(statSync(join(location, "checkpoints")).size < checkpoints.length);
    },
  },
  postgres: {
    async editClaims(location) {
      const [row] = await sql(location, "SELECT data FROM vigil_audit_entries WHERE idx = 1");
      const data = Buffer.from((row!.data as Buffer).toString().replace("aaaa", "baaa"));
      await sql(location, "UPDATE vigil_audit_entries SET data = $1, leaf_hash = $2 WHERE idx = 1", [data, leafHash(data)]);
      await sql(location, "UPDATE vigil_audit_nodes SET hash = $1 WHERE level = 0 AND idx = 1", [leafHash(data)]);
    },
    async cutLastBatch(location) {
      await sql(location, "DELETE FROM vigil_audit_checkpoints WHERE size = (SELECT max(size) FROM vigil_audit_checkpoints)");
      await sql(location, "DELETE FROM vigil_audit_entries WHERE idx = 4");
      await sql(location, "DELETE FROM vigil_audit_nodes WHERE level = 0 AND idx = 4");
    },
  },
};

for (const store of stores) {
  test(`${store.name}: a log that only grew passes, and its first sightings and claims become evidence`, async (t) => {
    const location = store.location(t);
    if (!location) return;
    const key = makeLogKey(tempDir(t));
    const kept = await history(location, key);
    const running = new LogFollower(location);
    assert.equal(await catchUp(running, location, key, kept), "pass");
    const grown = await append(location, key, 9);
    assert.equal(await catchUp(running, location, key, kept), "pass", "from the older kept checkpoint to the grown log");
    assert.equal(await catchUp(new LogFollower(location), location, key, grown), "pass");
    const { evidence } = running;
    assert.ok(evidence.firstSeen("2".repeat(40)) instanceof Date, "the reconcile's commits are first sightings");
    assert.ok(evidence.firstSeen(CLAIM_DIGEST) instanceof Date, "so are the claims record's claims");
    assert.deepEqual(
      evidence.claimsUnder("refs/vigil/approvals/").map((c) => [c.where, c.ref, c.envelope.toString()]),
      [["audit log entry 1", CLAIM_REF, "envelope-aaaa"]],
    );
    assert.equal(evidence.firstSeen("9".repeat(40)), undefined);
  });

  test(`${store.name}: a record edited with its stored hashes rewritten is refused, by a running follower and a fresh one`, async (t) => {
    const location = store.location(t);
    if (!location) return;
    const key = makeLogKey(tempDir(t));
    const kept = await history(location, key);
    const running = new LogFollower(location);
    assert.equal(await catchUp(running, location, key, kept), "pass");
    await tamper[store.name]!.editClaims(location);
    assert.match(
      await catchUp(running, location, key, kept),
      /entry 1 changed after this agent verified and read it .*: the log was edited/,
    );
    assert.match(await catchUp(running, location, key, kept), /entry 1 changed/, "a follower that failed stays failed");
    assert.match(
      await catchUp(new LogFollower(location), location, key, kept),
      /entries 0 to 4 do not match the log's signed checkpoint of size 5: an entry was edited/,
    );
  });

  test(`${store.name}: a log cut below the kept checkpoint is refused, by a running follower and a fresh one`, async (t) => {
    const location = store.location(t);
    if (!location) return;
    const key = makeLogKey(tempDir(t));
    const kept = await history(location, key);
    const running = new LogFollower(location);
    assert.equal(await catchUp(running, location, key, kept), "pass");
    await tamper[store.name]!.cutLastBatch(location);
    const cut =
      /the log's latest checkpoint has 4 entries, but the checkpoint saved in ConfigMap vigil-system\/vigil-audit-checkpoint has 5: entries were removed \(the log was cut, or rolled back to an older copy\)/;
    assert.match(await catchUp(running, location, key, kept), cut);
    assert.match(await catchUp(new LogFollower(location), location, key, kept), cut);
  });
}

test("directory: a log rolled back to an older copy is refused, and so is one that grew again past the kept checkpoint from that copy (a fork)", async (t) => {
  const dir = tempDir(t);
  const key = makeLogKey(dir);
  const location = join(dir, "log");
  const older = join(dir, "older");
  await history(location, key);
  cpSync(location, older, { recursive: true });
  const kept = await append(location, key, 9);
  const running = new LogFollower(location);
  assert.equal(await catchUp(running, location, key, kept), "pass");

  const restore = () => {
    rmSync(location, { recursive: true });
    cpSync(older, location, { recursive: true });
  };
  restore();
  assert.match(await catchUp(running, location, key, kept), /has 5 entries, but the checkpoint saved in .* has 6: entries were removed/);
  assert.match(
    await catchUp(new LogFollower(location), location, key, kept),
    /has 5 entries, but the checkpoint saved in .* has 6: entries were removed/,
  );

  await append(location, key, 10);
  await append(location, key, 11);
  const fork =
    /the log no longer extends the checkpoint saved in ConfigMap vigil-system\/vigil-audit-checkpoint \(size 6\): .*entries before 6 were changed, or the log was replaced/;
  assert.match(await catchUp(new LogFollower(location), location, key, kept), fork);
});
