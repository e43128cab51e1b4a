// Signature verification spread over the cores: verifying is the gate's one CPU-bound step. On N cores
// the main thread and N-1 worker threads verify from one queue: each worker is kept a batch ahead, and
// the main thread takes what is waiting between the steps of its walk, so neither core idles while the
// other has work and no thread is started that would only compete with the walk for a core. Results
// come back from a worker a batch at a time. Keys are rebuilt in each worker from the policy's
// document, which the main thread has already validated.
import { getCompileCacheDir } from "node:module";
import { availableParallelism } from "node:os";
import { dirname } from "node:path";
import { Worker } from "node:worker_threads";
import type { CallerTimeSource, SignatureResult } from "../git/signatures/result.ts";
import type { TrustPolicyDocument } from "../api/trust-policy.ts";
import { signatureFormat, verifyGitSignature } from "../git/signatures/verify.ts";
import type { PolicyContext } from "./policy-chain.ts";

export interface PolicyMessage {
  kind: "policy";
  key: string;
  source: string;
  doc: TrustPolicyDocument;
  allowedSigners?: { file: string; text: string };
}
export interface Job {
  id: number;
  key: string;
  armored: string;
  /** Where the job's payload lies in its batch's `payloads`. */
  payloadAt: number;
  payloadLength: number;
  at: number;
  atSource: CallerTimeSource;
}
/**
 * A batch of jobs. Their payloads are packed into one buffer that is transferred, not copied: a payload
 * is usually a view into a larger pooled buffer, which structured cloning would copy whole.
 */
export interface JobMessage {
  kind: "jobs";
  jobs: Job[];
  payloads: Uint8Array;
}
/** A batch's results: job `ids[i]` has result `results[which[i]]` (jobs with equal results share one). */
export interface ResultMessage {
  ids: Int32Array;
  which: Int32Array;
  results: SignatureResult[];
}
/** What a worker starts with: its module, and the main thread's compile cache folder, if it has one (the cache is per thread). */
export interface WorkerData {
  module: string;
  compileCache?: string;
}

/**
 * The gate's SignatureVerifier with the source of its time: `at` is the trusted time and `atSource`
 * where it came from (keyring.ts, verifyGitSignature).
 */
export type TimedVerifier = (
  ctx: PolicyContext,
  armored: string,
  payload: Buffer,
  at: Date,
  atSource?: CallerTimeSource,
) => Promise<SignatureResult>;

export interface VerifierPool {
  verify: TimedVerifier;
  close(): Promise<void>;
}

/** Jobs a worker is given at once, and how many it may hold: enough that it never waits on the main thread. */
const BATCH = 64;
const AHEAD = 2 * BATCH;
/** Jobs the main thread verifies in one turn before it goes back to the walk. */
const MAIN_TURN = 8;

const inProcess: TimedVerifier = (ctx, armored, payload, at, atSource) =>
  verifyGitSignature(ctx.keyring, armored, payload, at, "git", atSource);

/** `size` threads verify, the main thread one of them; one thread (or one core) verifies in-process only. */
export function verifierPool(size = availableParallelism()): VerifierPool {
  if (size <= 1) return { verify: inProcess, close: async () => {} };
  const pool = new SharedQueue(size - 1);
  const verify: TimedVerifier = (ctx, armored, payload, at, atSource = "verification") => {
    // x509 keyrings hold a trusted root that does not cross threads; gitsign commits are few.
    if (signatureFormat(armored) === "x509") return inProcess(ctx, armored, payload, at, atSource);
    return pool.submit(ctx, armored, payload, at, atSource);
  };
  return { verify, close: () => pool.close() };
}

interface Queued {
  ctx: PolicyContext;
  id: number;
  armored: string;
  payload: Buffer;
  at: Date;
  atSource: CallerTimeSource;
  resolve: (r: SignatureResult) => void;
}

class SharedQueue {
  private readonly workers: PoolWorker[];
  private queue: Queued[] = [];
  private head = 0;
  private nextId = 0;
  private mainTurnScheduled = false;

  constructor(workers: number) {
    this.workers = Array.from({ length: workers }, () => new PoolWorker(() => this.feedWorkers()));
  }

  submit(ctx: PolicyContext, armored: string, payload: Buffer, at: Date, atSource: CallerTimeSource): Promise<SignatureResult> {
    return new Promise((resolve) => {
      this.queue.push({ ctx, id: this.nextId++, armored, payload, at, atSource, resolve });
      this.feedWorkers();
      this.scheduleMainTurn();
    });
  }

  private get waiting(): number {
    return this.queue.length - this.head;
  }

  private take(n: number): Queued[] {
    const taken = this.queue.slice(this.head, this.head + n);
    this.head += taken.length;
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    return taken;
  }

  /** Tops every live worker up to AHEAD jobs, a batch at a time. */
  private feedWorkers(): void {
    for (const worker of this.workers) {
      while (worker.live && this.waiting > 0 && worker.holding + BATCH <= AHEAD) worker.send(this.take(BATCH));
    }
    if (this.waiting > 0 && this.workers.every((w) => !w.live)) this.scheduleMainTurn();
  }

  /** After the walk's current step, the main thread verifies a few of what no worker has taken. */
  private scheduleMainTurn(): void {
    if (this.mainTurnScheduled || this.waiting === 0) return;
    this.mainTurnScheduled = true;
    setImmediate(async () => {
      this.mainTurnScheduled = false;
      for (const q of this.take(MAIN_TURN)) q.resolve(await inProcess(q.ctx, q.armored, q.payload, q.at, q.atSource));
      this.feedWorkers();
      this.scheduleMainTurn();
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}

/** The folder enableCompileCache was given (getCompileCacheDir adds Node's version under it). */
function workerData(): WorkerData {
  const dir = getCompileCacheDir();
  return { module: new URL("./verifier-worker.ts", import.meta.url).href, ...(dir ? { compileCache: dirname(dir) } : {}) };
}

/**
 * A worker's first code, in plain JavaScript: Node's compile cache is per thread, and turned on here,
 * before the first TypeScript module (verifier-worker.ts itself) is read, a thread whose modules are all
 * in the cache never loads Node's type stripper (about 50 ms of a worker's start-up, measured).
 */
const workerEntry = `
const { enableCompileCache } = require("node:module");
const { workerData } = require("node:worker_threads");
if (workerData.compileCache) {
  try { enableCompileCache(workerData.compileCache); } catch {}
}
import(workerData.module).catch((e) => process.nextTick(() => { throw e; }));
`;

class PoolWorker {
  private readonly worker = new Worker(workerEntry, { eval: true, workerData: workerData() });
  private readonly policies = new Set<string>();
  private readonly waiting = new Map<number, (r: SignatureResult) => void>();
  private failure: Error | null = null;

  constructor(onResults: () => void) {
    this.worker.on("message", ({ ids, which, results }: ResultMessage) => {
      for (let i = 0; i < ids.length; i++) {
        const id = ids[i]!;
        // Each job gets its own result object, as a clone of its own would be.
        this.waiting.get(id)?.({ ...results[which[i]!]! });
        this.waiting.delete(id);
      }
      // Idle, the worker must not keep the process alive; busy, it must (the main thread awaits it).
      if (this.waiting.size === 0) this.worker.unref();
      onResults();
    });
    this.worker.on("error", (e) => {
      this.failure = e;
      // Fail closed: a crashed worker refuses what it had been given.
      for (const resolve of this.waiting.values())
        resolve({ ok: false, kind: "unknown", reason: `verifier crashed: ${e.message}`, code: "signature-not-trusted" });
      this.waiting.clear();
      this.worker.unref();
      onResults();
    });
    this.worker.unref();
  }

  get live(): boolean {
    return this.failure === null;
  }

  get holding(): number {
    return this.waiting.size;
  }

  send(batch: Queued[]): void {
    for (const { ctx } of batch) {
      if (this.policies.has(ctx.key)) continue;
      this.policies.add(ctx.key);
      const { source, doc, allowedSigners } = ctx.policy;
      const msg: PolicyMessage = { kind: "policy", key: ctx.key, source, doc, ...(allowedSigners ? { allowedSigners } : {}) };
      this.worker.postMessage(msg);
    }
    for (const q of batch) this.waiting.set(q.id, q.resolve);
    this.worker.ref();
    const payloads = new Uint8Array(batch.reduce((n, q) => n + q.payload.length, 0));
    let offset = 0;
    const jobs = batch.map((q): Job => {
      payloads.set(q.payload, offset);
      offset += q.payload.length;
      const { id, armored, at, atSource } = q;
      return {
        id,
        key: q.ctx.key,
        armored,
        payloadAt: offset - q.payload.length,
        payloadLength: q.payload.length,
        at: at.getTime(),
        atSource,
      };
    });
    const msg: JobMessage = { kind: "jobs", jobs, payloads };
    this.worker.postMessage(msg, [payloads.buffer]);
  }

  terminate(): Promise<number> {
    return this.worker.terminate();
  }
}
