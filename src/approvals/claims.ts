// What Vigil signs about a revision: an approval, the withdrawal of one, and a deployment record. Each
// is an in-toto Statement v1 whose two subjects are the commit and its tree (in-toto's gitCommit and
// gitTree digests), with a Vigil predicate naming the environment and the times. Reading one is strict:
// it is a signed claim, and anything unexpected in it is refused (VerificationFailure), never guessed at.
import * as v from "valibot";
import { CLAIM_PREDICATES, formatTime, parseTime, PREDICATE_TYPES, type ApprovalKind, type Claim, type Revision } from "../api/claims.ts";
import { refuse } from "../sigstore/failure.ts";
import { STATEMENT_V1, parseStatement } from "../sigstore/intoto.ts";

/** The statement's bytes, as signed. */
export function encodeClaim(claim: Claim): Buffer {
  const subject = [
    { name: "commit", digest: { gitCommit: claim.revision.commit } },
    { name: "tree", digest: { gitTree: claim.revision.tree } },
  ];
  return Buffer.from(
    JSON.stringify({ _type: STATEMENT_V1, subject, predicateType: PREDICATE_TYPES[claim.type], predicate: predicateOf(claim) }),
  );
}

function predicateOf(claim: Claim): Record<string, string> {
  switch (claim.type) {
    case "approval":
      return {
        environment: claim.environment,
        kind: claim.kind,
        approver: claim.approver,
        approvedAt: formatTime(claim.at),
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
  if (!type)
    refuse(
      "predicate",
      `the statement's predicate type ${statement.predicateType} is none of Vigil's (${Object.values(PREDICATE_TYPES).join(", ")})`,
    );
  const revision = revisionOf(statement.subject);
  const parsed = v.safeParse(CLAIM_PREDICATES[type], statement.predicate);
  if (!parsed.success) {
    const issue = parsed.issues[0];
    const field = issue.path?.map((p) => String(p.key)).join(".") ?? "";
    const problem =
      issue.type !== "strict_object"
        ? issue.message
        : !field
          ? "must be a JSON object"
          : issue.expected === "never"
            ? "is not a known field"
            : "is required";
    refuse("predicate", `the ${type} predicate${field ? `'s ${field}` : ""} ${problem}`);
  }
  const p = parsed.output as Record<string, string>;
  const base = { revision, environment: p.environment! };
  switch (type) {
    case "approval":
      return {
        type,
        ...base,
        kind: p.kind as ApprovalKind,
        approver: p.approver!,
        at: dateOf(p, "approvedAt"),
        ...(p.expiresAt && { expires: dateOf(p, "expiresAt") }),
      };
    case "withdrawal":
      return { type, ...base, approver: p.approver!, at: dateOf(p, "withdrawnAt") };
    case "deployment": {
      const deployedAt = dateOf(p, "deployedAt");
      const at = dateOf(p, "healthyAt");
      if (at < deployedAt)
        refuse("predicate", `the deployment record says healthy at ${p.healthyAt}, before it was deployed at ${p.deployedAt}`);
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
  if (subject.length !== 2)
    refuse("subject", `the statement names ${subject.length} subjects; a Vigil claim names the commit and its tree`);
  return { commit: id(0, "commit", "gitCommit"), tree: id(1, "tree", "gitTree") };
}
