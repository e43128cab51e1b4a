// Routes each file of a root to the catalogers that want it: keeps its bytes, its revisions or what an
// analysis found, within the limits. Shared by the layer reader and the directory walker.
import type { Cataloger, FileInfo } from "./catalogers/cataloger.ts";
import type { Component } from "./model.ts";
import { formatSize, type ReadLimits } from "./limits.ts";
import type { FileTree, Interest } from "./tree.ts";

export class Gatherer {
  readonly tree: FileTree;
  readonly limits: ReadLimits;
  private readonly catalogers: readonly Cataloger[];

  constructor(tree: FileTree, catalogers: readonly Cataloger[], limits: ReadLimits) {
    this.tree = tree;
    this.catalogers = catalogers;
    this.limits = limits;
  }

  /** The strongest interest any cataloger has in the file, or undefined to skip it. */
  interest(path: string, info: FileInfo): { interest: Interest; cap: number } | undefined {
    let interest: Interest | undefined;
    for (const c of this.catalogers) {
      const wanted = c.wants(path, info);
      if (wanted === "database" || (wanted === "analyse" && interest !== "database") || (wanted === "content" && interest === undefined))
        interest = wanted;
    }
    if (interest === undefined) return undefined;
    return { interest, cap: interest === "analyse" ? this.limits.maxAnalysedBytes : this.limits.maxFileBytes };
  }

  /** A wanted file that is over its cap: skipped, said. */
  tooLarge(path: string, size: number, cap: number, where: string): void {
    this.tree.warnings.push(`${where}${path}: ${formatSize(size)}, over the ${formatSize(cap)} limit for files read; skipped`);
  }

  /** Stores a wanted file's bytes as its interest says. */
  store(path: string, info: FileInfo, content: Buffer, interest: Interest, layer: string | undefined, layerIndex: number): void {
    if (interest === "content") this.tree.putFile({ path, layer, layerIndex, content });
    else if (interest === "database") this.tree.putFile({ path, layer, layerIndex, content, revisions: [{ layer, content }] });
    else this.tree.putFile({ path, layer, layerIndex, components: this.analyse(path, info, content, layer) });
  }

  private analyse(path: string, info: FileInfo, content: Buffer, layer: string | undefined): Component[] {
    const found: Component[] = [];
    const warn = (message: string) => this.tree.warnings.push(`${layer ? `layer ${layer}: ` : ""}${path}: ${message}`);
    for (const c of this.catalogers) {
      if (!c.analyse || c.wants(path, info) !== "analyse") continue;
      // Whatever a binary or archive holds, a cataloger that cannot make sense of it costs a warning, never the scan.
      try {
        found.push(...c.analyse(path, content, layer, warn));
      } catch (e) {
        warn(`${c.name} cataloger could not read it: ${(e as Error).message}`);
      }
    }
    return found;
  }
}
