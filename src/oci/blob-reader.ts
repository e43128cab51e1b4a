// Blobs read in order into buffers the caller owns, checked against their digest at the end. Reading a
// layer of gigabytes this way allocates nothing per chunk: every allocated chunk is memory outside
// V8's heap that only a full garbage collection returns, and a stream of them made a gigabyte layer
// cost dozens of full collections. Local files are read straight into the caller's buffer (and large
// ones hashed on a second thread while the caller works on the bytes); a registry's
// response body is read ahead into a bounded queue, so that the next layer can arrive while the
// current one is catalogued.
import { open } from "node:fs/promises";
import type { Readable } from "node:stream";
import { Worker } from "node:worker_threads";
import type { DigestCheck } from "./digest.ts";
import type { HashReply, HashRequest } from "./hash-worker.ts";

export interface BlobReader {
  /**
   * Fills `into` from its start with the blob's next bytes and says how many; 0 at the end, and only
   * once the content matched its digest and size (otherwise it throws OciContentError). Bytes handed
   * out before the end are unverified: use nothing derived from them until then.
   */
  read(into: Uint8Array): Promise<number>;
  /** Stops early: closes the file or the connection. */
  close(): Promise<void>;
}

/** Blobs at least this large are hashed on the second thread (for smaller ones, starting it costs more than it saves). */
const PARALLEL_HASH_BYTES = 32 << 20;

/**
 * A region of a local file (the whole file, or a layer inside a docker archive), checked as it is read.
 * When the blob is large and the caller reads into buffers backed by SharedArrayBuffers, the digest is
 * computed on a second thread from those same buffers while the caller works on them; a buffer is
 * read into again only once the hash thread is done with it.
 */
export async function fileBlobReader(file: string, check: DigestCheck, region?: { start: number; length: number }): Promise<BlobReader> {
  const handle = await open(file, "r");
  let position = region?.start ?? 0;
  const end = region ? region.start + region.length : Infinity;
  const size = region?.length ?? (await handle.stat()).size;
  let parallel: ParallelHash | undefined;
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    parallel?.abandon();
    await handle.close();
  };
  return {
    async read(into) {
      if (position === (region?.start ?? 0) && size >= PARALLEL_HASH_BYTES && into.buffer instanceof SharedArrayBuffer)
        parallel = new ParallelHash(check.algorithm);
      await parallel?.released(into);
      const wanted = Math.min(into.length, end - position);
      const { bytesRead } = wanted > 0 ? await handle.read(into, 0, wanted, position) : { bytesRead: 0 };
      if (bytesRead === 0) {
        const hex = await parallel?.digest();
        await close();
        check.finish(hex);
        return 0;
      }
      position += bytesRead;
      if (parallel) {
        check.count(bytesRead);
        parallel.update(into, bytesRead);
      } else check.update(into.subarray(0, bytesRead));
      return bytesRead;
    },
    close,
  };
}

/** One blob's digest on the hash thread, fed with views of SharedArrayBuffers. */
class ParallelHash {
  private readonly id: number;
  /** Each shared buffer still being hashed, and when it will not be. */
  private readonly busy = new Map<SharedArrayBuffer, Promise<void>>();
  private finished = false;

  constructor(algorithm: string) {
    this.id = hashThread.start(algorithm);
  }

  update(view: Uint8Array, length: number): void {
    if (!(view.buffer instanceof SharedArrayBuffer))
      throw new TypeError("a blob hashed on the hash thread must be read into shared buffers");
    this.busy.set(view.buffer, hashThread.update(this.id, view.buffer, view.byteOffset, length));
  }

  /** Waits until the hash thread no longer reads `view`'s buffer. */
  async released(view: Uint8Array): Promise<void> {
    await this.busy.get(view.buffer as SharedArrayBuffer);
  }

  async digest(): Promise<string> {
    await Promise.all(this.busy.values());
    this.finished = true;
    return hashThread.finish(this.id);
  }

  /** A blob left before its end: the thread drops its hash. */
  abandon(): void {
    if (this.finished) return;
    this.finished = true;
    hashThread.finish(this.id).catch(() => undefined);
  }
}

/** The process's one hash thread: started on first use, and holding the process open only while it has work. */
class HashThread {
  private worker: Worker | undefined;
  private nextId = 1;
  /** By sequence number: a SharedArrayBuffer comes back from the thread as another object over the same memory. */
  private readonly updates = new Map<number, { resolve: () => void; reject: (e: Error) => void }>();
  private nextUpdate = 1;
  private readonly digests = new Map<number, { resolve: (hex: string) => void; reject: (e: Error) => void }>();

  start(algorithm: string): number {
    const id = this.nextId++;
    this.send({ op: "start", id, algorithm });
    return id;
  }

  update(id: number, buffer: SharedArrayBuffer, offset: number, length: number): Promise<void> {
    const seq = this.nextUpdate++;
    return new Promise((resolve, reject) => {
      this.updates.set(seq, { resolve, reject });
      this.send({ op: "update", id, seq, buffer, offset, length });
    });
  }

  finish(id: number): Promise<string> {
    return new Promise((resolve, reject) => {
      this.digests.set(id, { resolve, reject });
      this.send({ op: "finish", id });
    });
  }

  private send(request: HashRequest): void {
    this.thread().postMessage(request);
    this.worker!.ref();
  }

  private thread(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(new URL("./hash-worker.ts", import.meta.url));
    worker.on("message", (reply: HashReply) => {
      if (reply.op === "updated") {
        this.updates.get(reply.seq)?.resolve();
        this.updates.delete(reply.seq);
      } else {
        this.digests.get(reply.id)?.resolve(reply.hex);
        this.digests.delete(reply.id);
      }
      if (this.updates.size === 0 && this.digests.size === 0) worker.unref();
    });
    worker.on("error", (e) => this.fail(e));
    worker.on("exit", (code) => this.fail(new Error(`the hash thread exited (${code})`)));
    this.worker = worker;
    return worker;
  }

  /** Everything waiting on a thread that died fails; the next blob starts a new one. */
  private fail(e: Error): void {
    this.worker = undefined;
    for (const waiting of [...this.updates.values(), ...this.digests.values()]) waiting.reject(e);
    this.updates.clear();
    this.digests.clear();
  }
}

const hashThread = new HashThread();

/**
 * A stream (a registry's response body, already checked against its digest by the stream itself)
 * read ahead into a queue of at most `readAhead` bytes (or what a waiting read asks for, if more): the
 * transfer goes on while the reader is busy, and pauses when the queue is full, so memory stays bounded
 * whatever the blob's size. Each read fills its buffer unless the blob ends first, as a file's does, so
 * the first read holds at least the first bytes that say how the blob is compressed.
 */
export function streamBlobReader(stream: Readable, readAhead: number): BlobReader {
  const queue: Buffer[] = [];
  let queued = 0;
  /** What a waiting read needs. */
  let wanted = 0;
  let ended = false;
  let failure: Error | undefined;
  let wake: (() => void) | undefined;
  const notify = () => {
    wake?.();
    wake = undefined;
  };
  stream.on("data", (chunk: Buffer) => {
    queue.push(chunk);
    queued += chunk.length;
    if (queued >= Math.max(readAhead, wanted)) stream.pause();
    notify();
  });
  stream.on("end", () => {
    ended = true;
    notify();
  });
  stream.on("error", (e: Error) => {
    failure = e;
    notify();
  });
  return {
    async read(into) {
      wanted = into.length;
      while (queued < into.length && !ended && !failure) {
        if (stream.isPaused()) stream.resume();
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
      }
      wanted = 0;
      if (queued === 0) {
        if (failure) throw failure;
        return 0;
      }
      let filled = 0;
      while (filled < into.length && queue.length > 0) {
        const head = queue[0]!;
        const taken = Math.min(head.length, into.length - filled);
        into.set(head.subarray(0, taken), filled);
        filled += taken;
        if (taken === head.length) queue.shift();
        else queue[0] = head.subarray(taken);
        queued -= taken;
      }
      if (queued < readAhead && stream.isPaused() && !ended) stream.resume();
      return filled;
    },
    async close() {
      stream.destroy();
      queue.length = 0;
      queued = 0;
    },
  };
}
