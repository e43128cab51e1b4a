// The agent's own state is evidence (issue 15 §4). The last applied revision decides the revision
// gate's range, rollback refusal and author exclusion, so whoever could change it could deploy a
// rollback or let an author approve their own change. The status ConfigMap is only a cache: with an
// audit log, it must say what the log's latest applying reconcile says; without one, a status that
// is gone while the environment's inventory remains is a deletion, not a new environment. Either
// way a missing or altered status blocks with the reason; it never resets history.
import type { Evidence } from "../audit/evidence.ts";
import { check, type Check } from "../core/verdict.ts";
import type { EnvironmentState } from "./deploy.ts";
import { macMatches, type StateKey } from "./state-key.ts";

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
  const restore = (commit: string) =>
    `restore lastApplied: ${commit} in the status ConfigMap once you know who changed it (vigil audit show --env ${environment} --kind reconcile)`;
  if (!logged) {
    if (status.lastApplied && evidence.hasReconciled(environment)) {
      return {
        state: status,
        notes: [],
        refusal: check({
          gate: "agent",
          rule: "state",
          status: "fail",
          subject,
          message: `the status says ${status.lastApplied.slice(0, 12)} was applied, but the audit log (${where}) records no apply of ${environment}: the status was written outside the agent; remove its lastApplied once you know who wrote it`,
          code: "status-unrecorded",
        }),
      };
    }
    // An environment the log has not seen yet (a new one, or a log newly configured): the status is all there is.
    return {
      state: status,
      notes: status.lastApplied
        ? [
            check({
              gate: "agent",
              rule: "state",
              status: "warn",
              subject,
              message: `the audit log (${where}) holds no reconcile of ${environment} yet: the status's ${status.lastApplied.slice(0, 12)} is taken as is, once`,
              code: "status-taken-once",
            }),
          ]
        : [],
    };
  }
  if (!status.lastApplied) {
    return {
      state: status,
      notes: [],
      refusal: check({
        gate: "agent",
        rule: "state",
        status: "fail",
        subject,
        message: `the status has no last applied revision, but the audit log records ${logged.commit.slice(0, 12)} applied (${logged.where}): the status was deleted or reset outside the agent, and history does not restart; ${restore(logged.commit)}`,
        code: "status-reset",
      }),
    };
  }
  if (status.lastApplied !== logged.commit) {
    return {
      state: status,
      notes: [],
      refusal: check({
        gate: "agent",
        rule: "state",
        status: "fail",
        subject,
        message: `the status says ${status.lastApplied.slice(0, 12)} was applied last, but the audit log records ${logged.commit.slice(0, 12)} (${logged.where}): the status was altered outside the agent; ${restore(logged.commit)}`,
        code: "status-altered",
      }),
    };
  }
  return { state: { lastApplied: logged.commit, lastAppliedAt: logged.since }, notes: [] };
}

/**
 * Without an audit log: a status that is gone while the inventory remains, or while the agent's state
 * key records that the environment has applied, was deleted, not never written.
 */
export function judgeMissingStatus(environment: string, inventoryExists: boolean, key?: StateKey): Check | undefined {
  if (inventoryExists) {
    return check({
      gate: "agent",
      rule: "state",
      status: "fail",
      subject: `status of ${environment}`,
      message:
        `the status ConfigMap is gone but ${environment}'s inventory is not: the status was deleted outside the agent, and the last applied revision (the revision gate's starting point) is lost. ` +
        "Restore the status the agent wrote (or configure the audit log, which keeps the history)",
      code: "status-deleted",
    });
  }
  if (key?.applied?.has(environment)) {
    return check({
      gate: "agent",
      rule: "state",
      status: "fail",
      subject: `status of ${environment}`,
      message:
        `the status and the inventory of ${environment} are gone, but the agent's state key (${key.source}) records that ${environment} has applied: they were deleted outside the agent, and history does not restart. ` +
        "Restore them as the agent wrote them; to start the environment over on purpose, remove it from that Secret's vigil.dev/applied-environments annotation",
      code: "state-deleted",
    });
  }
  return undefined;
}

/**
 * The status and inventory against the agent's state key (state-key.ts). A status whose MAC does not
 * verify was patched, rewritten or copied outside the agent; an inventory whose MAC does not verify
 * was rewritten (its hashes could hide an edit, its list decides pruning). Either blocks, unless the
 * key was made by this start and the state carries no MAC at all: written before states were signed,
 * taken as it is once.
 */
export function judgeStateByKey(
  environment: string,
  status: EnvironmentState,
  key: StateKey,
  inventoryDistrust: string | undefined,
): StateJudgement {
  const subject = `status of ${environment}`;
  const firstUse = key.firstUse.has(environment);
  const notes: Check[] = [];
  if (!status.missing && !macMatches(status.stateMac, key.status(environment, status.lastApplied, status.lastAppliedAtText))) {
    if (!(firstUse && status.stateMac === undefined)) {
      const what = status.stateMac === undefined ? "carries no MAC" : "has a MAC that does not verify";
      return {
        state: status,
        notes,
        refusal: check({
          gate: "agent",
          rule: "state",
          status: "fail",
          subject,
          message: `the status ConfigMap ${what} under the agent's state key (${key.source})${status.lastApplied ? ` for lastApplied ${status.lastApplied.slice(0, 12)}` : ""}: it was patched or rewritten outside the agent, and the last applied revision (the revision gate's starting point) cannot be trusted. Put back the status the agent wrote, once you know who changed it`,
          code: "status-mac-invalid",
        }),
      };
    }
    notes.push(
      check({
        gate: "agent",
        rule: "state",
        status: "warn",
        subject,
        message: `the status carries no MAC: written before the agent's state key (${key.source}) was made; taken as it is, once`,
        code: "status-unauthenticated",
      }),
    );
  }
  if (inventoryDistrust) {
    if (!firstUse)
      return {
        state: status,
        notes,
        refusal: check({
          gate: "agent",
          rule: "state",
          status: "fail",
          subject: `inventory of ${environment}`,
          message: `${inventoryDistrust.replace(/: it was written outside the agent.*$/, "")}: it was rewritten outside the agent, and what it lists decides pruning. Delete it once you know who wrote it (the next sync then prunes nothing and records the set again)`,
          code: "inventory-mac-invalid",
        }),
      };
    notes.push(
      check({
        gate: "agent",
        rule: "state",
        status: "warn",
        subject: `inventory of ${environment}`,
        message: `the inventory carries no valid MAC: written before the agent's state key (${key.source}) was made; taken once`,
        code: "inventory-unauthenticated",
      }),
    );
  }
  return { state: status, notes };
}
