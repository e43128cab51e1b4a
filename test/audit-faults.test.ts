// Faults and attacks on the log. A writer killed (SIGKILL) at random moments, 100 times: the log
// always verifies afterwards and no acknowledged entry is lost. Tampering with what is stored — entries
// edited, reordered or cut, hashes rewritten to match, checkpoints replaced or signed by another key,
// a log rewritten whole — is each found, naming the entry or the reason. The edits are made on each
// store's own storage: files for the directory, rows for PostgreSQL.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { cpSync, readFileSync, statSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test, type TestContext } from "node:test";
import { AuditLog } from "../src/audit/log.ts";
import { signCheckpoint } from "../src/audit/checkpoint.ts";
import { leafHash } from "../src/audit/hash.ts";
import { parseSignerKey } from "../src/audit/note.ts";
import { verifyLog } from "../src/audit/verify.ts";
import { finding, logStores, makeLogKey, type LogKey } from "./helpers/audit.ts";
import { sql } from "./helpers/postgres.ts";
import { tempDir, vigil } from "./helpers/tools.ts";

const stores = logStores();
const writer = new URL("./helpers/audit-writer.ts", import.meta.url).pathname;

/** A log of 10 batches of 10 findings: entries 0–99, checkpoints at 0, 10, …, 100. */
async function tenBatches(location: string, key: LogKey): Promise<void> {
  const log = await AuditLog.open(location, { signingKeyFile: key.file });
  for (let b = 0; b < 10; b++) await log.append(Array.from({ length: 10 }, (_, i) => finding(b * 10 + i)));
  await log.close();
}

async function verdict(location: string, key: LogKey, saved?: string) {
  const log = await AuditLog.open(location, { verifierKey: key.verifierKey });
  try {
    const checks = await verifyLog(log, saved ? { saved: { file: "saved.checkpoint", note: saved } } : {});
    return checks.find((c) => c.status === "fail")?.message ?? "pass";
  } finally {
    await log.close();
  }
}

/** The embedded store's crash safety is its own (fsync order, torn tails); PostgreSQL's is its
 *  transactions, checked here fewer times. */
const kills = { directory: 100, postgres: 30 };

for (const store of stores) {
  test(`${store.name}: a writer killed by SIGKILL ${kills[store.name]} times at random moments loses no acknowledged entry, and the log always verifies`, async (t) => {
    const location = store.location(t);
    if (!location) return;
    const key = makeLogKey(tempDir(t));
    const acknowledged = new Map<number, string>();
    for (let round = 0; round < kills[store.name]; round++) {
      const lines = await killedWriter(location, key, `r${round}`, Math.random() * 40);
      for (const line of lines) {
        const [index, subject] = line.split(" ");
        acknowledged.set(Number(index), subject!);
      }
      assert.equal(await verdict(location, key), "pass", `after kill ${round + 1}`);
    }
    const log = await AuditLog.open(location, { verifierKey: key.verifierKey });
    t.after(() => log.close());
    const stored = new Map<number, string>();
    for await (const e of log.entries()) stored.set(e.index, (e.record.payload as { subject: string }).subject);
    assert.ok(acknowledged.size > kills[store.name], `only ${acknowledged.size} appends were acknowledged in ${kills[store.name]} runs`);
    for (const [index, subject] of acknowledged) assert.equal(stored.get(index), subject, `acknowledged entry ${index} (${subject})`);
  });
}

/** Starts a writer appending in a loop, kills it `afterMs` after it is ready; returns its acknowledged lines. */
function killedWriter(location: string, key: LogKey, name: string, afterMs: number): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [writer, location, key.file, name, "0", "0"], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stderr.on("data", (d) => (err += d));
    child.stdout.on("data", (d) => {
      out += d;
      if (out.startsWith("ready") && !child.killed) setTimeout(() => child.kill("SIGKILL"), afterMs);
    });
    child.on("exit", (code, signal) => {
      if (signal !== "SIGKILL") return reject(new Error(`writer ${name} ended by ${signal ?? code} before it was killed: ${err}`));
      // A line not ended by a newline was being written when the process died: not acknowledged.
      resolve(
        out
          .split("\n")
          .slice(0, -1)
          .filter((l) => !l.startsWith("ready")),
      );
    });
  });
}

test("directory: a torn append (entries written, no checkpoint) is cut when a writer opens the log; readers never see it", async (t) => {
  const location = join(tempDir(t), "log");
  const key = makeLogKey(tempDir(t));
  await tenBatches(location, key);
  const before = readFileSync(join(location, "checkpoints"));
  const log = await AuditLog.open(location, { signingKeyFile: key.file });
  await log.append([finding(100), finding(101)]);
  await log.close();
  writeFileSync(join(location, "checkpoints"), Buffer.concat([before, Buffer.from([0, 0, 1])])); // the new checkpoint lost, half a header left
  assert.match(await verdict(location, key), /^pass$/);
  const reopened = await AuditLog.open(location, { signingKeyFile: key.file });
  assert.deepEqual(reopened.recovered, { entries: 2, checkpointBytes: 3 });
  assert.deepEqual((await reopened.append([finding(102)]))[0]!.index, 100);
  await reopened.close();
  assert.equal(await verdict(location, key), "pass");
});

test("directory: a damaged checkpoint with more after it is refused, never cut as if an append had been interrupted", async (t) => {
  const location = join(tempDir(t), "log");
  const key = makeLogKey(tempDir(t));
  await tenBatches(location, key);
  const checkpoints = readFileSync(join(location, "checkpoints"));
  checkpoints[checkpoints.indexOf("\n30\n") + 1] = "4".charCodeAt(0); // a byte of checkpoint 3's body
  writeFileSync(join(location, "checkpoints"), checkpoints);
  const refused = /checkpoints: the frame at byte \d+ does not match its hash and \d+ bytes follow it: the file was damaged or edited/;
  await assert.rejects(AuditLog.open(location, { signingKeyFile: key.file }), refused);
  await assert.rejects(AuditLog.open(location, { verifierKey: key.verifierKey }), refused);
});

for (const store of stores) {
  test(`${store.name}: edited, reordered and cut entries, rewritten hashes and replaced checkpoints are each found`, async (t) => {
    const base = store.location(t);
    if (!base) return;
    const key = makeLogKey(tempDir(t));
    const tamper = store.name === "directory" ? fileTamper(t) : await pgTamper(t, store);
    const cases: [string, (location: string) => Promise<void>, RegExp][] = [
      [
        "an entry's bytes edited",
        (l) => tamper.editEntry(l, 37, { rehash: false }),
        /^entry 37: its bytes do not match the hash stored with them/,
      ],
      [
        "an entry edited and its stored hash updated",
        (l) => tamper.editEntry(l, 37, { rehash: true }),
        /^entry 37: its hash is not the tree's leaf 37/,
      ],
      ["two entries swapped", (l) => tamper.swapEntries(l, 12, 13), /^entry 12: its hash is not the tree's leaf 12/],
      ["the entries cut short", (l) => tamper.cutEntries(l, 55), /^entry 55: /],
      [
        "a checkpoint's size changed",
        (l) => tamper.replaceCheckpoint(l, 4, (note) => note.replace("\n40\n", "\n41\n")),
        /^checkpoint 4 \(after size 30\): .*does not verify/,
      ],
      [
        "a checkpoint signed by another key",
        (l) =>
          tamper.replaceCheckpoint(
            l,
            4,
            (note) =>
              signCheckpoint(
                parseSignerKey(makeLogKey(tempDir(t), "example.com/audit/test").signerKey),
                40,
                Buffer.from(note.split("\n")[2]!, "base64"),
              ).note,
          ),
        /^checkpoint 4 \(after size 30\): not signed by example.com\/audit\/test\+[0-9a-f]{8} \(signed by example.com\/audit\/test\+[0-9a-f]{8}\)/,
      ],
    ];
    for (const [what, edit, reason] of cases) {
      const location = await tamper.copy(base, key);
      await edit(location);
      assert.match(await verdict(location, key), reason, what);
    }
  });
}

test("directory: entries and every stored hash rewritten to match (without the key) fail at the checkpoint; a log rewritten whole with the key fails only against a saved checkpoint", async (t) => {
  const dir = tempDir(t);
  const key = makeLogKey(dir);
  const [original, forged] = [join(dir, "original"), join(dir, "forged")];
  await tenBatches(original, key);
  const saved = readFileSync(join(original, "checkpoint"), "utf8");
  // The same batches with entry 45 changed, written by the same key.
  const log = await AuditLog.open(forged, { signingKeyFile: key.file });
  for (let b = 0; b < 10; b++) await log.append(Array.from({ length: 10 }, (_, i) => finding(b * 10 + i === 45 ? 999 : b * 10 + i)));
  await log.close();
  const withoutKey = join(dir, "without-key");
  cpSync(original, withoutKey, { recursive: true });
  for (const file of ["entries", "index", "tree"]) cpSync(join(forged, file), join(withoutKey, file), { recursive: true });
  assert.match(
    await verdict(withoutKey, key),
    /^entries 40 to 49 do not match checkpoint 5 \(size 50\), signed by example.com\/audit\/test: .*the first that can be at fault is 40/,
  );
  assert.equal(await verdict(forged, key), "pass", "re-signed with the key, the forgery verifies on its own");
  assert.match(await verdict(forged, key, saved), /^entries 0 to 99 do not match the saved checkpoint \(size 100\)/);
  const longer = join(dir, "longer");
  cpSync(original, longer, { recursive: true });
  await (await AuditLog.open(longer, { signingKeyFile: key.file })).append([finding(100)]);
  assert.equal(await verdict(longer, key, saved), "pass", "a log that only grew extends the saved checkpoint");
  const shorter = join(dir, "shorter");
  const smallLog = await AuditLog.open(shorter, { signingKeyFile: key.file });
  await smallLog.append([finding(0)]);
  await smallLog.close();
  assert.match(
    await verdict(shorter, key, saved),
    /commits to 100 entries, but the log's latest checkpoint has only 1: entries were removed/,
  );
});

interface Tamper {
  copy(base: string, key: LogKey): Promise<string>;
  editEntry(location: string, index: number, options: { rehash: boolean }): Promise<void>;
  swapEntries(location: string, a: number, b: number): Promise<void>;
  cutEntries(location: string, at: number): Promise<void>;
  replaceCheckpoint(location: string, n: number, change: (note: string) => string): Promise<void>;
}

/** Edits to the directory's files, as someone with write access to them would make. */
function fileTamper(t: TestContext): Tamper {
  const frames = (location: string) => {
    const index = readFileSync(join(location, "index"));
    const ends = Array.from({ length: index.length / 8 }, (_, i) => Number(index.readBigUInt64BE(i * 8)));
    return ends.map((end, i) => ({ start: i === 0 ? 0 : ends[i - 1]!, end }));
  };
  const checkpointFrames = (bytes: Buffer) => {
    const list: Buffer[] = [];
    for (let at = 0; at < bytes.length; at += 36 + bytes.readUInt32BE(at))
      list.push(bytes.subarray(at + 36, at + 36 + bytes.readUInt32BE(at)));
    return list;
  };
  return {
    async copy(_base, key) {
      const location = join(tempDir(t), "log");
      await tenBatches(location, key);
      return location;
    },
    async editEntry(location, index, { rehash }) {
      const entries = readFileSync(join(location, "entries"));
      const { start } = frames(location)[index]!;
      const data = entries.subarray(start + 36, frames(location)[index]!.end);
      data[data.indexOf("finding")] = "F".charCodeAt(0); // same length, so nothing else moves
      if (rehash) leafHash(data).copy(entries, start + 4);
      writeFileSync(join(location, "entries"), entries);
    },
    async swapEntries(location, a, b) {
      const entries = readFileSync(join(location, "entries"));
      const f = frames(location);
      const [fa, fb] = [entries.subarray(f[a]!.start, f[a]!.end), entries.subarray(f[b]!.start, f[b]!.end)];
      const swapped = Buffer.concat([entries.subarray(0, f[a]!.start), fb, fa, entries.subarray(f[b]!.end)]);
      writeFileSync(join(location, "entries"), swapped);
      const index = readFileSync(join(location, "index"));
      index.writeBigUInt64BE(BigInt(f[a]!.start + fb.length), a * 8);
      writeFileSync(join(location, "index"), index);
    },
    async cutEntries(location, at) {
      truncateSync(join(location, "entries"), frames(location)[at]!.start + 10);
    },
    async replaceCheckpoint(location, n, change) {
      const notes = checkpointFrames(readFileSync(join(location, "checkpoints"))).map((b) => b.toString());
      notes[n] = change(notes[n]!);
      writeFileSync(
        join(location, "checkpoints"),
        Buffer.concat(
          notes.map((note) => {
            const body = Buffer.from(note);
            const header = Buffer.alloc(36);
            header.writeUInt32BE(body.length);
            createHash("sha256").update(body).digest().copy(header, 4);
            return Buffer.concat([header, body]);
          }),
        ),
      );
    },
  };
}

/** Edits to the database's rows, as someone with write access to its tables would make. */
async function pgTamper(t: TestContext, store: (typeof stores)[number]): Promise<Tamper> {
  const entry = async (location: string, index: number) =>
    (await sql(location, "SELECT data FROM vigil_audit_entries WHERE idx = $1", [index]))[0]!.data as Buffer;
  return {
    async copy(_base, key) {
      const location = store.location(t)!;
      await tenBatches(location, key);
      return location;
    },
    async editEntry(location, index, { rehash }) {
      const data = Buffer.from((await entry(location, index)).toString().replace("finding", "Finding"));
      await sql(
        location,
        `UPDATE vigil_audit_entries SET data = $2${rehash ? ", leaf_hash = $3" : ""} WHERE idx = $1`,
        rehash ? [index, data, leafHash(data)] : [index, data],
      );
    },
    async swapEntries(location, a, b) {
      await sql(location, "UPDATE vigil_audit_entries SET idx = CASE idx WHEN $1 THEN -1 ELSE idx END WHERE idx = $1", [a]);
      await sql(location, "UPDATE vigil_audit_entries SET idx = $1 WHERE idx = $2", [a, b]);
      await sql(location, "UPDATE vigil_audit_entries SET idx = $1 WHERE idx = -1", [b]);
    },
    async cutEntries(location, at) {
      await sql(location, "DELETE FROM vigil_audit_entries WHERE idx >= $1", [at]);
    },
    async replaceCheckpoint(location, n, change) {
      const [row] = await sql(location, "SELECT size, note FROM vigil_audit_checkpoints ORDER BY size OFFSET $1 LIMIT 1", [n]);
      await sql(location, "UPDATE vigil_audit_checkpoints SET note = $2 WHERE size = $1", [row!.size, change(row!.note)]);
    },
  };
}

test("directory: an index entry pointing past the end of the entries, or past 2^31 and 2^53, is a damaged log named with its offset (vigil audit verify exits 1), not an allocation error", async (t) => {
  const dir = tempDir(t);
  const key = makeLogKey(dir);
  for (const [name, past] of [
    ["past the end", 1n],
    ["past 2^31", 2n ** 31n],
    ["past 2^53", 2n ** 62n],
  ] as const) {
    const location = join(dir, name.replace(/\W/g, "-"));
    await tenBatches(location, key);
    const end = BigInt(statSync(join(location, "entries")).size) + past;
    const index = readFileSync(join(location, "index"));
    index.writeBigUInt64BE(end, 40 * 8);
    writeFileSync(join(location, "index"), index);
    const run = vigil(["audit", "verify", "--log", location, "--key", key.verifierKey, "--json"]);
    assert.equal(run.status, 1, `${name}: ${run.stdout}${run.stderr}`);
    const failed = run.json().checks.find((c: { status: string }) => c.status === "fail");
    assert.match(
      failed.message,
      new RegExp(
        `^entry 40: .*index at byte 320 says it ends at byte ${end}, past the end of .*entries \\(\\d+ bytes\\): the log is damaged`,
      ),
      name,
    );
  }
  // An end before the entry's start (the index rewound) is named too.
  const location = join(dir, "rewound");
  await tenBatches(location, key);
  const index = readFileSync(join(location, "index"));
  index.writeBigUInt64BE(3n, 40 * 8);
  writeFileSync(join(location, "index"), index);
  assert.match(
    await verdict(location, key),
    /^entry 40: .*index at byte 320 says it ends at byte 3, before its start at byte \d+ plus a frame header/,
  );
});
