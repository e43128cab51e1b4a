// What the log holds: one record per decision, as canonical JSON (RFC 8785, JCS), so the same record
// always has the same bytes and the same leaf hash whoever writes it. A record is {kind, time,
// environment?, payload}; each kind's payload has a strict schema, checked when it is appended and
// again when it is read. A new kind (a later stage's decisions) is one more entry in `payloads`.
import * as v from "valibot";
import { InputError } from "../core/errors.ts";
import { canonicalJson } from "./jcs.ts";
import { IntegrityError } from "./proof.ts";

/** A record larger than this is refused: a reconcile of a very long history is still far below it. */
export const MAX_RECORD_BYTES = 16 * 1024 * 1024;

const text = v.pipe(v.string(), v.minLength(1, "must not be empty"));
const environmentName = v.pipe(v.string(), v.regex(/^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/, "must be a lowercase name of letters, digits, . and -"));
const commit = v.pipe(v.string(), v.regex(/^[0-9a-f]{40}([0-9a-f]{24})?$/, "must be a full commit id"));
const tree = v.pipe(v.string(), v.regex(/^[0-9a-f]{40}([0-9a-f]{24})?$/, "must be a full tree id"));
const digest = v.pipe(v.string(), v.regex(/^(sha256:[0-9a-f]{64}|sha512:[0-9a-f]{128})$/, "must be a sha256: or sha512: digest"));
const sha256 = v.pipe(v.string(), v.regex(/^sha256:[0-9a-f]{64}$/, "must be a sha256: digest"));
const count = v.pipe(v.number(), v.integer("must be an integer"), v.minValue(0, "must not be negative"));
const time = v.pipe(
  v.string(),
  v.regex(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$/, "must be an RFC 3339 time in UTC (…Z)"),
  v.check((t) => !Number.isNaN(Date.parse(t)), "must be a real date and time"),
);

const check = v.strictObject({
  gate: text,
  rule: text,
  status: v.picklist(["pass", "fail", "warn", "skip"]),
  subject: v.string(),
  message: v.string(),
  location: v.optional(v.strictObject({ file: text, line: count })),
});
const objectFields = { apiVersion: text, kind: text, namespace: v.optional(text), name: text };
const objectRef = v.strictObject(objectFields);

/** Each kind's payload. Objects are named as the cluster names them; images by the digest they run. */
const payloads = {
  /** One reconcile of an environment: the commit range checked, who signed each commit, every gate's checks. */
  reconcile: v.strictObject({
    repo: text,
    ref: v.optional(text),
    /** The last revision applied before: the range checked is (from, revision]. */
    from: v.optional(commit),
    revision: v.optional(commit),
    verdict: v.picklist(["pass", "fail"]),
    applied: v.boolean(),
    commits: v.array(v.strictObject({ commit, signer: v.optional(text), key: v.optional(text) })),
    gates: v.array(v.strictObject({ gate: text, verdict: v.picklist(["pass", "fail"]), pass: count, fail: count, warn: count, skip: count })),
    checks: v.array(check),
  }),
  /** What one apply wrote or confirmed, with the image digests each object runs. */
  apply: v.strictObject({
    revision: commit,
    /** The revision's tree: what promotion compares, since the same tree may be reached by other commits. */
    tree: v.optional(tree),
    objects: v.array(v.strictObject({
      ...objectFields,
      action: v.picklist(["create", "update", "unchanged", "drift", "conflict", "rejected"]),
      /** Each container's image as applied; without a digest when the artifact gate did not pin it. */
      images: v.array(v.strictObject({ container: text, image: text, digest: v.optional(digest) })),
    })),
  }),
  prune: v.strictObject({ revision: v.optional(commit), objects: v.array(objectRef) }),
  drift: v.strictObject({
    revision: v.optional(commit),
    objects: v.array(v.strictObject({ ...objectFields, restored: v.boolean(), changes: v.array(v.string()) })),
  }),
  /**
   * The agent's signed record of a healthy deploy (docs/approvals.md): the DSSE envelope exactly as
   * signed with the environment's agent key, which promotion verifies; the revision beside it is for
   * people and searches, never trusted over the envelope's own.
   */
  deployment: v.strictObject({ revision: v.strictObject({ commit, tree }), envelope: text }),
  /**
   * Claims under refs/vigil/ the agent saw for the first time (approvals, withdrawals, deployment
   * records), each as stored: the record's time is their first sighting (docs/audit.md), and a claim
   * recorded here that later disappears from the refs was deleted by someone, which blocks.
   */
  claims: v.strictObject({ claims: v.pipe(v.array(v.strictObject({ ref: text, digest: sha256, envelope: text })), v.minLength(1, "must not be empty")) }),
  /** A signed approval of a revision for an environment. */
  approval: v.strictObject({ revision: commit, signer: text, key: v.optional(text), promotedFrom: v.optional(environmentName) }),
  "policy-change": v.strictObject({ source: text, digest: sha256, revision: v.optional(commit), summary: v.optional(v.string()) }),
  "trust-policy-change": v.strictObject({ source: text, digest: sha256, revision: v.optional(commit), signers: v.array(text) }),
  /**
   * An object the admission webhook admitted by break-glass (docs/admission.md): the object, who asked
   * (the API server's user), the admin whose signed token admitted it and why, and the images it runs.
   */
  "break-glass": v.strictObject({
    object: objectRef,
    operation: text,
    user: text,
    signer: text,
    key: text,
    reason: text,
    token: text,
    notAfter: time,
    images: v.array(text),
  }),
  /** Objects a person let an environment adopt (vigil agent adopt): who the API server said they were, and why. */
  adopt: v.strictObject({ user: text, reason: text, objects: v.pipe(v.array(objectRef), v.minLength(1, "must not be empty")) }),
  /** A finding about something running (later: the monitor's advisories and revoked keys). */
  finding: v.strictObject({ subject: text, rule: text, severity: v.picklist(["critical", "high", "medium", "low", "info"]), message: v.string(), advisory: v.optional(text) }),
};

export type RecordKind = keyof typeof payloads;
export const RECORD_KINDS = Object.keys(payloads) as RecordKind[];
export type Payload<K extends RecordKind> = v.InferOutput<(typeof payloads)[K]>;

interface RecordOf<K extends RecordKind> {
  kind: K;
  /** When the decision was made, RFC 3339 in UTC. */
  time: string;
  environment?: string;
  payload: Payload<K>;
}
export type AuditRecord = { [K in RecordKind]: RecordOf<K> }[RecordKind];

const envelope = v.strictObject({ kind: v.picklist(RECORD_KINDS), time, environment: v.optional(environmentName), payload: v.unknown() });

/** The record checked against its kind's schema; the first problems named by field. */
function validate(value: unknown): { record?: AuditRecord; problems: string[] } {
  const outer = v.safeParse(envelope, value, { abortEarly: false });
  if (!outer.success) return { problems: issues(outer.issues) };
  const inner = v.safeParse(payloads[outer.output.kind], outer.output.payload, { abortEarly: false });
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
  if (bytes.length > MAX_RECORD_BYTES) throw new InputError(`audit record ${position} (${record.kind}): ${bytes.length} bytes, over the ${MAX_RECORD_BYTES}-byte limit`);
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
