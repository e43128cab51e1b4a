// An image's layers applied in order as streams: each is decompressed (gzip, zstd or none, told by its
// first bytes), read as a tar, and its whiteouts applied to the tree, without writing anything to disk.
// Everything an attacker controls is bounded: bytes decompressed and entries per layer, the size of
// each file kept, and names that climb out of the root or hard links to nothing are refused, naming
// the layer and the path.
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { Transform, type TransformCallback } from "node:stream";
import { createGunzip, createZstdDecompress } from "node:zlib";
import * as tar from "tar-stream";
import { InputError, VigilError } from "../core/errors.ts";
import { OciContentError } from "../oci/errors.ts";
import type { Gatherer } from "./gather.ts";
import { formatSize } from "./limits.ts";
import { rootPath } from "./tree.ts";

const GZIP = [0x1f, 0x8b];
const ZSTD = [0x28, 0xb5, 0x2f, 0xfd];
const WHITEOUT = ".wh.";
const OPAQUE = ".wh..wh..opq";
/** Output chunk of the decompressors: the default 16 KiB costs a thread-pool round trip per 16 KiB. */
const INFLATE_CHUNK = 256 << 10;

type Entry = tar.Extract extends AsyncIterable<infer E> ? E : never;

export interface LayerSource {
  /** diff_id (or blob digest) used in locations and messages. */
  digest: string;
  index: number;
  open(): Promise<Readable>;
}

/** Applies one layer to the gatherer's tree. */
export async function applyLayer(gatherer: Gatherer, layer: LayerSource): Promise<void> {
  const where = `layer ${layer.index + 1} (${layer.digest})`;
  const source = await layer.open();
  const decompressed = decompress(source, where, gatherer.limits.maxLayerBytes);
  const extract = tar.extract();
  const seen = new Set<string>();
  let entries = 0;
  const done = (async () => {
    for await (const entry of extract) {
      if (++entries > gatherer.limits.maxEntries)
        throw new InputError(`${where}: more than ${gatherer.limits.maxEntries} entries; refused as a tar bomb`);
      await applyEntry(gatherer, entry, layer, where, seen);
    }
  })();
  try {
    await Promise.all([pipeline(decompressed, extract), done]);
  } catch (e) {
    // A blob that is not what its digest says is reported as that (exit 1), even when the damage
    // broke decompression first: the rest of the blob, bounded by its descriptor's size, is read to its check.
    const digestFailure = e instanceof OciContentError ? e : await verifyRest(source);
    if (digestFailure) throw digestFailure;
    if (e instanceof VigilError) throw e;
    throw new InputError(`${where}: not a readable layer: ${(e as Error).message}`);
  }
}

async function verifyRest(source: Readable): Promise<OciContentError | undefined> {
  source.unpipe();
  try {
    for await (const _ of source) void _;
    return undefined;
  } catch (e) {
    return e instanceof OciContentError ? e : undefined;
  }
}

async function applyEntry(gatherer: Gatherer, entry: Entry, layer: LayerSource, where: string, seen: Set<string>): Promise<void> {
  const { header } = entry;
  const path = rootPath(header.name);
  if (path === null) {
    entry.resume();
    throw new InputError(`${where}: entry ${JSON.stringify(header.name)} is outside the root (absolute or climbing with ..); refused`);
  }
  const tree = gatherer.tree;
  const name = path.slice(path.lastIndexOf("/") + 1);
  const dir = path.slice(0, path.lastIndexOf("/")) || "/";
  if (name === OPAQUE) tree.remove(dir, layer.index);
  else if (name.startsWith(WHITEOUT)) tree.remove(`${dir === "/" ? "" : dir}/${name.slice(WHITEOUT.length)}`);
  else if (header.type === "symlink") {
    seen.add(path); // a hard link may name a symlink
    tree.putLink(path, header.linkname ?? "", layer.digest, layer.index);
  } else if (header.type === "link") linkEntry(gatherer, path, header.linkname ?? "", layer, where, seen);
  else if (header.type === "file" || header.type === "contiguous-file") {
    seen.add(path);
    await fileEntry(gatherer, entry, path, header.mode ?? 0, header.size ?? 0, layer, where);
    return;
  } else if (header.type === "directory") {
    // A directory over a file from a lower layer replaces it.
    const existing = tree.files.get(path);
    if (existing) tree.remove(path);
  }
  entry.resume();
}

async function fileEntry(
  gatherer: Gatherer,
  entry: Entry,
  path: string,
  mode: number,
  size: number,
  layer: LayerSource,
  where: string,
): Promise<void> {
  const info = { mode, size };
  const wanted = gatherer.interest(path, info);
  if (!wanted || size > wanted.cap) {
    // A file replaces whatever lower layers had at its path, wanted or not (putFile does so for wanted ones).
    gatherer.tree.remove(path);
    if (wanted) gatherer.tooLarge(path, size, wanted.cap, `${where}: `);
    // Drained by events, not by async iteration: a promise per chunk is most of the cost of a large layer.
    await new Promise<void>((resolve, reject) => {
      entry.on("end", resolve);
      entry.on("error", reject);
      entry.resume();
    });
    return;
  }
  const chunks: Buffer[] = [];
  for await (const chunk of entry as unknown as AsyncIterable<Buffer>) chunks.push(chunk);
  gatherer.store(path, info, Buffer.concat(chunks), wanted.interest, layer.digest, layer.index);
}

/** A hard link names an earlier entry of the same layer (or a lower one): anything else is a corrupt or hostile layer. */
function linkEntry(gatherer: Gatherer, path: string, linkname: string, layer: LayerSource, where: string, seen: Set<string>): void {
  const target = rootPath(linkname);
  if (target === null) throw new InputError(`${where}: hard link ${path} points outside the root (${JSON.stringify(linkname)}); refused`);
  const existing = gatherer.tree.files.get(target);
  if (!seen.has(target) && !existing)
    throw new InputError(`${where}: hard link ${path} points to ${target}, which no earlier entry wrote; refused`);
  gatherer.tree.remove(path);
  if (existing?.content) gatherer.tree.putFile({ ...existing, path, layer: layer.digest, layerIndex: layer.index });
  else if (existing?.components)
    gatherer.tree.putFile({
      ...existing,
      path,
      layer: layer.digest,
      layerIndex: layer.index,
      components: existing.components.map((c) => ({ ...c, locations: [{ layer: layer.digest, path }] })),
    });
}

/** The layer's tar bytes: decompressed by what its first bytes say, counted against the limit. */
function decompress(source: Readable, where: string, maxBytes: number): Readable {
  let total = 0;
  let decided: Transform | undefined;
  const counter = new Transform({
    transform(chunk: Buffer, _enc, callback: TransformCallback) {
      total += chunk.length;
      if (total > maxBytes)
        callback(new InputError(`${where}: decompresses to more than ${formatSize(maxBytes)}; refused as a decompression bomb`));
      else callback(null, chunk);
    },
  });
  const sniffer = new Transform({
    transform(chunk: Buffer, _enc, callback: TransformCallback) {
      if (!decided) {
        const starts = (magic: number[]) => magic.every((b, i) => chunk[i] === b);
        decided = starts(GZIP)
          ? createGunzip({ chunkSize: INFLATE_CHUNK })
          : starts(ZSTD)
            ? createZstdDecompress({ chunkSize: INFLATE_CHUNK })
            : new Transform({ transform: (c, _e, cb) => cb(null, c) });
        const kind = starts(GZIP) ? "gzip" : starts(ZSTD) ? "zstd" : "tar";
        decided.on("error", (e: Error) =>
          counter.destroy(e instanceof VigilError ? e : new InputError(`${where}: corrupt ${kind} stream: ${e.message}`)),
        );
        decided.pipe(counter);
      }
      if (decided.write(chunk)) callback();
      else decided.once("drain", () => callback());
    },
    flush(callback) {
      if (decided) decided.end();
      else counter.end();
      callback();
    },
  });
  source.on("error", (e: Error) => counter.destroy(e));
  sniffer.on("error", (e: Error) => counter.destroy(e));
  source.pipe(sniffer);
  return counter;
}
