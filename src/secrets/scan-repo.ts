// Scanning a configuration repository: its working tree, the commits of a range (what the revision gate
// checks), or its whole history. A commit is charged only with the secrets it adds: what a file it changes
// holds, less what its parents' version of the file already held (for an edit, only the lines between the
// parts both versions share; for a new file or a merge, whole blobs, remembered by id), so a secret is
// reported at the commit, file and line that brought it in, and once.
import { execFile, spawn } from "node:child_process";
import { readFile, lstat } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { InputError } from "../core/errors.ts";
import { Lru } from "../core/lru.ts";
import { gitEnv } from "../git/env.ts";
import type { ObjectReader } from "../git/cat-file.ts";
import { ObjectStore } from "../git/object-store.ts";
import { ObjectFormatError } from "../git/objects.ts";
import type { Repo } from "../git/repo.ts";
import type { Allowlist } from "./allowlist.ts";
import { MAX_SCANNED_BYTES, isBinary, scanBytes, type TextFinding } from "./scan-text.ts";

const exec = promisify(execFile);

export interface RepoFinding extends TextFinding {
  path: string;
  /** The commit that added it; absent for the working tree. */
  commit?: string;
}

/** A file the scanner could not read whole: reported, never passed unread. */
export interface Unscanned {
  path: string;
  commit?: string;
  bytes: number;
}

export type ScanEvent = { finding: RepoFinding } | { unscanned: Unscanned };

/** What one blob holds: its findings, or that it is binary (skipped, as git diff skips it) or too large. */
type BlobScan = TextFinding[] | { oversized: number } | "binary";

/** Which commits to scan: `to ^from` (the revision gate's range), or everything reachable from any ref. */
export type HistoryRange = { to: string; from?: string } | { allHistory: true };

export interface ScanOptions {
  allowlist: Allowlist;
  onProgress?: (commits: number) => void;
}

const gitlinkMode = "160000";

export async function* scanHistory(repo: Repo, range: HistoryRange, opts: ScanOptions): AsyncGenerator<ScanEvent> {
  // Blobs read in-process from the packs (src/git/object-store.ts): an index lookup and an inflate each,
  // without cat-file's pipe round trip and copy per object, which cost more than the inflating itself.
  const reader = new ObjectStore(repo.gitDir);
  try {
    yield* scanCommits(repo, new BlobScanner(reader), range, opts);
  } finally {
    reader.close();
  }
}

async function* scanCommits(repo: Repo, blobs: BlobScanner, range: HistoryRange, opts: ScanOptions): AsyncGenerator<ScanEvent> {
  // Commits are scanned in a window: git answers one blob at a time, so many requests in flight keep it
  // busy while this thread scans. Findings still come out in history order.
  const inflight: Promise<ScanEvent[]>[] = [];
  let count = 0;
  for await (const commit of commitChanges(repo, range)) {
    const scanned = scanCommit(blobs, commit, opts.allowlist);
    scanned.catch(() => {}); // awaited in order below; a failure surfaces there, not as an unhandled rejection
    inflight.push(scanned);
    if (inflight.length < COMMIT_WINDOW) continue;
    yield* await inflight.shift()!;
    opts.onProgress?.(++count);
  }
  while (inflight.length > 0) {
    yield* await inflight.shift()!;
    opts.onProgress?.(++count);
  }
}

/** How many commits are read and scanned at once. */
const COMMIT_WINDOW = 256;

/** A file a commit changes: its new blob and the parents' blobs at the same path (absent: the null id). */
interface Change {
  path: string;
  mode: string;
  blob: string;
  parentBlobs: string[];
}

interface CommitChanges {
  id: string;
  changes: Change[];
}

/**
 * What each commit changes, oldest first, from one `git log --raw` over the range: git compares the trees
 * (a merge with -c: only the paths that differ from every parent, git's combined diff), and this reads its
 * NUL-separated records as they stream. Renames are followed as git log follows them (-M: an exact rename,
 * or a file at least half similar to one its commit deleted): a moved file is compared with its old path's
 * version, so a secret it already held is not charged again to the commit that moved it. A merge's combined
 * diff has no renames (git does not detect them there); a merge is charged with what no parent had.
 */
async function* commitChanges(repo: Repo, range: HistoryRange): AsyncGenerator<CommitChanges> {
  const revs = "allHistory" in range ? ["--all"] : [range.to, ...(range.from ? [`^${range.from}`] : [])];
  const args = [
    "--git-dir",
    repo.gitDir,
    "log",
    "--reverse",
    "--topo-order",
    "--raw",
    "-c",
    "-M",
    "--no-abbrev",
    "--format=format:@%H",
    "-z",
    ...revs,
    "--",
  ];
  const proc = spawn("git", args, { env: gitEnv, stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  proc.stderr.on("data", (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4096)));
  const closed = new Promise<number | null>((res) => proc.on("close", res));
  let current: CommitChanges | null = null;
  let pendingMeta: string | null = null;
  /** A rename's record names two paths: the old one is read first, then the new one. */
  let renamedFrom: string | null = null;
  let carry = "";
  try {
    for await (const chunk of proc.stdout as AsyncIterable<Buffer>) {
      const tokens = (carry + chunk.toString("utf8")).split("\0");
      carry = tokens.pop()!;
      for (const token of tokens) {
        if (pendingMeta !== null) {
          if (isRename(pendingMeta) && renamedFrom === null) {
            renamedFrom = token;
            continue;
          }
          current!.changes.push(...change(pendingMeta, token));
          pendingMeta = null;
          renamedFrom = null;
        } else if (token.startsWith("@")) {
          if (current) yield current;
          const [header, meta] = token.split("\n");
          current = { id: header!.slice(1), changes: [] };
          if (meta) pendingMeta = meta;
        } else if (token.startsWith(":")) pendingMeta = token;
      }
    }
    // The last commit, when it changes nothing, is not followed by a NUL.
    if (carry.startsWith("@")) {
      if (current) yield current;
      current = { id: carry.split("\n")[0]!.slice(1), changes: [] };
    }
    if (current) yield current;
    const code = await closed;
    if (code !== 0) throw new ObjectFormatError(`git log failed: ${stderr.trim()}`, "");
  } finally {
    proc.kill();
  }
}

const nullId = /^0+$/;

/** ":100644 100644 old new R100" (a rename and its similarity); only single-parent records carry one. */
const isRename = (meta: string) => /^:[^:].* R\d*$/.test(meta);

/** One raw record: ":old new oldId newId S" (for a rename, oldId is the old path's blob) or, for a merge, "::m1 m2 mR id1 id2 idR SS". */
function change(meta: string, path: string): Change[] {
  const colons = /^:+/.exec(meta)![0].length;
  const fields = meta.slice(colons).split(" ");
  const modes = fields.slice(0, colons + 1);
  const ids = fields.slice(colons + 1, 2 * colons + 2);
  const mode = modes[colons]!;
  const blob = ids[colons]!;
  if (nullId.test(blob) || mode === gitlinkMode) return []; // deleted, or a submodule's commit id
  return [{ path, mode, blob, parentBlobs: ids.slice(0, colons).filter((id) => !nullId.test(id)) }];
}

async function scanCommit(blobs: BlobScanner, commit: CommitChanges, allowlist: Allowlist): Promise<ScanEvent[]> {
  const changes = commit.changes.filter((c) => !allowlist.skipsPath(c.path));
  const scans = await Promise.all(changes.map((c) => scanChange(blobs, c)));
  return changes.flatMap((c, i) => [...events(scans[i]!, c.path, allowlist, commit.id)]);
}

/** The findings a file's new version adds over every parent's version, or why it was not scanned. */
async function scanChange(blobs: BlobScanner, c: Change): Promise<BlobScan> {
  if (c.parentBlobs.length === 1) {
    const [data, old] = await Promise.all([blobs.bytes(c.blob), blobs.bytes(c.parentBlobs[0]!)]);
    if (Buffer.isBuffer(data) && Buffer.isBuffer(old) && !isBinary(data) && !isBinary(old) && !mayHoldBlock(data) && !mayHoldBlock(old))
      return editedRegion(data, old);
  }
  const scan = await blobs.scan(c.blob);
  if (!Array.isArray(scan) || scan.length === 0) return scan;
  const before = new Map<string, number>();
  for (const parentBlob of c.parentBlobs) {
    const oldScan = await blobs.scan(parentBlob);
    if (!Array.isArray(oldScan)) continue;
    // Counted per parent and the largest kept: a merge adds what no parent already had.
    const counts = new Map<string, number>();
    for (const f of oldScan) counts.set(key(f), (counts.get(key(f)) ?? 0) + 1);
    for (const [k, n] of counts) before.set(k, Math.max(before.get(k) ?? 0, n));
  }
  return subtract(scan, before);
}

/** A secret spanning lines (a PEM block) may be cut by an edit inside it: such files are compared whole. */
const mayHoldBlock = (data: Buffer) => data.includes("-----BEGIN");

/**
 * An edited file compared with its previous version as git's diff would, cheaply: the bytes both share at
 * the start and at the end are unchanged, so only the lines between (in each version) are scanned, and a
 * secret counts as added when the new lines hold it more often than the old ones did. Every rule but the
 * block one matches within a line, so whole lines are enough.
 */
function editedRegion(data: Buffer, old: Buffer): TextFinding[] {
  const head = sharedLength(data, old, (n) => data.compare(old, 0, n, 0, n) === 0);
  const tail = sharedLength(
    data,
    old,
    (n) =>
      n <= Math.min(data.length, old.length) - head && data.compare(old, old.length - n, old.length, data.length - n, data.length) === 0,
  );
  const start = head === 0 ? 0 : data.lastIndexOf(10, head - 1) + 1;
  const lineEnd = (buf: Buffer, from: number) => {
    const nl = buf.indexOf(10, from);
    return nl === -1 ? buf.length : nl;
  };
  const added = scanBytes(data.subarray(start, lineEnd(data, data.length - tail)));
  if (added.length === 0) return added;
  const removed = scanBytes(old.subarray(start, lineEnd(old, old.length - tail)));
  const before = new Map<string, number>();
  for (const f of removed) before.set(key(f), (before.get(key(f)) ?? 0) + 1);
  const offset = linesBefore(data, start);
  return subtract(added, before).map((f) => ({ ...f, line: f.line + offset }));
}

/** The largest n for which `same(n)` holds (it holds for 0 and, once false, stays false), by binary search
 *  over native comparisons of the two buffers. */
function sharedLength(a: Buffer, b: Buffer, same: (n: number) => boolean): number {
  let lo = 0;
  let hi = Math.min(a.length, b.length);
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (same(mid)) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

function linesBefore(data: Buffer, end: number): number {
  let n = 0;
  for (let i = data.indexOf(10); i !== -1 && i < end; i = data.indexOf(10, i + 1)) n++;
  return n;
}

function subtract(scan: TextFinding[], before: Map<string, number>): TextFinding[] {
  return scan.filter((f) => {
    const left = before.get(key(f)) ?? 0;
    if (left === 0) return true;
    before.set(key(f), left - 1);
    return false;
  });
}

const key = (f: TextFinding) => `${f.rule}\0${f.fingerprint}`;

function* events(scan: BlobScan | null, path: string, allowlist: Allowlist, commit?: string): Generator<ScanEvent> {
  if (scan === null || scan === "binary") return;
  const at = commit ? { commit } : {};
  if (!Array.isArray(scan)) {
    yield { unscanned: { path, bytes: scan.oversized, ...at } };
    return;
  }
  for (const f of scan) if (!allowlist.allows(path, f)) yield { finding: { ...f, path, ...at } };
}

/** Blob scans by id: a file unchanged across many commits, or a parent's version, is scanned once. */
class BlobScanner {
  private readonly scans = new Lru<string, Promise<BlobScan>>(8192);
  /** Recent blobs' bytes: a file's previous version is usually read a few commits before its next one. */
  private readonly bytesCache = new Lru<string, Promise<Buffer | { oversized: number }>>(2048);
  private readonly objects: ObjectReader;
  constructor(objects: ObjectReader) {
    this.objects = objects;
  }
  scan(id: string): Promise<BlobScan> {
    let p = this.scans.get(id);
    if (!p) {
      p = this.bytes(id).then((data) => (Buffer.isBuffer(data) ? scanBuffer(data) : data));
      this.scans.set(id, p);
    }
    return p;
  }
  bytes(id: string): Promise<Buffer | { oversized: number }> {
    let p = this.bytesCache.get(id);
    if (!p) {
      p = this.read(id);
      this.bytesCache.set(id, p);
    }
    return p;
  }
  private async read(id: string): Promise<Buffer | { oversized: number }> {
    try {
      const object = await this.objects.read(id, MAX_SCANNED_BYTES);
      if (!object) throw new ObjectFormatError(`blob ${id} is missing from the repository`, id);
      return object.data;
    } catch (e) {
      // The reader refuses a blob over the cap without holding its bytes, and says how large it is.
      const size = e instanceof ObjectFormatError ? / is (\d+) bytes, more than /.exec(e.message)?.[1] : undefined;
      if (size !== undefined) return { oversized: Number(size) };
      throw e;
    }
  }
}

function scanBuffer(data: Buffer): BlobScan {
  if (isBinary(data)) return "binary";
  return scanBytes(data);
}

/**
 * The working tree: every file git tracks or would add (untracked files that .gitignore does not exclude),
 * as it is on disk now. Symbolic links are not followed: their target is scanned where it lives.
 */
export async function* scanWorkTree(dir: string, opts: ScanOptions): AsyncGenerator<ScanEvent> {
  let listing: string;
  try {
    listing = (
      await exec("git", ["-C", dir, "ls-files", "-z", "--cached", "--others", "--exclude-standard"], { env: gitEnv, maxBuffer: 256 << 20 })
    ).stdout;
  } catch {
    throw new InputError(`${dir}: not a git working tree (give --repo a checkout, or --from/--to/--all-history for a bare repository)`);
  }
  const paths = [...new Set(listing.split("\0").filter(Boolean))].filter((p) => !opts.allowlist.skipsPath(p));
  let count = 0;
  for (const path of paths) {
    yield* events(await scanFile(join(dir, path)), path, opts.allowlist);
    opts.onProgress?.(++count);
  }
}

async function scanFile(file: string): Promise<BlobScan | null> {
  const stat = await lstat(file).catch(() => null);
  if (!stat || !stat.isFile()) return null; // deleted since listed, a link, or a submodule
  if (stat.size > MAX_SCANNED_BYTES) return { oversized: stat.size };
  return scanBuffer(await readFile(file));
}
