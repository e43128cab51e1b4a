// cosign's image-signature payload, the "simple signing" format of containers/image: what a cosign
// signature of an image actually signs. Its critical section binds the signature to one manifest digest;
// by the format's rule, a consumer refuses critical fields it does not know.
import { refuse } from "./failure.ts";
import { splitDigest } from "./intoto.ts";

export const SIMPLE_SIGNING_TYPE = "cosign container image signature";
/** The media type of the payload layer in cosign's signature manifests. */
export const SIMPLE_SIGNING_MEDIA_TYPE = "application/vnd.dev.cosign.simplesigning.v1+json";

export interface SimpleSigning {
  /** The repository the signer named (cosign writes it without tag or digest). */
  dockerReference: string;
  /** "sha256:<hex>" of the signed manifest. */
  manifestDigest: string;
  /** cosign's -a annotations, or null. */
  optional: Record<string, unknown> | null;
}

/** The payload `cosign sign` signs, byte for byte in cosign's field order. */
export function buildSimpleSigning(payload: SimpleSigning): Buffer {
  splitDigest(payload.manifestDigest, "image digest");
  return Buffer.from(
    JSON.stringify({
      critical: {
        identity: { "docker-reference": payload.dockerReference },
        image: { "docker-manifest-digest": payload.manifestDigest },
        type: SIMPLE_SIGNING_TYPE,
      },
      optional: payload.optional,
    }),
  );
}

/** Parses a simple-signing payload strictly. The payload is signed content: a bad one is refused. */
export function parseSimpleSigning(payload: Buffer): SimpleSigning {
  let doc: any;
  try {
    doc = JSON.parse(payload.toString("utf8"));
  } catch {
    refuse("payload", "the signed payload is not JSON, so it is not a cosign image signature");
  }
  const critical = exactObject(doc?.critical, "critical", ["identity", "image", "type"]);
  if (critical.type !== SIMPLE_SIGNING_TYPE)
    refuse("payload", `critical.type is ${JSON.stringify(critical.type)}, not "${SIMPLE_SIGNING_TYPE}"`);
  const identity = exactObject(critical.identity, "critical.identity", ["docker-reference"]);
  const image = exactObject(critical.image, "critical.image", ["docker-manifest-digest"]);
  const reference = identity["docker-reference"];
  const digest = image["docker-manifest-digest"];
  if (typeof reference !== "string") refuse("payload", "critical.identity.docker-reference is not a string");
  if (typeof digest !== "string" || !/^sha(256|384|512):[0-9a-f]+$/.test(digest)) {
    refuse("payload", "critical.image.docker-manifest-digest is not a digest like sha256:<hex>");
  }
  const optional = doc.optional ?? null;
  if (optional !== null && (typeof optional !== "object" || Array.isArray(optional)))
    refuse("payload", "the payload's optional section is not an object");
  const unknown = Object.keys(doc).find((k) => k !== "critical" && k !== "optional");
  if (unknown) refuse("payload", `the payload has an unknown top-level field "${unknown}"`);
  return { dockerReference: reference, manifestDigest: digest, optional };
}

/** Refuses a payload signed for another image: the digest it names must be the one being verified. */
export function checkSignedDigest(payload: SimpleSigning, imageDigest: string): void {
  splitDigest(imageDigest, "image digest");
  if (payload.manifestDigest !== imageDigest) {
    refuse(
      "payload",
      `the signature is for image digest ${payload.manifestDigest}, not ${imageDigest}: it signs another image (or another version of it)`,
    );
  }
}

function exactObject(value: unknown, where: string, fields: string[]): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value))
    refuse("payload", `the payload's ${where} is missing or not an object`);
  const unknown = Object.keys(value).find((k) => !fields.includes(k));
  if (unknown) refuse("payload", `the payload's ${where} has the unknown critical field "${unknown}"`);
  const missing = fields.find((k) => !(k in value));
  if (missing) refuse("payload", `the payload's ${where} lacks "${missing}"`);
  return value as Record<string, unknown>;
}
