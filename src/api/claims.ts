// What Vigil signs about a revision, as it is stored and exchanged: an in-toto Statement v1 whose subjects
// are a commit and its tree, with one of these predicates (an approval, its withdrawal, a deployment
// record). The schemas and the time spelling are here; signing, encoding and reading claims is
// src/approvals/claims.ts, and docs/approvals.md says what each field means.
import * as v from "valibot";

export const PREDICATE_TYPES = {
  approval: "https://vigil.dev/approval/v1",
  withdrawal: "https://vigil.dev/approval-withdrawal/v1",
  deployment: "https://vigil.dev/deployment/v1",
} as const;

/** The exact revision a claim is about: a commit and its tree. */
export interface Revision {
  commit: string;
  tree: string;
}

/** A deploy approval lets a revision through; a rollback approval lets the revision gate move back to it. */
export type ApprovalKind = "deploy" | "rollback";

/** A claim; `at` is when it was made (approved, withdrawn, first healthy), the time its signature is judged at. */
export type Claim =
  | { type: "approval"; revision: Revision; environment: string; kind: ApprovalKind; approver: string; at: Date; expires?: Date }
  | { type: "withdrawal"; revision: Revision; environment: string; approver: string; at: Date }
  | { type: "deployment"; revision: Revision; environment: string; deployedAt: Date; at: Date };

/** RFC 3339 in UTC to the second, the one spelling written and accepted. */
const TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;
const time = v.pipe(v.string(), v.regex(TIME, "must be a UTC time like 2026-01-31T12:00:00Z"));
const text = v.pipe(v.string(), v.minLength(1, "must not be empty"));
/** Each claim type's predicate. */
export const CLAIM_PREDICATES = {
  approval: v.strictObject({
    environment: text,
    kind: v.picklist(["deploy", "rollback"], 'must be "deploy" or "rollback"'),
    approver: text,
    approvedAt: time,
    expiresAt: v.optional(time),
  }),
  withdrawal: v.strictObject({ environment: text, approver: text, withdrawnAt: time }),
  deployment: v.strictObject({ environment: text, deployedAt: time, healthyAt: time }),
};

export const formatTime = (d: Date) => d.toISOString().replace(/\.\d{3}Z$/, "Z");

/** A time as claims spell it, or undefined when `text` is not one: "2026-02-30T00:00:00Z" has the shape but is no day. */
export function parseTime(text: string): Date | undefined {
  const d = new Date(text);
  return TIME.test(text) && !Number.isNaN(d.getTime()) && formatTime(d) === text ? d : undefined;
}
