// What every signature verifier returns: who signed, or exactly why nobody trusted did.

export type SignatureKind = "ssh" | "openpgp" | "x509";

export type SignatureResult =
  | {
      ok: true;
      kind: SignatureKind;
      /** The trust policy's signer name (or allowed_signers principal) that made the signature. */
      identity: string;
      /** The key, as a person would look it up: "ssh-ed25519 SHA256:…", "openpgp 0xABCD…", a certificate SAN. */
      key: string;
    }
  | { ok: false; kind: SignatureKind | "unknown"; reason: string };

export function refused(kind: SignatureResult["kind"], reason: string): SignatureResult {
  return { ok: false, kind, reason };
}
