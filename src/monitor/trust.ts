// The trust trigger. Each deployed workload keeps its admissions: which signer and key admitted each
// commit of its revision and each of its image digests. When the trust policy changes, the keys the new
// policy trusts are listed in the same canonical form, and every admission whose key (or, for commits,
// whose signer name) is no longer there is a finding on that workload: the thing running was let in by
// a key nobody trusts now. Key forms: "ssh SHA256:…", "openpgp <FINGERPRINT>", "sigstore <identity>
// <issuer>", "key sha256:<hex of the public key's SPKI DER>".
import type { Admitted } from "../core/verdict.ts";
import type { TrustPolicy } from "../trust/policy.ts";
import { buildKeyring } from "../trust/keyring.ts";
import { matchPrincipal } from "../trust/ssh-signers.ts";
import { admissionKey } from "../trust/admission-key.ts";
import { compileMatcher } from "../sigstore/verify.ts";
import { findingKey, type MonitorFinding } from "./findings.ts";
import type { DeployedWorkload } from "../api/inventory.ts";

/** What admitted a deployed commit or image digest: the gates' `admits`, as the inventory keeps them. */
export type Admission = Admitted;

// The canonical key forms live with the trust policy's keys; recorders and tests name them from here too.
export { admissionKey };

export interface TrustedKeys {
  /** Keys trusted for commits, with the signer names that hold them. */
  commitKeys: Set<string>;
  signers: Set<string>;
  /** SSH keys of allowed_signers lines with the principal patterns they hold ("*@example.com" holds alice@example.com). */
  sshPrincipals: { key: string; principals: string[] }[];
  /** Keys trusted for images, and the certificate identity patterns of image rules. */
  imageKeys: Set<string>;
  imagePatterns: { identity: (s: string) => boolean; issuer: (s: string) => boolean }[];
}

const asList = <T>(v: T | T[] | undefined): T[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);

export async function trustedKeys(policy: TrustPolicy): Promise<TrustedKeys> {
  const ring = await buildKeyring(policy);
  const commitKeys = new Set<string>([
    ...ring.ssh.map((e) => admissionKey.ssh(e.key.fingerprint)),
    ...ring.openpgp.flatMap((e) => [e.key, ...e.key.getSubkeys()].map((k) => admissionKey.openpgp(k.getFingerprint()))),
    ...ring.sigstore.map((s) => admissionKey.sigstore(s.identity, s.issuer)),
  ]);
  const signers = new Set([...policy.doc.signers.map((s) => s.name), ...ring.ssh.flatMap((e) => e.principals)]);
  const sshPrincipals = ring.ssh.map((e) => ({ key: admissionKey.ssh(e.key.fingerprint), principals: e.principals }));
  const imageKeys = new Set<string>();
  const imagePatterns: TrustedKeys["imagePatterns"] = [];
  const sigstoreOf = (name: string) => policy.doc.signers.filter((s) => s.name === name).flatMap((s) => asList(s.sigstore));
  for (const rule of policy.doc.images) {
    for (const signer of rule.signers ?? []) {
      if ("key" in signer) imageKeys.add(admissionKey.pem(signer.key));
      else if ("signer" in signer) for (const id of sigstoreOf(signer.signer)) imageKeys.add(admissionKey.sigstore(id.identity, id.issuer));
      else if (signer.identity !== undefined && signer.issuer !== undefined)
        imageKeys.add(admissionKey.sigstore(signer.identity, signer.issuer));
      else
        imagePatterns.push({
          identity: matcher(signer.identity, signer.identityRegexp),
          issuer: matcher(signer.issuer, signer.issuerRegexp),
        });
    }
  }
  return { commitKeys, signers, sshPrincipals, imageKeys, imagePatterns };
}

function matcher(exact: string | undefined, regexp: string | undefined): (s: string) => boolean {
  if (exact !== undefined) return (s) => s === exact;
  if (regexp !== undefined) {
    const re = compileMatcher(regexp);
    return (s) => re.test(s);
  }
  return () => false;
}

/** An SSH key whose allowed_signers line names its principals by pattern still holds the name it signed as. */
function holdsPrincipal(trusted: TrustedKeys, a: Admission): boolean {
  return trusted.sshPrincipals.some((e) => e.key === a.key && matchPrincipal(a.signer, e.principals));
}

function trusts(trusted: TrustedKeys, a: Admission): boolean {
  if (a.kind === "commit") return trusted.commitKeys.has(a.key) && (trusted.signers.has(a.signer) || holdsPrincipal(trusted, a));
  if (trusted.imageKeys.has(a.key)) return true;
  const m = /^sigstore (\S+) (\S+)$/.exec(a.key);
  return m !== null && trusted.imagePatterns.some((p) => p.identity(m[1]!) && p.issuer(m[2]!));
}

export function untrustedAdmissions(workloads: DeployedWorkload[], trusted: TrustedKeys, since: string): MonitorFinding[] {
  const out: MonitorFinding[] = [];
  for (const w of workloads) {
    for (const a of w.admissions ?? []) {
      if (trusts(trusted, a)) continue;
      const image = a.kind === "image" ? w.images.find((i) => i.digest === a.subject) : undefined;
      out.push({
        key: findingKey(w.environment, w.workload, a.subject, a.key),
        type: "untrusted-key",
        subject: a.subject,
        rule: a.key,
        environment: w.environment,
        workload: w.workload,
        image: image?.image ?? "",
        digest: image?.digest ?? "",
        severity: "high",
        since,
        action:
          a.kind === "commit"
            ? `commit ${a.subject} of revision ${w.revision} was admitted by ${a.signer} (${a.key}), which the trust policy no longer trusts: review the commit, and deploy a revision signed by a trusted key`
            : `${image?.image ?? a.subject} was admitted by ${a.signer} (${a.key}), which the trust policy no longer trusts: re-sign the image with a trusted key, or deploy another digest`,
      });
    }
  }
  return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}
