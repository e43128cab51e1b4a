// One pack file and its index (git's gitformat-pack): the v2 index is read into memory once, objects are
// found by binary search under its fan-out table and read from the pack at their offset, inflated, and
// rebuilt through OFS_DELTA and REF_DELTA chains. Every length, offset and instruction is checked before
// it is used: a pack is attacker-written data like any object.
import { closeSync, fstatSync, openSync, readFileSync, readSync } from "node:fs";
import { Lru } from "../core/lru.ts";
import { inflateExactly } from "./inflate.ts";
import { ObjectFormatError } from "./objects.ts";
import { RecentCache } from "../core/recent-cache.ts";

export type ObjectType = "commit" | "tree" | "blob" | "tag";

/** The types a pack entry's header names (3 bits); 5 is reserved, 6 and 7 are deltas. */
const packTypes: (ObjectType | "ofs-delta" | "ref-delta" | undefined)[] = [
  undefined,
  "commit",
  "tree",
  "blob",
  "tag",
  undefined,
  "ofs-delta",
  "ref-delta",
];

/** A delta chain longer than this is refused: git writes at most --depth (default 50, max 4095). */
export const MAX_DELTA_CHAIN = 4096;

/**
 * What a read may unpack to, decided by the caller from the type and size an entry's header declares:
 * the object asked for against its caps, a base on the way to it (`onTheWay`) against the largest object.
 */
export type SizeCheck = (type: ObjectType, size: number, onTheWay: boolean) => void;

export interface Unpacked {
  type: ObjectType;
  data: Buffer;
}

const IDX_MAGIC = 0xff744f63; // "\377tOc"
const WINDOW = 1 << 20;

/**
 * Windows of every pack of a store ("<pack serial>:<offset>"), shared so memory stays bounded however
 * many packs there are. The window used last is looked at first: a walk reads neighbouring entries one
 * after another.
 */
export class WindowCache {
  private readonly lru: Lru<string, Buffer>;
  private lastSerial = -1;
  private lastStart = -1;
  private last: Buffer | undefined;
  constructor(windows: number) {
    this.lru = new Lru<string, Buffer>(windows);
  }

  /** The window of pack `serial` at `start`, read by `read` when it is not held. */
  get(serial: number, start: number, read: () => Buffer): Buffer {
    if (serial === this.lastSerial && start === this.lastStart) return this.last!;
    const key = `${serial}:${start}`;
    let window = this.lru.get(key);
    if (!window) this.lru.set(key, (window = read()));
    this.lastSerial = serial;
    this.lastStart = start;
    this.last = window;
    return window;
  }
}
export const windowCache = (windows = 32): WindowCache => new WindowCache(windows);

export class PackFile {
  readonly packPath: string;
  private readonly hashLength: number;
  private readonly idx: Buffer;
  private readonly count: number;
  /** Byte offsets of the index's tables. */
  private readonly namesAt: number;
  private readonly offsetsAt: number;
  private readonly largeOffsetsAt: number;
  private readonly fd: number;
  private readonly packSize: number;
  /** Every entry's offset in the pack, sorted: where one entry ends is where the next begins. */
  private sortedOffsets: Float64Array | null = null;
  /** Rebuilt delta bases by offset (objects up to 64 KiB): a chain's bases are shared by the objects after it. */
  private readonly bases = new RecentCache<number, Unpacked>(512);
  /** Windows of the pack (WINDOW bytes each), in the store's shared cache under `serial`. */
  private readonly windows: WindowCache;
  private readonly serial: number;

  /** Opens a pack by its index; throws ObjectFormatError for an index or pack header that is not git's v2. */
  constructor(idxPath: string, hashLength: number, windows: WindowCache, serial: number) {
    this.hashLength = hashLength;
    this.windows = windows;
    this.serial = serial;
    this.packPath = idxPath.replace(/\.idx$/, ".pack");
    this.idx = readFileSync(idxPath);
    const idx = this.idx;
    const bad = (what: string) => new ObjectFormatError(`pack index ${idxPath} is not a git v2 index: ${what}`);
    if (idx.length < 8 + 1024 || idx.readUInt32BE(0) !== IDX_MAGIC || idx.readUInt32BE(4) !== 2) throw bad("no v2 header");
    let previous = 0;
    for (let i = 0; i < 256; i++) {
      const n = idx.readUInt32BE(8 + i * 4);
      if (n < previous) throw bad("its fan-out table decreases");
      previous = n;
    }
    this.count = previous;
    this.namesAt = 8 + 1024;
    this.offsetsAt = this.namesAt + this.count * (hashLength + 4);
    this.largeOffsetsAt = this.offsetsAt + this.count * 4;
    // Two checksums (the pack's and the index's own) end the index; large offsets sit between.
    if (idx.length < this.largeOffsetsAt + 2 * hashLength || (idx.length - this.largeOffsetsAt - 2 * hashLength) % 8 !== 0)
      throw bad("its tables do not fit its size");
    this.fd = openSync(this.packPath, "r");
    try {
      this.packSize = fstatSync(this.fd).size;
      const header = Buffer.alloc(12);
      if (
        readSync(this.fd, header, 0, 12, 0) !== 12 ||
        header.toString("latin1", 0, 4) !== "PACK" ||
        ![2, 3].includes(header.readUInt32BE(4))
      ) {
        throw new ObjectFormatError(`${this.packPath} is not a git pack (version 2 or 3)`);
      }
      if (header.readUInt32BE(8) !== this.count)
        throw new ObjectFormatError(`${this.packPath} holds ${header.readUInt32BE(8)} objects but its index lists ${this.count}`);
    } catch (e) {
      closeSync(this.fd);
      throw e;
    }
  }

  close(): void {
    closeSync(this.fd);
  }

  /** The index position of a raw object id, or -1. */
  find(rawId: Buffer): number {
    const first = rawId[0]!;
    let lo = first === 0 ? 0 : this.idx.readUInt32BE(8 + (first - 1) * 4);
    let hi = this.idx.readUInt32BE(8 + first * 4);
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const order = this.compareName(mid, rawId);
      if (order === 0) return mid;
      if (order < 0) lo = mid + 1;
      else hi = mid;
    }
    return -1;
  }

  /** The index's id at `position` against `rawId`, byte by byte (ids differ early; a native call costs more). */
  private compareName(position: number, rawId: Buffer): number {
    const at = this.namesAt + position * this.hashLength;
    for (let i = 0; i < this.hashLength; i++) {
      const difference = this.idx[at + i]! - rawId[i]!;
      if (difference !== 0) return difference;
    }
    return 0;
  }

  /** The object at index position `position`, its delta chain resolved. */
  readAt(position: number, check: SizeCheck, readBase: (rawId: Buffer) => Unpacked | null): Unpacked {
    return this.unpack(this.offsetOf(position), check, readBase);
  }

  private offsetOf(position: number): number {
    const small = this.idx.readUInt32BE(this.offsetsAt + position * 4);
    if ((small & 0x80000000) === 0) return small;
    const at = this.largeOffsetsAt + (small & 0x7fffffff) * 8;
    if (at + 8 > this.idx.length - 2 * this.hashLength) throw this.corrupt(position, "its large offset is outside the index");
    const offset = Number(this.idx.readBigUInt64BE(at));
    if (!Number.isSafeInteger(offset)) throw this.corrupt(position, "its offset is too large");
    return offset;
  }

  /** Where the entry at `offset` ends: the next entry's offset, or the pack's trailing checksum. */
  private entryEnd(offset: number): number {
    if (!this.sortedOffsets) {
      const offsets = new Float64Array(this.count);
      for (let i = 0; i < this.count; i++) offsets[i] = this.offsetOf(i);
      this.sortedOffsets = offsets.sort();
    }
    const sorted = this.sortedOffsets;
    let lo = 0;
    let hi = sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (sorted[mid]! <= offset) lo = mid + 1;
      else hi = mid;
    }
    if (lo === 0 || sorted[lo - 1] !== offset) throw this.corruptAt(offset, "no indexed entry starts there");
    return lo < sorted.length ? sorted[lo]! : this.packSize - this.hashLength;
  }

  /**
   * Rebuilds the object at `offset`: the chain of deltas is followed down to its base (iteratively, to a
   * bounded depth), then the deltas are applied back up. Each delta's result size is checked against
   * the caller's caps before anything is inflated past its header.
   */
  private unpack(offset: number, check: SizeCheck, readBase: (rawId: Buffer) => Unpacked | null): Unpacked {
    const deltas: { offset: number; entry: Buffer; dataAt: number; size: number }[] = [];
    let base: Unpacked | null = null;
    for (let at = offset; base === null; ) {
      if (deltas.length > MAX_DELTA_CHAIN) throw this.corruptAt(offset, `its delta chain is longer than ${MAX_DELTA_CHAIN}`);
      const cached = this.bases.get(at);
      if (cached) {
        base = cached;
        break;
      }
      const entry = this.readEntry(at);
      const header = this.entryHeader(entry, at);
      const kind = packTypes[header.type];
      if (kind === undefined) throw this.corruptAt(at, `entry type ${header.type} is not a git object type`);
      if (kind === "ofs-delta") {
        const { distance, next } = this.ofsDistance(entry, header.dataAt, at);
        deltas.push({ offset: at, entry, dataAt: next, size: header.size });
        at -= distance;
      } else if (kind === "ref-delta") {
        const next = header.dataAt + this.hashLength;
        if (next > entry.length) throw this.corruptAt(at, "its base id is truncated");
        deltas.push({ offset: at, entry, dataAt: next, size: header.size });
        const baseId = entry.subarray(header.dataAt, next);
        // A base in this pack continues the same loop (bounded); one elsewhere is read by the store.
        const inPack = this.find(baseId);
        if (inPack >= 0) {
          at = this.offsetOf(inPack);
          continue;
        }
        const resolved = readBase(Buffer.from(baseId));
        if (!resolved) throw this.corruptAt(at, `its delta base ${baseId.toString("hex")} is not in the repository`);
        base = resolved;
      } else {
        check(kind, header.size, deltas.length > 0);
        base = {
          type: kind,
          data: inflateExactly(entry, header.dataAt, header.size, () => this.corruptAt(at, "its data does not inflate to its size")),
        };
        if (deltas.length > 0) this.remember(at, base);
      }
    }
    for (let i = deltas.length - 1; i >= 0; i--) {
      const d = deltas[i]!;
      const delta = inflateExactly(d.entry, d.dataAt, d.size, () => this.corruptAt(d.offset, "its delta does not inflate to its size"));
      const data = applyDelta(
        base.data,
        delta,
        (size) => check(base!.type, size, i > 0),
        (what) => this.corruptAt(d.offset, what),
      );
      base = { type: base.type, data };
      if (i > 0) this.remember(d.offset, base);
    }
    return base;
  }

  private remember(offset: number, object: Unpacked): void {
    // Small objects only: the cache is for trees and commits shared along chains, not for large blobs.
    if (object.data.length <= 64 << 10) this.bases.set(offset, object);
  }

  /**
   * An entry's bytes. The pack is read in aligned 1 MiB windows kept in the store's LRU (git's
   * packedGitWindowSize, scaled down): neighbouring entries, which a walk reads one after another, cost
   * no system call.
   */
  private readEntry(offset: number): Buffer {
    const end = this.entryEnd(offset);
    const start = Math.floor(offset / WINDOW) * WINDOW;
    if (end <= start + WINDOW) {
      const window = this.windows.get(this.serial, start, () => this.readRange(start, Math.min(start + WINDOW, this.packSize)));
      if (end - start > window.length) throw this.corruptAt(offset, "the pack ends inside it");
      return window.subarray(offset - start, end - start);
    }
    return this.readRange(offset, end);
  }

  private readRange(from: number, to: number): Buffer {
    const bytes = Buffer.allocUnsafe(to - from);
    let done = 0;
    while (done < bytes.length) {
      const n = readSync(this.fd, bytes, done, bytes.length - done, from + done);
      if (n === 0) throw this.corruptAt(from, "the pack ends inside it");
      done += n;
    }
    return bytes;
  }

  /** The entry header: 3 type bits and a size in 4 + 7·n bits. */
  private entryHeader(entry: Buffer, offset: number): { type: number; size: number; dataAt: number } {
    let byte = entry[0];
    if (byte === undefined) throw this.corruptAt(offset, "the entry is empty");
    const type = (byte >> 4) & 7;
    let size = byte & 15;
    let shift = 4;
    let i = 1;
    while (byte! & 0x80) {
      byte = entry[i++];
      if (byte === undefined || shift > 49) throw this.corruptAt(offset, "its size header is truncated or too large");
      size += (byte & 0x7f) * 2 ** shift;
      shift += 7;
    }
    return { type, size, dataAt: i };
  }

  /** An OFS_DELTA's distance back to its base: git's big-endian varint with an implicit +1 per byte. */
  private ofsDistance(entry: Buffer, at: number, offset: number): { distance: number; next: number } {
    let byte = entry[at++];
    if (byte === undefined) throw this.corruptAt(offset, "its base offset is truncated");
    let distance = byte & 0x7f;
    while (byte! & 0x80) {
      byte = entry[at++];
      if (byte === undefined || distance > 2 ** 45) throw this.corruptAt(offset, "its base offset is truncated or too large");
      distance = (distance + 1) * 128 + (byte & 0x7f);
    }
    if (distance <= 0 || distance > offset - 12) throw this.corruptAt(offset, "its base offset points outside the pack");
    return { distance, next: at };
  }

  private corrupt(position: number, what: string): ObjectFormatError {
    const id = this.idx.toString("hex", this.namesAt + position * this.hashLength, this.namesAt + (position + 1) * this.hashLength);
    return new ObjectFormatError(`object ${id} in ${this.packPath} cannot be read: ${what}`, id);
  }

  private corruptAt(offset: number, what: string): ObjectFormatError {
    return new ObjectFormatError(`the entry at offset ${offset} of ${this.packPath} cannot be read: ${what}`);
  }
}

/** A delta's size varint (little-endian, 7 bits a byte). */
function deltaSize(delta: Buffer, at: number, corrupt: (what: string) => Error): { size: number; next: number } {
  let size = 0;
  let shift = 0;
  for (;;) {
    const byte = delta[at++];
    if (byte === undefined || shift > 49) throw corrupt("its delta header is truncated or too large");
    size += (byte & 0x7f) * 2 ** shift;
    shift += 7;
    if ((byte & 0x80) === 0) return { size, next: at };
  }
}

/**
 * Applies a git delta: the base's size, the result's size (checked against the caps before any byte is
 * written), then copy instructions (offset and length within the base) and inserts (literal bytes).
 * Instruction 0 is reserved and refused, as git refuses it.
 */
export function applyDelta(base: Buffer, delta: Buffer, checkSize: (size: number) => void, corrupt: (what: string) => Error): Buffer {
  const baseSize = deltaSize(delta, 0, corrupt);
  if (baseSize.size !== base.length) throw corrupt(`its delta is for a ${baseSize.size}-byte base, but the base has ${base.length} bytes`);
  const resultSize = deltaSize(delta, baseSize.next, corrupt);
  checkSize(resultSize.size);
  const out = Buffer.allocUnsafe(resultSize.size);
  let written = 0;
  let at = resultSize.next;
  while (at < delta.length) {
    const op = delta[at++]!;
    if (op & 0x80) {
      let copyOffset = 0;
      let copySize = 0;
      for (let bit = 0; bit < 4; bit++) if (op & (1 << bit)) copyOffset += delta[at++]! * 2 ** (8 * bit);
      for (let bit = 0; bit < 3; bit++) if (op & (16 << bit)) copySize += delta[at++]! * 2 ** (8 * bit);
      if (copySize === 0) copySize = 0x10000;
      if (at > delta.length || Number.isNaN(copyOffset + copySize)) throw corrupt("a copy instruction is truncated");
      if (copyOffset + copySize > base.length || written + copySize > out.length)
        throw corrupt("a copy instruction reaches outside its base or result");
      base.copy(out, written, copyOffset, copyOffset + copySize);
      written += copySize;
    } else if (op !== 0) {
      if (at + op > delta.length || written + op > out.length) throw corrupt("an insert instruction is truncated or overflows the result");
      delta.copy(out, written, at, at + op);
      written += op;
      at += op;
    } else {
      throw corrupt("it holds the reserved delta instruction 0");
    }
  }
  if (written !== out.length) throw corrupt(`its delta builds ${written} bytes, not the ${out.length} it declares`);
  return out;
}
