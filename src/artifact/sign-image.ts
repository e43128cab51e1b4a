// Signing and attesting an image in a registry with a cosign key, in the layouts cosign reads:
// - "bundle-referrer" (cosign v3's default): a Sigstore bundle (v0.3, DSSE, key hint, no log entry) in an
//   OCI 1.1 artifact manifest whose subject is the image; a signature is an in-toto statement of predicate
//   type https://sigstore.dev/cosign/sign/v1, an attestation the same with its own predicate type.
// - "legacy" (cosign v2, and v3 with --new-bundle-format=false): a layer appended to the image's
//   "sha256-<hex>.sig" manifest (a simple-signing payload, its signature in an annotation), or to
//   "sha256-<hex>.att" (a DSSE envelope).
// The tag is resolved to a digest first, and the digest is what is signed: moving the tag later does not
// move the signature.
import { InputError } from "../core/errors.ts";
import {
  MediaType,
  OciContentError,
  isIndex,
  isNotFound,
  parseReference,
  referrersTag,
  formatReference,
  type Descriptor,
  type ImageReference,
  type RegistryClient,
  type RegistryRepository,
} from "../oci/index.ts";
import { bundleToJson, keyDsseBundle } from "../sigstore/bundle.ts";
import { envelopeToJson, signEnvelope } from "../sigstore/dsse.ts";
import { COSIGN_SIGNATURE_PREDICATE, LEGACY_ANNOTATIONS, LEGACY_ATTESTATION_MEDIA_TYPE } from "../sigstore/image.ts";
import { INTOTO_PAYLOAD_TYPE, makeStatement } from "../sigstore/intoto.ts";
import { signData, type SigningKey } from "../sigstore/keys.ts";
import { buildSimpleSigning, SIMPLE_SIGNING_MEDIA_TYPE } from "../sigstore/simple-signing.ts";

/** The artifact and layer media type of a Sigstore bundle attached to an image. */
export const SIGSTORE_BUNDLE_MEDIA_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json";
/** Annotations cosign puts on a bundle referrer; hints for finding one, never trusted. */
export const BUNDLE_ANNOTATIONS = {
  content: "dev.sigstore.bundle.content",
  predicateType: "dev.sigstore.bundle.predicateType",
} as const;
/** The annotation of a legacy attestation layer naming its predicate type (a hint, never trusted). */
export const LEGACY_PREDICATE_ANNOTATION = "predicateType";

export type SignatureFormat = "bundle-referrer" | "legacy";

export interface SignImageOptions {
  /** cosign's -a key=value: in the signed statement's subject (bundle) or the payload's optional section (legacy). */
  annotations?: Record<string, string>;
  /** Default "bundle-referrer", what cosign v3 writes and reads first. */
  format?: SignatureFormat;
}

export interface AttestImageOptions {
  format?: SignatureFormat;
}

export interface ImageSigning {
  /** The reference as given. */
  reference: string;
  /** The manifest digest that was signed. */
  digest: string;
  format: SignatureFormat;
  /** The manifest pushed: the bundle referrer, or the updated .sig/.att manifest. */
  pushed: Descriptor;
  /** The legacy tag that holds the signature or attestation. */
  tag?: string;
}

/** Signs an image (the digest its tag resolves to) with a cosign key and pushes the signature. */
export async function signImage(
  client: RegistryClient,
  reference: string | ImageReference,
  key: SigningKey,
  options: SignImageOptions = {},
): Promise<ImageSigning> {
  const target = await resolveTarget(client, reference);
  const format = options.format ?? "bundle-referrer";
  if (format === "legacy") {
    const payload = buildSimpleSigning({
      dockerReference: target.name,
      manifestDigest: target.image.digest,
      optional: options.annotations ?? null,
    });
    const annotations = { [LEGACY_ANNOTATIONS.signature]: signData(key, payload).toString("base64") };
    return appendLegacyLayer(target, "sig", { mediaType: SIMPLE_SIGNING_MEDIA_TYPE, content: payload, annotations });
  }
  // The subject carries the annotations (cosign v3's verify -a reads them there) and names the image,
  // as attestations do (cosign leaves the name out of signatures; the digest is what binds).
  const statement = makeStatement(
    [{ name: target.name, digest: target.image.digest, annotations: options.annotations ?? {} }],
    COSIGN_SIGNATURE_PREDICATE,
    {},
  );
  return pushBundleReferrer(target, statement, COSIGN_SIGNATURE_PREDICATE, key);
}

/** Attests an image: an in-toto statement about its digest with `predicate`, signed with a cosign key and pushed. */
export async function attestImage(
  client: RegistryClient,
  reference: string | ImageReference,
  predicate: unknown,
  predicateType: string,
  key: SigningKey,
  options: AttestImageOptions = {},
): Promise<ImageSigning> {
  if (!predicateType) throw new InputError("an attestation needs a predicate type");
  const target = await resolveTarget(client, reference);
  const statement = makeStatement([{ name: target.name, digest: target.image.digest }], predicateType, predicate);
  if ((options.format ?? "bundle-referrer") === "bundle-referrer") return pushBundleReferrer(target, statement, predicateType, key);
  const envelope = signEnvelope(INTOTO_PAYLOAD_TYPE, statement, [{ key, keyid: "" }]);
  // cosign leaves the signature annotation empty on attestation layers: the signature is in the envelope.
  const annotations = { [LEGACY_ANNOTATIONS.signature]: "", [LEGACY_PREDICATE_ANNOTATION]: predicateType };
  return appendLegacyLayer(target, "att", {
    mediaType: LEGACY_ATTESTATION_MEDIA_TYPE,
    content: Buffer.from(JSON.stringify(envelopeToJson(envelope))),
    annotations,
  });
}

interface Target {
  shown: string;
  /** registry/repository, as the signed payload names the image. */
  name: string;
  repo: RegistryRepository;
  image: Descriptor;
}

async function resolveTarget(client: RegistryClient, reference: string | ImageReference): Promise<Target> {
  const ref = typeof reference === "string" ? parseReference(reference) : reference;
  const repo = client.repository(ref);
  const image = await repo.resolve(ref.digest ?? ref.tag ?? "latest");
  return {
    shown: typeof reference === "string" ? reference : formatReference(ref),
    name: `${ref.registry}/${ref.repository}`,
    repo,
    image,
  };
}

/**
 * Pushes a Sigstore bundle signed elsewhere (keyless: a Fulcio certificate and a Rekor entry, src/ci) as a
 * referrer of the image's digest, as cosign v3 does. The caller has signed a statement naming that digest.
 */
export async function attachBundle(
  client: RegistryClient,
  reference: string | ImageReference,
  bundle: Buffer,
  predicateType: string,
): Promise<ImageSigning> {
  return pushBundleManifest(await resolveTarget(client, reference), bundle, predicateType);
}

async function pushBundleReferrer(target: Target, statement: Buffer, predicateType: string, key: SigningKey): Promise<ImageSigning> {
  const envelope = signEnvelope(INTOTO_PAYLOAD_TYPE, statement, [{ key, keyid: "" }]);
  return pushBundleManifest(target, Buffer.from(JSON.stringify(bundleToJson(keyDsseBundle(envelope, key.publicKey)))), predicateType);
}

async function pushBundleManifest(target: Target, bundle: Buffer, predicateType: string): Promise<ImageSigning> {
  const [layer, config] = await Promise.all([target.repo.putBlob(bundle), target.repo.putBlob(Buffer.from("{}"))]);
  const manifest = {
    schemaVersion: 2,
    mediaType: MediaType.ociManifest,
    artifactType: SIGSTORE_BUNDLE_MEDIA_TYPE,
    config: { mediaType: MediaType.ociEmpty, ...config },
    layers: [{ mediaType: SIGSTORE_BUNDLE_MEDIA_TYPE, ...layer }],
    subject: { mediaType: target.image.mediaType, digest: target.image.digest, size: target.image.size },
    annotations: {
      [BUNDLE_ANNOTATIONS.content]: "dsse-envelope",
      [BUNDLE_ANNOTATIONS.predicateType]: predicateType,
      "org.opencontainers.image.created": new Date().toISOString().replace(/\.\d+Z$/, "Z"),
    },
  };
  // Pushed by digest; the client lists it under the subject (referrers API, or the referrers tag).
  const pushed = await target.repo.putManifest(Buffer.from(JSON.stringify(manifest)));
  return { reference: target.shown, digest: target.image.digest, format: "bundle-referrer", pushed };
}

/**
 * Adds a layer to the image's legacy ".sig" or ".att" manifest, keeping the layers already there (other
 * signers' signatures), as cosign does. Like cosign, two signers pushing at the same moment can lose one
 * layer: the registry offers no conditional update.
 */
async function appendLegacyLayer(
  target: Target,
  kind: "sig" | "att",
  layer: { mediaType: string; content: Buffer; annotations: Record<string, string> },
): Promise<ImageSigning> {
  const tag = `${referrersTag(target.image.digest)}.${kind}`;
  const current = await target.repo.getManifest(tag).catch((e: unknown) => {
    if (isNotFound(e)) return undefined;
    throw e;
  });
  if (current && isIndex(current.manifest))
    throw new OciContentError(`${target.repo.location}:${tag} holds an image index, not cosign's signature manifest; not overwriting it`);
  const layers: Descriptor[] = current && !isIndex(current.manifest) ? current.manifest.layers : [];
  const added = { mediaType: layer.mediaType, ...(await target.repo.putBlob(layer.content)), annotations: layer.annotations };
  const all = [...layers, added];
  // The config go-containerregistry gives such an image: every layer is its own uncompressed content.
  const config = Buffer.from(
    JSON.stringify({ architecture: "", os: "", config: {}, rootfs: { type: "layers", diff_ids: all.map((l) => l.digest) } }),
  );
  const manifest = {
    schemaVersion: 2,
    mediaType: MediaType.ociManifest,
    config: { mediaType: MediaType.ociConfig, ...(await target.repo.putBlob(config)) },
    layers: all,
  };
  const pushed = await target.repo.putManifest(Buffer.from(JSON.stringify(manifest)), { tag });
  return { reference: target.shown, digest: target.image.digest, format: "legacy", pushed, tag };
}
