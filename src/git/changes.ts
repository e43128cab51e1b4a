// Which paths a commit changes, by comparing trees in-process. Trees are kept as git stores them and
// compared entry by entry as raw bytes: subtrees with equal ids are skipped and unchanged entries are
// never decoded, so the cost follows the size of the change, not of the repository.
import type { GitObject, ObjectReader } from "./cat-file.ts";
import {
  MissingObjectError,
  ObjectFormatError,
  compareTreeEntries,
  indexTree,
  isTreeMode,
  parseCommit,
  type Commit,
  type IndexedTree,
  type TreeEntry,
} from "./objects.ts";
import { RecentCache } from "../core/recent-cache.ts";

/**
 * A tree as git stores it, with the byte offset where each entry starts (and the end, last) and where
 * each entry's name ends. Entries are compared as raw bytes and decoded only where they differ. The
 * tree was checked once, when indexed (git's modes, names and order), which the comparison relies on.
 */
type RawTree = IndexedTree;

const count = (t: RawTree) => t.starts.length - 1;
// Mode "40000" is a directory; no other mode indexTree accepts starts with "4".
const isDir = (t: RawTree, i: number) => t.buf[t.starts[i]!] === 0x34;
const nameStart = (t: RawTree, i: number) => t.buf.indexOf(32, t.starts[i]!) + 1;

function sameRange(a: RawTree, from: number, to: number, b: RawTree, bFrom: number, bTo: number): boolean {
  const [as, ae, bs, be] = [a.starts[from]!, a.starts[to]!, b.starts[bFrom]!, b.starts[bTo]!];
  return ae - as === be - bs && a.buf.compare(b.buf, bs, be, as, ae) === 0;
}

/** How many leading entries the trees share, by binary search over byte ranges. */
function commonPrefix(a: RawTree, b: RawTree): number {
  let lo = 0;
  let hi = Math.min(count(a), count(b));
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (sameRange(a, 0, mid, b, 0, mid)) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/** How many trailing entries the trees share, not counting the first `skip` entries. */
function commonSuffix(a: RawTree, b: RawTree, skip: number): number {
  const na = count(a);
  const nb = count(b);
  let lo = 0;
  let hi = Math.min(na, nb) - skip;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (sameRange(a, na - mid, na, b, nb - mid, nb)) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/** Git's tree order between entry i of a and entry j of b. */
const compareNames = (a: RawTree, i: number, b: RawTree, j: number) =>
  compareTreeEntries(a.buf, a.starts[i]!, a.nameEnds[i]!, b.buf, b.starts[j]!, b.nameEnds[j]!);

const emptyTree: RawTree = { buf: Buffer.alloc(0), starts: Int32Array.of(0), nameEnds: new Int32Array(0) };

/** The entry named `name` (its bytes), decoded, or null; only the entry found is decoded. */
function findEntry(tree: RawTree, name: Buffer): TreeEntry | null {
  for (let i = 0; i < count(tree); i++) {
    const from = nameStart(tree, i);
    const end = tree.nameEnds[i]!;
    if (end - from === name.length && tree.buf.compare(name, 0, name.length, from, end) === 0) return decodeEntry(tree, i);
  }
  return null;
}

function decodeEntry(tree: RawTree, i: number): TreeEntry {
  const from = nameStart(tree, i);
  return { mode: tree.buf.toString("latin1", tree.starts[i]!, from - 1), name: entryName(tree, i), id: entryId(tree, i) };
}

const entryName = (t: RawTree, i: number) => t.buf.toString("utf8", nameStart(t, i), t.nameEnds[i]);
const entryId = (t: RawTree, i: number) => t.buf.toString("hex", t.nameEnds[i]! + 1, t.starts[i + 1]);

/**
 * How deep trees may nest, git's core.maxTreeDepth default (git 2.44): paths grow with depth, so a deep
 * chain with a file at every level would otherwise cost memory quadratic in the size of its objects.
 */
export const MAX_TREE_DEPTH = 4096;

function missing(kind: string, id: string, foundType: string | undefined): MissingObjectError {
  const what = foundType ? `is a ${foundType}, not a ${kind}` : "is missing from the repository";
  return new MissingObjectError(`${kind} ${id} ${what}`, id);
}

/** A value read at once, or one still being read (by a reader outside the process). */
type Held<T> = T | Promise<T>;

/** A tree read and checked, and whose tree it was checked against (the entries they share, see TreeIndex). */
interface WalkedTree extends RawTree {
  checkedAgainst?: string;
}

/**
 * Reads trees and commits for the gates. Every failure to read one (missing, another type, malformed,
 * over a size cap) is an ObjectFormatError, or its subclass MissingObjectError, naming the object.
 * With a reader that holds the objects in-process (readNow), walks run at once, without a promise per
 * tree; with git's cat-file they wait on it.
 */
export class TreeWalker {
  private readonly trees = new RecentCache<string, Held<WalkedTree>>(1024);
  private readonly commitTrees = new RecentCache<string, Held<string>>(4096);
  private readonly objects: ObjectReader;
  constructor(objects: ObjectReader) {
    this.objects = objects;
  }

  /**
   * A tree, read and checked once; `known` (the tree `knownId` names), a tree checked before, spares
   * checking the entries both hold.
   */
  private raw(treeId: string, known?: RawTree, knownId?: string): Held<WalkedTree> {
    const held = this.trees.get(treeId);
    if (held) return held;
    const now = this.objects.readNow?.(treeId);
    const tree = now !== undefined ? this.checked(treeId, now, known, knownId) : this.readTree(treeId, known, knownId);
    this.trees.set(treeId, tree);
    return tree;
  }

  private readTree(treeId: string, known?: RawTree, knownId?: string): Promise<WalkedTree> {
    return this.objects.read(treeId).then((o) => this.checked(treeId, o, known, knownId));
  }

  private checked(treeId: string, o: GitObject | null, known?: RawTree, knownId?: string): WalkedTree {
    if (!o || o.type !== "tree") throw missing("tree", treeId, o?.type);
    const index = indexTree(treeId, o.data, known);
    return index.shared ? { buf: o.data, ...index, checkedAgainst: knownId! } : { buf: o.data, ...index };
  }

  /** A tree read at once, or undefined when only an asynchronous read can tell. */
  private rawNow(treeId: string, known?: RawTree, knownId?: string): WalkedTree | undefined {
    const tree = this.raw(treeId, known, knownId);
    return tree instanceof Promise ? undefined : tree;
  }

  async entries(treeId: string): Promise<TreeEntry[]> {
    const tree = await this.raw(treeId);
    return Array.from({ length: count(tree) }, (_, i) => decodeEntry(tree, i));
  }

  /** The tree of a commit; remembered, since the parent of one commit is usually the next one read. */
  commitTree(commitId: string): Promise<string> {
    try {
      const held = this.heldCommitTree(commitId);
      return held instanceof Promise ? held : Promise.resolve(held);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** The tree of a commit read at once, or undefined when only commitTree can tell. Throws as commitTree rejects. */
  commitTreeNow(commitId: string): string | undefined {
    const held = this.heldCommitTree(commitId);
    return held instanceof Promise ? undefined : held;
  }

  private heldCommitTree(commitId: string): Held<string> {
    let held = this.commitTrees.get(commitId);
    if (held === undefined) {
      const now = this.objects.readNow?.(commitId);
      held = now !== undefined ? commitTreeOf(commitId, now) : this.objects.read(commitId).then((o) => commitTreeOf(commitId, o));
      this.commitTrees.set(commitId, held);
    }
    return held;
  }

  rememberCommit(commit: Commit): void {
    this.commitTrees.set(commit.id, commit.tree);
  }

  /** The entry at `path` in a tree (a file, or a directory's tree), or null. */
  async entryAt(treeId: string, path: string): Promise<TreeEntry | null> {
    let tree = treeId;
    let found: TreeEntry | null = null;
    for (const name of path.split("/")) {
      if (found && !isTreeMode(found.mode)) return null;
      if (found) tree = found.id;
      const held = this.raw(tree);
      found = findEntry(held instanceof Promise ? await held : held, Buffer.from(name));
      if (!found) return null;
    }
    return found;
  }

  /** The id of the file at `path` in a tree, or null. */
  async blobAt(treeId: string, path: string): Promise<string | null> {
    const entry = await this.entryAt(treeId, path);
    return entry && !isTreeMode(entry.mode) ? entry.id : null;
  }

  /** Paths (files, symlinks, submodules) that differ between two trees; null stands for the empty tree. */
  async diff(a: string | null, b: string | null): Promise<string[]> {
    const now: string[] = [];
    if (this.compareNow(a, b, "", now, 0)) return now;
    const out: string[] = [];
    await this.compare(a, b, "", out, 0);
    return out;
  }

  /**
   * How many paths differ, read as diff reads them (every tree of `b` that `a` does not hold is checked
   * as indexTree checks it) without naming them: for a commit whose paths need no matching, its new
   * trees are still refused when git fsck --strict would refuse them.
   */
  async countChanges(a: string | null, b: string | null): Promise<number> {
    const now = this.countChangesNow(a, b);
    if (now !== undefined) return now;
    const counter = { count: 0 };
    await this.compare(a, b, "", counter, 0);
    return counter.count;
  }

  /** countChanges done at once, or undefined when a tree can only be read asynchronously. Throws as countChanges rejects. */
  countChangesNow(a: string | null, b: string | null): number | undefined {
    const counter = { count: 0 };
    return this.compareNow(a, b, "", counter, 0) ? counter.count : undefined;
  }

  /** A root entry's version ("<mode> <id>") by its name, or null; the tree is checked when indexed. */
  async rootEntry(treeId: string, name: string): Promise<string | null> {
    const held = this.raw(treeId);
    const entry = findEntry(held instanceof Promise ? await held : held, Buffer.from(name));
    return entry ? `${entry.mode} ${entry.id}` : null;
  }

  /** The walk behind diff and countChanges, waiting on reads: paths go to `out`, or are only counted. */
  private async compare(
    a: string | null,
    b: string | null,
    prefix: string,
    out: string[] | { count: number },
    depth: number,
  ): Promise<void> {
    if (a === b) return;
    checkDepth(a, b, prefix, depth);
    // The new tree is checked against the old one: only the entries that differ are checked again.
    const ta = a ? await this.raw(a) : emptyTree;
    const tb = b ? await this.raw(b, a ? ta : undefined, a ?? undefined) : emptyTree;
    for (const d of differences(ta, tb, a, out)) {
      if (d.subtrees) await this.compare(d.subtrees[0], d.subtrees[1], d.prefix(prefix), out, depth + 1);
      d.record(prefix);
    }
  }

  /** The same walk done at once; false (and `out` incomplete) when a tree can only be read asynchronously. */
  private compareNow(a: string | null, b: string | null, prefix: string, out: string[] | { count: number }, depth: number): boolean {
    if (a === b) return true;
    checkDepth(a, b, prefix, depth);
    const ta = a ? this.rawNow(a) : emptyTree;
    if (!ta) return false;
    const tb = b ? this.rawNow(b, a ? ta : undefined, a ?? undefined) : emptyTree;
    if (!tb) return false;
    for (const d of differences(ta, tb, a, out)) {
      if (d.subtrees && !this.compareNow(d.subtrees[0], d.subtrees[1], d.prefix(prefix), out, depth + 1)) return false;
      d.record(prefix);
    }
    return true;
  }

  /**
   * The changes a commit makes itself. A merge's own changes are the paths that differ from every
   * parent (git's combined diff): what a clean merge brings in was checked in the merged commits.
   */
  async commitChanges(commit: Commit): Promise<string[]> {
    if (commit.parents.length === 0) return this.diff(null, commit.tree);
    const parentTrees = await Promise.all(commit.parents.map((p) => this.commitTree(p)));
    const [first, ...others] = await Promise.all(parentTrees.map((t) => this.diff(t, commit.tree)));
    const rest = others.map((d) => new Set(d));
    return first!.filter((p) => rest.every((s) => s.has(p)));
  }
}

function checkDepth(a: string | null, b: string | null, prefix: string, depth: number): void {
  if (depth <= MAX_TREE_DEPTH) return;
  const id = (b ?? a)!;
  throw new ObjectFormatError(
    `tree ${id} is nested more than ${MAX_TREE_DEPTH} directories deep (under ${JSON.stringify(prefix.slice(0, 80))}…)`,
    id,
  );
}

function commitTreeOf(commitId: string, o: GitObject | null): string {
  if (!o || o.type !== "commit") throw missing("commit", commitId, o?.type);
  return parseCommit(commitId, o.data).tree;
}

/** One entry that differs between two trees: the pair of subtrees to compare under it, and its path to record. */
interface Difference {
  subtrees: [string | null, string | null] | null;
  prefix(parent: string): string;
  record(parent: string): void;
}

/**
 * The entries that differ between two checked trees, in git's order. Unchanged entries at either end are
 * skipped without being decoded (found again only when `tb` was not checked against `a`).
 */
function* differences(ta: RawTree, tb: WalkedTree, a: string | null, out: string[] | { count: number }): Generator<Difference> {
  const known = a !== null && tb.checkedAgainst === a ? tb.shared : undefined;
  const head = known ? known.head : commonPrefix(ta, tb);
  const tail = known ? known.tail : commonSuffix(ta, tb, head);
  const endA = count(ta) - tail;
  const endB = count(tb) - tail;
  const named = Array.isArray(out);
  let i = head;
  let j = head;
  while (i < endA || j < endB) {
    const order = i >= endA ? 1 : j >= endB ? -1 : compareNames(ta, i, tb, j);
    if (order !== 0 || !sameRange(ta, i, i + 1, tb, j, j + 1)) {
      const x = order <= 0 ? i : -1;
      const y = order >= 0 ? j : -1;
      const name = !named ? "" : x >= 0 ? entryName(ta, x) : entryName(tb, y);
      const xTree = x >= 0 && isDir(ta, x) ? entryId(ta, x) : null;
      const yTree = y >= 0 && isDir(tb, y) ? entryId(tb, y) : null;
      const isFile = (x >= 0 && !isDir(ta, x)) || (y >= 0 && !isDir(tb, y));
      yield {
        subtrees: xTree || yTree ? [xTree, yTree] : null,
        prefix: (parent) => (named ? `${parent}${name}/` : ""),
        record: (parent) => {
          if (!isFile) return;
          if (named) out.push(parent + name);
          else out.count++;
        },
      };
    }
    if (order <= 0) i++;
    if (order >= 0) j++;
  }
}
