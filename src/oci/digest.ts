// Content digests (OCI image-spec descriptor.md): "<algorithm>:<lowercase hex>". Only sha256 and sha512
// are accepted; anything else is refused rather than trusted unchecked.
import { createHash, type Hash } from "node:crypto";
import { Transform, type TransformCallback } from "node:stream";
import { InputError } from "../core/errors.ts";
import { OciContentError } from "./errors.ts";

export type DigestAlgorithm = "sha256" | "sha512";

/**
 * Read size for blobs streamed from files: 1 MiB instead of the stream default's 64 KiB cuts the
 * per-chunk cost (a decompressor round trip each) and a fifth of the CPU of reading a large layer.
 */
export const READ_CHUNK = 1 << 20;

const HEX_LENGTH: Record<DigestAlgorithm, number> = { sha256: 64, sha512: 128 };
const DIGEST = /^(sha256|sha512):([a-f0-9]+)$/;

export function isDigest(value: string): boolean {
  const m = DIGEST.exec(value);
  return m !== null && m[2]!.length === HEX_LENGTH[m[1] as DigestAlgorithm];
}

/** Checks a digest's form and returns its algorithm. `where` names the field or reference for the message. */
export function digestAlgorithm(digest: string, where: string): DigestAlgorithm {
  const m = DIGEST.exec(digest);
  if (!m || m[2]!.length !== HEX_LENGTH[m[1] as DigestAlgorithm]) {
    const alg = digest.split(":")[0];
    if (digest.includes(":") && alg !== "sha256" && alg !== "sha512") {
      throw new InputError(`${where}: unsupported digest algorithm "${alg}" (sha256 and sha512 are supported)`);
    }
    throw new InputError(`${where}: "${digest}" is not a digest (expected sha256:<64 hex> or sha512:<128 hex>)`);
  }
  return m[1] as DigestAlgorithm;
}

export function digestOf(bytes: Uint8Array, algorithm: DigestAlgorithm = "sha256"): string {
  return `${algorithm}:${createHash(algorithm).update(bytes).digest("hex")}`;
}

/** The hex part of a digest: the file name of a blob in an OCI layout. */
export function digestHex(digest: string): string {
  return digest.slice(digest.indexOf(":") + 1);
}

function mismatch(what: string, expected: string, actual: string): OciContentError {
  return new OciContentError(`${what}: content does not match its digest: expected ${expected}, got ${actual}`);
}

/** Refuses bytes whose digest is not `expected`. `what` names the reference, e.g. "registry/repo@sha256:…". */
export function verifyDigest(bytes: Uint8Array, expected: string, what: string): void {
  const actual = digestOf(bytes, digestAlgorithm(expected, what));
  if (actual !== expected) throw mismatch(what, expected, actual);
}

/**
 * The digest (and size, when known) of content read in pieces: `update` with each piece, `finish` at
 * the end. Content past the expected size is refused at once, so a blob cannot grow without bound.
 */
export class DigestCheck {
  private readonly hash: Hash;
  private size = 0;
  private readonly expected: string;
  private readonly what: string;
  private readonly expectedSize: number | undefined;

  constructor(expected: string, what: string, expectedSize?: number) {
    this.hash = createHash(digestAlgorithm(expected, what));
    this.expected = expected;
    this.what = what;
    this.expectedSize = expectedSize;
  }

  /** The hash function the digest names ("sha256"). */
  get algorithm(): DigestAlgorithm {
    return this.expected.slice(0, this.expected.indexOf(":")) as DigestAlgorithm;
  }

  update(bytes: Uint8Array): void {
    this.count(bytes.length);
    this.hash.update(bytes);
  }

  /** Counts bytes that are hashed elsewhere (then `finish` gets that hash); refuses content past the expected size. */
  count(length: number): void {
    this.size += length;
    if (this.expectedSize !== undefined && this.size > this.expectedSize)
      throw new OciContentError(`${this.what}: content is larger than its descriptor's size ${this.expectedSize}`);
  }

  /** Throws unless the content had the expected digest and size. `hex`: the hash computed elsewhere, if it was. */
  finish(hex = this.hash.digest("hex")): void {
    const actual = `${this.algorithm}:${hex}`;
    if (actual !== this.expected) throw mismatch(this.what, this.expected, actual);
    if (this.expectedSize !== undefined && this.size !== this.expectedSize)
      throw new OciContentError(`${this.what}: content is ${this.size} bytes, its descriptor says ${this.expectedSize}`);
  }
}

/**
 * A pass-through stream that hashes what flows through it and fails at the end when the digest (or the
 * size, when known) is not the expected one. Consumers must treat the data as unverified until the
 * stream has ended without error.
 */
export function digestVerifier(expected: string, what: string, expectedSize?: number): Transform {
  const check = new DigestCheck(expected, what, expectedSize);
  return new Transform({
    transform(chunk: Buffer, _encoding, callback: TransformCallback) {
      try {
        check.update(chunk);
      } catch (e) {
        callback(e as Error);
        return;
      }
      callback(null, chunk);
    },
    flush(callback: TransformCallback) {
      try {
        check.finish();
      } catch (e) {
        callback(e as Error);
        return;
      }
      callback();
    },
  });
}
