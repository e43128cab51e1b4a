// The monitor as a service (docs/monitor.md): what `vigil monitor --config FILE` runs, and what the
// agent runs in its own process when its configuration names a monitor configuration. It opens the
// stores and sinks the configuration names, waits for the Lease vigil-monitor when one is given
// (several monitors, or several agent replicas, on one inventory elect one leader, so nothing is
// announced twice), judges the inventory and does the first round of every trigger; then it watches
// the feed folders, the VEX documents, the trust policy and the policy folders, and polls the
// clusters' Pods, the repository and the shared stores on their intervals, until stopped or the Lease
// is lost.
import { watch } from "node:fs";
import { createServer, type Server } from "node:http";
import { openAuditLog } from "../audit/index.ts";
import type { AuditLog } from "../audit/log.ts";
import { connectCluster } from "../cluster/client.ts";
import type { Cluster } from "../cluster/index.ts";
import { parseDuration } from "../core/duration.ts";
import { InputError } from "../core/errors.ts";
import { readWebhookSecret } from "../core/webhook-signature.ts";
import { openRepo } from "../git/repo.ts";
import { eventsSink, runningContainers } from "../monitor/cluster.ts";
import type { MonitorConfig } from "../monitor/config.ts";
import { openInventory, type InventoryStore } from "../monitor/inventory.ts";
import { Monitor, type Sink } from "../monitor/monitor.ts";
import { auditSink, findingMetrics, jsonLinesSink, webhookSink } from "../monitor/sinks.ts";
import { loadPolicyInput } from "../policy/parallel.ts";
import { loadTrustPolicyFile } from "../trust/policy.ts";
import { loadVex, openStore } from "../vuln/index.ts";
import type { AdvisoryStore } from "../vuln/store.ts";
import { LeaderElector, LeaseLost } from "./leader.ts";

/** Changes come in bursts (a feed sync writes many files, an editor several times): wait this long after the last. */
const SETTLE_MS = 200;
/** The Lease's name: the agent's replicas hold vigil-agent, the monitors this one. */
export const MONITOR_LEASE = "vigil-monitor";

/** Where the monitors on one inventory elect their leader. */
export interface MonitorLease {
  cluster: Cluster;
  namespace: string;
  leaseDurationSeconds: number;
  /** This process's name in the Lease. */
  identity: string;
}

/**
 * The Lease a monitor configuration's leaderElection names (its own kubeconfig or in-cluster account):
 * connected, with a close() for the connection.
 */
export async function connectMonitorLease(
  election: NonNullable<MonitorConfig["leaderElection"]>,
  identity: string,
): Promise<{ lease: MonitorLease; close(): void }> {
  const cluster = await connectCluster(
    election.inCluster ? { inCluster: true } : { kubeconfig: election.kubeconfig!, ...(election.context && { context: election.context }) },
  );
  return {
    lease: {
      cluster,
      namespace: election.namespace,
      leaseDurationSeconds: Math.ceil(parseDuration(election.leaseDuration, "leaderElection.leaseDuration") / 1000),
      identity,
    },
    close: () => cluster.close(),
  };
}

export interface MonitorServiceOptions {
  /** Where each change's JSON line goes (vigil monitor: stdout). */
  output: NodeJS.WritableStream;
  /** Warnings and progress: a failed poll, a failing webhook receiver, the Lease. */
  warn(message: string): void;
  /** Elect a leader here; without it this monitor writes and emits alone. */
  lease?: MonitorLease;
}

interface WatchedCluster {
  environment: string;
  namespaces?: string[];
  cluster: Cluster;
  intervalMs: number;
}

/** What a service holds across its runs. */
interface Opened {
  inventory: InventoryStore;
  advisories?: AdvisoryStore;
  clusters: WatchedCluster[];
}

/** Stores, connections and sinks, kept across runs; one run at a time (a run ends on stop() or a lost Lease). */
export class MonitorService {
  readonly #config: MonitorConfig;
  readonly #options: MonitorServiceOptions;
  readonly #opened: Opened & { advisories: AdvisoryStore };
  readonly #sinks: Sink[];
  readonly #elector: LeaderElector | undefined;
  /** The current run: ends it (stop, or the Lease lost) and looks at the shared stores at once. */
  #run: { end(error?: Error): void; refresh(): void } | undefined;
  #stopped = false;

  private constructor(config: MonitorConfig, options: MonitorServiceOptions, opened: Opened & { advisories: AdvisoryStore }) {
    this.#config = config;
    this.#options = options;
    this.#opened = opened;
    const webhook =
      config.webhook &&
      webhookSink({
        url: config.webhook.url,
        secret: readWebhookSecret(config.webhook.secretFile),
        ...(config.webhook.slack && { slack: true }),
        onError: options.warn,
      });
    this.#sinks = [
      jsonLinesSink(options.output),
      ...opened.clusters.map((c) => eventsSink(c.cluster, c.environment)),
      ...(webhook ? [webhook] : []),
    ];
    const lease = options.lease;
    this.#elector =
      lease &&
      new LeaderElector({
        cluster: lease.cluster,
        namespace: lease.namespace,
        name: MONITOR_LEASE,
        identity: lease.identity,
        leaseDurationSeconds: lease.leaseDurationSeconds,
        onChange: (leading) => {
          if (leading) options.warn(`${lease.identity} holds the Lease ${lease.namespace}/${MONITOR_LEASE}`);
          else this.#run?.end(new LeaseLost(`${lease.identity} lost the Lease ${lease.namespace}/${MONITOR_LEASE}: another monitor leads`));
        },
        onError: (e) => options.warn(`Lease: ${(e as Error).message}`),
      });
    this.#elector?.start();
  }

  /** Opens the inventory, the advisory database and the clusters the configuration names (the audit log: each run, as leader). */
  static async open(config: MonitorConfig, options: MonitorServiceOptions): Promise<MonitorService> {
    const opened: Opened = { inventory: await openInventory(config.inventory), clusters: [] };
    try {
      opened.advisories = await openStore(config.database, { create: true });
      for (const c of config.clusters)
        opened.clusters.push({
          environment: c.environment,
          ...(c.namespaces && { namespaces: c.namespaces }),
          cluster: await connectCluster(
            c.inCluster ? { inCluster: true } : { kubeconfig: c.kubeconfig!, ...(c.context && { context: c.context }) },
          ),
          intervalMs: parseDuration(c.interval, `clusters ${c.environment} interval`),
        });
      return new MonitorService(config, options, { ...opened, advisories: opened.advisories });
    } catch (e) {
      await closeOpened(opened);
      throw e;
    }
  }

  /**
   * One run: waits for the Lease (if any), loads and judges the inventory, does the first round of every
   * trigger. With `once`, returns then: 1 when an open finding is not suppressed, else 0. Otherwise runs
   * until stop() (returns 0) or the Lease is lost (throws LeaseLost: exit 3, or in the agent, run again).
   */
  async run(options: { once?: boolean } = {}): Promise<number> {
    if (this.#run) throw new Error("the monitor service is running already");
    let ended: ((error?: Error) => void) | undefined;
    const end = new Promise<void>((resolve, reject) => (ended = (error) => (error ? reject(error) : resolve())));
    end.catch(() => {});
    const run = { end: (error?: Error) => ended!(error), refresh: () => {} };
    this.#run = run;
    const timers: NodeJS.Timeout[] = [];
    let watching: { stop(): void } | undefined;
    let metrics: Server | undefined;
    let log: AuditLog | undefined;
    try {
      if (this.#elector) {
        const leading = this.#elector.waitForLeadership();
        this.#options.warn(`${this.#options.lease!.identity} waiting for the Lease ${this.#options.lease!.namespace}/${MONITOR_LEASE}`);
        await Promise.race([leading, end]);
        if (this.#stopped) return 0;
      }
      const elector = this.#elector;
      const { inventory, advisories, clusters } = this.#opened;
      const config = this.#config;
      const loadAllVex = () => config.vex.flatMap((file, i) => loadVex(file, i * 1_000_000));
      // Opened as leader: an embedded log has one writer, and a standby writes nothing.
      if (config.audit) log = await openAuditLog(config.audit.log, { signingKeyFile: config.audit.signingKeyFile });
      const mon = await Monitor.open({
        inventory,
        advisories,
        vex: loadAllVex(),
        sinks: [...this.#sinks, ...(log ? [auditSink(log)] : [])],
        ...(elector && { fence: () => elector.assertLeading() }),
      });
      const triggers = this.#triggers(mon);
      // A failed change ends the run (its supervisor restarts it; nothing stored is lost); a failed poll is reported and tried again.
      const changed = (work: () => Promise<unknown>) => () => void work().catch((e: unknown) => run.end(e as Error));
      const polled = (what: string, work: () => Promise<unknown>) => () =>
        void work().catch((e: unknown) => this.#options.warn(`${what}: ${(e as Error).message}`));
      // Watching starts before the first import, so nothing written in between is missed (the monitor
      // runs changes one at a time, and an import of unchanged advisories changes nothing).
      if (!options.once)
        watching = watchPaths([
          ...config.feeds.map((feed) => ({ path: feed, changed: changed(() => mon.importAdvisories([feed])) })),
          ...config.vex.map((file) => ({ path: file, changed: changed(() => mon.setVex(loadAllVex())) })),
          ...(config.trustPolicy ? [{ path: config.trustPolicy, changed: changed(triggers.trust) }] : []),
          ...(config.policy ? [...config.policy.paths, ...(config.policy.exceptions ? [config.policy.exceptions] : [])] : []).map(
            (path) => ({ path, changed: changed(triggers.policies) }),
          ),
        ]);
      if (config.metrics && !options.once) metrics = await serveMetrics(config.metrics.listen, () => findingMetrics(mon.openFindings()));
      await mon.start();
      await triggers.trust();
      if (config.feeds.length > 0) await mon.importAdvisories(config.feeds);
      for (const c of clusters) await triggers.pods(c);
      await triggers.repository();
      await triggers.policies();
      if (options.once) return mon.openFindings().some((f) => !f.suppressed) ? 1 : 0;
      if (config.policy)
        timers.push(setInterval(polled("policies", triggers.policies), parseDuration(config.policy.interval, "policy interval")));
      if (config.repository)
        timers.push(
          setInterval(polled("repository", triggers.repository), parseDuration(config.repository.interval, "repository interval")),
        );
      for (const c of clusters)
        timers.push(
          setInterval(
            polled(c.environment, () => triggers.pods(c)),
            c.intervalMs,
          ),
        );
      run.refresh = polled("refresh", triggers.refresh);
      timers.push(setInterval(run.refresh, parseDuration(config.refreshInterval, "refreshInterval")));
      await end;
      return 0;
    } finally {
      for (const t of timers) clearInterval(t);
      watching?.stop();
      metrics?.close();
      await log?.close();
      this.#run = undefined;
    }
  }

  /** What each trigger does, on this run's monitor. */
  #triggers(mon: Monitor) {
    const config = this.#config;
    const policies = async () => {
      if (!config.policy) return;
      const input = loadPolicyInput({
        packs: config.policy.packs,
        policyPaths: config.policy.paths,
        manifestPaths: [],
        ...(config.policy.exceptions && { exceptionsPath: config.policy.exceptions }),
      });
      await mon.checkPolicies({ policies: input.policies, ...(input.exceptions && { exceptions: input.exceptions }) });
    };
    return {
      trust: async () => {
        if (config.trustPolicy) await mon.setTrustPolicy(await loadTrustPolicyFile(config.trustPolicy));
      },
      policies,
      pods: async (c: WatchedCluster) => mon.checkRunning(c.environment, await runningContainers(c.cluster, c.namespaces)),
      // The repository is opened (fetched, when it is a URL) at every look, read only.
      repository: async () => {
        if (!config.repository || !config.trustPolicy) return;
        const repo = await openRepo(config.repository.location);
        try {
          await mon.checkRepository(repo, await loadTrustPolicyFile(config.trustPolicy));
        } finally {
          repo.close();
        }
      },
      // Another process's vigil db import, and deployments the agent recorded; manifests the agent
      // recorded (a deployment, drift) are evaluated by this monitor's policies.
      refresh: async () => {
        await mon.refresh();
        if (mon.policiesStale) await policies();
      },
    };
  }

  /** Looks at the shared stores now instead of at the next refreshInterval (the agent just recorded a deployment). */
  refresh(): void {
    this.#run?.refresh();
  }

  /** Ends the current run (it returns 0). */
  stop(): void {
    this.#stopped = true;
    this.#run?.end();
  }

  /** Stops, steps down from the Lease and closes what was opened. */
  async close(): Promise<void> {
    this.stop();
    await this.#elector?.stop();
    await closeOpened(this.#opened);
  }
}

async function closeOpened(opened: Opened): Promise<void> {
  for (const c of opened.clusters) c.cluster.close();
  await opened.inventory.close();
  await opened.advisories?.close();
}

/** Calls each path's `changed` after it changes (a burst of writes is one change). */
function watchPaths(paths: { path: string; changed: () => void }[]): { stop(): void } {
  const timers = new Map<string, NodeJS.Timeout>();
  const watchers = paths.map(({ path, changed }) =>
    watch(path, { recursive: true }, () => {
      clearTimeout(timers.get(path));
      timers.set(path, setTimeout(changed, SETTLE_MS));
    }),
  );
  return {
    stop() {
      for (const w of watchers) w.close();
      for (const t of timers.values()) clearTimeout(t);
    },
  };
}

/** GET /metrics on HOST:PORT (Prometheus text format); anything else is 404. */
function serveMetrics(listen: string, text: () => string): Promise<Server> {
  const m = /^(.*):(\d{1,5})$/.exec(listen);
  if (!m) throw new InputError(`metrics.listen: ${JSON.stringify(listen)} is not HOST:PORT`);
  const server = createServer((req, res) => {
    if (req.method === "GET" && req.url === "/metrics") res.writeHead(200, { "content-type": "text/plain; version=0.0.4" }).end(text());
    else res.writeHead(404).end();
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(Number(m[2]), m[1] || "127.0.0.1", () => resolve(server));
  });
}
