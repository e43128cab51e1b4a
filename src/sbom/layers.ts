// An image's layers applied in order as streams: each is read into two reused buffers (the next read
// running while a chunk is decompressed), decompressed (gzip, zstd or none, told by its first bytes)
// into one reused buffer, read as a tar, and its whiteouts applied to the tree, without writing
// anything to disk or copying any file no cataloger wants.
// Everything an attacker controls is bounded: bytes decompressed and entries per layer, the size of
// each file kept, and names that climb out of the root or hard links to nothing are refused, naming
// the layer and the path.
import { InputError, VigilError } from "../core/errors.ts";
import type { BlobReader } from "../oci/blob-reader.ts";
import { READ_CHUNK } from "../oci/digest.ts";
import { OciContentError } from "../oci/errors.ts";
import { compressionOf, DecompressError, Decompressor } from "../oci/decompress.ts";
import type { Gatherer } from "./gather.ts";
import { formatSize } from "./limits.ts";
import { TarReader, type TarEntrySink, type TarHeader, type TarVisitor } from "../oci/tar.ts";
import { rootPath } from "./tree.ts";

const WHITEOUT = ".wh.";
const OPAQUE = ".wh..wh..opq";
/** Output buffer of the decompressor, reused for the whole layer. */
const INFLATE_CHUNK = 256 << 10;

export interface LayerSource {
  /** diff_id (or blob digest) used in locations and messages. */
  digest: string;
  index: number;
  /** Bytes as stored, when the manifest or archive says (for progress). */
  size?: number;
  open(): Promise<BlobReader>;
}

/**
 * Applies one layer to the gatherer's tree. `opened` is the layer's reader, opened by the caller (the
 * next layer's is opened while this one is read, so that a registry's transfer runs ahead).
 */
export async function applyLayer(
  gatherer: Gatherer,
  layer: LayerSource,
  opened: Promise<BlobReader> = layer.open(),
  onRead?: (bytesRead: number) => void,
): Promise<void> {
  const where = `layer ${layer.index + 1} (${layer.digest})`;
  const reader = await opened;
  // Shared buffers: a large local blob is hashed from them on a second thread while they are decompressed here.
  const buffers = [Buffer.from(new SharedArrayBuffer(READ_CHUNK)), Buffer.from(new SharedArrayBuffer(READ_CHUNK))] as const;
  const tar = new TarReader(new LayerEntries(gatherer, layer, where));
  let decompressor: Decompressor | undefined;
  let decompressed = 0;
  const toTar = (piece: Uint8Array) => {
    decompressed += piece.length;
    if (decompressed > gatherer.limits.maxLayerBytes)
      throw new InputError(
        `${where}: decompresses to more than ${formatSize(gatherer.limits.maxLayerBytes)}; refused as a decompression bomb`,
      );
    tar.push(piece);
  };
  let inFlight: Promise<number> | undefined;
  try {
    let turn = 0;
    let bytesRead = 0;
    inFlight = reader.read(buffers[0]);
    for (;;) {
      const n = await inFlight;
      inFlight = undefined;
      if (n === 0) break;
      const chunk = buffers[turn]!.subarray(0, n);
      turn ^= 1;
      // The next read runs while this chunk is decompressed and parsed.
      inFlight = reader.read(buffers[turn]!);
      bytesRead += n;
      onRead?.(bytesRead);
      decompressor ??= new Decompressor(compressionOf(chunk), INFLATE_CHUNK);
      decompressor.write(chunk, toTar);
    }
    decompressor?.end(toTar);
    tar.end();
  } catch (e) {
    decompressor?.close();
    // A blob that is not what its digest says is reported as that (exit 1), even when the damage
    // broke decompression first: the rest of the blob, bounded by its descriptor's size, is read to its check.
    const digestFailure = e instanceof OciContentError ? e : await verifyRest(reader, inFlight, buffers[0]);
    if (digestFailure) throw digestFailure;
    if (e instanceof VigilError) throw e;
    if (e instanceof DecompressError) throw new InputError(`${where}: corrupt ${decompressor?.compression} stream: ${e.message}`);
    throw new InputError(`${where}: not a readable layer: ${(e as Error).message}`, { cause: e });
  } finally {
    await reader.close();
  }
}

async function verifyRest(reader: BlobReader, inFlight: Promise<number> | undefined, buffer: Buffer): Promise<OciContentError | undefined> {
  try {
    if (inFlight && (await inFlight) === 0) return undefined;
    while ((await reader.read(buffer)) > 0);
    return undefined;
  } catch (e) {
    return e instanceof OciContentError ? e : undefined;
  }
}

/** Each entry of a layer applied to the tree: whiteouts, links, and the files some cataloger wants. */
class LayerEntries implements TarVisitor {
  private readonly gatherer: Gatherer;
  private readonly layer: LayerSource;
  private readonly where: string;
  /** Paths this layer wrote so far, for its hard links. */
  private readonly seen = new Set<string>();
  private entries = 0;

  constructor(gatherer: Gatherer, layer: LayerSource, where: string) {
    this.gatherer = gatherer;
    this.layer = layer;
    this.where = where;
  }

  entry(header: TarHeader): TarEntrySink | undefined {
    const { gatherer, layer, where } = this;
    if (++this.entries > gatherer.limits.maxEntries)
      throw new InputError(`${where}: more than ${gatherer.limits.maxEntries} entries; refused as a tar bomb`);
    const path = rootPath(header.name);
    if (path === null)
      throw new InputError(`${where}: entry ${JSON.stringify(header.name)} is outside the root (absolute or climbing with ..); refused`);
    const tree = gatherer.tree;
    const name = path.slice(path.lastIndexOf("/") + 1);
    const dir = path.slice(0, path.lastIndexOf("/")) || "/";
    if (name === OPAQUE) tree.remove(dir, layer.index);
    else if (name.startsWith(WHITEOUT)) tree.remove(`${dir === "/" ? "" : dir}/${name.slice(WHITEOUT.length)}`);
    else if (header.type === "symlink") {
      this.seen.add(path); // a hard link may name a symlink
      tree.putLink(path, header.linkname, layer.digest, layer.index);
    } else if (header.type === "link") linkEntry(gatherer, path, header.linkname, layer, where, this.seen);
    else if (header.type === "file") {
      this.seen.add(path);
      return this.file(path, header);
    } else if (header.type === "directory") {
      // A directory over a file from a lower layer replaces it.
      if (tree.files.get(path)) tree.remove(path);
    }
    return undefined;
  }

  /** A file some cataloger wants is collected (within its cap); any other is skipped without being copied. */
  private file(path: string, header: TarHeader): TarEntrySink | undefined {
    const { gatherer, layer } = this;
    const info = { mode: header.mode, size: header.size };
    const wanted = gatherer.interest(path, info);
    if (!wanted || header.size > wanted.cap) {
      // A file replaces whatever lower layers had at its path, wanted or not (putFile does so for wanted ones).
      gatherer.tree.remove(path);
      if (wanted) gatherer.tooLarge(path, header.size, wanted.cap, `${this.where}: `);
      return undefined;
    }
    const content = Buffer.allocUnsafe(header.size);
    let filled = 0;
    return {
      data(piece) {
        content.set(piece, filled);
        filled += piece.length;
      },
      end() {
        gatherer.store(path, info, content, wanted.interest, layer.digest, layer.index);
      },
    };
  }
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
