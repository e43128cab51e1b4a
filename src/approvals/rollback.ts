// Moving backwards: the revision gate refuses a target that is an ancestor of the last deployed revision
// unless the environment's approvers signed rollback approvals of that exact target, as many as its
// approvals rule requires. Authors are not excluded: a rollback brings in no new commits to have authors.
import { listRefs, type Repo } from "../git/repo.ts";
import type { PolicyContext } from "../revision/policy-chain.ts";
import type { RollbackJudge } from "../revision/gate.ts";
import type { Revision } from "../api/claims.ts";
import { countApprovals, type Count } from "./count.ts";
import { claimsUnder, type ApprovalEvidence } from "./evidence.ts";
import { APPROVALS_REFS } from "./store.ts";

/**
 * Counts rollback approvals of `target` by the policy in force at the last deployed revision. With the
 * audit log's evidence, keys are judged at each claim's first sighting, and a claim the log recorded that
 * is gone from the refs blocks the rollback.
 */
export async function rollbackApprovals(
  repo: Repo,
  policy: PolicyContext,
  environment: string,
  target: Revision,
  now: Date,
  evidence?: ApprovalEvidence,
): Promise<Count> {
  const prefix = `${APPROVALS_REFS}${target.commit}/`;
  const { sources, deleted } = await claimsUnder(repo, await listRefs(repo, prefix), prefix, "revision", evidence);
  const count = await countApprovals({
    repo,
    policy,
    environment,
    target,
    kind: "rollback",
    stored: sources,
    authors: new Map(),
    now,
    ...(evidence && { firstSeen: (d: string) => evidence.firstSeen(d) }),
  });
  if (deleted.length === 0) return count;
  return {
    ...count,
    approved: false,
    seen: [...count.seen, ...deleted],
    summary: `${count.summary}; and ${deleted.length} claim${deleted.length === 1 ? " the audit log recorded was" : "s the audit log recorded were"} deleted from the refs`,
  };
}

/** The revision gate's rollback judge (its judgeRollback option): rollbackApprovals at `now`, with the log's evidence. */
export function rollbackJudge(repo: Repo, now: Date, evidence?: ApprovalEvidence): RollbackJudge {
  return (environment, target, policy) => rollbackApprovals(repo, policy, environment, target, now, evidence);
}
