// Inflating a git object's zlib stream to exactly the size its header declares. node:zlib builds a
// native stream for every call, which for the walk's tens of thousands of small objects (commits, tree
// deltas of a few dozen bytes) costs more than the inflating; small streams are inflated in JavaScript
// (fflate) into a buffer of the declared size, and their Adler-32 trailer is checked here, since fflate
// does not check it. Larger ones go to node:zlib, whose maxOutputLength stops a bomb at the declared size.
import { unzlibSync } from "fflate";
import { inflateSync } from "node:zlib";

/**
 * Streams up to this many compressed bytes are inflated in JavaScript: their work is bounded by their
 * input (DEFLATE expands at most ~1032:1, so at most ~2 MiB of output is decoded even for a bomb).
 */
const SMALL_INPUT = 2048;

/** Inflates `source` from `from` (a whole zlib stream, nothing after it) to exactly `size` bytes, or throws `corrupt()`. */
export function inflateExactly(source: Buffer, from: number, size: number, corrupt: () => Error): Buffer {
  const stream = source.subarray(from);
  let data: Buffer;
  try {
    data = stream.length <= SMALL_INPUT ? inflateSmall(stream, size) : inflateSync(stream, { maxOutputLength: Math.max(size, 1) });
  } catch {
    throw corrupt();
  }
  if (data.length !== size) throw corrupt();
  return data;
}

function inflateSmall(stream: Buffer, size: number): Buffer {
  const out = Buffer.allocUnsafe(size);
  const written = unzlibSync(stream, { out });
  // A stream longer than declared is cut at `size` by fflate; the trailer then does not match.
  const data =
    written.buffer === out.buffer && written.byteOffset === out.byteOffset ? out.subarray(0, written.length) : Buffer.from(written);
  if (stream.length < 6 || adler32(data) !== stream.readUInt32BE(stream.length - 4)) throw new Error("adler-32 mismatch");
  return data;
}

/** RFC 1950's Adler-32, summed in runs of 5,552 bytes (the most before the sums can overflow 2^32). */
export function adler32(data: Uint8Array): number {
  let a = 1;
  let b = 0;
  for (let i = 0; i < data.length; ) {
    const end = Math.min(i + 5552, data.length);
    for (; i < end; i++) {
      a += data[i]!;
      b += a;
    }
    a %= 65521;
    b %= 65521;
  }
  return ((b << 16) | a) >>> 0;
}
