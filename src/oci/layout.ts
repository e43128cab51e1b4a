// OCI image layout directories (image-spec image-layout.md): an `oci-layout` file, an `index.json`
// listing manifests (tags in the org.opencontainers.image.ref.name annotation), and content-addressed
// blobs under blobs/<algorithm>/<hex>. Read and written with the same checks as a registry: every blob
// is verified against its digest when read, paths are built only from validated digests, and writes
// go to a temporary file renamed into place, so a reader never sees half a blob or half an index.
import { createReadStream } from "node:fs";
import { mkdir, open, readFile, rename, stat, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { Readable } from "node:stream";
import { InputError } from "../core/errors.ts";
import { fileBlobReader, type BlobReader } from "./blob-reader.ts";
import { DigestCheck, digestAlgorithm, digestHex, digestOf, digestVerifier, isDigest, READ_CHUNK, verifyDigest } from "./digest.ts";
import { OciContentError } from "./errors.ts";
import { formatBytes } from "./http.ts";
import { isIndex, isManifestMediaType, MediaType, parseManifest, type Descriptor, type ImageIndex } from "./manifest.ts";
import {
  filterByArtifactType,
  referrerDescriptor,
  type BlobOptions,
  type FetchedManifest,
  type ImageStore,
  type PutManifestOptions,
  type ReferrersOptions,
} from "./store.ts";

/** The annotation that gives a manifest in index.json its tag. */
export const REF_NAME = "org.opencontainers.image.ref.name";
const LAYOUT_VERSION = "1.0.0";
const MAX_MANIFEST_BYTES = 4 << 20;
const MAX_INDEX_BYTES = 16 << 20;
const MAX_BLOB_BYTES = 128 << 20;

export class OciLayout implements ImageStore {
  readonly dir: string;
  readonly location: string;
  /** index.json updates are queued, so concurrent puts from one process do not lose entries. */
  private indexUpdate: Promise<unknown> = Promise.resolve();

  private constructor(dir: string) {
    this.dir = dir;
    this.location = `oci-layout:${dir}`;
  }

  /** Opens an existing layout; throws InputError if `dir` is not one. */
  static async open(dir: string): Promise<OciLayout> {
    const file = join(dir, "oci-layout");
    let text: string;
    try {
      text = await readFile(file, "utf8");
    } catch (e) {
      throw new InputError(`${dir}: not an OCI image layout (cannot read oci-layout: ${(e as NodeJS.ErrnoException).code ?? e})`);
    }
    let version: unknown;
    try {
      version = JSON.parse(text).imageLayoutVersion;
    } catch {
      throw new InputError(`${file}: not valid JSON`);
    }
    if (version !== LAYOUT_VERSION)
      throw new InputError(`${file}: imageLayoutVersion ${JSON.stringify(version)} is not supported (expected "${LAYOUT_VERSION}")`);
    const layout = new OciLayout(dir);
    await layout.index();
    return layout;
  }

  /** Opens a layout, creating an empty one (oci-layout, index.json, blobs/) if the directory has none. */
  static async create(dir: string): Promise<OciLayout> {
    await mkdir(join(dir, "blobs", "sha256"), { recursive: true });
    const exists = await stat(join(dir, "oci-layout")).then(
      () => true,
      () => false,
    );
    if (!exists) {
      await atomicWrite(
        join(dir, "index.json"),
        Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [] })),
      );
      await atomicWrite(join(dir, "oci-layout"), Buffer.from(JSON.stringify({ imageLayoutVersion: LAYOUT_VERSION })));
    }
    return OciLayout.open(dir);
  }

  /** index.json, parsed strictly as an OCI image index. */
  async index(): Promise<ImageIndex> {
    const file = join(this.dir, "index.json");
    const bytes = await readLimited(file, MAX_INDEX_BYTES).catch((e: unknown) => {
      throw e instanceof InputError ? e : new InputError(`${file}: cannot read: ${(e as NodeJS.ErrnoException).code ?? e}`);
    });
    const index = parseManifest(bytes, MediaType.ociIndex, file);
    if (!isIndex(index)) throw new OciContentError(`${file}: not an image index`);
    return index;
  }

  async resolve(reference: string): Promise<Descriptor> {
    const index = await this.index();
    if (isDigest(reference)) {
      const listed = index.manifests.find((d) => d.digest === reference);
      return listed ?? (await this.getManifest(reference)).descriptor;
    }
    const tagged = index.manifests.filter((d) => d.annotations?.[REF_NAME] === reference);
    if (tagged.length === 0) throw new InputError(`${this.location}: no manifest is tagged "${reference}" in index.json`);
    if (tagged.length > 1 && new Set(tagged.map((d) => d.digest)).size > 1) {
      throw new OciContentError(`${this.location}: index.json tags "${reference}" on ${tagged.length} different manifests`);
    }
    return tagged[0]!;
  }

  async getManifest(reference: string): Promise<FetchedManifest> {
    const listed = isDigest(reference) ? (await this.index()).manifests.find((d) => d.digest === reference) : await this.resolve(reference);
    const digest = listed?.digest ?? reference;
    const what = `manifest ${this.location}@${digest}`;
    const bytes = await this.readBlob(digest, { maxBytes: MAX_MANIFEST_BYTES, ...(listed && { size: listed.size }) }, what);
    const manifest = parseManifest(bytes, listed?.mediaType, what);
    return { descriptor: { mediaType: manifest.mediaType, digest, size: bytes.length }, bytes, manifest };
  }

  getBlob(digest: string, options: BlobOptions = {}): Promise<Buffer> {
    return this.readBlob(digest, options, `blob ${this.location}@${digest}`);
  }

  /** A blob as a stream that fails at its end if the content does not match the digest. */
  async openBlob(digest: string, options: Pick<BlobOptions, "size"> = {}): Promise<Readable> {
    const { file, what } = await this.existingBlob(digest);
    return createReadStream(file, { highWaterMark: READ_CHUNK }).pipe(digestVerifier(digest, what, options.size));
  }

  /** A blob read into the caller's buffers, checked against its digest (and size) at its end. */
  async blobReader(digest: string, options: Pick<BlobOptions, "size"> = {}): Promise<BlobReader> {
    const { file, what } = await this.existingBlob(digest);
    return fileBlobReader(file, new DigestCheck(digest, what, options.size));
  }

  private async existingBlob(digest: string): Promise<{ file: string; what: string }> {
    const what = `blob ${this.location}@${digest}`;
    const file = this.blobPath(digest, what);
    await stat(file).catch(() => {
      throw new OciContentError(`${what}: missing from the layout (${file})`);
    });
    return { file, what };
  }

  async putBlob(bytes: Uint8Array): Promise<{ digest: string; size: number }> {
    const digest = digestOf(bytes);
    const file = this.blobPath(digest, `blob ${digest}`);
    const present = await readFile(file).then(
      (existing) => digestOf(existing) === digest,
      () => false,
    );
    if (!present) await atomicWrite(file, bytes);
    return { digest, size: bytes.length };
  }

  /**
   * Stores a manifest and lists it in index.json: under its tag (replacing what the tag named before),
   * or untagged. A manifest with a subject is listed too, so that referrers() finds it.
   */
  async putManifest(bytes: Uint8Array, options: PutManifestOptions = {}): Promise<Descriptor> {
    const digest = digestOf(bytes);
    const what = `manifest ${this.location}@${digest}`;
    if (bytes.length > MAX_MANIFEST_BYTES) throw new InputError(`${what}: over the ${formatBytes(MAX_MANIFEST_BYTES)} manifest limit`);
    if (options.tag !== undefined && !/^[\w][\w.-]{0,127}$/.test(options.tag))
      throw new InputError(`${this.location}: invalid tag "${options.tag}"`);
    const manifest = parseManifest(bytes, options.mediaType, what);
    await this.putBlob(bytes);
    const descriptor: Descriptor = { mediaType: manifest.mediaType, digest, size: bytes.length };
    const listed: Descriptor = {
      ...descriptor,
      ...(manifest.artifactType !== undefined && { artifactType: manifest.artifactType }),
      ...(options.tag !== undefined && { annotations: { [REF_NAME]: options.tag } }),
    };
    await this.updateIndex((manifests) => {
      const others = manifests.filter((d) =>
        options.tag === undefined
          ? !(d.digest === digest && d.annotations?.[REF_NAME] === undefined)
          : d.annotations?.[REF_NAME] !== options.tag,
      );
      return [...others, listed];
    });
    return descriptor;
  }

  /** Manifests listed in index.json whose subject is `digest` (each read and verified to check). */
  async referrers(digest: string, options: ReferrersOptions = {}): Promise<Descriptor[]> {
    digestAlgorithm(digest, `referrers of ${this.location}@${digest}`);
    const found = new Map<string, Descriptor>();
    for (const d of (await this.index()).manifests) {
      if (!isManifestMediaType(d.mediaType) || found.has(d.digest)) continue;
      const { manifest, descriptor } = await this.getManifest(d.digest);
      if (manifest.subject?.digest === digest) found.set(d.digest, referrerDescriptor(manifest, descriptor));
    }
    return filterByArtifactType([...found.values()], options.artifactType);
  }

  async tags(): Promise<string[]> {
    const names = (await this.index()).manifests.map((d) => d.annotations?.[REF_NAME]).filter((n): n is string => n !== undefined);
    return [...new Set(names)];
  }

  private async readBlob(digest: string, options: BlobOptions, what: string): Promise<Buffer> {
    const file = this.blobPath(digest, what);
    const limit = Math.min(options.maxBytes ?? MAX_BLOB_BYTES, options.size ?? Infinity);
    const bytes = await readLimited(file, limit).catch((e: unknown) => {
      if (e instanceof InputError) throw new OciContentError(`${what}: ${e.message}`);
      throw new OciContentError(`${what}: missing from the layout (${file})`);
    });
    if (options.size !== undefined && bytes.length !== options.size)
      throw new OciContentError(`${what}: content is ${bytes.length} bytes, its descriptor says ${options.size}`);
    verifyDigest(bytes, digest, what);
    return bytes;
  }

  private blobPath(digest: string, what: string): string {
    return join(this.dir, "blobs", digestAlgorithm(digest, what), digestHex(digest));
  }

  private updateIndex(change: (manifests: Descriptor[]) => Descriptor[]): Promise<void> {
    const run = async () => {
      await this.index(); // refuse to rewrite an index that does not parse
      // Rewritten from its raw JSON, so fields this code does not model are kept.
      const index = JSON.parse((await readFile(join(this.dir, "index.json"))).toString("utf8"));
      index.mediaType ??= MediaType.ociIndex;
      index.manifests = change(index.manifests ?? []);
      await atomicWrite(join(this.dir, "index.json"), Buffer.from(JSON.stringify(index)));
    };
    const next = this.indexUpdate.then(run, run);
    this.indexUpdate = next.catch(() => {});
    return next;
  }
}

async function readLimited(file: string, limit: number): Promise<Buffer> {
  const handle = await open(file, "r");
  try {
    const { size } = await handle.stat();
    if (size > limit) throw new InputError(`${file} is ${size} bytes, more than the ${formatBytes(limit)} allowed`);
    return await handle.readFile();
  } finally {
    await handle.close();
  }
}

async function atomicWrite(file: string, bytes: Uint8Array): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  const temp = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  await writeFile(temp, bytes);
  await rename(temp, file);
}
