// Reading what each commit adds from one `git log --raw -p -U0 -z` stream: git inflates and compares the
// blobs (in C, on another core), and the scanner reads only the lines a commit adds and removes. For each
// commit the stream holds its header ("@<id> <parents>"), its raw records (NUL-separated, paths verbatim),
// an empty record, then the patch as text, and a NUL before the next commit. Hunk bodies are read by the
// counts in their headers, so no content line is ever taken for a header, whatever bytes it holds. Each
// file's patch is matched with its raw record in order, and the blob ids its index line names are checked
// against the record's: a stream that does not agree with itself is refused, never guessed at.
//
// The parser is synchronous and pushed chunks as they arrive; a file's added and removed lines are copied
// into two buffers it reuses, so the work per line is a search for its end and a copy, with no object
// made per line.
import { ObjectFormatError } from "../git/objects.ts";

/** A raw record: ":oldMode newMode oldId newId S[score]" and its path (a rename's or copy's new path). */
export interface RawChange {
  status: string;
  oldMode: string;
  newMode: string;
  oldId: string;
  newId: string;
  path: string;
}

/** One file's part of a commit's patch. `added`, `removed` and `addedLines` are valid only during the call. */
export interface FilePatch {
  change: RawChange;
  /** The lines the commit adds to the file, a line feed between each. */
  added: Buffer;
  /** The file's line number of each added line. */
  addedLines: Int32Array;
  /** The lines it removes, a line feed between each. */
  removed: Buffer;
  /** git showed no text ("Binary files … differ"): binary by its test, an attribute, or over the big-file threshold. */
  binary: boolean;
  /** An added or removed line is part of a key block (PEM, PGP or PuTTY): a marker, or base64 alone on a line. */
  keyBlockLine: boolean;
}

export interface LogPatchHandlers {
  commit(id: string, parents: number): void;
  file(patch: FilePatch): void;
}

const NUL = 0;
const LF = 10;

/** What the parser reads next: "@<id> <parents>" headers (NUL-separated when commits change nothing, up
 *  to a line feed), raw records, patch lines, or a hunk's lines. */
const State = { Headers: 0, Raw: 1, Patch: 2, Hunk: 3 } as const;
type State = (typeof State)[keyof typeof State];

/** ":oldMode newMode oldId newId S[score]" (ids of 40 or 64 hex digits, as the repository's hash is). */
const rawMeta = /^:([0-7]{6}) ([0-7]{6}) ([0-9a-f]+) ([0-9a-f]+) ([A-Z])\d*$/;
const hunkHeader = /^@@ -\d+(?:,(\d+))? \+(\d+)(?:,(\d+))? @@/;
const diffGit = Buffer.from("diff --git ", "latin1");
const binaryFiles = Buffer.from("Binary files ", "latin1");
const indexWord = Buffer.from("index ", "latin1");

function startsWith(data: Buffer, from: number, end: number, prefix: Buffer): boolean {
  if (end - from < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (data[from + i] !== prefix[i]) return false;
  return true;
}

/** Base64's alphabet: a line of it alone (after indentation) is a key block's body line. */
const base64Byte = new Uint8Array(256);
for (const c of "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=") base64Byte[c.charCodeAt(0)] = 1;

/** A buffer reused for one file's lines, grown as needed. */
class Lines {
  bytes = Buffer.allocUnsafe(1 << 16);
  length = 0;
  count = 0;
  append(source: Buffer, from: number, to: number): void {
    const need = this.length + (this.count > 0 ? 1 : 0) + (to - from);
    if (need > this.bytes.length) {
      const grown = Buffer.allocUnsafe(Math.max(need, this.bytes.length * 2));
      this.bytes.copy(grown, 0, 0, this.length);
      this.bytes = grown;
    }
    if (this.count > 0) this.bytes[this.length++] = LF;
    this.length += source.copy(this.bytes, this.length, from, to);
    this.count++;
  }
  clear(): void {
    this.length = 0;
    this.count = 0;
  }
  view(): Buffer {
    return this.bytes.subarray(0, this.length);
  }
}

export class LogPatchParser {
  private readonly on: LogPatchHandlers;
  private data: Buffer = Buffer.alloc(0);
  private pos = 0;
  /** Chunks of a unit whose terminator has not come yet; only new chunks are searched for it. */
  private pending: Buffer[] = [];
  private state: State = State.Headers;
  private records: RawChange[] = [];
  /** A rename or copy names its old path first, then the new one. */
  private pathsLeft = 0;
  private meta: RegExpExecArray | null = null;
  private nextRecord = 0;
  private file: RawChange | null = null;
  /** How many patch sections the current file has had (a type change prints two). */
  private sections = 0;
  private binary = false;
  private keyBlock = false;
  private readonly added = new Lines();
  private readonly removed = new Lines();
  private addedLines = new Int32Array(1024);
  private oldLeft = 0;
  private newLeft = 0;
  private lineNumber = 0;

  constructor(handlers: LogPatchHandlers) {
    this.on = handlers;
  }

  write(chunk: Buffer): void {
    if (this.pending.length > 0) {
      if (this.unitEnd(chunk, 0) === -1) {
        this.pending.push(chunk);
        return;
      }
      this.data = Buffer.concat([...this.pending, chunk]);
      this.pending = [];
    } else this.data = chunk;
    this.pos = 0;
    this.parse();
  }

  /** The end of the stream: the last commit's headers or patch end here. */
  end(): void {
    const rest = Buffer.concat([...this.pending, this.data.subarray(this.pos)]);
    this.pending = [];
    this.data = Buffer.alloc(0);
    this.pos = 0;
    let headers = rest;
    if (this.state === State.Patch && (rest.length === 0 || rest[0] === NUL)) {
      this.endCommit();
      headers = rest.subarray(1);
    }
    if (this.state !== State.Headers) throw streamError("it ends inside a commit");
    // The last commits' headers, when they change nothing: NUL-separated, the last not followed by one.
    for (const header of headers.toString("latin1").split("\0")) if (header !== "") this.commit(header);
  }

  /**
   * Where the unit starting at `from` ends: a raw record at a NUL, a patch line at a line feed, a commit's
   * header at a line feed (raw records follow) or a NUL (it changes nothing), whichever comes first.
   */
  private unitEnd(data: Buffer, from: number): number {
    if (this.state === State.Raw) return data.indexOf(NUL, from);
    const lf = data.indexOf(LF, from);
    if (this.state !== State.Headers) return lf;
    const nul = data.indexOf(NUL, from);
    return nul === -1 || (lf !== -1 && lf < nul) ? lf : nul;
  }

  private parse(): void {
    for (;;) {
      const end = this.unitEnd(this.data, this.pos);
      if (end === -1) {
        if (this.pos < this.data.length) this.pending.push(this.data.subarray(this.pos));
        this.pos = this.data.length;
        return;
      }
      const from = this.pos;
      this.pos = end + 1;
      switch (this.state) {
        case State.Headers:
          this.header(from, end);
          break;
        case State.Raw:
          this.raw(from, end);
          break;
        case State.Patch:
          this.patchLine(from, end);
          break;
        case State.Hunk:
          this.hunkLine(from, end);
          break;
      }
    }
  }

  /** A commit's header; one that changes nothing (a merge, whose patch is not asked for, or an empty commit) ends at a NUL. */
  private header(from: number, end: number): void {
    this.commit(this.data.toString("latin1", from, end));
    if (this.data[end] === NUL) return;
    this.state = State.Raw;
    this.records = [];
    this.nextRecord = 0;
  }

  private commit(header: string): void {
    // "@<id> <parents>": a root commit's parent list is empty.
    const m = /^@([0-9a-f]{40}|[0-9a-f]{64}) ((?:[0-9a-f]+(?: |$))*)$/.exec(header);
    if (!m) throw streamError(`a commit header reads ${JSON.stringify(header.slice(0, 80))}`);
    this.on.commit(m[1]!, m[2] === "" ? 0 : m[2]!.split(" ").length);
  }

  private raw(from: number, end: number): void {
    if (this.pathsLeft > 0) {
      if (--this.pathsLeft > 0) return;
      const m = this.meta!;
      this.records.push({
        status: m[5]!,
        oldMode: m[1]!,
        newMode: m[2]!,
        oldId: m[3]!,
        newId: m[4]!,
        path: this.data.toString("utf8", from, end),
      });
      return;
    }
    if (from === end) {
      this.state = State.Patch;
      return;
    }
    const text = this.data.toString("latin1", from, end);
    this.meta = rawMeta.exec(text);
    if (this.meta && !(isFullId(this.meta[3]!) && this.meta[3]!.length === this.meta[4]!.length)) this.meta = null;
    if (!this.meta) throw streamError(`a raw record reads ${JSON.stringify(text.slice(0, 80))}`);
    this.pathsLeft = this.meta[5] === "R" || this.meta[5] === "C" ? 2 : 1;
  }

  private patchLine(from: number, end: number): void {
    const data = this.data;
    if (data[from] === NUL) {
      // The NUL that closes a commit: the next commit's header starts after it.
      this.endCommit();
      this.pos = from + 1;
      return;
    }
    // Only the lines that say something are read ("--- a/…", "+++ b/…", modes and renames are not needed).
    if (startsWith(data, from, end, diffGit)) {
      // A type change (a file becoming a link) is printed as a deletion, then a creation, of one record.
      if (!(this.file !== null && this.file.status === "T" && this.sections === 1)) this.startFile();
      this.sections++;
      return;
    }
    if (this.file === null)
      throw streamError(`a patch line comes before any file: ${JSON.stringify(data.toString("latin1", from, Math.min(end, from + 80)))}`);
    const first = data[from];
    if (first === 0x40 /* @ */) this.startHunk(from, end);
    else if (startsWith(data, from, end, indexWord)) this.checkIndex(from + indexWord.length, end);
    else if (startsWith(data, from, end, binaryFiles)) this.binary = true;
  }

  /**
   * "index OLD..NEW[ MODE]": the blobs this section is from and to must be its raw record's (for a type
   * change: from the old blob to none, then from none to the new one). Compared byte by byte, not decoded.
   */
  private checkIndex(at: number, end: number): void {
    const change = this.file!;
    const zero = "0".repeat(change.oldId.length);
    const [oldId, newId] =
      change.status !== "T" ? [change.oldId, change.newId] : this.sections === 1 ? [change.oldId, zero] : [zero, change.newId];
    const after = at + oldId.length + 2 + newId.length;
    const named =
      idAt(this.data, at, oldId) &&
      this.data[at + oldId.length] === 0x2e &&
      this.data[at + oldId.length + 1] === 0x2e &&
      idAt(this.data, at + oldId.length + 2, newId) &&
      (after === end || (after < end && this.data[after] === 0x20));
    if (!named) throw streamError(`${change.path}'s index line does not name the blobs of its raw record (${oldId}..${newId})`);
  }

  /** "@@ -a[,b] +c[,d] @@ …": b lines removed and d added, the first at line c (an absent count is 1). */
  private startHunk(from: number, end: number): void {
    const m = hunkHeader.exec(this.data.toString("latin1", from, Math.min(end, from + 64)));
    if (!m) throw streamError(`a hunk header reads ${JSON.stringify(this.data.toString("latin1", from, Math.min(end, from + 80)))}`);
    this.oldLeft = m[1] === undefined ? 1 : Number(m[1]);
    this.newLeft = m[3] === undefined ? 1 : Number(m[3]);
    this.lineNumber = Number(m[2]);
    if (this.oldLeft > 0 || this.newLeft > 0) this.state = State.Hunk;
  }

  /** A hunk's line: -U0 gives its header's counts as removed and added lines (context only where git joins hunks). */
  private hunkLine(from: number, end: number): void {
    const sign = this.data[from];
    if (sign === 0x2b /* + */ && this.newLeft > 0) {
      this.keep(this.added, from + 1, end);
      if (this.added.count > this.addedLines.length) {
        const grown = new Int32Array(this.addedLines.length * 2);
        grown.set(this.addedLines);
        this.addedLines = grown;
      }
      this.addedLines[this.added.count - 1] = this.lineNumber++;
      this.newLeft--;
    } else if (sign === 0x2d /* - */ && this.oldLeft > 0) {
      this.keep(this.removed, from + 1, end);
      this.oldLeft--;
    } else if (sign === 0x20 /* context */ && this.oldLeft > 0 && this.newLeft > 0) {
      this.lineNumber++;
      this.oldLeft--;
      this.newLeft--;
    } else if (sign !== 0x5c /* "\ No newline at end of file" */) throw streamError("a hunk's lines do not match its header's counts");
    if (this.oldLeft === 0 && this.newLeft === 0) this.state = State.Patch;
  }

  private keep(lines: Lines, from: number, end: number): void {
    lines.append(this.data, from, end);
    if (!this.keyBlock) this.keyBlock = isKeyBlockLine(this.data, from, end);
  }

  private startFile(): void {
    this.endFile();
    const change = this.records[this.nextRecord++];
    if (!change) throw streamError("a commit has more patches than raw records");
    this.file = change;
  }

  private endFile(): void {
    const change = this.file;
    if (change === null) return;
    const sections = change.status === "T" ? 2 : 1;
    if (this.sections !== sections) throw streamError(`${change.path} has ${this.sections} patch sections, not ${sections}`);
    const added = this.added.view();
    const removed = this.removed.view();
    this.on.file({
      change,
      added,
      addedLines: this.addedLines,
      removed,
      binary: this.binary,
      keyBlockLine: this.keyBlock || holdsKeyMarker(added) || holdsKeyMarker(removed),
    });
    this.file = null;
    this.sections = 0;
    this.binary = false;
    this.keyBlock = false;
    this.added.clear();
    this.removed.clear();
  }

  private endCommit(): void {
    this.endFile();
    if (this.nextRecord !== this.records.length)
      throw streamError(`a commit has ${this.records.length} raw records but ${this.nextRecord} patches`);
    this.state = State.Headers;
  }
}

/** A key block's body line: base64 alone after indentation (the last line of a block may be short). */
function isKeyBlockLine(data: Buffer, from: number, end: number): boolean {
  let i = from;
  while (i < end && (data[i] === 0x20 || data[i] === 0x09)) i++;
  const start = i;
  while (i < end && base64Byte[data[i]!] === 1) i++;
  let tail = i;
  while (tail < end && (data[tail] === 0x20 || data[tail] === 0x09 || data[tail] === 0x0d)) tail++;
  return tail === end && i - start >= 4;
}

/** Five dashes (a PEM or PGP BEGIN or END marker) or a PuTTY key's header, among some lines. */
const keyMarkers = ["-----", "PuTTY-User-Key-File-"].map((m) => Buffer.from(m, "latin1"));
function holdsKeyMarker(lines: Buffer): boolean {
  return lines.length > 0 && keyMarkers.some((m) => lines.includes(m));
}

/** `id` (hex, as git prints it) at `at`. */
function idAt(data: Buffer, at: number, id: string): boolean {
  for (let i = 0; i < id.length; i++) if (data[at + i] !== id.charCodeAt(i)) return false;
  return true;
}

const isFullId = (id: string) => id.length === 40 || id.length === 64;

const streamError = (what: string) => new ObjectFormatError(`git log's patch stream cannot be read: ${what}`);
