// The files the catalogers look at, gathered from a root filesystem (a directory, or an image's layers
// applied in order with their whiteouts) without extracting anything to disk. Only the files some
// cataloger wants are kept: package databases and manifests as bytes (each capped), binaries and Java
// archives as the components found in them, read as they stream past and then dropped. Symlinks are
// kept so that a lookup resolves them inside the root, never outside it.
import { posix } from "node:path";
import type { Component } from "./model.ts";

/** What a cataloger wants of a file. */
export type Interest =
  /** Its bytes, kept until cataloging (manifests, lock files, metadata). */
  | "content"
  /** Its bytes in every layer that wrote it: package databases, so each package is credited to the layer that first listed it. */
  | "database"
  /** Analysed as it is read (binaries, Java archives): only the components found are kept. */
  | "analyse";

export interface Revision {
  layer: string | undefined;
  content: Buffer;
}

export interface TreeFile {
  /** Absolute path in the root ("/var/lib/dpkg/status"). */
  path: string;
  /** Digest of the layer that wrote this version, undefined for directories. */
  layer: string | undefined;
  layerIndex: number;
  content?: Buffer;
  /** Databases: every version, oldest first, for layers that rewrote it. */
  revisions?: Revision[];
  /** Analysed files: what was found in them. */
  components?: Component[];
}

/** Symlinks followed per lookup before it is called a loop (Linux's MAXSYMLINKS). */
const MAX_LINK_HOPS = 40;

export class FileTree {
  readonly files = new Map<string, TreeFile>();
  readonly links = new Map<string, { target: string; layer: string | undefined; layerIndex: number }>();
  readonly warnings: string[] = [];
  /** How many kept files and links each directory has below it: a removal scans only when it has some. */
  private readonly below = new Map<string, number>();

  /** Puts a file, replacing whatever was at its path (and under it, when a file replaces a directory). */
  putFile(file: TreeFile): void {
    const previous = this.files.get(file.path);
    this.remove(file.path);
    if (previous?.revisions && file.revisions) file.revisions = [...previous.revisions, ...file.revisions];
    this.files.set(file.path, file);
    this.count(file.path, 1);
  }

  putLink(path: string, target: string, layer: string | undefined, layerIndex: number): void {
    this.remove(path);
    this.links.set(path, { target, layer, layerIndex });
    this.count(path, 1);
  }

  /**
   * Removes a path and everything under it (a whiteout), or with `belowLayer` only what layers before
   * that one put there (an opaque directory keeps what its own layer added). Every file of every layer
   * replaces its path, so the common case (nothing kept there) costs two map lookups.
   */
  remove(path: string, belowLayer?: number): void {
    const file = this.files.get(path);
    if (file && (belowLayer === undefined || file.layerIndex < belowLayer)) this.drop(this.files, path);
    const link = this.links.get(path);
    if (link && (belowLayer === undefined || link.layerIndex < belowLayer)) this.drop(this.links, path);
    if (!this.below.get(path)) return;
    const prefix = path === "/" ? "/" : path + "/";
    for (const [p, f] of this.files) {
      if (p.startsWith(prefix) && (belowLayer === undefined || f.layerIndex < belowLayer)) this.drop(this.files, p);
    }
    for (const [p, l] of this.links) {
      if (p.startsWith(prefix) && (belowLayer === undefined || l.layerIndex < belowLayer)) this.drop(this.links, p);
    }
  }

  private drop(map: Map<string, unknown>, path: string): void {
    map.delete(path);
    this.count(path, -1);
  }

  private count(path: string, delta: number): void {
    for (let i = path.lastIndexOf("/"); i > 0; i = path.lastIndexOf("/", i - 1)) {
      const dir = path.slice(0, i);
      this.below.set(dir, (this.below.get(dir) ?? 0) + delta);
    }
    this.below.set("/", (this.below.get("/") ?? 0) + delta);
  }

  /**
   * The file at `path` with every symlink on the way resolved inside the root, as a chroot would:
   * absolute targets start at the root, ".." stops at it. A loop is a warning naming the path, not a crash.
   */
  lookup(path: string): TreeFile | undefined {
    const resolved = this.resolve(path);
    return resolved === undefined ? undefined : this.files.get(resolved);
  }

  /** The path with its symlinks resolved inside the root, or undefined for a loop. */
  resolve(path: string): string | undefined {
    let pending = path.split("/").filter((s) => s !== "" && s !== ".");
    let current: string[] = [];
    let hops = 0;
    while (pending.length > 0) {
      const part = pending.shift()!;
      if (part === "..") {
        current.pop();
        continue;
      }
      const candidate = "/" + [...current, part].join("/");
      const link = this.links.get(candidate);
      if (link === undefined) {
        current.push(part);
        continue;
      }
      if (++hops > MAX_LINK_HOPS) {
        this.warnings.push(
          `${candidate}${link.layer ? ` (layer ${link.layer})` : ""}: symlink loop (more than ${MAX_LINK_HOPS} links) while resolving ${path}; not followed`,
        );
        return undefined;
      }
      const targetParts = link.target.split("/").filter((s) => s !== "" && s !== ".");
      if (link.target.startsWith("/")) current = [];
      pending = [...targetParts, ...pending];
    }
    return "/" + current.join("/");
  }

  /** Files whose path satisfies `test`, in path order (the order the catalogers report in). */
  select(test: (path: string) => boolean): TreeFile[] {
    return [...this.files.values()].filter((f) => test(f.path)).sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  }
}

/**
 * An entry name from a layer or archive as an absolute path in the root. Names that climb out of the
 * root ("../x", "a/../../x") are refused: null, for the caller to report with its layer.
 */
export function rootPath(name: string): string | null {
  const trimmed = name.replace(/^\.\//, "");
  if (trimmed.startsWith("/")) return null;
  const normalized = posix.normalize("/" + trimmed);
  // posix.normalize("/" + "../x") gives "/x": compare segment by segment to see a climb.
  let depth = 0;
  for (const segment of trimmed.split("/")) {
    if (segment === "..") depth--;
    else if (segment !== "" && segment !== ".") depth++;
    if (depth < 0) return null;
  }
  return normalized.length > 1 ? normalized.replace(/\/$/, "") : normalized;
}
