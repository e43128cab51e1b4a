// Scanning a configuration repository: its working tree, the commits of a range (what the revision gate
// checks), or its whole history. A commit is charged only with the secrets it adds: a file it changes is
// scanned whole (once per blob id, remembered) and what its parents' version of the file already held is
// taken away, so a secret is reported at the commit, file and line that brought it in, and once.
import { execFile } from "node:child_process";
import { readFile, lstat } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { InputError } from "../core/errors.ts";
import { Lru } from "../core/lru.ts";
import { TreeWalker } from "../git/changes.ts";
import { gitEnv } from "../git/env.ts";
import { ObjectFormatError, parseCommit } from "../git/objects.ts";
import { revList, type Repo } from "../git/repo.ts";
import type { Allowlist } from "./allowlist.ts";
import { MAX_SCANNED_BYTES, isBinary, scanText, type TextFinding } from "./scan-text.ts";

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
  const walker = new TreeWalker(repo.objects);
  const blobs = new BlobScanner(repo);
  // "--all" is passed to rev-list as the tip; revisions were resolved to ids before they get here.
  const commits = "allHistory" in range ? revList(repo, "--all") : revList(repo, range.to, range.from);
  let count = 0;
  for await (const id of commits) {
    const object = await repo.objects.read(id);
    if (object?.type !== "commit") throw new ObjectFormatError(`commit ${id} is missing from the repository`, id);
    const commit = parseCommit(id, object.data);
    walker.rememberCommit(commit);
    const paths = (await walker.commitChanges(commit)).filter((p) => !opts.allowlist.skipsPath(p));
    const parentTrees = await Promise.all(commit.parents.map((p) => walker.commitTree(p)));
    const scans = await Promise.all(paths.map((path) => scanChange(walker, blobs, commit.tree, parentTrees, path)));
    for (let i = 0; i < paths.length; i++) yield* events(scans[i]!, paths[i]!, opts.allowlist, id);
    opts.onProgress?.(++count);
  }
}

/** The findings a file's new version adds over every parent's version, or why it was not scanned. */
async function scanChange(walker: TreeWalker, blobs: BlobScanner, tree: string, parentTrees: string[], path: string): Promise<BlobScan | null> {
  const entry = await walker.entryAt(tree, path);
  if (!entry || entry.mode === gitlinkMode) return null; // deleted, or a submodule's commit id
  const scan = await blobs.scan(entry.id);
  if (!Array.isArray(scan) || scan.length === 0) return scan;
  const before = new Map<string, number>();
  for (const parentTree of parentTrees) {
    const old = await walker.blobAt(parentTree, path);
    const oldScan = old ? await blobs.scan(old) : [];
    if (!Array.isArray(oldScan)) continue;
    // Counted per parent and the largest kept: a merge adds what no parent already had.
    const counts = new Map<string, number>();
    for (const f of oldScan) counts.set(key(f), (counts.get(key(f)) ?? 0) + 1);
    for (const [k, n] of counts) before.set(k, Math.max(before.get(k) ?? 0, n));
  }
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
  private readonly cache = new Lru<string, Promise<BlobScan>>(8192);
  private readonly repo: Repo;
  constructor(repo: Repo) {
    this.repo = repo;
  }
  scan(id: string): Promise<BlobScan> {
    let p = this.cache.get(id);
    if (!p) {
      p = this.read(id);
      this.cache.set(id, p);
    }
    return p;
  }
  private async read(id: string): Promise<BlobScan> {
    try {
      const object = await this.repo.objects.read(id, MAX_SCANNED_BYTES);
      if (!object) throw new ObjectFormatError(`blob ${id} is missing from the repository`, id);
      return scanBuffer(object.data);
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
  return scanText(data.toString("utf8"));
}

/**
 * The working tree: every file git tracks or would add (untracked files that .gitignore does not exclude),
 * as it is on disk now. Symbolic links are not followed: their target is scanned where it lives.
 */
export async function* scanWorkTree(dir: string, opts: ScanOptions): AsyncGenerator<ScanEvent> {
  let listing: string;
  try {
    listing = (await exec("git", ["-C", dir, "ls-files", "-z", "--cached", "--others", "--exclude-standard"], { env: gitEnv, maxBuffer: 256 << 20 })).stdout;
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
