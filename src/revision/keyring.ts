// The keys a trust policy trusts, and the one entry point that verifies any git signature against them.
import { InputError } from "../core/errors.ts";
import { checkOneSignerPerPerson, type IdentityClaim, type TrustPolicy } from "../core/trust-policy.ts";
import { parseAllowedSignerLine, parseAllowedSigners, verifySshSignature, type SshTrustEntry } from "../git/signatures/ssh-trust.ts";
import type { OpenPgpTrustEntry } from "../git/signatures/openpgp.ts";
import type { SigstoreIdentity, TrustedRoot } from "../git/signatures/x509.ts";
import { refused, type CallerTimeSource, type SignatureResult } from "../git/signatures/result.ts";

export interface Keyring {
  ssh: SshTrustEntry[];
  openpgp: OpenPgpTrustEntry[];
  sigstore: SigstoreIdentity[];
  trustedRoot: TrustedRoot | undefined;
}

// OpenPGP and x509 code is loaded only when a policy or a signature needs it: openpgp.js alone
// costs more start-up time than verifying a short SSH-signed range.
const openpgp = () => import("../git/signatures/openpgp.ts");
const x509 = () => import("../git/signatures/x509.ts");

const asList = <T>(v: T | T[] | undefined): T[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);

/** Builds the keyring; a key that does not parse is an input error naming file, line and field. */
export async function buildKeyring(policy: TrustPolicy, trustedRoot?: TrustedRoot): Promise<Keyring> {
  const ring: Keyring = { ssh: [], openpgp: [], sigstore: [], trustedRoot };
  const pgpClaims: IdentityClaim[] = [];
  for (const [i, signer] of policy.doc.signers.entries()) {
    for (const [j, line] of asList(signer.ssh).entries()) {
      const where = policy.where(["signers", i, "ssh", ...(Array.isArray(signer.ssh) ? [j] : [])]);
      try {
        ring.ssh.push({ ...parseAllowedSignerLine(line, where, false), principals: [signer.name] });
      } catch (e) {
        throw new InputError(`${where}: invalid SSH key: ${(e as Error).message.replace(`${where}: `, "")}`);
      }
    }
    for (const [j, armored] of asList(signer.openpgp).entries()) {
      const where = policy.where(["signers", i, "openpgp", ...(Array.isArray(signer.openpgp) ? [j] : [])]);
      try {
        const entries = await (await openpgp()).parseOpenPgpKeys(armored, signer.name, where);
        ring.openpgp.push(...entries);
        for (const { key } of entries) {
          for (const k of [key, ...key.getSubkeys()]) pgpClaims.push({ what: `OpenPGP key ${k.getFingerprint().toUpperCase()}`, signer: signer.name, where });
        }
      } catch (e) {
        throw new InputError(`${where}: invalid OpenPGP key: ${(e as Error).message}`);
      }
    }
    for (const [j, id] of asList(signer.sigstore).entries()) {
      const where = policy.where(["signers", i, "sigstore", ...(Array.isArray(signer.sigstore) ? [j] : [])]);
      ring.sigstore.push({ signer: signer.name, identity: id.identity, issuer: id.issuer, source: where });
    }
  }
  if (policy.allowedSigners) {
    try {
      ring.ssh.push(...parseAllowedSigners(policy.allowedSigners.text, policy.allowedSigners.file));
    } catch (e) {
      throw new InputError(`invalid allowed_signers file: ${(e as Error).message}`);
    }
  }
  // The same OpenPGP key (or subkey) under two signer names is one person counted twice.
  checkOneSignerPerPerson(pgpClaims);
  return ring;
}

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
      return refused("unknown", "signature is in no known format (expected an SSH, OpenPGP or x509 signature)");
  }
}
