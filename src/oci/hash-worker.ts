// The digest of large blobs, computed on a second thread while the first reads, decompresses and parses
// the same bytes (which it shares, never copies: they arrive in SharedArrayBuffers). Requests are
// handled in order; each update is acknowledged so the reader knows when it may reuse its buffer.
import { createHash, type Hash } from "node:crypto";
import { parentPort } from "node:worker_threads";

export type HashRequest =
  | { op: "start"; id: number; algorithm: string }
  | { op: "update"; id: number; seq: number; buffer: SharedArrayBuffer; offset: number; length: number }
  | { op: "finish"; id: number };

export type HashReply = { op: "updated"; seq: number } | { op: "digest"; id: number; hex: string };

const hashes = new Map<number, Hash>();
const port = parentPort!;

port.on("message", (request: HashRequest) => {
  if (request.op === "start") hashes.set(request.id, createHash(request.algorithm));
  else if (request.op === "update") {
    hashes.get(request.id)?.update(new Uint8Array(request.buffer, request.offset, request.length));
    port.postMessage({ op: "updated", seq: request.seq } satisfies HashReply);
  } else {
    // An unknown id (never started, or finished already) has no digest: "" matches none, so the check fails closed.
    const hex = hashes.get(request.id)?.digest("hex") ?? "";
    hashes.delete(request.id);
    port.postMessage({ op: "digest", id: request.id, hex } satisfies HashReply);
  }
});
