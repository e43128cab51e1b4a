// A tar reader for layers, fed synchronously with pieces of the decompressed stream (views of a reused
// buffer). It hands each entry's header to a visitor, and the entry's data only when the visitor asks
// for it: the content of a file nobody wants is skipped by counting, never copied. Formats read: POSIX
// ustar (with its name prefix), pax extended headers (path, linkpath, size), GNU long names and links
// and GNU base-256 numbers; old v7 headers too. Parsing is strict: a header whose checksum does not add
// up, a number that is not one, or a stream that ends inside an entry is an error; extended headers are
// bounded in size.

export type TarEntryType = "file" | "link" | "symlink" | "directory" | "other";

export interface TarHeader {
  name: string;
  type: TarEntryType;
  size: number;
  mode: number;
  linkname: string;
  /** Where the entry's data starts in the archive. */
  offset: number;
}

/** Receives an entry's data, in order, as views that are valid only during the call. */
export interface TarEntrySink {
  data(piece: Uint8Array): void;
  end(): void;
}

export interface TarVisitor {
  /** An entry's header: return a sink for its data, or undefined to skip it. */
  entry(header: TarHeader): TarEntrySink | undefined;
}

export class TarFormatError extends Error {}

const BLOCK = 512;
const HEADER_ONLY = new Set(["1", "2", "3", "4", "5", "6"]);
/** A pax header or GNU long name larger than this is not a real one. */
const MAX_META_BYTES = 1 << 20;
const decoder = new TextDecoder("utf-8");

type State =
  | { kind: "header" }
  /** An entry's data: `left` bytes go to `sink` (or nowhere), then `padding` bytes are skipped. */
  | { kind: "data"; left: number; padding: number; sink: TarEntrySink | undefined }
  /** A pax header or GNU long name/link being collected. */
  | { kind: "meta"; type: "x" | "g" | "L" | "K"; bytes: Uint8Array; filled: number; padding: number }
  | { kind: "end" };

interface Pending {
  path?: string;
  linkpath?: string;
  size?: number;
}

export class TarReader {
  private readonly visitor: TarVisitor;
  private state: State = { kind: "header" };
  /** A header split across pieces, collected here. */
  private readonly partial = new Uint8Array(BLOCK);
  private partialFilled = 0;
  /** What pax headers and GNU long names say about the next entry. */
  private pending: Pending = {};
  /** Bytes consumed so far: the archive offset of the next byte. */
  private offset = 0;
  /** Where the header being read starts. */
  private headerStart = 0;

  constructor(visitor: TarVisitor) {
    this.visitor = visitor;
  }

  /** Reads the next piece of the archive. */
  push(piece: Uint8Array): void {
    let at = 0;
    while (at < piece.length) {
      const before = at;
      at = this.step(piece, at);
      this.offset += at - before;
    }
  }

  /**
   * Data bytes of the current entry that no sink wants: a caller reading from a file can seek past them
   * with skip() instead of reading and pushing them.
   */
  skippable(): number {
    const s = this.state;
    return s.kind === "data" && s.sink === undefined ? s.left : 0;
  }

  /** Passes over `length` unwanted data bytes (at most skippable()) without them being read. */
  skip(length: number): void {
    const s = this.state;
    if (s.kind !== "data" || s.sink !== undefined || length > s.left) throw new RangeError("skip past the entry's unwanted data");
    s.left -= length;
    this.offset += length;
  }

  /** At the end of the stream: an archive may stop after its last entry (without the two zero blocks), never inside one. */
  end(): void {
    const s = this.state;
    const inside = (s.kind === "data" && s.left > 0) || s.kind === "meta" || (s.kind === "header" && this.partialFilled > 0);
    if (inside) throw new TarFormatError(`the archive ends inside an entry (at byte ${this.offset})`);
    if (s.kind === "data") s.sink?.end();
  }

  private step(piece: Uint8Array, at: number): number {
    const s = this.state;
    switch (s.kind) {
      case "end":
        return piece.length;
      case "data": {
        if (s.left > 0) {
          const n = Math.min(s.left, piece.length - at);
          s.sink?.data(piece.subarray(at, at + n));
          s.left -= n;
          if (s.left === 0) s.sink?.end();
          return at + n;
        }
        const n = Math.min(s.padding, piece.length - at);
        s.padding -= n;
        if (s.padding === 0) this.state = { kind: "header" };
        return at + n;
      }
      case "meta": {
        if (s.filled < s.bytes.length) {
          const n = Math.min(s.bytes.length - s.filled, piece.length - at);
          s.bytes.set(piece.subarray(at, at + n), s.filled);
          s.filled += n;
          if (s.filled === s.bytes.length) this.meta(s.type, s.bytes);
          return at + n;
        }
        const n = Math.min(s.padding, piece.length - at);
        s.padding -= n;
        if (s.padding === 0) this.state = { kind: "header" };
        return at + n;
      }
      case "header": {
        if (this.partialFilled === 0) this.headerStart = this.offset;
        if (this.partialFilled === 0 && piece.length - at >= BLOCK) {
          this.header(piece.subarray(at, at + BLOCK));
          return at + BLOCK;
        }
        const n = Math.min(BLOCK - this.partialFilled, piece.length - at);
        this.partial.set(piece.subarray(at, at + n), this.partialFilled);
        this.partialFilled += n;
        if (this.partialFilled === BLOCK) {
          this.partialFilled = 0;
          this.header(this.partial);
        }
        return at + n;
      }
    }
  }

  private header(block: Uint8Array): void {
    if (block.every((b) => b === 0)) {
      this.state = { kind: "end" };
      return;
    }
    checkChecksum(block, this.headerStart);
    const flag = String.fromCharCode(block[156]!);
    let size = readNumber(block, 124, 12, "size", this.headerStart);
    if (flag === "x" || flag === "g" || flag === "L" || flag === "K") {
      if (size > MAX_META_BYTES) throw new TarFormatError(`a ${flag} header of ${size} bytes at byte ${this.headerStart}; refused`);
      this.state = { kind: "meta", type: flag, bytes: new Uint8Array(size), filled: 0, padding: paddingOf(size) };
      if (size === 0) this.meta(flag, this.state.bytes);
      return;
    }
    const pending = this.pending;
    this.pending = {};
    if (pending.size !== undefined) size = pending.size;
    const ustar = text(block, 257, 6) === "ustar" && block[262] === 0; // POSIX ustar ("ustar\0"), not GNU ("ustar  ")
    const prefix = ustar ? text(block, 345, 155) : "";
    let name = pending.path ?? (prefix ? `${prefix}/${text(block, 0, 100)}` : text(block, 0, 100));
    const linkname = pending.linkpath ?? text(block, 157, 100);
    let type = typeOf(flag);
    // Old archives mark directories only by a trailing slash.
    if (type === "file" && flag !== "7" && name.endsWith("/")) type = "directory";
    if (type === "directory") name = name.replace(/\/+$/, "") || ".";
    const mode = readNumber(block, 100, 8, "mode", this.headerStart);
    // Links, directories, devices and FIFOs have no data whatever their size field says (as Go's archive/tar reads them).
    const dataSize = HEADER_ONLY.has(flag) ? 0 : size;
    const sink = this.visitor.entry({ name, type, size: dataSize, mode, linkname, offset: this.headerStart + BLOCK });
    this.state = { kind: "data", left: dataSize, padding: paddingOf(dataSize), sink };
    if (dataSize === 0) {
      sink?.end();
      this.state = { kind: "header" };
    }
  }

  private meta(type: "x" | "g" | "L" | "K", bytes: Uint8Array): void {
    if (type === "L") this.pending.path = cString(bytes);
    else if (type === "K") this.pending.linkpath = cString(bytes);
    else if (type === "x") Object.assign(this.pending, paxRecords(bytes, this.offset));
    // A global pax header ("g") sets defaults for every later entry; none of its keys matters to a
    // root filesystem's paths, sizes or links as layers use them, so it is read (to check it) and left.
    else paxRecords(bytes, this.offset);
    if (this.state.kind === "meta" && this.state.padding === 0) this.state = { kind: "header" };
  }
}

function paddingOf(size: number): number {
  return (BLOCK - (size % BLOCK)) % BLOCK;
}

function typeOf(flag: string): TarEntryType {
  switch (flag) {
    case "0":
    case "\0":
    case "7":
      return "file";
    case "1":
      return "link";
    case "2":
      return "symlink";
    case "5":
      return "directory";
    default:
      return "other";
  }
}

/** The header's checksum: the sum of its bytes with the checksum field read as spaces (unsigned, or signed as some old tars wrote it). */
function checkChecksum(block: Uint8Array, offset: number): void {
  const stored = readNumber(block, 148, 8, "checksum", offset);
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const b = i >= 148 && i < 156 ? 0x20 : block[i]!;
    unsigned += b;
    signed += b > 127 ? b - 256 : b;
  }
  if (stored !== unsigned && stored !== signed) throw new TarFormatError(`not a tar header at byte ${offset} (checksum does not match)`);
}

/** An octal number (space or NUL terminated), or GNU's base-256 with the high bit of the first byte set. */
function readNumber(block: Uint8Array, start: number, length: number, field: string, offset: number): number {
  const first = block[start]!;
  if (first & 0x80) {
    if (first !== 0x80) throw new TarFormatError(`header at byte ${offset}: negative or oversized base-256 ${field}`);
    let value = 0;
    for (let i = start + 1; i < start + length; i++) value = value * 256 + block[i]!;
    if (!Number.isSafeInteger(value)) throw new TarFormatError(`header at byte ${offset}: ${field} too large`);
    return value;
  }
  const digits = text(block, start, length).trim();
  if (digits === "") return 0;
  if (!/^[0-7]+$/.test(digits))
    throw new TarFormatError(`header at byte ${offset}: ${field} ${JSON.stringify(digits)} is not an octal number`);
  return Number.parseInt(digits, 8);
}

/** A NUL-terminated (or field-filling) text field, as UTF-8. */
function text(block: Uint8Array, start: number, length: number): string {
  let end = start;
  while (end < start + length && block[end] !== 0) end++;
  return decoder.decode(block.subarray(start, end));
}

function cString(bytes: Uint8Array): string {
  const nul = bytes.indexOf(0);
  return decoder.decode(nul < 0 ? bytes : bytes.subarray(0, nul));
}

/** pax records: "LENGTH key=value\n", LENGTH counting the whole record. */
function paxRecords(bytes: Uint8Array, offset: number): Pending {
  const out: Pending = {};
  let at = 0;
  while (at < bytes.length) {
    if (bytes[at] === 0) break; // NUL padding after the last record
    const space = bytes.indexOf(0x20, at);
    const length = space > at ? Number(decoder.decode(bytes.subarray(at, space))) : Number.NaN;
    if (!Number.isSafeInteger(length) || length <= space - at + 1 || at + length > bytes.length || bytes[at + length - 1] !== 0x0a)
      throw new TarFormatError(`pax header before byte ${offset}: malformed record at ${at}`);
    const record = decoder.decode(bytes.subarray(space + 1, at + length - 1));
    const eq = record.indexOf("=");
    if (eq <= 0) throw new TarFormatError(`pax header before byte ${offset}: record without a key at ${at}`);
    const key = record.slice(0, eq);
    const value = record.slice(eq + 1);
    if (key === "path") out.path = value;
    else if (key === "linkpath") out.linkpath = value;
    else if (key === "size") {
      if (!/^\d+$/.test(value) || !Number.isSafeInteger(Number(value)))
        throw new TarFormatError(`pax header before byte ${offset}: size ${JSON.stringify(value)} is not a number`);
      out.size = Number(value);
    }
    at += length;
  }
  return out;
}
