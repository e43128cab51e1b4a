// Webhook deliveries seen by any replica (issue 15 §3). A delivery id or signature remembered in one
// replica's memory could be replayed to another replica, or to the same one after a restart, and be
// accepted once more. So every replica keeps them where all of them look, the API server they already
// share: the ConfigMap vigil-deliveries in the agent's namespace, one key per delivery id and per
// signature (a SHA-256 prefix: ids and signatures are the sender's text) whose value is when it was
// first seen. Bounded like the memory log was: entries expire after a day, and past MAX_ENTRIES the
// oldest go first (a ConfigMap holds 1 MiB). Two replicas recording at once cannot both win: each
// write names the resourceVersion it read, and the loser reads again and finds the other's entry.
// When the API server cannot be asked, the delivery is not accepted (503: the forge redelivers).
import { createHash } from "node:crypto";
import { UnavailableError } from "../core/errors.ts";
import { apiFailure, type Cluster } from "../cluster/client.ts";

export const DELIVERIES_NAME = "vigil-deliveries";
/** Two keys per delivery (id and signature), about 52 bytes each: well under a ConfigMap's 1 MiB. */
export const MAX_ENTRIES = 16_000;
const TTL_MS = 24 * 3600_000;
/** Writes that lost to another replica's, retried (after a short random pause, so that they spread out). */
const MAX_ATTEMPTS = 16;

/** Where a webhook asks whether a delivery is new. */
export interface DeliveryStore {
  /** True the first time any of `keys` is offered (and records them all); false for a replay. */
  firstTime(keys: readonly string[]): Promise<boolean> | boolean;
}

export function sharedDeliveryLog(
  cluster: Cluster,
  namespace: string,
  bounds: { maxEntries?: number; ttlMs?: number } = {},
): DeliveryStore {
  const maxEntries = bounds.maxEntries ?? MAX_ENTRIES;
  const ttlMs = bounds.ttlMs ?? TTL_MS;
  const collection = `/api/v1/namespaces/${encodeURIComponent(namespace)}/configmaps`;
  const where = `ConfigMap ${namespace}/${DELIVERIES_NAME}`;
  return {
    async firstTime(keys) {
      const hashed = keys.map((k) => createHash("sha256").update(k).digest("hex").slice(0, 32));
      for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
        const now = Date.now();
        const read = await cluster.call({ verb: "get", method: "GET", path: `${collection}/${DELIVERIES_NAME}` });
        if (read.status !== 200 && read.status !== 404) throw apiFailure(read, `reading the webhook deliveries seen (${where})`);
        const seen = read.status === 200 ? liveEntries(read.body?.data, now, ttlMs) : new Map<string, number>();
        if (hashed.some((k) => seen.has(k))) return false;
        for (const k of hashed) seen.set(k, now);
        const data = Object.fromEntries(
          [...seen]
            .sort((a, b) => b[1] - a[1])
            .slice(0, maxEntries)
            .map(([k, at]) => [k, String(at)]),
        );
        const metadata = { name: DELIVERIES_NAME, namespace, labels: { "app.kubernetes.io/managed-by": "vigil" } };
        const written =
          read.status === 404
            ? await cluster.call({
                verb: "create",
                method: "POST",
                path: collection,
                body: { apiVersion: "v1", kind: "ConfigMap", metadata, data },
              })
            : await cluster.call({
                verb: "update",
                method: "PUT",
                path: `${collection}/${DELIVERIES_NAME}`,
                body: {
                  apiVersion: "v1",
                  kind: "ConfigMap",
                  metadata: { ...metadata, resourceVersion: read.body?.metadata?.resourceVersion },
                  data,
                },
              });
        if (written.status === 200 || written.status === 201) return true;
        // Another replica wrote first: read again, its delivery may be this one.
        if (written.status !== 409) throw apiFailure(written, `recording the webhook delivery (${where})`);
        await new Promise((r) => setTimeout(r, Math.random() * 10 * (attempt + 1)));
      }
      throw new UnavailableError(`recording the webhook delivery (${where}): ${MAX_ATTEMPTS} writes in a row lost to other replicas'`);
    },
  };
}

/** The entries not yet expired; anything that is not one of ours is dropped. */
function liveEntries(data: Record<string, unknown> | undefined, now: number, ttlMs: number): Map<string, number> {
  const live = new Map<string, number>();
  for (const [key, value] of Object.entries(data ?? {})) {
    const at = Number(value);
    if (/^[0-9a-f]{32}$/.test(key) && Number.isSafeInteger(at) && now - at < ttlMs) live.set(key, at);
  }
  return live;
}
