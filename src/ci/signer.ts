// Who signs in the pipeline: a cosign key, or keyless (src/ci/keyless.ts). Both push what cosign v3
// writes, a Sigstore bundle as an OCI referrer of the image's digest.
import { attestImage, signImage, type ImageSigning } from "../artifact/sign-image.ts";
import type { ImageReference, RegistryClient } from "../oci/index.ts";
import { describeKey, type SigningKey } from "../sigstore/keys.ts";

export interface ImageSigner {
  /** For the summary: the key's fingerprint, or the certificate identity. */
  description: string;
  sign(client: RegistryClient, image: ImageReference): Promise<ImageSigning>;
  attest(client: RegistryClient, image: ImageReference, predicate: unknown, predicateType: string): Promise<ImageSigning>;
}

export function keySigner(key: SigningKey): ImageSigner {
  return {
    description: describeKey(key.publicKey),
    sign: (client, image) => signImage(client, image, key),
    attest: (client, image, predicate, predicateType) => attestImage(client, image, predicate, predicateType, key),
  };
}
