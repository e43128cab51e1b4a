// Generating an inventory: open the target, gather the files the catalogers want (layers streamed in
// order with whiteouts, or a directory walked), read the OS release, run every cataloger, and merge
// what several found (the same purl from a lock file and from node_modules) into one component with
// every location, the first being the layer that introduced it.
import { CATALOGERS } from "./catalogers/index.ts";
import { osRelease } from "./catalogers/os-release.ts";
import { walkDirectory } from "./directory.ts";
import { Gatherer } from "./gather.ts";
import { applyLayer, type LayerSource } from "./layers.ts";
import { DEFAULT_LIMITS, type ReadLimits } from "./limits.ts";
import type { Component, Inventory } from "./model.ts";
import { openSource, type SourceOptions } from "./sources.ts";
import { FileTree } from "./tree.ts";

export interface GenerateOptions extends SourceOptions {
  limits?: Partial<ReadLimits>;
  /** Open each layer's reader while the one before is read (default true). */
  prefetch?: boolean;
  /** Called as layers are read: (layers done, layers in all), and every 16 MiB of a layer with its bytes read and size. */
  progress?: (done: number, total: number, layer?: { read: number; size: number | undefined }) => void;
}

export async function generateInventory(spec: string, options: GenerateOptions = {}): Promise<Inventory> {
  const source = await openSource(spec, options);
  // Loaded only for SBOM input: the schema validators (Ajv, the CycloneDX and SPDX schemas) are the slowest part of start-up.
  if (source.kind === "sbom") return (await import("./read-sbom.ts")).readSbomFile(source.file);
  const tree = new FileTree();
  const gatherer = new Gatherer(tree, CATALOGERS, { ...DEFAULT_LIMITS, ...options.limits });
  if (source.kind === "directory") await walkDirectory(gatherer, source.path);
  else {
    await applyLayers(gatherer, source.layers, options);
    options.progress?.(source.layers.length, source.layers.length);
  }
  return catalogTree(tree, source.target);
}

/**
 * The layers in order, each one's reader opened while the one before is read: a registry's transfer of
 * the next layer then runs (up to its read-ahead bound) while the current one is catalogued.
 */
async function applyLayers(gatherer: Gatherer, layers: LayerSource[], options: GenerateOptions): Promise<void> {
  const open = (layer: LayerSource | undefined) => {
    const opened = layer?.open();
    opened?.catch(() => undefined); // reported when its turn comes, not as an unhandled rejection now
    return opened;
  };
  let next = options.prefetch === false ? undefined : open(layers[0]);
  try {
    for (const [i, layer] of layers.entries()) {
      options.progress?.(i, layers.length);
      const current = next ?? layer.open();
      next = options.prefetch === false ? undefined : open(layers[i + 1]);
      await applyLayer(gatherer, layer, current, layerProgress(options, i, layers.length, layer.size));
    }
  } finally {
    // A layer that failed leaves the next one's transfer open: close it.
    await next?.then(
      (reader) => reader.close(),
      () => undefined,
    );
  }
}

const PROGRESS_STEP = 16 << 20;

/** Progress within a large layer, every PROGRESS_STEP bytes. */
function layerProgress(options: GenerateOptions, index: number, total: number, size: number | undefined) {
  const progress = options.progress;
  if (!progress) return undefined;
  let reported = 0;
  return (read: number) => {
    if (read - reported < PROGRESS_STEP) return;
    reported = read;
    progress(index, total, { read, size });
  };
}

/** Runs every cataloger over a gathered tree. */
export function catalogTree(tree: FileTree, target: Inventory["target"]): Inventory {
  const os = osRelease(tree);
  const context = { os, warn: (m: string) => tree.warnings.push(m) };
  const found: Component[] = [];
  for (const cataloger of CATALOGERS) {
    try {
      found.push(...cataloger.catalog(tree, context));
    } catch (e) {
      // A manifest no cataloger anticipated is reported, and the other catalogers still run.
      context.warn(`${cataloger.name} cataloger failed: ${(e as Error).message}`);
    }
  }
  // Binaries and archives were analysed as they were read; their files' current versions hold the result.
  for (const file of tree.select(() => true)) if (file.components) found.push(...file.components);
  return { target, ...(os && { os }), components: mergeByPurl(found, target.layers ?? []), warnings: tree.warnings };
}

/** One component per purl with every location, the lowest layer's first (the layer that introduced it). */
function mergeByPurl(components: Component[], layers: string[]): Component[] {
  const order = (layer: string | undefined) => (layer === undefined ? layers.length : layers.indexOf(layer));
  const byPurl = new Map<string, Component>();
  for (const c of components) {
    const seen = byPurl.get(c.purl);
    if (!seen) byPurl.set(c.purl, { ...c, locations: [...c.locations] });
    else {
      for (const l of c.locations) if (!seen.locations.some((s) => s.path === l.path && s.layer === l.layer)) seen.locations.push(l);
      if (!seen.licenses && c.licenses) seen.licenses = c.licenses;
    }
  }
  const merged = [...byPurl.values()];
  for (const c of merged) if (c.locations.length > 1) c.locations.sort((a, b) => order(a.layer) - order(b.layer));
  return merged;
}
