// What Vigil signs about a revision: an approval, the withdrawal of one, and a deployment record. Each
// is an in-toto Statement v1 whose two subjects are the commit and its tree (in-toto's gitCommit and
// gitTree digests), with a Vigil predicate naming the environment and the times. Reading one is strict:
// it is a signed claim, and anything unexpected in it is refused (VerificationFailure), never guessed at.
import * as v from "valibot";
import { refuse } from "../sigstore/failure.ts";
import { STATEMENT_V1, parseStatement } from "../sigstore/intoto.ts";

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
const predicates = {
  approval: v.strictObject({ environment: text, kind: v.picklist(["deploy", "rollback"], 'must be "deploy" or "rollback"'), approver: text, approvedAt: time, expiresAt: v.optional(time) }),
  withdrawal: v.strictObject({ environment: text, approver: text, withdrawnAt: time }),
  deployment: v.strictObject({ environment: text, deployedAt: time, healthyAt: time }),
};

export const formatTime = (d: Date) => d.toISOString().replace(/\.\d{3}Z$/, "Z");

/** A time as claims spell it, or undefined when `text` is not one: "2026-02-30T00:00:00Z" has the shape but is no day. */
export function parseTime(text: string): Date | undefined {
  const d = new Date(text);
  return TIME.test(text) && !Number.isNaN(d.getTime()) && formatTime(d) === text ? d : undefined;
}

/** The statement's bytes, as signed. */
export function encodeClaim(claim: Claim): Buffer {
  const subject = [
    { name: "commit", digest: { gitCommit: claim.revision.commit } },
    { name: "tree", digest: { gitTree: claim.revision.tree } },
  ];
  return Buffer.from(JSON.stringify({ _type: STATEMENT_V1, subject, predicateType: PREDICATE_TYPES[claim.type], predicate: predicateOf(claim) }));
}

function predicateOf(claim: Claim): Record<string, string> {
  switch (claim.type) {
    case "approval":
      return {
        environment: claim.environment, kind: claim.kind, approver: claim.approver, approvedAt: formatTime(claim.at),
        ...(claim.expires && { expiresAt: formatTime(claim.expires) }),
      };
    case "withdrawal":
      return { environment: claim.environment, approver: claim.approver, withdrawnAt: formatTime(claim.at) };
    case "deployment":
      return { environment: claim.environment, deployedAt: formatTime(claim.deployedAt), healthyAt: formatTime(claim.at) };
  }
}

/** Reads a signed statement as a claim. Throws VerificationFailure naming what is wrong. */
export function decodeClaim(payload: Buffer): Claim {
  const statement = parseStatement(payload);
  if (statement.type !== STATEMENT_V1) refuse("predicate", `the statement is ${statement.type}, not an in-toto Statement v1`);
  const type = (Object.keys(PREDICATE_TYPES) as Claim["type"][]).find((k) => PREDICATE_TYPES[k] === statement.predicateType);
  if (!type) refuse("predicate", `the statement's predicate type ${statement.predicateType} is none of Vigil's (${Object.values(PREDICATE_TYPES).join(", ")})`);
  const revision = revisionOf(statement.subject);
  const parsed = v.safeParse(predicates[type], statement.predicate);
  if (!parsed.success) {
    const issue = parsed.issues[0];
    const field = issue.path?.map((p) => String(p.key)).join(".") ?? "";
    const problem = issue.type !== "strict_object" ? issue.message : !field ? "must be a JSON object" : issue.expected === "never" ? "is not a known field" : "is required";
    refuse("predicate", `the ${type} predicate${field ? `'s ${field}` : ""} ${problem}`);
  }
  const p = parsed.output as Record<string, string>;
  const base = { revision, environment: p.environment! };
  switch (type) {
    case "approval":
      return { type, ...base, kind: p.kind as ApprovalKind, approver: p.approver!, at: dateOf(p, "approvedAt"), ...(p.expiresAt && { expires: dateOf(p, "expiresAt") }) };
    case "withdrawal":
      return { type, ...base, approver: p.approver!, at: dateOf(p, "withdrawnAt") };
    case "deployment": {
      const deployedAt = dateOf(p, "deployedAt");
      const at = dateOf(p, "healthyAt");
      if (at < deployedAt) refuse("predicate", `the deployment record says healthy at ${p.healthyAt}, before it was deployed at ${p.deployedAt}`);
      return { type, ...base, deployedAt, at };
    }
  }
}

function dateOf(predicate: Record<string, string>, field: string): Date {
  return parseTime(predicate[field]!) ?? refuse("predicate", `the predicate's ${field} ${predicate[field]} is not a real time`);
}

/** Exactly the two subjects Vigil writes: the commit, then its tree, each by its git object id alone. */
function revisionOf(subject: { name: string; digest: Record<string, string> }[]): Revision {
  const id = (i: number, name: string, algorithm: string): string => {
    const s = subject[i];
    const keys = s ? Object.keys(s.digest) : [];
    const hex = s?.digest[algorithm];
    if (!s || s.name !== name || keys.length !== 1 || !hex || (hex.length !== 40 && hex.length !== 64)) {
      refuse("subject", `the statement's subject[${i}] must be the ${name}, named "${name}" with a ${algorithm} digest alone`);
    }
    return hex;
  };
  if (subject.length !== 2) refuse("subject", `the statement names ${subject.length} subjects; a Vigil claim names the commit and its tree`);
  return { commit: id(0, "commit", "gitCommit"), tree: id(1, "tree", "gitTree") };
}
