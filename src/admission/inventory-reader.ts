// The inventory read off the webhook's event loop: a worker thread with its own connection to the
// inventory reads every workload and indexes the verified images (parsing each reference once, as long
// as it stays deployed), and posts the index back; the event loop that answers the API server only
// swaps it in. (A read of 1,000 workloads costs milliseconds, more as the inventory grows: paid here, it
// would stall every admission waiting behind it.)
import { parentPort, workerData } from "node:worker_threads";
import { openInventory, type InventoryStore } from "../monitor/inventory.ts";
import { cachedIndexer } from "./verified.ts";

const { location } = workerData as { location: string };
const index = cachedIndexer();
let inventory: InventoryStore | undefined;

parentPort!.on("message", async (message: "read" | "close") => {
  if (message === "close") {
    await inventory?.close().catch(() => {});
    parentPort!.close();
    return;
  }
  try {
    inventory ??= await openInventory(location);
    parentPort!.postMessage({ index: index(await inventory.workloads()) });
  } catch (e) {
    // The connection may be what failed: the next read opens a new one.
    await inventory?.close().catch(() => {});
    inventory = undefined;
    parentPort!.postMessage({ error: (e as Error).message });
  }
});
