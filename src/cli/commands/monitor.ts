import { watch } from "node:fs";
import { openAuditLog } from "../../audit/index.ts";
import { connectCluster } from "../../cluster/client.ts";
import { parseDuration } from "../../core/duration.ts";
import { loadTrustPolicyFile } from "../../trust/policy.ts";
import { openRepo } from "../../git/repo.ts";
import { loadPolicyInput } from "../../policy/parallel.ts";
import { eventsSink, runningContainers } from "../../monitor/cluster.ts";
import { loadMonitorConfig } from "../../monitor/config.ts";
import { openInventory } from "../../monitor/inventory.ts";
import { Monitor, type Sink } from "../../monitor/monitor.ts";
import { auditSink, findingMetrics, jsonLinesSink, webhookSink } from "../../monitor/sinks.ts";
import { readWebhookSecret } from "../../core/webhook-signature.ts";
import { createServer, type Server } from "node:http";
import { InputError } from "../../core/errors.ts";
import { loadVex, openStore } from "../../vuln/index.ts";
import { required, defineCommand } from "../command.ts";
import { LeaderElector, LeaseLost } from "../../agent/leader.ts";
import { hostname } from "node:os";
import { randomBytes } from "node:crypto";

/** Changes come in bursts (a feed sync writes many files, an editor several times): wait this long after the last. */
const SETTLE_MS = 200;

export const monitor = defineCommand({
  summary: "Continuous security: keep what is deployed judged against advisory feeds and VEX, and record findings.",
  usage: "vigil monitor --config FILE [--once]",
  help: [
    "  --config FILE   the monitor's configuration (docs/monitor.md): inventory, database, feeds, vex, trustPolicy, audit",
    "  --once          judge the inventory, import the feeds once, and exit (1 when a finding is open and not suppressed)",
    "",
    "  Without --once it watches the feed folders (imports what changes, judging again only the deployed",
    "  components the changed advisories name), the VEX documents and the trust policy. Each change prints",
    "  one JSON line (opened and closed findings). With leaderElection, of several monitors on one",
    "  inventory only the holder of the Lease vigil-monitor writes and emits; one that loses it exits 3.",
  ].join("\n"),
  options: { config: { type: "string" }, once: { type: "boolean" } },
  async run(values) {
    const config = loadMonitorConfig(required(values, "config", this));
    const inventory = await openInventory(config.inventory);
    const advisories = await openStore(config.database, { create: true });
    const log = config.audit ? await openAuditLog(config.audit.log, { signingKeyFile: config.audit.signingKeyFile }) : undefined;
    const clusters = await Promise.all(
      config.clusters.map(async (c) => ({
        ...c,
        cluster: await connectCluster(
          c.inCluster ? { inCluster: true } : { kubeconfig: c.kubeconfig!, ...(c.context && { context: c.context }) },
        ),
        intervalMs: parseDuration(c.interval, `clusters ${c.environment} interval`),
      })),
    );
    const webhook =
      config.webhook &&
      webhookSink({
        url: config.webhook.url,
        secret: readWebhookSecret(config.webhook.secretFile),
        ...(config.webhook.slack && { slack: true }),
        onError: (m) => process.stderr.write(`vigil monitor: ${m}\n`),
      });
    const sinks: Sink[] = [
      jsonLinesSink(process.stdout),
      ...(log ? [auditSink(log)] : []),
      ...clusters.map((c) => eventsSink(c.cluster, c.environment)),
      ...(webhook ? [webhook] : []),
    ];
    const vex = config.vex.flatMap((file, i) => loadVex(file, i * 1_000_000));
    // Of several monitors on one inventory only the Lease holder writes and emits; the others wait here.
    const lease = config.leaderElection && (await monitorLease(config.leaderElection));
    if (lease) await lease.elector.waitForLeadership();
    const mon = await Monitor.open({
      inventory,
      advisories,
      vex,
      sinks,
      ...(lease && { fence: () => lease.elector.assertLeading() }),
    }).catch(async (e: unknown) => {
      await lease?.stop();
      throw e;
    });
    const close = async () => {
      await lease?.stop();
      for (const t of timers) clearInterval(t);
      for (const server of servers) server.close();
      for (const c of clusters) c.cluster.close();
      await inventory.close();
      await advisories.close();
      await log?.close();
    };
    const checkPods = async (c: (typeof clusters)[number]) =>
      mon.checkRunning(c.environment, await runningContainers(c.cluster, c.namespaces));
    const timers: NodeJS.Timeout[] = [];
    const servers: Server[] = [];
    const loadTrust = async () => {
      if (config.trustPolicy) await mon.setTrustPolicy(await loadTrustPolicyFile(config.trustPolicy));
    };
    const checkPolicies = async () => {
      if (!config.policy) return;
      const input = loadPolicyInput({
        packs: config.policy.packs,
        policyPaths: config.policy.paths,
        manifestPaths: [],
        ...(config.policy.exceptions && { exceptionsPath: config.policy.exceptions }),
      });
      await mon.checkPolicies({ policies: input.policies, ...(input.exceptions && { exceptions: input.exceptions }) });
    };
    // The repository is opened (fetched, when it is a URL) at every look, read only.
    const checkRepository = async () => {
      if (!config.repository || !config.trustPolicy) return;
      const repo = await openRepo(config.repository.location);
      try {
        await mon.checkRepository(repo, await loadTrustPolicyFile(config.trustPolicy));
      } finally {
        repo.close();
      }
    };
    try {
      // Watching starts before the first import, so nothing written in between is missed (the monitor
      // runs changes one at a time, and an import of unchanged advisories changes nothing).
      const watching = values.once
        ? undefined
        : watchPaths([
            ...config.feeds.map((feed) => ({ path: feed, changed: () => mon.importAdvisories([feed]) })),
            ...config.vex.map((file) => ({
              path: file,
              changed: () => mon.setVex(config.vex.flatMap((f, i) => loadVex(f, i * 1_000_000))),
            })),
            ...(config.trustPolicy ? [{ path: config.trustPolicy, changed: loadTrust }] : []),
            ...(config.policy
              ? [...config.policy.paths, ...(config.policy.exceptions ? [config.policy.exceptions] : [])].map((path) => ({
                  path,
                  changed: checkPolicies,
                }))
              : []),
          ]);
      if (config.metrics && watching) servers.push(await serveMetrics(config.metrics.listen, () => findingMetrics(mon.openFindings())));
      await mon.start();
      await loadTrust();
      if (config.feeds.length > 0) await mon.importAdvisories(config.feeds);
      for (const c of clusters) await checkPods(c);
      await checkRepository();
      await checkPolicies();
      if (!watching) return mon.openFindings().some((f) => !f.suppressed) ? 1 : 0;
      // A failed poll (the API server away) is reported and tried again at the next interval.
      if (config.policy)
        timers.push(
          setInterval(
            () => checkPolicies().catch((e) => process.stderr.write(`vigil monitor: policies: ${(e as Error).message}\n`)),
            parseDuration(config.policy.interval, "policy interval"),
          ),
        );
      if (config.repository)
        timers.push(
          setInterval(
            () => checkRepository().catch((e) => process.stderr.write(`vigil monitor: repository: ${(e as Error).message}\n`)),
            parseDuration(config.repository.interval, "repository interval"),
          ),
        );
      for (const c of clusters)
        timers.push(
          setInterval(
            () => checkPods(c).catch((e) => process.stderr.write(`vigil monitor: ${c.environment}: ${(e as Error).message}\n`)),
            c.intervalMs,
          ),
        );
      // Another process's vigil db import, and deployments the agent recorded, are noticed here.
      // Manifests the agent recorded (a deployment, drift) are evaluated by this monitor's policies.
      const refresh = async () => {
        await mon.refresh();
        if (mon.policiesStale) await checkPolicies();
      };
      timers.push(
        setInterval(
          () => refresh().catch((e) => process.stderr.write(`vigil monitor: refresh: ${(e as Error).message}\n`)),
          parseDuration(config.refreshInterval, "refreshInterval"),
        ),
      );
      // A monitor that lost the Lease stops (exit 3): restarted, it waits for the Lease and reloads what the leader wrote.
      await (lease ? Promise.race([watching, lease.lost]) : watching);
      return 0;
    } finally {
      await close();
    }
  },
});

/** The Lease monitors on one inventory elect their leader with (src/agent/leader.ts's election, under its own name). */
async function monitorLease(
  election: NonNullable<ReturnType<typeof loadMonitorConfig>["leaderElection"]>,
): Promise<{ elector: LeaderElector; lost: Promise<never>; stop(): Promise<void> }> {
  const cluster = await connectCluster(
    election.inCluster ? { inCluster: true } : { kubeconfig: election.kubeconfig!, ...(election.context && { context: election.context }) },
  );
  let onLost: (e: Error) => void = () => {};
  const lost = new Promise<never>((_, reject) => (onLost = reject));
  lost.catch(() => {});
  const identity = process.env.POD_NAME ?? `${hostname()}-${randomBytes(4).toString("hex")}`;
  const elector = new LeaderElector({
    cluster,
    namespace: election.namespace,
    name: MONITOR_LEASE,
    identity,
    leaseDurationSeconds: Math.ceil(parseDuration(election.leaseDuration, "leaderElection.leaseDuration") / 1000),
    onChange: (leading) => {
      if (leading) process.stderr.write(`vigil monitor: ${identity} holds the Lease ${election.namespace}/${MONITOR_LEASE}\n`);
      else onLost(new LeaseLost(`${identity} lost the Lease ${election.namespace}/${MONITOR_LEASE}: stopping; another monitor leads`));
    },
    onError: (e) => process.stderr.write(`vigil monitor: Lease: ${(e as Error).message}\n`),
  });
  elector.start();
  process.stderr.write(`vigil monitor: ${identity} waiting for the Lease ${election.namespace}/${MONITOR_LEASE}\n`);
  return {
    elector,
    lost,
    stop: async () => {
      await elector.stop();
      cluster.close();
    },
  };
}

/** The Lease's name: the agent's replicas hold vigil-agent, the monitors this one. */
const MONITOR_LEASE = "vigil-monitor";

/** Calls each path's `changed` after it changes (a burst of writes is one change); runs until SIGINT or SIGTERM. */
function watchPaths(paths: { path: string; changed: () => Promise<unknown> }[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const timers = new Map<string, NodeJS.Timeout>();
    const watchers = paths.map(({ path, changed }) =>
      watch(path, { recursive: true }, () => {
        clearTimeout(timers.get(path));
        timers.set(
          path,
          setTimeout(() => changed().catch(stop), SETTLE_MS),
        );
      }),
    );
    function stop(error?: unknown) {
      for (const w of watchers) w.close();
      for (const t of timers.values()) clearTimeout(t);
      process.off("SIGINT", stop).off("SIGTERM", stop);
      if (error instanceof Error) reject(error);
      else resolve();
    }
    process.on("SIGINT", stop).on("SIGTERM", stop);
  });
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
