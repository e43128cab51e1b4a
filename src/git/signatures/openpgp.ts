// OpenPGP signatures on commits and tags (git's default gpg.format), verified with openpgp.js. The
// library checks the cryptography; the checklist of what makes a key acceptable is written out here,
// so each refusal says which rule refused.
import * as openpgp from "openpgp";
import type { OpenPgpTrustEntry } from "../../trust/openpgp-keys.ts";
import { admissionKey } from "../../trust/admission-key.ts";
import { accepted, describeTime, refused, verificationTime, type SignatureResult, type TrustedTime } from "./result.ts";

/** Signatures dated further ahead than this are refused: clocks differ a little, not by hours. */
const CLOCK_SKEW_MS = 5 * 60 * 1000;
/** Digests weaker than SHA-256 are refused (collisions for SHA-1 and MD5 are practical). */
const weakHashes = new Set([openpgp.enums.hash.md5, openpgp.enums.hash.sha1, openpgp.enums.hash.ripemd, openpgp.enums.hash.sha224]);
/** Git signs the commit bytes as a detached binary (or text) document signature. */
const documentSignatures = new Set([openpgp.enums.signature.binary, openpgp.enums.signature.text]);

const hex = (id: openpgp.KeyID) => id.toHex().toUpperCase();

/**
 * Verifies a detached armored signature over `message` against trusted keys. The key's validity
 * (revocation, expiry, capability) is judged at `time`, the trusted time the caller chose; the
 * signature's own creation time is the signer's claim, and only ever a reason to refuse (dated after
 * the trusted time, or before the key existed), never the time a key is judged at.
 */
export async function verifyOpenPgpSignature(
  armored: string,
  message: Buffer,
  entries: readonly OpenPgpTrustEntry[],
  time: TrustedTime = verificationTime(),
): Promise<SignatureResult> {
  let signature: openpgp.Signature;
  try {
    signature = await openpgp.readSignature({ armoredSignature: armored });
  } catch (e) {
    return refused("openpgp", `malformed OpenPGP signature: ${(e as Error).message}`, "signature-malformed");
  }
  const packets = signature.packets;
  if (packets.length !== 1)
    return refused("openpgp", `expected exactly one OpenPGP signature packet, found ${packets.length}`, "signature-malformed");
  const sig = packets[0] as openpgp.SignaturePacket;

  const problem = packetProblem(sig, time);
  if (problem) return refused("openpgp", problem, "signature-invalid");
  const issuer = sig.issuerKeyID;
  const candidates = entries.filter((e) => e.key.getKeys(issuer).length > 0);
  if (candidates.length === 0) {
    return refused(
      "openpgp",
      `signed by an untrusted OpenPGP key ${hex(issuer)}; add it to the trust policy's signers if it belongs to someone trusted`,
      "untrusted-key",
    );
  }
  const reasons: string[] = [];
  for (const entry of candidates) {
    const keyIssue = await keyProblem(entry.key, issuer, sig.created!, time);
    if (keyIssue) {
      reasons.push(keyIssue);
      continue;
    }
    const mismatch = await cryptographicProblem(signature, message, entry.key, sig.created!);
    if (mismatch) return refused("openpgp", `OpenPGP signature by ${hex(issuer)} ${mismatch}`, "signature-invalid");
    const signing = entry.key.getKeys(issuer)[0]!;
    return accepted("openpgp", entry.identity, describeKey(entry.key, issuer), admissionKey.openpgp(signing.getFingerprint()), time);
  }
  return refused(
    "openpgp",
    `OpenPGP key ${hex(issuer)} (${candidates.map((c) => c.identity).join(", ")}): ${reasons.join("; ")}`,
    "key-not-valid",
  );
}

function packetProblem(sig: openpgp.SignaturePacket, time: TrustedTime): string | null {
  if (!documentSignatures.has(sig.signatureType!)) return `OpenPGP signature of type ${sig.signatureType} is not a document signature`;
  if (weakHashes.has(sig.hashAlgorithm!)) {
    return `OpenPGP signature uses the ${openpgp.enums.read(openpgp.enums.hash, sig.hashAlgorithm!)} digest, weaker than SHA-256; sign with --digest-algo SHA256 or stronger`;
  }
  if (!sig.created) return "OpenPGP signature carries no creation time";
  if (sig.created.getTime() > time.at.getTime() + CLOCK_SKEW_MS) {
    return `OpenPGP signature is dated ${sig.created.toISOString()}, in the future of the trusted time ${describeTime(time)}; check the signer's clock`;
  }
  const signatureExpires = sig.getExpirationTime();
  if (signatureExpires instanceof Date && time.at >= signatureExpires) {
    return `OpenPGP signature expired ${signatureExpires.toISOString()}, before the trusted time ${describeTime(time)}; sign again`;
  }
  return null;
}

/**
 * Why `key` may not have made a signature with its (sub)key `issuer`: revoked, expired or not allowed to
 * sign at the trusted time, or created after the signature claims to have been made.
 */
async function keyProblem(key: openpgp.PublicKey, issuer: openpgp.KeyID, created: Date, time: TrustedTime): Promise<string | null> {
  const when = describeTime(time);
  if (await key.isRevoked(null as never, null as never, time.at)) return `the key is revoked at the trusted time ${when}`;
  const [signing] = key.getKeys(issuer);
  const isSubkey = signing !== key;
  if (isSubkey && (await (signing as openpgp.Subkey).isRevoked(null as never, null as never, time.at))) {
    return `the signing subkey is revoked at the trusted time ${when}`;
  }
  const born = signing!.getCreationTime();
  if (born > created) return `the key was created ${born.toISOString()}, after the signature's date ${created.toISOString()}`;
  if (born > time.at) return `the key was created ${born.toISOString()}, after the trusted time ${when}`;
  const expires = isSubkey ? await (signing as openpgp.Subkey).getExpirationTime(time.at) : await key.getExpirationTime();
  if (expires instanceof Date && time.at >= expires) {
    return `the key expired ${expires.toISOString()}, before the trusted time ${when}; renew it (gpg --quick-set-expire) and publish the new public key`;
  }
  try {
    await key.getSigningKey(issuer, time.at);
  } catch (e) {
    return `the key may not sign at the trusted time ${when}: ${(e as Error).message}`;
  }
  return null;
}

async function cryptographicProblem(
  signature: openpgp.Signature,
  message: Buffer,
  key: openpgp.PublicKey,
  date: Date,
): Promise<string | null> {
  try {
    const result = await openpgp.verify({
      message: await openpgp.createMessage({ binary: message }),
      signature,
      verificationKeys: [key],
      date,
      expectSigned: true,
      format: "binary",
    });
    await result.signatures[0]!.verified;
    return null;
  } catch (e) {
    return `does not match the signed content (${(e as Error).message})`;
  }
}

function describeKey(key: openpgp.PublicKey, issuer: openpgp.KeyID): string {
  const signing = key.getKeys(issuer)[0]!;
  const info = signing.getAlgorithmInfo();
  const algorithm =
    "bits" in info && info.bits
      ? `${info.algorithm} ${info.bits}`
      : "curve" in info && info.curve
        ? `${info.algorithm} ${info.curve}`
        : info.algorithm;
  return `openpgp ${signing.getFingerprint().toUpperCase()} (${algorithm})`;
}
