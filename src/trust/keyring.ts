// The keys a trust policy trusts. The one entry point that verifies any git signature against them is
// src/git/signatures/verify.ts.
import { InputError } from "../core/errors.ts";
import { checkOneSignerPerPerson, type IdentityClaim, type TrustPolicy } from "./policy.ts";
import { parseAllowedSignerLine, parseAllowedSigners, type SshTrustEntry } from "./ssh-signers.ts";
import type { OpenPgpTrustEntry } from "./openpgp-keys.ts";
import type { TrustedRoot } from "./trusted-root.ts";

/** One Sigstore identity a trust policy accepts. */
export interface SigstoreIdentity {
  /** The trust policy's signer name. */
  signer: string;
  /** The certificate SAN, exactly: an email address or a URI. */
  identity: string;
  /** The OIDC issuer in the certificate's Fulcio extension, exactly. */
  issuer: string;
  /** Where the policy states it, for messages. */
  source: string;
}

export interface Keyring {
  ssh: SshTrustEntry[];
  openpgp: OpenPgpTrustEntry[];
  sigstore: SigstoreIdentity[];
  trustedRoot: TrustedRoot | undefined;
}

// OpenPGP code is loaded only when a policy needs it: openpgp.js alone costs more start-up time than
// verifying a short SSH-signed range.
const openpgp = () => import("./openpgp-keys.ts");

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
          for (const k of [key, ...key.getSubkeys()])
            pgpClaims.push({ what: `OpenPGP key ${k.getFingerprint().toUpperCase()}`, signer: signer.name, where });
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
