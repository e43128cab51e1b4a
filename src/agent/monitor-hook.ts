// The agent feeds the monitor (docs/monitor.md), when its configuration names the monitor's inventory:
// after every reconcile that applied, the environment's pinned objects, their SBOMs and the keys that
// admitted its commits and image digests are recorded (src/monitor/record.ts); drift left in place
// (drift: report) is recorded with the live objects; an environment whose signed enforcement is
// "degraded" shows so in the reconcile's verdict, status, metrics and Event while findings are open on
// it; and block-promotion's checks are read for the approvals gate. The agent only records: the monitor
// (`vigil monitor`, one leader per inventory) judges, with its own feeds, VEX and policies, and notices
// what the agent wrote by the inventory's generation; so there is one judge, never two disagreeing.
// With `monitor.config`, that monitor runs inside the agent (startMonitor): the same service, its
// leader elected among the replicas, told at once when the agent recorded something.
import type { Check } from "../core/verdict.ts";
import { check } from "../core/verdict.ts";
import { ExitCode, InputError, VigilError } from "../core/errors.ts";
import { redactCredentials } from "../core/redact.ts";
import type { TrustPolicy } from "../trust/policy.ts";
import { Discovery, resourcePath } from "../cluster/discovery.ts";
import type { Cluster, SyncResult } from "../cluster/index.ts";
import { describeRef } from "../manifest/manifests.ts";
import type { SourcedObject } from "../manifest/manifests.ts";
import { admissionsFromChecks } from "../monitor/admissions.ts";
import { enforcementOf, environmentChecks, promotionChecks } from "../monitor/enforcement.ts";
import { openInventory, type InventoryStore } from "../monitor/inventory.ts";
import { recordDeployment, recordDrift } from "../monitor/record.ts";
import type { GateImage } from "../vuln/gate.ts";
import { loadMonitorConfig, type MonitorConfig } from "../monitor/config.ts";
import { redactUrl } from "../audit/store.ts";
import { LeaseLost } from "./leader.ts";
import { connectMonitorLease, MonitorService, type MonitorLease } from "./monitor-service.ts";

/** A monitor run in the agent that failed (not a lost Lease) starts again after this pause. */
const RESTART_PAUSE_MS = 5000;
import { recordVerifiedImages, type VerifiedImage } from "../admission/verified.ts";
import type { KindDeclaration } from "../manifest/workloads.ts";

const GATE = "monitor";

/** What one reconcile tells the monitor. */
export interface Reconciled {
  environment: string;
  trust: TrustPolicy;
  /** Every check the reconcile made so far (the gates' accepted signatures among them). */
  checks: readonly Check[];
  /** Set when the set was applied: the objects as applied (images pinned), and the revision. */
  deployed?: { objects: readonly SourcedObject[]; kinds?: readonly KindDeclaration[]; revision: string; sync?: SyncResult };
  sbomFor(image: GateImage): Promise<unknown>;
  /** The environment's cluster, as the environment's account, to read drifted objects. */
  cluster: Cluster;
  /** Throws when this replica may no longer write (its Lease). */
  fence?: () => void;
}

export class MonitorHook {
  readonly #inventory: InventoryStore;
  /** The monitor configuration this agent runs in its process (monitor.config), read at start so bad input stops the start. */
  readonly #monitorConfig: MonitorConfig | undefined;
  #monitor: { refresh(): void; stop(): Promise<void> } | undefined;

  private constructor(inventory: InventoryStore, monitorConfig: MonitorConfig | undefined) {
    this.#inventory = inventory;
    this.#monitorConfig = monitorConfig;
  }

  static async open(location: { inventory: string; config?: string }): Promise<MonitorHook> {
    const monitorConfig = location.config === undefined ? undefined : loadMonitorConfig(location.config);
    // One inventory: the monitor in the agent judges exactly what the agent records.
    if (monitorConfig && monitorConfig.inventory !== location.inventory)
      throw new InputError(
        `monitor.config: ${location.config} names the inventory ${redactUrl(monitorConfig.inventory)}, but monitor.inventory is ${redactUrl(location.inventory)}; the monitor in the agent must judge the inventory the agent records`,
      );
    return new MonitorHook(await openInventory(location.inventory), monitorConfig);
  }

  /**
   * Runs the configured monitor (monitor.config) in this process until close(): it waits for the Lease
   * vigil-monitor (the configuration's leaderElection, else `lease`: the agent's cluster and namespace),
   * so of several replicas one judges and announces; it runs every trigger and sink as `vigil monitor`
   * does. A replica that loses the Lease waits for it again and reloads what the leader wrote; a run that
   * fails is started again after a pause. Its JSON lines and warnings go to stderr, the agent's log.
   */
  startMonitor(lease: MonitorLease): void {
    const config = this.#monitorConfig;
    if (!config || this.#monitor) return;
    const warn = (message: string) => process.stderr.write(`vigil agent: monitor: ${redactCredentials(message)}\n`);
    let stopped = false;
    let service: MonitorService | undefined;
    let wake = () => {};
    const pause = (ms: number) =>
      new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, ms);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    // Opening (stores, clusters) and each run are tried again after a pause when they fail; a lost Lease is waited for again at once.
    const running = (async () => {
      while (!stopped) {
        let own: Awaited<ReturnType<typeof connectMonitorLease>> | undefined;
        let failed = false;
        try {
          own = config.leaderElection && (await connectMonitorLease(config.leaderElection, lease.identity));
          service = await MonitorService.open(config, { output: process.stderr, warn, lease: own?.lease ?? lease });
          while (!stopped) {
            try {
              await service.run();
            } catch (e) {
              if (!(e instanceof LeaseLost)) throw e;
              warn(e.message);
            }
          }
        } catch (e) {
          warn(`${(e as Error).message}; starting again in ${RESTART_PAUSE_MS / 1000} s`);
          failed = true;
        } finally {
          // Steps down from the Lease before pausing: another replica leads meanwhile.
          await service?.close();
          service = undefined;
          own?.close();
        }
        if (failed && !stopped) await pause(RESTART_PAUSE_MS);
      }
    })();
    this.#monitor = {
      refresh: () => service?.refresh(),
      stop: async () => {
        stopped = true;
        service?.stop();
        wake();
        await running;
      },
    };
  }

  /** Records what the reconcile deployed and the drift it left; returns the checks to add and whether the environment is degraded. */
  async reconciled(r: Reconciled): Promise<{ checks: Check[]; degraded: boolean; unavailable?: boolean }> {
    const checks: Check[] = [];
    try {
      if (r.deployed) checks.push(...(await this.#record(r, r.deployed)));
      if (r.deployed?.sync) checks.push(...(await this.#drift(r, r.deployed.sync)));
      const enforced = await this.#enforcement(r);
      return { checks: [...checks, ...enforced.checks], degraded: enforced.degraded };
    } catch (e) {
      if (!(e instanceof VigilError)) throw e;
      // Applied already: the next reconcile records it again. Said in the verdict, never silently dropped.
      return {
        checks: [
          ...checks,
          check({
            gate: GATE,
            rule: "inventory",
            status: "fail",
            subject: r.environment,
            message: `the monitor's inventory could not record this reconcile: ${redactCredentials(e.message)}; the next reconcile records it again`,
            code: "inventory-not-recorded",
          }),
        ],
        degraded: false,
        ...(e.exitCode === ExitCode.unavailable && { unavailable: true }),
      };
    }
  }

  async #record(r: Reconciled, deployed: NonNullable<Reconciled["deployed"]>): Promise<Check[]> {
    const { admissions, unread } = admissionsFromChecks(r.checks);
    r.fence?.();
    const recorded = await recordDeployment(
      this.#inventory,
      r.environment,
      deployed.objects,
      { revision: deployed.revision, verdict: "pass", sbomFor: r.sbomFor, admissions, ...(deployed.kinds && { kinds: deployed.kinds }) },
      new Date().toISOString().replace(/\.\d{3}Z$/, "Z"),
    );
    // The monitor in this process looks at once, instead of at its next refreshInterval.
    if (recorded.workloadsChanged || recorded.manifestsChanged) this.#monitor?.refresh();
    return [
      check({
        gate: GATE,
        rule: "inventory",
        status: "pass",
        subject: r.environment,
        message:
          recorded.workloadsChanged || recorded.manifestsChanged
            ? `recorded in the monitor's inventory: ${recorded.workloads.length} workload(s), ${admissions.length} admission(s) of this reconcile; the monitor judges it`
            : "as recorded in the monitor's inventory already",
        code: "inventory-recorded",
      }),
      // A signature the gates accepted but this hook could not read would escape a later revocation: said.
      ...unread.map((c) =>
        check({
          gate: GATE,
          rule: "admission",
          status: "warn",
          subject: c.subject,
          message: `the signer of this accepted signature could not be read for the inventory, so revoking its key will not flag it: ${c.message}`,
          code: "signer-unreadable",
        }),
      ),
    ];
  }

  /** Objects left drifted (drift: report) are read live and recorded as they run; the monitor's policy trigger evaluates them. */
  async #drift(r: Reconciled, sync: SyncResult): Promise<Check[]> {
    const drifted = sync.objects.filter((o) => o.action === "drift" && !o.restored);
    if (drifted.length === 0) return [];
    const discovery = new Discovery(r.cluster);
    const live: SourcedObject[] = [];
    for (const o of drifted) {
      const info = await discovery.lookup(o.object.apiVersion, o.object.kind);
      if (!info) continue;
      const answer = await r.cluster.call({ verb: "get", method: "GET", path: resourcePath(info, o.object.namespace, o.object.name) });
      if (answer.status !== 200) continue;
      const { managedFields: _, ...metadata } = answer.body.metadata ?? {};
      live.push({ object: { ...answer.body, metadata }, file: `live ${describeRef(o.object)}`, line: 1 });
    }
    r.fence?.();
    await recordDrift(this.#inventory, r.environment, live);
    this.#monitor?.refresh();
    return [
      check({
        gate: GATE,
        rule: "drift",
        status: "pass",
        subject: r.environment,
        message: `${live.length} drifted object(s) recorded in the monitor's inventory as they run; the monitor's policy trigger evaluates them`,
        code: "drift-recorded",
      }),
    ];
  }

  /** "degraded" enforcement: a warning check naming the open findings, and the environment's health degraded. */
  async #enforcement(r: Reconciled): Promise<{ checks: Check[]; degraded: boolean }> {
    if (enforcementOf(r.trust, r.environment) !== "degraded") return { checks: [], degraded: false };
    const [c] = environmentChecks(r.trust, r.environment, await this.#inventory.findings({ environment: r.environment }));
    // Degraded is a state of what runs, not a refusal: the reconcile (and the deploy of a fixed revision) goes on.
    return c!.status === "fail" ? { checks: [{ ...c!, status: "warn" }], degraded: true } : { checks: [c!], degraded: false };
  }

  /** The digests the gates verified for a revision, recorded before its first write: the admission webhook admits the agent's writes by them. */
  readonly verified = (environment: string, revision: string, images: readonly VerifiedImage[]): Promise<void> =>
    recordVerifiedImages(this.#inventory, environment, revision, images);

  /** The monitor's say on promoting `revision` into `environment` (block-promotion), from the inventory's open findings. */
  readonly promotionChecks = async (policy: TrustPolicy, environment: string, revision: string): Promise<Check[]> =>
    promotionChecks(policy, environment, revision, await this.#inventory.findings(), await this.#inventory.workloads());

  /** Stops the monitor this process runs (if any), stepping down from its Lease: before the agent closes its clusters. */
  async stopMonitor(): Promise<void> {
    await this.#monitor?.stop();
  }

  async close(): Promise<void> {
    await this.stopMonitor();
    await this.#inventory.close();
  }
}
