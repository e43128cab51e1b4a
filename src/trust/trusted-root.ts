// Sigstore's trusted_root.json (application/vnd.dev.sigstore.trustedroot+json): the certificate authorities,
// transparency logs, CT logs and timestamp authorities that x509 (gitsign) signatures are checked against.
// Everything is decoded once at load time, so that a bad root fails loudly before any commit is judged.
import { X509Certificate, createPublicKey, type KeyObject } from "node:crypto";
import { InputError } from "../core/errors.ts";
import { readInputText } from "../core/input-file.ts";

/** A validity window. Both ends are inclusive, as protobuf-specs defines TimeRange; no end means still in use. */
export interface TimeRange {
  start: Date;
  end?: Date;
}

export interface TrustedCertificateAuthority {
  /** Where it is in the file, for messages: "certificateAuthorities[1]". */
  where: string;
  uri: string;
  /** The CA's certificates as the file lists them: the one that issues leaves first, the root last. */
  chain: X509Certificate[];
  validFor: TimeRange;
}

export interface TrustedLogKey {
  where: string;
  baseUrl: string;
  /** The log's id (for Rekor v1, SHA-256 of the key's DER SubjectPublicKeyInfo). */
  logId: Buffer;
  /** protobuf-specs PublicKeyDetails name, e.g. PKIX_ECDSA_P256_SHA_256; it fixes the signature hash. */
  keyDetails: string;
  publicKey: KeyObject;
  validFor: TimeRange;
}

export interface TrustedRoot {
  /** The file (or other origin) the root came from. */
  source: string;
  certificateAuthorities: TrustedCertificateAuthority[];
  /** Rekor instances: their keys sign entry timestamps (SETs) and checkpoints. */
  tlogs: TrustedLogKey[];
  /** Certificate Transparency logs. Loaded and checked for form; SCTs are not verified yet. */
  ctlogs: TrustedLogKey[];
  /** RFC 3161 timestamp authorities. Loaded and checked for form; timestamps are not used yet. */
  timestampAuthorities: TrustedCertificateAuthority[];
}

const MEDIA_TYPES = new Set([
  "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
  "application/vnd.dev.sigstore.trustedroot.v0.1+json",
  "application/vnd.dev.sigstore.trustedroot.v0.2+json",
]);

type Json = Record<string, unknown>;

/** Thrown for a malformed trusted root; the message names the source and the field. */
class RootError extends Error {}

/** Reads a trusted_root.json file; an unreadable or malformed one is bad input naming the file and field. */
export function loadTrustedRootFile(path: string): TrustedRoot {
  const text = readInputText(path, "the trusted root");
  try {
    return loadTrustedRoot(text, path);
  } catch (e) {
    throw new InputError((e as Error).message);
  }
}

/** Parses trusted_root.json text. Throws an Error naming `source` and the offending field. */
export function loadTrustedRoot(json: string, source: string): TrustedRoot {
  let doc: unknown;
  try {
    doc = JSON.parse(json);
  } catch (e) {
    throw new Error(`${source}: the trusted root is not valid JSON (${(e as Error).message})`);
  }
  try {
    return parseRoot(doc, source);
  } catch (e) {
    if (e instanceof RootError) throw new Error(`${source}: ${e.message}`);
    throw e;
  }
}

function parseRoot(doc: unknown, source: string): TrustedRoot {
  const root = object(doc, "the document");
  const mediaType = string(root.mediaType, "mediaType");
  if (!MEDIA_TYPES.has(mediaType)) {
    throw new RootError(`mediaType "${mediaType}" is not a Sigstore trusted root (expected ${[...MEDIA_TYPES][0]})`);
  }
  const certificateAuthorities = list(root.certificateAuthorities, "certificateAuthorities").map((ca, i) =>
    parseAuthority(ca, `certificateAuthorities[${i}]`),
  );
  return {
    source,
    certificateAuthorities,
    tlogs: list(root.tlogs, "tlogs").map((t, i) => parseLog(t, `tlogs[${i}]`)),
    ctlogs: list(root.ctlogs, "ctlogs").map((t, i) => parseLog(t, `ctlogs[${i}]`)),
    timestampAuthorities: list(root.timestampAuthorities, "timestampAuthorities").map((ca, i) =>
      parseAuthority(ca, `timestampAuthorities[${i}]`),
    ),
  };
}

function parseAuthority(value: unknown, where: string): TrustedCertificateAuthority {
  const ca = object(value, where);
  const chainObj = object(ca.certChain, `${where}.certChain`);
  const certs = list(chainObj.certificates, `${where}.certChain.certificates`);
  if (certs.length === 0) throw new RootError(`${where}.certChain.certificates is empty`);
  const chain = certs.map((c, j) => {
    const field = `${where}.certChain.certificates[${j}].rawBytes`;
    const der = base64(object(c, `${where}.certChain.certificates[${j}]`).rawBytes, field);
    try {
      return new X509Certificate(der);
    } catch (e) {
      throw new RootError(`${field} is not a DER X.509 certificate (${(e as Error).message})`);
    }
  });
  checkChainLinks(chain, where);
  const uri = ca.uri == null ? "" : string(ca.uri, `${where}.uri`);
  return { where, uri, chain, validFor: timeRange(ca.validFor, `${where}.validFor`) };
}

// The file promises each certificate is issued by the next one; a broken link means a mangled root,
// and catching it here keeps path building from silently using half a chain.
function checkChainLinks(chain: X509Certificate[], where: string): void {
  for (let j = 0; j + 1 < chain.length; j++) {
    const [child, parent] = [chain[j]!, chain[j + 1]!];
    if (!child.checkIssued(parent) || !child.verify(parent.publicKey)) {
      throw new RootError(`${where}.certChain.certificates[${j}] is not issued by certificates[${j + 1}]`);
    }
  }
}

function parseLog(value: unknown, where: string): TrustedLogKey {
  const log = object(value, where);
  const key = object(log.publicKey, `${where}.publicKey`);
  const keyDetails = string(key.keyDetails, `${where}.publicKey.keyDetails`);
  const raw = base64(key.rawBytes, `${where}.publicKey.rawBytes`);
  const logId = base64(object(log.logId, `${where}.logId`).keyId, `${where}.logId.keyId`);
  return {
    where,
    baseUrl: log.baseUrl == null ? "" : string(log.baseUrl, `${where}.baseUrl`),
    logId,
    keyDetails,
    publicKey: publicKey(raw, keyDetails, `${where}.publicKey.rawBytes`),
    validFor: timeRange(key.validFor, `${where}.publicKey.validFor`),
  };
}

// PKCS1_* key details carry a bare PKCS#1 RSAPublicKey; every other kind is a DER SubjectPublicKeyInfo.
function publicKey(raw: Buffer, keyDetails: string, field: string): KeyObject {
  const type = keyDetails.startsWith("PKCS1_") ? "pkcs1" : "spki";
  let key: KeyObject;
  try {
    key = createPublicKey({ key: raw, format: "der", type });
  } catch (e) {
    throw new RootError(`${field} is not a ${type.toUpperCase()} public key (${(e as Error).message})`);
  }
  const curve = /^PKIX_ECDSA_(P\d+)_/.exec(keyDetails)?.[1];
  const named = key.asymmetricKeyDetails?.namedCurve;
  const expected = curve && { P256: "prime256v1", P384: "secp384r1", P521: "secp521r1" }[curve];
  if (curve && (key.asymmetricKeyType !== "ec" || named !== expected)) {
    throw new RootError(`${field} is not the ${curve} ECDSA key its keyDetails ${keyDetails} announce`);
  }
  if (keyDetails === "PKIX_ED25519" && key.asymmetricKeyType !== "ed25519") {
    throw new RootError(`${field} is not the Ed25519 key its keyDetails announce`);
  }
  return key;
}

// A window without a start is malformed (sigstore-conformance requires rejecting it), not unbounded.
// JSON writers spell an absent end either by leaving it out or as null.
function timeRange(value: unknown, where: string): TimeRange {
  const range = object(value, where);
  if (range.start == null) throw new RootError(`${where}.start is missing`);
  const start = timestamp(range.start, `${where}.start`);
  if (range.end == null) return { start };
  const end = timestamp(range.end, `${where}.end`);
  if (end < start) throw new RootError(`${where}.end is before its start`);
  return { start, end };
}

const RFC3339 = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

function timestamp(value: unknown, where: string): Date {
  const m = RFC3339.exec(string(value, where));
  // Date keeps milliseconds only; finer digits are cut, which moves a bound by under a millisecond.
  const date = m && new Date(`${m[1]}${(m[2] ?? "").slice(0, 4)}${m[3]}`);
  if (!date || Number.isNaN(date.getTime())) throw new RootError(`${where} is not an RFC 3339 timestamp`);
  return date;
}

/** True when `at` lies in the window; both ends count as inside. */
export function withinRange(range: TimeRange, at: Date): boolean {
  return at >= range.start && (range.end === undefined || at <= range.end);
}

export function describeRange(range: TimeRange): string {
  return `${range.start.toISOString()} to ${range.end ? range.end.toISOString() : "(no end)"}`;
}

function object(value: unknown, where: string): Json {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new RootError(`${where} must be an object`);
  }
  return value as Json;
}

// Absent lists are empty: protobuf JSON omits empty repeated fields (some writers put null).
function list(value: unknown, where: string): unknown[] {
  if (value == null) return [];
  if (!Array.isArray(value)) throw new RootError(`${where} must be a list`);
  return value;
}

function string(value: unknown, where: string): string {
  if (typeof value !== "string") throw new RootError(`${where} must be a string`);
  return value;
}

function base64(value: unknown, where: string): Buffer {
  // protobuf JSON writers may use the URL-safe alphabet; compare in the standard one.
  const text = string(value, where).replace(/-/g, "+").replace(/_/g, "/");
  const bytes = Buffer.from(text, "base64");
  // Buffer.from skips what is not base64; re-encoding shows whether anything was skipped.
  if (bytes.length === 0 || bytes.toString("base64").replace(/=+$/, "") !== text.replace(/=+$/, "")) {
    throw new RootError(`${where} is not base64`);
  }
  return bytes;
}
