// A client for the OCI Distribution API (distribution-spec v1.1): manifests and blobs (get, head, put),
// tag listing, and referrers, through the referrers API or, where a registry answers it with 404, the
// referrers tag schema. Every manifest and blob is checked against its digest before it is returned;
// manifests are limited in size (4 MiB, as containerd) and parsed strictly.
import type { Readable } from "node:stream";
import { InputError } from "../core/errors.ts";
import { Authenticator } from "./auth.ts";
import { streamBlobReader, type BlobReader } from "./blob-reader.ts";
import { digestAlgorithm, digestOf, digestVerifier, isDigest, verifyDigest } from "./digest.ts";
import { dockerConfigCredentials, type CredentialSource } from "./docker-config.ts";
import { OciContentError, RegistryError, isNotFound } from "./errors.ts";
import { firstHeader, networkError, readBody, Transport, type HttpRequest, type HttpResponse, type TransportOptions } from "./http.ts";
import { bareMediaType, isIndex, MANIFEST_MEDIA_TYPES, MediaType, parseManifest, type Descriptor } from "./manifest.ts";
import { parseReference, registryApiHost, type ImageReference } from "./reference.ts";
import {
  filterByArtifactType,
  referrerDescriptor,
  referrersIndex,
  referrersTag,
  type BlobOptions,
  type FetchedManifest,
  type ImageStore,
  type PutManifestOptions,
  type ReferrersOptions,
} from "./store.ts";

export interface RegistryClientOptions extends TransportOptions {
  /** Where credentials come from. Default: docker's config.json. */
  credentials?: CredentialSource;
  /** Largest manifest (and tag or referrers page) accepted. Default 4 MiB. */
  maxManifestBytes?: number;
  /** Largest blob read into memory when the caller gives no limit. Default 128 MiB. */
  maxBlobBytes?: number;
  /** Most pages followed through Link headers for one listing. Default 100. */
  maxPages?: number;
}

const TAG = /^[\w][\w.-]{0,127}$/;
const ERROR_BODY_LIMIT = 64 << 10;

type Action = "pull" | "push";

export class RegistryClient {
  readonly maxManifestBytes: number;
  readonly maxBlobBytes: number;
  readonly maxPages: number;
  /** @internal */ readonly transport: Transport;
  /** @internal */ readonly auth: Authenticator;
  private readonly tagUpdates = new Map<string, Promise<unknown>>();
  /** Registries whose /v2/<name>/referrers/ route does not exist: asked once, then only the fallback tag. */
  /** @internal */ readonly withoutReferrersApi = new Set<string>();
  /** The first referrers request to each registry, which the others wait for: until it answers, nobody
   *  knows whether the API exists, and two hundred images verified at once would all ask. */
  private readonly referrersProbes = new Map<string, Promise<unknown>>();

  constructor(options: RegistryClientOptions = {}) {
    this.transport = new Transport(options);
    this.auth = new Authenticator(this.transport, options.credentials ?? dockerConfigCredentials());
    this.maxManifestBytes = options.maxManifestBytes ?? 4 << 20;
    this.maxBlobBytes = options.maxBlobBytes ?? 128 << 20;
    this.maxPages = options.maxPages ?? 100;
  }

  /** A repository: "registry/name", or an image reference (its tag and digest are ignored). */
  repository(reference: string | ImageReference): RegistryRepository {
    const ref = typeof reference === "string" ? parseReference(reference) : reference;
    return new RegistryRepository(this, ref.registry, ref.repository);
  }

  /** The descriptor of the manifest an image reference names (its digest if pinned, else its tag). */
  resolve(reference: string | ImageReference): Promise<Descriptor> {
    const ref = typeof reference === "string" ? parseReference(reference) : reference;
    return this.repository(ref).resolve(ref.digest ?? ref.tag ?? "latest");
  }

  /** Closes kept-alive connections. */
  close(): Promise<void> {
    return this.transport.close();
  }

  /** @internal Runs `update` after any earlier update of the same key made through this client. */
  /** Runs `ask` right away if a registry's referrers API has been probed; the first caller probes, the
   *  others wait until it has its answer (whatever it is) and then run theirs. */
  /** @internal */ async afterReferrersProbe<T>(registry: string, ask: () => Promise<T>): Promise<T> {
    const probe = this.referrersProbes.get(registry);
    if (probe) {
      await probe;
      return ask();
    }
    const answer = ask();
    this.referrersProbes.set(
      registry,
      answer.catch(() => {}),
    );
    return answer;
  }

  serialize<T>(key: string, update: () => Promise<T>): Promise<T> {
    const previous = this.tagUpdates.get(key) ?? Promise.resolve();
    const next = previous.then(update, update);
    const settled = next.catch(() => {});
    this.tagUpdates.set(key, settled);
    void settled.then(() => this.tagUpdates.get(key) === settled && this.tagUpdates.delete(key));
    return next;
  }
}

export class RegistryRepository implements ImageStore {
  readonly registry: string;
  readonly repository: string;
  readonly location: string;
  private readonly client: RegistryClient;
  private readonly base: URL;

  constructor(client: RegistryClient, registry: string, repository: string) {
    this.client = client;
    this.registry = registry;
    this.repository = repository;
    this.location = `${registry}/${repository}`;
    this.base = client.transport.baseUrl(registryApiHost(registry));
  }

  /**
   * The descriptor of the manifest a tag or digest names, from the manifest itself, fetched and hashed:
   * the digest is computed, never taken from the registry's word. A GET rather than a HEAD also keeps the
   * connection: docker-registry answers HEAD on a manifest with "Connection: close".
   */
  async resolve(reference: string): Promise<Descriptor> {
    return (await this.getManifest(reference)).descriptor;
  }

  /**
   * The descriptor of a manifest, or undefined if there is none, from a HEAD request. When the registry
   * leaves out Docker-Content-Digest (or the type or size), or the HEAD fails, the manifest is fetched
   * and hashed instead; a digest reference is always fetched, so its content is verified.
   */
  async headManifest(reference: string): Promise<Descriptor | undefined> {
    const orAbsent = (e: unknown) => {
      if (isNotFound(e)) return undefined;
      throw e;
    };
    if (isDigest(reference)) return this.getManifest(reference).then((m) => m.descriptor, orAbsent);
    const what = `manifest ${this.at(reference)}`;
    const res = await this.send("pull", {
      method: "HEAD",
      url: this.url(`manifests/${this.checkReference(reference)}`),
      headers: { accept: MANIFEST_MEDIA_TYPES.join(", ") },
      what,
    });
    await res.body.dump().catch(() => {});
    if (res.status === 404) return undefined;
    const digest = firstHeader(res.headers, "docker-content-digest");
    const mediaType = bareMediaType(firstHeader(res.headers, "content-type") ?? "");
    const size = Number(firstHeader(res.headers, "content-length"));
    if (digest !== undefined && !isDigest(digest))
      throw new OciContentError(`${what}: the registry sent a malformed Docker-Content-Digest "${digest}"`);
    // A failed HEAD has no body to explain itself (and some registries refuse HEAD): the GET will.
    if (res.status !== 200 || digest === undefined || !MANIFEST_MEDIA_TYPES.includes(mediaType) || !Number.isSafeInteger(size)) {
      return this.getManifest(reference).then((m) => m.descriptor, orAbsent);
    }
    return { mediaType, digest, size };
  }

  async getManifest(reference: string): Promise<FetchedManifest> {
    const what = `manifest ${this.at(reference)}`;
    const res = await this.send("pull", {
      method: "GET",
      url: this.url(`manifests/${this.checkReference(reference)}`),
      headers: { accept: MANIFEST_MEDIA_TYPES.join(", ") },
      what,
    });
    if (res.status !== 200) throw await this.failure(res);
    const bytes = await readBody(res, this.client.maxManifestBytes, this.client.transport.timeouts);
    const digest = manifestDigest(bytes, reference, firstHeader(res.headers, "docker-content-digest"), what);
    const manifest = parseManifest(bytes, declaredMediaType(res), what);
    return { descriptor: { mediaType: manifest.mediaType, digest, size: bytes.length }, bytes, manifest };
  }

  async putManifest(bytes: Uint8Array, options: PutManifestOptions = {}): Promise<Descriptor> {
    const content = Buffer.from(bytes);
    const digest = digestOf(content);
    const what = `manifest ${this.at(options.tag ?? digest)}`;
    if (content.length > this.client.maxManifestBytes)
      throw new InputError(`${what}: ${content.length} bytes is over the ${this.client.maxManifestBytes}-byte manifest limit`);
    const manifest = parseManifest(content, options.mediaType, what);
    const res = await this.send("push", {
      method: "PUT",
      url: this.url(`manifests/${this.checkReference(options.tag ?? digest)}`),
      headers: { "content-type": manifest.mediaType },
      body: content,
      what,
    });
    if (res.status < 200 || res.status > 299) throw await this.failure(res);
    await res.body.dump().catch(() => {});
    checkStoredDigest(res, digest, what);
    const descriptor: Descriptor = { mediaType: manifest.mediaType, digest, size: content.length };
    // A registry that handled the subject says so; otherwise the client keeps the referrers tag itself.
    if (manifest.subject && firstHeader(res.headers, "oci-subject") === undefined) {
      await this.addToReferrersTag(manifest.subject.digest, referrerDescriptor(manifest, descriptor));
    }
    return descriptor;
  }

  async getBlob(digest: string, options: BlobOptions = {}): Promise<Buffer> {
    const what = `blob ${this.at(digest)}`;
    const res = await this.send("pull", { method: "GET", url: this.url(`blobs/${this.checkDigest(digest, what)}`), what });
    if (res.status !== 200) throw await this.failure(res);
    const bytes = await readBody(
      res,
      Math.min(options.maxBytes ?? this.client.maxBlobBytes, options.size ?? Infinity),
      this.client.transport.timeouts,
    );
    if (options.size !== undefined && bytes.length !== options.size)
      throw new OciContentError(`${what}: content is ${bytes.length} bytes, its descriptor says ${options.size}`);
    verifyDigest(bytes, digest, what);
    return bytes;
  }

  /**
   * A blob as a stream, for layers too large to hold in memory. Only the stall timeout applies. The
   * stream fails at its end if the content does not match the digest (or size): use nothing from it
   * until it has ended without error.
   */
  async openBlob(digest: string, options: BlobOptions = {}): Promise<Readable> {
    const what = `blob ${this.at(digest)}`;
    const res = await this.send("pull", { method: "GET", url: this.url(`blobs/${this.checkDigest(digest, what)}`), what, deadline: false });
    if (res.status !== 200) throw await this.failure(res);
    const limit = Math.min(options.maxBytes ?? Infinity, options.size ?? Infinity);
    const declared = Number(firstHeader(res.headers, "content-length"));
    if (Number.isFinite(declared) && declared > limit) {
      res.body.destroy();
      throw new OciContentError(`${what}: the registry announces ${declared} bytes, more than the ${limit} expected`);
    }
    const verifier = digestVerifier(digest, what, options.size);
    res.body.on("error", (e) => verifier.destroy(networkError(e, res.url, what, this.client.transport.timeouts)));
    verifier.on("close", () => res.body.destroy());
    return res.body.pipe(verifier);
  }

  /**
   * A blob read into the caller's buffers, its transfer running up to `readAhead` bytes ahead of the
   * reader (so the next layer arrives while the current one is read), checked against its digest at its end.
   */
  async blobReader(digest: string, options: BlobOptions & { readAhead: number }): Promise<BlobReader> {
    return streamBlobReader(await this.openBlob(digest, options), options.readAhead);
  }

  /** The size of a blob the registry has, or undefined. */
  async headBlob(digest: string): Promise<number | undefined> {
    return this.blobSize("pull", digest);
  }

  /** Uploads a blob monolithically (POST, then PUT with the digest), unless the registry already has it. */
  async putBlob(bytes: Uint8Array): Promise<{ digest: string; size: number }> {
    const content = Buffer.from(bytes);
    const digest = digestOf(content);
    // One upload of a digest at a time: docker-registry can fail a manifest that references a blob
    // whose concurrent identical uploads are still being committed (DIGEST_INVALID); the second one
    // waits and then finds the blob there.
    return this.client.serialize(`${this.location}@${digest}`, () => this.uploadBlob(content, digest));
  }

  private async uploadBlob(content: Buffer, digest: string): Promise<{ digest: string; size: number }> {
    const what = `blob upload ${this.at(digest)}`;
    if ((await this.blobSize("push", digest)) === content.length) return { digest, size: content.length };
    const start = await this.send("push", { method: "POST", url: this.url("blobs/uploads/"), headers: { "content-length": "0" }, what });
    await start.body.dump().catch(() => {});
    if (start.status !== 202) throw await this.failure(start);
    const location = firstHeader(start.headers, "location");
    if (!location) throw new RegistryError(`${what}: ${this.registry} started an upload without a Location`);
    const upload = new URL(location, start.url);
    upload.searchParams.set("digest", digest);
    const res = await this.send("push", {
      method: "PUT",
      url: upload,
      headers: { "content-type": "application/octet-stream" },
      body: content,
      what,
    });
    if (res.status !== 201) throw await this.failure(res);
    await res.body.dump().catch(() => {});
    checkStoredDigest(res, digest, what);
    return { digest, size: content.length };
  }

  /** The repository's tags; none for a repository the registry does not know (or that has no tag yet). */
  async tags(): Promise<string[]> {
    const what = `tags of ${this.location}`;
    const tags: string[] = [];
    const first = this.url("tags/list");
    first.searchParams.set("n", "1000");
    try {
      for await (const { bytes } of this.pages(first, what, {})) tags.push(...parseTagPage(bytes, what));
    } catch (e) {
      // distribution answers NAME_UNKNOWN (404) for a repository that has manifests but no tag yet.
      if (!isNotFound(e) || tags.length > 0) throw e;
    }
    return tags;
  }

  async referrers(digest: string, options: ReferrersOptions = {}): Promise<Descriptor[]> {
    const what = `referrers of ${this.at(digest)}`;
    const url = this.url(`referrers/${this.checkDigest(digest, what)}`);
    if (options.artifactType !== undefined) url.searchParams.set("artifactType", options.artifactType);
    return this.client.afterReferrersProbe(this.registry, () => this.referrersAt(url, digest, options.artifactType, what));
  }

  private async referrersAt(url: URL, digest: string, artifactType: string | undefined, what: string): Promise<Descriptor[]> {
    if (this.client.withoutReferrersApi.has(this.registry)) return this.referrersFromTag(digest, artifactType);
    const found: Descriptor[] = [];
    let filtered = true;
    try {
      for await (const { bytes, res } of this.pages(url, what, { accept: MediaType.ociIndex })) {
        const index = parseManifest(bytes, declaredMediaType(res), what);
        if (index.mediaType !== MediaType.ociIndex || !isIndex(index))
          throw new OciContentError(`${what}: the referrers API answered with ${index.mediaType}, not an OCI image index`);
        found.push(...index.manifests);
        filtered &&= (firstHeader(res.headers, "oci-filters-applied") ?? "")
          .split(",")
          .map((s) => s.trim())
          .includes("artifactType");
      }
    } catch (e) {
      if (!isNotFound(e)) throw e;
      // A registry with the API answers an index (empty if need be) for any digest; a 404 without a
      // distribution error code is a route it does not have (NAME_UNKNOWN and the like say otherwise).
      if ((e as RegistryError).code === undefined) this.client.withoutReferrersApi.add(this.registry);
      return this.referrersFromTag(digest, artifactType);
    }
    return filtered ? found : filterByArtifactType(found, artifactType);
  }

  private async referrersFromTag(digest: string, artifactType: string | undefined): Promise<Descriptor[]> {
    const fetched = await this.getManifest(referrersTag(digest)).catch((e: unknown) => {
      if (isNotFound(e)) return undefined;
      throw e;
    });
    // The spec's rule: a tag that does not hold an image index means there are no referrers.
    if (!fetched || !isIndex(fetched.manifest)) return [];
    return filterByArtifactType(fetched.manifest.manifests, artifactType);
  }

  /** The client side of pushing a referrer to a registry without the referrers API (distribution-spec). */
  private addToReferrersTag(subject: string, referrer: Descriptor): Promise<void> {
    const tag = referrersTag(subject);
    return this.client.serialize(`${this.location}:${tag}`, async () => {
      const current = await this.getManifest(tag).catch((e: unknown) => {
        if (isNotFound(e)) return undefined;
        throw e;
      });
      if (current && !isIndex(current.manifest)) {
        throw new OciContentError(
          `manifest ${this.at(tag)}: the referrers tag holds a ${current.manifest.mediaType}, not an image index; not updating it`,
        );
      }
      const manifests = current && isIndex(current.manifest) ? current.manifest.manifests : [];
      if (manifests.some((d) => d.digest === referrer.digest)) return;
      await this.putManifest(referrersIndex([...manifests, referrer]), { tag });
    });
  }

  private async blobSize(action: Action, digest: string): Promise<number | undefined> {
    const what = `blob ${this.at(digest)}`;
    const res = await this.send(action, { method: "HEAD", url: this.url(`blobs/${this.checkDigest(digest, what)}`), what });
    await res.body.dump().catch(() => {});
    if (res.status === 404) return undefined;
    if (res.status !== 200) throw await this.failure(res);
    const size = Number(firstHeader(res.headers, "content-length"));
    return Number.isSafeInteger(size) ? size : undefined;
  }

  /** Follows Link: <…>; rel="next" headers, on the same origin only, at most maxPages pages. */
  private async *pages(first: URL, what: string, headers: Record<string, string>): AsyncGenerator<{ bytes: Buffer; res: HttpResponse }> {
    let url: URL | undefined = first;
    for (let page = 0; url; page++) {
      if (page >= this.client.maxPages) throw new RegistryError(`${what}: more than ${this.client.maxPages} pages`);
      const res = await this.send("pull", { method: "GET", url, headers, what });
      if (res.status !== 200) throw await this.failure(res);
      const bytes = await readBody(res, this.client.maxManifestBytes, this.client.transport.timeouts);
      yield { bytes, res };
      url = nextPage(res, what);
    }
  }

  /** Sends a request with this registry's authorization, answering one 401 challenge. */
  private async send(action: Action, req: HttpRequest): Promise<HttpResponse> {
    const { auth, transport } = this.client;
    let scopes = [`repository:${this.repository}:${action === "push" ? "pull,push" : "pull"}`];
    const sameOrigin = req.url.origin === this.base.origin;
    const withAuth = (authorization: string | undefined): HttpRequest =>
      authorization && sameOrigin ? { ...req, headers: { ...req.headers, authorization } } : req;
    const first = await auth.authorization(this.registry, scopes);
    const res = await transport.send(withAuth(first));
    if (res.status !== 401) return res;
    await res.body.dump().catch(() => {});
    scopes = [...scopes, ...auth.learn(this.registry, firstHeader(res.headers, "www-authenticate"), req.what)];
    const retry = await auth.authorization(this.registry, scopes, first !== undefined);
    if (retry === undefined || retry === first)
      throw new RegistryError(`${req.what}: ${auth.explainRefusal(this.registry)}`, { status: 401 });
    const again = await transport.send(withAuth(retry));
    if (again.status !== 401) return again;
    await again.body.dump().catch(() => {});
    throw new RegistryError(`${req.what}: ${auth.explainRefusal(this.registry)}`, { status: 401 });
  }

  /** A RegistryError from a non-success answer, with the registry's own error code and message. */
  private async failure(res: HttpResponse): Promise<RegistryError> {
    const body = await readBody(res, ERROR_BODY_LIMIT, this.client.transport.timeouts).catch(() => Buffer.alloc(0));
    let code: string | undefined;
    let message: string | undefined;
    try {
      const first = JSON.parse(body.toString("utf8")).errors?.[0];
      if (typeof first?.code === "string") code = first.code;
      if (typeof first?.message === "string") message = first.message;
    } catch {
      // Not a distribution error body: a short plain-text one (Go's "Client sent an HTTP request to an
      // HTTPS server.") still says what happened; control characters are not passed on to a terminal.
      const text = body
        .toString("utf8")
        .split("\n")[0]!
        .replace(/[^\x20-\x7e]/g, "")
        .trim();
      if (text && !text.startsWith("<") && text.length <= 200) message = text;
    }
    const status =
      res.status === 404 ? "not found (404)" : res.status === 403 ? "access denied (403)" : `${this.registry} answered ${res.status}`;
    const detail = [code, message].filter(Boolean).join(": ");
    return new RegistryError(`${res.what}: ${status}${detail ? ` ${detail}` : ""}`, {
      status: res.status,
      ...(code !== undefined && { code }),
    });
  }

  private url(path: string): URL {
    return new URL(`v2/${this.repository}/${path}`, this.base);
  }

  private at(reference: string): string {
    return `${this.location}${isDigest(reference) ? "@" : ":"}${reference}`;
  }

  private checkReference(reference: string): string {
    if (isDigest(reference) || TAG.test(reference)) return reference;
    if (reference.includes(":")) return this.checkDigest(reference, `manifest ${this.location}@${reference}`);
    throw new InputError(`manifest ${this.location}:${reference}: invalid tag`);
  }

  private checkDigest(digest: string, what: string): string {
    digestAlgorithm(digest, what);
    return digest;
  }
}

function parseTagPage(bytes: Buffer, what: string): string[] {
  let doc: { tags?: unknown };
  try {
    doc = JSON.parse(bytes.toString("utf8"));
  } catch {
    throw new RegistryError(`${what}: the tag list is not JSON`);
  }
  if (doc.tags === null || doc.tags === undefined) return [];
  if (!Array.isArray(doc.tags) || doc.tags.some((t) => typeof t !== "string"))
    throw new RegistryError(`${what}: "tags" is not a list of strings`);
  return doc.tags as string[];
}

/** The media type a response declares, if it declares a specific one. */
function declaredMediaType(res: HttpResponse): string | undefined {
  const contentType = firstHeader(res.headers, "content-type");
  if (contentType === undefined) return undefined;
  const bare = bareMediaType(contentType);
  return bare === "application/json" || bare === "application/octet-stream" ? undefined : bare;
}

/** The digest of fetched manifest bytes, refusing them if they do not match what was asked or announced. */
function manifestDigest(bytes: Buffer, reference: string, header: string | undefined, what: string): string {
  if (isDigest(reference)) {
    verifyDigest(bytes, reference, what);
    return reference;
  }
  if (header === undefined) return digestOf(bytes);
  if (!isDigest(header)) throw new OciContentError(`${what}: the registry sent a malformed Docker-Content-Digest "${header}"`);
  verifyDigest(bytes, header, what);
  return header;
}

function checkStoredDigest(res: HttpResponse, digest: string, what: string): void {
  const stored = firstHeader(res.headers, "docker-content-digest");
  if (stored !== undefined && stored !== digest)
    throw new OciContentError(`${what}: the registry stored ${stored}, not the ${digest} sent`);
}

function nextPage(res: HttpResponse, what: string): URL | undefined {
  const link = firstHeader(res.headers, "link");
  const m = link ? /<([^>]*)>\s*;\s*rel="?next"?/.exec(link) : null;
  if (!m) return undefined;
  const next = new URL(m[1]!, res.url);
  // A page link elsewhere would carry our token to another host.
  if (next.origin !== res.url.origin)
    throw new RegistryError(`${what}: the registry links the next page to another origin (${next.origin})`);
  return next;
}
