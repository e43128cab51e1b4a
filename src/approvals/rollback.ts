// Moving backwards: the revision gate refuses a target that is an ancestor of the last deployed revision
// unless the environment's approvers signed rollback approvals of that exact target, as many as its
// approvals rule requires. Authors are not excluded: a rollback brings in no new commits to have authors.
import { listRefs, type Repo } from "../git/repo.ts";
import type { PolicyContext } from "../revision/policy-chain.ts";
import type { Revision } from "./claims.ts";
import { countApprovals, type Count } from "./count.ts";
import { APPROVALS_REFS } from "./store.ts";

/** Counts rollback approvals of `target` by the policy in force at the last deployed revision. */
export async function rollbackApprovals(repo: Repo, policy: PolicyContext, environment: string, target: Revision, now: Date): Promise<Count> {
  const stored = await listRefs(repo, `${APPROVALS_REFS}${target.commit}/`);
  return countApprovals({ repo, policy, environment, target, kind: "rollback", stored, authors: new Map(), now });
}
