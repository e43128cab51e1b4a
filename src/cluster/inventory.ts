// The inventory: a ConfigMap that lists every object an environment has applied, so that an object
// removed from Git can be pruned, and only such objects. Each entry also keeps two hashes from the last
// successful apply (the desired object, and the fields Vigil's field manager owned with their values)
// that let a resync recognise an unchanged object without writing to it.
import { createHmac, timingSafeEqual } from "node:crypto";
import { ExitCode } from "../core/errors.ts";
import { apiFailure, KubeApiError, type Cluster } from "./client.ts";
import { ENVIRONMENT_LABEL, identity } from "./objects.ts";

export const INVENTORY_FORMAT = "vigil.dev/inventory/v1";
/** A ConfigMap holds at most 1 MiB; keep room for its metadata. */
const MAX_INVENTORY_BYTES = 900 * 1024;

export interface InventoryRef {
  namespace: string;
  name: string;
}

export interface InventoryEntry {
  apiVersion: string;
  kind: string;
  namespace?: string;
  name: string;
  /** Hash of the object as last applied (labels included). */
  desired?: string;
  /** Hash of the fields Vigil owned after that apply, and their values. */
  owned?: string;
  /** Someone else made it and a person let this environment adopt it: never pruned. */
  adopted?: boolean;
}

export interface Inventory {
  entries: Map<string, InventoryEntry>;
  /** The stored text, so that an identical write can be skipped. */
  stored: string | undefined;
  /** Set when a MAC was expected and did not verify: the hashes were dropped, and why. */
  untrusted?: string;
}

/**
 * Keeps the inventory's hashes honest: an HMAC over the stored objects list with a key only the writer
 * holds. Someone who may write ConfigMaps in the agent's namespace could otherwise set an entry's hashes
 * to those of their own edit of the object, which a resync would then take for "unchanged".
 */
export function inventoryMac(key: Buffer): (objects: string) => string {
  return (objects) => createHmac("sha256", key).update(INVENTORY_FORMAT).update("\n").update(objects).digest("base64url");
}

function path(ref: InventoryRef): string {
  return `/api/v1/namespaces/${encodeURIComponent(ref.namespace)}/configmaps/${encodeURIComponent(ref.name)}`;
}

function where(ref: InventoryRef): string {
  return `inventory ConfigMap ${ref.namespace}/${ref.name}`;
}

/** Reads the inventory; none yet is an empty one. One that cannot be read is an error: pruning needs it. */
export async function readInventory(
  cluster: Cluster,
  ref: InventoryRef,
  environment: string,
  mac?: (objects: string) => string,
): Promise<Inventory> {
  const answer = await cluster.call({ verb: "get", method: "GET", path: path(ref) });
  if (answer.status === 404) return { entries: new Map(), stored: undefined };
  if (answer.status !== 200) throw apiFailure(answer, `reading the ${where(ref)}`);
  const data = answer.body?.data ?? {};
  const broken = (why: string) =>
    new KubeApiError(
      `the ${where(ref)} ${why}; Vigil cannot tell what it applied before (delete the ConfigMap to start over: nothing is pruned on the next sync)`,
      200,
      undefined,
      ExitCode.blocked,
    );
  if (data.format !== INVENTORY_FORMAT) throw broken(`is not a Vigil inventory (format "${data.format}")`);
  if (data.environment !== environment) throw broken(`belongs to environment "${data.environment}", not "${environment}"`);
  let list: unknown;
  try {
    list = JSON.parse(data.objects ?? "");
  } catch {
    throw broken("has an objects list that is not JSON");
  }
  if (!Array.isArray(list)) throw broken("has an objects list that is not a list");
  const entries = new Map<string, InventoryEntry>();
  for (const e of list) {
    const ok =
      e &&
      typeof e === "object" &&
      typeof e.apiVersion === "string" &&
      typeof e.kind === "string" &&
      typeof e.name === "string" &&
      (e.namespace === undefined || typeof e.namespace === "string") &&
      (e.desired === undefined || typeof e.desired === "string") &&
      (e.owned === undefined || typeof e.owned === "string") &&
      (e.adopted === undefined || e.adopted === true);
    if (!ok) throw broken(`has an entry that is not an object reference: ${JSON.stringify(e).slice(0, 200)}`);
    entries.set(identity(e), e as InventoryEntry);
  }
  if (mac) {
    const expected = Buffer.from(mac(data.objects));
    const given = Buffer.from(typeof data.mac === "string" ? data.mac : "");
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      // The list still says what may be pruned (only objects labelled for the environment ever are); the
      // hashes are not trusted: every object is applied again, so a hidden edit is found as drift.
      for (const e of entries.values()) {
        delete e.desired;
        delete e.owned;
      }
      return {
        entries,
        stored: undefined,
        untrusted: `the ${where(ref)} ${data.mac === undefined ? "carries no MAC" : "has a MAC that does not verify"}: it was written outside the agent (or before MACs); every object was applied again instead of trusting its hashes`,
      };
    }
  }
  return { entries, stored: data.objects };
}

/** The objects list as stored: one entry per line, in a stable order, so that equal lists are equal text. */
export function serializeEntries(entries: Iterable<InventoryEntry>): string {
  const sorted = [...entries].sort((a, b) => (identity(a) < identity(b) ? -1 : identity(a) > identity(b) ? 1 : 0));
  const lines = sorted.map((e) =>
    JSON.stringify({
      apiVersion: e.apiVersion,
      kind: e.kind,
      ...(e.namespace && { namespace: e.namespace }),
      name: e.name,
      ...(e.desired && { desired: e.desired }),
      ...(e.owned && { owned: e.owned }),
      ...(e.adopted && { adopted: true }),
    }),
  );
  return `[\n${lines.join(",\n")}\n]\n`;
}

/** Refuses, before anything is written, an inventory too large for a ConfigMap. */
export function checkInventorySize(ref: InventoryRef, entries: Iterable<InventoryEntry>): void {
  // With hashes as the final write will have them.
  const text = serializeEntries([...entries].map((e) => ({ ...e, desired: "x".repeat(22), owned: "x".repeat(22) })));
  if (Buffer.byteLength(text) > MAX_INVENTORY_BYTES) {
    throw new KubeApiError(
      `the ${where(ref)} would need ${Buffer.byteLength(text)} bytes, more than the ${MAX_INVENTORY_BYTES} a ConfigMap can hold; split the environment`,
      0,
      undefined,
      ExitCode.blocked,
    );
  }
}

/** Writes the inventory (server-side apply, as Vigil's own object), unless it already says exactly this. */
export async function writeInventory(
  cluster: Cluster,
  ref: InventoryRef,
  environment: string,
  inventory: Inventory,
  entries: Iterable<InventoryEntry>,
  fieldManager: string,
  mac?: (objects: string) => string,
): Promise<boolean> {
  const objects = serializeEntries(entries);
  if (objects === inventory.stored) return false;
  const body = {
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: {
      name: ref.name,
      namespace: ref.namespace,
      labels: { [ENVIRONMENT_LABEL]: environment, "app.kubernetes.io/managed-by": "vigil" },
    },
    data: { format: INVENTORY_FORMAT, environment, objects, ...(mac && { mac: mac(objects) }) },
  };
  const answer = await cluster.call({
    verb: "apply",
    method: "PATCH",
    path: path(ref),
    query: { fieldManager, force: "true" },
    body,
    contentType: "application/apply-patch+yaml",
  });
  if (answer.status !== 200 && answer.status !== 201) throw apiFailure(answer, `writing the ${where(ref)}`);
  inventory.stored = objects;
  return true;
}
