// The agent's own state is evidence (issue 15 §4). The last applied revision decides the revision
// gate's range, rollback refusal and author exclusion, so whoever could change it could deploy a
// rollback or let an author approve their own change. The status ConfigMap is only a cache: with an
// audit log, it must say what the log's latest applying reconcile says; without one, a status that
// is gone while the environment's inventory remains is a deletion, not a new environment. Either
// way a missing or altered status blocks with the reason; it never resets history.
import type { Evidence } from "../audit/evidence.ts";
import { check, type Check } from "../core/verdict.ts";
import type { EnvironmentState } from "./deploy.ts";

export interface StateJudgement {
  /** A failing "state" check when the status cannot be trusted; nothing else runs then. */
  refusal?: Check;
  /** Notes that pass (the log agrees, or holds nothing yet). */
  notes: Check[];
  /** The state to start from: the log's when it has one. */
  state: EnvironmentState;
}

/** Checks the status against the audit log's record of the environment. */
export function judgeStateByLog(environment: string, status: EnvironmentState, where: string, evidence: Evidence): StateJudgement {
  const logged = evidence.lastApplied(environment);
  const subject = `status of ${environment}`;
  const restore = (commit: string) => `restore lastApplied: ${commit} in the status ConfigMap once you know who changed it (vigil audit show --env ${environment} --kind reconcile)`;
  if (!logged) {
    if (status.lastApplied && evidence.hasReconciled(environment)) {
      return { state: status, notes: [], refusal: check("agent", "state", "fail", subject, `the status says ${status.lastApplied.slice(0, 12)} was applied, but the audit log (${where}) records no apply of ${environment}: the status was written outside the agent; remove its lastApplied once you know who wrote it`) };
    }
    // An environment the log has not seen yet (a new one, or a log newly configured): the status is all there is.
    return { state: status, notes: status.lastApplied ? [check("agent", "state", "warn", subject, `the audit log (${where}) holds no reconcile of ${environment} yet: the status's ${status.lastApplied.slice(0, 12)} is taken as is, once`)] : [] };
  }
  if (!status.lastApplied) {
    return { state: status, notes: [], refusal: check("agent", "state", "fail", subject, `the status has no last applied revision, but the audit log records ${logged.commit.slice(0, 12)} applied (${logged.where}): the status was deleted or reset outside the agent, and history does not restart; ${restore(logged.commit)}`) };
  }
  if (status.lastApplied !== logged.commit) {
    return { state: status, notes: [], refusal: check("agent", "state", "fail", subject, `the status says ${status.lastApplied.slice(0, 12)} was applied last, but the audit log records ${logged.commit.slice(0, 12)} (${logged.where}): the status was altered outside the agent; ${restore(logged.commit)}`) };
  }
  return { state: { lastApplied: logged.commit, lastAppliedAt: logged.since }, notes: [] };
}

/** Without an audit log: a status that is gone while the inventory remains was deleted, not never written. */
export function judgeMissingStatus(environment: string, inventoryExists: boolean): Check | undefined {
  if (!inventoryExists) return undefined;
  return check("agent", "state", "fail", `status of ${environment}`,
    `the status ConfigMap is gone but ${environment}'s inventory is not: the status was deleted outside the agent, and the last applied revision (the revision gate's starting point) is lost. ` +
      "Configure the audit log so the agent can check its state against it, or restore lastApplied in the status by hand");
}
