// The log on both stores: what is appended can be read back, proven and verified whole; records are
// checked before they are stored; a key that does not sign the log cannot extend it; and two writers
// sharing one PostgreSQL log interleave safely.
import assert from "node:assert/strict";
import { fork } from "node:child_process";
import { test } from "node:test";
import { InputError } from "../src/core/errors.ts";
import { AuditLog } from "../src/audit/log.ts";
import { IntegrityError } from "../src/audit/proof.ts";
import { verifyLog } from "../src/audit/verify.ts";
import { finding, logStores, makeLogKey } from "./helpers/audit.ts";
import { tempDir } from "./helpers/tools.ts";

const stores = logStores();

for (const store of stores) {
  test(`${store.name}: batches append, read back, prove (every entry, every checkpoint) and verify whole`, async (t) => {
    const location = store.location(t);
    if (!location) return;
    const key = makeLogKey(tempDir(t));
    const log = await AuditLog.open(location, { signingKeyFile: key.file });
    const sizes: number[] = [0];
    let n = 0;
    for (const batch of [1, 2, 3, 7, 1, 16, 37, 5, 64, 1]) {
      const appended = await log.append(Array.from({ length: batch }, () => finding(n++)));
      assert.deepEqual(
        appended.map((a) => a.index),
        Array.from({ length: batch }, (_, i) => n - batch + i),
      );
      sizes.push(n);
    }
    assert.deepEqual(await log.append([]), [], "an empty batch writes nothing");
    assert.match(await log.checkpoint(), new RegExp(`^example.com/audit/test\n${n}\n`));
    await log.close();

    const reader = await AuditLog.open(location, { verifierKey: key.verifierKey });
    t.after(() => reader.close());
    const read = [];
    for await (const e of reader.entries()) read.push(e.record);
    assert.deepEqual(
      read,
      Array.from({ length: n }, (_, i) => finding(i)),
    );
    for (let i = 0; i < n; i++) assert.equal((await reader.prove(i)).hashes.length > 0, true);
    for (const size of sizes) await reader.proveConsistency(size);
    const target = (await reader.entry(42)).leafHash;
    assert.equal(await reader.find(target), 42);
    const checks = await verifyLog(reader, { records: true });
    assert.deepEqual(
      checks.map((c) => [c.rule, c.status, c.code]),
      [
        ["checkpoints", "pass", "checkpoints-verified"],
        ["entries", "pass", "log-verified"],
        ["consistency", "skip", "no-checkpoint-given"],
      ],
    );
    assert.match(checks[0]!.message, new RegExp(`^${sizes.length} checkpoints, sizes 0 to ${n}`));
    assert.match(checks[1]!.message, /each matches its hash and is a valid record/);
  });

  test(`${store.name}: appends called at once (environments reconciled in parallel) each get their own batch`, async (t) => {
    const location = store.location(t);
    if (!location) return;
    const key = makeLogKey(tempDir(t));
    const log = await AuditLog.open(location, { signingKeyFile: key.file });
    t.after(() => log.close());
    const batches = await Promise.all(
      Array.from({ length: 8 }, (_, b) => log.append(Array.from({ length: 5 }, (_, i) => finding(b * 5 + i)))),
    );
    assert.deepEqual(
      batches
        .flat()
        .map((a) => a.index)
        .sort((x, y) => x - y),
      Array.from({ length: 40 }, (_, i) => i),
    );
    for (const batch of batches)
      assert.deepEqual(
        batch.map((a) => a.index),
        Array.from({ length: 5 }, (_, i) => batch[0]!.index + i),
      );
    assert.deepEqual(
      (await verifyLog(log)).map((c) => c.status),
      ["pass", "pass", "skip"],
    );
  });

  test(`${store.name}: a record that does not fit its schema is refused and nothing is written`, async (t) => {
    const location = store.location(t);
    if (!location) return;
    const key = makeLogKey(tempDir(t));
    const log = await AuditLog.open(location, { signingKeyFile: key.file });
    t.after(() => log.close());
    await log.append([finding(0)]);
    const bad = [
      finding(1),
      { ...finding(2), payload: { subject: "x", rule: "r", severity: "urgent", message: "m" } },
      { ...finding(3), extra: true },
    ];
    await assert.rejects(
      log.append(bad as never),
      (e: unknown) => e instanceof InputError && /audit record 1 \(finding\): payload.severity/.test(e.message),
    );
    await assert.rejects(log.append([{ ...finding(4), time: "yesterday" }]), /record: |time: must be an RFC 3339 time/);
    await assert.rejects(log.append([bad[2]] as never), /unknown field/);
    assert.equal((await log.latest()).size, 1);
  });

  test(`${store.name}: another key can neither extend the log nor pass for its signer`, async (t) => {
    const location = store.location(t);
    if (!location) return;
    const dir = tempDir(t);
    const key = makeLogKey(dir);
    const other = makeLogKey(dir, "example.com/audit/other");
    (await AuditLog.open(location, { signingKeyFile: key.file })).close();
    await assert.rejects(
      AuditLog.open(location, { signingKeyFile: other.file }),
      (e: unknown) =>
        e instanceof InputError && e.message.includes(`does not sign this log; its checkpoints are signed by ${key.verifierKey}`),
    );
    await assert.rejects(
      AuditLog.open(location, { verifierKey: other.verifierKey }),
      (e: unknown) => e instanceof IntegrityError && /not signed by example.com\/audit\/other/.test(e.message),
    );
  });
}

test("postgres: two writers appending at once interleave safely; every record is there once", async (t) => {
  const location = stores[1]!.location(t);
  if (!location) return;
  const key = makeLogKey(tempDir(t));
  (await AuditLog.open(location, { signingKeyFile: key.file })).close();
  const writer = new URL("./helpers/audit-writer.ts", import.meta.url).pathname;
  const runs = ["a", "b"].map(
    (name) =>
      new Promise<string[]>((resolve, reject) => {
        const child = fork(writer, [location, key.file, name, "40", "5"], { stdio: ["ignore", "pipe", "inherit", "ipc"] });
        let out = "";
        child.stdout!.on("data", (d) => (out += d));
        child.on("exit", (code) =>
          code === 0
            ? resolve(
                out
                  .trim()
                  .split("\n")
                  .filter((l) => !l.startsWith("ready")),
              )
            : reject(new Error(`writer ${name} exited ${code}`)),
        );
      }),
  );
  const acknowledged = (await Promise.all(runs)).flat();
  assert.equal(acknowledged.length, 400);
  const log = await AuditLog.open(location, { verifierKey: key.verifierKey });
  t.after(() => log.close());
  const subjects = new Map<string, number>();
  for await (const e of log.entries()) subjects.set((e.record.payload as { subject: string }).subject, e.index);
  for (const line of acknowledged) {
    const [index, subject] = line.split(" ");
    assert.equal(subjects.get(subject!), Number(index), `${subject} acknowledged at ${index}`);
  }
  assert.equal(subjects.size, 400);
  assert.equal(
    (await verifyLog(log)).every((c) => c.status !== "fail"),
    true,
  );
});
