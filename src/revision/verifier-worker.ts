// One verification thread of the pool (verifier-pool.ts). Node's compile cache is per thread: the main
// thread's folder is turned on here before the verification modules load (they are imported after it),
// so a worker starts from compiled code as the CLI does.
import { enableCompileCache } from "node:module";
import { parentPort, workerData } from "node:worker_threads";
import type { TrustPolicy } from "../trust/policy.ts";
import type { Keyring } from "../trust/keyring.ts";
import type { JobMessage, PolicyMessage, ResultMessage, WorkerData } from "./verifier-pool.ts";

const { compileCache } = (workerData ?? {}) as WorkerData;
if (compileCache) {
  try {
    enableCompileCache(compileCache);
  } catch {
    // No cache: the modules compile, nothing else changes.
  }
}
const { buildKeyring } = await import("../trust/keyring.ts");
const { verifyGitSignature } = await import("../git/signatures/verify.ts");

const keyrings = new Map<string, Promise<Keyring>>();

parentPort!.on("message", async (msg: PolicyMessage | JobMessage) => {
  if (msg.kind === "policy") {
    const policy: TrustPolicy = {
      source: msg.source,
      doc: msg.doc,
      ...(msg.allowedSigners ? { allowedSigners: msg.allowedSigners } : {}),
      where: (path) => `${msg.source} ${path.join(".")}`,
    };
    keyrings.set(msg.key, buildKeyring(policy));
    return;
  }
  const results: ResultMessage = [];
  for (const job of msg.jobs) {
    const ring = await keyrings.get(job.key)!;
    const { payloads } = msg;
    const payload = Buffer.from(payloads.buffer, payloads.byteOffset + job.payloadAt, job.payloadLength);
    const result = await verifyGitSignature(ring, job.armored, payload, new Date(job.at), "git", job.atSource);
    results.push({ id: job.id, result });
  }
  parentPort!.postMessage(results);
});
