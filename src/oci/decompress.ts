// A layer's decompressor, driven synchronously into one output buffer that is reused for the whole
// layer. node:zlib's streams allocate a fresh buffer for every output chunk; for a gigabyte layer those
// are a gigabyte of memory outside V8's heap that only full garbage collections return (measured: 30 of
// them, a third of a second, for a 512 MiB layer). The stream's own native handle does the work here
// with the same zlib and zstd code, so the format handling (gzip members, trailing zero padding, zstd
// frames, checksums) is node's; only the buffers are ours.
import zlib from "node:zlib";
import { UnavailableError } from "../core/errors.ts";

export type Compression = "gzip" | "zstd" | "none";

/** The compressed stream is corrupt or truncated (zlib's or zstd's own message). */
export class DecompressError extends Error {}

const GZIP = [0x1f, 0x8b];
const ZSTD = [0x28, 0xb5, 0x2f, 0xfd];

/** What a layer's first bytes say it is compressed with. */
export function compressionOf(first: Uint8Array): Compression {
  const starts = (magic: number[]) => magic.every((b, i) => first[i] === b);
  return starts(GZIP) ? "gzip" : starts(ZSTD) ? "zstd" : "none";
}

/** The native handle behind node:zlib's streams: `writeSync` runs one inflate call into the buffers given. */
interface NativeHandle {
  writeSync(
    flush: number,
    input: Uint8Array,
    inOffset: number,
    inLength: number,
    out: Uint8Array,
    outOffset: number,
    outLength: number,
  ): void;
  onerror: (message: string, errno: number) => void;
}

export class Decompressor {
  readonly compression: Compression;
  private readonly stream: zlib.Gunzip | zlib.ZstdDecompress | undefined;
  private readonly handle: NativeHandle | undefined;
  /** [output space left, input left] after each writeSync, as the native handle reports them. */
  private readonly state: Uint32Array | undefined;
  private readonly out: Buffer;
  private failure: string | undefined;

  constructor(compression: Compression, outputBytes: number) {
    this.compression = compression;
    this.out = Buffer.allocUnsafe(compression === "none" ? 0 : outputBytes);
    if (compression === "none") return;
    this.stream = compression === "gzip" ? zlib.createGunzip() : zlib.createZstdDecompress();
    const internals = this.stream as unknown as { _handle?: Partial<NativeHandle>; _writeState?: unknown };
    if (typeof internals._handle?.writeSync !== "function" || !(internals._writeState instanceof Uint32Array)) {
      throw new UnavailableError(
        `this Node.js (${process.version}) has no synchronous zlib handle; run Vigil with the Node.js it pins (bin/vigil)`,
      );
    }
    this.handle = internals._handle as NativeHandle;
    this.state = internals._writeState;
    // Errors come back through this callback during writeSync; the stream's own handler would destroy it asynchronously.
    this.handle.onerror = (message) => {
      this.failure = message;
    };
  }

  /** Decompresses `input`, handing each piece of output to `sink` (a view of the reused buffer: copy what you keep). */
  write(input: Uint8Array, sink: (output: Uint8Array) => void): void {
    if (!this.handle) sink(input);
    else this.run(this.compression === "gzip" ? zlib.constants.Z_NO_FLUSH : zlib.constants.ZSTD_e_continue, input, sink);
  }

  /** At the end of the input: throws if the compressed stream is truncated. */
  end(sink: (output: Uint8Array) => void): void {
    if (this.handle) this.run(this.compression === "gzip" ? zlib.constants.Z_FINISH : zlib.constants.ZSTD_e_end, EMPTY, sink);
    this.stream?.close();
  }

  /** Frees the native state early (on an error). */
  close(): void {
    this.stream?.close();
  }

  private run(flush: number, input: Uint8Array, sink: (output: Uint8Array) => void): void {
    const handle = this.handle!;
    const state = this.state!;
    let offset = 0;
    let left = input.length;
    for (;;) {
      handle.writeSync(flush, input, offset, left, this.out, 0, this.out.length);
      if (this.failure !== undefined) throw new DecompressError(this.failure);
      const [outLeft, inLeft] = [state[0]!, state[1]!];
      if (outLeft < this.out.length) sink(this.out.subarray(0, this.out.length - outLeft));
      offset += left - inLeft;
      left = inLeft;
      // The decompressor stops with output space to spare only when it needs more input (or the stream ended).
      if (outLeft !== 0) return;
    }
  }
}

const EMPTY = new Uint8Array(0);
