// The OCI layer's public surface: image references, a registry client, OCI image layouts and docker
// archives, and the manifest model they share. See docs/oci.md.
export { parseReference, formatReference, isLoopbackHost, type ImageReference } from "./reference.ts";
export { digestOf, digestAlgorithm, isDigest, verifyDigest, digestVerifier, DigestCheck, type DigestAlgorithm } from "./digest.ts";
export { fileBlobReader, streamBlobReader, type BlobReader } from "./blob-reader.ts";
export {
  MediaType,
  MANIFEST_MEDIA_TYPES,
  parseManifest,
  isIndex,
  type Descriptor,
  type ImageManifest,
  type ImageIndex,
  type Manifest,
  type Platform,
} from "./manifest.ts";
export { OciContentError, RegistryError, isNotFound } from "./errors.ts";
export {
  anonymous,
  staticCredentials,
  dockerConfigCredentials,
  dockerConfigPath,
  type Credentials,
  type CredentialSource,
  type CredentialLookup,
} from "./docker-config.ts";
export { DEFAULT_TIMEOUTS, type HostOptions, type Timeouts, type TransportOptions } from "./http.ts";
export { RegistryClient, RegistryRepository, type RegistryClientOptions } from "./registry.ts";
export { OciLayout, REF_NAME } from "./layout.ts";
export { DockerArchive, type DockerArchiveImage, type DockerArchiveLayer } from "./docker-archive.ts";
export {
  referrersTag,
  referrerDescriptor,
  type ImageStore,
  type FetchedManifest,
  type BlobOptions,
  type PutManifestOptions,
  type ReferrersOptions,
} from "./store.ts";
