// Docker archives, as `docker save` (and `skopeo copy … docker-archive:`) write them: a tar holding
// manifest.json (one entry per image: Config, RepoTags, Layers), each image's config, and its layers
// (uncompressed tars, or blobs/sha256/<hex> in newer, OCI-shaped archives). One pass over the tar
// indexes every file with its position and hashes it, except large plain files, which it seeks past;
// then every image is checked: paths stay inside the archive, a file named by a digest has that digest,
// and each layer's uncompressed content has the diff_id its config lists (a large plain layer as it is
// read: its bytes are its diff_id). Layers are read afterwards straight from their position in the file.
import { createHash, type Hash } from "node:crypto";
import { createReadStream } from "node:fs";
import { open } from "node:fs/promises";
import { posix } from "node:path";
import { Readable } from "node:stream";
import * as v from "valibot";
import { InputError } from "../core/errors.ts";
import { fileBlobReader, type BlobReader } from "./blob-reader.ts";
import { compressionOf, Decompressor } from "./decompress.ts";
import { DigestCheck, digestVerifier, isDigest, READ_CHUNK, verifyDigest } from "./digest.ts";
import { OciContentError } from "./errors.ts";
import { formatReference, parseReference } from "./reference.ts";
import { TarReader, type TarEntrySink } from "./tar.ts";

export interface DockerArchiveLayer {
  /** The layer's path inside the archive (after following symlinks). */
  path: string;
  /** Where its bytes start in the archive file. */
  offset: number;
  size: number;
  /** sha256 of the bytes as stored. */
  digest: string;
  /** sha256 of the uncompressed tar: the diff_id the config lists. */
  diffId: string;
  compressed: boolean;
}

export interface DockerArchiveImage {
  repoTags: string[];
  configPath: string;
  /** sha256 of the config: docker's image ID. */
  configDigest: string;
  config: Buffer;
  layers: DockerArchiveLayer[];
}

interface Entry {
  name: string;
  type: "file" | "symlink";
  linkname: string;
  /** Where the content starts in the tar file. */
  offset: number;
  size: number;
  /** Undefined for a large plain (uncompressed) file: hashed only if it is read, as a layer whose digest is its diff_id. */
  digest: string | undefined;
  diffId: string | undefined;
  compressed: boolean;
}

/**
 * Files this large that are not gzip are not hashed when the archive is indexed: such a file can only be
 * a plain layer, whose digest is the diff_id its config lists, and it is checked against that as it is
 * read (it must be, since the file may change between the two passes); hashing it here too made a large
 * archive cost twice. Configs and manifests are far smaller (MAX_JSON_BYTES).
 */
const HASH_WHEN_READ_BYTES = 32 << 20;
/** Output buffer for gunzipping a compressed layer to its diff_id. */
const INFLATE_CHUNK = 256 << 10;

const manifestSchema = v.pipe(
  v.array(
    v.object({
      Config: v.pipe(v.string(), v.minLength(1)),
      RepoTags: v.optional(v.nullable(v.array(v.string()))),
      Layers: v.array(v.pipe(v.string(), v.minLength(1))),
    }),
  ),
  v.minLength(1, "lists no image"),
);
const configSchema = v.object({
  rootfs: v.object({ type: v.literal("layers"), diff_ids: v.array(v.pipe(v.string(), v.check(isDigest, "must be a sha256 digest"))) }),
});

function canonical(repoTag: string): string {
  try {
    return formatReference(parseReference(repoTag));
  } catch {
    return repoTag;
  }
}

const MAX_JSON_BYTES = 16 << 20;
const MAX_SYMLINK_HOPS = 16;

export class DockerArchive {
  readonly file: string;
  readonly images: DockerArchiveImage[];

  private constructor(file: string, images: DockerArchiveImage[]) {
    this.file = file;
    this.images = images;
  }

  /** Reads and checks an archive. Throws InputError for a corrupt or unreadable archive, OciContentError for content that does not match its digests. */
  static async open(file: string): Promise<DockerArchive> {
    await refuseCompressed(file);
    const entries = await indexTar(file);
    const manifestEntry = entries.get("manifest.json");
    if (!manifestEntry) throw new InputError(`${file}: not a docker archive: it has no manifest.json (docker save writes one)`);
    const parsed = v.safeParse(manifestSchema, parseJson(await readEntry(file, manifestEntry, MAX_JSON_BYTES), `${file}: manifest.json`));
    if (!parsed.success) throw new InputError(`${file}: manifest.json: ${describeIssue(parsed.issues[0])}`);
    const images: DockerArchiveImage[] = [];
    for (const [i, item] of parsed.output.entries()) {
      images.push(await checkImage(file, entries, item, `${file}: image ${i + 1} (${(item.RepoTags ?? []).join(", ") || "untagged"})`));
    }
    return new DockerArchive(file, images);
  }

  /** The image tagged `repoTag`, or the only image when there is just one and no tag is given. */
  image(repoTag?: string): DockerArchiveImage {
    if (repoTag === undefined) {
      if (this.images.length === 1) return this.images[0]!;
      throw new InputError(
        `${this.file}: holds ${this.images.length} images; name one of ${this.images.flatMap((i) => i.repoTags).join(", ")}`,
      );
    }
    // "app:v1" and "docker.io/library/app:v1" name the same image, whichever form the archive uses.
    const wanted = canonical(repoTag);
    const image = this.images.find((i) => i.repoTags.some((tag) => canonical(tag) === wanted));
    if (!image)
      throw new InputError(
        `${this.file}: no image tagged ${repoTag} (it has ${this.images.flatMap((i) => i.repoTags).join(", ") || "only untagged images"})`,
      );
    return image;
  }

  /** A layer's bytes as stored, read from its place in the archive and checked again against its digest. */
  openLayer(layer: DockerArchiveLayer): Readable {
    const what = `${this.file}: ${layer.path}`;
    const source =
      layer.size === 0
        ? Readable.from([])
        : createReadStream(this.file, { start: layer.offset, end: layer.offset + layer.size - 1, highWaterMark: READ_CHUNK });
    source.on("error", (e: Error) => verifier.destroy(e));
    const verifier = digestVerifier(layer.digest, what, layer.size);
    return source.pipe(verifier);
  }

  /** A layer read into the caller's buffers from its place in the archive, checked against its digest at its end. */
  layerReader(layer: DockerArchiveLayer): Promise<BlobReader> {
    const check = new DigestCheck(layer.digest, `${this.file}: ${layer.path}`, layer.size);
    return fileBlobReader(this.file, check, { start: layer.offset, length: layer.size });
  }
}

async function checkImage(
  file: string,
  entries: Map<string, Entry>,
  item: v.InferOutput<typeof manifestSchema>[number],
  what: string,
): Promise<DockerArchiveImage> {
  const configEntry = resolveEntry(file, entries, item.Config, `${what}: Config`);
  const config = await readEntry(file, configEntry, MAX_JSON_BYTES);
  const configDigest = configEntry.digest!; // hashed when indexed: readEntry refuses anything large enough not to be
  checkNamedDigest(configEntry.name, configDigest, `${what}: config ${configEntry.name}`);
  verifyDigest(config, configDigest, `${what}: config ${configEntry.name}`); // unchanged since it was indexed
  const parsedConfig = v.safeParse(configSchema, parseJson(config, `${what}: config ${configEntry.name}`));
  if (!parsedConfig.success) throw new InputError(`${what}: config ${configEntry.name}: ${describeIssue(parsedConfig.issues[0])}`);
  const diffIds = parsedConfig.output.rootfs.diff_ids;
  if (diffIds.length !== item.Layers.length) {
    throw new OciContentError(`${what}: the config lists ${diffIds.length} layers (rootfs.diff_ids), manifest.json ${item.Layers.length}`);
  }
  const layerEntries = item.Layers.map((path, i) => resolveEntry(file, entries, path, `${what}: Layers[${i}]`));
  for (const entry of layerEntries) await hashIfCompressed(file, entry);
  const layers = layerEntries.map((entry, i) => {
    const diffId = diffIds[i]!;
    // A large plain layer is checked against its diff_id as it is read; its name, if a digest, must say the same.
    const digest = entry.digest ?? diffId;
    checkNamedDigest(entry.name, digest, `${what}: layer ${entry.name}`);
    if (entry.digest !== undefined && entry.diffId !== diffId) {
      throw new OciContentError(
        `${what}: layer ${i + 1} (${entry.name}) does not match the config's diff_id: expected ${diffId}, got ${entry.diffId}`,
      );
    }
    return { path: entry.name, offset: entry.offset, size: entry.size, digest, diffId, compressed: entry.compressed };
  });
  return { repoTags: item.RepoTags ?? [], configPath: configEntry.name, configDigest, config, layers };
}

/** A file named by its digest (<hex>.json, <hex>.tar, blobs/sha256/<hex>) must have that digest. */
function checkNamedDigest(name: string, digest: string, what: string): void {
  const m = /^(?:blobs\/sha256\/([a-f0-9]{64})|([a-f0-9]{64})\.(?:json|tar))$/.exec(name);
  const hex = m?.[1] ?? m?.[2];
  if (hex !== undefined && digest !== `sha256:${hex}`) {
    throw new OciContentError(`${what}: content does not match its digest: expected sha256:${hex}, got ${digest}`);
  }
}

/** Finds a path manifest.json names, following symlinks (docker save links repeated layers), never leaving the archive. */
function resolveEntry(file: string, entries: Map<string, Entry>, path: string, what: string): Entry {
  let name = normalize(path);
  for (let hop = 0; hop <= MAX_SYMLINK_HOPS; hop++) {
    if (name === undefined) throw new InputError(`${what}: "${path}" points outside the archive`);
    const entry = entries.get(name);
    if (!entry) throw new InputError(`${what}: "${path}" is not in the archive ${file}`);
    if (entry.type === "file") return entry;
    name = normalize(entry.linkname.startsWith("/") ? entry.linkname : posix.join(posix.dirname(entry.name), entry.linkname));
  }
  throw new InputError(`${what}: "${path}" is a chain of more than ${MAX_SYMLINK_HOPS} symlinks`);
}

/** An archive-relative path, or undefined if it would leave the archive. */
function normalize(path: string): string | undefined {
  if (path.startsWith("/")) return undefined;
  const clean = posix.normalize(path);
  return clean === ".." || clean.startsWith("../") ? undefined : clean.replace(/^\.\//, "");
}

async function refuseCompressed(file: string): Promise<void> {
  const handle = await open(file, "r").catch((e: NodeJS.ErrnoException) => {
    throw new InputError(`${file}: cannot read the docker archive: ${e.code ?? e.message}`);
  });
  try {
    const head = Buffer.alloc(4);
    await handle.read(head, 0, 4, 0);
    if (head[0] === 0x1f && head[1] === 0x8b)
      throw new InputError(`${file}: a gzip-compressed archive; decompress it first (gunzip), as docker save writes plain tar`);
    if (head.readUInt32LE(0) === 0xfd2fb528) throw new InputError(`${file}: a zstd-compressed archive; decompress it first (zstd -d)`);
  } finally {
    await handle.close();
  }
}

/** Read size of the index pass: headers and the files it hashes are read; large plain files are seeked past. */
const INDEX_CHUNK = 64 << 10;

/**
 * One pass over the tar: every regular file's position, size and digests; symlinks with their targets.
 * A file of HASH_WHEN_READ_BYTES or more is seeked past, not read: hashed later if it turns out to be a
 * compressed layer (hashCompressedLayer), else checked against its diff_id as it is read.
 */
async function indexTar(file: string): Promise<Map<string, Entry>> {
  const entries = new Map<string, Entry>();
  const reader = new TarReader({
    entry(header) {
      const name = normalize(header.name);
      const type = header.type === "file" ? "file" : header.type === "symlink" ? "symlink" : undefined;
      if (name === undefined || type === undefined) return undefined;
      if (entries.has(name)) throw new InputError(`${file}: corrupt docker archive: "${name}" appears twice`);
      const entry: Entry = {
        name,
        type,
        linkname: header.linkname,
        offset: header.offset,
        size: header.size,
        digest: "",
        diffId: "",
        compressed: false,
      };
      entries.set(name, entry);
      if (type === "symlink") return undefined;
      if (header.size >= HASH_WHEN_READ_BYTES) {
        entry.digest = entry.diffId = undefined;
        return undefined;
      }
      return entryHasher(entry, `${file}: ${name}`);
    },
  });
  const handle = await open(file, "r");
  const buffer = Buffer.allocUnsafe(INDEX_CHUNK);
  let position = 0;
  try {
    for (;;) {
      const unwanted = reader.skippable();
      if (unwanted > 0) {
        reader.skip(unwanted);
        position += unwanted;
        continue;
      }
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, position);
      if (bytesRead === 0) break;
      position += bytesRead;
      reader.push(buffer.subarray(0, bytesRead));
    }
    reader.end();
  } catch (e) {
    if (e instanceof InputError || e instanceof OciContentError) throw e;
    throw new InputError(`${file}: corrupt docker archive: ${(e as Error).message}`);
  } finally {
    await handle.close();
  }
  return entries;
}

/** Hashes an entry's data as it arrives: sha256, and of its gunzipped content when it is gzip (a compressed layer's diff_id). */
function entryHasher(entry: Entry, what: string): TarEntrySink {
  const raw = createHash("sha256");
  let head: Buffer | undefined = Buffer.alloc(0);
  let gunzip: { decompressor: Decompressor; hash: Hash } | undefined;
  const unzipped = (piece: Uint8Array) => gunzip!.hash.update(piece);
  const take = (piece: Uint8Array) => {
    raw.update(piece);
    try {
      gunzip?.decompressor.write(piece, unzipped);
    } catch (e) {
      gunzip?.decompressor.close();
      throw new OciContentError(`${what}: corrupt gzip data (${(e as Error).message})`);
    }
  };
  return {
    data(piece) {
      if (head === undefined) return take(piece);
      // gzip is told by its first two bytes, which may arrive one at a time.
      head = Buffer.concat([head, piece]);
      if (head.length < 2) return;
      if (compressionOf(head) === "gzip") gunzip = { decompressor: new Decompressor("gzip", INFLATE_CHUNK), hash: createHash("sha256") };
      const first = head;
      head = undefined;
      take(first);
    },
    end() {
      if (head !== undefined && head.length > 0) raw.update(head);
      entry.digest = `sha256:${raw.digest("hex")}`;
      entry.diffId = entry.digest;
      if (!gunzip) return;
      try {
        gunzip.decompressor.end(unzipped);
      } catch (e) {
        throw new OciContentError(`${what}: corrupt gzip data (${(e as Error).message})`);
      }
      entry.diffId = `sha256:${gunzip.hash.digest("hex")}`;
      entry.compressed = true;
    },
  };
}

/**
 * A large entry the index seeked past: if it is gzip (a compressed layer), it is hashed now, raw and
 * gunzipped, for the checks of its digest and diff_id; if not, it stays a plain layer checked as it is read.
 */
async function hashIfCompressed(file: string, entry: Entry): Promise<void> {
  if (entry.digest !== undefined) return;
  const handle = await open(file, "r");
  try {
    const buffer = Buffer.allocUnsafe(READ_CHUNK);
    const { bytesRead } = await handle.read(buffer, 0, 2, entry.offset);
    if (bytesRead < 2 || compressionOf(buffer.subarray(0, 2)) !== "gzip") return;
    const sink = entryHasher(entry, `${file}: ${entry.name}`);
    for (let done = 0; done < entry.size; ) {
      const { bytesRead: n } = await handle.read(buffer, 0, Math.min(buffer.length, entry.size - done), entry.offset + done);
      if (n === 0) throw new InputError(`${file}: ${entry.name} is cut short`);
      sink.data(buffer.subarray(0, n));
      done += n;
    }
    sink.end();
  } finally {
    await handle.close();
  }
}

async function readEntry(file: string, entry: Entry, limit: number): Promise<Buffer> {
  if (entry.size > limit) throw new InputError(`${file}: ${entry.name} is ${entry.size} bytes, more than the ${limit} allowed`);
  const handle = await open(file, "r");
  try {
    const bytes = Buffer.alloc(entry.size);
    const { bytesRead } = await handle.read(bytes, 0, entry.size, entry.offset);
    if (bytesRead !== entry.size) throw new InputError(`${file}: ${entry.name} is cut short`);
    return bytes;
  } finally {
    await handle.close();
  }
}

function parseJson(bytes: Buffer, what: string): unknown {
  try {
    return JSON.parse(bytes.toString("utf8"));
  } catch (e) {
    throw new InputError(`${what}: not valid JSON (${(e as Error).message})`);
  }
}

function describeIssue(issue: v.BaseIssue<unknown> | undefined): string {
  if (!issue) return "invalid";
  const path = (issue.path ?? []).map((p) => String(p.key)).join(".");
  return `${path ? `${path}: ` : ""}${issue.message}`;
}
