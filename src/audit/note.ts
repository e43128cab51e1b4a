// C2SP signed-note with Ed25519 (https://c2sp.org/signed-note), the format of Go's sumdb/note: a UTF-8
// text ending in a newline, a blank line, then one line per signature, "— NAME base64(keyhash ||
// signature)". The key hash is the first four bytes of SHA-256(NAME || "\n" || 0x01 || public key); a
// verifier key is written "NAME+hash+base64(0x01 || public key)", a signer key "PRIVATE+KEY+NAME+hash+
// base64(0x01 || seed)". Tools that speak the format (Go's note package, transparency-dev's) read both.
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from "node:crypto";
import { IntegrityError } from "./proof.ts";

const ED25519 = 0x01;
const SIGNATURE_PREFIX = "— ";
const MAX_SIGNATURES = 100;
// DER wrappers that make raw Ed25519 keys into what node:crypto imports (RFC 8410).
const PKCS8_PREFIX = Buffer.from("302e020100300506032b657004220420", "hex");
const SPKI_PREFIX = Buffer.from("302a300506032b6570032100", "hex");

export interface NoteVerifier {
  name: string;
  keyHash: number;
  /** The verifier key string, as users pass and print it. */
  key: string;
  verify(text: Uint8Array, signature: Uint8Array): boolean;
}

export interface NoteSigner {
  name: string;
  keyHash: number;
  verifier: NoteVerifier;
  sign(text: Uint8Array): Buffer;
}

/** A key name: non-empty, no spaces (Unicode or ASCII), no "+" (the key strings' separator). */
export function isKeyName(name: string): boolean {
  return name.length > 0 && !/[\s+\p{Z}\p{C}]/u.test(name);
}

function keyHash(name: string, key: Buffer): number {
  return createHash("sha256").update(name).update("\n").update(key).digest().readUInt32BE(0);
}

const hex8 = (n: number) => n.toString(16).padStart(8, "0");

/** Base64 as the format writes it (standard alphabet, padded), refusing any other spelling. */
function strictBase64(text: string): Buffer | undefined {
  const bytes = Buffer.from(text, "base64");
  return bytes.toString("base64") === text ? bytes : undefined;
}

/** NAME+hash+data (the name may hold no "+"; the base64 data may). */
function parseKeyString(text: string, what: string): { name: string; hash: number; data: Buffer } {
  const fail = (why: string): never => {
    throw new IntegrityError(`${what}: ${why} (expected NAME+HASH+BASE64)`);
  };
  const [name, hash, ...rest] = text.split("+");
  if (name === undefined || !isKeyName(name)) fail("the key name is empty or holds spaces");
  if (hash === undefined || !/^[0-9a-f]{8}$/.test(hash)) fail("the key hash is not eight lowercase hex digits");
  const data = strictBase64(rest.join("+")) ?? fail("the key is not base64");
  if (data.length !== 33 || data[0] !== ED25519) fail("not an Ed25519 key (type 0x01 and 32 bytes)");
  return { name: name!, hash: parseInt(hash!, 16), data };
}

/** The key hash a key string names must be the one of its name and public key. */
function checkKeyHash(verifier: NoteVerifier, hash: number, what: string): NoteVerifier {
  if (verifier.keyHash !== hash)
    throw new IntegrityError(`${what}: the hash ${hex8(hash)} does not match the name and key (${hex8(verifier.keyHash)})`);
  return verifier;
}

function verifierFrom(name: string, publicKey: KeyObject, raw: Buffer): NoteVerifier {
  const hash = keyHash(name, raw);
  return {
    name,
    keyHash: hash,
    key: `${name}+${hex8(hash)}+${raw.toString("base64")}`,
    verify: (text, signature) => signature.length === 64 && verify(null, text, publicKey, signature),
  };
}

export function parseVerifierKey(text: string, what = "verifier key"): NoteVerifier {
  const { name, hash, data } = parseKeyString(text.trim(), what);
  return checkKeyHash(
    verifierFrom(name, createPublicKey({ key: Buffer.concat([SPKI_PREFIX, data.subarray(1)]), format: "der", type: "spki" }), data),
    hash,
    what,
  );
}

export function parseSignerKey(text: string, what = "signing key"): NoteSigner {
  const trimmed = text.trim();
  if (!trimmed.startsWith("PRIVATE+KEY+")) throw new IntegrityError(`${what}: not a signing key (expected PRIVATE+KEY+NAME+HASH+BASE64)`);
  const { name, hash, data } = parseKeyString(trimmed.slice("PRIVATE+KEY+".length), what);
  const privateKey = createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, data.subarray(1)]), format: "der", type: "pkcs8" });
  const publicKey = createPublicKey(privateKey);
  const raw = Buffer.concat([Buffer.of(ED25519), Buffer.from(publicKey.export({ format: "jwk" }).x!, "base64url")]);
  const verifier = checkKeyHash(verifierFrom(name, publicKey, raw), hash, what);
  return { name, keyHash: verifier.keyHash, verifier, sign: (t) => sign(null, t, privateKey) };
}

/** A new Ed25519 key pair named `name`, as key strings. */
export function generateSignerKey(name: string): { signerKey: string; verifierKey: string } {
  if (!isKeyName(name)) throw new IntegrityError(`key name "${name}": must be non-empty, without spaces or "+"`);
  const jwk = generateKeyPairSync("ed25519").privateKey.export({ format: "jwk" });
  const typed = (base64url: string) => Buffer.concat([Buffer.of(ED25519), Buffer.from(base64url, "base64url")]);
  const hash = hex8(keyHash(name, typed(jwk.x!)));
  return {
    signerKey: `PRIVATE+KEY+${name}+${hash}+${typed(jwk.d!).toString("base64")}`,
    verifierKey: `${name}+${hash}+${typed(jwk.x!).toString("base64")}`,
  };
}

function checkText(text: string): void {
  if (text === "" || !text.endsWith("\n")) throw new IntegrityError("note text must end with a newline");
  if (/[\x00-\x09\x0b-\x1f\x7f]/.test(text)) throw new IntegrityError("note text holds a control character");
}

export function signNote(text: string, signer: NoteSigner): string {
  checkText(text);
  const body = Buffer.from(text, "utf8");
  const blob = Buffer.alloc(4);
  blob.writeUInt32BE(signer.keyHash);
  return `${text}\n${SIGNATURE_PREFIX}${signer.name} ${Buffer.concat([blob, signer.sign(body)]).toString("base64")}\n`;
}

export interface OpenedNote {
  text: string;
  /** Every signature line's key, verified or not (others may cosign: witnesses). */
  signatures: { name: string; keyHash: number }[];
}

export interface ParsedNote {
  /** The signed text, ending in a newline. */
  text: string;
  /** Every signature line, none verified yet. */
  signatures: { name: string; keyHash: number; signature: Buffer }[];
}

/**
 * A signed note split into its text and signature lines, strictly, nothing verified: the one parser of
 * the format, for Vigil's log (openNote) and for a Sigstore log's checkpoint (src/sigstore/tlog.ts).
 */
export function parseNote(note: string): ParsedNote {
  const split = note.lastIndexOf("\n\n");
  if (split < 0) throw new IntegrityError("not a signed note: no blank line before the signatures");
  const text = note.slice(0, split + 1);
  checkText(text);
  const lines = note.slice(split + 2).split("\n");
  if (lines.pop() !== "" || lines.length === 0) throw new IntegrityError("not a signed note: the signature lines must end with a newline");
  if (lines.length > MAX_SIGNATURES) throw new IntegrityError(`signed note: more than ${MAX_SIGNATURES} signatures`);
  return { text, signatures: lines.map((line) => parseSignatureLine(line)) };
}

/**
 * The note's text, once `verifier`'s signature on it verifies. Signatures by other keys are listed
 * and otherwise ignored (witness cosignatures); one that claims the verifier's name and hash but does
 * not verify refuses the note.
 */
export function openNote(note: string, verifier: NoteVerifier): OpenedNote {
  const { text, signatures } = parseNote(note);
  const body = Buffer.from(text, "utf8");
  let verified = false;
  for (const s of signatures) {
    if (s.name !== verifier.name || s.keyHash !== verifier.keyHash) continue;
    if (!verifier.verify(body, s.signature))
      throw new IntegrityError(`the signature by ${verifier.key} does not verify: the note was changed after signing`);
    verified = true;
  }
  if (!verified) {
    const by = signatures.map((s) => `${s.name}+${hex8(s.keyHash)}`).join(", ");
    throw new IntegrityError(`not signed by ${verifier.name}+${hex8(verifier.keyHash)} (signed by ${by})`);
  }
  return { text, signatures: signatures.map(({ name, keyHash }) => ({ name, keyHash })) };
}

function parseSignatureLine(line: string): { name: string; keyHash: number; signature: Buffer } {
  const fail = (): never => {
    throw new IntegrityError(`signed note: malformed signature line "${line.slice(0, 80)}"`);
  };
  if (!line.startsWith(SIGNATURE_PREFIX)) fail();
  const [name, data, extra] = line.slice(SIGNATURE_PREFIX.length).split(" ");
  if (extra !== undefined || name === undefined || !isKeyName(name) || data === undefined) fail();
  const blob = strictBase64(data!) ?? fail();
  if (blob.length < 5) fail();
  return { name: name!, keyHash: blob.readUInt32BE(0), signature: blob.subarray(4) };
}
