// The embedded store: a directory of append-only files.
//
//   log.json         the log's identity (format, origin, verifier key), written once
//   entries          one frame per entry: u32 length | 32-byte leaf hash | the record's bytes
//   index            u64 end offset of each entry in `entries`: entry i is found with two reads
//   tree/level-NN    every full subtree's hash at level NN, in order (level 00: the leaf hashes)
//   checkpoints      one frame per batch: u32 length | SHA-256 of the note | the signed checkpoint
//   checkpoint       a copy of the latest checkpoint, for tools that fetch one
//   writer.lock      the writing process's pid
//
// An append writes the batch's entries, index and hashes, fsyncs them, then writes its checkpoint and
// fsyncs that: a batch is acknowledged only once its checkpoint is durable, and everything a
// checkpoint commits to was durable before it. So on open a writer keeps exactly what the latest
// complete checkpoint covers and cuts the rest (a torn tail, never acknowledged). Readers read up to
// the latest complete checkpoint and never write. A proof reads O(log n) hashes at known offsets.
import {
  closeSync,
  existsSync,
  fsync,
  fstatSync,
  fsyncSync,
  ftruncateSync,
  linkSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  renameSync,
  rmSync,
  unlinkSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { createHash } from "node:crypto";
import { basename, dirname, join } from "node:path";
import { InputError, UnavailableError } from "../core/errors.ts";
import { claimedSize } from "./checkpoint.ts";
import { HASH_SIZE } from "./hash.ts";
import { IntegrityError } from "./proof.ts";
import { LOG_FORMAT, type LogHead, type LogMeta, type LogWriterStore, type NewLog, type SealedBatch, type StoredEntry } from "./store.ts";
import { frontierNodes, type TreeNode } from "./tree.ts";

const FRAME_HEADER = 4 + HASH_SIZE;
const MAX_FRAME = 64 * 1024 * 1024;
const levelFile = (level: number) => `level-${String(level).padStart(2, "0")}`;

/** Open files of a log directory; `writable` only for the one writer. */
class Files {
  readonly #fds = new Map<string, number>();
  readonly dir: string;
  readonly writable: boolean;
  constructor(dir: string, writable: boolean) {
    this.dir = dir;
    this.writable = writable;
  }

  fd(name: string, create = false): number {
    let fd = this.#fds.get(name);
    if (fd === undefined) {
      const path = join(this.dir, name);
      try {
        fd = openSync(path, this.writable ? (create && !existsSync(path) ? "w+" : "r+") : "r");
      } catch (e) {
        throw new IntegrityError(`${path}: cannot open (${(e as NodeJS.ErrnoException).code ?? e}): the log is incomplete`);
      }
      this.#fds.set(name, fd);
    }
    return fd;
  }

  size(name: string): number {
    return existsSync(join(this.dir, name)) ? fstatSync(this.fd(name)).size : 0;
  }

  read(name: string, position: number, length: number): Buffer {
    const buffer = Buffer.allocUnsafe(length);
    let done = 0;
    while (done < length) {
      const n = readSync(this.fd(name), buffer, done, length - done, position + done);
      if (n === 0)
        throw new IntegrityError(
          `${join(this.dir, name)}: ends at ${position + done} bytes, before the ${length} bytes wanted at ${position}: truncated`,
        );
      done += n;
    }
    return buffer;
  }

  write(name: string, position: number, data: Buffer): void {
    const fd = this.fd(name, true);
    for (let done = 0; done < data.length; ) done += writeSync(fd, data, done, data.length - done, position + done);
  }

  truncate(name: string, length: number): void {
    if (existsSync(join(this.dir, name))) ftruncateSync(this.fd(name), length);
  }

  sync(names: Iterable<string>): Promise<void[]> {
    return Promise.all(
      [...new Set(names)].map((n) => new Promise<void>((resolve, reject) => fsync(this.fd(n), (e) => (e ? reject(e) : resolve())))),
    );
  }

  close(): void {
    for (const fd of this.#fds.values()) closeSync(fd);
    this.#fds.clear();
  }
}

/**
 * The complete frames of a file, and how many bytes follow the last one. What follows may only be what
 * an interrupted append leaves — part of one frame (its header, or fewer bytes than it declares), one
 * whole frame whose bytes never reached the disk, or zeros — and is cut by the writer. A bad frame with
 * more after it is damage, never an interrupted append: it is refused, naming where it is.
 */
function scanFrames(files: Files, name: string, from = 0): { frames: { offset: number; length: number }[]; end: number; torn: number } {
  const size = files.size(name);
  const frames: { offset: number; length: number }[] = [];
  let at = from;
  while (at + FRAME_HEADER <= size) {
    const header = files.read(name, at, FRAME_HEADER);
    const length = header.readUInt32BE(0);
    const end = at + FRAME_HEADER + length;
    if (length > MAX_FRAME || end > size) break;
    if (
      !createHash("sha256")
        .update(files.read(name, at + FRAME_HEADER, length))
        .digest()
        .equals(header.subarray(4))
    ) {
      if (end === size || files.read(name, at, size - at).every((b) => b === 0)) break;
      throw new IntegrityError(
        `${join(files.dir, name)}: the frame at byte ${at} does not match its hash and ${size - end} bytes follow it: the file was damaged or edited, not cut short by an interrupted append`,
      );
    }
    frames.push({ offset: at + FRAME_HEADER, length });
    at = end;
  }
  return { frames, end: at, torn: size - at };
}

function frame(hash: Buffer, data: Buffer): Buffer {
  const header = Buffer.allocUnsafe(FRAME_HEADER);
  header.writeUInt32BE(data.length, 0);
  hash.copy(header, 4);
  return Buffer.concat([header, data]);
}

export interface FileStoreOptions {
  /** Open for writing: take the lock and cut any tail an interrupted append left. */
  write?: boolean;
  /** With write: create the log with this identity and first checkpoint when the directory has none. */
  create?: NewLog;
}

export interface Recovery {
  /** Entries stored after the latest checkpoint and cut (never acknowledged). */
  entries: number;
  /** Bytes of a torn checkpoint cut from the end of `checkpoints`. */
  checkpointBytes: number;
}

export class FileStore implements LogWriterStore {
  readonly location: string;
  readonly meta: LogMeta;
  readonly recovered: Recovery = { entries: 0, checkpointBytes: 0 };
  readonly #files: Files;
  #checkpointFrames: { offset: number; length: number }[];
  #checkpointsEnd: number;
  /** Entries committed by the latest checkpoint; the writer's next index. */
  #size = 0;
  #entriesEnd = 0;
  #head: LogHead | undefined;
  #unlock: (() => void) | undefined;
  /** Why an append failed part way; the store takes no more until it is opened again. */
  #failed: string | undefined;

  private constructor(dir: string, options: FileStoreOptions) {
    this.location = dir;
    this.meta = readMeta(dir);
    if (options.write) this.#unlock = lock(dir);
    this.#files = new Files(dir, options.write === true);
    try {
      const scanned = scanFrames(this.#files, "checkpoints");
      if (scanned.frames.length === 0) throw new IntegrityError(`${join(dir, "checkpoints")}: holds no complete checkpoint`);
      this.#checkpointFrames = scanned.frames;
      this.#checkpointsEnd = scanned.end;
      const latest = this.#note(scanned.frames.length - 1);
      const size = claimedSize(latest);
      if (size === undefined) throw new IntegrityError(`${join(dir, "checkpoints")}: the latest checkpoint has no tree size`);
      this.#size = size;
      if (options.write) {
        this.#recover(scanned.torn);
        writeLatestCopy(dir, latest);
      }
    } catch (e) {
      void this.close();
      throw e;
    }
  }

  static open(dir: string, options: FileStoreOptions = {}): FileStore {
    if (!existsSync(join(dir, "log.json"))) {
      if (!options.create) throw new InputError(`${dir}: no audit log here (no log.json); create one with vigil audit init`);
      createLog(dir, options.create.meta, options.create.note);
    }
    return new FileStore(dir, options);
  }

  #note(i: number): string {
    const f = this.#checkpointFrames[i]!;
    return this.#files.read("checkpoints", f.offset, f.length).toString("utf8");
  }

  /** Keeps exactly what the latest complete checkpoint covers; the hashes it needs must all be there. */
  #recover(tornCheckpointBytes: number): void {
    const n = this.#size;
    const indexBytes = this.#files.size("index");
    if (indexBytes < n * 8)
      throw new IntegrityError(
        `${join(this.location, "index")}: ${Math.floor(indexBytes / 8)} entries, but the latest checkpoint has ${n}: the log was truncated`,
      );
    this.#entriesEnd = n === 0 ? 0 : Number(this.#files.read("index", (n - 1) * 8, 8).readBigUInt64BE());
    const entriesBytes = this.#files.size("entries");
    if (entriesBytes < this.#entriesEnd)
      throw new IntegrityError(
        `${join(this.location, "entries")}: ${entriesBytes} bytes, but the latest checkpoint's entries end at ${this.#entriesEnd}: the log was truncated`,
      );
    this.recovered.entries = Math.max(0, Math.floor(indexBytes / 8) - n);
    this.recovered.checkpointBytes = tornCheckpointBytes;
    this.#files.truncate("checkpoints", this.#checkpointsEnd);
    this.#files.truncate("entries", this.#entriesEnd);
    this.#files.truncate("index", n * 8);
    for (let level = 0; ; level++) {
      const name = join("tree", levelFile(level));
      const want = Math.floor(n / 2 ** level) * HASH_SIZE;
      if (!existsSync(join(this.location, name))) {
        if (want > 0) throw new IntegrityError(`${join(this.location, name)}: missing, but the latest checkpoint needs it`);
        break;
      }
      const have = this.#files.size(name);
      if (have < want)
        throw new IntegrityError(
          `${join(this.location, name)}: ${have / HASH_SIZE} hashes, but the latest checkpoint needs ${want / HASH_SIZE}: the log was truncated`,
        );
      this.#files.truncate(name, want);
    }
  }

  async latestCheckpoint(): Promise<string> {
    if (!this.#files.writable) this.#readNewCheckpoints();
    return this.#note(this.#checkpointFrames.length - 1);
  }

  /** A reader that stays open (the console) sees the complete checkpoints a writer appended since. */
  #readNewCheckpoints(): void {
    if (this.#files.size("checkpoints") <= this.#checkpointsEnd) return;
    const scanned = scanFrames(this.#files, "checkpoints", this.#checkpointsEnd);
    this.#checkpointFrames.push(...scanned.frames);
    this.#checkpointsEnd = scanned.end;
  }

  async *checkpoints(): AsyncIterable<string> {
    for (let i = 0; i < this.#checkpointFrames.length; i++) yield this.#note(i);
  }

  async readEntries(start: number, end: number): Promise<StoredEntry[]> {
    if (start >= end) return [];
    const before = Math.max(0, start - 1);
    const ends = this.#files.read("index", before * 8, (end - before) * 8);
    const offsets = Array.from({ length: ends.length / 8 }, (_, i) => ends.readBigUInt64BE(i * 8));
    const first = start === 0 ? 0 : this.#entryEnd(start - 1, offsets.shift()!);
    const bounds: { start: number; end: number }[] = [];
    offsets.reduce((from, raw, i) => {
      const to = this.#entryEnd(start + i, raw, from);
      bounds.push({ start: from, end: to });
      return to;
    }, first);
    const entries: StoredEntry[] = [];
    for (let i = 0; i < bounds.length; ) {
      // One read per span of at most MAX_FRAME bytes (each entry is at most one frame), so memory stays bounded.
      let j = i + 1;
      while (j < bounds.length && bounds[j]!.end - bounds[i]!.start <= MAX_FRAME) j++;
      const spanStart = bounds[i]!.start;
      const bytes = this.#files.read("entries", spanStart, bounds[j - 1]!.end - spanStart);
      for (; i < j; i++) {
        const at = bounds[i]!.start - spanStart;
        const length = bounds[i]!.end - bounds[i]!.start - FRAME_HEADER;
        if (length < 0 || bytes.readUInt32BE(at) !== length)
          throw new IntegrityError(
            `entry ${start + i}: its frame in ${join(this.location, "entries")} does not match the index (offset ${bounds[i]!.start})`,
          );
        entries.push({
          hash: bytes.subarray(at + 4, at + FRAME_HEADER),
          data: bytes.subarray(at + FRAME_HEADER, at + FRAME_HEADER + length),
        });
      }
    }
    return entries;
  }

  /**
   * Entry `index`'s end offset as the index stores it, checked before anything is read or allocated with
   * it: within the entries file, after the entry's start, and one frame long at most. Anything else is a
   * damaged index, named with the byte of the index that holds it.
   */
  #entryEnd(index: number, raw: bigint, from?: number): number {
    const entriesBytes = this.#files.size("entries");
    const where = `entry ${index}: ${join(this.location, "index")} at byte ${index * 8} says it ends at byte ${raw}`;
    if (raw > BigInt(entriesBytes))
      throw new IntegrityError(`${where}, past the end of ${join(this.location, "entries")} (${entriesBytes} bytes): the log is damaged`);
    const end = Number(raw);
    if (from === undefined) return end;
    if (end < from + FRAME_HEADER)
      throw new IntegrityError(`${where}, before its start at byte ${from} plus a frame header: the log is damaged`);
    if (end - from > FRAME_HEADER + MAX_FRAME)
      throw new IntegrityError(
        `${where}, ${end - from} bytes after its start at byte ${from}, more than one entry may take (${MAX_FRAME} bytes): the log is damaged`,
      );
    return end;
  }

  async readLevel(level: number, start: number, end: number): Promise<Buffer[]> {
    if (start >= end) return [];
    const bytes = this.#files.read(join("tree", levelFile(level)), start * HASH_SIZE, (end - start) * HASH_SIZE);
    return Array.from({ length: end - start }, (_, i) => bytes.subarray(i * HASH_SIZE, (i + 1) * HASH_SIZE));
  }

  readNodes = async (nodes: readonly TreeNode[]): Promise<Buffer[]> =>
    nodes.map((n) => this.#files.read(join("tree", levelFile(n.level)), n.index * HASH_SIZE, HASH_SIZE));

  async findLeaf(hash: Buffer, size: number): Promise<number | undefined> {
    const chunk = 1 << 16;
    for (let start = 0; start < size; start += chunk) {
      const bytes = this.#files.read(join("tree", levelFile(0)), start * HASH_SIZE, Math.min(chunk, size - start) * HASH_SIZE);
      for (let at = bytes.indexOf(hash); at >= 0; at = bytes.indexOf(hash, at + 1)) if (at % HASH_SIZE === 0) return start + at / HASH_SIZE;
    }
    return undefined;
  }

  async storedEntries(): Promise<number> {
    return Math.floor(this.#files.size("index") / 8);
  }

  async append(seal: (head: LogHead) => SealedBatch): Promise<SealedBatch> {
    if (!this.#unlock) throw new Error("the store was opened read-only");
    this.#head ??= { size: this.#size, note: await this.latestCheckpoint(), frontier: await this.readNodes(frontierNodes(this.#size)) };
    if (this.#failed)
      throw new UnavailableError(
        `${this.location}: an earlier append failed (${this.#failed}); open the log again, which keeps what its latest checkpoint covers`,
      );
    const sealed = seal(this.#head);
    const note = Buffer.from(sealed.head.note, "utf8");
    try {
      await this.#files.sync(this.#writeBatch(sealed));
      this.#files.write("checkpoints", this.#checkpointsEnd, frame(createHash("sha256").update(note).digest(), note));
      await this.#files.sync(["checkpoints"]);
    } catch (e) {
      // Part of the batch may be on disk and the offsets kept here are past it: no further append on them.
      this.#failed = (e as NodeJS.ErrnoException).code ?? String(e);
      throw new UnavailableError(`${this.location}: cannot write the batch: ${this.#failed}`);
    }
    this.#checkpointFrames.push({ offset: this.#checkpointsEnd + FRAME_HEADER, length: note.length });
    this.#checkpointsEnd += FRAME_HEADER + note.length;
    this.#size = sealed.head.size;
    this.#head = sealed.head;
    writeLatestCopy(this.location, sealed.head.note);
    return sealed;
  }

  /** Entries, index and hashes of a batch, each file in one write; returns the files written. */
  #writeBatch(sealed: SealedBatch): string[] {
    const frames = sealed.entries.map((e) => frame(e.hash, e.data));
    const index = Buffer.allocUnsafe(frames.length * 8);
    let end = this.#entriesEnd;
    frames.forEach((f, i) => index.writeBigUInt64BE(BigInt((end += f.length)), i * 8));
    this.#files.write("entries", this.#entriesEnd, Buffer.concat(frames));
    this.#files.write("index", this.#size * 8, index);
    this.#entriesEnd = end;
    const byLevel = new Map<number, { index: number; hash: Buffer }[]>();
    for (const n of sealed.nodes) (byLevel.get(n.level) ?? byLevel.set(n.level, []).get(n.level)!).push(n);
    const touched = ["entries", "index"];
    for (const [level, nodes] of byLevel) {
      const name = join("tree", levelFile(level));
      if (nodes[0]!.index !== Math.floor(this.#size / 2 ** level))
        throw new Error(`level ${level}: batch starts at ${nodes[0]!.index}, the file at ${Math.floor(this.#size / 2 ** level)}`);
      const created = !existsSync(join(this.location, name));
      this.#files.write(name, nodes[0]!.index * HASH_SIZE, Buffer.concat(nodes.map((n) => n.hash)));
      touched.push(name);
      if (created) syncPath(join(this.location, "tree"));
    }
    return touched;
  }

  async close(): Promise<void> {
    this.#files.close();
    this.#unlock?.();
    this.#unlock = undefined;
  }
}

function readMeta(dir: string): LogMeta {
  const file = join(dir, "log.json");
  let meta: Partial<LogMeta>;
  try {
    meta = JSON.parse(readFileSync(file, "utf8"));
  } catch (e) {
    throw new IntegrityError(`${file}: cannot read the log's identity: ${(e as Error).message}`);
  }
  if (meta?.format !== LOG_FORMAT || typeof meta.origin !== "string" || typeof meta.verifierKey !== "string") {
    throw new IntegrityError(`${file}: not a ${LOG_FORMAT} log (format, origin and verifierKey are required)`);
  }
  return meta as LogMeta;
}

/** A new log appears whole or not at all: built in a folder beside it, then renamed into place. */
function createLog(dir: string, meta: LogMeta, note: string): void {
  if (existsSync(dir) && readdirSync(dir).length > 0) throw new InputError(`${dir}: not empty and not an audit log (no log.json)`);
  const parent = dirname(dir);
  mkdirSync(parent, { recursive: true });
  const building = mkdtempSync(join(parent, `.${basename(dir)}.creating-`));
  try {
    mkdirSync(join(building, "tree"));
    writeFileSync(join(building, "log.json"), JSON.stringify(meta, null, 2) + "\n");
    for (const name of ["entries", "index"]) writeFileSync(join(building, name), "");
    const bytes = Buffer.from(note, "utf8");
    writeFileSync(join(building, "checkpoints"), frame(createHash("sha256").update(bytes).digest(), bytes));
    writeFileSync(join(building, "checkpoint"), note);
    for (const name of ["log.json", "entries", "index", "checkpoints", "checkpoint", "tree", "."]) syncPath(join(building, name));
    renameSync(building, dir); // onto an empty directory too: rename(2) replaces it
    syncPath(parent);
  } catch (e) {
    rmSync(building, { recursive: true, force: true });
    throw new UnavailableError(`${dir}: cannot create the audit log: ${(e as NodeJS.ErrnoException).code ?? e}`);
  }
}

function syncPath(path: string): void {
  const fd = openSync(path, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** The `checkpoint` copy, replaced whole (rename), so a reader never sees half of one. */
function writeLatestCopy(dir: string, note: string): void {
  const temporary = join(dir, `checkpoint.${process.pid}.tmp`);
  writeFileSync(temporary, note);
  renameSync(temporary, join(dir, "checkpoint"));
}

/**
 * One writer per directory. writer.lock names the writer's pid; it appears whole (linked from a file
 * already written), and a lock whose process is gone is moved aside and taken — of two processes doing
 * that at once, only one rename succeeds. Several agents share one log through PostgreSQL instead.
 */
function lock(dir: string): () => void {
  const file = join(dir, "writer.lock");
  const mine = join(dir, `writer.lock.${process.pid}`);
  writeFileSync(mine, `${process.pid}\n`);
  try {
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        linkSync(mine, file);
        return () => {
          if (lockHolder(file) === process.pid) unlinkSync(file);
        };
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "EEXIST")
          throw new UnavailableError(`${file}: cannot take the writer's lock: ${(e as NodeJS.ErrnoException).code ?? e}`);
      }
      const holder = lockHolder(file);
      if (holder !== undefined && isRunning(holder)) {
        throw new UnavailableError(
          `${dir}: process ${holder} is writing this log (writer.lock); the embedded store has one writer, share a PostgreSQL log between agents`,
        );
      }
      try {
        renameSync(file, `${file}.stale.${process.pid}`);
        unlinkSync(`${file}.stale.${process.pid}`);
      } catch {
        // Another process moved it first; try again.
      }
    }
    throw new UnavailableError(`${file}: another process keeps taking the writer's lock`);
  } finally {
    unlinkSync(mine);
  }
}

function lockHolder(file: string): number | undefined {
  try {
    const pid = Number(readFileSync(file, "utf8").trim());
    return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}
