// The policy gate over large sets on every core: the manifests are split into contiguous shares, one
// per thread, and the checks joined in manifest order, so the result is exactly the single-threaded
// one. Each worker reads the same files itself (parsing is a small part of the work, and faster than
// copying the objects across threads) and evaluates only its share against the whole set, which
// namespaces, params and vigil.objects still come from.
import { statSync } from "node:fs";
import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import type { Check } from "../core/verdict.ts";
import { InputError } from "../core/errors.ts";
import { policyChecks, type PolicyGateInput, type Share } from "./gate.ts";
import { loadManifests, manifestFilesUnder } from "../manifest/manifests.ts";
import { loadPacks } from "./packs.ts";
import type { KindDeclaration } from "../manifest/workloads.ts";

/** Where the gate's input comes from, as the command line names it. */
export interface PolicySources {
  packs: string[];
  policyPaths: string[];
  exceptionsPath?: string;
  manifestPaths: string[];
  /** The trust policy's `kinds`: where custom kinds keep pod specs and containers. */
  kinds?: KindDeclaration[];
}

export interface ShareRequest {
  sources: PolicySources;
  /** This thread's share: the index-th of `count` contiguous parts of the manifests. */
  index: number;
  count: number;
  now: number;
}

/** Below this many bytes of manifests per thread (about 1,500 manifests), a worker costs more than it
 *  saves. Counted in bytes so that the workers can start before anything is parsed. */
const MIN_SHARE_BYTES = 1024 * 1024;

export function loadPolicyInput(sources: PolicySources, now = new Date()): PolicyGateInput {
  return {
    policies: [...loadPacks(sources.packs), ...loadManifests(sources.policyPaths)],
    exceptions: sources.exceptionsPath ? loadManifests([sources.exceptionsPath]) : [],
    manifests: loadManifests(sources.manifestPaths),
    ...(sources.kinds && { kinds: sources.kinds }),
    now,
  };
}

/** One core is left to V8's own garbage-collection and compiler threads, which the main thread
 *  keeps busy (measured on 2 cores: a second gate thread made the whole run slower). */
function defaultThreads(): number {
  return Math.max(1, availableParallelism() - 1);
}

export interface ThreadOptions {
  /** At most this many threads (default: one less than the cores this process may use). */
  threads?: number;
  /** At least this many bytes of manifest files per thread. */
  minShareBytes?: number;
}

/** The gate's checks for what `sources` name, on as many threads as the set is worth. */
export async function checkSources(
  sources: PolicySources,
  { threads = defaultThreads(), minShareBytes = MIN_SHARE_BYTES }: ThreadOptions = {},
): Promise<Check[]> {
  const now = new Date();
  // The folders are walked once here; every thread then reads exactly these files.
  const files = manifestFilesUnder(sources.manifestPaths);
  const listed = { ...sources, manifestPaths: files };
  const bytes = files.reduce((sum, file) => sum + statSync(file).size, 0);
  const count = Math.max(1, Math.min(threads, Math.floor(bytes / minShareBytes)));
  // The workers start before this thread parses anything: loading takes them a moment too.
  const others = Array.from({ length: count - 1 }, (_, i) => inWorker({ sources: listed, index: i + 1, count, now: now.getTime() }));
  try {
    const input = loadPolicyInput(listed, now);
    const first = policyChecks(input, share(input.manifests.length, 0, count));
    return [first, ...(await Promise.all(others.map((w) => w.checks)))].flat();
  } finally {
    // On an input error here, the workers would only find the same one.
    for (const w of others) void w.worker.terminate();
  }
}

/** The index-th of `count` contiguous parts of `length` manifests; every thread computes the same. */
export function share(length: number, index: number, count: number): Share {
  return { from: Math.floor((index * length) / count), to: Math.floor(((index + 1) * length) / count) };
}

function inWorker(request: ShareRequest): { worker: Worker; checks: Promise<Check[]> } {
  const worker = new Worker(new URL("./parallel-worker.ts", import.meta.url), { workerData: request });
  const checks = new Promise<Check[]>((resolve, reject) => {
    worker.once("message", (m: { checks: Check[] } | { inputError: string }) =>
      "checks" in m ? resolve(m.checks) : reject(new InputError(m.inputError)),
    );
    worker.once("error", reject);
    worker.once("exit", (code) => reject(new Error(`a policy gate worker stopped (exit code ${code}) before sending its checks`)));
  });
  // Settled by the main thread's own failure when it fails first; never an unhandled rejection.
  checks.catch(() => {});
  return { worker, checks };
}
