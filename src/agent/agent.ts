// The agent: loads its configuration and trust, then reconciles every environment once (--once) or on
// its interval until stopped. Environments are independent: one that is blocked or unreachable does
// not hold up another. In loop mode only the replica that holds the Lease reconciles (leader.ts); the
// others wait, and take over when it stops or stops renewing.
import { hostname } from "node:os";
import { randomBytes } from "node:crypto";
import { loadTrustPolicyFile } from "../trust/policy.ts";
import { ExitCode, InputError } from "../core/errors.ts";
import { readInputText } from "../core/input-file.ts";
import { check, makeVerdict } from "../core/verdict.ts";
import { redactCredentials } from "../core/redact.ts";
import { RegistryClient, type HostOptions } from "../oci/index.ts";
import { loadTrustedRootFile } from "../trust/trusted-root.ts";
import { redactUrl } from "../audit/store.ts";
import { AgentAudit, configMapKeeper } from "./audit.ts";
import { loadAgentConfig, type AgentConfig } from "./config.ts";
import { parseDuration } from "../core/duration.ts";
import { connectEnvironments, readEnvironmentState, type EnvironmentClusters } from "./deploy.ts";
import { MonitorHook } from "./monitor-hook.ts";
import { loadStateKeySecret, stateKeyFromAuditKey, type StateKey } from "./state-key.ts";
import { LeaderElector } from "./leader.ts";
import { AgentMetrics } from "./metrics.ts";
import { recordTrigger, TriggerWatch } from "./triggers.ts";
import { startWebhook, type Webhook } from "./webhook.ts";
import { sharedDeliveryLog } from "./deliveries.ts";
import { reconcileEnvironment, type ReconcileResult } from "./reconcile.ts";
import { forgetExpiredTokens } from "../admission/break-glass-ledger.ts";
import type { Cluster } from "../cluster/client.ts";

export interface AgentOptions {
  configFile: string;
  dryRun?: boolean;
  /** Environments allowed to prune past their prune limit (--allow-mass-prune). */
  allowMassPrune?: readonly string[];
  /** Called with each reconcile's result as it ends. */
  onResult(result: ReconcileResult): void;
  /** This replica's name in the Lease; default $POD_NAME, else the host name and a random suffix. */
  identity?: string;
  /** Called when this replica starts or stops leading, and with errors while keeping the Lease. */
  onLeader?(leading: boolean): void;
  onLeaseError?(error: unknown): void;
  /** Errors while watching for triggers recorded by other replicas (the watch reconnects by itself). */
  onTriggerError?(error: unknown): void;
  /** Forgetting the records of expired break-glass tokens failed (tried again an hour later). */
  onHousekeepingError?(error: unknown): void;
  /** An append to the audit log failed; the reconcile's verdict has a failing "audit" check too. */
  onAuditError?(environment: string, error: unknown): void;
  /**
   * For tests only, which have no pod: where in-cluster environments read the service account's token
   * and CA (default the kubelet's /var/run/secrets/kubernetes.io/serviceaccount), and how often the
   * token is read again (default 30 s). Not in the configuration file and not a CLI flag.
   */
  inCluster?: { serviceAccountDir?: string; credentialsRefreshMs?: number };
}

export interface RunningAgent {
  config: AgentConfig;
  /** Reconciles every environment once, concurrently; the results in configuration order. */
  reconcileAll(): Promise<ReconcileResult[]>;
  /** Reconciles on each environment's interval until stop(), while this replica holds the Lease. */
  loop(): Promise<void>;
  /** Whether this replica leads (false before loop() and with --once, which take no Lease). */
  readonly leading: boolean;
  /** Starts the webhook and metrics servers the configuration names (loop() does, if not done yet). */
  listen(): Promise<{ webhook?: string; metrics?: string }>;
  /** Reconciles the environment at once (loop mode, leader only); false for an unknown environment. */
  trigger(environment: string): boolean;
  /** This replica's name in the Lease. */
  readonly identity: string;
  /** Where reconciles are recorded (a database URL's password blanked), and whether healthy deploys get signed records; undefined: nowhere. */
  readonly audit: { log: string; deploymentRecords: boolean } | undefined;
  stop(): Promise<void>;
}

/** What the agent holds while it runs: its trust, its connections, its log, and what every reconcile shares. */
interface AgentResources {
  metricsToken: Buffer | undefined;
  registry: RegistryClient;
  clusters: EnvironmentClusters;
  /** The environment whose cluster keeps the Lease, the triggers and the audit log's kept checkpoint. */
  home: AgentConfig["doc"]["environments"][number];
  audit: AgentAudit | undefined;
  monitor: MonitorHook | undefined;
  /** What reconcileEnvironment is given for every environment. */
  shared: Omit<Parameters<typeof reconcileEnvironment>[1], "fence">;
}

export async function startAgent(options: AgentOptions): Promise<RunningAgent> {
  const loaded = loadAgentConfig(options.configFile);
  const config = withDatabaseTimeouts(loaded);
  for (const name of options.allowMassPrune ?? []) {
    if (!config.intervals.has(name))
      throw new InputError(
        `--allow-mass-prune ${name}: no such environment in ${options.configFile} (configured: ${[...config.intervals.keys()].join(", ")})`,
      );
  }
  const { metricsToken, registry, clusters, home, audit, monitor, shared } = await openResources(config, options);
  const schedule = new Schedule(config.intervals);
  const metrics = new AgentMetrics([...config.intervals.keys()]);
  const running = new Map<string, Promise<ReconcileResult>>();
  let stopped = false;
  let stopping: Promise<void> | undefined;
  let elector: LeaderElector | undefined;
  const identity = options.identity ?? process.env.POD_NAME ?? `${hostname()}-${randomBytes(4).toString("hex")}`;
  // In loop mode with a webhook, triggers recorded by standby replicas (triggers.ts).
  let triggerWatch: TriggerWatch | undefined;
  let housekeeping: NodeJS.Timeout | undefined;
  let listening: Promise<{ webhook?: Webhook; metrics?: { url: string; close(): Promise<void> } }> | undefined;

  /** One reconcile of an environment at a time: a trigger while one runs joins it. */
  const reconcile = (name: string): Promise<ReconcileResult> => {
    const inFlight = running.get(name);
    if (inFlight) return inFlight;
    const env = config.doc.environments.find((e) => e.name === name)!;
    // In loop mode every write is fenced by the Lease: a replica that lost it, or was paused past its renew deadline, writes nothing.
    const fence = elector && (() => elector!.assertLeading());
    const done = reconcileEnvironment(env, { ...shared, ...(fence && { fence }) })
      .catch((e: unknown) => internalFailure(env.name, e))
      .finally(() => running.delete(name));
    running.set(name, done);
    return done.then((r) => {
      metrics.observe(r);
      options.onResult(r);
      return r;
    });
  };

  const trigger = (environment: string): boolean => schedule.trigger(environment);

  /**
   * A verified webhook: the leader reconciles at once; any other replica records the trigger where the
   * leader watches for it, since only the leader acts (if no one leads yet, whoever takes the Lease
   * reconciles every environment first anyway).
   */
  const onWebhook = async (environments: string[]): Promise<void> => {
    if (elector?.leading) {
      environments.forEach(trigger);
      return;
    }
    await recordTrigger(clusters.agent(home.name), config.doc.namespace, environments, identity);
  };

  const listen = () => {
    listening ??= (async () => {
      const hook = config.doc.webhook;
      const webhook =
        hook &&
        (await startWebhook({
          listen: hook.listen,
          secretFile: hook.secretFile,
          environments: [...config.intervals.keys()],
          trigger: onWebhook,
          deliveries: sharedDeliveryLog(clusters.agent(home.name), config.doc.namespace),
        }));
      const served = config.doc.metrics && (await metrics.serve(config.doc.metrics.listen, metricsToken));
      return { ...(webhook && { webhook }), ...(served && { metrics: served }) };
    })();
    return listening;
  };

  return {
    config,
    get leading() {
      return elector?.leading ?? false;
    },
    identity,
    // Shown as configured (its password blanked), without the timeouts the agent added.
    audit: audit && { log: redactUrl(loaded.doc.audit!.log), deploymentRecords: audit.signsDeployments },
    reconcileAll: () => Promise.all(config.doc.environments.map((e) => reconcile(e.name))),
    trigger,
    async listen() {
      const servers = await listen();
      return { ...(servers.webhook && { webhook: servers.webhook.url }), ...(servers.metrics && { metrics: servers.metrics.url }) };
    },
    async loop() {
      if (config.doc.webhook) {
        // Every replica watches from its start, standbys too, and before its first reconcile: so no
        // trigger falls between a new leader's first fetch and its first look at the ConfigMap.
        triggerWatch = new TriggerWatch({
          cluster: clusters.agent(home.name),
          namespace: config.doc.namespace,
          onTrigger: (environments) => environments.forEach(trigger),
          ...(options.onTriggerError && { onError: options.onTriggerError }),
        });
        triggerWatch.start();
        await triggerWatch.ready;
      }
      await listen();
      elector = new LeaderElector({
        cluster: clusters.agent(home.name),
        namespace: config.doc.namespace,
        identity,
        leaseDurationSeconds: config.leaseDurationSeconds,
        onChange: (leading) => {
          // Losing the Lease ends every wait, so each environment goes back to waiting for it.
          if (!leading) schedule.wakeAll();
          metrics.setLeader(leading);
          options.onLeader?.(leading);
        },
        ...(options.onLeaseError && { onError: options.onLeaseError }),
      });
      elector.start();
      housekeeping = keepHouse(
        () => elector?.leading === true,
        clusters.agent(home.name),
        config.doc.namespace,
        options.onHousekeepingError,
      );
      // monitor.config: the monitor runs here too, its leader elected among the replicas on the Lease vigil-monitor.
      monitor?.startMonitor({
        cluster: clusters.agent(home.name),
        namespace: config.doc.namespace,
        leaseDurationSeconds: config.leaseDurationSeconds,
        identity,
      });
      const lease = elector;
      await Promise.all(
        config.doc.environments.map(async (env) => {
          /** Reconciles in a row that found a dependency unreachable: the next try backs off. */
          let unavailable = 0;
          while (!stopped) {
            // Checked before every reconcile, with the renew deadline: not only after a failed renewal.
            if (!lease.leading) {
              // A trigger that came while another replica led is that replica's to act on.
              await lease.waitForLeadership();
              schedule.clearTrigger(env.name);
              continue;
            }
            schedule.clearTrigger(env.name);
            const result = await reconcile(env.name);
            unavailable = result.exitCode === ExitCode.unavailable ? unavailable + 1 : 0;
            if (stopped || !lease.leading) continue;
            if (schedule.isTriggered(env.name)) continue;
            await schedule.wait(env.name, nextWait(config.intervals.get(env.name)!, unavailable));
          }
        }),
      );
    },
    stop() {
      stopping ??= (async () => {
        stopped = true;
        clearInterval(housekeeping);
        schedule.wakeAll();
        await Promise.allSettled(running.values());
        await monitor?.stopMonitor();
        // Step down only after the last reconcile ended, so the next leader never overlaps it.
        await elector?.stop();
        await triggerWatch?.stop();
        const servers = await listening?.catch(() => undefined);
        await Promise.all([
          registry.close(),
          clusters.close(),
          audit?.close(),
          monitor?.close(),
          servers?.webhook?.close(),
          servers?.metrics?.close(),
        ]);
      })();
      return stopping;
    },
  };
}

/**
 * Per environment, the wait between reconciles, which a trigger, stop or lost leadership ends early; and
 * the environments triggered while they were reconciling, which go again at once.
 */
class Schedule {
  readonly #intervals: ReadonlyMap<string, number>;
  readonly #waits = new Map<string, { timer: NodeJS.Timeout; wake: () => void }>();
  readonly #triggered = new Set<string>();

  constructor(intervals: ReadonlyMap<string, number>) {
    this.#intervals = intervals;
  }

  /** Reconcile the environment at once (or as soon as its reconcile ends); false for an unknown one. */
  trigger(environment: string): boolean {
    if (!this.#intervals.has(environment)) return false;
    this.#triggered.add(environment);
    const wait = this.#waits.get(environment);
    if (wait) {
      clearTimeout(wait.timer);
      this.#waits.delete(environment);
      wait.wake();
    }
    return true;
  }

  isTriggered(environment: string): boolean {
    return this.#triggered.has(environment);
  }

  clearTrigger(environment: string): void {
    this.#triggered.delete(environment);
  }

  /** Waits `ms`, unless woken first. */
  wait(environment: string, ms: number): Promise<void> {
    return new Promise<void>((wake) => {
      const timer = setTimeout(() => {
        this.#waits.delete(environment);
        wake();
      }, ms);
      this.#waits.set(environment, { timer, wake });
    });
  }

  wakeAll(): void {
    for (const { timer, wake } of this.#waits.values()) {
      clearTimeout(timer);
      wake();
    }
    this.#waits.clear();
  }
}

/**
 * The key the agent's state is kept under: derived from the audit log's signing key, else the agent's
 * own Secret, made at the first start (state-key.ts). A dry run without a Secret checks no MAC.
 */
async function agentStateKey(
  config: AgentConfig,
  clusters: EnvironmentClusters,
  home: string,
  dryRun: boolean,
): Promise<StateKey | undefined> {
  if (config.doc.audit) return stateKeyFromAuditKey(config.doc.audit.signingKeyFile);
  const namespace = config.doc.namespace;
  return await loadStateKeySecret({
    cluster: clusters.agent(home),
    namespace,
    environments: config.doc.environments.map((e) => e.name),
    dryRun,
    signedStatusExists: async () => {
      for (const env of config.doc.environments) {
        if ((await readEnvironmentState(clusters, env, config)).stateMac !== undefined) return true;
      }
      return false;
    },
  });
}

/**
 * The wait before an environment's next reconcile: its interval, or after reconciles that found a
 * dependency (cluster, registry, git server) unreachable, a backoff from 1 s doubling up to the
 * interval, so it reconciles soon after the dependency is back.
 */
export function nextWait(intervalMs: number, unavailableInARow: number): number {
  if (unavailableInARow === 0) return intervalMs;
  return Math.min(intervalMs, 1000 * 2 ** Math.min(unavailableInARow - 1, 20));
}

/** An error no step turned into a check: the environment's result says so, and its loop goes on. */
function internalFailure(environment: string, e: unknown): ReconcileResult {
  const message = redactCredentials(e instanceof Error ? e.message : String(e));
  const verdict = makeVerdict({ environment }, [
    check({
      gate: "agent",
      rule: "internal",
      status: "fail",
      subject: environment,
      message: `the reconcile stopped on an unexpected error: ${message}`,
      code: "internal-error",
    }),
  ]);
  return { environment, verdict, applied: false, health: "unknown", plan: [], exitCode: ExitCode.unavailable, seconds: 0, steps: {} };
}

/**
 * The audit log's PostgreSQL URL with the configured bound on every statement: the server ends a
 * statement (or a wait for a lock another writer holds) after it, and the client gives up on one that
 * gets no answer (node-postgres reads these parameters from the URL). A directory log is left alone.
 */
function withDatabaseTimeouts(config: AgentConfig): AgentConfig {
  const audit = config.doc.audit;
  if (!audit || !/^postgres(ql)?:\/\//i.test(audit.log)) return config;
  const ms = parseDuration(config.doc.timeouts.database ?? "15s", config.where(["timeouts", "database"]));
  const url = new URL(audit.log);
  for (const [name, value] of [
    ["statement_timeout", ms],
    ["lock_timeout", ms],
    ["query_timeout", ms + 1000],
    ["connectionTimeoutMillis", ms],
  ] as const) {
    if (!url.searchParams.has(name)) url.searchParams.set(name, String(value));
  }
  return { ...config, doc: { ...config.doc, audit: { ...audit, log: url.toString() } } };
}

/** Loads trust and connects to what the agent uses; on a failure, closes what was opened and throws. */
async function openResources(config: AgentConfig, options: AgentOptions): Promise<AgentResources> {
  const metricsToken = config.doc.metrics?.tokenFile
    ? Buffer.from(readInputText(config.doc.metrics.tokenFile, "the metrics token").trim())
    : undefined;
  if (metricsToken && metricsToken.length < 16)
    throw new InputError(`${config.doc.metrics!.tokenFile}: the metrics token is shorter than 16 characters; use a long random one`);
  const trust = await loadTrustPolicyFile(config.doc.trustPolicy);
  const trustedRoot = config.doc.trustedRoot ? loadTrustedRootFile(config.doc.trustedRoot) : undefined;
  const hosts: Record<string, HostOptions> = Object.fromEntries(config.doc.insecureRegistries.map((h) => [h, { scheme: "http" }]));
  const registry = new RegistryClient({ hosts });
  let clusters: EnvironmentClusters;
  try {
    clusters = await connectEnvironments(config, options.inCluster);
  } catch (e) {
    await registry.close();
    throw e;
  }
  // The Lease lives in the agent's namespace on the cluster the agent runs in (an in-cluster
  // environment's), else on the first environment's cluster; so does the audit log's kept checkpoint.
  const home = config.doc.environments.find((e) => "inCluster" in e.cluster) ?? config.doc.environments[0]!;
  let audit: AgentAudit | undefined;
  let stateKey: StateKey | undefined;
  let monitor: MonitorHook | undefined;
  try {
    stateKey = await agentStateKey(config, clusters, home.name, options.dryRun === true);
    const keeper = config.doc.audit && configMapKeeper(clusters.agent(home.name), config.doc.namespace, redactUrl(config.doc.audit.log));
    audit = await AgentAudit.open(config, trust, { dryRun: options.dryRun === true, ...(keeper && { keeper }) });
    if (config.doc.monitor && !options.dryRun) monitor = await MonitorHook.open(config.doc.monitor);
  } catch (e) {
    await Promise.all([clusters.close(), registry.close(), audit?.close()]);
    throw e;
  }
  const shared = {
    config,
    trust,
    ...(trustedRoot && { trustedRoot }),
    registry,
    clusters,
    ...(options.dryRun && { dryRun: true }),
    ...(audit && { audit }),
    ...(options.onAuditError && { onAuditError: options.onAuditError }),
    ...(options.allowMassPrune && { allowMassPrune: options.allowMassPrune }),
    ...(stateKey && { stateKey }),
    ...(monitor && { monitor }),
  };
  return { metricsToken, registry, clusters, home, audit, monitor, shared };
}

const HOUSEKEEPING_MS = 3_600_000;

/**
 * What the leader tidies in its namespace every hour: the records of break-glass tokens that expired a
 * day ago (src/admission/break-glass-ledger.ts). The webhook may only create ConfigMaps there, so that
 * it can neither read nor remove the agent's; the agent, which may, removes them.
 */
function keepHouse(leading: () => boolean, cluster: Cluster, namespace: string, onError?: (e: unknown) => void): NodeJS.Timeout {
  const timer = setInterval(() => {
    if (leading()) forgetExpiredTokens(cluster, namespace, new Date()).catch((e: unknown) => onError?.(e));
  }, HOUSEKEEPING_MS);
  timer.unref();
  return timer;
}
