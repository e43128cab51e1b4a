// What the signing and verification code needs from a place that holds images: a registry repository
// or an OCI image layout directory. Everything read through it has been checked against its digest.
import { MediaType, type Descriptor, type Manifest } from "./manifest.ts";

export interface FetchedManifest {
  /** mediaType, digest and size of the exact bytes below. */
  descriptor: Descriptor;
  bytes: Buffer;
  manifest: Manifest;
}

export interface BlobOptions {
  /** Refuse a blob larger than this (default: the store's limit for blobs read into memory). */
  maxBytes?: number;
  /** The size the descriptor gives; a blob of another size is refused. */
  size?: number;
}

export interface PutManifestOptions {
  /** The manifest's media type, when its body does not name it (OCI manifests may leave it out). */
  mediaType?: string;
  /** Tag it; without a tag the manifest is stored by digest only. */
  tag?: string;
}

export interface ReferrersOptions {
  /** Only referrers of this artifactType. */
  artifactType?: string;
}

export interface ImageStore {
  /** Where the content lives, for messages: "registry.example.com/team/app", "oci-layout:/path". */
  readonly location: string;
  /** The descriptor of the manifest a tag or digest names. */
  resolve(reference: string): Promise<Descriptor>;
  /** A manifest by tag or digest, its bytes verified against the digest and parsed strictly. */
  getManifest(reference: string): Promise<FetchedManifest>;
  /** A blob read into memory, verified against its digest. */
  getBlob(digest: string, options?: BlobOptions): Promise<Buffer>;
  putBlob(bytes: Uint8Array): Promise<{ digest: string; size: number }>;
  /** Stores a manifest (validated first) and returns its descriptor; a manifest with a subject becomes its referrer. */
  putManifest(bytes: Uint8Array, options?: PutManifestOptions): Promise<Descriptor>;
  /**
   * Descriptors of the manifests whose `subject` is `digest`. These are pointers, not proof: fetch each
   * one (by digest, so it is verified) and check its `subject` before relying on it.
   */
  referrers(digest: string, options?: ReferrersOptions): Promise<Descriptor[]>;
  tags(): Promise<string[]>;
}

/**
 * The tag under which a registry without the referrers API keeps an image index of a manifest's
 * referrers (distribution-spec "Referrers Tag Schema"): "sha256-<hex>".
 */
export function referrersTag(digest: string): string {
  const colon = digest.indexOf(":");
  return `${digest.slice(0, colon).slice(0, 32)}-${digest.slice(colon + 1).slice(0, 64)}`.replace(/[^a-zA-Z0-9_.-]/g, "-");
}

/** The descriptor a referrers list holds for a manifest: its artifactType (or config type) and annotations. */
export function referrerDescriptor(manifest: Manifest, descriptor: Descriptor): Descriptor {
  const artifactType = manifest.artifactType ?? ("config" in manifest ? manifest.config.mediaType : undefined);
  return {
    mediaType: descriptor.mediaType,
    digest: descriptor.digest,
    size: descriptor.size,
    ...(artifactType !== undefined && { artifactType }),
    ...(manifest.annotations !== undefined && { annotations: manifest.annotations }),
  };
}

export function filterByArtifactType(descriptors: Descriptor[], artifactType: string | undefined): Descriptor[] {
  return artifactType === undefined ? descriptors : descriptors.filter((d) => d.artifactType === artifactType);
}

/** An OCI image index listing referrers, as both the referrers API and the tag schema give it. */
export function referrersIndex(manifests: Descriptor[]): Buffer {
  return Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests }));
}
