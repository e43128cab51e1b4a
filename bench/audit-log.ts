// Benchmark (issue 6): the audit log's embedded store at N entries (default 10 million). In one run:
// appends per second in batches as the log grows; inclusion and consistency proof times at N; full
// verification (every entry hashed, every stored hash and checkpoint compared; then again with every
// record decoded);
// and, as the limit these are measured against, the raw SHA-256 rate of Node.js on 64-byte inputs
// (the size of an interior node's input) on this machine.
//   node bench/audit-log.ts [--entries 10000000] [--batch 1000] [--dir PATH] [--keep]
import { createHash, randomInt } from "node:crypto";
import { mkdirSync, rmSync, statSync, readdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { AuditLog } from "../src/audit/log.ts";
import { leafHash } from "../src/audit/hash.ts";
import { consistencyProof, inclusionProof, verifyConsistency, verifyInclusion } from "../src/audit/proof.ts";
import type { AuditRecord } from "../src/api/audit-record.ts";
import { Frontier } from "../src/audit/tree.ts";
import { verifyLog } from "../src/audit/verify.ts";
import { makeLogKey } from "../test/helpers/audit.ts";
import { machine, median } from "./lib/measure.ts";

const { values } = parseArgs({
  options: {
    entries: { type: "string", default: "10000000" },
    batch: { type: "string", default: "1000" },
    dir: { type: "string" },
    keep: { type: "boolean" },
  },
});
const entries = Number(values.entries);
const batch = Number(values.batch);
const root = resolve(import.meta.dirname, "..");
const dir = values.dir ?? join(root, ".cache", "bench", "audit-log");

/** SHA-256 of 64-byte inputs with node:crypto, as fast as a loop can call it: hashes per second. */
function rawHashRate(n: number): number {
  const input = Buffer.alloc(64, 7);
  const start = performance.now();
  for (let i = 0; i < n; i++) createHash("sha256").update(input).digest();
  return n / ((performance.now() - start) / 1000);
}

/** Vigil's own tree hashing (leaf and node hashes through the frontier), without storage: hashes per second. */
function vigilHashRate(n: number): number {
  const data = Buffer.alloc(63, 7);
  const frontier = new Frontier(0, []);
  let hashes = 0;
  const start = performance.now();
  for (let i = 0; i < n; i++) frontier.append(leafHash(data), () => hashes++);
  return hashes / ((performance.now() - start) / 1000);
}

/** A record of the size the agent writes for one applied object (about 300 bytes). */
function record(i: number): AuditRecord {
  return {
    kind: "apply",
    time: new Date(Date.UTC(2026, 0, 1) + i * 1000).toISOString(),
    environment: "prod",
    payload: {
      revision: createHash("sha1").update(String(i)).digest("hex"),
      objects: [
        {
          apiVersion: "apps/v1",
          kind: "Deployment",
          namespace: "shop",
          name: `web-${i % 1000}`,
          action: "update",
          images: [{ container: "container app", image: "registry.example.com/shop/app:1.4", digest: `sha256:${"ab".repeat(32)}` }],
        },
      ],
    },
  };
}

function diskBytes(path: string): number {
  const s = statSync(path);
  return s.isDirectory() ? readdirSync(path).reduce((sum, f) => sum + diskBytes(join(path, f)), 0) : s.size;
}

async function appendAll(location: string, keyFile: string) {
  const log = await AuditLog.open(location, { signingKeyFile: keyFile });
  const marks: { entries: number; perSecond: number }[] = [];
  let spent = 0;
  let sinceMark = 0;
  let markStart = 0;
  for (let done = 0; done < entries; ) {
    const records = Array.from({ length: Math.min(batch, entries - done) }, (_, i) => record(done + i));
    const t = performance.now();
    await log.append(records);
    const took = performance.now() - t;
    spent += took;
    sinceMark += took;
    done += records.length;
    if (done % Math.max(batch, Math.floor(entries / 10)) === 0 || done === entries) {
      marks.push({ entries: done, perSecond: (done - markStart) / (sinceMark / 1000) });
      console.error(`  ${done} entries, ${Math.round(marks.at(-1)!.perSecond)} appends/s in the last stretch`);
      markStart = done;
      sinceMark = 0;
    }
  }
  await log.close();
  return { seconds: spent / 1000, perSecond: entries / (spent / 1000), marks };
}

async function proofTimes(log: AuditLog, size: number, runs = 2000) {
  const cp = await log.latest();
  const inclusion: number[] = [];
  const consistency: number[] = [];
  for (let i = 0; i < runs; i++) {
    const index = randomInt(size);
    const leaf = (await log.store.readLevel(0, index, index + 1))[0]!;
    let t = performance.now();
    const path = await inclusionProof(log.store.readNodes, index, size);
    verifyInclusion(index, size, leaf, path, cp.root);
    inclusion.push(performance.now() - t);
    const old = 1 + randomInt(size - 1);
    const oldRoot = (await log.rootsAt([old]))[0]!;
    t = performance.now();
    const proof = await consistencyProof(log.store.readNodes, old, size);
    verifyConsistency(old, size, oldRoot, cp.root, proof);
    consistency.push(performance.now() - t);
  }
  const p99 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length * 0.99)]!;
  return {
    inclusionMs: { median: median(inclusion), p99: p99(inclusion) },
    consistencyMs: { median: median(consistency), p99: p99(consistency) },
  };
}

async function timedVerify(log: AuditLog, records: boolean): Promise<number> {
  const t = performance.now();
  const checks = await verifyLog(log, { records });
  if (checks.some((c) => c.status === "fail")) throw new Error(`verification failed: ${JSON.stringify(checks)}`);
  return (performance.now() - t) / 1000;
}

rmSync(dir, { recursive: true, force: true });
mkdirSync(dir, { recursive: true });
try {
  const key = makeLogKey(dir, "bench.example/audit");
  const location = join(dir, "log");
  const rawRate = rawHashRate(2_000_000);
  const vigilRate = vigilHashRate(1_000_000);
  console.error(`raw SHA-256 (64-byte inputs): ${Math.round(rawRate)}/s; appending ${entries} entries in batches of ${batch}…`);
  const appends = await appendAll(location, key.file);
  const bytes = diskBytes(location);
  const log = await AuditLog.open(location, { verifierKey: key.verifierKey });
  const proofs = await proofTimes(log, entries);
  console.error("verifying the whole log, then again decoding every record…");
  const verifySeconds = await timedVerify(log, false);
  const recordsSeconds = await timedVerify(log, true);
  await log.close();
  // Verification computes one leaf hash per entry and one node hash per interior node: 2n − 1 hashes.
  const rawVerifySeconds = (2 * entries - 1) / rawRate;
  const result = {
    machine: machine(),
    entries,
    batch,
    diskBytes: bytes,
    rawSha256PerSecond: rawRate,
    vigilTreeHashesPerSecond: vigilRate,
    appends,
    proofs,
    verification: {
      seconds: verifySeconds,
      withRecordsSeconds: recordsSeconds,
      rawHashingSeconds: rawVerifySeconds,
      overRaw: verifySeconds / rawVerifySeconds,
    },
  };
  console.log(JSON.stringify(result, null, 2));
  const ms = (x: number) => `${(x * 1000).toFixed(0)} µs`;
  console.log(`
| measure (${entries.toLocaleString("en")} entries, batches of ${batch}) | value |
|---|---|
| appends, whole run | ${Math.round(appends.perSecond).toLocaleString("en")}/s (${appends.seconds.toFixed(1)} s; target 50,000/s) |
| appends, last tenth (log at ${(entries * 0.9).toLocaleString("en")}–${entries.toLocaleString("en")}) | ${Math.round(appends.marks.at(-1)!.perSecond).toLocaleString("en")}/s |
| inclusion proof at ${entries.toLocaleString("en")}, made and verified (median / p99) | ${ms(proofs.inclusionMs.median)} / ${ms(proofs.inclusionMs.p99)} (target < 1 ms) |
| consistency proof at ${entries.toLocaleString("en")}, made and verified (median / p99) | ${ms(proofs.consistencyMs.median)} / ${ms(proofs.consistencyMs.p99)} (target < 1 ms) |
| full verification (every hash, stored node and checkpoint) | ${verifySeconds.toFixed(1)} s (${((verifySeconds / entries) * 1e6).toFixed(1)} µs per entry) |
| the same, also decoding every record strictly (--records) | ${recordsSeconds.toFixed(1)} s |
| raw SHA-256, Node.js, 64-byte inputs | ${Math.round(rawRate).toLocaleString("en")}/s: ${(2 * entries - 1).toLocaleString("en")} hashes take ${rawVerifySeconds.toFixed(1)} s |
| **full verification / raw hashing limit** | **${result.verification.overRaw.toFixed(2)}x** (target ≤ 3x) |
| Vigil's tree hashing / raw SHA-256 | ${((vigilRate / rawRate) * 100).toFixed(0)}% |
| disk | ${(bytes / 2 ** 20).toFixed(0)} MiB (${(bytes / entries).toFixed(0)} bytes per entry) |
`);
} finally {
  if (!values.keep) rmSync(dir, { recursive: true, force: true });
}
