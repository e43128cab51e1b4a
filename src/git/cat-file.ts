// Raw git objects through one long-lived `git cat-file --batch`: exact bytes, in-process parsing,
// and no process per object (git's own verify-commit starts one per commit).
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { gitEnv } from "./env.ts";
import { OBJECT_LIMITS, ObjectFormatError } from "./objects.ts";

export interface GitObject {
  id: string;
  type: "commit" | "tree" | "blob" | "tag";
  data: Buffer;
}

/**
 * The largest objects read. A commit or tag over its cap is refused without being held (its bytes are
 * read past); trees and blobs stay readable up to `objectBytes`, what a whole revision may unpack to.
 */
export interface CatFileLimits {
  commitOrTagBytes: number;
  objectBytes: number;
}

export const CAT_FILE_LIMITS: CatFileLimits = { commitOrTagBytes: OBJECT_LIMITS.commitOrTagBytes, objectBytes: 512 << 20 };

interface Pending {
  resolve: (o: GitObject | null) => void;
  reject: (e: Error) => void;
  /** A tighter cap for this one read (a claim, a policy, a signature), below the object caps. */
  maxBytes?: number;
}

/** The object being received: its chunks are kept until all its bytes (and git's LF after them) are in. */
interface Incoming {
  id: string;
  type: GitObject["type"];
  /** Bytes still to come, the trailing LF included. */
  remaining: number;
  chunks: Buffer[];
  /** Set when the object is over a cap: its bytes are dropped as they come. */
  refusal?: ObjectFormatError;
}

/** What reads objects by id for the gates: the in-process store (object-store.ts), or git's own cat-file. */
export interface ObjectReader {
  /**
   * The object named by `rev`, or null when it does not exist. An object over a cap (or over
   * `maxBytes`) rejects with an ObjectFormatError naming it, without its bytes being held.
   */
  read(rev: string, maxBytes?: number): Promise<GitObject | null>;
  /**
   * The same read done at once, for a reader that holds the objects in-process: the object, null when it
   * does not exist, or undefined when only `read` can tell (then nothing was decided). It throws where
   * `read` rejects. A walk over objects already on disk runs without a promise per object this way.
   */
  readNow?(rev: string, maxBytes?: number): GitObject | null | undefined;
  close(): void;
}

/** The refusal for an object of `size` bytes over its type's cap (or the read's `maxBytes`), if it is. */
export function overCap(limits: CatFileLimits, id: string, type: string, size: number, maxBytes = Infinity): ObjectFormatError | undefined {
  const objectCap = type === "commit" || type === "tag" ? Math.min(limits.commitOrTagBytes, limits.objectBytes) : limits.objectBytes;
  const cap = Math.min(objectCap, maxBytes);
  if (size <= cap) return undefined;
  return new ObjectFormatError(`${type} ${id} is ${size} bytes, more than the ${cap} bytes Vigil reads for a ${type}`, id, size);
}

export class CatFile implements ObjectReader {
  private readonly proc: ChildProcessWithoutNullStreams;
  private readonly pending: Pending[] = [];
  private readonly limits: CatFileLimits;
  /** A header line that has not ended yet. */
  private headerParts: Buffer[] = [];
  private incoming: Incoming | null = null;
  private failure: Error | null = null;
  private stderr = "";

  constructor(gitDir: string, limits: Partial<CatFileLimits> = {}) {
    this.limits = { ...CAT_FILE_LIMITS, ...limits };
    // Replace refs would make git answer with another object than the one stored under the id asked
    // for; Vigil verifies the stored bytes, so replacements are switched off.
    this.proc = spawn("git", ["--git-dir", gitDir, "cat-file", "--batch"], { stdio: ["pipe", "pipe", "pipe"], env: gitEnv });
    this.proc.stdout.on("data", (chunk: Buffer) => this.onData(chunk));
    this.proc.stderr.on("data", (chunk: Buffer) => (this.stderr = (this.stderr + chunk.toString()).slice(-4096)));
    this.proc.on("error", (e) => this.fail(e));
    this.proc.on("close", (code) => this.fail(new Error(`git cat-file exited (${code}): ${this.stderr.trim()}`)));
    this.proc.stdin.on("error", (e) => this.fail(e));
  }

  /**
   * The object named by `rev` (an id, or "<commit>:<path>"), or null when it does not exist. An object
   * over a cap (or over `maxBytes`, for what is never large: claims, policies, signatures) rejects with
   * an ObjectFormatError naming it, without holding its bytes.
   */
  read(rev: string, maxBytes?: number): Promise<GitObject | null> {
    if (this.failure) return Promise.reject(this.failure);
    if (/[\n\0]/.test(rev)) return Promise.reject(new Error(`invalid object name ${JSON.stringify(rev)}`));
    return new Promise((resolve, reject) => {
      this.pending.push({ resolve, reject, ...(maxBytes !== undefined ? { maxBytes } : {}) });
      this.proc.stdin.write(rev + "\n");
    });
  }

  close(): void {
    this.failure ??= new Error("cat-file closed");
    this.proc.stdin.end();
  }

  private fail(e: Error): void {
    if (!this.failure) this.failure = e;
    for (const p of this.pending.splice(0)) p.reject(this.failure);
  }

  /** Each byte of output is looked at once: reading an object is linear in its size. */
  private onData(chunk: Buffer): void {
    let pos = 0;
    while (pos < chunk.length && !this.failure) pos = this.incoming ? this.takeBody(chunk, pos) : this.takeHeader(chunk, pos);
  }

  private takeHeader(chunk: Buffer, pos: number): number {
    const eol = chunk.indexOf(10, pos);
    if (eol < 0) {
      this.headerParts.push(chunk.subarray(pos));
      return chunk.length;
    }
    const header = Buffer.concat([...this.headerParts, chunk.subarray(pos, eol)]).toString("utf8");
    this.headerParts = [];
    if (this.pending.length === 0) {
      this.fail(new Error(`unexpected git cat-file output: ${header.slice(0, 200)}`));
      return chunk.length;
    }
    if (header.endsWith(" missing") || header.endsWith(" ambiguous")) {
      this.pending.shift()!.resolve(null);
      return eol + 1;
    }
    const [id, type, size] = header.split(" ");
    const length = Number(size);
    if (!id || !type || !/^[0-9]+$/.test(size ?? "") || !Number.isSafeInteger(length)) {
      this.fail(new Error(`unexpected git cat-file output: ${header.slice(0, 200)}`));
      return chunk.length;
    }
    const refusal = this.overCap(id, type, length, this.pending[0]!.maxBytes);
    this.incoming = { id, type: type as GitObject["type"], remaining: length + 1, chunks: [], ...(refusal ? { refusal } : {}) };
    return eol + 1;
  }

  private overCap(id: string, type: string, size: number, maxBytes?: number): ObjectFormatError | undefined {
    return overCap(this.limits, id, type, size, maxBytes);
  }

  private takeBody(chunk: Buffer, pos: number): number {
    const incoming = this.incoming!;
    const end = Math.min(chunk.length, pos + incoming.remaining);
    if (!incoming.refusal) incoming.chunks.push(chunk.subarray(pos, end));
    incoming.remaining -= end - pos;
    if (incoming.remaining === 0) this.deliver(incoming);
    return end;
  }

  private deliver(incoming: Incoming): void {
    this.incoming = null;
    if (incoming.refusal) return this.pending.shift()!.reject(incoming.refusal);
    // One copy into a buffer of its own, so the object does not keep git's output chunks alive.
    const whole = Buffer.concat(incoming.chunks);
    if (whole.at(-1) !== 10) return this.fail(new Error(`git cat-file output for ${incoming.id} does not end its object`));
    this.pending.shift()!.resolve({ id: incoming.id, type: incoming.type, data: whole.subarray(0, whole.length - 1) });
  }
}
