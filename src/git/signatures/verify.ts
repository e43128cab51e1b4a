// The one entry point that verifies any git signature (SSH, OpenPGP, x509) against a trust policy's keyring.
import type { Keyring } from "../../trust/keyring.ts";
import { verifySshSignature } from "./ssh-verify.ts";
import { refused, type CallerTimeSource, type SignatureResult } from "./result.ts";

// OpenPGP and x509 code is loaded only when a signature needs it: openpgp.js alone costs more start-up
// time than verifying a short SSH-signed range.
const openpgp = () => import("./openpgp.ts");
const x509 = () => import("./x509.ts");

/** Which format an armored git signature is in, from its first line. */
export function signatureFormat(armored: string): "ssh" | "openpgp" | "x509" | null {
  const head = armored.trimStart();
  if (head.startsWith("-----BEGIN SSH SIGNATURE-----")) return "ssh";
  if (head.startsWith("-----BEGIN PGP SIGNATURE-----")) return "openpgp";
  if (head.startsWith("-----BEGIN SIGNED MESSAGE-----")) return "x509";
  return null;
}

/**
 * Verifies a git signature (commit, tag or detached co-signature) over `payload`.
 * `at` is the trusted time keys and certificates are judged at: when Vigil's audit log first recorded
 * the object (`atSource` "first-seen"), else the time of verification ("verification"); never a time
 * the object claims (committer, tagger or approval time), which the signer writes. A time the signature
 * proves itself (a verified transparency-log entry) takes precedence. The result says which time was used.
 * `namespace` is SSHSIG's: "git" for what git signs, Vigil's own for approvals (OpenPGP and x509 have none).
 */
export async function verifyGitSignature(
  ring: Keyring,
  armored: string,
  payload: Buffer,
  at: Date,
  namespace = "git",
  atSource: CallerTimeSource = "verification",
): Promise<SignatureResult> {
  const time = { at, source: atSource };
  switch (signatureFormat(armored)) {
    case "ssh":
      return verifySshSignature(armored, payload, ring.ssh, time, namespace);
    case "openpgp":
      return (await openpgp()).verifyOpenPgpSignature(armored, payload, ring.openpgp, time);
    case "x509":
      return (await x509()).verifyX509Signature(armored, payload, ring.sigstore, ring.trustedRoot, time);
    default:
      return refused("unknown", "signature is in no known format (expected an SSH, OpenPGP or x509 signature)", "signature-malformed");
  }
}
