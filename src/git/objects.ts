// Parsing of git's commit, tag and tree objects, exactly as git writes them, and what a signature covers.
// Anything git would not write (fsck --strict's errors, headers out of git's order) is refused with an
// ObjectFormatError naming the object: Vigil must never see a different history than git does.
import { ExitCode, VigilError } from "../core/errors.ts";

export interface Person {
  name: string;
  email: string;
  /** Seconds since the epoch. */
  time: number;
}

export interface Commit {
  id: string;
  tree: string;
  parents: string[];
  author: Person;
  committer: Person;
  message: string;
  /** The armored signature, if any (gpgsig header). */
  signature?: string;
  /** The exact bytes the signature covers: the object without its signature headers. */
  payload: Buffer;
}

export interface Tag {
  id: string;
  object: string;
  type: string;
  tag: string;
  tagger?: Person;
  message: string;
  signature?: string;
  payload: Buffer;
}

/**
 * Bounds on what an attacker-written commit or tag makes Vigil hold. Real messages are a few KiB; the
 * headers besides the message (an x509 signature with its chain, a mergetag) stay well under 1 MiB.
 */
export const OBJECT_LIMITS = {
  messageBytes: 1 << 20,
  /** A whole commit or tag object: the message cap plus 1 MiB of headers. */
  commitOrTagBytes: 2 << 20,
};

/** An object git would not write, or one that cannot be read. A verdict fails on it (exit 1). */
export class ObjectFormatError extends VigilError {
  /** The object at fault, when known. */
  readonly objectId: string | undefined;
  /** For an object refused for its size: how many bytes it has (read from its header, never held). */
  readonly size: number | undefined;
  constructor(message: string, objectId?: string, size?: number) {
    super(message, ExitCode.blocked);
    this.objectId = objectId;
    this.size = size;
  }
}

/** An object a commit or tree names is not in the repository (or is another type than named). */
export class MissingObjectError extends ObjectFormatError {}

/** Attacker-written text in a message: shortened, and quoted so no control character reaches a terminal. */
const quote = (text: string) => JSON.stringify(text.slice(0, 80));

const malformed = (kind: string, id: string, what: string) => new ObjectFormatError(`${kind} ${id} is malformed: ${what}`, id);

const signatureHeaders = new Set(["gpgsig", "gpgsig-sha256"]);

interface Header {
  key: string;
  value: string;
  start: number;
  end: number;
}

/**
 * Splits a commit or tag into headers (with continuation lines) and message, keeping byte offsets.
 * Like git, an object may end after its headers (no blank line, no message); a NUL anywhere is refused
 * (fsck's nulInHeader, and nulInCommit under --strict).
 */
function splitHeaders(kind: string, id: string, data: Buffer): { headers: Header[]; headersEnd: number; bodyStart: number } {
  if (data.length > OBJECT_LIMITS.commitOrTagBytes) {
    throw new ObjectFormatError(
      `${kind} ${id} is ${data.length} bytes, more than the ${OBJECT_LIMITS.commitOrTagBytes} bytes a ${kind} may have`,
      id,
    );
  }
  if (data.includes(0)) throw malformed(kind, id, "it contains a NUL byte");
  const headers: Header[] = [];
  // A header's value is decoded once it is whole: its first line and continuation lines as one range.
  let open: { key: string; start: number; valueStart: number; end: number } | null = null;
  const close = () => {
    if (open) headers.push(decodeHeader(data, open.key, open.start, open.valueStart, open.end));
    open = null;
  };
  let pos = 0;
  while (pos < data.length) {
    const eol = data.indexOf(10, pos);
    if (eol < 0) throw malformed(kind, id, "its last header line is not terminated");
    if (eol === pos) {
      close();
      return { headers, headersEnd: eol, bodyStart: checkMessageSize(kind, id, data, eol + 1) };
    }
    if (data[pos] === 32) {
      if (!open) throw malformed(kind, id, "a continuation line comes before any header");
      open.end = eol + 1;
    } else {
      close();
      const sp = data.indexOf(32, pos);
      if (sp < 0 || sp >= eol || sp === pos)
        throw malformed(kind, id, `header line ${quote(data.toString("utf8", pos, eol))} has no value`);
      open = { key: data.toString("utf8", pos, sp), start: pos, valueStart: sp + 1, end: eol + 1 };
    }
    pos = eol + 1;
  }
  close();
  return { headers, headersEnd: data.length, bodyStart: data.length };
}

/** A header whose lines run from `start` to `end` (after its last newline); continuation lines lose their leading space. */
function decodeHeader(data: Buffer, key: string, start: number, valueStart: number, end: number): Header {
  const text = data.toString("utf8", valueStart, end - 1);
  return { key, value: text.includes("\n") ? text.replaceAll("\n ", "\n") : text, start, end };
}

function checkMessageSize(kind: string, id: string, data: Buffer, bodyStart: number): number {
  const size = data.length - bodyStart;
  if (size > OBJECT_LIMITS.messageBytes) {
    throw new ObjectFormatError(
      `${kind} ${id} has a ${size}-byte message, more than the ${OBJECT_LIMITS.messageBytes} bytes Vigil reads`,
      id,
    );
  }
  return bodyStart;
}

/** Reads headers in the fixed order git writes them; what is left over are the optional headers. */
class HeaderReader {
  private next = 0;
  private readonly headers: Header[];
  private readonly kind: string;
  private readonly id: string;
  constructor(kind: string, id: string, headers: Header[]) {
    this.kind = kind;
    this.id = id;
    this.headers = headers;
  }

  /** The next header, which must be `key`. */
  required(key: string): string {
    const header = this.headers[this.next];
    if (header?.key !== key) {
      const found = header ? quote(header.key) : "the end of the headers";
      throw malformed(this.kind, this.id, `expected a ${key} header, found ${found}`);
    }
    this.next++;
    return header.value;
  }

  /** The next header's value if it is `key`. */
  optional(key: string): string | undefined {
    return this.headers[this.next]?.key === key ? this.required(key) : undefined;
  }

  /** The optional headers after the fixed ones; none of them may be one of the fixed ones again. */
  rest(fixed: string[]): Header[] {
    const rest = this.headers.slice(this.next);
    const misplaced = rest.find((h) => fixed.includes(h.key));
    if (misplaced)
      throw malformed(this.kind, this.id, `a ${misplaced.key} header appears out of git's order (after the headers that must follow it)`);
    return rest;
  }

  objectId(key: string, value: string): string {
    // Git writes ids as lowercase hex of the repository's hash; anything else names no object git wrote.
    const hexLength = this.id.length;
    if (value.length !== hexLength || !/^[0-9a-f]+$/.test(value)) {
      throw malformed(this.kind, this.id, `${key} ${quote(value)} is not a ${hexLength}-digit lowercase object id`);
    }
    return value;
  }

  /**
   * An identity as git's fsck_ident accepts it: "Name <email> seconds ±hhmm", a space before "<", no
   * "<" or ">" in the name or email, a date without leading zeros. Dates beyond 2^53 seconds (git
   * accepts up to 2^63) are refused, since they cannot be held exactly.
   */
  person(key: string, value: string): Person {
    const m = /^([^<>\n]*) <([^<>\n]*)> (0|[1-9][0-9]*) [+-][0-9]{4}$/.exec(value);
    const time = Number(m?.[3]);
    if (!m || !Number.isSafeInteger(time))
      throw malformed(this.kind, this.id, `${key} ${quote(value)} is not "Name <email> seconds ±hhmm"`);
    return { name: m[1]!, email: m[2]!, time };
  }
}

/**
 * A commit as git's parse_commit_buffer and fsck read it: tree, then every parent directly after it,
 * then author and committer, then optional headers. A parent anywhere else would be a parent to Vigil
 * and not to git, so it is refused, as is a repeated or missing mandatory header.
 */
export function parseCommit(id: string, data: Buffer): Commit {
  const { headers, bodyStart } = splitHeaders("commit", id, data);
  const read = new HeaderReader("commit", id, headers);
  const tree = read.objectId("tree", read.required("tree"));
  const parents: string[] = [];
  for (let parent = read.optional("parent"); parent !== undefined; parent = read.optional("parent"))
    parents.push(read.objectId("parent", parent));
  const author = read.person("author", read.required("author"));
  const committer = read.person("committer", read.required("committer"));
  const optional = read.rest(["tree", "parent", "author", "committer"]);
  // A repository's own hash decides which header holds its signature: gpgsig-sha256 in SHA-256 repos.
  const signatureHeader = id.length === 64 ? "gpgsig-sha256" : "gpgsig";
  const sigs = optional.filter((h) => h.key === signatureHeader);
  if (sigs.length > 1) throw malformed("commit", id, `more than one ${signatureHeader} header`);
  // What git signs: every byte of the object except the signature headers of either hash (git's commit.c).
  const payload = withoutSignatures(data, headers);
  return {
    id,
    tree,
    parents,
    author,
    committer,
    message: data.toString("utf8", bodyStart),
    ...(sigs[0] ? { signature: sigs[0].value + "\n" } : {}),
    payload,
  };
}

/**
 * The object's bytes without its signature headers (of either hash), as git's commit.c removes them.
 * The headers are contiguous, so the bytes kept are a few runs; a commit without a signature is itself.
 */
function withoutSignatures(data: Buffer, headers: Header[]): Buffer {
  const runs: Buffer[] = [];
  let from = 0;
  for (const h of headers) {
    if (!signatureHeaders.has(h.key)) continue;
    if (h.start > from) runs.push(data.subarray(from, h.start));
    from = h.end;
  }
  if (from === 0) return data;
  runs.push(data.subarray(from));
  return Buffer.concat(runs);
}

const signatureStarts = ["-----BEGIN PGP SIGNATURE-----", "-----BEGIN SSH SIGNATURE-----", "-----BEGIN SIGNED MESSAGE-----"].map((s) =>
  Buffer.from(s),
);
const tagTypes = new Set(["commit", "tree", "blob", "tag"]);

/** A tag as git's fsck reads it: object, type, tag, then tagger (old tags have none), then optional headers. */
export function parseTag(id: string, data: Buffer): Tag {
  const { headers, bodyStart } = splitHeaders("tag", id, data);
  const read = new HeaderReader("tag", id, headers);
  const object = read.objectId("object", read.required("object"));
  const type = read.required("type");
  if (!tagTypes.has(type)) throw malformed("tag", id, `type ${quote(type)} is not an object type`);
  const name = read.required("tag");
  if (name === "" || name.includes("\n")) throw malformed("tag", id, "the tag header names no tag");
  const taggerLine = read.optional("tagger");
  const tagger = taggerLine === undefined ? undefined : read.person("tagger", taggerLine);
  read.rest(["object", "type", "tag", "tagger"]);
  // The signature is appended to the message; git takes the last line that starts one.
  let sigStart = -1;
  for (let pos = bodyStart; pos < data.length; ) {
    if (signatureStarts.some((s) => data.compare(s, 0, s.length, pos, Math.min(pos + s.length, data.length)) === 0)) sigStart = pos;
    const eol = data.indexOf(10, pos);
    pos = eol < 0 ? data.length : eol + 1;
  }
  const end = sigStart < 0 ? data.length : sigStart;
  return {
    id,
    object,
    type,
    tag: name,
    ...(tagger ? { tagger } : {}),
    message: data.toString("utf8", bodyStart, end),
    ...(sigStart >= 0 ? { signature: data.toString("utf8", sigStart) } : {}),
    payload: data.subarray(0, end),
  };
}

export interface TreeEntry {
  mode: string;
  name: string;
  id: string;
}

/**
 * The modes git writes: 40000, 100644, 100755, 120000, 160000. Git reads a legacy 100664 (from 2005) as
 * 100644, but fsck --strict reports it (badFilemode) and no git since writes it; Vigil refuses it like
 * any other mode, failing closed. A zero-padded "040000" is a directory to git: reading it as a file
 * would hide the paths under it. Checked on the bytes, since this runs for every entry of every tree.
 */
function isGitMode(data: Buffer, from: number, to: number): boolean {
  const length = to - from;
  for (const mode of gitModes) {
    if (mode.length !== length) continue;
    let i = 0;
    while (i < length && data[from + i] === mode[i]) i++;
    if (i === length) return true;
  }
  return false;
}
const gitModes = ["40000", "100644", "100755", "120000", "160000"].map((m) => Buffer.from(m));
export const isTreeMode = (mode: string) => mode === "40000";

/** Where each entry of a tree starts (plus the end, last) and where each entry's name ends (its NUL). */
export interface TreeIndex {
  starts: Int32Array;
  nameEnds: Int32Array;
  /**
   * When indexed against a known tree: how many leading and trailing entries the two share byte for byte
   * (what a diff of the two would find again). Absent when the trailing entries could not be told.
   */
  shared?: { head: number; tail: number };
}

/**
 * Indexes a tree ("<mode> <name>\0<raw id>" repeated) and checks it as git fsck --strict does: known
 * modes, names that are not empty, ".", "..", ".git" in any spelling a filesystem takes for it, nor
 * contain "/"; entries in git's order without duplicates; no null ids. Linear in the tree's size.
 *
 * `known` is a tree indexed (and so checked) before, usually the same directory one commit earlier.
 * The entries this tree shares with it byte for byte at either end were checked there: every check is
 * a function of an entry's bytes, or of two neighbours' bytes, so only the entries between, and the
 * neighbours around them, are checked again. A commit that changes one file of a large directory
 * checks one entry, not the directory.
 */
export function indexTree(id: string, data: Buffer, known?: IndexedTree): TreeIndex {
  const idLength = id.length / 2;
  const head = known ? sharedHead(data, known) : 0;
  const tail = known ? sharedTail(data, known, head) : null;
  let pos = head > 0 ? known!.starts[head]! : 0;
  // Room for every entry: each one the checks let through takes at least MIN_ENTRY bytes and an id.
  const tailCount = tail ? known!.starts.length - 1 - tail.entry : 0;
  const capacity = head + Math.ceil((data.length - pos) / (MIN_ENTRY + idLength)) + tailCount + 1;
  const starts = new Int32Array(capacity);
  const nameEnds = new Int32Array(capacity);
  if (head > 0) {
    starts.set(known!.starts.subarray(0, head));
    nameEnds.set(known!.nameEnds.subarray(0, head));
  }
  let n = head;
  while (pos < data.length) {
    if (tail && pos === tail.from) {
      const before = n;
      n = adoptTail(id, data, { starts, nameEnds, count: n }, known!, tail.entry);
      starts[n] = data.length;
      return { starts: starts.subarray(0, n + 1), nameEnds: nameEnds.subarray(0, n), shared: { head, tail: n - before } };
    }
    const sp = modeEnd(data, pos);
    if (sp < 0) throw malformed("tree", id, `entry ${n + 1} has no mode git writes`);
    const nul = data.indexOf(0, sp + 1);
    if (nul < 0 || nul + 1 + idLength > data.length) throw malformed("tree", id, `entry ${n + 1} is truncated`);
    const problem =
      entryProblem(data, pos, sp, nul, idLength) ?? (n > 0 ? orderProblem(data, { starts, nameEnds, count: n }, pos, nul) : null);
    if (problem) throw malformed("tree", id, `entry ${n + 1} ${quote(data.toString("utf8", sp + 1, nul))} ${problem}`);
    starts[n] = pos;
    nameEnds[n] = nul;
    n++;
    pos = nul + 1 + idLength;
  }
  starts[n] = data.length;
  // With no trailing entries in common at all, the diff's count of them is 0 too.
  const shared = known && !tail ? { shared: { head, tail: 0 } } : {};
  return { starts: starts.subarray(0, n + 1), nameEnds: nameEnds.subarray(0, n), ...shared };
}

/** The shortest entry the checks let through, besides its id: a 5-byte mode, a space, a 1-byte name, a NUL. */
const MIN_ENTRY = 8;

/** The first `count` entries of a tree being indexed. */
interface Indexed {
  starts: Int32Array;
  nameEnds: Int32Array;
  count: number;
}

/** A tree's bytes and its index, checked when indexed. */
export interface IndexedTree extends TreeIndex {
  buf: Buffer;
}

/** How many leading entries of `known` start `data` byte for byte (binary search over entry boundaries). */
function sharedHead(data: Buffer, known: IndexedTree): number {
  let lo = 0;
  let hi = known.starts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    const end = known.starts[mid]!;
    if (end <= data.length && data.compare(known.buf, 0, end, 0, end) === 0) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/**
 * The first of `known`'s trailing entries (after its first `head`) that end `data` byte for byte, and
 * where they would start in `data`; null when none do. They are this tree's own entries only if the
 * walk over the entries before them stops exactly there, which indexTree checks.
 */
function sharedTail(data: Buffer, known: IndexedTree, head: number): { entry: number; from: number } | null {
  const count = known.starts.length - 1;
  const end = known.buf.length;
  let lo = 0;
  let hi = count - head;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    const length = end - known.starts[count - mid]!;
    if (length <= data.length && data.compare(known.buf, end - length, end, data.length - length, data.length) === 0) lo = mid;
    else hi = mid - 1;
  }
  if (lo === 0) return null;
  const entry = count - lo;
  return { entry, from: data.length - (end - known.starts[entry]!) };
}

/**
 * Indexes the trailing entries `data` shares with `known` from entry `first` on, after the entries
 * indexed so far; returns the count. Each was checked on its own in `known`, and so was the order of each
 * with the next; what is new is the order of the first with the entry before it here, and, for a
 * directory, a file of its name anywhere before it.
 */
function adoptTail(id: string, data: Buffer, so: Indexed, known: IndexedTree, first: number): number {
  const shift = data.length - known.buf.length;
  const count = known.starts.length - 1;
  const at = so.count;
  so.starts.set(known.starts.subarray(first, count), at);
  so.nameEnds.set(known.nameEnds.subarray(first, count), at);
  const total = at + count - first;
  for (let i = at; i < total; i++) {
    so.starts[i]! += shift;
    so.nameEnds[i]! += shift;
  }
  for (let i = at; i < total; i++) {
    const start = so.starts[i]!;
    if (i > at && !isDirectoryAt(data, start)) continue;
    const nul = so.nameEnds[i]!;
    const before = { starts: so.starts, nameEnds: so.nameEnds, count: i };
    const problem =
      i > at
        ? hasFileNamed(data, before, nameStartOf(data, start), nul)
          ? "is a directory with the same name as a file"
          : null
        : at > 0
          ? orderProblem(data, before, start, nul)
          : null;
    if (problem) throw malformed("tree", id, `entry ${i + 1} ${quote(data.toString("utf8", nameStartOf(data, start), nul))} ${problem}`);
  }
  return total;
}

/** What is wrong with one entry on its own (mode, name, id), or null. */
function entryProblem(data: Buffer, start: number, sp: number, nul: number, idLength: number): string | null {
  if (!isGitMode(data, start, sp)) return `has mode ${quote(data.toString("latin1", start, sp))}, which git does not write`;
  return nameProblem(data, sp + 1, nul) ?? (isNullId(data, nul + 1, idLength) ? "names the null object id" : null);
}

/** The space after an entry's mode, looked for only a little past the longest mode (to name a wrong one); -1 if not there. */
function modeEnd(data: Buffer, start: number): number {
  for (let i = start; i < data.length && i <= start + 16; i++) if (data[i] === 32) return i;
  return -1;
}

/** Where the name of an entry of an indexed tree starts (after its mode, which is at most 6 bytes). */
function nameStartOf(data: Buffer, start: number): number {
  let i = start;
  while (i < data.length && data[i] !== 32) i++;
  return i + 1;
}
const isDirectoryAt = (data: Buffer, start: number) => data[start] === 0x34; // only "40000" starts with "4"

function isNullId(data: Buffer, from: number, length: number): boolean {
  for (let i = from; i < from + length; i++) if (data[i] !== 0) return false;
  return true;
}

/** What is wrong with a tree entry's name (bytes from..to), or null. */
function nameProblem(data: Buffer, from: number, to: number): string | null {
  if (to === from) return "has an empty name";
  let backslash = -1;
  for (let i = from; i < to; i++) {
    if (data[i] === 0x2f) return 'has "/" in its name';
    if (data[i] === 0x5c && backslash < 0) backslash = i;
  }
  const first = data[from]!;
  if (first === 0x2e && (to - from === 1 || (to - from === 2 && data[from + 1] === 0x2e))) return "is named . or ..";
  // Only names starting with ".", "g" or an ignorable code point (UTF-8 lead bytes E2, EF), or holding a
  // backslash, can be taken for .git: the rest skip decoding.
  const mayBeDotGit = first === 0x2e || first === 0x67 || first === 0x47 || first === 0xe2 || first === 0xef || backslash >= 0;
  if (mayBeDotGit && isDotGitOnSomeFilesystem(data.toString("utf8", from, to))) return "is .git, or a name a filesystem takes for .git";
  return null;
}

/** Code points HFS+ ignores in names, so ".g\u200Cit" is ".git" there (git's is_hfs_dotgit). */
const hfsIgnored = /[\u200c-\u200f\u202a-\u202e\u206a-\u206f\ufeff]/gu;

/**
 * Whether a checkout could write this name as the .git directory: case-insensitively; on HFS+ with
 * ignorable code points anywhere; on NTFS with trailing spaces or dots, as its short name "git~1", or
 * before an alternate data stream (":"); and on Windows in any "\"-separated part.
 */
function isDotGitOnSomeFilesystem(name: string): boolean {
  // A byte that is not UTF-8 decodes to U+FFFD; git's HFS check stops reading there, so it ends the name.
  const hfs = name.replace(hfsIgnored, "").split("\ufffd")[0]!.toLowerCase();
  if (hfs === ".git") return true;
  return name.split("\\").some((part) => /^(\.git|git~1)[ .]*(:.*)?$/is.test(part));
}

/** Git's order of two names (byte ranges), a directory's compared as if it ended in "/". */
function compareNames(
  a: Buffer,
  aFrom: number,
  aTo: number,
  aIsDirectory: boolean,
  b: Buffer,
  bFrom: number,
  bTo: number,
  bIsDirectory: boolean,
): number {
  const common = Math.min(aTo - aFrom, bTo - bFrom);
  // A loop, not Buffer.compare: names are short, and this runs for every entry of every tree.
  for (let k = 0; k < common; k++) {
    const difference = a[aFrom + k]! - b[bFrom + k]!;
    if (difference !== 0) return difference;
  }
  const nextA = aFrom + common < aTo ? a[aFrom + common]! : aIsDirectory ? 0x2f : 0;
  const nextB = bFrom + common < bTo ? b[bFrom + common]! : bIsDirectory ? 0x2f : 0;
  return nextA - nextB;
}

/** Git's order of two tree entries, given by their buffer, where they start and where their names end. */
export function compareTreeEntries(a: Buffer, startA: number, endA: number, b: Buffer, startB: number, endB: number): number {
  return compareNames(a, nameStartOf(a, startA), endA, isDirectoryAt(a, startA), b, nameStartOf(b, startB), endB, isDirectoryAt(b, startB));
}

/** Why the entry at `start` may not follow the entries indexed so far, or null. */
function orderProblem(data: Buffer, so: Indexed, start: number, nameEnd: number): string | null {
  const last = so.count - 1;
  const lastStart = so.starts[last]!;
  if (compareTreeEntries(data, lastStart, so.nameEnds[last]!, data, start, nameEnd) >= 0) {
    const sameName =
      compareNames(data, nameStartOf(data, lastStart), so.nameEnds[last]!, false, data, nameStartOf(data, start), nameEnd, false) === 0;
    return sameName ? "is a duplicate" : "is out of git's tree order";
  }
  return isDirectoryAt(data, start) && hasFileNamed(data, so, nameStartOf(data, start), nameEnd)
    ? "is a directory with the same name as a file"
    : null;
}

/**
 * Whether the (sorted) entries so far hold a file with this name. Git's order lets the two stand
 * apart ("x", "x.y", then "x/", as "/" sorts after "."), but the file is where a file of that name
 * sorts, found by binary search: only directories pay for it.
 */
function hasFileNamed(data: Buffer, so: Indexed, nameStart: number, nameEnd: number): boolean {
  const { starts, nameEnds } = so;
  let lo = 0;
  let hi = so.count;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    const order = compareNames(
      data,
      nameStartOf(data, starts[mid]!),
      nameEnds[mid]!,
      isDirectoryAt(data, starts[mid]!),
      data,
      nameStart,
      nameEnd,
      false,
    );
    if (order < 0) lo = mid + 1;
    else hi = mid;
  }
  return (
    lo < so.count &&
    !isDirectoryAt(data, starts[lo]!) &&
    compareNames(data, nameStartOf(data, starts[lo]!), nameEnds[lo]!, false, data, nameStart, nameEnd, false) === 0
  );
}

/** A tree's entries, checked as indexTree checks them. */
export function parseTree(id: string, data: Buffer): TreeEntry[] {
  const { starts, nameEnds } = indexTree(id, data);
  const idLength = id.length / 2;
  return Array.from(nameEnds, (nameEnd, i) => {
    const start = starts[i]!;
    const nameStart = nameStartOf(data, start);
    return {
      mode: data.toString("latin1", start, nameStart - 1),
      name: data.toString("utf8", nameStart, nameEnd),
      id: data.toString("hex", nameEnd + 1, nameEnd + 1 + idLength),
    };
  });
}
