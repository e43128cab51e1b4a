// What admitted a deployment, read from the passing checks of the gates that admitted it: the revision
// gate's commit-signature checks ("signed by NAME (KEY; valid at …)") and the artifact gate's
// image-signature checks ("signed by SIGNER, …; rule …; pinned to DIGEST"). Each accepted signature
// becomes an admission in the canonical key form trust.ts compares with the trust policy, so revoking a
// key later flags exactly what it let in. A check whose message does not parse admits nothing here:
// the admission is then missing, and `unreadAdmissions` says which, so the agent can report it.
import type { Check } from "../core/verdict.ts";
import { admissionKey, type Admission } from "./trust.ts";

/** Every admission the passing signature checks of a verdict record. */
export function admissionsFromChecks(checks: readonly Check[]): { admissions: Admission[]; unread: Check[] } {
  const admissions: Admission[] = [];
  const unread: Check[] = [];
  for (const c of checks) {
    if (c.status !== "pass") continue;
    const read =
      c.gate === "revision" && c.rule === "commit-signature"
        ? commitAdmission(c)
        : c.gate === "artifact" && c.rule === "image-signature"
          ? imageAdmissions(c)
          : undefined;
    if (read === undefined) continue;
    if (read.length === 0) unread.push(c);
    admissions.push(...read);
  }
  return { admissions, unread };
}

/** "signed by alice (ssh-ed25519 SHA256:…; valid at …)", "merge signed by forge key forge (openpgp FPR (…); …)". */
function commitAdmission(c: Check): Admission[] {
  const m = /^(?:merge signed by forge key|signed by) (\S+) \((.*)$/.exec(c.message);
  if (!m) return [];
  const key = commitKey(m[2]!);
  return key ? [{ kind: "commit", subject: c.subject, signer: m[1]!, key }] : [];
}

function commitKey(described: string): string | undefined {
  const pgp = /^openpgp ([0-9A-F]{16,64}) /.exec(described);
  if (pgp) return admissionKey.openpgp(pgp[1]!);
  const x509 = /^x509 (\S+) \(issuer ([^\s)]+)\)/.exec(described);
  if (x509) return admissionKey.sigstore(x509[1]!, x509[2]!);
  // An SSH key or certificate: the fingerprint of the key that signed.
  const ssh = /^\S+ (SHA256:[A-Za-z0-9+/]{43})\b/.exec(described);
  return ssh ? admissionKey.ssh(ssh[1]!) : undefined;
}

/** One admission per verified signer of the image, for the digest it was pinned to. */
function imageAdmissions(c: Check): Admission[] | undefined {
  // Images a rule lets run unsigned, and a set that runs none, were admitted by no key.
  if (!c.message.startsWith("signed by ")) return undefined;
  const pinned = /; pinned to (sha256:[0-9a-f]{64})$/.exec(c.message);
  const signed = /^signed by (.*?)(?:; attested .*)?; rule /.exec(c.message);
  if (!pinned || !signed) return [];
  const digest = pinned[1]!;
  const out: Admission[] = [];
  // A key: "[name (]kind SHA256:<base64 of the SPKI DER hash>[)]"; a certificate: "identity (issuer URL)".
  for (const k of signed[1]!.matchAll(/(?:(\S+) \()?[a-z0-9-]+ SHA256:([A-Za-z0-9+/]{43})\)?/g)) {
    out.push({ kind: "image", subject: digest, signer: k[1] ?? "key", key: `key sha256:${Buffer.from(k[2]!, "base64").toString("hex")}` });
  }
  for (const k of signed[1]!.matchAll(/([^\s(]+) \(issuer ([^\s)]+)\)/g)) {
    out.push({ kind: "image", subject: digest, signer: k[1]!, key: admissionKey.sigstore(k[1]!, k[2]!) });
  }
  return out;
}
