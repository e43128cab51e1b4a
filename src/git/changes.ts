// Which paths a commit changes, by comparing trees in-process; subtrees with equal ids are skipped,
// so the cost follows the size of the change, not of the repository.
import { Lru } from "../core/lru.ts";
import type { CatFile } from "./cat-file.ts";
import { isTreeMode, parseCommit, parseTree, type Commit, type TreeEntry } from "./objects.ts";

export class TreeWalker {
  private readonly trees = new Lru<string, Promise<TreeEntry[]>>(8192);
  private readonly commitTrees = new Lru<string, Promise<string>>(8192);
  private readonly objects: CatFile;
  constructor(objects: CatFile) {
    this.objects = objects;
  }

  entries(treeId: string): Promise<TreeEntry[]> {
    let p = this.trees.get(treeId);
    if (!p) {
      p = this.objects.read(treeId).then((o) => {
        if (!o || o.type !== "tree") throw new Error(`tree ${treeId} is missing from the repository`);
        return parseTree(o.data, treeId.length / 2);
      });
      this.trees.set(treeId, p);
    }
    return p;
  }

  /** The tree of a commit; remembered, since the parent of one commit is usually the next one read. */
  commitTree(commitId: string): Promise<string> {
    let p = this.commitTrees.get(commitId);
    if (!p) {
      p = this.objects.read(commitId).then((o) => {
        if (!o || o.type !== "commit") throw new Error(`commit ${commitId} is missing from the repository`);
        return parseCommit(commitId, o.data).tree;
      });
      this.commitTrees.set(commitId, p);
    }
    return p;
  }

  rememberCommit(commit: Commit): void {
    this.commitTrees.set(commit.id, Promise.resolve(commit.tree));
  }

  /** The entry at `path` in a tree (a file, or a directory's tree), or null. */
  async entryAt(treeId: string, path: string): Promise<TreeEntry | null> {
    let tree = treeId;
    let found: TreeEntry | null = null;
    for (const name of path.split("/")) {
      if (found && !isTreeMode(found.mode)) return null;
      if (found) tree = found.id;
      found = (await this.entries(tree)).find((e) => e.name === name) ?? null;
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
  async diff(a: string | null, b: string | null, prefix = "", out: string[] = []): Promise<string[]> {
    if (a === b) return out;
    const [ea, eb] = await Promise.all([a ? this.entries(a) : [], b ? this.entries(b) : []]);
    const byName = new Map<string, [TreeEntry | undefined, TreeEntry | undefined]>();
    for (const e of ea) byName.set(e.name, [e, undefined]);
    for (const e of eb) byName.set(e.name, [byName.get(e.name)?.[0], e]);
    for (const [name, [x, y]] of byName) {
      if (x && y && x.id === y.id && x.mode === y.mode) continue;
      const path = prefix + name;
      const xt = x && isTreeMode(x.mode) ? x.id : null;
      const yt = y && isTreeMode(y.mode) ? y.id : null;
      if (xt || yt) await this.diff(xt, yt, path + "/", out);
      if ((x && !isTreeMode(x.mode)) || (y && !isTreeMode(y.mode))) out.push(path);
    }
    return out;
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
