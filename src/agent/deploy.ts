// The agent's side of the cluster: one connection per environment that acts as the environment's
// ServiceAccount (so its RBAC bounds what the environment can change), one as the agent itself for its
// status; the set applied through src/cluster, the outcome as checks; and the environment's state
// (last revision applied, verdict, health) kept in a status ConfigMap that the next reconcile reads.
import { check, type Check } from "../core/verdict.ts";
import { ExitCode } from "../core/errors.ts";
import {
  assessHealth,
  claimingManager,
  connectCluster,
  ENVIRONMENT_LABEL,
  KubeApiError,
  type ConnectOptions,
  formatChanges,
  recordEvent,
  syncSet,
  SyncRefused,
  writeStatusObject,
  type Cluster,
  type ObjectResult,
  type SyncResult,
} from "../cluster/index.ts";
import { describeRef, type SourcedObject } from "../manifest/manifests.ts";
import { REFUSAL_CODES, type SyncOptions } from "../cluster/sync.ts";
import { inventoryMac, readInventory } from "../cluster/inventory.ts";
import { STATUS_MAC_FIELD, type StateKey } from "./state-key.ts";
import type { AgentConfig } from "./config.ts";
import type { EnvironmentConfig } from "../api/agent-config.ts";
import { parseDuration } from "../core/duration.ts";
import type { ReconcileResult } from "./reconcile.ts";

export type HealthState = "healthy" | "progressing" | "degraded" | "unknown";

export interface EnvironmentClusters {
  /** As the environment's ServiceAccount (or the kubeconfig's user when none is named): applies. */
  apply(env: string): Cluster;
  /** As the agent itself: its status, events and inventories. */
  agent(env: string): Cluster;
  close(): Promise<void>;
}

/**
 * Connects every environment's cluster; nothing is sent until the first reconcile. `inCluster` changes
 * how in-cluster environments connect (tests point it at a folder of service account files).
 */
export async function connectEnvironments(
  config: AgentConfig,
  inCluster: Pick<ConnectOptions, "serviceAccountDir" | "credentialsRefreshMs"> = {},
): Promise<EnvironmentClusters> {
  const apply = new Map<string, Cluster>();
  const agent = new Map<string, Cluster>();
  for (const env of config.doc.environments) {
    const requestMs = parseDuration(config.doc.timeouts.apiServer ?? "30s", config.where(["timeouts", "apiServer"]));
    const bounds = { timeouts: { requestMs }, retry: { deadlineMs: requestMs } };
    const target: ConnectOptions =
      "inCluster" in env.cluster
        ? { inCluster: true, ...inCluster, ...bounds }
        : { kubeconfig: env.cluster.kubeconfig, ...(env.cluster.context && { context: env.cluster.context }), ...bounds };
    agent.set(env.name, await connectCluster(target));
    const [namespace, name] = env.serviceAccount?.split("/") ?? [];
    apply.set(
      env.name,
      env.serviceAccount
        ? await connectCluster({ ...target, impersonate: `system:serviceaccount:${namespace}:${name}` })
        : agent.get(env.name)!,
    );
  }
  return {
    apply: (env) => apply.get(env)!,
    agent: (env) => agent.get(env)!,
    close: async () => {
      await Promise.all([...new Set([...apply.values(), ...agent.values()])].map((c) => c.close()));
    },
  };
}

const statusName = (env: string) => `vigil-status-${env}`;
const inventoryName = (env: string) => `vigil-inventory-${env}`;
/**
 * Each environment applies under a field manager of its own, so that two environments in one cluster
 * never silently share an object: the second one's apply conflicts over the environment label (and
 * syncSet never forces that), instead of taking the object over as the same manager would.
 */
export const fieldManagerOf = (env: string) => `vigil-${env}`;

export interface EnvironmentState {
  /** The last revision the whole set was applied at. */
  lastApplied?: string;
  /** When that revision was first applied (a deployment record's deployedAt); unknown in statuses written before it was kept. */
  lastAppliedAt?: Date;
  /** The status ConfigMap does not exist. */
  missing?: boolean;
  /** The status's HMAC under the agent's state key, and the text of lastAppliedAt it covers (state-key.ts). */
  stateMac?: string;
  lastAppliedAtText?: string;
}

/** The environment's state from its status ConfigMap; an environment never reconciled has none. */
export async function readEnvironmentState(
  clusters: EnvironmentClusters,
  env: EnvironmentConfig,
  config: AgentConfig,
): Promise<EnvironmentState> {
  const cluster = clusters.agent(env.name);
  const answer = await cluster.call({
    verb: "get",
    method: "GET",
    path: `/api/v1/namespaces/${config.doc.namespace}/configmaps/${statusName(env.name)}`,
  });
  if (answer.status === 404) return { missing: true };
  if (answer.status !== 200) {
    // Without the last applied revision the revision gate could not refuse a rollback: no reconcile.
    throw new KubeApiError(
      `cannot read ${env.name}'s status ConfigMap ${config.doc.namespace}/${statusName(env.name)} (${answer.status}); the agent needs get on it`,
      answer.status,
      undefined,
      ExitCode.unavailable,
    );
  }
  const { lastApplied, lastAppliedAt, [STATUS_MAC_FIELD]: stateMac } = answer.body?.data ?? {};
  const signed = {
    ...(typeof stateMac === "string" && { stateMac }),
    ...(typeof lastAppliedAt === "string" && { lastAppliedAtText: lastAppliedAt }),
  };
  if (typeof lastApplied !== "string" || !/^[0-9a-f]{40,64}$/.test(lastApplied)) return signed;
  const at = typeof lastAppliedAt === "string" ? new Date(lastAppliedAt) : undefined;
  return { lastApplied, ...(at && !Number.isNaN(at.getTime()) && { lastAppliedAt: at }), ...signed };
}

/** Why the environment's inventory cannot be trusted (its MAC under the agent's key does not verify), or undefined. */
export async function inventoryDistrust(
  clusters: EnvironmentClusters,
  env: EnvironmentConfig,
  config: AgentConfig,
  key: Buffer,
): Promise<string | undefined> {
  const inventory = await readInventory(
    clusters.agent(env.name),
    { namespace: config.doc.namespace, name: inventoryName(env.name) },
    env.name,
    inventoryMac(key),
  );
  return inventory.untrusted;
}

/** Whether the environment's inventory ConfigMap exists (it has applied before). */
export async function inventoryExists(clusters: EnvironmentClusters, env: EnvironmentConfig, config: AgentConfig): Promise<boolean> {
  const answer = await clusters
    .agent(env.name)
    .call({ verb: "get", method: "GET", path: `/api/v1/namespaces/${config.doc.namespace}/configmaps/${inventoryName(env.name)}` });
  if (answer.status === 404) return false;
  if (answer.status === 200) return true;
  throw new KubeApiError(
    `cannot read ${env.name}'s inventory ConfigMap ${config.doc.namespace}/${inventoryName(env.name)} (${answer.status})`,
    answer.status,
    undefined,
    ExitCode.unavailable,
  );
}

export interface Applied {
  checks: Check[];
  health: HealthState;
  /** What changed (or, in a dry run, would): one line per change. */
  plan: string[];
  /** src/cluster's result, when the set was synced (not when it was refused before any write): what the audit log records. */
  sync?: SyncResult;
}

/**
 * Applies the verified set, or plans it in a dry run; the outcome as checks of the "apply" gate.
 * `seconds` receives the time of the apply and of the health assessment.
 */
/** The options an environment's sets are synced with, but for dryRun and beforeWrite: the apply's, and the server-side dry run's before it. */
export function syncOptionsFor(
  clusters: EnvironmentClusters,
  env: EnvironmentConfig,
  config: AgentConfig,
  options: { pruneLimit?: { count: number; fraction: number }; allowMassPrune?: boolean; inventoryKey?: Buffer },
): Omit<SyncOptions, "dryRun" | "beforeWrite"> {
  return {
    environment: env.name,
    inventory: { namespace: config.doc.namespace, name: inventoryName(env.name) },
    inventoryCluster: clusters.agent(env.name),
    fieldManager: fieldManagerOf(env.name),
    // Every other environment, whichever cluster it names: a Namespace is left in place rather than risk another's objects.
    otherEnvironments: config.doc.environments.filter((e) => e.name !== env.name).map((e) => ({ name: e.name, namespaces: e.namespaces })),
    allowedNamespaces: env.namespaces,
    allowClusterScoped: env.allowClusterScoped,
    force: env.force,
    drift: env.drift,
    prune: env.prune,
    ...(options.pruneLimit && { pruneLimit: options.pruneLimit }),
    ...(options.allowMassPrune && { allowMassPrune: true }),
    ...(options.inventoryKey && { inventoryKey: options.inventoryKey }),
  };
}

export async function applyCandidate(
  clusters: EnvironmentClusters,
  env: EnvironmentConfig,
  config: AgentConfig,
  objects: SourcedObject[],
  options: {
    dryRun: boolean;
    seconds?: Record<string, number>;
    pruneLimit?: { count: number; fraction: number };
    allowMassPrune?: boolean;
    beforeWrite?: () => void;
    inventoryKey?: Buffer;
  },
): Promise<Applied> {
  const cluster = clusters.apply(env.name);
  const seconds = options.seconds ?? {};
  let started = performance.now();
  let result: SyncResult;
  try {
    result = await syncSet(cluster, objects, {
      ...syncOptionsFor(clusters, env, config, options),
      ...(options.beforeWrite && { beforeWrite: options.beforeWrite }),
      dryRun: options.dryRun,
    });
  } catch (e) {
    if (!(e instanceof SyncRefused)) throw e;
    const checks = e.refusals.map((r) => ({
      ...check({ gate: "apply", rule: r.rule, status: "fail", subject: r.object, message: r.reason, code: REFUSAL_CODES[r.rule] }),
      ...(r.file && { location: { file: r.file, line: r.line ?? 1 } }),
    }));
    return { checks, health: "unknown", plan: [] };
  } finally {
    seconds.apply = (performance.now() - started) / 1000;
  }
  const checks = syncChecks(result, env);
  // A person lifted the limit for this run: the verdict (and so the audit log) says so.
  if (options.allowMassPrune)
    checks.push(
      check({
        gate: "apply",
        rule: "prune-limit",
        status: "warn",
        subject: env.name,
        message: "the prune limit is lifted for this run (vigil agent --allow-mass-prune)",
        code: "prune-limit-lifted",
      }),
    );
  if (options.dryRun || !result.complete) return { checks, health: "unknown", plan: planLines(result), sync: result };
  started = performance.now();
  // Objects the environment's account may not touch are reported already; their health is not its to read.
  const health = await assessHealth(
    cluster,
    objects.filter((_, i) => result.objects[i]?.action !== "forbidden"),
    { environment: env.name },
  );
  seconds.health = (performance.now() - started) / 1000;
  for (const r of health.resources)
    if (r.state !== "healthy")
      checks.push(
        check({ gate: "health", rule: r.state, status: "warn", subject: describeRef(r.object), message: r.message, code: "not-healthy" }),
      );
  return { checks, health: health.state, plan: planLines(result), sync: result };
}

/** The actions summed up in the "applied" check, in the words it uses. */
const APPLIED_WORDS: Partial<Record<ObjectResult["action"], string>> = {
  create: "created",
  update: "updated",
  unchanged: "unchanged",
  prune: "pruned",
};

/** Failures and drift one check each; what applied cleanly is summed up in one. */
function syncChecks(result: SyncResult, env: EnvironmentConfig): Check[] {
  const checks: Check[] = [];
  const counts = new Map<string, number>();
  for (const r of result.objects) {
    const subject = describeRef(r.object);
    const at = r.object.file ? { location: { file: r.object.file, line: r.object.line ?? 1 } } : {};
    counts.set(r.action, (counts.get(r.action) ?? 0) + 1);
    if (r.action === "rejected")
      checks.push({
        ...check({
          gate: "apply",
          rule: "accepted",
          status: "fail",
          subject,
          message: `the API server refused it: ${r.message ?? "no reason given"}`,
          code: "api-server-rejected",
        }),
        ...at,
      });
    if (r.action === "conflict" && r.managers)
      checks.push({
        ...check({
          gate: "apply",
          rule: "conflict",
          status: "fail",
          subject,
          message: r.message ?? "someone else made it",
          code: r.claimedBy !== undefined ? "owned-by-other-environment" : "not-adopted",
        }),
        ...at,
      });
    else if (r.action === "conflict") {
      const owner = claimingManager(r.conflicts ?? []);
      const what = owner
        ? `it belongs to another environment: ${owner} set its ${ENVIRONMENT_LABEL} label; not applied, even with force: define it in one environment only`
        : `${conflictText(r)}; change it in Git, or set force: true for ${env.name} to take the fields over`;
      checks.push({
        ...check({
          gate: "apply",
          rule: "conflict",
          status: "fail",
          subject,
          message: what,
          code: owner ? "owned-by-other-environment" : "field-conflict",
        }),
        ...at,
      });
    }
    if (r.action === "drift") {
      const what = formatChanges(r.changes ?? []).join("; ") || "fields Vigil manages";
      checks.push({
        ...check({
          gate: "apply",
          rule: "drift",
          status: r.restored ? "pass" : "warn",
          subject,
          message: `${r.restored ? "restored" : "changed in the cluster, not restored (drift: report)"}: ${what}`,
          code: r.restored ? "drift-restored" : "drift-reported",
        }),
        ...at,
      });
    }
    if (r.action === "orphan")
      checks.push(
        check({
          gate: "apply",
          rule: "prune",
          status: "warn",
          subject,
          message: r.message ?? "removed from Git but left in place",
          code: "prune-skipped",
        }),
      );
    // Reported, not a failure: one object the account may not touch must not hold the rest of the revision back.
    if (r.action === "forbidden")
      checks.push({
        ...check({
          gate: "apply",
          rule: "forbidden",
          status: "warn",
          subject,
          message: `${r.message ?? "forbidden"}; not in the inventory's claims: grant the environment's ServiceAccount access, or remove it from Git`,
          code: "forbidden",
        }),
        ...at,
      });
    if (r.adopted)
      checks.push({
        ...check({
          gate: "apply",
          rule: "adopt",
          status: "pass",
          subject,
          message: `adopted on purpose (annotation vigil.dev/adopt=${env.name} on the live object); environment ${env.name} never prunes it`,
          code: "adopted",
        }),
        ...at,
      });
  }
  if (result.inventoryUntrusted)
    checks.push(
      check({
        gate: "apply",
        rule: "inventory",
        status: "warn",
        subject: env.name,
        message: result.inventoryUntrusted,
        code: "inventory-untrusted",
      }),
    );
  if (result.pruneBlocked)
    checks.push(
      check({
        gate: "apply",
        rule: "prune-limit",
        status: "fail",
        subject: env.name,
        message: result.pruneBlocked,
        code: "prune-limit-exceeded",
      }),
    );
  else if (result.pruneSkipped)
    checks.push(
      check({ gate: "apply", rule: "prune", status: "warn", subject: env.name, message: result.pruneSkipped, code: "prune-skipped" }),
    );
  const summary = Object.entries(APPLIED_WORDS)
    .filter(([a]) => counts.get(a))
    .map(([a, word]) => `${counts.get(a)} ${word}`)
    .join(", ");
  if (summary)
    checks.push(
      check({
        gate: "apply",
        rule: "applied",
        status: "pass",
        subject: env.name,
        message: `${result.dryRun ? "would be " : ""}${summary} (${result.requests.total} API requests)`,
        code: "applied",
      }),
    );
  return checks;
}

function conflictText(r: ObjectResult): string {
  const byManager = new Map<string, string[]>();
  for (const c of r.conflicts ?? []) byManager.set(c.manager, [...(byManager.get(c.manager) ?? []), c.field]);
  const parts = [...byManager].map(([manager, fields]) => `${manager} owns ${fields.join(", ")}`);
  return parts.length > 0
    ? `another field manager owns fields the set sets: ${parts.join("; ")}`
    : (r.message ?? "conflict with another field manager");
}

function planLines(result: SyncResult): string[] {
  return result.objects
    .filter((r) => r.action !== "unchanged")
    .flatMap((r) => [`${r.action} ${describeRef(r.object)}`, ...formatChanges(r.changes ?? []).map((line) => `    ${line}`)]);
}

/** Writes the environment's status and an Event on it. The last good revision only moves when the set applied. */
export async function recordOutcome(
  clusters: EnvironmentClusters,
  env: EnvironmentConfig,
  config: AgentConfig,
  result: ReconcileResult,
  before: EnvironmentState,
  stateKey?: StateKey,
): Promise<void> {
  const cluster = clusters.agent(env.name);
  const lastApplied = result.applied && result.revision ? result.revision : before.lastApplied;
  // The time a revision was first applied stays while later reconciles find it in place.
  const lastAppliedAt = lastApplied === before.lastApplied ? before.lastAppliedAt : new Date();
  const lastAppliedAtText = lastApplied && lastAppliedAt ? lastAppliedAt.toISOString() : undefined;
  const firstFailure = result.verdict.checks.find((c) => c.status === "fail");
  await writeStatusObject(cluster, {
    namespace: config.doc.namespace,
    name: statusName(env.name),
    environment: env.name,
    data: {
      verdict: result.verdict.verdict,
      health: result.health,
      ...(lastApplied && { lastApplied }),
      ...(lastAppliedAtText && { lastAppliedAt: lastAppliedAtText }),
      // Signed, so that a status patched or rewritten behind the agent's back is found (state-key.ts).
      ...(stateKey && { [STATUS_MAC_FIELD]: stateKey.status(env.name, lastApplied, lastAppliedAtText) }),
      ...(result.revision && { lastAttempted: result.revision }),
      message: firstFailure
        ? `${firstFailure.gate}: ${firstFailure.subject}: ${firstFailure.message}`
        : result.applied
          ? "applied"
          : "unchanged",
      reconciledAt: new Date().toISOString(),
    },
  });
  await recordReconcileEvent(clusters, env, config, result);
}

/** The reconcile's outcome as an Event on the environment's status: alone when the status may not be written (its state was refused). */
export async function recordReconcileEvent(
  clusters: EnvironmentClusters,
  env: EnvironmentConfig,
  config: AgentConfig,
  result: ReconcileResult,
): Promise<void> {
  const firstFailure = result.verdict.checks.find((c) => c.status === "fail");
  await recordEvent(clusters.agent(env.name), {
    namespace: config.doc.namespace,
    involvedObject: { apiVersion: "v1", kind: "ConfigMap", name: statusName(env.name), namespace: config.doc.namespace },
    reason: firstFailure
      ? firstFailure.gate === "agent"
        ? firstFailure.rule === "state"
          ? "StateRefused"
          : "ReconcileUnavailable"
        : `${capitalize(firstFailure.gate)}Blocked`
      : "ReconcileSucceeded",
    type: firstFailure ? "Warning" : "Normal",
    message: firstFailure
      ? `${result.revision?.slice(0, 12) ?? "?"}: ${firstFailure.subject}: ${firstFailure.message}`
      : `${result.revision?.slice(0, 12)} applied; health ${result.health}`,
  });
}

function capitalize(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}
