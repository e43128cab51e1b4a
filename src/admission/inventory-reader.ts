// The inventory read off the webhook's event loop: a worker thread with its own connection to the
// inventory reads every workload (and the agent's records of what it verified before applying) and
// indexes the verified images (parsing each reference once, as long as it stays deployed), and posts the
// index back; the event loop that answers the API server only
// swaps it in. (A read of 1,000 workloads costs milliseconds, more as the inventory grows: paid here, it
// would stall every admission waiting behind it.)
import { parentPort, workerData } from "node:worker_threads";
import { InputError } from "../core/errors.ts";
import { openInventory, type InventoryStore } from "../monitor/inventory.ts";
import { cachedIndexer, verifiedBeforeApply, type EnvironmentImages } from "./verified.ts";

const { location, environments } = workerData as { location: string; environments: string[] };
const index = cachedIndexer();
let inventory: InventoryStore | undefined;
let last: { index: Map<string, EnvironmentImages>; stamp: string } | undefined;

function sameIndex(a: Map<string, EnvironmentImages>, b: Map<string, EnvironmentImages>): boolean {
  if (a.size !== b.size) return false;
  for (const [env, x] of a) {
    const y = b.get(env);
    if (!y || x.pinned.size !== y.pinned.size || x.tags.size !== y.tags.size) return false;
    for (const p of x.pinned) if (!y.pinned.has(p)) return false;
    for (const [tag, digest] of x.tags) if (y.tags.get(tag) !== digest) return false;
  }
  return true;
}

parentPort!.on("message", async (message: "read" | "close") => {
  if (message === "close") {
    await inventory?.close().catch(() => {});
    parentPort!.close();
    return;
  }
  try {
    inventory ??= await openInventory(location);
    // What the agent verified for the revision it is about to apply (its dry run and apply ask first),
    // and the inventory's generation, which every recorded deployment raises: when neither moved, the
    // workloads are as last read, and reading them again (milliseconds of this thread's CPU every
    // refresh, on a core the event loop shares) is skipped. Generation first: a deployment recorded
    // while the workloads are read raises it past the stamp, so the next refresh reads them again.
    const generation = await inventory.generation();
    const verified = await verifiedBeforeApply(inventory, environments);
    const stamp = JSON.stringify([generation, verified]);
    if (last?.stamp === stamp) {
      parentPort!.postMessage({ unchanged: true });
      return;
    }
    const next = index([...(await inventory.workloads()), ...verified]);
    // Most reads find nothing new: then nothing is copied to the webhook's event loop.
    if (last && sameIndex(last.index, next)) parentPort!.postMessage({ unchanged: true });
    else parentPort!.postMessage({ index: next });
    last = { index: next, stamp };
  } catch (e) {
    // The connection may be what failed: the next read opens a new one (and sends its index whole).
    await inventory?.close().catch(() => {});
    inventory = undefined;
    last = undefined;
    parentPort!.postMessage({ error: (e as Error).message, badInput: e instanceof InputError });
  }
});
