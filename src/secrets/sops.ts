// SOPS-encrypted manifests, decrypted in memory. The format, as the sops binary writes it:
//
// - Every value SOPS encrypts is `ENC[AES256_GCM,data:B64,iv:B64,tag:B64,type:T]`: AES-256-GCM under the
//   file's 32-byte data key, with the value's path of mapping keys (list positions add nothing) joined
//   by ":" plus a final ":" as the additional data, so a value moved to another key fails to decrypt.
// - The data key is wrapped for each recipient in the top-level `sops` mapping: `age[].enc` (an armored
//   age file) and `pgp[].enc` (an armored OpenPGP message).
// - `sops.mac` is the SHA-512 (upper-case hex) of every leaf value in document order (the plaintext of the
//   encrypted ones, a canonical text of the others; only the encrypted ones with mac_only_encrypted),
//   itself encrypted under the data key with `sops.lastmodified` as the additional data. A value added,
//   removed, reordered or swapped for another file's ciphertext changes it: the file is refused.
//
// Checklist, in order: parse strictly and within bounds; read the metadata and refuse what cannot be
// verified (Shamir key groups, comment-based rules); unwrap the data key with a key we were given; decrypt
// every value; recompute the MAC and compare it in constant time with the decrypted stored one. Only then
// is any plaintext returned. Plaintext is never logged, written, or put in an error message.
import { createDecipheriv, createHash, timingSafeEqual } from "node:crypto";
import { Decrypter, armor } from "age-encryption";
import * as openpgp from "openpgp";
import { isMap, isPair, isScalar, isSeq, parseAllDocuments, type Document, type Node, type Scalar } from "yaml";
import { ExitCode, InputError, VigilError } from "../core/errors.ts";

/** Keys the agent holds: age identities (AGE-SECRET-KEY-1…) and armored OpenPGP private keys. */
export interface SopsKeys {
  age?: readonly string[];
  pgp?: readonly string[];
}

/** A SOPS file that does not verify (tampered, or no key we hold opens it): blocked, exit 1. */
export class SopsError extends VigilError {
  constructor(message: string) {
    super(message, ExitCode.blocked);
  }
}

/** Larger manifests are refused before parsing: a manifest is a few kilobytes. */
export const MAX_SOPS_BYTES = 4 << 20;
/** sops' fixed prefix of the MAC when only encrypted values are covered (so the two kinds never collide). */
const MAC_ONLY_ENCRYPTED_INIT = Buffer.from("8a3fd2ad54ce66527b1034f3d147be0b0b975b3bf44f72c6fdadec8176f27d69", "hex");
const ENCRYPTED =
  /^ENC\[AES256_GCM,data:([A-Za-z0-9+/=]*),iv:([A-Za-z0-9+/=]+),tag:([A-Za-z0-9+/=]+),type:(str|int|float|bool|bytes|time|comment)\]$/;
const MAX_REGEX_LENGTH = 256;

interface Metadata {
  lastModified: string;
  mac: string;
  age: string[];
  pgp: string[];
  macOnlyEncrypted: boolean;
  shouldEncrypt: (path: readonly string[]) => boolean;
}

/** True when a parsed object carries SOPS metadata (a top-level `sops` mapping with a mac). */
export function isSopsObject(o: unknown): boolean {
  const sops = (o as { sops?: { mac?: unknown } } | null)?.sops;
  return typeof sops === "object" && sops !== null && typeof sops.mac === "string";
}

/**
 * The manifest file `bytes` (YAML or JSON, one or more documents) decrypted, as YAML text without its
 * `sops` metadata. `source` names the file in messages. InputError (2) for a file that is not SOPS's
 * format; SopsError (1) for one that does not verify or that no given key opens.
 */
export async function decryptSopsManifest(bytes: Buffer | string, keys: SopsKeys, source = "manifest"): Promise<string> {
  const docs = parseDocuments(bytes, source);
  const metadata = readMetadata(docs, source);
  const dataKey = await unwrapDataKey(metadata, keys, source);
  const hash = createHash("sha512");
  if (metadata.macOnlyEncrypted) hash.update(MAC_ONLY_ENCRYPTED_INIT);
  for (const doc of docs) {
    doc.delete("sops");
    doc.commentBefore = null;
    doc.comment = null;
    walk(doc.contents, [], (scalar, path) => {
      const encrypted = metadata.shouldEncrypt(path);
      const { value, macBytes } = encrypted ? decryptValue(scalar, dataKey, path, source) : plainValue(scalar, path, source);
      if (macBytes !== null && (!metadata.macOnlyEncrypted || encrypted)) hash.update(macBytes);
      if (encrypted) setScalar(scalar, value);
    });
  }
  const computed = Buffer.from(hash.digest("hex").toUpperCase());
  const stored = decryptMac(metadata, dataKey, source);
  if (stored.length !== computed.length || !timingSafeEqual(stored, computed)) {
    throw new SopsError(
      `${source}: the SOPS MAC does not match its values: the file was changed after sops encrypted it (values added, removed, reordered or replaced); re-encrypt it with sops`,
    );
  }
  return docs.map((d, i) => (i > 0 ? "---\n" : "") + d.toString({ lineWidth: 0, directives: false })).join("");
}

function parseDocuments(bytes: Buffer | string, source: string): Document[] {
  const size = typeof bytes === "string" ? Buffer.byteLength(bytes) : bytes.length;
  if (size > MAX_SOPS_BYTES) throw new InputError(`${source}: ${size} bytes, more than the ${MAX_SOPS_BYTES} a SOPS manifest may have`);
  const text = typeof bytes === "string" ? bytes : bytes.toString("utf8");
  const docs = parseAllDocuments(text, { intAsBigInt: true, uniqueKeys: true });
  if (!Array.isArray(docs)) throw new InputError(`${source}: no YAML documents`);
  for (const d of docs) {
    const e = d.errors[0];
    if (e) throw new InputError(`${source}:${e.linePos?.[0]?.line ?? 1}: ${e.message.split("\n")[0]}`);
  }
  const nonEmpty = docs.filter((d) => d.contents !== null);
  if (nonEmpty.length === 0) throw new InputError(`${source}: no YAML documents`);
  return nonEmpty;
}

function field(doc: Document, name: string): unknown {
  return doc.getIn(["sops", name]);
}

/** Every document carries the same metadata (sops writes it into each); the first one's is read. */
function readMetadata(docs: Document[], source: string): Metadata {
  const at = (name: string) => `${source}: sops.${name}`;
  for (const [i, doc] of docs.entries()) {
    if (!isMap(doc.contents) || !isMap(doc.get("sops", true)))
      throw new InputError(`${source}: document ${i + 1} has no sops metadata: not a SOPS-encrypted file`);
  }
  const first = docs[0]!;
  const sops = first.get("sops", true) as import("yaml").YAMLMap;
  const meta = sops.toJSON() as Record<string, unknown>;
  for (const doc of docs.slice(1)) {
    if (JSON.stringify((doc.get("sops", true) as Node).toJSON()) !== JSON.stringify(meta))
      throw new InputError(`${source}: the documents' sops metadata differ`);
  }
  const text = (name: string): string => {
    const v = field(first, name);
    if (typeof v !== "string" || v === "") throw new InputError(`${at(name)}: missing or not a string`);
    return v;
  };
  if (meta.shamir_threshold !== undefined && Number(meta.shamir_threshold) > 1)
    throw new InputError(`${at("shamir_threshold")}: Shamir key groups are not supported; encrypt with age or PGP recipients in one group`);
  for (const unsupported of ["encrypted_comment_regex", "unencrypted_comment_regex"]) {
    if (meta[unsupported] !== undefined)
      throw new InputError(
        `${at(unsupported)}: comment-selected encryption is not supported; use unencrypted_suffix, encrypted_suffix or a key regex`,
      );
  }
  const groups = Array.isArray(meta.key_groups) ? (meta.key_groups as Record<string, unknown>[]) : [meta];
  const encs = (kind: "age" | "pgp") =>
    groups.flatMap((g, i) =>
      (Array.isArray(g[kind]) ? (g[kind] as Record<string, unknown>[]) : []).map((k, j) => {
        if (typeof k?.enc !== "string")
          throw new InputError(`${source}: sops.${meta.key_groups ? `key_groups[${i}].` : ""}${kind}[${j}].enc: missing`);
        return k.enc;
      }),
    );
  const lastModified = normaliseTime(text("lastmodified"), at("lastmodified"));
  return {
    lastModified,
    mac: text("mac"),
    age: encs("age"),
    pgp: encs("pgp"),
    macOnlyEncrypted: meta.mac_only_encrypted === true,
    shouldEncrypt: encryptionRule(meta, at),
  };
}

/** sops reads lastmodified as RFC 3339 and writes it back without fractional seconds: the MAC's additional data. */
function normaliseTime(value: string, where: string): string {
  const m = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.\d+)?(Z|[+-]\d{2}:\d{2})$/.exec(value);
  if (!m) throw new InputError(`${where}: "${value.slice(0, 40)}" is not an RFC 3339 time`);
  // Go writes a zero offset as "Z", however it was read.
  return m[1]! + (m[2] === "+00:00" || m[2] === "-00:00" ? "Z" : m[2]);
}

/** sops' shouldBeEncrypted: suffixes and key regexes, over every key of the value's path. */
function encryptionRule(meta: Record<string, unknown>, at: (name: string) => string): (path: readonly string[]) => boolean {
  const given = ["unencrypted_suffix", "encrypted_suffix", "unencrypted_regex", "encrypted_regex"].filter(
    (k) => meta[k] !== undefined && meta[k] !== "",
  );
  if (given.length > 1) throw new InputError(`${at(given[1]!)}: only one of ${given.join(", ")} may be given`);
  const rule = given[0];
  if (!rule) return () => true;
  const value = meta[rule];
  if (typeof value !== "string") throw new InputError(`${at(rule)}: must be a string`);
  if (rule.endsWith("suffix")) {
    return rule === "unencrypted_suffix" ? (path) => !path.some((k) => k.endsWith(value)) : (path) => path.some((k) => k.endsWith(value));
  }
  // A regex the repository's author wrote runs over the keys: bounded in length, compiled once.
  if (value.length > MAX_REGEX_LENGTH) throw new InputError(`${at(rule)}: longer than ${MAX_REGEX_LENGTH} characters`);
  let re: RegExp;
  try {
    re = new RegExp(value);
  } catch (e) {
    throw new InputError(`${at(rule)}: ${(e as Error).message}`);
  }
  return rule === "unencrypted_regex" ? (path) => !path.some((k) => re.test(k)) : (path) => path.some((k) => re.test(k));
}

async function unwrapDataKey(meta: Metadata, keys: SopsKeys, source: string): Promise<Buffer> {
  const ageIds = keys.age ?? [];
  const pgpKeys = keys.pgp ?? [];
  if (meta.age.length + meta.pgp.length === 0)
    throw new SopsError(
      `${source}: encrypted for no age or PGP recipient (only cloud KMS or Vault keys), which Vigil cannot open; add an age recipient with sops updatekeys`,
    );
  if (ageIds.length > 0) {
    for (const enc of meta.age) {
      const key = await ageUnwrap(enc, ageIds);
      if (key) return checkDataKey(key, source);
    }
  }
  if (pgpKeys.length > 0) {
    for (const enc of meta.pgp) {
      const key = await pgpUnwrap(enc, pgpKeys);
      if (key) return checkDataKey(key, source);
    }
  }
  throw new SopsError(
    `${source}: none of the agent's keys (${ageIds.length} age, ${pgpKeys.length} PGP) is a recipient of this file (${meta.age.length} age, ${meta.pgp.length} PGP recipients); add the agent's age recipient with sops updatekeys, or give the agent the matching key`,
  );
}

function checkDataKey(key: Uint8Array, source: string): Buffer {
  if (key.length !== 32) throw new SopsError(`${source}: the data key is ${key.length} bytes, not the 32 of AES-256`);
  return Buffer.from(key);
}

/** The data key from an armored age file, or null when none of the identities is a recipient. */
async function ageUnwrap(enc: string, identities: readonly string[]): Promise<Uint8Array | null> {
  let file: Uint8Array;
  try {
    file = armor.decode(enc.trim() + "\n");
  } catch {
    return null;
  }
  const decrypter = new Decrypter();
  for (const id of identities) decrypter.addIdentity(id);
  try {
    return await decrypter.decrypt(file);
  } catch {
    return null; // no matching identity, or a stanza that does not open: the next recipient may
  }
}

async function pgpUnwrap(enc: string, armoredKeys: readonly string[]): Promise<Uint8Array | null> {
  try {
    const message = await openpgp.readMessage({ armoredMessage: enc });
    const decryptionKeys = await Promise.all(armoredKeys.map((k) => openpgp.readPrivateKey({ armoredKey: k })));
    const { data } = await openpgp.decrypt({ message, decryptionKeys, format: "binary" });
    return data as Uint8Array;
  } catch {
    return null;
  }
}

/** Calls `leaf` for every scalar in document order with its path of mapping keys (lists add nothing). */
function walk(node: unknown, path: string[], leaf: (s: Scalar, path: string[]) => void): void {
  if (isMap(node)) {
    for (const item of node.items) {
      if (!isPair(item) || !isScalar(item.key) || typeof item.key.value !== "string")
        throw new InputError(`a mapping key at ${path.join(".") || "the top"} is not a string`);
      walk(item.value, [...path, item.key.value], leaf);
    }
  } else if (isSeq(node)) {
    for (const item of node.items) walk(item, path, leaf);
  } else if (isScalar(node)) {
    if (node.value !== null) leaf(node, path);
  } else if (node !== null && node !== undefined) {
    throw new InputError(`unexpected YAML node at ${path.join(".")}`);
  }
}

function decryptValue(scalar: Scalar, key: Buffer, path: string[], source: string): { value: unknown; macBytes: Buffer | null } {
  const where = `${source}: ${path.join(".")}`;
  if (scalar.value === "") return { value: "", macBytes: Buffer.alloc(0) };
  const m = typeof scalar.value === "string" ? ENCRYPTED.exec(scalar.value) : null;
  if (!m) throw new SopsError(`${where}: a value sops should have encrypted is in clear: the file was changed after sops encrypted it`);
  const [, data, iv, tag, type] = m;
  let plain: Buffer;
  try {
    const decipher = createDecipheriv("aes-256-gcm", key, Buffer.from(iv!, "base64"));
    decipher.setAAD(Buffer.from(path.join(":") + ":"));
    decipher.setAuthTag(Buffer.from(tag!, "base64"));
    plain = Buffer.concat([decipher.update(Buffer.from(data!, "base64")), decipher.final()]);
  } catch {
    throw new SopsError(`${where}: the value does not decrypt under the file's key at this path (moved from another key, or altered)`);
  }
  return typed(plain, type!, where);
}

/** The value as sops reads it back, and the bytes its MAC takes for it (Go's ToBytes of that value). */
function typed(plain: Buffer, type: string, where: string): { value: unknown; macBytes: Buffer | null } {
  const text = plain.toString("utf8");
  switch (type) {
    case "str":
    case "bytes":
    case "time":
      return { value: text, macBytes: plain };
    case "int":
      if (!/^[+-]?\d{1,19}$/.test(text)) throw new SopsError(`${where}: an int that is not an integer`);
      return { value: BigInt(text), macBytes: Buffer.from(BigInt(text).toString()) };
    case "float": {
      const n = Number(text);
      if (text.trim() === "" || (Number.isNaN(n) && !/^[+-]?nan$/i.test(text)))
        throw new SopsError(`${where}: a float that is not a number`);
      return { value: n, macBytes: Buffer.from(goFormatFloat(n)) };
    }
    case "bool": {
      const b = goParseBool(text);
      if (b === undefined) throw new SopsError(`${where}: a bool that is not true or false`);
      return { value: b, macBytes: Buffer.from(b ? "True" : "False") };
    }
    default: // "comment": a comment, never part of the MAC
      return { value: null, macBytes: null };
  }
}

/** An unencrypted value, as sops' ToBytes writes it into the MAC. */
function plainValue(scalar: Scalar, path: string[], source: string): { value: unknown; macBytes: Buffer | null } {
  const v = scalar.value;
  if (typeof v === "string") return { value: v, macBytes: Buffer.from(v) };
  if (typeof v === "bigint") return { value: v, macBytes: Buffer.from(v.toString()) };
  if (typeof v === "number") return { value: v, macBytes: Buffer.from(goFormatFloat(v)) };
  if (typeof v === "boolean") return { value: v, macBytes: Buffer.from(v ? "True" : "False") };
  throw new InputError(`${source}: ${path.join(".")}: a value of a kind sops does not write`);
}

function setScalar(scalar: Scalar, value: unknown): void {
  scalar.value = value;
  delete scalar.type; // let the writer quote the plaintext as its type needs
}

/** strconv.ParseBool. */
function goParseBool(s: string): boolean | undefined {
  if (["1", "t", "T", "TRUE", "true", "True"].includes(s)) return true;
  if (["0", "f", "F", "FALSE", "false", "False"].includes(s)) return false;
  return undefined;
}

/** strconv.FormatFloat(v, 'f', -1, 64): the shortest round-tripping digits, never an exponent. */
export function goFormatFloat(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (!Number.isFinite(v)) return v > 0 ? "+Inf" : "-Inf";
  const s = String(v);
  const m = /^(-?)(\d)(?:\.(\d+))?e([+-]\d+)$/.exec(s);
  if (!m) return s;
  const [, sign, lead, frac = "", exp] = m;
  const digits = lead! + frac;
  const point = 1 + Number(exp);
  if (point <= 0) return `${sign}0.${"0".repeat(-point)}${digits}`;
  if (point >= digits.length) return `${sign}${digits}${"0".repeat(point - digits.length)}`;
  return `${sign}${digits.slice(0, point)}.${digits.slice(point)}`;
}

function decryptMac(meta: Metadata, key: Buffer, source: string): Buffer {
  const m = ENCRYPTED.exec(meta.mac);
  if (!m || m[4] !== "str") throw new SopsError(`${source}: sops.mac is not an encrypted MAC`);
  try {
    const decipher = createDecipheriv("aes-256-gcm", key, Buffer.from(m[2]!, "base64"));
    decipher.setAAD(Buffer.from(meta.lastModified));
    decipher.setAuthTag(Buffer.from(m[3]!, "base64"));
    return Buffer.concat([decipher.update(Buffer.from(m[1]!, "base64")), decipher.final()]);
  } catch {
    throw new SopsError(
      `${source}: sops.mac does not decrypt with sops.lastmodified as its additional data: the metadata was changed after sops encrypted the file`,
    );
  }
}

/**
 * The agent's decryption keys from the `data` of a Secret in its own namespace, as Flux names them: every
 * key ending in `.agekey` holds age identities (one AGE-SECRET-KEY-1… per line, # comments allowed), every
 * key ending in `.asc` an armored OpenPGP private key. Values are base64, as the API server returns them.
 */
export function sopsKeysFromSecretData(data: Record<string, string> | undefined, secretName: string): SopsKeys {
  const age: string[] = [];
  const pgp: string[] = [];
  for (const [name, b64] of Object.entries(data ?? {})) {
    const text = Buffer.from(b64, "base64").toString("utf8");
    if (name.endsWith(".agekey")) {
      for (const line of text.split("\n").map((l) => l.trim())) {
        if (line === "" || line.startsWith("#")) continue;
        // The line is key material: the message names the Secret's key, never the line.
        if (!/^AGE-SECRET-KEY-1[0-9A-Z]+$/.test(line))
          throw new InputError(`Secret ${secretName}, key ${name}: a line is not an age identity (AGE-SECRET-KEY-1…)`);
        age.push(line);
      }
    } else if (name.endsWith(".asc")) {
      if (!text.includes("-----BEGIN PGP PRIVATE KEY BLOCK-----"))
        throw new InputError(`Secret ${secretName}, key ${name}: not an armored OpenPGP private key`);
      pgp.push(text);
    }
  }
  if (age.length + pgp.length === 0) throw new InputError(`Secret ${secretName}: no age (*.agekey) or OpenPGP (*.asc) keys`);
  return { age, pgp };
}

/** An object as render gives it: the object and the file it came from. */
interface Sourced {
  object: Record<string, unknown>;
  file: string;
}

/**
 * The render path's step just before apply: every object that carries SOPS metadata is replaced by its
 * file's decrypted objects, in memory. The MAC covers the whole file, so the file's bytes are read again
 * (`readSource`, from the verified revision) and decrypted whole, once per file; objects from other files
 * pass through untouched. Nothing is written anywhere.
 */
export async function decryptSopsObjects<T extends Sourced>(
  objects: readonly T[],
  readSource: (file: string) => Promise<Buffer>,
  keys: SopsKeys,
): Promise<T[]> {
  const decrypted = new Map<string, Record<string, unknown>[]>();
  const out: T[] = [];
  for (const o of objects) {
    if (!isSopsObject(o.object)) {
      out.push(o);
      continue;
    }
    if (decrypted.has(o.file)) continue; // the file's objects were all added with its first one
    const text = await decryptSopsManifest(await readSource(o.file), keys, o.file);
    const docs = parseAllDocuments(text)
      .map((d) => d.toJS({ maxAliasCount: 0 }) as Record<string, unknown>)
      .filter((d) => d !== null);
    decrypted.set(o.file, docs);
    for (const object of docs) out.push({ ...o, object });
  }
  return out;
}
