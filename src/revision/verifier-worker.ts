// One verification thread of the pool (verifier-pool.ts).
import { parentPort } from "node:worker_threads";
import type { TrustPolicy } from "../trust/policy.ts";
import { buildKeyring, type Keyring } from "../trust/keyring.ts";
import { verifyGitSignature } from "../git/signatures/verify.ts";
import type { JobMessage, PolicyMessage, ResultMessage } from "./verifier-pool.ts";

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
    const result = await verifyGitSignature(ring, job.armored, Buffer.from(job.payload), new Date(job.at), "git", job.atSource);
    results.push({ id: job.id, result });
  }
  parentPort!.postMessage(results);
});
