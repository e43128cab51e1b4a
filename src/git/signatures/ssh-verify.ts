// The verification of an SSHSIG signature against the trusted SSH keys (src/trust/ssh-signers.ts).
import { verifyRawSignature, parseSshSignature, verifySshSignatureBytes, type ParsedSshSignature } from "./sshsig.ts";
import { fingerprint, type SshPublicKey } from "../../trust/ssh-wire.ts";
import { matchPrincipal, type SshTrustEntry } from "../../trust/ssh-signers.ts";
import { admissionKey } from "../../trust/admission-key.ts";
import { accepted, describeTime, refused, type SignatureResult, type TrustedTime } from "./result.ts";

const hasWildcard = (p: string) => /[*?!]/.test(p);

/** The signing key as a person looks it up; `trusted`, the trusted key it is byte for byte, spares hashing it again. */
function describe(sig: ParsedSshSignature, trusted?: SshPublicKey): string {
  if (sig.certificate) return `${sig.certificate.key.type} ${sig.certificate.key.fingerprint} (certificate "${sig.certificate.keyId}")`;
  return `${sig.keyType} ${trusted ? trusted.fingerprint : fingerprint(sig.keyBlob)}`;
}

/**
 * Verifies an armored SSHSIG over `message` against trusted entries. An SSH signature carries no time
 * of its own, so key windows (valid-after, valid-before) and certificate validity are judged at
 * `time`, the trusted time the caller chose (first sighting in the audit log, else now), never at the
 * committer time git would use. Each refusal names the key and the reason.
 */
export function verifySshSignature(
  armored: string,
  message: Buffer,
  entries: readonly SshTrustEntry[],
  time: TrustedTime,
  namespace = "git",
): SignatureResult {
  let sig: ParsedSshSignature;
  try {
    sig = parseSshSignature(armored);
  } catch (e) {
    return refused("ssh", `malformed SSH signature: ${(e as Error).message}`, "signature-malformed");
  }
  if (sig.namespace !== namespace) {
    return refused("ssh", `SSH signature is for namespace "${sig.namespace}", not "${namespace}"`, "signature-invalid");
  }
  const cert = sig.certificate;
  const candidates = cert
    ? entries.filter((e) => e.certAuthority && e.key.blob.equals(cert.caBlob))
    : entries.filter((e) => !e.certAuthority && e.key.blob.equals(sig.keyBlob));
  if (candidates.length === 0) {
    const what = cert ? `certificate authority ${fingerprint(cert.caBlob)} for` : "key";
    return refused(
      "ssh",
      `signed by an untrusted ${what} (${describe(sig)}); add it to the trust policy's signers if it belongs to someone trusted`,
      "untrusted-key",
    );
  }
  let valid: boolean;
  try {
    valid = verifySshSignatureBytes(sig, cert ? cert.key : candidates[0]!.key, message);
  } catch (e) {
    return refused("ssh", `SSH signature by ${describe(sig)} cannot be verified: ${(e as Error).message}`, "signature-invalid");
  }
  if (!valid) return refused("ssh", `SSH signature by ${describe(sig)} does not match the signed content`, "signature-invalid");

  const reasons: string[] = [];
  for (const entry of candidates) {
    const problem = entryProblem(entry, sig, namespace, time);
    if (problem) {
      reasons.push(`${entry.source}: ${problem}`);
      continue;
    }
    const identity = cert
      ? cert.principals.find((p) => matchPrincipal(p, entry.principals))!
      : (entry.principals.find((p) => !hasWildcard(p)) ?? entry.principals[0]!);
    return accepted("ssh", identity, describe(sig, entry.key), admissionKey.ssh(entry.key.fingerprint), time);
  }
  return refused("ssh", `${describe(sig)}: ${reasons.join("; ")}`, "key-not-valid");
}

function entryProblem(entry: SshTrustEntry, sig: ParsedSshSignature, namespace: string, time: TrustedTime): string | null {
  // OpenSSH matches namespaces= as a pattern list, negations included, as it matches principals.
  if (entry.namespaces && !matchPrincipal(namespace, entry.namespaces)) {
    return `key is not allowed to sign namespace "${namespace}" (namespaces=${entry.namespaces.join(",")})`;
  }
  if (entry.validAfter && time.at < entry.validAfter) {
    return `the trusted time ${describeTime(time)} is before the key's valid-after ${entry.validAfter.toISOString()}`;
  }
  if (entry.validBefore && time.at > entry.validBefore) {
    return `the trusted time ${describeTime(time)} is after the key's valid-before ${entry.validBefore.toISOString()}`;
  }
  if (sig.certificate) return certificateProblem(entry, sig, time);
  return null;
}

function certificateProblem(entry: SshTrustEntry, sig: ParsedSshSignature, time: TrustedTime): string | null {
  const cert = sig.certificate!;
  if (cert.certType !== 1) return "certificate is not a user certificate";
  if (!verifyRawSignature(entry.key, cert.caSignature.algorithm, cert.caSignature.blob, cert.signed)) {
    return "certificate's CA signature does not verify";
  }
  const seconds = BigInt(Math.floor(time.at.getTime() / 1000));
  if (seconds < cert.validAfter || seconds >= cert.validBefore) {
    return `certificate "${cert.keyId}" is not valid at ${describeTime(time)} (valid from ${certTime(cert.validAfter)} to ${certTime(cert.validBefore)})`;
  }
  if (cert.criticalOptions.length > 0) {
    return `certificate carries critical options (${cert.criticalOptions.join(", ")}) that signing does not honour`;
  }
  if (!cert.principals.some((p) => matchPrincipal(p, entry.principals))) {
    return `certificate principals (${cert.principals.join(", ") || "none"}) match none of ${entry.principals.join(",")}`;
  }
  return null;
}

// The last second a JavaScript Date can hold.
const MAX_DATE_SECONDS = 8.64e12;

/** A certificate bound (seconds since the epoch; the largest value means no end) for messages. */
function certTime(seconds: bigint): string {
  return seconds >= BigInt(MAX_DATE_SECONDS) ? "forever" : new Date(Number(seconds) * 1000).toISOString();
}
