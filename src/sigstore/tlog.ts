// Rekor (v1) transparency-log entries: the signed entry timestamp, inclusion proofs (RFC 6962 / 9162
// hashing) and signed checkpoints, verified against a Sigstore trusted root's log keys. Shared by the
// git x509 signatures gitsign embeds entries in, and by Sigstore bundles.
import { verify as cryptoVerify } from "node:crypto";
import { describeRange, withinRange, type TrustedLogKey, type TrustedRoot } from "../trust/trusted-root.ts";
import { parseCheckpointBody } from "../audit/checkpoint.ts";
import { leafHash } from "../audit/hash.ts";
import { parseNote, type ParsedNote } from "../audit/note.ts";
import { IntegrityError, rootFromInclusionProof } from "../audit/proof.ts";

/** How far in the future a logged time may lie, for clocks that disagree a little. */
const CLOCK_SKEW_MS = 5 * 60 * 1000;

/** Why a log entry is not trusted; verifyTlogEntry turns it into a refusal, decoding throws it. */
export class TlogError extends Error {}

function fail(reason: string): never {
  throw new TlogError(reason);
}

/** The canonical JSON body Rekor stores for a hashedrekord 0.0.1 entry (keys sorted, as RFC 8785 has it). */
export function hashedRekordBody(sha256: Buffer, signature: Buffer, certificatePem: string): Buffer {
  const pem = Buffer.from(certificatePem).toString("base64");
  return Buffer.from(
    `{"apiVersion":"0.0.1","kind":"hashedrekord","spec":{"data":{"hash":{"algorithm":"sha256","value":"${sha256.toString("hex")}"}},` +
      `"signature":{"content":"${signature.toString("base64")}","publicKey":{"content":"${pem}"}}}}`,
  );
}

/** A Rekor entry, the fields of protobuf-specs' TransparencyLogEntry this verifier uses. */
export interface TlogEntry {
  logIndex: bigint;
  logId: Buffer;
  kind: string;
  version: string;
  integratedTime: bigint;
  /** The signed entry timestamp (inclusion promise), if any. */
  signedEntryTimestamp?: Buffer;
  inclusionProof?: InclusionProof;
  /** The canonicalized entry body. */
  body: Buffer;
}

export interface InclusionProof {
  logIndex: bigint;
  rootHash: Buffer;
  treeSize: bigint;
  hashes: Buffer[];
  checkpoint: string;
}

export type TlogVerdict = { ok: true; integratedTime: Date; log: TrustedLogKey } | { ok: false; reason: string };

/**
 * Verifies a Rekor v1 entry against the trusted root's log keys: the signed entry timestamp (which is
 * what vouches for the integrated time) and, when present, the inclusion proof and its signed checkpoint.
 */
export function verifyTlogEntry(entry: TlogEntry, root: TrustedRoot, now: Date = new Date()): TlogVerdict {
  try {
    const log = findLog(entry, root);
    const integratedTime = checkIntegratedTime(entry, log, now);
    checkSignedEntryTimestamp(entry, log);
    if (entry.inclusionProof) checkInclusion(entry.body, entry.inclusionProof, log);
    return { ok: true, integratedTime, log };
  } catch (e) {
    if (e instanceof TlogError) return { ok: false, reason: e.message };
    return { ok: false, reason: `transparency-log entry could not be checked (${(e as Error).message})` };
  }
}

function findLog(entry: TlogEntry, root: TrustedRoot): TrustedLogKey {
  const log = root.tlogs.find((t) => t.logId.equals(entry.logId));
  if (!log) {
    fail(
      `the transparency log ${entry.logId.toString("hex")} is not in the trusted root ${root.source}; pass the trusted root of the Sigstore instance that logged the signature`,
    );
  }
  return log;
}

function checkIntegratedTime(entry: TlogEntry, log: TrustedLogKey, now: Date): Date {
  if (entry.logIndex < 0n || entry.integratedTime <= 0n) fail("the transparency-log entry has a negative index or no integrated time");
  const at = new Date(Number(entry.integratedTime) * 1000);
  if (at.getTime() > now.getTime() + CLOCK_SKEW_MS)
    fail(`the transparency-log entry's integrated time ${at.toISOString()} is in the future`);
  if (!withinRange(log.validFor, at)) {
    fail(
      `the transparency-log entry's integrated time ${at.toISOString()} is outside the validFor window (${describeRange(log.validFor)}) of ${log.where} in the trusted root`,
    );
  }
  return at;
}

// Rekor signs the canonical JSON of body, integrated time, log id and index (keys in sorted order).
function checkSignedEntryTimestamp(entry: TlogEntry, log: TrustedLogKey): void {
  if (!entry.signedEntryTimestamp) fail("the transparency-log entry has no signed entry timestamp to vouch for its time");
  const payload =
    `{"body":"${entry.body.toString("base64")}","integratedTime":${entry.integratedTime},` +
    `"logID":"${entry.logId.toString("hex")}","logIndex":${entry.logIndex}}`;
  if (!logSignatureValid(log, Buffer.from(payload), entry.signedEntryTimestamp)) {
    fail(
      `the transparency-log entry's signed entry timestamp does not verify with the key of ${log.where} (${log.baseUrl}); the entry was altered or forged`,
    );
  }
}

function logSignatureValid(log: TrustedLogKey, data: Buffer, signature: Buffer): boolean {
  const hash = /_SHA_?(256|384|512)$/.exec(log.keyDetails)?.[1];
  const algorithm = log.publicKey.asymmetricKeyType === "ed25519" ? null : `sha${hash ?? "256"}`;
  try {
    return cryptoVerify(algorithm, data, log.publicKey, signature);
  } catch {
    return false;
  }
}

// RFC 9162 §2.1.3.2, as Vigil's own log proves inclusion (src/audit/proof.ts): the audit path folded into
// the leaf hash must lead to the proof's root, which the log's signed checkpoint must name.
function checkInclusion(body: Buffer, proof: InclusionProof, log: TrustedLogKey): void {
  if (proof.logIndex < 0n || proof.logIndex >= proof.treeSize) fail("the inclusion proof's index lies outside its tree");
  let root: Buffer;
  try {
    root = rootFromInclusionProof(Number(proof.logIndex), Number(proof.treeSize), leafHash(body), proof.hashes);
  } catch (e) {
    if (e instanceof IntegrityError) fail(`the transparency-log ${e.message}; the entry is not proven to be in the log`);
    throw e;
  }
  if (!root.equals(proof.rootHash))
    fail("the transparency-log inclusion proof does not lead to its root hash; the entry is not proven to be in the log");
  checkCheckpoint(proof, log);
}

// A checkpoint is a C2SP signed note (src/audit/note.ts) whose body names the tree (origin, size, root;
// a Sigstore log may add lines). The log's own signature line (key hint: the first four bytes of its
// log id) must verify; cosignatures by others are ignored.
function checkCheckpoint(proof: InclusionProof, log: TrustedLogKey): void {
  let note: ParsedNote;
  let body: ReturnType<typeof parseCheckpointBody>;
  try {
    note = parseNote(proof.checkpoint);
    body = parseCheckpointBody(note.text);
  } catch (e) {
    if (e instanceof IntegrityError) fail(`the inclusion proof's checkpoint is not a signed note: ${e.message}`);
    throw e;
  }
  if (BigInt(body.size) !== proof.treeSize || !body.root.equals(proof.rootHash)) {
    fail("the inclusion proof's checkpoint is for a different tree than the proof");
  }
  const hint = log.logId.readUInt32BE(0);
  const text = Buffer.from(note.text, "utf8");
  const signed = note.signatures.some((s) => s.keyHash === hint && logSignatureValid(log, text, s.signature));
  if (!signed) fail(`the inclusion proof's checkpoint carries no valid signature of ${log.where} (${log.baseUrl})`);
}

// ---------------------------------------------------------------------------------------------------
// Protobuf: just enough to read a TransparencyLogEntry

type Fields = Map<number, (bigint | Buffer)[]>;

function protoFields(buf: Buffer): Fields {
  const fields: Fields = new Map();
  let pos = 0;
  const varint = (): bigint => {
    let value = 0n;
    for (let shift = 0n; shift < 70n; shift += 7n) {
      if (pos >= buf.length) throw new Error("truncated varint");
      const byte = buf[pos++]!;
      value |= BigInt(byte & 0x7f) << shift;
      if (!(byte & 0x80)) return BigInt.asIntN(64, value);
    }
    throw new Error("varint too long");
  };
  const bytes = (n: number): Buffer => {
    if (n < 0 || pos + n > buf.length) throw new Error("truncated field");
    return buf.subarray(pos, (pos += n));
  };
  while (pos < buf.length) {
    const key = varint();
    const [field, wire] = [Number(key >> 3n), Number(key & 7n)];
    const value = wire === 0 ? varint() : wire === 2 ? bytes(Number(varint())) : wire === 1 ? bytes(8) : wire === 5 ? bytes(4) : null;
    if (value === null || field === 0) throw new Error(`unsupported protobuf wire type ${wire}`);
    fields.set(field, [...(fields.get(field) ?? []), value]);
  }
  return fields;
}

function protoOne(fields: Fields, n: number): bigint | Buffer | undefined {
  const values = fields.get(n) ?? [];
  if (values.length > 1) throw new Error(`field ${n} repeated`);
  return values[0];
}

function protoInt(fields: Fields, n: number): bigint {
  const v = protoOne(fields, n) ?? 0n;
  if (typeof v !== "bigint") throw new Error(`field ${n} is not an integer`);
  return v;
}

function protoBytes(fields: Fields, n: number): Buffer {
  const v = protoOne(fields, n) ?? Buffer.alloc(0);
  if (typeof v === "bigint") throw new Error(`field ${n} is not length-delimited`);
  return v;
}

function protoMessage(fields: Fields, n: number): Fields | undefined {
  return fields.has(n) ? protoFields(protoBytes(fields, n)) : undefined;
}

/** Decodes a protobuf-specs TransparencyLogEntry; throws TlogError naming what is wrong. */
export function decodeTransparencyLogEntry(bytes: Buffer): TlogEntry {
  try {
    const f = protoFields(bytes);
    const kind = protoMessage(f, 3) ?? new Map();
    const promise = protoMessage(f, 5);
    const proof = protoMessage(f, 6);
    return {
      logIndex: protoInt(f, 1),
      logId: protoBytes(protoMessage(f, 2) ?? new Map(), 1),
      kind: protoBytes(kind, 1).toString("utf8"),
      version: protoBytes(kind, 2).toString("utf8"),
      integratedTime: protoInt(f, 4),
      signedEntryTimestamp: promise && protoBytes(promise, 1),
      inclusionProof: proof && decodeInclusionProof(proof),
      body: protoBytes(f, 7),
    };
  } catch (e) {
    fail(`the Rekor entry is not a TransparencyLogEntry (${(e as Error).message})`);
  }
}

function decodeInclusionProof(f: Fields): InclusionProof {
  return {
    logIndex: protoInt(f, 1),
    rootHash: protoBytes(f, 2),
    treeSize: protoInt(f, 3),
    hashes: (f.get(4) ?? []).map((h) => {
      if (typeof h === "bigint") throw new Error("inclusion hash is not bytes");
      return h;
    }),
    checkpoint: protoBytes(protoMessage(f, 5) ?? new Map(), 1).toString("utf8"),
  };
}
