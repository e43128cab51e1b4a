// What the log holds: one record per decision, as canonical JSON (RFC 8785, JCS), so the same record
// always has the same bytes and the same leaf hash whoever writes it. A record is {kind, time,
// environment?, payload}; each kind's payload has a strict schema, checked when it is appended and
// again when it is read. A new kind (a later stage's decisions) is one more entry in RECORD_PAYLOADS (src/api/audit-record.ts).
import * as v from "valibot";
import { RECORD_ENVELOPE, RECORD_PAYLOADS, type AuditRecord } from "../api/audit-record.ts";
import { InputError } from "../core/errors.ts";
import { canonicalJson } from "./jcs.ts";
import { IntegrityError } from "./proof.ts";

/** A record larger than this is refused: a reconcile of a very long history is still far below it. */
export const MAX_RECORD_BYTES = 16 * 1024 * 1024;

/** The record checked against its kind's schema; the first problems named by field. */
function validate(value: unknown): { record?: AuditRecord; problems: string[] } {
  const outer = v.safeParse(RECORD_ENVELOPE, value, { abortEarly: false });
  if (!outer.success) return { problems: issues(outer.issues) };
  const inner = v.safeParse(RECORD_PAYLOADS[outer.output.kind], outer.output.payload, { abortEarly: false });
  if (!inner.success) return { problems: issues(inner.issues, "payload") };
  return { record: { ...outer.output, payload: inner.output } as AuditRecord, problems: [] };
}

function issues(list: readonly v.BaseIssue<unknown>[], prefix?: string): string[] {
  return list.slice(0, 5).map((issue) => {
    const path = [prefix, ...(issue.path ?? []).map((p) => String(p.key))].filter((p) => p !== undefined).join(".");
    const message = issue.type === "strict_object" && issue.expected === "never" ? "unknown field" : issue.message;
    return `${path || "record"}: ${message}`;
  });
}

/** The record's bytes in the log. A record that does not fit its schema is refused, never stored. */
export function encodeRecord(record: AuditRecord, position = 0): Buffer {
  const { record: valid, problems } = validate(record);
  if (!valid) throw new InputError(`audit record ${position} (${String((record as { kind?: unknown })?.kind)}): ${problems.join("; ")}`);
  const bytes = Buffer.from(canonicalJson(valid), "utf8");
  if (bytes.length > MAX_RECORD_BYTES)
    throw new InputError(`audit record ${position} (${record.kind}): ${bytes.length} bytes, over the ${MAX_RECORD_BYTES}-byte limit`);
  return bytes;
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** An entry read back: canonical JSON of a valid record, or an IntegrityError naming its index. */
export function decodeRecord(bytes: Buffer, index: number): AuditRecord {
  const fail = (why: string): never => {
    throw new IntegrityError(`entry ${index}: ${why}`);
  };
  let text = "";
  let value: unknown;
  try {
    text = utf8.decode(bytes);
    value = JSON.parse(text);
  } catch (e) {
    fail(`not JSON (${(e as Error).message})`);
  }
  const { record, problems } = validate(value);
  if (!record) return fail(`not a valid record: ${problems.join("; ")}`);
  if (canonicalJson(record) !== text) fail("not in canonical form (RFC 8785)");
  return record;
}

/** One line about a record, for tables. */
export function describeRecord(r: AuditRecord): string {
  const at = (rev?: string) => (rev ? ` at ${rev.slice(0, 12)}` : "");
  const objects = (list: readonly { kind: string; namespace?: string; name: string }[]) =>
    list.length <= 3 ? list.map(objectName).join(", ") : `${list.slice(0, 2).map(objectName).join(", ")} and ${list.length - 2} more`;
  switch (r.kind) {
    case "reconcile": {
      const failed = r.payload.checks.find((c) => c.status === "fail");
      return `${r.payload.verdict}${at(r.payload.revision)}, ${r.payload.commits.length} commits${r.payload.applied ? ", applied" : ""}${failed ? `; ${failed.gate}: ${failed.subject}: ${failed.message}` : ""}`;
    }
    case "apply":
      return `${r.payload.objects.length} objects${at(r.payload.revision)}: ${objects(r.payload.objects)}`;
    case "prune":
      return `pruned ${objects(r.payload.objects)}`;
    case "drift":
      return `drift in ${objects(r.payload.objects)}`;
    case "deployment":
      return `deployed ${r.payload.revision.commit.slice(0, 12)} (tree ${r.payload.revision.tree.slice(0, 12)}), healthy: signed deployment record`;
    case "claims":
      return `first saw ${r.payload.claims.length === 1 ? r.payload.claims[0]!.ref : `${r.payload.claims.length} claims: ${r.payload.claims[0]!.ref} …`}`;
    case "approval":
      return `${r.payload.revision.slice(0, 12)} approved by ${r.payload.signer}${r.payload.promotedFrom ? ` (promoted from ${r.payload.promotedFrom})` : ""}`;
    case "policy-change":
      return `policy ${r.payload.source} changed${at(r.payload.revision)}`;
    case "trust-policy-change":
      return `trust policy ${r.payload.source} changed${at(r.payload.revision)}, signed by ${r.payload.signers.join(", ")}`;
    case "adopt":
      return `${objects(r.payload.objects)} adopted by ${r.payload.user}: "${r.payload.reason}"`;
    case "finding":
      return `${r.payload.severity} ${r.payload.rule} on ${r.payload.subject}: ${r.payload.message}`;
    case "break-glass":
      return `${objectName(r.payload.object)} admitted by break-glass for ${r.payload.user}: signed by ${r.payload.signer}, "${r.payload.reason}"`;
  }
}

/** "Deployment shop/web", as the cluster's messages name an object. */
export function objectName(o: { kind: string; namespace?: string | undefined; name: string }): string {
  return `${o.kind} ${o.namespace ? `${o.namespace}/` : ""}${o.name}`;
}
