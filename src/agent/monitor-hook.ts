// The agent feeds the monitor (docs/monitor.md), when its configuration names the monitor's inventory:
// after every reconcile that applied, the environment's pinned objects, their SBOMs and the keys that
// admitted its commits and image digests are recorded (Monitor.recordDeployment); drift left in place
// (drift: report) is reported with the live objects (Monitor.driftDetected); and an environment whose
// signed enforcement is "degraded" shows so in the reconcile's verdict, status, metrics and Event while
// findings are open on it. The monitor inside the agent judges what it records at once; a `vigil
// monitor` on the same inventory notices the deployment by the inventory's generation.
import type { Check } from "../core/verdict.ts";
import { check } from "../core/verdict.ts";
import { VigilError } from "../core/errors.ts";
import { redactCredentials } from "../core/redact.ts";
import type { TrustPolicy } from "../trust/policy.ts";
import { Discovery, resourcePath } from "../cluster/discovery.ts";
import { describeObject, type Cluster, type SyncResult } from "../cluster/index.ts";
import { loadManifests, type SourcedObject } from "../manifest/manifests.ts";
import { loadPacks } from "../policy/packs.ts";
import { admissionsFromChecks } from "../monitor/admissions.ts";
import { enforcementOf, environmentChecks, promotionChecks } from "../monitor/enforcement.ts";
import { openInventory, type InventoryStore } from "../monitor/inventory.ts";
import { Monitor } from "../monitor/monitor.ts";
import type { GateImage } from "../vuln/gate.ts";
import { openStore, type AdvisoryStore } from "../vuln/index.ts";

const GATE = "monitor";

/** What one reconcile tells the monitor. */
export interface Reconciled {
  environment: string;
  trust: TrustPolicy;
  /** Every check the reconcile made so far (the gates' accepted signatures among them). */
  checks: readonly Check[];
  /** Set when the set was applied: the objects as applied (images pinned), and the revision. */
  deployed?: { objects: readonly SourcedObject[]; revision: string; sync?: SyncResult };
  /** The policy inputs the policy gate used, for drift. */
  policy: { packs: string[]; policies: string[]; exceptions?: string };
  sbomFor(image: GateImage): Promise<unknown>;
  /** The environment's cluster, as the environment's account, to read drifted objects. */
  cluster: Cluster;
  /** Throws when this replica may no longer write (its Lease). */
  fence?: () => void;
}

export class MonitorHook {
  readonly #inventory: InventoryStore;
  readonly #advisories: AdvisoryStore;
  /** Opened at the first deployment: judging the inventory at open costs what the inventory holds. */
  #monitor: Promise<Monitor> | undefined;

  private constructor(inventory: InventoryStore, advisories: AdvisoryStore) {
    this.#inventory = inventory;
    this.#advisories = advisories;
  }

  static async open(location: { inventory: string; database: string }): Promise<MonitorHook> {
    const inventory = await openInventory(location.inventory);
    try {
      return new MonitorHook(inventory, await openStore(location.database, { create: true }));
    } catch (e) {
      await inventory.close();
      throw e;
    }
  }

  /** Records what the reconcile deployed and the drift it left; returns the checks to add and whether the environment is degraded. */
  async reconciled(r: Reconciled): Promise<{ checks: Check[]; degraded: boolean }> {
    const checks: Check[] = [];
    try {
      if (r.deployed) checks.push(...(await this.#record(r, r.deployed)));
      if (r.deployed?.sync) checks.push(...(await this.#drift(r, r.deployed.sync)));
      const enforced = await this.#enforcement(r);
      return { checks: [...checks, ...enforced.checks], degraded: enforced.degraded };
    } catch (e) {
      if (!(e instanceof VigilError)) throw e;
      // Applied already: the next reconcile records it again. Said in the verdict, never silently dropped.
      return { checks: [...checks, check(GATE, "inventory", "fail", r.environment, `the monitor's inventory could not record this reconcile: ${redactCredentials(e.message)}; the next reconcile records it again`)], degraded: false };
    }
  }

  async #record(r: Reconciled, deployed: NonNullable<Reconciled["deployed"]>): Promise<Check[]> {
    const { admissions, unread } = admissionsFromChecks(r.checks);
    r.fence?.();
    const monitor = await this.#open();
    const changes = await monitor.recordDeployment(r.environment, deployed.objects, { revision: deployed.revision, verdict: "pass", sbomFor: r.sbomFor, admissions });
    const open = changes.opened.filter((f) => !f.suppressed).length;
    return [
      check(GATE, "inventory", "pass", r.environment, `recorded in the monitor's inventory with ${admissions.length} admission(s)${open > 0 ? `; ${open} finding(s) opened (vigil findings --env ${r.environment})` : ""}`),
      // A signature the gates accepted but this hook could not read would escape a later revocation: said.
      ...unread.map((c) => check(GATE, "admission", "warn", c.subject, `the signer of this accepted signature could not be read for the inventory, so revoking its key will not flag it: ${c.message}`)),
    ];
  }

  /** Objects left drifted (drift: report) are read live and evaluated again by the monitor's policy trigger. */
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
      live.push({ object: { ...answer.body, metadata }, file: `live ${describeObject(o.object)}`, line: 1 });
    }
    r.fence?.();
    const policies = [...loadPacks(r.policy.packs), ...loadManifests(r.policy.policies)];
    const changes = await (await this.#open()).driftDetected(r.environment, live, { policies, ...(r.policy.exceptions && { exceptions: loadManifests([r.policy.exceptions]) }) });
    return [check(GATE, "drift", "pass", r.environment, `${live.length} drifted object(s) reported to the monitor as they run; ${changes.opened.length} policy finding(s) opened, ${changes.closed.length} closed`)];
  }

  /** "degraded" enforcement: a warning check naming the open findings, and the environment's health degraded. */
  async #enforcement(r: Reconciled): Promise<{ checks: Check[]; degraded: boolean }> {
    if (enforcementOf(r.trust, r.environment) !== "degraded") return { checks: [], degraded: false };
    const [c] = environmentChecks(r.trust, r.environment, await this.#inventory.findings({ environment: r.environment }));
    // Degraded is a state of what runs, not a refusal: the reconcile (and the deploy of a fixed revision) goes on.
    return c!.status === "fail" ? { checks: [{ ...c!, status: "warn" }], degraded: true } : { checks: [c!], degraded: false };
  }

  /** The monitor's say on promoting `revision` into `environment` (block-promotion), from the inventory's open findings. */
  readonly promotionChecks = async (policy: TrustPolicy, environment: string, revision: string): Promise<Check[]> =>
    promotionChecks(policy, environment, revision, await this.#inventory.findings(), await this.#inventory.workloads());

  #open(): Promise<Monitor> {
    this.#monitor ??= Monitor.open({ inventory: this.#inventory, advisories: this.#advisories }).catch((e: unknown) => {
      this.#monitor = undefined;
      throw e;
    });
    return this.#monitor;
  }

  async close(): Promise<void> {
    await this.#monitor?.catch(() => undefined);
    await Promise.all([this.#inventory.close(), this.#advisories.close()]);
  }
}
