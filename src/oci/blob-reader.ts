// Blobs read in order into buffers the caller owns, checked against their digest at the end. Reading a
// layer of gigabytes this way allocates nothing per chunk: every allocated chunk is memory outside
// V8's heap that only a full garbage collection returns, and a stream of them made a gigabyte layer
// cost dozens of full collections. Local files are read straight into the caller's buffer; a registry's
// response body is read ahead into a bounded queue, so that the next layer can arrive while the
// current one is catalogued.
import { open } from "node:fs/promises";
import type { Readable } from "node:stream";
import type { DigestCheck } from "./digest.ts";

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

/** A region of a local file (the whole file, or a layer inside a docker archive), checked as it is read. */
export async function fileBlobReader(file: string, check: DigestCheck, region?: { start: number; length: number }): Promise<BlobReader> {
  const handle = await open(file, "r");
  let position = region?.start ?? 0;
  const end = region ? region.start + region.length : Infinity;
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await handle.close();
  };
  return {
    async read(into) {
      const wanted = Math.min(into.length, end - position);
      const { bytesRead } = wanted > 0 ? await handle.read(into, 0, wanted, position) : { bytesRead: 0 };
      if (bytesRead === 0) {
        await close();
        check.finish();
        return 0;
      }
      position += bytesRead;
      check.update(into.subarray(0, bytesRead));
      return bytesRead;
    },
    close,
  };
}

/**
 * A stream (a registry's response body, already checked against its digest by the stream itself)
 * read ahead into a queue of at most `readAhead` bytes: the transfer goes on while the reader is busy,
 * and pauses when the queue is full, so memory stays bounded whatever the blob's size.
 */
export function streamBlobReader(stream: Readable, readAhead: number): BlobReader {
  const queue: Buffer[] = [];
  let queued = 0;
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
    if (queued >= readAhead) stream.pause();
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
      while (queue.length === 0) {
        if (failure) throw failure;
        if (ended) return 0;
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
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
