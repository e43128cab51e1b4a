// cosign's key files: a password-encrypted private key ("ENCRYPTED SIGSTORE PRIVATE KEY" PEM, the older
// "ENCRYPTED COSIGN PRIVATE KEY" too) and a PEM SubjectPublicKeyInfo public key, and signing with them
// the way cosign does. The encrypted form is go-securesystemslib's: JSON naming an scrypt KDF with its
// parameters and salt, and a NaCl secretbox (XSalsa20-Poly1305) nonce, around the PKCS#8 DER key.
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  randomBytes,
  scryptSync,
  sign as cryptoSign,
  verify as cryptoVerify,
  constants,
  type KeyObject,
} from "node:crypto";
import { readFileSync } from "node:fs";
import { secretbox } from "@noble/ciphers/salsa.js";
import { InputError } from "../core/errors.ts";
import { decodeBase64 } from "./encoding.ts";

/** The key algorithms cosign generates and signs with, under cosign's (sigstore's) names. */
export const SIGNING_ALGORITHMS = {
  "ecdsa-sha2-256-nistp256": { type: "ec", curve: "prime256v1" },
  "ecdsa-sha2-384-nistp384": { type: "ec", curve: "secp384r1" },
  "ecdsa-sha2-512-nistp521": { type: "ec", curve: "secp521r1" },
  ed25519: { type: "ed25519" },
  "rsa-sign-pkcs1-2048-sha256": { type: "rsa", bits: 2048 },
  "rsa-sign-pkcs1-3072-sha256": { type: "rsa", bits: 3072 },
  "rsa-sign-pkcs1-4096-sha256": { type: "rsa", bits: 4096 },
} as const;
export type SigningAlgorithm = keyof typeof SIGNING_ALGORITHMS;
export const DEFAULT_SIGNING_ALGORITHM: SigningAlgorithm = "ecdsa-sha2-256-nistp256";

const PEM_TYPES = ["ENCRYPTED SIGSTORE PRIVATE KEY", "ENCRYPTED COSIGN PRIVATE KEY"] as const;
/** What cosign v3 writes (N=2^16; older cosign wrote 2^15, which opens too). */
const SCRYPT = { N: 65536, r: 8, p: 1 } as const;
/** A key file may ask for at most this much scrypt memory (128·N·r bytes): enough for N=2^20, r=8. */
const SCRYPT_MAX_MEMORY = 1024 * 1024 * 1024 + 1024;
const SALT_BYTES = 32;
const NONCE_BYTES = 24;
const MIN_RSA_BITS = 2048;

/** A key file that cannot be used (bad input, exit 2); the message names the file and what is wrong. */
export class KeyError extends InputError {}

/** A private key with how cosign signs with it. */
export interface SigningKey {
  privateKey: KeyObject;
  publicKey: KeyObject;
  /** RSA keys sign PKCS#1 v1.5 (cosign's default) unless this is set; a key file does not record it. */
  rsaPss: boolean;
}

export function generateSigningKey(algorithm: SigningAlgorithm = DEFAULT_SIGNING_ALGORITHM): SigningKey {
  const spec = SIGNING_ALGORITHMS[algorithm];
  const pair =
    spec.type === "ec"
      ? generateKeyPairSync("ec", { namedCurve: spec.curve })
      : spec.type === "rsa"
        ? generateKeyPairSync("rsa", { modulusLength: spec.bits })
        : generateKeyPairSync("ed25519");
  return { ...pair, rsaPss: false };
}

/** The private key as cosign stores it: PKCS#8 DER sealed with a key derived from the password. */
export function encryptPrivateKey(key: KeyObject, password: string): string {
  const salt = randomBytes(SALT_BYTES);
  const nonce = randomBytes(NONCE_BYTES);
  const secret = deriveKey(password, salt, SCRYPT);
  const plaintext = key.export({ format: "der", type: "pkcs8" });
  const sealed = secretbox(secret, nonce).seal(plaintext);
  const doc = {
    kdf: { name: "scrypt", params: SCRYPT, salt: salt.toString("base64") },
    cipher: { name: "nacl/secretbox", nonce: nonce.toString("base64") },
    ciphertext: Buffer.from(sealed).toString("base64"),
  };
  return pem(PEM_TYPES[0], Buffer.from(JSON.stringify(doc)));
}

/** Opens a cosign private key file. Throws KeyError naming `source` for a wrong password or a bad file. */
export function decryptPrivateKey(text: string, password: string, source: string): SigningKey {
  const { type, der } = unpem(text, source);
  if (!(PEM_TYPES as readonly string[]).includes(type)) {
    throw new KeyError(`${source}: a "${type}" PEM block is not a cosign private key (expected ${PEM_TYPES.join(" or ")})`);
  }
  const sealed = parseEncryptedKey(der, source);
  const secret = deriveKey(password, sealed.salt, sealed.params);
  let plaintext: Uint8Array;
  try {
    plaintext = secretbox(secret, sealed.nonce).open(sealed.ciphertext);
  } catch {
    throw new KeyError(`${source}: the password is wrong, or the key file was altered (decryption failed)`);
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey({ key: Buffer.from(plaintext), format: "der", type: "pkcs8" });
  } catch (e) {
    throw new KeyError(`${source}: the decrypted key is not a PKCS#8 private key (${(e as Error).message})`);
  }
  const publicKey = createPublicKey(privateKey);
  checkKeyStrength(publicKey, source);
  return { privateKey, publicKey, rsaPss: false };
}

interface EncryptedKey {
  params: { N: number; r: number; p: number };
  salt: Buffer;
  nonce: Buffer;
  ciphertext: Buffer;
}

function parseEncryptedKey(der: Buffer, source: string): EncryptedKey {
  const bad = (field: string, why: string) => new KeyError(`${source}: ${field} ${why}`);
  let doc: any;
  try {
    doc = JSON.parse(der.toString("utf8"));
  } catch {
    throw bad("the encrypted key", "is not the JSON cosign writes");
  }
  if (doc?.kdf?.name !== "scrypt") throw bad("kdf.name", `must be "scrypt"`);
  if (doc?.cipher?.name !== "nacl/secretbox") throw bad("cipher.name", `must be "nacl/secretbox"`);
  const params = doc.kdf.params ?? {};
  const { N, r, p } = params;
  if (![N, r, p].every((n) => Number.isSafeInteger(n) && n > 0)) throw bad("kdf.params", "must hold positive integers N, r and p");
  if (N < 2 || (N & (N - 1)) !== 0) throw bad("kdf.params.N", "must be a power of two");
  // The file decides how much work and memory opening it costs; a hostile file must not exhaust the host.
  if (128 * N * r > SCRYPT_MAX_MEMORY || r * p > 64)
    throw bad("kdf.params", `ask for more scrypt work than a key file may (N=${N}, r=${r}, p=${p})`);
  const salt = strictBase64(doc.kdf.salt, () => bad("kdf.salt", "is not base64"));
  const nonce = strictBase64(doc.cipher.nonce, () => bad("cipher.nonce", "is not base64"));
  if (nonce.length !== NONCE_BYTES) throw bad("cipher.nonce", `must be ${NONCE_BYTES} bytes, not ${nonce.length}`);
  const ciphertext = strictBase64(doc.ciphertext, () => bad("ciphertext", "is not base64"));
  return { params: { N, r, p }, salt, nonce, ciphertext };
}

function deriveKey(password: string, salt: Buffer, params: { N: number; r: number; p: number }): Buffer {
  return scryptSync(Buffer.from(password, "utf8"), salt, 32, { ...params, maxmem: SCRYPT_MAX_MEMORY + 1024 * 1024 });
}

/** Reads and opens a cosign private key file. */
export function loadPrivateKeyFile(path: string, password: string): SigningKey {
  return decryptPrivateKey(readKeyFile(path, "private key"), password, path);
}

/** Reads a PEM public key file (cosign.pub). */
export function loadPublicKeyFile(path: string): KeyObject {
  return loadPublicKey(readKeyFile(path, "public key"), path);
}

function readKeyFile(path: string, what: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (e) {
    throw new KeyError(`${path}: cannot read the ${what}: ${(e as NodeJS.ErrnoException).code ?? e}`);
  }
}

/** An unauthenticated name for a key in bundles (publicKey.hint): base64 SHA-256 of its SubjectPublicKeyInfo. */
export function keyHint(key: KeyObject): string {
  return createHash("sha256")
    .update(key.export({ format: "der", type: "spki" }))
    .digest("base64");
}

/** The public key as cosign writes cosign.pub: a PEM SubjectPublicKeyInfo. */
export function publicKeyPem(key: KeyObject): string {
  return key.export({ format: "pem", type: "spki" }).toString();
}

/** Loads a PEM "PUBLIC KEY" (SubjectPublicKeyInfo), as cosign.pub holds. Throws KeyError naming `source`. */
export function loadPublicKey(text: string, source: string): KeyObject {
  const { type, der } = unpem(text, source);
  if (type !== "PUBLIC KEY") throw new KeyError(`${source}: a "${type}" PEM block is not a public key (expected PUBLIC KEY)`);
  let key: KeyObject;
  try {
    key = createPublicKey({ key: der, format: "der", type: "spki" });
  } catch (e) {
    throw new KeyError(`${source}: not a valid public key (${(e as Error).message})`);
  }
  checkKeyStrength(key, source);
  return key;
}

function checkKeyStrength(key: KeyObject, source: string): void {
  const type = key.asymmetricKeyType;
  const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
  if (type === "rsa" && bits < MIN_RSA_BITS)
    throw new KeyError(`${source}: a ${bits}-bit RSA key is too weak (at least ${MIN_RSA_BITS} bits)`);
  if (!["ec", "ed25519", "rsa"].includes(type ?? ""))
    throw new KeyError(`${source}: ${type} keys are not supported (ECDSA, Ed25519 or RSA)`);
}

/** The hash cosign pairs with a key: the curve's size for ECDSA, SHA-256 for RSA, none for Ed25519. */
export function hashForKey(key: KeyObject): "sha256" | "sha384" | "sha512" | null {
  if (key.asymmetricKeyType === "ed25519") return null;
  const curve = key.asymmetricKeyDetails?.namedCurve;
  return curve === "secp384r1" ? "sha384" : curve === "secp521r1" ? "sha512" : "sha256";
}

/** Signs `data` as cosign does with this key (ECDSA signatures are ASN.1 DER). */
export function signData(key: SigningKey, data: Buffer): Buffer {
  const padding = key.rsaPss ? { padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST } : {};
  return cryptoSign(hashForKey(key.publicKey), data, { key: key.privateKey, ...padding });
}

/**
 * Verifies a signature made with `key` over `data`. RSA signatures are accepted in PKCS#1 v1.5 and in
 * PSS padding (either is what a cosign RSA key makes, depending on the signing algorithm chosen).
 */
export function verifyData(key: KeyObject, data: Buffer, signature: Buffer, hash = hashForKey(key)): boolean {
  const attempt = (options: object) => {
    try {
      return cryptoVerify(hash, data, { key, ...options }, signature);
    } catch {
      return false;
    }
  };
  if (key.asymmetricKeyType !== "rsa") return attempt({});
  return attempt({}) || attempt({ padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_AUTO });
}

/** A short name for a key in messages: its type and the SHA-256 of its SubjectPublicKeyInfo. */
export function describeKey(key: KeyObject): string {
  // Every signature an image gate verifies names its key: exporting it each time was a twentieth of
  // verifying two hundred images. KeyObjects are immutable, so the description is kept with the object.
  let described = descriptions.get(key);
  if (described === undefined) {
    const der = key.export({ format: "der", type: "spki" });
    const curve = key.asymmetricKeyDetails?.namedCurve;
    const kind =
      key.asymmetricKeyType === "ec"
        ? `ecdsa-${{ prime256v1: "p256", secp384r1: "p384", secp521r1: "p521" }[curve ?? ""] ?? curve}`
        : key.asymmetricKeyType;
    described = `${kind} SHA256:${createHash("sha256").update(der).digest("base64").replace(/=+$/, "")}`;
    descriptions.set(key, described);
  }
  return described;
}

const descriptions = new WeakMap<KeyObject, string>();

function pem(type: string, der: Buffer): string {
  const lines = der.toString("base64").match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${type}-----\n${lines.join("\n")}\n-----END ${type}-----\n`;
}

/** Reads exactly one PEM block; anything but whitespace around it is refused. */
function unpem(text: string, source: string): { type: string; der: Buffer } {
  const m = /^\s*-----BEGIN ([A-Z0-9 ]+)-----\r?\n([A-Za-z0-9+/=\r\n]+?)\r?\n?-----END \1-----\s*$/.exec(text);
  if (!m) throw new KeyError(`${source}: not a PEM file with a single key block`);
  return { type: m[1]!, der: strictBase64(m[2]!.replace(/\s+/g, ""), () => new KeyError(`${source}: the PEM body is not base64`)) };
}

function strictBase64(value: unknown, error: () => Error): Buffer {
  const bytes = typeof value === "string" ? decodeBase64(value) : undefined;
  if (!bytes) throw error();
  return bytes;
}
