// Signature verification spread over worker threads: verifying is the gate's one CPU-bound step, and a
// host has more cores than the walk of the history needs. Keys are rebuilt in each worker from the
// policy's document, which the main thread has already validated.
import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import type { CallerTimeSource, SignatureResult } from "../git/signatures/result.ts";
import type { TrustPolicyDocument } from "../core/trust-policy.ts";
import { signatureFormat, verifyGitSignature } from "./keyring.ts";
import type { PolicyContext } from "./policy-chain.ts";

export interface PolicyMessage {
  kind: "policy";
  key: string;
  source: string;
  doc: TrustPolicyDocument;
  allowedSigners?: { file: string; text: string };
}
export interface JobMessage {
  kind: "jobs";
  jobs: { id: number; key: string; armored: string; payload: Uint8Array; at: number; atSource: CallerTimeSource }[];
}
export type ResultMessage = { id: number; result: SignatureResult }[];

/**
 * The gate's SignatureVerifier with the source of its time: `at` is the trusted time and `atSource`
 * where it came from (keyring.ts, verifyGitSignature).
 */
export type TimedVerifier = (ctx: PolicyContext, armored: string, payload: Buffer, at: Date, atSource?: CallerTimeSource) => Promise<SignatureResult>;

export interface VerifierPool {
  verify: TimedVerifier;
  close(): Promise<void>;
}

const inProcess: TimedVerifier = (ctx, armored, payload, at, atSource) => verifyGitSignature(ctx.keyring, armored, payload, at, "git", atSource);

export function verifierPool(size = availableParallelism()): VerifierPool {
  if (size <= 1) return { verify: inProcess, close: async () => {} };
  const workers = Array.from({ length: size }, () => new PoolWorker());
  let next = 0;
  const verify: TimedVerifier = (ctx, armored, payload, at, atSource = "verification") => {
    // x509 keyrings hold a trusted root that does not cross threads; gitsign commits are few.
    if (signatureFormat(armored) === "x509") return inProcess(ctx, armored, payload, at, atSource);
    const worker = workers[next++ % workers.length]!;
    return worker.submit(ctx, armored, payload, at, atSource);
  };
  return { verify, close: async () => void (await Promise.all(workers.map((w) => w.terminate()))) };
}

class PoolWorker {
  private readonly worker = new Worker(new URL("./verifier-worker.ts", import.meta.url));
  private readonly policies = new Set<string>();
  private readonly waiting = new Map<number, (r: SignatureResult) => void>();
  private batch: JobMessage["jobs"] = [];
  private nextId = 0;
  private failure: Error | null = null;

  constructor() {
    this.worker.on("message", (results: ResultMessage) => {
      for (const { id, result } of results) {
        this.waiting.get(id)?.(result);
        this.waiting.delete(id);
      }
    });
    this.worker.on("error", (e) => {
      this.failure = e;
      // Fail closed: a crashed worker refuses what it had been given.
      for (const resolve of this.waiting.values()) resolve({ ok: false, kind: "unknown", reason: `verifier crashed: ${e.message}` });
      this.waiting.clear();
    });
    this.worker.unref();
  }

  submit(ctx: PolicyContext, armored: string, payload: Buffer, at: Date, atSource: CallerTimeSource): Promise<SignatureResult> {
    if (this.failure) return Promise.resolve({ ok: false, kind: "unknown", reason: `verifier crashed: ${this.failure.message}` });
    if (!this.policies.has(ctx.key)) {
      this.flush();
      this.policies.add(ctx.key);
      const { source, doc, allowedSigners } = ctx.policy;
      const msg: PolicyMessage = { kind: "policy", key: ctx.key, source, doc, ...(allowedSigners ? { allowedSigners } : {}) };
      this.worker.postMessage(msg);
    }
    const id = this.nextId++;
    if (this.batch.length === 0) setImmediate(() => this.flush());
    this.batch.push({ id, key: ctx.key, armored, payload, at: at.getTime(), atSource });
    if (this.batch.length >= 256) this.flush();
    return new Promise((resolve) => this.waiting.set(id, resolve));
  }

  private flush(): void {
    if (this.batch.length === 0) return;
    const msg: JobMessage = { kind: "jobs", jobs: this.batch };
    this.batch = [];
    this.worker.postMessage(msg);
  }

  terminate(): Promise<number> {
    return this.worker.terminate();
  }
}
