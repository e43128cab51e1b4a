// Applying an environment's set of objects: everything checked before the first write, the inventory
// widened before applying, Namespaces and CRDs first (CRDs until Established), then the rest by
// server-side apply; unchanged objects recognised from hashes and a labelled LIST, without writing; drift
// restored or reported; conflicts with other field managers reported unless forced; and objects removed
// from the set pruned only after the whole set applied, and only those that carry the environment's label.
import type { CheckCode } from "../core/verdict.ts";
import { ExitCode, InputError, VigilError } from "../core/errors.ts";
import { describeRef, type KubeObject, type SourcedObject } from "../manifest/manifests.ts";
import { describeAnswer, type ApiAnswer, type Cluster, type RequestCounts } from "./client.ts";
import { apiVersionOf, resourcePath, type ResourceInfo } from "./discovery.ts";
import { splitApiVersion } from "../manifest/resources.ts";
import { nameProblem, namespaceProblem } from "./names.ts";
import { conflictsOf, diffObjects, hashOf, hideSecretValues, ownedHash, type FieldChange, type FieldConflict } from "./fields.ts";
import { checkInventorySize, inventoryMac, readInventory, writeInventory, type InventoryEntry, type InventoryRef } from "./inventory.ts";
import { findExisting, inPool, listKey, listLabelled } from "./live.ts";
import { ENVIRONMENT_LABEL, identity, isLabelValue, type ObjectRef } from "./objects.ts";

export interface SyncOptions {
  /** The environment's name: the value of the vigil.dev/applied-by label on everything it applies. */
  environment: string;
  /** Where the environment's inventory ConfigMap lives (usually the agent's own namespace). */
  inventory: InventoryRef;
  /**
   * The connection that reads and writes the inventory, when it is not the one that applies: the agent
   * applies as the environment's ServiceAccount, which may not (and should not) write the agent's
   * namespace, and keeps the inventory as itself. Default: `cluster`.
   */
  inventoryCluster?: Cluster;
  /** Every namespaced object must be in one of these; a Namespace object must be named as one. */
  allowedNamespaces: readonly string[];
  /** Cluster-scoped objects other than allowed Namespaces (CRDs, ClusterRoles…). Default false. */
  allowClusterScoped?: boolean;
  /** Default "vigil". Several environments in one cluster each need their own (the agent uses vigil-ENV). */
  fieldManager?: string;
  /**
   * The agent's other environments: a Namespace one of them deploys into is never pruned by this one,
   * since deleting a Namespace deletes everything in it, their objects too.
   */
  otherEnvironments?: readonly { name: string; namespaces: readonly string[] }[];
  /** Take over fields another field manager owns instead of reporting the conflict. Default false. */
  force?: boolean;
  /** A live change to fields Vigil applied: put back, or only reported. Default "restore". */
  drift?: "restore" | "report";
  /** Delete objects removed from the set (that carry this environment's label). Default true. */
  prune?: boolean;
  /**
   * How much a sync may delete: up to `count` objects, or up to `fraction` of the inventory (with the
   * set's new objects) when that is more. Past both, nothing is deleted and the sync says why. Default
   * 10 and 0.5: a small environment may change freely, a large one may not lose most of itself at once.
   */
  pruneLimit?: { count: number; fraction: number };
  /** Delete past the prune limit, this once (a person's flag, or the trust policy's signed override). */
  allowMassPrune?: boolean;
  /** A key only the writer holds: the inventory is stored with an HMAC by it, and its hashes trusted only when that verifies. */
  inventoryKey?: Buffer;
  /** Plan only: what would be created, updated, pruned, with the changed fields; nothing is written. */
  dryRun?: boolean;
  /**
   * Called before every write (apply, delete, inventory); throwing stops the sync there. The agent
   * fences its writes by its Lease with it, so a replica that lost the Lease writes nothing more.
   */
  beforeWrite?: () => void;
  /** Requests in flight at once while applying. Default 8. */
  concurrency?: number;
  /** How long a CRD in the set may take to be Established. Default 30 s. */
  crdTimeoutMs?: number;
}

/**
 * What happened to an object (or would, in a dry run):
 * - create, update, unchanged: applied as asked (update lists the changed fields when they are known);
 * - drift: changed in the cluster outside Git since Vigil applied it; `restored` says whether it was put back;
 * - conflict: another field manager owns fields the set sets; not applied (set force to take them);
 * - rejected: the API server refused it (validation, admission, RBAC); `message` is the server's;
 * - prune: removed from the set and deleted (or already gone);
 * - orphan: removed from the set but left in place (not labelled for this environment, or outside the
 *   allowed namespaces), and dropped from the inventory.
 * - forbidden: the environment's account may not write (or read) it; reported, dropped from the
 *   inventory's claims, and the rest of the set still applies and prunes.
 * An object that exists in the cluster and was not created by this environment is a conflict (with
 * `managers` naming who manages it) until a person adopts it on purpose (annotation vigil.dev/adopt on
 * the live object, valued with the environment's name); an adopted object is `adopted`, and is never
 * pruned (removed from the set, it is left in place).
 */
export type SyncAction = "create" | "update" | "unchanged" | "drift" | "conflict" | "rejected" | "prune" | "orphan" | "forbidden";

export interface ObjectResult {
  object: ObjectRef;
  action: SyncAction;
  restored?: boolean;
  changes?: FieldChange[];
  conflicts?: FieldConflict[];
  message?: string;
  /** For an object someone else made: its field managers as "name (Operation)", the reason it is not taken over. */
  managers?: string[];
  /** For such an object another environment's label claims: that environment. */
  claimedBy?: string;
  /** Set when this sync adopted the object (a person annotated it for this environment). */
  adopted?: boolean;
  /** Set on a dry run's create the server could not simulate: its namespace or CustomResourceDefinition is in the same set. */
  deferred?: boolean;
}

export interface SyncResult {
  environment: string;
  dryRun: boolean;
  /** Every object applied (none rejected, in conflict or left drifted in restore mode); pruning could run. */
  complete: boolean;
  /** The set's objects in the order given, then what was removed from the set. */
  objects: ObjectResult[];
  /** Why nothing was pruned, when something should have been. */
  pruneSkipped?: string;
  /** Set when the prune limit stopped the deletes: why, and how to allow them. */
  pruneBlocked?: string;
  /** Set when the inventory's MAC did not verify: its hashes were not trusted (every object applied again). */
  inventoryUntrusted?: string;
  /** Requests this sync made (the Cluster's counter before and after). */
  requests: RequestCounts;
  durationMs: number;
}

export interface Refusal {
  file?: string;
  line?: number;
  /** "ConfigMap team-a/settings" */
  object: string;
  reason: string;
  /** The rule that refused it: "name" (bad input, exit 2), "scope" (the environment's fence), "set" (the set itself). */
  rule: "name" | "scope" | "set";
}

/** A refusal's check code, by the rule that refused it. */
export const REFUSAL_CODES = { name: "invalid-name", scope: "out-of-scope", set: "invalid-set" } as const satisfies Record<
  Refusal["rule"],
  CheckCode
>;

/** The set was refused before anything was written: each refusal names the file, line and object. */
export class SyncRefused extends VigilError {
  readonly refusals: Refusal[];
  constructor(refusals: Refusal[]) {
    const lines = refusals.map((r) => `  ${r.file ? `${r.file}:${r.line ?? 1}: ` : ""}${r.object}: ${r.reason}`);
    // A name the API server would reject is bad input (exit 2); anything else is the fence refusing (exit 1).
    super(
      `${refusals.length} object${refusals.length === 1 ? "" : "s"} refused, nothing was written:\n${lines.join("\n")}`,
      refusals.some((r) => r.rule === "name") ? ExitCode.badInput : ExitCode.blocked,
    );
    this.refusals = refusals;
  }
}

interface Item {
  ref: ObjectRef;
  key: string;
  info: ResourceInfo;
  body: KubeObject;
  desiredHash: string;
  /** 1: Namespaces and CRDs, applied first; 2: everything else. */
  phase: 1 | 2;
  /** For a custom resource whose CRD is in the set: that CRD's key. */
  crdKey?: string;
  recorded?: InventoryEntry;
  live?: any;
  /** The server refused to list it: its live state is unknown, so it is applied rather than judged drifted. */
  unlisted?: boolean;
  /** Adopted on purpose, now or before: never pruned. */
  adopted?: boolean;
  result?: ObjectResult;
  /** The inventory entry after this sync; null: dropped from the inventory's claims. */
  entry?: InventoryEntry | null;
}

/** The annotation a person sets on a live object to let one environment adopt it: its value is the environment's name. */
export const ADOPT_ANNOTATION = "vigil.dev/adopt";

const CRD_GROUP = "apiextensions.k8s.io";

export async function syncSet(cluster: Cluster, objects: readonly SourcedObject[], options: SyncOptions): Promise<SyncResult> {
  const started = Date.now();
  const before = cluster.requests.snapshot();
  const o = withDefaults(options);
  const items = await prepare(cluster, objects, o);
  const inventoryCluster = options.inventoryCluster ?? cluster;
  const mac = options.inventoryKey && inventoryMac(options.inventoryKey);
  const inventory = await readInventory(inventoryCluster, o.inventory, o.environment, mac);
  const desired = new Map(items.map((i) => [i.key, i]));
  for (const item of items) item.recorded = inventory.entries.get(item.key);
  const removed = [...inventory.entries.entries()].filter(([key]) => !desired.has(key)).map(([, e]) => e);
  checkInventorySize(o.inventory, [...inventory.entries.values(), ...items.filter((i) => !i.recorded).map((i) => entryOf(i))]);

  // The live state of objects Vigil applied before (to recognise unchanged ones) and of pruning candidates.
  const prunable = await resolveRemoved(cluster, removed);
  const unlisted = new Set<string>();
  const live = await listLabelled(
    cluster,
    o.environment,
    [
      ...items.filter((i) => i.recorded?.desired).map((i) => ({ info: i.info, namespace: i.ref.namespace })),
      ...prunable.flatMap((p) => (p.info ? [{ info: p.info, namespace: p.entry.namespace }] : [])),
    ],
    unlisted,
  );
  for (const item of items) {
    item.live = live.get(item.key);
    item.unlisted = unlisted.has(listKey(item.info, item.ref.namespace));
    item.adopted = item.recorded?.adopted === true;
  }
  await judgeOwnership(cluster, items, o);

  const work: Item[] = [];
  for (const item of items) {
    if (item.result) continue;
    if (classify(item, o) === "unchanged") finish(item, { action: "unchanged" }, item.recorded);
    else work.push(item);
  }
  // Only what this environment may claim: objects someone else manages are not, until adopted.
  const union = [...inventory.entries.values(), ...work.filter((i) => !i.recorded).map((i) => entryOf(i))];

  if (!o.dryRun && union.length > inventory.entries.size) {
    // Before the first write: an agent stopped mid-apply still knows every object it may have created.
    o.beforeWrite();
    await writeInventory(inventoryCluster, o.inventory, o.environment, inventory, union, o.fieldManager, mac);
  }

  const crdFailures = new Map<string, string>();
  const phase1 = work.filter((i) => i.phase === 1);
  await inPool(phase1, o.concurrency, (item) => applyItem(cluster, item, o));
  await inPool(
    items.filter((i) => i.info.group === CRD_GROUP && i.info.kind === "CustomResourceDefinition"),
    o.concurrency,
    async (crd) => {
      const failure = await crdReadiness(cluster, crd, o);
      if (failure) crdFailures.set(crd.key, failure);
    },
  );
  const plannedNamespaces = new Set(
    phase1.filter((i) => i.info.kind === "Namespace" && i.result?.action === "create").map((i) => i.ref.name),
  );
  await inPool(
    work.filter((i) => i.phase === 2),
    o.concurrency,
    async (item) => {
      const crdFailure = item.crdKey ? crdFailures.get(item.crdKey) : undefined;
      if (crdFailure) return finish(item, { action: "rejected", message: crdFailure }, item.recorded);
      if (
        o.dryRun &&
        ((item.ref.namespace && plannedNamespaces.has(item.ref.namespace)) ||
          (item.crdKey && desired.get(item.crdKey)?.result?.action === "create"))
      ) {
        // The server cannot simulate an object in a namespace, or of a kind, that does not exist yet.
        return finish(
          item,
          { action: "create", message: "after its namespace or CustomResourceDefinition is created", deferred: true },
          item.recorded,
        );
      }
      await applyItem(cluster, item, o);
    },
  );

  // Drift left in place is what report mode asks for; in restore mode it is a failure to apply.
  const notApplied = items.filter(
    ({ result }) =>
      result!.action === "rejected" ||
      result!.action === "conflict" ||
      (result!.action === "drift" && o.drift === "restore" && !result!.restored),
  );
  const complete = notApplied.length === 0;
  const kept: InventoryEntry[] = [];
  const removedResults: ObjectResult[] = [];
  let pruneSkipped: string | undefined;
  const pruneBlocked =
    complete && o.prune && !o.allowMassPrune
      ? pruneLimitExceeded(removed, inventory.entries.size + work.filter((i) => !i.recorded).length, o)
      : undefined;
  if (removed.length > 0 && (!o.prune || !complete || pruneBlocked)) {
    pruneSkipped = !o.prune
      ? "prune is off: objects removed from the set are left in place (and stay in the inventory)"
      : (pruneBlocked ?? `${notApplied.length} object(s) of the set did not apply: nothing is pruned until the whole set has applied`);
    kept.push(...removed);
  } else {
    for (const outcome of await prune(cluster, prunable, live, o)) {
      removedResults.push(outcome.result);
      if (outcome.keep) kept.push(outcome.entry);
    }
  }

  if (!o.dryRun) {
    o.beforeWrite();
    await writeInventory(
      inventoryCluster,
      o.inventory,
      o.environment,
      inventory,
      [...items.flatMap((i) => (i.entry ? [i.entry] : [])), ...kept],
      o.fieldManager,
      mac,
    );
  }
  return {
    environment: o.environment,
    dryRun: o.dryRun,
    complete,
    objects: [...items.map((i) => i.result!), ...removedResults],
    ...(pruneSkipped && { pruneSkipped }),
    ...(pruneBlocked && { pruneBlocked }),
    ...(inventory.untrusted && { inventoryUntrusted: inventory.untrusted }),
    requests: cluster.requests.since(before),
    durationMs: Date.now() - started,
  };
}

type Options = Required<Omit<SyncOptions, "inventory" | "allowedNamespaces" | "inventoryCluster" | "inventoryKey">> &
  Pick<SyncOptions, "inventory" | "allowedNamespaces" | "inventoryCluster" | "inventoryKey">;

/**
 * Objects this environment has not applied before: one that exists already was made by someone else
 * (a person, a controller, another environment) unless this environment's field manager is among its
 * managers. It is a conflict naming its managers, never adopted silently, until a person adopts it
 * on purpose by annotating the live object; the adoption is in the result (and so in the audit log).
 */
async function judgeOwnership(cluster: Cluster, items: Item[], o: Options): Promise<void> {
  const fresh = items.filter((i) => !i.recorded?.desired);
  const existing = await findExisting(
    cluster,
    fresh.filter((i) => !i.live).map((i) => ({ key: i.key, info: i.info, namespace: i.ref.namespace, name: i.ref.name })),
    o.concurrency,
  );
  for (const item of fresh) {
    const found = item.live ?? existing.get(item.key);
    if (found === "forbidden") {
      finish(
        item,
        {
          action: "forbidden",
          message: "the environment's account may not read it, so Vigil cannot tell whether someone else made it: not applied",
        },
        null,
      );
      continue;
    }
    const managers = (found?.metadata?.managedFields ?? []) as { manager?: string; operation?: string }[];
    if (!found || managers.some((m) => m.manager === o.fieldManager)) continue;
    if (found.metadata?.annotations?.[ADOPT_ANNOTATION] === o.environment) {
      item.adopted = true;
      continue;
    }
    const named = [...new Set(managers.map((m) => `${m.manager ?? "(unnamed)"} (${m.operation ?? "?"})`))];
    const claimedBy = found.metadata?.labels?.[ENVIRONMENT_LABEL];
    const managedBy = `managed by ${named.join(", ") || "no recorded field manager"}`;
    finish(
      item,
      {
        action: "conflict",
        managers: named,
        ...(claimedBy !== undefined && { claimedBy }),
        message: claimedBy
          ? `it belongs to another environment: ${claimedBy} (${ENVIRONMENT_LABEL}=${claimedBy}, ${managedBy}); not applied, even with force: define it in one environment only`
          : `it exists and was not created by environment ${o.environment}: ${managedBy}. Vigil neither takes it over nor prunes it: remove it from Git, or adopt it on purpose with the annotation ${ADOPT_ANNOTATION}=${o.environment} on the live object`,
      },
      null,
    );
  }
}

/** Why deleting these would pass the prune limit, or undefined when it would not. */
function pruneLimitExceeded(removed: readonly InventoryEntry[], inventorySize: number, o: Options): string | undefined {
  const deleting = removed.filter((e) => !e.adopted).length;
  const { count, fraction } = o.pruneLimit;
  if (deleting <= count || deleting <= fraction * inventorySize) return undefined;
  return (
    `prune limit: ${deleting} of ${inventorySize} objects would be deleted, more than both ${count} objects and ${Math.round(fraction * 100)}% of the inventory; ` +
    "nothing was deleted. If this is meant, allow it once (vigil agent --allow-mass-prune ENV) or raise the environment's pruneLimit in the trust policy"
  );
}

/**
 * A conflict over the environment label: another environment applied the object (or someone labelled
 * it so). It is reported, never forced: force takes fields over from people and controllers, not an
 * object from another environment (which could then prune it).
 */
function claimedElsewhere(conflicts: FieldConflict[]): boolean {
  return claimingManager(conflicts) !== undefined;
}

/** The field manager that holds the object's environment label against this one, if that is a conflict. */
export function claimingManager(conflicts: readonly FieldConflict[]): string | undefined {
  return conflicts.find((c) => c.field === `.metadata.labels.${ENVIRONMENT_LABEL}`)?.manager;
}

function withDefaults(options: SyncOptions): Options {
  const o: Options = {
    allowClusterScoped: false,
    fieldManager: "vigil",
    force: false,
    drift: "restore",
    prune: true,
    dryRun: false,
    otherEnvironments: [],
    pruneLimit: { count: 10, fraction: 0.5 },
    allowMassPrune: false,
    beforeWrite: () => {},
    concurrency: 8,
    crdTimeoutMs: 30_000,
    ...options,
  };
  if (!isLabelValue(o.environment))
    throw new InputError(`environment "${o.environment}" cannot be a label value (63 characters at most: letters, digits, - _ .)`);
  if (!o.inventory?.namespace || !o.inventory?.name) throw new InputError("inventory: a namespace and a name are required");
  if (!/^[\x21-\x7e]{1,128}$/.test(o.fieldManager))
    throw new InputError(`fieldManager "${o.fieldManager}" must be 1 to 128 printable characters`);
  if (o.drift !== "restore" && o.drift !== "report") throw new InputError(`drift must be "restore" or "report", not "${o.drift}"`);
  if (!(o.concurrency >= 1)) throw new InputError("concurrency must be at least 1");
  if (!(o.pruneLimit.count >= 0) || !(o.pruneLimit.fraction >= 0 && o.pruneLimit.fraction <= 1))
    throw new InputError("pruneLimit: count must be 0 or more, fraction between 0 and 1");
  return o;
}

// ---------------------------------------------------------------------------------------------------
// Checks before the first write

async function prepare(cluster: Cluster, objects: readonly SourcedObject[], o: Options): Promise<Item[]> {
  const refusals: Refusal[] = [];
  const refuse = (s: SourcedObject, reason: string, rule: Refusal["rule"] = "scope") => {
    const m = s.object.metadata ?? {};
    const shown = (x: unknown) => (typeof x === "string" ? JSON.stringify(x).slice(1, -1).slice(0, 80) : undefined);
    refusals.push({
      file: s.file,
      line: s.line,
      object: describeRef({ kind: String(s.object.kind ?? "object"), namespace: shown(m.namespace), name: shown(m.name) ?? "(no name)" }),
      reason,
      rule,
    });
  };

  // Names first, before any request (discovery included): a name like ".." is bad input, named with its file.
  for (const s of objects) {
    const { apiVersion, kind, metadata: m = {} } = s.object;
    if (typeof apiVersion !== "string" || typeof kind !== "string" || typeof m.name !== "string" || m.name === "") continue;
    const problem =
      nameProblem(splitApiVersion(apiVersion).group, kind, m.name) ??
      (typeof m.namespace === "string" && m.namespace !== "" ? namespaceProblem(m.namespace) : undefined);
    if (problem) refuse(s, problem, "name");
  }
  if (refusals.length > 0) throw new SyncRefused(refusals);

  // Kinds the set itself defines through CustomResourceDefinitions.
  const defined = new Map<string, { info: ResourceInfo; crdKey: string }>();
  for (const s of objects) {
    const crd = s.object as any;
    if (crd.kind !== "CustomResourceDefinition" || !String(crd.apiVersion).startsWith(`${CRD_GROUP}/`)) continue;
    const spec = crd.spec ?? {};
    for (const v of (spec.versions ?? []) as { name?: string; served?: boolean }[]) {
      if (
        v.served === false ||
        typeof v.name !== "string" ||
        typeof spec.group !== "string" ||
        typeof spec.names?.kind !== "string" ||
        typeof spec.names?.plural !== "string"
      )
        continue;
      const info = {
        group: spec.group,
        version: v.name,
        kind: spec.names.kind,
        resource: spec.names.plural,
        namespaced: spec.scope !== "Cluster",
      };
      defined.set(`${apiVersionOf(info.group, info.version)}|${info.kind}`, {
        info,
        crdKey: identity({ apiVersion: crd.apiVersion, kind: crd.kind, name: String(crd.metadata?.name) }),
      });
    }
  }

  // Discovery: each apiVersion asked once; a kind it does not list makes it asked once more.
  const served = await cluster.discovery.resolve(
    objects.flatMap(({ object: { apiVersion, kind } }) =>
      typeof apiVersion === "string" && typeof kind === "string" && !defined.has(`${apiVersion}|${kind}`) ? [{ apiVersion, kind }] : [],
    ),
  );
  const kinds = new Map<string, ResourceInfo | undefined>();
  for (const [k, info] of served) kinds.set(k, info);
  for (const [k, { info }] of defined) kinds.set(k, info);

  const allowed = new Set(o.allowedNamespaces);
  const allowedList = o.allowedNamespaces.join(", ") || "none";
  const seen = new Map<string, SourcedObject>();
  const inventoryKey = identity({ apiVersion: "v1", kind: "ConfigMap", namespace: o.inventory.namespace, name: o.inventory.name });
  const items: Item[] = [];
  for (const s of objects) {
    const obj = s.object;
    const m = obj.metadata ?? {};
    if (typeof obj.apiVersion !== "string" || obj.apiVersion === "" || typeof obj.kind !== "string" || obj.kind === "") {
      refuse(s, "apiVersion and kind are required", "name");
      continue;
    }
    if (typeof m.name !== "string" || m.name === "") {
      refuse(s, "metadata.name is required (generateName cannot be applied: it would create a new object on every sync)", "name");
      continue;
    }
    const k = `${obj.apiVersion}|${obj.kind}`;
    const info = kinds.get(k);
    if (!info) {
      refuse(s, `the cluster does not serve ${obj.kind} in ${obj.apiVersion}, and no CustomResourceDefinition in this set defines it`);
      continue;
    }
    const namespace = typeof m.namespace === "string" && m.namespace !== "" ? m.namespace : undefined;
    if (info.namespaced) {
      if (namespace === undefined) {
        refuse(s, `${obj.kind} is namespaced: metadata.namespace is required (allowed: ${allowedList})`);
        continue;
      }
      if (!allowed.has(namespace)) {
        refuse(s, `namespace "${namespace}" is not allowed for environment ${o.environment} (allowed: ${allowedList})`);
        continue;
      }
    } else {
      if (namespace !== undefined) {
        refuse(s, `${obj.kind} is cluster-scoped: remove metadata.namespace ("${namespace}")`);
        continue;
      }
      if (info.group === "" && info.kind === "Namespace") {
        if (!allowed.has(m.name)) {
          refuse(s, `namespace "${m.name}" is not allowed for environment ${o.environment} (allowed: ${allowedList})`);
          continue;
        }
      } else if (!o.allowClusterScoped) {
        refuse(
          s,
          `${obj.kind} is cluster-scoped, and environment ${o.environment} does not allow cluster-scoped objects other than its namespaces`,
        );
        continue;
      }
    }
    const label = m.labels?.[ENVIRONMENT_LABEL];
    if (label !== undefined && label !== o.environment) {
      refuse(s, `it is labelled ${ENVIRONMENT_LABEL}=${label}, but is applied by environment ${o.environment}`);
      continue;
    }
    if (Array.isArray(m.managedFields) && m.managedFields.length > 0) {
      refuse(s, "metadata.managedFields must not be set in a manifest");
      continue;
    }
    const ref: ObjectRef = {
      apiVersion: obj.apiVersion,
      kind: obj.kind,
      ...(namespace && { namespace }),
      name: m.name,
      file: s.file,
      line: s.line,
    };
    const key = identity(ref);
    const first = seen.get(key);
    if (first) {
      refuse(s, `the same object is also defined at ${first.file}:${first.line}`, "set");
      continue;
    }
    seen.set(key, s);
    if (key === inventoryKey) {
      refuse(s, `this is environment ${o.environment}'s inventory, which Vigil writes itself`);
      continue;
    }
    const body: KubeObject = { ...obj, metadata: { ...m, labels: { ...m.labels, [ENVIRONMENT_LABEL]: o.environment } } };
    const isFirst =
      (info.group === "" && info.kind === "Namespace") || (info.group === CRD_GROUP && info.kind === "CustomResourceDefinition");
    const crdKey = defined.get(k)?.crdKey;
    items.push({ ref, key, info, body, desiredHash: hashOf(body), phase: isFirst ? 1 : 2, ...(crdKey && { crdKey }) });
  }
  if (refusals.length > 0) throw new SyncRefused(refusals);
  return items;
}

// ---------------------------------------------------------------------------------------------------
// Live state

/** Unchanged when Git did not change it, Vigil still owns what it applied, and those values are as applied. */
function classify(item: Item, o: Options): "unchanged" | "drift" | "apply" {
  const rec = item.recorded;
  if (!rec?.desired || !rec.owned || rec.desired !== item.desiredHash || item.unlisted) return "apply";
  if (item.live && ownedHash(item.live, o.fieldManager) === rec.owned) return "unchanged";
  return "drift";
}

// ---------------------------------------------------------------------------------------------------
// Applying

function applyCall(cluster: Cluster, item: Item, o: Options, mode: { force: boolean; dryRun: boolean }): Promise<ApiAnswer> {
  if (!mode.dryRun) o.beforeWrite();
  return cluster.call({
    verb: mode.dryRun ? "dryRun" : "apply",
    method: "PATCH",
    path: resourcePath(item.info, item.ref.namespace, item.ref.name),
    query: {
      fieldManager: o.fieldManager,
      // Unknown or duplicated fields are refused, not dropped: what is applied is exactly what was verified.
      fieldValidation: "Strict",
      force: mode.force ? "true" : undefined,
      dryRun: mode.dryRun ? "All" : undefined,
    },
    body: item.body,
    contentType: "application/apply-patch+yaml",
  });
}

/** Records the result; `entry` is what the inventory keeps (undefined: the bare reference; null: nothing). */
function finish(item: Item, result: Omit<ObjectResult, "object">, entry: InventoryEntry | undefined | null): void {
  const isSecret = item.info.group === "" && item.info.kind === "Secret";
  item.result = {
    object: item.ref,
    ...result,
    ...(isSecret && result.changes && { changes: hideSecretValues(result.changes) }),
    ...(item.adopted && !item.recorded?.adopted && { adopted: true }),
  };
  item.entry =
    entry === null ? null : entry ? { ...entry, apiVersion: item.ref.apiVersion, ...(item.adopted && { adopted: true }) } : entryOf(item);
}

function entryOf(item: Item, owned?: string): InventoryEntry {
  return {
    apiVersion: item.ref.apiVersion,
    kind: item.ref.kind,
    ...(item.ref.namespace && { namespace: item.ref.namespace }),
    name: item.ref.name,
    ...(owned && { desired: item.desiredHash, owned }),
    ...(item.adopted && { adopted: true }),
  };
}

async function applyItem(cluster: Cluster, item: Item, o: Options): Promise<void> {
  const kind = classify(item, o);
  if (kind === "drift") return drift(cluster, item, o);
  // With force, still without it first: a conflict over the environment label is not forced. A person's
  // adoption (vigil agent adopt) takes the fields over once, on the first apply after it.
  const takeOver = o.force || (item.adopted === true && !item.recorded?.adopted);
  let answer = await applyWithRetryOn404(cluster, item, o, { force: false, dryRun: o.dryRun });
  if (answer.status === 409 && takeOver && !claimedElsewhere(conflictsOf(answer.body)))
    answer = await applyCall(cluster, item, o, { force: true, dryRun: o.dryRun });
  if (answer.status === 409) {
    const conflicts = conflictsOf(answer.body);
    return finish(item, { action: "conflict", conflicts, message: conflictMessage(conflicts, answer) }, item.recorded);
  }
  if (answer.status === 403)
    return finish(item, { action: "forbidden", message: `the environment's account may not write it: ${describeAnswer(answer)}` }, null);
  if (answer.status !== 200 && answer.status !== 201)
    return finish(item, { action: "rejected", message: describeAnswer(answer) }, item.recorded);
  const previous = item.live ?? (o.dryRun && answer.status === 200 ? await getLive(cluster, item) : undefined);
  const changes = previous ? diffObjects(previous, answer.body) : undefined;
  const unchanged =
    answer.status === 200 &&
    previous &&
    ((previous.metadata?.resourceVersion === answer.body?.metadata?.resourceVersion && !o.dryRun) || changes?.length === 0);
  const action = answer.status === 201 ? "create" : unchanged ? "unchanged" : "update";
  finish(
    item,
    { action, ...(action === "update" && changes && { changes }) },
    o.dryRun ? item.recorded : entryOf(item, ownedHash(answer.body, o.fieldManager)),
  );
}

/**
 * Git did not change the object, yet what Vigil owns in it changed: someone edited it (or deleted it,
 * or removed its label). Report mode simulates the apply to name the fields; restore mode applies, and
 * takes back fields another manager took (those were Vigil's when it last applied).
 */
async function drift(cluster: Cluster, item: Item, o: Options): Promise<void> {
  const restore = o.drift === "restore" && !o.dryRun;
  const probe = await applyWithRetryOn404(cluster, item, o, { force: false, dryRun: !restore });
  let conflicts: FieldConflict[] | undefined;
  let answer = probe;
  if (probe.status === 409) {
    conflicts = conflictsOf(probe.body);
    if (claimedElsewhere(conflicts))
      return finish(item, { action: "conflict", conflicts, message: conflictMessage(conflicts, probe) }, item.recorded);
    // Restore takes the fields back; report asks the server what taking them back would change, to show it.
    answer = await applyCall(cluster, item, o, { force: true, dryRun: !restore });
  }
  const accepted = answer.status === 200 || answer.status === 201;
  if (answer.status === 403)
    return finish(
      item,
      { action: "forbidden", message: `changed outside Git, and the environment's account may not write it: ${describeAnswer(answer)}` },
      null,
    );
  if (!accepted && restore) {
    return finish(
      item,
      { action: "rejected", message: `changed outside Git, and putting it back failed: ${describeAnswer(answer)}` },
      item.recorded,
    );
  }
  const changes = item.live && accepted ? diffObjects(item.live, answer.body) : undefined;
  const what = !item.live
    ? `not found with label ${ENVIRONMENT_LABEL}=${o.environment}: deleted or relabelled outside Git`
    : conflicts?.length
      ? `changed outside Git: ${conflicts.map((c) => `${c.field || "fields"} now owned by "${c.manager}"`).join(", ")}`
      : "changed outside Git";
  const restored = restore;
  finish(
    item,
    {
      action: "drift",
      restored,
      message: restored ? `${what}; restored` : `${what}; ${o.dryRun ? "would be restored" : "reported, not restored (drift: report)"}`,
      ...(conflicts?.length && { conflicts }),
      ...(changes?.length && { changes }),
    },
    restored ? entryOf(item, ownedHash(answer.body, o.fieldManager)) : item.recorded,
  );
}

function conflictMessage(conflicts: FieldConflict[], answer: ApiAnswer): string {
  if (conflicts.length === 0) return describeAnswer(answer);
  const owner = claimingManager(conflicts);
  if (owner) {
    return `it belongs to another environment ("${owner}" set its ${ENVIRONMENT_LABEL} label): not applied, even with force; an object is applied by one environment only`;
  }
  const byManager = new Map<string, string[]>();
  for (const c of conflicts) byManager.set(c.manager, [...(byManager.get(c.manager) ?? []), c.field]);
  const owners = [...byManager].map(([m, fields]) => `"${m}" owns ${fields.join(", ")}`).join("; ");
  return `${owners}: not applied (set force to take these fields over)`;
}

/** Right after its CRD is Established, a custom resource's endpoint may answer 404 for a moment. */
async function applyWithRetryOn404(
  cluster: Cluster,
  item: Item,
  o: Options,
  mode: { force: boolean; dryRun: boolean },
): Promise<ApiAnswer> {
  for (let attempt = 1; ; attempt++) {
    const answer = await applyCall(cluster, item, o, mode);
    const endpointMissing = answer.status === 404 && item.crdKey !== undefined && answer.body?.details?.name === undefined;
    if (!endpointMissing || attempt >= 5) return answer;
    await new Promise((r) => setTimeout(r, 100 * attempt));
  }
}

async function getLive(cluster: Cluster, item: Item): Promise<any> {
  const answer = await cluster.call({ verb: "get", method: "GET", path: resourcePath(item.info, item.ref.namespace, item.ref.name) });
  return answer.status === 200 ? answer.body : undefined;
}

/** Waits until a CRD of the set is Established; returns why not, if it is not. */
async function crdReadiness(cluster: Cluster, crd: Item, o: Options): Promise<string | undefined> {
  if (crd.result?.action === "rejected") return `its CustomResourceDefinition ${crd.ref.name} was rejected`;
  if (o.dryRun) return undefined;
  const deadline = Date.now() + o.crdTimeoutMs;
  let obj = crd.result?.action === "unchanged" ? crd.live : undefined;
  for (let wait = 25; ; wait = Math.min(wait * 2, 1000)) {
    if (obj) {
      const conditions = (obj.status?.conditions ?? []) as { type: string; status: string; message?: string }[];
      if (conditions.some((c) => c.type === "Established" && c.status === "True")) return undefined;
      const names = conditions.find((c) => c.type === "NamesAccepted" && c.status === "False");
      if (names) return `its CustomResourceDefinition ${crd.ref.name} was not accepted: ${names.message}`;
    }
    if (Date.now() + wait > deadline)
      return `its CustomResourceDefinition ${crd.ref.name} was not Established within ${o.crdTimeoutMs / 1000} s`;
    if (obj) await new Promise((r) => setTimeout(r, wait));
    const answer = await cluster.call({ verb: "get", method: "GET", path: resourcePath(crd.info, undefined, crd.ref.name) });
    if (answer.status !== 200) return `its CustomResourceDefinition ${crd.ref.name} cannot be read: ${describeAnswer(answer)}`;
    obj = answer.body;
  }
}

// ---------------------------------------------------------------------------------------------------
// Pruning

interface Removed {
  entry: InventoryEntry;
  info: ResourceInfo | undefined;
}

async function resolveRemoved(cluster: Cluster, removed: InventoryEntry[]): Promise<Removed[]> {
  const kinds = await cluster.discovery.resolve(removed);
  return removed.map((entry) => ({ entry, info: kinds.get(`${entry.apiVersion}|${entry.kind}`) }));
}

/** Deletes what left the set, if it carries this environment's label: everything else first, then CRDs, then Namespaces. */
async function prune(
  cluster: Cluster,
  removed: Removed[],
  live: Map<string, any>,
  o: Options,
): Promise<{ result: ObjectResult; entry: InventoryEntry; keep: boolean }[]> {
  const rank = (r: Removed) => (r.entry.kind === "Namespace" ? 2 : r.entry.kind === "CustomResourceDefinition" ? 1 : 0);
  const outcomes: { result: ObjectResult; entry: InventoryEntry; keep: boolean }[] = [];
  const allowed = new Set(o.allowedNamespaces);
  for (const stage of [0, 1, 2]) {
    await inPool(
      removed.filter((r) => rank(r) === stage),
      o.concurrency,
      async ({ entry, info }) => {
        const object: ObjectRef = {
          apiVersion: entry.apiVersion,
          kind: entry.kind,
          ...(entry.namespace && { namespace: entry.namespace }),
          name: entry.name,
        };
        const done = (action: SyncAction, message: string | undefined, keep = false) =>
          void outcomes.push({ result: { object, action, ...(message && { message }) }, entry, keep });
        if (!info) return done("prune", "already gone: the cluster no longer serves its kind");
        if (entry.adopted)
          return done("orphan", `left in place: environment ${o.environment} adopted it and did not create it, so it never deletes it`);
        const inAllowedNamespace =
          entry.kind === "Namespace" ? allowed.has(entry.name) : !info.namespaced || allowed.has(entry.namespace ?? "");
        if (!inAllowedNamespace)
          return done(
            "orphan",
            `left in place: namespace "${entry.kind === "Namespace" ? entry.name : entry.namespace}" is no longer allowed for environment ${o.environment}`,
          );
        const sharing =
          info.group === "" && info.kind === "Namespace"
            ? o.otherEnvironments.filter((e) => e.namespaces.includes(entry.name)).map((e) => e.name)
            : [];
        // Kept in the inventory: pruned once no other environment deploys into it.
        if (sharing.length > 0)
          return done(
            "orphan",
            `left in place: environment ${sharing.join(", ")} also deploys into namespace "${entry.name}", and deleting it would delete their objects`,
            true,
          );
        const obj = live.get(identity(entry));
        if (!obj) {
          // Not listed with our label: gone, or someone removed the label (then it is no longer ours to delete).
          const status = (await cluster.call({ verb: "get", method: "GET", path: resourcePath(info, entry.namespace, entry.name) })).status;
          if (status === 403)
            return done("forbidden", "left in place: the environment's account may not read it; dropped from the inventory");
          return status === 200
            ? done("orphan", `left in place: it no longer carries ${ENVIRONMENT_LABEL}=${o.environment}`)
            : done("prune", "already gone");
        }
        if (o.dryRun) return done("prune", undefined);
        o.beforeWrite();
        const answer = await cluster.call({
          verb: "delete",
          method: "DELETE",
          path: resourcePath(info, entry.namespace, entry.name),
          // Only the object that was listed: if it was deleted and created again since, it is not ours to delete.
          body: { apiVersion: "v1", kind: "DeleteOptions", preconditions: { uid: obj.metadata.uid }, propagationPolicy: "Background" },
        });
        if (answer.status === 200 || answer.status === 202) return done("prune", undefined);
        if (answer.status === 404) return done("prune", "already gone");
        if (answer.status === 409)
          return done("orphan", `left in place: it was replaced since it was listed (${describeAnswer(answer)})`, true);
        if (answer.status === 403)
          return done(
            "forbidden",
            `left in place: the environment's account may not delete it (${describeAnswer(answer)}); dropped from the inventory`,
          );
        done("rejected", `could not be pruned: ${describeAnswer(answer)}`, true);
      },
    );
  }
  return outcomes;
}
