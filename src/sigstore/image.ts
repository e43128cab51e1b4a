// Verifying what cosign attaches to an image, given the image's manifest digest; fetching it from a
// registry is src/oci's job. Two layouts exist:
// - cosign v3 (and --new-bundle-format): Sigstore bundles as OCI referrers. A signature is a DSSE
//   in-toto statement of predicate type https://sigstore.dev/cosign/sign/v1 whose subject is the image;
//   an attestation is the same with another predicate type.
// - cosign v2 and earlier: a ":sha256-<hex>.sig" manifest whose layers are simple-signing payloads,
//   with the signature, certificate, chain and Rekor bundle in layer annotations; attestations are a
//   ":sha256-<hex>.att" manifest whose layers are DSSE envelopes, with the same annotations.
// Either way the signature must name the very digest being verified; one made for another digest is refused.
import { createHash, X509Certificate } from "node:crypto";
import { InputError } from "../core/errors.ts";
import type { Bundle } from "./bundle.ts";
import { parseBundle } from "./bundle.ts";
import { decodeBase64 } from "./encoding.ts";
import { refuse } from "./failure.ts";
import { checkPredicate, checkSubject, envelopeStatement, type AttestationPolicy, type Statement } from "./intoto.ts";
import { checkSignedDigest, parseSimpleSigning, type SimpleSigning } from "./simple-signing.ts";
import { verifyBundle, type BundleVerificationOptions, type VerifiedBundle } from "./verify.ts";

/** The predicate type of cosign v3's image signatures. */
export const COSIGN_SIGNATURE_PREDICATE = "https://sigstore.dev/cosign/sign/v1";

/** The layer annotations of cosign's legacy signature manifests. */
export const LEGACY_ANNOTATIONS = {
  signature: "dev.cosignproject.cosign/signature",
  certificate: "dev.sigstore.cosign/certificate",
  chain: "dev.sigstore.cosign/chain",
  rekorBundle: "dev.sigstore.cosign/bundle",
} as const;

export interface VerifiedImageBundle extends VerifiedBundle {
  /** The in-toto statement (DSSE bundles). */
  statement?: Statement;
  /** The simple-signing payload (message-signature bundles and legacy signatures). */
  payload?: SimpleSigning;
}

/**
 * Verifies a bundle attached to the image `imageDigest` ("sha256:<hex>"). A DSSE bundle's statement must
 * name the digest among its subjects and, when `attestation` is given, pass it (predicate type, fields);
 * without `attestation` it must be a cosign signature (predicate https://sigstore.dev/cosign/sign/v1).
 * A message-signature bundle signs a simple-signing `payload`, which must be given and name the digest.
 */
export function verifyImageBundle(
  bundle: Bundle,
  imageDigest: string,
  options: BundleVerificationOptions & { attestation?: AttestationPolicy; payload?: Buffer },
): VerifiedImageBundle {
  if (bundle.content.$case === "messageSignature") {
    if (!options.payload) throw new InputError("a message-signature bundle of an image signs a simple-signing payload, and none was given");
    const verified = verifyBundle(bundle, options.payload, options);
    const payload = parseSimpleSigning(options.payload);
    checkSignedDigest(payload, imageDigest);
    return { ...verified, payload };
  }
  const verified = verifyBundle(bundle, undefined, options);
  const statement = envelopeStatement(verified.envelope!);
  checkSubject(statement, imageDigest);
  checkPredicate(statement, options.attestation ?? { predicateType: COSIGN_SIGNATURE_PREDICATE });
  return { ...verified, statement };
}

/** One layer of a legacy cosign signature manifest: its blob (the payload) and its annotations. */
export interface LegacySignatureLayer {
  payload: Buffer;
  annotations: Record<string, string>;
}

/**
 * Verifies a legacy cosign image signature: the layer's payload is signed by the policy's signer and
 * names `imageDigest`. The certificate, chain and Rekor bundle annotations become a v0.1 Sigstore bundle,
 * so they are checked exactly as a bundle is.
 */
export function verifyLegacyImageSignature(
  layer: LegacySignatureLayer,
  imageDigest: string,
  options: BundleVerificationOptions,
): VerifiedImageBundle {
  const bundle = legacyLayerBundle(layer);
  const verified = verifyBundle(bundle, layer.payload, options);
  const payload = parseSimpleSigning(layer.payload);
  checkSignedDigest(payload, imageDigest);
  return { ...verified, payload };
}

/** A legacy signature layer as the Sigstore bundle it amounts to. Malformed annotations are refused. */
export function legacyLayerBundle(layer: LegacySignatureLayer): Bundle {
  const signature = layer.annotations[LEGACY_ANNOTATIONS.signature];
  if (!signature || !decodeBase64(signature))
    refuse("signature", `the signature layer's ${LEGACY_ANNOTATIONS.signature} annotation is missing or not base64`);
  const messageSignature = {
    messageDigest: { algorithm: "SHA2_256", digest: createHash("sha256").update(layer.payload).digest("base64") },
    signature,
  };
  return legacyBundle(layer.annotations, { messageSignature }, "the signature layer");
}

/** The media type of the DSSE envelope layers of cosign's legacy attestation manifests. */
export const LEGACY_ATTESTATION_MEDIA_TYPE = "application/vnd.dsse.envelope.v1+json";

/**
 * Verifies a legacy cosign attestation: the layer's payload is a DSSE envelope signed by the policy's
 * signer, whose in-toto statement names `imageDigest` and passes `attestation`. Its certificate, chain
 * and Rekor bundle annotations are checked as a v0.1 bundle, as for signatures.
 */
export function verifyLegacyImageAttestation(
  layer: LegacySignatureLayer,
  imageDigest: string,
  options: BundleVerificationOptions & { attestation: AttestationPolicy },
): VerifiedImageBundle {
  let envelope: unknown;
  try {
    envelope = JSON.parse(layer.payload.toString("utf8"));
  } catch {
    refuse("signature", "the attestation layer is not a JSON DSSE envelope");
  }
  const bundle = legacyBundle(layer.annotations, { dsseEnvelope: envelope }, "the attestation layer");
  const verified = verifyBundle(bundle, undefined, options);
  const statement = envelopeStatement(verified.envelope!);
  checkSubject(statement, imageDigest);
  checkPredicate(statement, options.attestation);
  return { ...verified, statement };
}

/** The v0.1 bundle a legacy layer's content and its certificate, chain and Rekor bundle annotations amount to. */
function legacyBundle(
  annotations: Record<string, string>,
  content: { messageSignature: unknown } | { dsseEnvelope: unknown },
  what: string,
): Bundle {
  const rekorBundle = annotations[LEGACY_ANNOTATIONS.rekorBundle];
  const certificates = [annotations[LEGACY_ANNOTATIONS.certificate], annotations[LEGACY_ANNOTATIONS.chain]]
    .filter((p): p is string => !!p)
    .flatMap(pemCertificates);
  const doc = {
    mediaType: "application/vnd.dev.sigstore.bundle+json;version=0.1",
    verificationMaterial: {
      ...(certificates.length > 0
        ? { x509CertificateChain: { certificates: certificates.map((der) => ({ rawBytes: der.toString("base64") })) } }
        : { publicKey: { hint: "" } }),
      tlogEntries: rekorBundle ? [rekorBundleEntry(rekorBundle)] : [],
    },
    ...content,
  };
  try {
    return parseBundle(JSON.stringify(doc), what);
  } catch (e) {
    refuse("signature", (e as Error).message);
  }
}

function pemCertificates(pem: string): Buffer[] {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) refuse("certificate", "the signature layer's certificate annotation holds no PEM certificate");
  return blocks.map((block) => {
    try {
      return Buffer.from(new X509Certificate(block).raw);
    } catch (e) {
      refuse("certificate", `the signature layer carries a malformed certificate (${(e as Error).message})`);
    }
  });
}

// cosign's Rekor bundle: {"SignedEntryTimestamp": b64, "Payload": {"body": b64, "integratedTime": n, "logIndex": n, "logID": hex}}.
function rekorBundleEntry(text: string): unknown {
  let rekor: any;
  try {
    rekor = JSON.parse(text);
  } catch {
    refuse("transparency-log", "the signature layer's Rekor bundle annotation is not JSON");
  }
  const payload = rekor?.Payload;
  const body = typeof payload?.body === "string" ? decodeBase64(payload.body) : undefined;
  if (!body || typeof rekor.SignedEntryTimestamp !== "string" || typeof payload.logID !== "string" || !/^[0-9a-f]+$/.test(payload.logID)) {
    refuse("transparency-log", "the signature layer's Rekor bundle lacks its body, signed entry timestamp or log id");
  }
  let kind: { kind?: unknown; apiVersion?: unknown };
  try {
    kind = JSON.parse(body.toString("utf8"));
  } catch {
    refuse("transparency-log", "the Rekor entry body in the signature layer is not JSON");
  }
  return {
    logIndex: String(payload.logIndex),
    logId: { keyId: Buffer.from(payload.logID, "hex").toString("base64") },
    kindVersion: { kind: String(kind.kind), version: String(kind.apiVersion) },
    integratedTime: String(payload.integratedTime),
    inclusionPromise: { signedEntryTimestamp: rekor.SignedEntryTimestamp },
    canonicalizedBody: payload.body,
  };
}
