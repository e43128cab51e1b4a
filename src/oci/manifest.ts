// Manifests and descriptors (OCI image-spec 1.1, Docker image manifest v2 schema 2), parsed strictly:
// the media type must be one we know, the body's own mediaType must agree with the one the source
// declared, an image manifest must not look like an index or the other way round (the ambiguity
// containerd also refuses), and every descriptor's digest and size must be well formed. Unknown
// fields are ignored, as the image spec requires; the exact bytes stay with the caller for hashing.
import * as v from "valibot";
import { isDigest, verifyDigest } from "./digest.ts";
import { OciContentError } from "./errors.ts";

export const MediaType = {
  ociManifest: "application/vnd.oci.image.manifest.v1+json",
  ociIndex: "application/vnd.oci.image.index.v1+json",
  dockerManifest: "application/vnd.docker.distribution.manifest.v2+json",
  dockerManifestList: "application/vnd.docker.distribution.manifest.list.v2+json",
  ociConfig: "application/vnd.oci.image.config.v1+json",
  dockerConfig: "application/vnd.docker.container.image.v1+json",
  ociEmpty: "application/vnd.oci.empty.v1+json",
  ociLayer: "application/vnd.oci.image.layer.v1.tar",
  ociLayerGzip: "application/vnd.oci.image.layer.v1.tar+gzip",
  dockerLayerGzip: "application/vnd.docker.image.rootfs.diff.tar.gzip",
} as const;

export type ManifestMediaType = typeof MediaType.ociManifest | typeof MediaType.dockerManifest;
export type IndexMediaType = typeof MediaType.ociIndex | typeof MediaType.dockerManifestList;

const MANIFEST_TYPES: readonly string[] = [MediaType.ociManifest, MediaType.dockerManifest];
const INDEX_TYPES: readonly string[] = [MediaType.ociIndex, MediaType.dockerManifestList];
const DOCKER_TYPES: readonly string[] = [MediaType.dockerManifest, MediaType.dockerManifestList];
const SCHEMA1_TYPES = ["application/vnd.docker.distribution.manifest.v1+json", "application/vnd.docker.distribution.manifest.v1+prettyjws"];

/** The manifest types we understand, in order of preference: the Accept header of every manifest request. */
export const MANIFEST_MEDIA_TYPES: readonly string[] = [...INDEX_TYPES, ...MANIFEST_TYPES];

const mediaTypeValue = v.pipe(
  v.string(),
  v.regex(/^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}\/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$/, "must be a media type (type/subtype)"),
);
const digestValue = v.pipe(v.string(), v.check(isDigest, "must be a sha256 or sha512 digest in lowercase hex"));
const sizeValue = v.pipe(v.number(), v.safeInteger("must be an integer"), v.minValue(0, "must not be negative"));
const annotations = v.record(v.string(), v.string());
const platform = v.object({
  architecture: v.string(),
  os: v.string(),
  "os.version": v.optional(v.string()),
  "os.features": v.optional(v.array(v.string())),
  variant: v.optional(v.string()),
  features: v.optional(v.array(v.string())),
});

const descriptorSchema = v.object({
  mediaType: mediaTypeValue,
  digest: digestValue,
  size: sizeValue,
  urls: v.optional(v.array(v.string())),
  annotations: v.optional(annotations),
  data: v.optional(v.pipe(v.string(), v.base64("must be base64"))),
  artifactType: v.optional(mediaTypeValue),
  platform: v.optional(platform),
});

const imageManifestSchema = v.object({
  schemaVersion: v.literal(2, "must be 2"),
  mediaType: v.optional(v.string()),
  artifactType: v.optional(mediaTypeValue),
  config: descriptorSchema,
  layers: v.array(descriptorSchema),
  subject: v.optional(descriptorSchema),
  annotations: v.optional(annotations),
});

const imageIndexSchema = v.object({
  schemaVersion: v.literal(2, "must be 2"),
  mediaType: v.optional(v.string()),
  artifactType: v.optional(mediaTypeValue),
  manifests: v.array(descriptorSchema),
  subject: v.optional(descriptorSchema),
  annotations: v.optional(annotations),
});

export type Descriptor = v.InferOutput<typeof descriptorSchema>;
export type Platform = v.InferOutput<typeof platform>;
export type ImageManifest = Omit<v.InferOutput<typeof imageManifestSchema>, "mediaType"> & { mediaType: ManifestMediaType };
export type ImageIndex = Omit<v.InferOutput<typeof imageIndexSchema>, "mediaType"> & { mediaType: IndexMediaType };
export type Manifest = ImageManifest | ImageIndex;

export function isIndex(manifest: Manifest): manifest is ImageIndex {
  return INDEX_TYPES.includes(manifest.mediaType);
}

export function isManifestMediaType(mediaType: string): boolean {
  return MANIFEST_MEDIA_TYPES.includes(mediaType);
}

/** The media type without parameters ("; charset=utf-8"), as a Content-Type header may carry them. */
export function bareMediaType(contentType: string): string {
  return contentType.split(";")[0]!.trim().toLowerCase();
}

/**
 * Parses manifest bytes. `declared` is the media type the source gave (a Content-Type header, a
 * descriptor's mediaType); `what` names the reference in messages. Throws OciContentError.
 */
export function parseManifest(bytes: Uint8Array, declared: string | undefined, what: string): Manifest {
  const fail = (why: string) => new OciContentError(`${what}: ${why}`);
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(bytes).toString("utf8"));
  } catch (e) {
    throw fail(`manifest is not valid JSON (${(e as Error).message})`);
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) throw fail("manifest is not a JSON object");
  const body = json as Record<string, unknown>;
  const mediaType = manifestMediaType(body, declared === undefined ? undefined : bareMediaType(declared), fail);
  const isIndexType = INDEX_TYPES.includes(mediaType);
  if (isIndexType && ("config" in body || "layers" in body)) throw fail(`an index (${mediaType}) must not have "config" or "layers"`);
  if (!isIndexType && "manifests" in body) throw fail(`an image manifest (${mediaType}) must not have "manifests"`);
  const result = v.safeParse(isIndexType ? imageIndexSchema : imageManifestSchema, body, { abortEarly: false });
  if (!result.success) throw fail(`invalid ${mediaType}: ${formatIssues(result.issues)}`);
  const manifest = { ...result.output, mediaType } as Manifest;
  for (const d of embeddedDescriptors(manifest)) checkEmbeddedData(d, what);
  return manifest;
}

function manifestMediaType(body: Record<string, unknown>, declared: string | undefined, fail: (why: string) => OciContentError): string {
  const own = body.mediaType;
  if (own !== undefined && typeof own !== "string") throw fail(`"mediaType" must be a string`);
  for (const t of [declared, own]) {
    if (t !== undefined && SCHEMA1_TYPES.includes(t))
      throw fail(
        `Docker schema 1 manifests (${t}) are not supported: they cannot be verified by digest; push the image again with a current client`,
      );
  }
  if (declared !== undefined && own !== undefined && declared !== own)
    throw fail(`declared media type ${declared} does not match the manifest's own mediaType ${own}`);
  const mediaType = own ?? declared;
  if (mediaType === undefined) throw fail(`manifest has no mediaType and none was declared`);
  if (!isManifestMediaType(mediaType))
    throw fail(`unsupported manifest media type ${mediaType} (supported: ${MANIFEST_MEDIA_TYPES.join(", ")})`);
  // Docker's formats always name themselves; an OCI manifest may leave it to the descriptor.
  if (own === undefined && DOCKER_TYPES.includes(mediaType)) throw fail(`a ${mediaType} manifest must name its own mediaType`);
  return mediaType;
}

function embeddedDescriptors(m: Manifest): Descriptor[] {
  const all = isIndex(m) ? [...m.manifests] : [m.config, ...m.layers];
  if (m.subject) all.push(m.subject);
  return all;
}

/** A descriptor that carries its content inline must carry exactly the content it names. */
function checkEmbeddedData(d: Descriptor, what: string): void {
  if (d.data === undefined) return;
  const bytes = Buffer.from(d.data, "base64");
  if (bytes.length !== d.size)
    throw new OciContentError(`${what}: embedded data of ${d.digest} is ${bytes.length} bytes, its descriptor says ${d.size}`);
  verifyDigest(bytes, d.digest, `${what}: embedded data`);
}

function formatIssues(issues: readonly v.BaseIssue<unknown>[]): string {
  const shown = issues.slice(0, 5).map((issue) => {
    const path = (issue.path ?? []).map((p) => String(p.key)).join(".");
    return `${path || "(manifest)"} ${issue.message}`;
  });
  return shown.join("; ") + (issues.length > 5 ? ` (and ${issues.length - 5} more)` : "");
}
