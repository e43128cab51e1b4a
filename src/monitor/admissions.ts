// What admitted a deployment, read from the passing signature checks of the gates that admitted it: the
// revision gate's commit-signature checks and the artifact gate's image-signature checks each carry
// `admits`, what their accepted signatures let in (kind, subject, signer, and the key in the canonical
// form src/trust/admission-key.ts writes and src/monitor/trust.ts compares with the trust policy), so
// revoking a key later flags exactly what it let in. Only that field is read, never a message: a passing
// signature check without it admits nothing here, and `unread` says which, so the agent can report it.
import type { RecordedCheck } from "../core/verdict.ts";
import type { Admission } from "./trust.ts";

/** The checks whose passing form says what a signature admitted. */
const SIGNATURE_CHECKS = new Set(["revision commit-signature", "artifact image-signature"]);

/** Every admission the passing signature checks of a verdict record. */
export function admissionsFromChecks<C extends RecordedCheck>(checks: readonly C[]): { admissions: Admission[]; unread: C[] } {
  const admissions: Admission[] = [];
  const unread: C[] = [];
  for (const c of checks) {
    if (c.status !== "pass" || !SIGNATURE_CHECKS.has(`${c.gate} ${c.rule}`)) continue;
    if (c.admits === undefined) unread.push(c);
    else admissions.push(...c.admits.map(({ kind, subject, signer, key }) => ({ kind, subject, signer, key })));
  }
  return { admissions, unread };
}
