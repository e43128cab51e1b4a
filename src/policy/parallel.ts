// The policy gate over large sets on every core: the manifests are split into contiguous shares, one
// per thread, and the checks joined in manifest order, so the result is exactly the single-threaded
// one. Each worker reads the same files itself (parsing is a small part of the work, and faster than
// copying the objects across threads) and evaluates only its share against the whole set, which
// namespaces, params and vigil.objects still come from.
import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import type { Check } from "../core/verdict.ts";
import { InputError } from "../core/errors.ts";
import { policyChecks, type PolicyGateInput, type Share } from "./gate.ts";
import { loadManifests } from "./manifests.ts";
import { loadPacks } from "./packs.ts";

/** Where the gate's input comes from, as the command line names it. */
export interface PolicySources {
  packs: string[];
  policyPaths: string[];
  exceptionsPath?: string;
  manifestPaths: string[];
}

export interface ShareRequest {
  sources: PolicySources;
  share: Share;
  now: number;
}

/** Below this many manifests per thread, starting a worker costs more than it saves. */
const MIN_SHARE = 1500;

export function loadPolicyInput(sources: PolicySources, now = new Date()): PolicyGateInput {
  return {
    policies: [...loadPacks(sources.packs), ...loadManifests(sources.policyPaths)],
    exceptions: sources.exceptionsPath ? loadManifests([sources.exceptionsPath]) : [],
    manifests: loadManifests(sources.manifestPaths),
    now,
  };
}

export interface ThreadOptions {
  /** At most this many threads (default: the cores this process may use). */
  threads?: number;
  /** At least this many manifests per thread. */
  minShare?: number;
}

/** The gate's checks for what `sources` name, on as many threads as the set is worth. */
export async function checkSources(sources: PolicySources, { threads = availableParallelism(), minShare = MIN_SHARE }: ThreadOptions = {}): Promise<Check[]> {
  const now = new Date();
  const input = loadPolicyInput(sources, now);
  const count = Math.max(1, Math.min(threads, Math.floor(input.manifests.length / minShare)));
  if (count === 1) return policyChecks(input);
  const shares = Array.from({ length: count }, (_, i) => ({
    from: Math.floor((i * input.manifests.length) / count),
    to: Math.floor(((i + 1) * input.manifests.length) / count),
  }));
  // The other shares start first: a worker needs a moment to load before it can begin.
  const others = shares.slice(1).map((share) => inWorker({ sources, share, now: now.getTime() }));
  const first = policyChecks(input, shares[0]);
  return [first, ...(await Promise.all(others))].flat();
}

function inWorker(request: ShareRequest): Promise<Check[]> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL("./parallel-worker.ts", import.meta.url), { workerData: request });
    worker.once("message", (m: { checks: Check[] } | { inputError: string }) => ("checks" in m ? resolve(m.checks) : reject(new InputError(m.inputError))));
    worker.once("error", reject);
    worker.once("exit", (code) => reject(new Error(`a policy gate worker stopped (exit code ${code}) before sending its checks`)));
  });
}
