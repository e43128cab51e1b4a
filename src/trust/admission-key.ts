// The canonical form of a key the trust policy trusts, one string per key whatever its format, so that
// what admitted a commit or an image (a verifier's accepted signature) can be compared with what a
// policy trusts now (src/monitor/trust.ts) by equality, without reading any message:
// "ssh SHA256:<fingerprint>", "openpgp <FINGERPRINT>", "sigstore <identity> <issuer>",
// "key sha256:<hex of the public key's SPKI DER>".
import { createHash, createPublicKey, type KeyObject } from "node:crypto";

export const admissionKey = {
  /** An SSH key (or certificate authority) by its SHA256 fingerprint, "SHA256:<base64>". */
  ssh: (fingerprint: string) => `ssh ${fingerprint}`,
  /** An OpenPGP primary key or subkey by its fingerprint. */
  openpgp: (fingerprint: string) => `openpgp ${fingerprint.toUpperCase()}`,
  /** A Fulcio certificate's identity (SAN) and OIDC issuer. */
  sigstore: (identity: string, issuer: string) => `sigstore ${identity} ${issuer}`,
  /** A public key (cosign's keys) by the SHA-256 of its SPKI DER. */
  publicKey: (key: KeyObject) =>
    `key sha256:${createHash("sha256")
      .update(key.export({ type: "spki", format: "der" }))
      .digest("hex")}`,
  /** The same for a PEM public key, as the trust policy writes it. */
  pem: (pem: string) => admissionKey.publicKey(createPublicKey(pem)),
};
