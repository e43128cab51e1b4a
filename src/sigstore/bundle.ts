// Sigstore bundles (protobuf-specs dev.sigstore.bundle.v1.Bundle, media types v0.1, v0.2 and v0.3):
// read strictly, with errors that name the file and the field, then handed to @sigstore/bundle, whose
// types @sigstore/verify checks. protobuf's own JSON reader is lenient (unknown fields ignored, bad
// base64 decoded to whatever Buffer makes of it), so the shape is checked here first.
import { createHash, type KeyObject } from "node:crypto";
import { HashAlgorithm } from "@sigstore/protobuf-specs";
import { bundleFromJSON, bundleToJSON, toDSSEBundle, toMessageSignatureBundle, ValidationError, type Bundle } from "@sigstore/bundle";
import { InputError } from "../core/errors.ts";
import { parseEnvelope, type DsseEnvelope } from "./dsse.ts";
import { base64Field, jsonObject } from "./encoding.ts";
import { hashForKey, keyHint } from "./keys.ts";
import { readInputText } from "../core/input-file.ts";

export type { Bundle } from "@sigstore/bundle";

export const BUNDLE_MEDIA_TYPES = [
  "application/vnd.dev.sigstore.bundle+json;version=0.1",
  "application/vnd.dev.sigstore.bundle+json;version=0.2",
  "application/vnd.dev.sigstore.bundle+json;version=0.3",
  "application/vnd.dev.sigstore.bundle.v0.3+json",
] as const;

const HASH_ALGORITHMS = ["SHA2_256", "SHA2_384", "SHA2_512"];

/** Reads and parses a bundle file; InputError names the file (and the field) when it is unusable. */
export function loadBundleFile(path: string): Bundle {
  return parseBundle(readInputText(path, "the bundle"), path);
}

/** Parses bundle JSON text strictly. `source` names it in errors. */
export function parseBundle(text: string, source: string): Bundle {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new InputError(`${source}: the bundle is not valid JSON (${(e as Error).message})`);
  }
  checkBundleShape(doc, source);
  try {
    return withoutUncheckpointedProofs(fromJson(doc as Record<string, any>));
  } catch (e) {
    if (e instanceof ValidationError) {
      throw new InputError(
        `${source}: the bundle lacks or misuses ${e.fields.join(", ")} for its media type (${(doc as { mediaType: string }).mediaType})`,
      );
    }
    throw new InputError(`${source}: the bundle could not be read (${(e as Error).message})`);
  }
}

// An Ed25519 message signature signs the message itself, and cosign writes no message digest for it
// ("messageDigest": {}); @sigstore/bundle insists on one, so it reads a stand-in that is then removed.
function fromJson(doc: Record<string, any>): Bundle {
  const digest = doc.messageSignature?.messageDigest;
  const digestless = doc.messageSignature !== undefined && (digest === undefined || Object.keys(digest).length === 0);
  if (!digestless) return bundleFromJSON(doc);
  const bundle = bundleFromJSON({
    ...doc,
    messageSignature: { ...doc.messageSignature, messageDigest: { algorithm: "SHA2_256", digest: "AA==" } },
  });
  return withoutDigest(bundle);
}

// v0.1 bundles (cosign 2.0) may carry an inclusion proof without its checkpoint. Such a proof shows
// nothing (the root hash it leads to is the bundle's own word), and v0.1 vouches for inclusion by the
// signed entry timestamp it requires, so the proof is set aside. Later versions must have the checkpoint.
function withoutUncheckpointedProofs(bundle: Bundle): Bundle {
  if (bundle.mediaType !== BUNDLE_MEDIA_TYPES[0]) return bundle;
  for (const entry of bundle.verificationMaterial.tlogEntries) {
    if (entry.inclusionProof && !entry.inclusionProof.checkpoint?.envelope) entry.inclusionProof = undefined;
  }
  return bundle;
}

export function bundleToJson(bundle: Bundle): unknown {
  return bundleToJSON(bundle);
}

/**
 * A v0.3 bundle of a key-signed message (no certificate, no log entry) as cosign writes one: the digest
 * is the artifact's in the key's hash (SHA-384 for P-384…), and Ed25519, which signs the message itself, has none.
 */
export function keyMessageBundle(options: { artifact: Buffer; signature: Buffer; key: KeyObject }): Bundle {
  const hash = hashForKey(options.key);
  const digest = createHash(hash ?? "sha256")
    .update(options.artifact)
    .digest();
  const bundle = toMessageSignatureBundle({ digest, signature: options.signature, keyHint: keyHint(options.key) });
  if (!hash) return withoutDigest(bundle);
  bundle.content.messageSignature.messageDigest = { algorithm: HASH_ALGORITHM[hash], digest };
  return bundle;
}

// The bundle types say a message signature always has a digest; protobuf-specs says it may not.
function withoutDigest<B extends Bundle>(bundle: B): B {
  if (bundle.content.$case === "messageSignature")
    (bundle.content.messageSignature as { messageDigest?: unknown }).messageDigest = undefined;
  return bundle;
}

const HASH_ALGORITHM = { sha256: HashAlgorithm.SHA2_256, sha384: HashAlgorithm.SHA2_384, sha512: HashAlgorithm.SHA2_512 };

/** A v0.3 bundle of a key-signed DSSE envelope (one signature). */
export function keyDsseBundle(envelope: DsseEnvelope, key: KeyObject): Bundle {
  const [signature] = envelope.signatures;
  if (!signature || envelope.signatures.length !== 1) throw new Error("a Sigstore bundle holds a DSSE envelope with exactly one signature");
  const bundle = toDSSEBundle({
    artifact: envelope.payload,
    artifactType: envelope.payloadType,
    signature: signature.sig,
    keyHint: keyHint(key),
  });
  // The library copies the hint into the signature's keyid; cosign then compares it with its own key id
  // for the key and skips the signature, so the envelope keeps the signer's keyid ("" from Vigil).
  bundle.content.dsseEnvelope.signatures[0]!.keyid = signature.keyid;
  return bundle;
}

// ---------------------------------------------------------------------------------------------------
// The shape of the JSON, field by field

function checkBundleShape(doc: unknown, source: string): void {
  const at = (field: string) => `${source}: ${field}`;
  const bundle = jsonObject(doc, at("the bundle"), ["mediaType", "verificationMaterial", "messageSignature", "dsseEnvelope"]);
  if (typeof bundle.mediaType !== "string") throw new InputError(`${at("mediaType")} is missing or not a string`);
  if (!(BUNDLE_MEDIA_TYPES as readonly string[]).includes(bundle.mediaType)) {
    throw new InputError(
      `${at("mediaType")} "${bundle.mediaType}" is not a Sigstore bundle version this verifier knows (${BUNDLE_MEDIA_TYPES.join(", ")})`,
    );
  }
  const contents = ["messageSignature", "dsseEnvelope"].filter((k) => bundle[k] !== undefined);
  if (contents.length !== 1) throw new InputError(`${at("the bundle")} must hold exactly one of messageSignature or dsseEnvelope`);
  if (bundle.messageSignature !== undefined) checkMessageSignature(bundle.messageSignature, at("messageSignature"));
  else checkEnvelope(bundle.dsseEnvelope, at("dsseEnvelope"));
  checkVerificationMaterial(bundle.verificationMaterial, at("verificationMaterial"));
}

function checkMessageSignature(value: unknown, where: string): void {
  const sig = jsonObject(value, where, ["messageDigest", "signature"]);
  nonEmpty(base64Field(sig.signature, `${where}.signature`), `${where}.signature`);
  const digest = jsonObject(sig.messageDigest ?? {}, `${where}.messageDigest`, ["algorithm", "digest"]);
  if (Object.keys(digest).length === 0) return;
  if (!HASH_ALGORITHMS.includes(digest.algorithm as string)) {
    throw new InputError(`${where}.messageDigest.algorithm must be one of ${HASH_ALGORITHMS.join(", ")}`);
  }
  nonEmpty(base64Field(digest.digest, `${where}.messageDigest.digest`), `${where}.messageDigest.digest`);
}

function checkEnvelope(value: unknown, where: string): void {
  const envelope = parseEnvelope(value, where);
  if (envelope.payload.length === 0) throw new InputError(`${where}.payload is empty`);
  if (envelope.signatures.length !== 1)
    throw new InputError(`${where}.signatures must hold exactly one signature in a bundle, not ${envelope.signatures.length}`);
}

function checkVerificationMaterial(value: unknown, where: string): void {
  const material = jsonObject(value, where, [
    "publicKey",
    "x509CertificateChain",
    "certificate",
    "tlogEntries",
    "timestampVerificationData",
  ]);
  const kinds = ["publicKey", "x509CertificateChain", "certificate"].filter((k) => material[k] !== undefined);
  if (kinds.length !== 1) throw new InputError(`${where} must hold exactly one of publicKey, x509CertificateChain or certificate`);
  if (material.publicKey !== undefined) {
    const key = jsonObject(material.publicKey, `${where}.publicKey`, ["hint"]);
    if (key.hint !== undefined && typeof key.hint !== "string") throw new InputError(`${where}.publicKey.hint must be a string`);
  }
  if (material.x509CertificateChain !== undefined) {
    const chain = jsonObject(material.x509CertificateChain, `${where}.x509CertificateChain`, ["certificates"]);
    const certs = list(chain.certificates, `${where}.x509CertificateChain.certificates`);
    if (certs.length === 0)
      throw new InputError(`${where}.x509CertificateChain.certificates is empty: the bundle carries no signing certificate`);
    certs.forEach((c, i) => rawBytes(c, `${where}.x509CertificateChain.certificates[${i}]`));
  }
  if (material.certificate !== undefined) rawBytes(material.certificate, `${where}.certificate`);
  list(material.tlogEntries ?? [], `${where}.tlogEntries`).forEach((e, i) => checkTlogEntry(e, `${where}.tlogEntries[${i}]`));
  if (material.timestampVerificationData !== undefined) {
    const data = jsonObject(material.timestampVerificationData, `${where}.timestampVerificationData`, ["rfc3161Timestamps"]);
    list(data.rfc3161Timestamps ?? [], `${where}.timestampVerificationData.rfc3161Timestamps`).forEach((t, i) => {
      const field = `${where}.timestampVerificationData.rfc3161Timestamps[${i}]`;
      nonEmpty(
        base64Field(jsonObject(t, field, ["signedTimestamp"]).signedTimestamp, `${field}.signedTimestamp`),
        `${field}.signedTimestamp`,
      );
    });
  }
}

function checkTlogEntry(value: unknown, where: string): void {
  const entry = jsonObject(value, where, [
    "logIndex",
    "logId",
    "kindVersion",
    "integratedTime",
    "inclusionPromise",
    "inclusionProof",
    "canonicalizedBody",
  ]);
  int64(entry.logIndex, `${where}.logIndex`);
  base64Field(jsonObject(entry.logId, `${where}.logId`, ["keyId"]).keyId, `${where}.logId.keyId`);
  const kind = jsonObject(entry.kindVersion, `${where}.kindVersion`, ["kind", "version"]);
  if (typeof kind.kind !== "string" || typeof kind.version !== "string")
    throw new InputError(`${where}.kindVersion needs a kind and a version string`);
  if (entry.integratedTime !== undefined) int64(entry.integratedTime, `${where}.integratedTime`);
  if (entry.inclusionPromise !== undefined) {
    const promise = jsonObject(entry.inclusionPromise, `${where}.inclusionPromise`, ["signedEntryTimestamp"]);
    nonEmpty(
      base64Field(promise.signedEntryTimestamp, `${where}.inclusionPromise.signedEntryTimestamp`),
      `${where}.inclusionPromise.signedEntryTimestamp`,
    );
  }
  if (entry.inclusionProof !== undefined) checkInclusionProof(entry.inclusionProof, `${where}.inclusionProof`);
  nonEmpty(base64Field(entry.canonicalizedBody, `${where}.canonicalizedBody`), `${where}.canonicalizedBody`);
}

function checkInclusionProof(value: unknown, where: string): void {
  const proof = jsonObject(value, where, ["logIndex", "rootHash", "treeSize", "hashes", "checkpoint"]);
  int64(proof.logIndex, `${where}.logIndex`);
  int64(proof.treeSize, `${where}.treeSize`);
  base64Field(proof.rootHash, `${where}.rootHash`);
  list(proof.hashes ?? [], `${where}.hashes`).forEach((h, i) => base64Field(h, `${where}.hashes[${i}]`));
  if (proof.checkpoint !== undefined) {
    const checkpoint = jsonObject(proof.checkpoint, `${where}.checkpoint`, ["envelope"]);
    if (typeof checkpoint.envelope !== "string") throw new InputError(`${where}.checkpoint.envelope must be a string`);
  }
}

function rawBytes(value: unknown, where: string): void {
  nonEmpty(base64Field(jsonObject(value, where, ["rawBytes"]).rawBytes, `${where}.rawBytes`), `${where}.rawBytes`);
}

function nonEmpty(bytes: Buffer, where: string): void {
  if (bytes.length === 0) throw new InputError(`${where} is empty`);
}

function list(value: unknown, where: string): unknown[] {
  if (!Array.isArray(value)) throw new InputError(`${where} must be a list`);
  return value;
}

// protobuf JSON writes int64 as a decimal string (some writers as a number); log indexes and times are never negative.
function int64(value: unknown, where: string): void {
  const text = typeof value === "number" && Number.isSafeInteger(value) ? String(value) : value;
  if (typeof text !== "string" || !/^-?\d+$/.test(text)) throw new InputError(`${where} must be an integer`);
  if (text.startsWith("-")) throw new InputError(`${where} is negative (${text}); a transparency log has no negative indexes or times`);
  if (BigInt(text) >= 1n << 63n) throw new InputError(`${where} is out of range`);
}
