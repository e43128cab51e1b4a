// The audit log's records as they are stored and exchanged: one JSON object per leaf (RFC 8785 canonical),
// a kind, a time, an environment and the kind's payload. Their schemas are here; encoding, decoding and
// describing records is src/audit/record.ts; docs/audit.md lists the kinds.
import * as v from "valibot";
import { CHECK_CODE_LIST } from "./check-codes.ts";

const text = v.pipe(v.string(), v.minLength(1, "must not be empty"));
const environmentName = v.pipe(
  v.string(),
  v.regex(/^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/, "must be a lowercase name of letters, digits, . and -"),
);
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
  /** Absent in records written before checks carried codes; otherwise one declared in check-codes.ts. */
  code: v.optional(v.picklist(CHECK_CODE_LIST, "must be a check code declared in src/api/check-codes.ts (docs/verdict.md)")),
  location: v.optional(v.strictObject({ file: text, line: count })),
  /** What an accepted signature let in (src/core/verdict.ts Admitted), the key in src/trust's canonical form. */
  admits: v.optional(v.array(v.strictObject({ kind: v.picklist(["commit", "image"]), subject: text, signer: text, key: text }))),
});
const objectFields = { apiVersion: text, kind: text, namespace: v.optional(text), name: text };
const objectRef = v.strictObject(objectFields);

/** Each kind's payload. Objects are named as the cluster names them; images by the digest they run. */
export const RECORD_PAYLOADS = {
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
    gates: v.array(
      v.strictObject({ gate: text, verdict: v.picklist(["pass", "fail"]), pass: count, fail: count, warn: count, skip: count }),
    ),
    checks: v.array(check),
  }),
  /** What one apply wrote or confirmed, with the image digests each object runs. */
  apply: v.strictObject({
    revision: commit,
    /** The revision's tree: what promotion compares, since the same tree may be reached by other commits. */
    tree: v.optional(tree),
    objects: v.array(
      v.strictObject({
        ...objectFields,
        action: v.picklist(["create", "update", "unchanged", "drift", "conflict", "rejected"]),
        /** Each container's image as applied; without a digest when the artifact gate did not pin it. */
        images: v.array(v.strictObject({ container: text, image: text, digest: v.optional(digest) })),
      }),
    ),
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
  claims: v.strictObject({
    claims: v.pipe(v.array(v.strictObject({ ref: text, digest: sha256, envelope: text })), v.minLength(1, "must not be empty")),
  }),
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
  finding: v.strictObject({
    subject: text,
    rule: text,
    severity: v.picklist(["critical", "high", "medium", "low", "info"]),
    message: v.string(),
    advisory: v.optional(text),
  }),
};

export type RecordKind = keyof typeof RECORD_PAYLOADS;
export const RECORD_KINDS = Object.keys(RECORD_PAYLOADS) as RecordKind[];
export type Payload<K extends RecordKind> = v.InferOutput<(typeof RECORD_PAYLOADS)[K]>;

interface RecordOf<K extends RecordKind> {
  kind: K;
  /** When the decision was made, RFC 3339 in UTC. */
  time: string;
  environment?: string;
  payload: Payload<K>;
}
export type AuditRecord = { [K in RecordKind]: RecordOf<K> }[RecordKind];

/** What every record is: its kind, time and environment around a payload of its kind. */
export const RECORD_ENVELOPE = v.strictObject({
  kind: v.picklist(RECORD_KINDS),
  time,
  environment: v.optional(environmentName),
  payload: v.unknown(),
});
