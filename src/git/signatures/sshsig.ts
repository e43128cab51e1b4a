// SSHSIG signatures as `ssh-keygen -Y sign` and git (gpg.format=ssh) make them (OpenSSH PROTOCOL.sshsig),
// including signatures made with OpenSSH user certificates.
import { createHash, hash, verify as cryptoVerify } from "node:crypto";
import {
  SshFormatError,
  SshReader,
  algorithmKeyType,
  certificateTypes,
  fingerprint,
  readPublicKeyFields,
  signatureHash,
  sshString,
  type SshPublicKey,
} from "../../trust/ssh-wire.ts";

const ARMOR_BEGIN = "-----BEGIN SSH SIGNATURE-----";
const ARMOR_END = "-----END SSH SIGNATURE-----";
const MAGIC = Buffer.from("SSHSIG");

export interface SshCertificate {
  type: string;
  key: SshPublicKey;
  serial: bigint;
  certType: number;
  keyId: string;
  principals: string[];
  validAfter: bigint;
  validBefore: bigint;
  criticalOptions: string[];
  /** The signing CA's public key blob. */
  caBlob: Buffer;
  /** The bytes the CA signed, and the CA's signature (algorithm, blob) over them. */
  signed: Buffer;
  caSignature: { algorithm: string; blob: Buffer };
}

export interface ParsedSshSignature {
  /** Type and wire blob of the key that signed: a plain key, or a certificate. */
  keyType: string;
  keyBlob: Buffer;
  certificate?: SshCertificate;
  namespace: string;
  hashAlgorithm: "sha256" | "sha512";
  signatureAlgorithm: string;
  signatureBlob: Buffer;
  /** For security-key signatures: flags and counter that the signed data includes. */
  skFlags?: number;
  skCounter?: number;
}

/** Decodes the armored signature. Throws SshFormatError naming what is wrong. */
export function parseSshSignature(armored: string): ParsedSshSignature {
  const text = armored.trim();
  if (!text.startsWith(ARMOR_BEGIN)) throw new SshFormatError("not an SSH signature (missing BEGIN line)");
  const end = text.indexOf(ARMOR_END);
  if (end < 0) throw new SshFormatError("truncated SSH signature (missing END line)");
  if (text.slice(end + ARMOR_END.length).trim() !== "") {
    throw new SshFormatError("unexpected data after the SSH signature's END line");
  }
  const b64 = text.slice(ARMOR_BEGIN.length, end).replace(/\s+/g, "");
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(b64)) throw new SshFormatError("SSH signature is not valid base64");
  const r = new SshReader(Buffer.from(b64, "base64"));
  if (!r.bytes(6).equals(MAGIC)) throw new SshFormatError("SSH signature lacks the SSHSIG preamble");
  const version = r.uint32();
  if (version !== 1) throw new SshFormatError(`unsupported SSHSIG version ${version}`);
  const keyBlob = r.string();
  const namespace = r.text();
  r.string(); // reserved
  const hashAlgorithm = r.text();
  if (hashAlgorithm !== "sha256" && hashAlgorithm !== "sha512") {
    throw new SshFormatError(`unsupported SSHSIG hash algorithm ${hashAlgorithm}`);
  }
  const sig = new SshReader(r.string());
  r.end("SSH signature");

  // A plain key is not decoded here: it is looked up among trusted keys by its bytes first, which
  // saves building a key object for every signature of a long history.
  const keyType = new SshReader(keyBlob).text();
  const certificate = certificateTypes.has(keyType) ? parseCertificate(keyBlob) : undefined;
  const signatureAlgorithm = sig.text();
  const signatureBlob = sig.string();
  let skFlags: number | undefined;
  let skCounter: number | undefined;
  if (signatureAlgorithm.startsWith("sk-")) {
    skFlags = sig.bytes(1)[0]!;
    skCounter = sig.uint32();
  }
  sig.end("signature blob");
  return {
    keyType,
    keyBlob,
    ...(certificate ? { certificate } : {}),
    namespace,
    hashAlgorithm,
    signatureAlgorithm,
    signatureBlob,
    ...(skFlags !== undefined ? { skFlags, skCounter } : {}),
  };
}

/** OpenSSH certificate (PROTOCOL.certkeys); the CA signature is verified by verifyCertificate. */
export function parseCertificate(blob: Buffer): SshCertificate {
  const r = new SshReader(blob);
  const type = r.text();
  r.string(); // nonce
  const baseType = type.replace("-cert-v01@openssh.com", "");
  const { key, application } = readPublicKeyFields(baseType, r);
  const serial = r.uint64();
  const certType = r.uint32();
  const keyId = r.text();
  const principals = readPackedStrings(r.string());
  const validAfter = r.uint64();
  const validBefore = r.uint64();
  const criticalOptions = readPackedStrings(r.string(), true);
  r.string(); // extensions: none matter for signing
  r.string(); // reserved
  const caBlob = r.string();
  const signed = Buffer.from(r.consumed());
  const sigReader = new SshReader(r.string());
  const caSignature = { algorithm: sigReader.text(), blob: sigReader.string() };
  sigReader.end("certificate signature");
  r.end("certificate");
  // The certified key's own blob, as it would be written without the certificate.
  const plainBlob = rebuildPlainBlob(baseType, blob);
  const publicKey: SshPublicKey = {
    type: baseType,
    blob: plainBlob,
    fingerprint: fingerprint(plainBlob),
    key,
    ...(application ? { application } : {}),
  };
  return {
    type,
    key: publicKey,
    serial,
    certType,
    keyId,
    principals,
    validAfter,
    validBefore,
    criticalOptions,
    caBlob,
    signed,
    caSignature,
  };
}

function rebuildPlainBlob(baseType: string, certBlob: Buffer): Buffer {
  const r = new SshReader(certBlob);
  r.text();
  r.string();
  const start = certBlob.length - r.remaining;
  readPublicKeyFields(baseType, r);
  const end = certBlob.length - r.remaining;
  return Buffer.concat([sshString(baseType), certBlob.subarray(start, end)]);
}

function readPackedStrings(buf: Buffer, withValues = false): string[] {
  const r = new SshReader(buf);
  const out: string[] = [];
  while (!r.done) {
    out.push(r.text());
    if (withValues) r.string();
  }
  return out;
}

/** Verifies a raw SSH signature (algorithm + blob) by `key` over `data`. */
export function verifyRawSignature(
  key: SshPublicKey,
  algorithm: string,
  blob: Buffer,
  data: Buffer,
  sk?: { flags: number; counter: number },
): boolean {
  if (algorithmKeyType(algorithm) !== key.type) {
    throw new SshFormatError(`signature algorithm ${algorithm} does not match the ${key.type} key`);
  }
  const hash = signatureHash(algorithm, key.type);
  let message = data;
  if (sk) {
    // FIDO signatures cover the application hash, flags, counter and the message hash.
    const counter = Buffer.alloc(4);
    counter.writeUInt32BE(sk.counter, 0);
    message = Buffer.concat([
      createHash("sha256")
        .update(key.application ?? "")
        .digest(),
      Buffer.from([sk.flags]),
      counter,
      createHash("sha256").update(data).digest(),
    ]);
  }
  if (key.type.includes("ecdsa")) {
    const r = new SshReader(blob);
    const rInt = r.string();
    const sInt = r.string();
    r.end("ECDSA signature");
    const size = key.type.includes("521") ? 66 : key.type.includes("384") ? 48 : 32;
    const p1363 = Buffer.concat([fixedWidth(rInt, size), fixedWidth(sInt, size)]);
    return cryptoVerify(hash, message, { key: key.key, dsaEncoding: "ieee-p1363" }, p1363);
  }
  return cryptoVerify(hash, message, key.key, blob);
}

function fixedWidth(mpint: Buffer, size: number): Buffer {
  let i = 0;
  while (i < mpint.length - 1 && mpint[i] === 0) i++;
  const v = mpint.subarray(i);
  if (v.length > size) throw new SshFormatError("ECDSA signature integer too large");
  return Buffer.concat([Buffer.alloc(size - v.length), v]);
}

/** The bytes an SSHSIG signature covers for `message` (PROTOCOL.sshsig, "Signed Data"). */
export function signedData(namespace: string, hashAlgorithm: "sha256" | "sha512", message: Buffer): Buffer {
  return Buffer.concat([signedDataPrefix(namespace, hashAlgorithm), sshString(hash(hashAlgorithm, message, "buffer"))]);
}

/** What Signed Data holds before the message's hash; the same for every signature of a namespace. */
const prefixes = new Map<string, Buffer>();
function signedDataPrefix(namespace: string, hashAlgorithm: string): Buffer {
  const key = `${hashAlgorithm} ${namespace}`;
  let prefix = prefixes.get(key);
  if (!prefix) {
    prefix = Buffer.concat([MAGIC, sshString(namespace), sshString(""), sshString(hashAlgorithm)]);
    // Namespaces come from Vigil's own callers ("git", its approval namespace): a handful, but bounded anyway.
    if (prefixes.size < 16) prefixes.set(key, prefix);
  }
  return prefix;
}

/** True when the signature is a valid signature over `message` by `key` (the trusted key it names). */
export function verifySshSignatureBytes(sig: ParsedSshSignature, key: SshPublicKey, message: Buffer): boolean {
  const sk = sig.skFlags !== undefined ? { flags: sig.skFlags, counter: sig.skCounter ?? 0 } : undefined;
  if (sk && (sk.flags & 0x01) === 0) return false; // user presence is required, as OpenSSH requires it
  return verifyRawSignature(key, sig.signatureAlgorithm, sig.signatureBlob, signedData(sig.namespace, sig.hashAlgorithm, message), sk);
}
