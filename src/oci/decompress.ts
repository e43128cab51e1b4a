// A layer's decompressor, driven synchronously into one output buffer that is reused for the whole
// layer. node:zlib's streams allocate a fresh buffer for every output chunk; for a gigabyte layer those
// are a gigabyte of memory outside V8's heap that only full garbage collections return (measured: 30 of
// them, a third of a second, for a 512 MiB layer). The stream's own native handle does the work here
// with the same zlib and zstd code; only the buffers are ours. gzip's framing (RFC 1952: each member's
// header, the raw deflate data, an 8-byte trailer; members one after another, zero padding at the end)
// is read here so that the deflate data can go to a raw inflater: the trailer's CRC-32 of every
// decompressed byte costs a fifth of a large layer's time and proves nothing the blob's SHA-256 digest,
// checked over every compressed byte, does not.
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
  private readonly stream: zlib.InflateRaw | zlib.ZstdDecompress | undefined;
  private readonly handle: NativeHandle | undefined;
  /** [output space left, input left] after each writeSync, as the native handle reports them. */
  private readonly state: Uint32Array | undefined;
  private readonly out: Buffer;
  private failure: string | undefined;
  /** Where in gzip's framing the input is. */
  private member: "header" | "body" | "trailer" | "between" | "padding" = "header";
  private header: Buffer = Buffer.alloc(0);
  private trailerLeft = 0;

  constructor(compression: Compression, outputBytes: number) {
    this.compression = compression;
    this.out = Buffer.allocUnsafe(compression === "none" ? 0 : outputBytes);
    if (compression === "none") return;
    this.stream = compression === "gzip" ? zlib.createInflateRaw() : zlib.createZstdDecompress();
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
    else if (this.compression === "gzip") this.writeGzip(input, sink);
    else this.run(zlib.constants.ZSTD_e_continue, input, sink);
  }

  /** At the end of the input: throws if the compressed stream is truncated. */
  end(sink: (output: Uint8Array) => void): void {
    if (this.compression === "gzip" && this.member !== "between" && this.member !== "padding") {
      this.close();
      throw new DecompressError("unexpected end of file");
    }
    if (this.compression === "zstd") this.run(zlib.constants.ZSTD_e_end, EMPTY, sink);
    this.close();
  }

  /** Frees the native state early (on an error). */
  close(): void {
    this.stream?.close();
  }

  /** gzip members: each header parsed here, its deflate data inflated raw, its trailer passed over. */
  private writeGzip(input: Uint8Array, sink: (output: Uint8Array) => void): void {
    let at = 0;
    while (at < input.length) {
      switch (this.member) {
        case "padding":
          if (input[at] !== 0) throw new DecompressError("garbage after the zero padding that ends the gzip data");
          at++;
          break;
        case "between":
          // Another member, or zero padding to the end.
          if (input[at] === 0) this.member = "padding";
          else {
            this.member = "header";
            (this.stream as zlib.InflateRaw).reset();
          }
          break;
        case "header":
          at = this.readHeader(input, at);
          break;
        case "body": {
          const rest = input.subarray(at);
          at += this.run(zlib.constants.Z_NO_FLUSH, rest, sink);
          // The raw inflater stops short of the input only at the end of the member's deflate data.
          if (at < input.length) {
            this.member = "trailer";
            this.trailerLeft = GZIP_TRAILER;
          }
          break;
        }
        case "trailer": {
          const n = Math.min(this.trailerLeft, input.length - at);
          at += n;
          this.trailerLeft -= n;
          if (this.trailerLeft === 0) this.member = "between";
          break;
        }
      }
    }
  }

  /** Collects a member's header (it may arrive in pieces) and moves to its body once it is whole. */
  private readHeader(input: Uint8Array, at: number): number {
    const before = this.header.length;
    const take = Math.min(input.length - at, HEADER_STEP);
    if (before + take > MAX_GZIP_HEADER) throw new DecompressError(`gzip header longer than ${MAX_GZIP_HEADER} bytes`);
    this.header = Buffer.concat([this.header, input.subarray(at, at + take)]);
    const length = gzipHeaderLength(this.header);
    if (length === undefined) return at + take;
    this.header = Buffer.alloc(0);
    this.member = "body";
    return at + (length - before);
  }

  /** Runs the native handle over `input`; returns the bytes it consumed. */
  private run(flush: number, input: Uint8Array, sink: (output: Uint8Array) => void): number {
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
      if (outLeft !== 0) return offset;
    }
  }
}

const EMPTY = new Uint8Array(0);
/** CRC-32 and size of the member's data. */
const GZIP_TRAILER = 8;
const HEADER_STEP = 4096;
/** The fixed part, an extra field of at most 64 KiB, and a name and comment: more is not a real header. */
const MAX_GZIP_HEADER = 1 << 20;
const FHCRC = 2;
const FEXTRA = 4;
const FNAME = 8;
const FCOMMENT = 16;

/** The length of the gzip member header at the start of `h` (RFC 1952 §2.3), or undefined while it is incomplete. */
function gzipHeaderLength(h: Buffer): number | undefined {
  if (h.length < 10) return undefined;
  // zlib's own messages for the same faults.
  if (h[0] !== 0x1f || h[1] !== 0x8b) throw new DecompressError("incorrect header check");
  if (h[2] !== 8) throw new DecompressError("unknown compression method");
  const flags = h[3]!;
  if (flags & 0xe0) throw new DecompressError("unknown header flags set");
  let at = 10;
  if (flags & FEXTRA) {
    if (h.length < at + 2) return undefined;
    at += 2 + h.readUInt16LE(at);
  }
  for (const field of [FNAME, FCOMMENT]) {
    if (!(flags & field)) continue;
    if (h.length <= at) return undefined;
    const nul = h.indexOf(0, at);
    if (nul < 0) return undefined;
    at = nul + 1;
  }
  if (flags & FHCRC) at += 2;
  return h.length >= at ? at : undefined;
}
