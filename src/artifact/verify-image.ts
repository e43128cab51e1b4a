// Verifying an image in a registry: the tag is resolved to a manifest digest, and that digest must be
// signed by a trusted signer and carry every required attestation, found in both layouts cosign writes:
// Sigstore bundles as OCI 1.1 referrers (cosign v3; the referrers tag where a registry lacks the API) and
// the legacy "sha256-<hex>.sig" / ".att" tags (cosign v2). Everything found is only a candidate until it
// verifies: its manifest and blobs are checked against their digests by src/oci, its signature against
// the policy's signers by src/sigstore, and the digest it names must be the one being verified.
//
// Checklist, in order: the requirements are well formed (bad ones are InputError, before any request);
// the reference resolves to a digest; candidates are gathered (all lookups at once); at least one
// candidate is a signature that verifies with a trusted signer; each required attestation has a candidate
// of its predicate type, signed by a trusted signer, whose fields pass. Anything else refuses.
import type { KeyObject } from "node:crypto";
import { InputError } from "../core/errors.ts";
import { Lru } from "../core/lru.ts";
import {
  OciContentError,
  RegistryError,
  formatReference,
  isIndex,
  isNotFound,
  parseReference,
  referrersTag,
  type Descriptor,
  type FetchedManifest,
  type ImageReference,
  type RegistryClient,
  type RegistryRepository,
} from "../oci/index.ts";
import { parseBundle } from "../sigstore/bundle.ts";
import { VerificationFailure, type VerificationStep } from "../sigstore/failure.ts";
import {
  COSIGN_SIGNATURE_PREDICATE,
  LEGACY_ANNOTATIONS,
  LEGACY_ATTESTATION_MEDIA_TYPE,
  verifyImageBundle,
  verifyLegacyImageAttestation,
  verifyLegacyImageSignature,
  type VerifiedImageBundle,
} from "../sigstore/image.ts";
import { parsePath, type AttestationPolicy, type FieldRule } from "../sigstore/intoto.ts";
import { describeKey, loadPublicKey } from "../sigstore/keys.ts";
import { SIMPLE_SIGNING_MEDIA_TYPE } from "../sigstore/simple-signing.ts";
import type { TrustedRoot } from "../trust/trusted-root.ts";
import { compileMatcher, type BundleVerificationOptions, type Matcher, type SignerPolicy } from "../sigstore/verify.ts";
import { BUNDLE_ANNOTATIONS, LEGACY_PREDICATE_ANNOTATION, SIGSTORE_BUNDLE_MEDIA_TYPE } from "./sign-image.ts";

export type ImageSigner =
  | { key: string /* PEM public key text */; name?: string }
  | { identity?: string; identityRegexp?: string; issuer?: string; issuerRegexp?: string; name?: string };

export interface AttestationRequirement {
  predicateType: string;
  fields?: FieldRule[];
}

export interface ImageRequirements {
  /** At least one must have signed the image (any one suffices). */
  signers: ImageSigner[];
  /** Each must be present, signed by one of `signers`, and pass its fields. */
  attestations?: AttestationRequirement[];
  /** Needed for identity signers (keyless), and for key signatures that carry log entries; read offline. */
  trustedRoot?: TrustedRoot;
  now?: Date;
  /**
   * Require a verified transparency-log entry on every signature and attestation. Default: for identity
   * signers yes (as cosign), for keys no (key signatures made offline have none: cosign's
   * --insecure-ignore-tlog). Entries that are present are verified either way.
   */
  requireTlog?: boolean;
  /** Annotations every accepted signature must carry, with these values (cosign verify -a KEY=VALUE). */
  annotations?: Record<string, string>;
  /** What a registry may make Vigil read for one image (defaults: DEFAULT_EVIDENCE_LIMITS). */
  limits?: Partial<EvidenceLimits>;
}

/**
 * Bounds on the signatures and attestations read for one image, so a registry that lists thousands of
 * referrers or huge bundles cannot exhaust memory or time. Past a bound a candidate is unusable, with the
 * reason; the others are still judged, so one hostile referrer cannot block a validly signed image.
 */
export interface EvidenceLimits {
  /** Bundle referrers read per image. */
  maxReferrers: number;
  /** Size of one referrer's manifest. */
  maxManifestBytes: number;
  /** Size of one bundle, envelope or signature payload. */
  maxBundleBytes: number;
  /** All of them together, per image. */
  maxTotalBytes: number;
}

export const DEFAULT_EVIDENCE_LIMITS: EvidenceLimits = {
  maxReferrers: 128,
  maxManifestBytes: 1 << 20,
  maxBundleBytes: 64 << 20,
  maxTotalBytes: 128 << 20,
};

export type EvidenceFormat = "bundle-referrer" | "legacy-sig-tag" | "legacy-att-tag";

export interface ImageVerification {
  /** As given. */
  reference: string;
  /** The manifest digest the tag resolved to (or the pinned one), verified. */
  digest: string;
  /** `admitted`: the policy's signer (its name, "key" for an unnamed key, the certificate's identity) and the canonical key. */
  signatures: { signer: string; format: "bundle-referrer" | "legacy-sig-tag"; admitted: Admitter }[];
  /** `predicate` is the verified statement's predicate (the SBOM of a CycloneDX attestation, for src/sbom). */
  attestations: { predicateType: string; signer: string; format: "bundle-referrer" | "legacy-att-tag"; predicate?: unknown }[];
}

/**
 * Verifies that an image is signed by one of `req.signers` and carries `req.attestations`. Throws
 * VerificationFailure with a reason naming the image, the digest and what is missing or wrong; InputError
 * for bad input; registry problems as the RegistryError src/oci throws.
 */
export async function verifyImage(
  client: RegistryClient,
  reference: string | ImageReference,
  req: ImageRequirements,
): Promise<ImageVerification> {
  const ref = typeof reference === "string" ? parseReference(reference) : reference;
  const shown = typeof reference === "string" ? reference : formatReference(reference);
  const signers = trustedSigners(req);
  const required = (req.attestations ?? []).map(checkAttestationRequirement);
  const repo = client.repository(ref);
  const digest = ref.digest ?? (await repo.resolve(ref.tag ?? "latest")).digest;
  const limits = { ...DEFAULT_EVIDENCE_LIMITS, ...req.limits };
  const image: Image = {
    shown: ref.digest ? shown : `${shown} (${digest})`,
    digest,
    repo,
    cache: contentCache(client),
    limits,
    bytesLeft: limits.maxTotalBytes,
    otherBundles: [],
  };
  const annotations = checkAnnotations(req.annotations);
  const wanted = new Set([COSIGN_SIGNATURE_PREDICATE, ...required.map((a) => a.predicateType)]);
  const verified = (candidates: Candidate[]): ImageVerification => ({
    reference: shown,
    digest,
    signatures: verifySignatures(image, candidates, signers, annotations),
    attestations: required.flatMap((policy) => verifyAttestations(image, candidates, signers, policy)),
  });
  // A pinned digest is fetched too (and so checked against its content), alongside the search.
  const [bundles] = await Promise.all([bundleReferrers(image, wanted), ref.digest && repo.resolve(ref.digest)]);
  // cosign v3's bundles first; the legacy tags are read only when the bundles do not satisfy the
  // policy (two requests fewer per image that is signed the current way), and then everything found
  // is judged together, so a refusal names every candidate and its reason.
  try {
    return verified(bundles);
  } catch (e) {
    if (!(e instanceof VerificationFailure)) throw e;
  }
  const legacy = await Promise.all([legacyTag(image, "sig", wanted), required.length > 0 ? legacyTag(image, "att", wanted) : []]);
  const all = [...bundles, ...legacy.flat()];
  try {
    return verified(all);
  } catch (e) {
    // Nothing verified, and the registry failed to give some of what it listed: the image could not be
    // checked (exit 3), rather than found unsigned.
    const failed = all.filter((c) => c.unavailable);
    if (e instanceof VerificationFailure && failed.length > 0) {
      throw new RegistryError(`${e.message}; the registry failed to serve ${failed.map((c) => `${c.where} (${c.unusable})`).join("; ")}`);
    }
    throw e;
  }
}

/** The annotations a policy requires, checked before anything is fetched. */
function checkAnnotations(annotations: Record<string, string> | undefined): Record<string, string> {
  for (const [key, value] of Object.entries(annotations ?? {})) {
    if (key === "" || typeof value !== "string") throw new InputError(`annotations: "${key}" must be a non-empty key with a string value`);
  }
  return annotations ?? {};
}

// ---------------------------------------------------------------------------------------------------
// The requirements, checked before anything is fetched

interface TrustedSigner {
  byKey: boolean;
  /** For messages: the name, else the key or the identity pattern. */
  label: string;
  name: string | undefined;
  options: BundleVerificationOptions;
}

function trustedSigners(req: ImageRequirements): TrustedSigner[] {
  if (!Array.isArray(req.signers) || req.signers.length === 0)
    throw new InputError("an image policy needs at least one signer (a key, or a certificate identity and issuer)");
  return req.signers.map((signer, i) => {
    const where = `signer ${signer.name ?? i + 1}`;
    if ("key" in signer) {
      const key = trustedKey(signer.key, where);
      return keySigner(key, signer.name, req);
    }
    const subject = matcherOf(signer.identity, signer.identityRegexp, where, "identity");
    const issuer = matcherOf(signer.issuer, signer.issuerRegexp, where, "issuer");
    if (!req.trustedRoot)
      throw new InputError(
        `${where}: verifying a certificate identity needs a Sigstore trusted root (its certificate authorities and logs)`,
      );
    const label = signer.name ?? `${describeMatcher(subject)} from ${describeMatcher(issuer)}`;
    const options = {
      signer: { identities: [{ subject, issuer }] },
      trustedRoot: req.trustedRoot,
      requireTlog: req.requireTlog ?? true,
      ...(req.now && { now: req.now }),
    };
    return { byKey: false, label, name: signer.name, options };
  });
}

/** A policy's key, parsed once however many images it is checked for (the same KeyObject, so its
 *  description is computed once too). A key that does not parse is not remembered: it fails each time. */
function trustedKey(pem: string, where: string): KeyObject {
  let key = trustedKeys.get(pem);
  if (!key) trustedKeys.set(pem, (key = loadPublicKey(pem, where)));
  return key;
}

const trustedKeys = new Lru<string, KeyObject>(64);

function keySigner(key: KeyObject, name: string | undefined, req: ImageRequirements): TrustedSigner {
  const signer: SignerPolicy = { key, ...(name !== undefined && { name }) };
  const options = {
    signer,
    requireTlog: req.requireTlog ?? false,
    ...(req.trustedRoot && { trustedRoot: req.trustedRoot }),
    ...(req.now && { now: req.now }),
  };
  return { byKey: true, label: name ?? describeKey(key), name, options };
}

function matcherOf(exact: string | undefined, regexp: string | undefined, where: string, what: "identity" | "issuer"): Matcher {
  const field = `${what}Regexp`;
  if (exact !== undefined && regexp !== undefined) throw new InputError(`${where}: give ${what} or ${field}, not both`);
  if (exact) return { exact };
  if (regexp) {
    compileMatcher(regexp);
    return { regexp };
  }
  throw new InputError(
    `${where}: a certificate signer needs its ${what} (${what} or ${field}), or give a key: a certificate alone proves nothing about who signed`,
  );
}

function describeMatcher(m: Matcher): string {
  return "exact" in m ? m.exact : `/${m.regexp}/`;
}

function checkAttestationRequirement(requirement: AttestationRequirement, i: number): AttestationPolicy {
  const where = `attestation ${i + 1}`;
  if (typeof requirement.predicateType !== "string" || requirement.predicateType === "")
    throw new InputError(`${where}: predicateType is required`);
  for (const rule of requirement.fields ?? []) {
    parsePath(rule.path);
    if ("matches" in rule) compileMatcher(rule.matches);
  }
  return { predicateType: requirement.predicateType, ...(requirement.fields && { fields: requirement.fields }) };
}

// ---------------------------------------------------------------------------------------------------
// Candidates: what the registry holds for the digest, read and checked against its digests, not yet trusted

interface Image {
  /** For messages: the reference as given, with the digest it resolved to. */
  shown: string;
  digest: string;
  repo: RegistryRepository;
  cache: Lru<string, FetchedManifest | Buffer>;
  limits: EvidenceLimits;
  /** What may still be read for this image (EvidenceLimits.maxTotalBytes, less what was read). */
  bytesLeft: number;
  /** Bundles among the referrers that were not read because the policy does not ask for their type. */
  otherBundles: string[];
}

interface Candidate {
  format: EvidenceFormat;
  /** Where it was found, for messages: "referrer sha256:…", "sha256-….sig layer 2". */
  where: string;
  /** Why it cannot be used at all (unreadable, oversized, or attached to another digest); then nothing else is set. */
  unusable?: string;
  /** The registry failed to serve it (an error or timeout, not bad content). */
  unavailable?: boolean;
  /** The predicate type its content claims: read before verifying, only to know what to verify it as. */
  claims?: string;
  byKey?: boolean;
  verify?: (options: BundleVerificationOptions, attestation?: AttestationPolicy) => VerifiedImageBundle;
}

async function bundleReferrers(image: Image, wanted: Set<string>): Promise<Candidate[]> {
  const listed = await image.repo.referrers(image.digest, { artifactType: SIGSTORE_BUNDLE_MEDIA_TYPE });
  for (const d of listed) if (!isWanted(d, wanted)) image.otherBundles.push(d.annotations?.[BUNDLE_ANNOTATIONS.predicateType] ?? "unknown");
  const descriptors = listed.filter((d) => isWanted(d, wanted));
  const read = descriptors.slice(0, image.limits.maxReferrers);
  const found = await Promise.all(
    read.map((d) => readCandidates("bundle-referrer", `referrer ${d.digest}`, () => bundleReferrer(image, d, wanted))),
  );
  const unread: Candidate[] =
    descriptors.length > read.length
      ? [
          {
            format: "bundle-referrer",
            where: `${descriptors.length - read.length} more referrers`,
            unusable: `not read: the registry lists ${descriptors.length} bundles for the image, over the limit of ${image.limits.maxReferrers}`,
          },
        ]
      : [];
  return [...found.flat(), ...unread];
}

/** Reserves `size` bytes of the image's evidence budget, or says why the content is not read. */
function oversized(image: Image, size: number, what: string, limit: number): string | undefined {
  if (!Number.isSafeInteger(size) || size < 0) return `its ${what} has no valid size`;
  if (size > limit) return `oversized ${what}: ${size} bytes, over the limit of ${limit}`;
  if (size > image.bytesLeft)
    return `not read: its ${what} (${size} bytes) would take the image's signatures and attestations past ${image.limits.maxTotalBytes} bytes`;
  image.bytesLeft -= size;
  return undefined;
}

/**
 * Whether a bundle may hold a predicate the policy asks for, by the predicate-type annotation that the
 * referrers list copies from the manifest (so an unneeded one costs no request) and the manifest itself.
 * The annotation is unsigned: a wrong one can only hide a candidate, which deleting it would do as well.
 */
function isWanted(annotated: { annotations?: Record<string, string> | undefined }, wanted: Set<string>): boolean {
  const hint = annotated.annotations?.[BUNDLE_ANNOTATIONS.predicateType];
  return hint === undefined || wanted.has(hint);
}

async function bundleReferrer(image: Image, descriptor: Descriptor, wanted: Set<string>): Promise<Candidate[]> {
  const where = `referrer ${descriptor.digest}`;
  const tooBig = oversized(image, descriptor.size, "manifest", image.limits.maxManifestBytes);
  if (tooBig) return [{ format: "bundle-referrer", where, unusable: tooBig }];
  const { manifest } = await cached(image, descriptor.digest, descriptor.size, () => image.repo.getManifest(descriptor.digest));
  // The referrers list is the registry's word; the manifest's own subject is what counts.
  if (isIndex(manifest) || manifest.subject?.digest !== image.digest) {
    return [
      {
        format: "bundle-referrer",
        where,
        unusable: `it is attached to ${isIndex(manifest) ? "nothing" : (manifest.subject?.digest ?? "nothing")}, not to ${image.digest}`,
      },
    ];
  }
  // An unneeded attestation (a large SBOM when only signatures are required) is not downloaded.
  if (!isWanted(manifest, wanted)) {
    image.otherBundles.push(manifest.annotations?.[BUNDLE_ANNOTATIONS.predicateType] ?? "unknown");
    return [];
  }
  const layers = manifest.layers.filter((l) => l.mediaType === SIGSTORE_BUNDLE_MEDIA_TYPE);
  if (layers.length === 0)
    return [{ format: "bundle-referrer", where, unusable: `malformed: its manifest holds no ${SIGSTORE_BUNDLE_MEDIA_TYPE} layer` }];
  return Promise.all(
    layers.map(async (layer): Promise<Candidate> => {
      const tooLarge = oversized(image, layer.size, "bundle", image.limits.maxBundleBytes);
      if (tooLarge) return { format: "bundle-referrer", where, unusable: tooLarge };
      const bundle = parseBundle((await blob(image, layer)).toString("utf8"), where);
      return {
        format: "bundle-referrer" as const,
        where,
        claims: claimedPredicateType(
          bundle.content.$case === "dsseEnvelope" ? Buffer.from(bundle.content.dsseEnvelope.payload) : undefined,
        ),
        byKey: bundle.verificationMaterial.content.$case === "publicKey",
        verify: (options: BundleVerificationOptions, attestation?: AttestationPolicy) =>
          verifyImageBundle(bundle, image.digest, { ...options, ...(attestation && { attestation }) }),
      };
    }),
  );
}

async function legacyTag(image: Image, kind: "sig" | "att", wanted: Set<string>): Promise<Candidate[]> {
  const tag = `${referrersTag(image.digest)}.${kind}`;
  const format = kind === "sig" ? "legacy-sig-tag" : "legacy-att-tag";
  return readCandidates(format, tag, async () => {
    const fetched = await image.repo.getManifest(tag).catch((e: unknown) => {
      if (isNotFound(e)) return undefined;
      throw e;
    });
    if (!fetched) return [];
    if (isIndex(fetched.manifest)) return [{ format, where: tag, unusable: "it holds an image index, not cosign's signature manifest" }];
    const mediaType = kind === "sig" ? SIMPLE_SIGNING_MEDIA_TYPE : LEGACY_ATTESTATION_MEDIA_TYPE;
    const layers = fetched.manifest.layers
      .map((layer, i) => ({ layer, where: `${tag} layer ${i + 1}` }))
      .filter(({ layer }) => layer.mediaType === mediaType);
    const found = await Promise.all(
      layers.map(({ layer, where }) => readCandidates(format, where, () => legacyLayer(image, kind, layer, where, wanted))),
    );
    return found.flat();
  });
}

async function legacyLayer(image: Image, kind: "sig" | "att", layer: Descriptor, where: string, wanted: Set<string>): Promise<Candidate[]> {
  const annotations = layer.annotations ?? {};
  const byKey = !annotations[LEGACY_ANNOTATIONS.certificate];
  const format = kind === "sig" ? "legacy-sig-tag" : "legacy-att-tag";
  const hinted = annotations[LEGACY_PREDICATE_ANNOTATION];
  if (kind === "att" && hinted !== undefined && !wanted.has(hinted)) return [];
  const tooLarge = oversized(image, layer.size, kind === "sig" ? "signature payload" : "attestation envelope", image.limits.maxBundleBytes);
  if (tooLarge) return [{ format, where, unusable: tooLarge }];
  if (kind === "sig") {
    const payload = await blob(image, layer);
    return [
      {
        format: "legacy-sig-tag",
        where,
        claims: COSIGN_SIGNATURE_PREDICATE,
        byKey,
        verify: (options) => verifyLegacyImageSignature({ payload, annotations }, image.digest, options),
      },
    ];
  }
  const envelope = await blob(image, layer);
  return [
    {
      format: "legacy-att-tag",
      where,
      claims: claimedPredicateType(envelopePayload(envelope)),
      byKey,
      verify: (options, attestation) => {
        if (!attestation) throw new Error("a legacy attestation is verified against an attestation policy");
        return verifyLegacyImageAttestation({ payload: envelope, annotations }, image.digest, { ...options, attestation });
      },
    },
  ];
}

/**
 * Runs `read`; content that is not what it claims (a digest mismatch, a malformed manifest or bundle) or
 * that the registry lists but no longer has becomes an unusable candidate with the reason. Any other
 * failure of the registry is passed on: the image could not be checked.
 */
async function readCandidates(format: EvidenceFormat, where: string, read: () => Promise<Candidate[]>): Promise<Candidate[]> {
  try {
    return await read();
  } catch (e) {
    if (e instanceof OciContentError || e instanceof InputError || isNotFound(e))
      return [{ format, where, unusable: `malformed registry content: ${(e as Error).message}` }];
    // One referrer the registry fails to serve must not decide for the others: it is set aside, and
    // counts only if nothing else verifies (then the image could not be checked).
    if (e instanceof RegistryError) return [{ format, where, unusable: (e as Error).message, unavailable: true }];
    throw e;
  }
}

/** The predicate type an in-toto payload says it has, unverified; undefined when it cannot be read. */
function claimedPredicateType(payload: Buffer | undefined): string | undefined {
  try {
    const type = JSON.parse(payload?.toString("utf8") ?? "null")?.predicateType;
    return typeof type === "string" ? type : undefined;
  } catch {
    return undefined;
  }
}

function envelopePayload(envelope: Buffer): Buffer | undefined {
  try {
    const payload = JSON.parse(envelope.toString("utf8"))?.payload;
    return typeof payload === "string" ? Buffer.from(payload, "base64") : undefined;
  } catch {
    return undefined;
  }
}

// Manifests and blobs fetched by digest never change, so each client keeps the small ones: verifying
// the same image again (another reference, another rule) reads only what can change (tags, referrers).
const CACHED_ENTRIES = 1024;
const CACHED_MAX_BYTES = 64 << 10;
const contentCaches = new WeakMap<RegistryClient, Lru<string, FetchedManifest | Buffer>>();

function contentCache(client: RegistryClient): Lru<string, FetchedManifest | Buffer> {
  let cache = contentCaches.get(client);
  if (!cache) contentCaches.set(client, (cache = new Lru(CACHED_ENTRIES)));
  return cache;
}

async function cached<T extends FetchedManifest | Buffer>(image: Image, digest: string, size: number, fetch: () => Promise<T>): Promise<T> {
  const key = `${image.repo.location}@${digest}`;
  const hit = image.cache.get(key);
  if (hit) return hit as T;
  const value = await fetch();
  if (size <= CACHED_MAX_BYTES) image.cache.set(key, value);
  return value;
}

function blob(image: Image, layer: Descriptor): Promise<Buffer> {
  return cached(image, layer.digest, layer.size, () => image.repo.getBlob(layer.digest, { size: layer.size }));
}

// ---------------------------------------------------------------------------------------------------
// Verification: every candidate against the signers; the requirements met, or the reasons they were not

type Outcome =
  | { signer: string; admitted: Admitter; predicate?: unknown; annotations?: Record<string, unknown> }
  | { failure: VerificationFailure };

/** Who let an image in, for programs: the trust policy's signer and the key in src/trust's canonical form. */
export interface Admitter {
  signer: string;
  key: string;
}

/** The annotations of the statement's subject that is the image (cosign v3 writes `-a` there). */
function signedSubjectAnnotations(verified: VerifiedImageBundle, digest: string): Record<string, unknown> {
  const [algorithm, hex] = digest.split(":") as [string, string];
  return verified.statement?.subject.find((s) => s.digest[algorithm] === hex)?.annotations ?? {};
}

function verifySignatures(
  image: Image,
  candidates: Candidate[],
  signers: TrustedSigner[],
  annotations: Record<string, string>,
): ImageVerification["signatures"] {
  const considered = candidates.filter(
    (c) => c.format !== "legacy-att-tag" && (c.claims === COSIGN_SIGNATURE_PREDICATE || c.claims === undefined),
  );
  const outcomes = considered.map((c) => ({
    candidate: c,
    outcome: withAnnotations(verifyCandidate(c, signers, undefined, image.digest), annotations),
  }));
  const passed = outcomes.flatMap(({ candidate, outcome }) =>
    "signer" in outcome
      ? [{ signer: outcome.signer, format: candidate.format as "bundle-referrer" | "legacy-sig-tag", admitted: outcome.admitted }]
      : [],
  );
  if (passed.length > 0) return passed;
  if (considered.length === 0) {
    const present = [
      ...image.otherBundles,
      ...candidates.filter((c) => c.claims !== undefined && c.claims !== COSIGN_SIGNATURE_PREDICATE).map((c) => c.claims!),
    ];
    const found =
      present.length > 0
        ? `its referrers hold ${present.length} Sigstore bundle${present.length > 1 ? "s" : ""}, but none is a signature (${[...new Set(present)].join(", ")}), and there is no ${referrersTag(image.digest)}.sig tag`
        : `no Sigstore bundle among its referrers and no ${referrersTag(image.digest)}.sig tag`;
    throw new VerificationFailure(
      "signature",
      `${image.shown} has no signature for this digest: ${found}; it was never signed, or the tag now names another image than the one signed`,
      "signature-missing",
    );
  }
  refuseAll("signature", `no signature on ${image.shown} verifies with a trusted signer (${signerLabels(signers)})`, outcomes);
}

function verifyAttestations(
  image: Image,
  candidates: Candidate[],
  signers: TrustedSigner[],
  policy: AttestationPolicy,
): ImageVerification["attestations"] {
  // Candidates whose type cannot be read are tried too, so their reason is shown rather than passed over.
  const considered = candidates.filter(
    (c) => c.format !== "legacy-sig-tag" && (c.claims === policy.predicateType || c.claims === undefined),
  );
  const outcomes = considered.map((c) => ({ candidate: c, outcome: verifyCandidate(c, signers, policy) }));
  const passed = outcomes.flatMap(({ candidate, outcome }) =>
    "signer" in outcome
      ? [
          {
            predicateType: policy.predicateType,
            signer: outcome.signer,
            format: candidate.format as "bundle-referrer" | "legacy-att-tag",
            predicate: outcome.predicate,
          },
        ]
      : [],
  );
  if (passed.length > 0) return passed;
  if (!considered.some((c) => c.claims === policy.predicateType)) {
    throw new VerificationFailure(
      "attestation",
      `${image.shown} has no ${policy.predicateType} attestation: none among its referrers or in its ${referrersTag(image.digest)}.att tag` +
        (considered.length > 0 ? ` (${describeOutcomes(outcomes)})` : ""),
      "attestation-missing",
    );
  }
  refuseAll(
    "attestation",
    `no ${policy.predicateType} attestation of ${image.shown} is signed by a trusted signer (${signerLabels(signers)}) and passes the policy`,
    outcomes,
  );
}

/**
 * A verified signature counts only if it carries every required annotation with its value (cosign
 * verify -a): in the signed statement's subject (bundles) or the payload's optional section (legacy).
 */
function withAnnotations(outcome: Outcome & { annotations?: Record<string, unknown> }, required: Record<string, string>): Outcome {
  if (!("signer" in outcome)) return outcome;
  const wrong = Object.entries(required).filter(([key, value]) => outcome.annotations?.[key] !== value);
  if (wrong.length === 0) return outcome;
  const said = wrong
    .map(
      ([key, value]) =>
        `${key}=${JSON.stringify(value)} (it has ${outcome.annotations && key in outcome.annotations ? JSON.stringify(outcome.annotations[key]) : "none"})`,
    )
    .join(", ");
  return {
    failure: new VerificationFailure(
      "annotations",
      `signed by ${outcome.signer}, but missing or incorrect annotation: the policy requires ${said}`,
    ),
  };
}

/** A candidate verified with each signer that fits its kind (key or certificate) until one verifies it. */
function verifyCandidate(candidate: Candidate, signers: TrustedSigner[], attestation?: AttestationPolicy, digest = ""): Outcome {
  if (candidate.unusable !== undefined || !candidate.verify)
    return { failure: new VerificationFailure("content", candidate.unusable ?? "unreadable") };
  const fitting = signers.filter((s) => s.byKey === candidate.byKey);
  if (fitting.length === 0) {
    return {
      failure: new VerificationFailure(
        "identity",
        candidate.byKey
          ? "it is signed with a key, and the policy trusts only certificate identities"
          : "it is signed with a Fulcio certificate, and the policy trusts only keys",
      ),
    };
  }
  const failures: VerificationFailure[] = [];
  for (const signer of fitting) {
    try {
      const verified = candidate.verify(signer.options, attestation);
      const annotations = verified.payload ? (verified.payload.optional ?? {}) : signedSubjectAnnotations(verified, digest);
      return {
        signer: signer.byKey || !signer.name ? verified.signer : `${signer.name} (${verified.signer})`,
        admitted: { signer: signer.byKey ? (signer.name ?? "key") : verified.identity!.subject, key: verified.key },
        predicate: verified.statement?.predicate,
        annotations,
      };
    } catch (e) {
      // InputError here is the content's (a bundle the policy cannot use, a key signature's log entry without a root).
      if (e instanceof VerificationFailure) failures.push(e);
      else if (e instanceof InputError) failures.push(new VerificationFailure("signature", e.message));
      else throw e;
    }
  }
  const reasons = [...new Set(failures.map((f) => f.message))];
  return { failure: new VerificationFailure(failures[0]!.step, reasons.join("; "), failures[0]!.code) };
}

function refuseAll(step: VerificationStep, summary: string, outcomes: { candidate: Candidate; outcome: Outcome }[]): never {
  const failures = outcomes.flatMap(({ outcome }) => ("failure" in outcome ? [outcome.failure] : []));
  const steps = new Set(failures.map((f) => f.step));
  const codes = new Set(failures.map((f) => f.code));
  const message = `${summary}: ${describeOutcomes(outcomes)}`;
  // One reason for every candidate is the reason; mixed ones are the step's own.
  if (steps.size === 1 && codes.size === 1) throw new VerificationFailure([...steps][0]!, message, [...codes][0]!);
  throw new VerificationFailure(steps.size === 1 ? [...steps][0]! : step, message);
}

function describeOutcomes(outcomes: { candidate: Candidate; outcome: Outcome }[]): string {
  return outcomes
    .map(({ candidate, outcome }) => `${candidate.where}: ${"failure" in outcome ? outcome.failure.message : "verified"}`)
    .join("; ");
}

function signerLabels(signers: TrustedSigner[]): string {
  return signers.map((s) => s.label).join(", ");
}
