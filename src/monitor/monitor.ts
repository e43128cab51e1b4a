// The monitor: the inventory of what Vigil deployed, kept judged against the advisory store. It loads
// the inventory into the evaluator's index once, judges it fully once, and from then on judges only
// what a change can touch: an advisory import, a VEX document, a deployment. Every change's opened and
// closed findings go to the sinks (the inventory's findings table first, then the audit log, Events…).
import type { SourcedObject } from "../manifest/manifests.ts";
import { importAdvisories, type ImportResult } from "../vuln/import.ts";
import type { AdvisoryStore } from "../vuln/store.ts";
import type { Component } from "../vuln/match.ts";
import type { VexStatement } from "../vuln/vex.ts";
import { Evaluator } from "./evaluator.ts";
import type { MonitorFinding } from "./findings.ts";
import type { FindingsUpdate, InventoryStore } from "./inventory.ts";
import type { DeployedWorkload } from "../api/inventory.ts";
import { importGeneration, trackChanges, type TrackedImport } from "./tracking-store.ts";
import { recordDeployment, recordDrift, snapshotOf, type Deployment } from "./record.ts";
import { notDeployed, type RunningContainer } from "./cluster.ts";
import { readRefs, repositoryActivity, UNREACHABLE } from "./repository.ts";
import type { Repo } from "../git/repo.ts";
import { isBinding, isPolicy, policyChecks, type PolicyGateInput } from "../policy/gate.ts";
import type { Check } from "../core/verdict.ts";
import { findingKey, sameFinding, samePlace } from "./findings.ts";
import { createHash } from "node:crypto";
import { parseException } from "../policy/exceptions.ts";
import { trustedKeys, untrustedAdmissions, type TrustedKeys } from "./trust.ts";
import type { TrustPolicy } from "../trust/policy.ts";

/** Seconds an import took per step: into the database, judging the changed components, diff + emit + store. */
export interface StepSeconds {
  import: number;
  judge: number;
  settle: number;
}

/** What one change did to the findings. */
export interface FindingChanges {
  trigger: string;
  opened: MonitorFinding[];
  closed: MonitorFinding[];
  /** Distinct components judged again. */
  judged: number;
}

export interface Sink {
  readonly name: string;
  emit(changes: FindingChanges): Promise<void>;
}

export interface MonitorOptions {
  inventory: InventoryStore;
  advisories: AdvisoryStore;
  vex?: VexStatement[];
  sinks?: Sink[];
  now?: () => Date;
  /**
   * Called before every write to the inventory and every emit; throws when this monitor may no longer
   * write (it lost the Lease two monitors on one inventory elect a leader with: leadership.ts).
   */
  fence?: () => void;
}

export class Monitor {
  readonly #inventory: InventoryStore;
  readonly #advisories: AdvisoryStore;
  readonly #sinks: Sink[];
  readonly #now: () => Date;
  readonly #fence: () => void;
  #evaluator: Evaluator;
  /** What this monitor last saw of the shared stores, so it notices what other processes change there. */
  #seen = {
    generation: 0,
    /** The advisory store's import generation at the last look (tracking-store.ts's importGeneration). */
    advisoryGeneration: undefined as string | undefined,
    modified: new Map<string, string>(),
    environments: new Map<string, string>(),
    manifests: new Map<string, string>(),
  };
  #vex: VexStatement[];
  /** The keys the current trust policy trusts, once one is given. */
  #trusted: TrustedKeys | undefined;
  /** The trust policy's declarations of custom kinds' containers, which the policy gate judges too. */
  #kinds: TrustPolicy["doc"]["kinds"] = [];
  /** Per policy, a digest of what decides its checks, at the last policy check (undefined before the first). */
  #policyPrints: Map<string, string> | undefined;
  /** Environments whose manifests changed since the last policy check: evaluated whole at the next. */
  #manifestsChanged = new Set<string>();
  /** The open findings by key. */
  #open = new Map<string, MonitorFinding>();
  /** Changes run one after another: an import and a deployment never judge the same index at once. */
  #queue: Promise<unknown> = Promise.resolve();

  private constructor(options: MonitorOptions, evaluator: Evaluator) {
    this.#inventory = options.inventory;
    this.#advisories = options.advisories;
    this.#sinks = options.sinks ?? [];
    this.#now = options.now ?? (() => new Date());
    this.#fence = options.fence ?? (() => {});
    this.#vex = options.vex ?? [];
    this.#evaluator = evaluator;
  }

  /** Loads the inventory's index and its open findings (with their first-seen times). */
  static async open(options: MonitorOptions): Promise<Monitor> {
    const monitor = new Monitor(options, new Evaluator(options.advisories, options.vex ?? []));
    // The marker before the data: an import committed in between is seen again at the next look, never missed.
    monitor.#seen.advisoryGeneration = await importGeneration(options.advisories);
    monitor.#seen.modified = await options.advisories.modifiedIndex();
    // Read before the index is loaded: a deployment recorded in between is seen again, never missed.
    monitor.#seen.generation = await options.inventory.generation();
    monitor.#evaluator = await monitor.#load();
    monitor.#seen.environments = new Map(
      [...groupBy(await options.inventory.workloads(), (w) => w.environment)].map(([env, list]) => [env, snapshotOf(list)]),
    );
    monitor.#seen.manifests = await monitor.#manifestPrints();
    // Judged at once: every later change (a deployment, an import) assumes the index's findings are current.
    await monitor.#evaluator.full();
    for (const f of await options.inventory.findings()) monitor.#open.set(f.key, f);
    return monitor;
  }

  /** Stores and emits what judging the whole inventory at open found, against the findings stored before. */
  start(): Promise<FindingChanges> {
    return this.#serial(async () => {
      return this.#settle("start", this.#evaluator.placed(this.#stamp()), isAdvisory, this.#evaluator.componentCount);
    });
  }

  /** `vigil db import` through the monitor: the import, then only the changed advisories' components. */
  importAdvisories(paths: string[]): Promise<FindingChanges & { import: ImportResult; seconds: StepSeconds; cpuSeconds: StepSeconds }> {
    return this.#serial(async () => {
      const started = performance.now();
      const cpu = process.cpuUsage();
      const { store, changes } = trackChanges(this.#advisories);
      const result = await importAdvisories(store, paths);
      const foreign = await this.#foreignChanges(changes);
      const imported = performance.now();
      const importedCpu = process.cpuUsage(cpu);
      const purls = await this.#evaluator.incremental({
        keys: new Set([...changes.keys, ...(await this.#evaluator.keysNaming(foreign))]),
        ids: new Set([...changes.ids, ...foreign]),
      });
      const touched = new Set(purls);
      const found = this.#evaluator.placed(this.#stamp(), purls);
      const judged = performance.now();
      const judgedCpu = process.cpuUsage(cpu);
      const settled = await this.#settle("advisories", found, (f) => isAdvisory(f) && touched.has(f.purl!), purls.length);
      const seconds = {
        import: (imported - started) / 1000,
        judge: (judged - imported) / 1000,
        settle: (performance.now() - judged) / 1000,
      };
      const cpuOf = (usage: NodeJS.CpuUsage) => (usage.user + usage.system) / 1e6;
      const cpuSeconds = {
        import: cpuOf(importedCpu),
        judge: cpuOf(judgedCpu) - cpuOf(importedCpu),
        settle: cpuOf(process.cpuUsage(cpu)) - cpuOf(judgedCpu),
      };
      return { ...settled, import: result, seconds, cpuSeconds };
    });
  }

  /**
   * Notices what other processes changed in the shared stores since this monitor last looked: a
   * `vigil db import` run elsewhere (the store's last import time moved: the advisories whose `modified`
   * changed, appeared or went are judged again, exactly as an import through the monitor would), and a
   * deployment the agent recorded (the inventory's generation moved: the environments whose workloads
   * changed are placed again and their new components judged). Cheap when nothing changed: two reads.
   */
  refresh(): Promise<FindingChanges[]> {
    return this.#serial(async () => {
      const out: FindingChanges[] = [];
      const ids =
        (await importGeneration(this.#advisories)) === this.#seen.advisoryGeneration ? new Set<string>() : await this.#advisoryChanges();
      // Nothing changed (an import of unchanged advisories, or this monitor's own import looked at again): nothing to say.
      if (ids.size > 0) {
        const purls = await this.#evaluator.incremental({ keys: await this.#evaluator.keysNaming(ids), ids });
        const touched = new Set(purls);
        out.push(
          await this.#settle(
            "advisories imported elsewhere",
            this.#evaluator.placed(this.#stamp(), purls),
            (f) => isAdvisory(f) && touched.has(f.purl!),
            purls.length,
          ),
        );
      }
      if ((await this.#inventory.generation()) !== this.#seen.generation) out.push(...(await this.#reloadDeployments()));
      return out;
    });
  }

  /** The ids whose `modified` changed in the store since the last look (new, changed, removed); the look moves on. */
  async #advisoryChanges(): Promise<Set<string>> {
    // The marker before the data: an import committed between the two reads is looked at again next time.
    this.#seen.advisoryGeneration = await importGeneration(this.#advisories);
    const now = await this.#advisories.modifiedIndex();
    const changed = new Set<string>();
    for (const [id, modified] of now) if (this.#seen.modified.get(id) !== modified) changed.add(id);
    for (const id of this.#seen.modified.keys()) if (!now.has(id)) changed.add(id);
    this.#seen.modified = now;
    return changed;
  }

  /**
   * After an import through this monitor, what other processes imported since the last look (judged
   * too). When the store was still at the generation last seen as the import's transaction began (no
   * import can commit inside it), there is nothing: the import's own changes are noted without reading
   * the store's whole index again, and the next refresh looks once more (this import moved the generation).
   */
  async #foreignChanges(own: TrackedImport): Promise<Set<string>> {
    if (own.generationBefore === undefined || own.generationBefore !== this.#seen.advisoryGeneration) {
      const foreign = await this.#advisoryChanges();
      for (const id of own.ids) foreign.delete(id);
      return foreign;
    }
    for (const [id, modified] of own.modified) {
      if (modified === undefined) this.#seen.modified.delete(id);
      else this.#seen.modified.set(id, modified);
    }
    this.#seen.advisoryGeneration = NOT_LOOKED;
    return new Set();
  }

  /** Environments whose stored workloads differ from what this monitor placed: placed again, new components judged. */
  async #reloadDeployments(): Promise<FindingChanges[]> {
    this.#seen.generation = await this.#inventory.generation();
    const byEnvironment = groupBy(await this.#inventory.workloads(), (w) => w.environment);
    const out: FindingChanges[] = [];
    // Manifests another process wrote (a deployment, drift the agent saw): the next policy check evaluates those environments whole.
    const manifests = await this.#manifestPrints();
    for (const [environment, print] of manifests)
      if (this.#seen.manifests.get(environment) !== print) this.#manifestsChanged.add(environment);
    this.#seen.manifests = manifests;
    for (const environment of new Set([...byEnvironment.keys(), ...this.#seen.environments.keys()])) {
      const workloads = byEnvironment.get(environment) ?? [];
      if (this.#seen.environments.get(environment) === snapshotOf(workloads)) continue;
      out.push(await this.#place(environment, workloads, `deployment of ${environment} (recorded elsewhere)`));
    }
    return out;
  }

  /** The environment now runs these workloads: its placements replaced, components new to the index judged, findings settled. */
  async #place(environment: string, workloads: DeployedWorkload[], trigger: string): Promise<FindingChanges> {
    this.#seen.environments.set(environment, snapshotOf(workloads));
    // Only this environment's placements change, and only components new to the index are judged
    // (the others' findings do not depend on where they run).
    this.#evaluator.removeEnvironment(environment);
    const fresh: string[] = [];
    for (const w of workloads) {
      for (const image of w.images)
        fresh.push(
          ...this.#evaluator.add(
            { environment, workload: w.workload, image: image.image, digest: image.digest },
            await this.#inventory.components(image.digest),
          ),
        );
    }
    await this.#evaluator.judgeNew(fresh);
    const changes = await this.#settle(
      trigger,
      this.#evaluator.placedIn(environment, this.#stamp()),
      (f) => isAdvisory(f) && f.environment === environment,
      fresh.length,
    );
    if (!this.#trusted) return changes;
    const trust = await this.#settle(
      trigger,
      untrustedAdmissions(await this.#inventory.workloads(), this.#trusted, this.#stamp()),
      (f) => f.type === "untrusted-key",
      0,
    );
    return { ...changes, opened: [...changes.opened, ...trust.opened], closed: [...changes.closed, ...trust.closed] };
  }

  /** VEX statements changed: findings they name are judged again, suppressed ones say so with the justification. */
  setVex(vex: VexStatement[]): Promise<FindingChanges> {
    return this.#serial(async () => {
      this.#vex = vex;
      const purls = await this.#evaluator.setVex(vex);
      const touched = new Set(purls);
      return this.#settle("vex", this.#evaluator.placed(this.#stamp(), purls), (f) => isAdvisory(f) && touched.has(f.purl!), purls.length);
    });
  }

  /**
   * The agent's hook, called after a successful apply: the environment now runs exactly these objects.
   * Images must be pinned (the artifact gate pinned them); SBOMs are read once per digest.
   */
  recordDeployment(environment: string, objects: readonly SourcedObject[], deployment: Deployment): Promise<FindingChanges> {
    return this.#serial(async () => {
      this.#fence();
      const before = this.#seen.generation;
      // The kinds the trust policy declares, as this monitor reads them, unless the deployment says its own.
      const recorded = await recordDeployment(this.#inventory, environment, objects, { kinds: this.#kinds, ...deployment }, this.#stamp());
      if (recorded.manifestsChanged) this.#manifestsChanged.add(environment);
      // Written by this monitor: a later look at the generation need not place it again, unless another
      // process recorded something too (then the generation moved by more than this monitor's writes).
      const generation = await this.#inventory.generation();
      if (generation === before + Number(recorded.workloadsChanged) + Number(recorded.manifestsChanged)) this.#seen.generation = generation;
      if (!recorded.workloadsChanged) return { trigger: `deployment of ${environment}`, opened: [], closed: [], judged: 0 };
      return this.#place(environment, recorded.workloads, `deployment of ${environment}`);
    });
  }

  /**
   * The trust policy changed (a key revoked or removed, an identity no longer trusted): every deployed
   * commit and digest whose admitting key the new policy does not trust is a finding. Only the
   * inventory's admissions are read (one per workload and subject), never the components.
   */
  setTrustPolicy(policy: TrustPolicy): Promise<FindingChanges> {
    return this.#serial(async () => {
      this.#trusted = await trustedKeys(policy);
      // Declared containers are judged by the policy gate: when the declarations change, every
      // environment's manifests are judged whole at the next policy check.
      if (JSON.stringify(policy.doc.kinds) !== JSON.stringify(this.#kinds)) {
        this.#kinds = policy.doc.kinds;
        for (const env of await this.#inventory.environments()) this.#manifestsChanged.add(env);
      }
      return this.#settle(
        "trust policy",
        untrustedAdmissions(await this.#inventory.workloads(), this.#trusted, this.#stamp()),
        (f) => f.type === "untrusted-key",
        0,
      );
    });
  }

  /** What the environment's cluster runs, read now: every digest Vigil did not deploy there is a finding. */
  checkRunning(environment: string, running: RunningContainer[]): Promise<FindingChanges> {
    return this.#serial(async () =>
      this.#settle(
        `pods of ${environment}`,
        notDeployed(environment, running, await this.#inventory.workloads(), this.#stamp()),
        (f) => f.type === "not-deployed" && f.environment === environment,
        0,
      ),
    );
  }

  /**
   * The configuration repository's refs against the last look: force-pushes under deployed revisions,
   * protected names reused, unknown signers, trust-policy proposals, refs/vigil/ deletions.
   */
  checkRepository(repo: Repo, policy: TrustPolicy): Promise<FindingChanges> {
    return this.#serial(async () => {
      const stateName = `refs ${repo.name}`;
      const saved = await this.#inventory.state(stateName);
      const previous = saved === undefined ? undefined : new Map(Object.entries(JSON.parse(saved) as Record<string, string>));
      const current = await readRefs(repo);
      const found = await repositoryActivity(repo, policy, previous, current, await this.#inventory.workloads(), this.#stamp());
      // Unreachable revisions are a state, judged afresh; the other activities are events, kept until someone closes them.
      const changes = await this.#settle(`repository ${repo.name}`, found, (f) => f.type === "repository" && f.rule === UNREACHABLE, 0);
      await this.#inventory.setState(stateName, JSON.stringify(Object.fromEntries(current)));
      return changes;
    });
  }

  /**
   * A policy or pack changed, or time passed an exception's expiry: only the policies whose own text,
   * bindings, params or exceptions (and whether those have expired) changed since the last check are
   * evaluated again, over the live manifests (as last applied, with drift the agent reported) of every
   * environment; an environment whose manifests changed since (a deployment, drift) is evaluated whole.
   * Every failing check is a finding until the check passes.
   */
  checkPolicies(policies: Omit<PolicyGateInput, "manifests">): Promise<FindingChanges & { policies: string[] }> {
    return this.#serial(async () => {
      const envs = await this.#inventory.environments();
      const now = this.#now();
      const prints = policyPrints(policies, now);
      const first = this.#policyPrints === undefined;
      const changed = new Set<string>();
      for (const name of new Set([...prints.keys(), ...(this.#policyPrints?.keys() ?? [])]))
        if (prints.get(name) !== this.#policyPrints?.get(name)) changed.add(name);
      const whole = new Set(first ? envs : envs.filter((e) => this.#manifestsChanged.has(e)));
      const selected = selectPolicies(policies, changed);
      const found: MonitorFinding[] = [];
      for (const env of envs) {
        if (!whole.has(env) && changed.size === 0) continue;
        const checks = policyChecks({
          kinds: this.#kinds,
          ...(whole.has(env) ? policies : selected),
          manifests: await this.#inventory.manifests(env),
          now,
        });
        found.push(...policyFindings(env, whole.has(env) ? checks : checks.filter((c) => changed.has(c.rule)), this.#stamp()));
      }
      const changes = await this.#settle(
        "policies",
        found,
        (f) => f.type === "policy" && envs.includes(f.environment) && (whole.has(f.environment) || changed.has(f.rule)),
        0,
      );
      this.#policyPrints = prints;
      for (const env of whole) this.#manifestsChanged.delete(env);
      return { ...changes, policies: first ? [...prints.keys()] : [...changed] };
    });
  }

  /**
   * The agent saw drift: the live objects replace what was applied under their names, and the
   * environment's manifests are evaluated again, whole, with the policies given.
   */
  async driftDetected(
    environment: string,
    live: readonly SourcedObject[],
    policies: Omit<PolicyGateInput, "manifests">,
  ): Promise<FindingChanges> {
    await this.#serial(async () => {
      this.#fence();
      await recordDrift(this.#inventory, environment, live);
      this.#manifestsChanged.add(environment);
    });
    return this.checkPolicies(policies);
  }

  /** Whether some environment's manifests changed since the last policy check (a deployment, drift, or one recorded elsewhere). */
  get policiesStale(): boolean {
    return this.#manifestsChanged.size > 0;
  }

  /** A digest of each environment's manifests as stored. */
  async #manifestPrints(): Promise<Map<string, string>> {
    const prints = new Map<string, string>();
    for (const env of await this.#inventory.environments())
      prints.set(
        env,
        createHash("sha256")
          .update(JSON.stringify(await this.#inventory.manifests(env)))
          .digest("hex"),
      );
    return prints;
  }

  /** The open findings, as the evaluator holds them now. */
  openFindings(): MonitorFinding[] {
    return [...this.#open.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  /** A full rescan's findings of the same inventory and store, without changing the monitor: the reference the incremental result must equal. */
  async fullRescan(): Promise<MonitorFinding[]> {
    const fresh = await this.#load();
    await fresh.full();
    return fresh.placed(this.#stamp());
  }

  async #load(): Promise<Evaluator> {
    const evaluator = new Evaluator(this.#advisories, this.#vex);
    const cache = new Map<string, Component[]>();
    for (const w of await this.#inventory.workloads()) {
      for (const image of w.images) {
        let components = cache.get(image.digest);
        if (!components) cache.set(image.digest, (components = await this.#inventory.components(image.digest)));
        evaluator.add({ environment: w.environment, workload: w.workload, image: image.image, digest: image.digest }, components);
      }
    }
    return evaluator;
  }

  /**
   * Replaces the open findings `replaces` selects with `found`; emits the difference, then stores it.
   * The sinks hear of a change as soon as the diff is known; the inventory's write follows, in the same
   * order as the changes. A crash between the two loses nothing: the inventory still holds the findings
   * as before the change, so the monitor that starts next judges again, finds the difference again and
   * announces it again (at-least-once delivery, never none).
   */
  async #settle(
    trigger: string,
    found: MonitorFinding[],
    replaces: (f: MonitorFinding) => boolean,
    judged: number,
  ): Promise<FindingChanges> {
    const next = new Map<string, MonitorFinding>();
    for (const f of found) next.set(f.key, f);
    const update: FindingsUpdate = { opened: [], changed: [], closed: [] };
    for (const [key, f] of this.#open) {
      if (!replaces(f)) continue;
      const now = next.get(key);
      next.delete(key);
      if (!now) {
        update.closed.push(f);
        this.#open.delete(key);
      } else if (!sameFinding(f, now)) {
        const kept = { ...now, since: f.since };
        (samePlace(f, now) ? update.changed : update.opened).push(kept);
        this.#open.set(key, kept);
      }
    }
    for (const f of next.values()) {
      update.opened.push(f);
      this.#open.set(f.key, f);
    }
    const changes = { trigger, opened: [...update.opened, ...update.changed], closed: update.closed, judged };
    this.#fence();
    const emitted = Promise.all(this.#sinks.map((sink) => sink.emit(changes)));
    try {
      // Fenced again: a monitor that lost the Lease meanwhile stores nothing, and the next leader announces again.
      this.#fence();
      await this.#inventory.updateFindings(update);
    } finally {
      await emitted;
    }
    return changes;
  }

  #stamp(): string {
    return this.#now()
      .toISOString()
      .replace(/\.\d{3}Z$/, "Z");
  }

  #serial<T>(work: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(work);
    this.#queue = run.catch(() => {});
    return run;
  }
}

const isAdvisory = (f: MonitorFinding) => f.type === "advisory";

/** A generation no store has: the next refresh reads the store's index once more. */
const NOT_LOOKED = "";

function groupBy<T>(items: readonly T[], keyOf: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const key = keyOf(item);
    const group = groups.get(key);
    if (group) group.push(item);
    else groups.set(key, [item]);
  }
  return groups;
}

/** "Kind/namespace/name" (the policy gate's subject) as the inventory names workloads: "Kind namespace/name". */
function workloadName(subject: string): string {
  const slash = subject.indexOf("/");
  return slash < 0 ? subject : `${subject.slice(0, slash)} ${subject.slice(slash + 1)}`;
}

/**
 * The policy gate's failing checks on an environment's live manifests, as findings: one per object, rule
 * and reason (the check's code), never keyed by a message's words, so a reworded message is the same
 * finding. A rule failing one object for one reason more than once (one container, then another) is one
 * finding whose action names each.
 */
function policyFindings(environment: string, checks: Check[], since: string): MonitorFinding[] {
  const byKey = new Map<string, MonitorFinding>();
  for (const c of checks) {
    if (c.status !== "fail") continue;
    const key = findingKey(environment, c.subject, c.rule, c.code);
    const same = byKey.get(key);
    if (same) same.action = `${same.action}; ${c.message}`;
    else
      byKey.set(key, {
        key,
        type: "policy",
        subject: c.subject,
        rule: c.rule,
        environment,
        workload: workloadName(c.subject),
        image: "",
        digest: "",
        severity: "high",
        since,
        action: c.message,
      });
  }
  return [...byKey.values()];
}

/**
 * Per policy name, a digest of everything its checks depend on besides the manifests: the policy, the
 * bindings that name it, the params (any other object among the inputs, shared by all), the exceptions
 * that name it and whether each has expired at `now` (so time passing an expiry changes the digest).
 */
function policyPrints(input: Omit<PolicyGateInput, "manifests">, now: Date): Map<string, string> {
  const policies = input.policies.filter((s) => isPolicy(s.object));
  const bindings = input.policies.filter((s) => isBinding(s.object));
  const params = input.policies.filter((s) => !isPolicy(s.object) && !isBinding(s.object)).map((s) => s.object);
  const exceptions = (input.exceptions ?? []).map(parseException);
  const prints = new Map<string, string>();
  for (const p of policies) {
    const name = String(p.object.metadata?.name ?? "");
    const own = bindings.filter((b) => policyNameOf(b) === name).map((b) => b.object);
    const excepted = exceptions
      .filter((e) => e.policies.includes(name))
      .map((e) => ({ ...e, expired: e.expires.getTime() <= now.getTime() }));
    prints.set(
      name,
      createHash("sha256")
        .update(
          JSON.stringify([
            p.object,
            own,
            params,
            excepted.map((e) => [e.name, e.where, e.expires.toISOString(), e.expired, e.justification]),
          ]),
        )
        .digest("hex"),
    );
  }
  return prints;
}

/** The inputs with only these policies and their bindings (params and exceptions kept). */
function selectPolicies(input: Omit<PolicyGateInput, "manifests">, names: ReadonlySet<string>): Omit<PolicyGateInput, "manifests"> {
  const keep = (s: SourcedObject) =>
    isPolicy(s.object) ? names.has(String(s.object.metadata?.name ?? "")) : isBinding(s.object) ? names.has(policyNameOf(s)) : true;
  return { ...input, policies: input.policies.filter(keep) };
}

const policyNameOf = (binding: SourcedObject) => String((binding.object.spec as { policyName?: unknown } | undefined)?.policyName ?? "");
