// Claims travel in DSSE envelopes (payload type application/vnd.in-toto+json) with exactly one signature.
// People sign approvals and withdrawals with the keys the trust policy names for them: the signature is a
// detached git-format signature over the envelope's PAE, made by the program git signs with (ssh-keygen
// -Y sign in namespace "vigil-approval", gpg, or an x509 program such as gitsign) and verified by the
// revision gate's keyring. An environment's agent signs deployment records with its key pair, as cosign
// signs DSSE envelopes, in-process, so the agent needs no signing program.
import type { KeyObject } from "node:crypto";
import { preAuthEncoding, envelopeToJson, parseEnvelope, signEnvelope, verifyEnvelope, type DsseEnvelope } from "../sigstore/dsse.ts";
import { refuse } from "../sigstore/failure.ts";
import { INTOTO_PAYLOAD_TYPE } from "../sigstore/intoto.ts";
import type { SigningKey } from "../sigstore/keys.ts";
import { signDetached, type DetachedSigner } from "../git/signatures/sign.ts";
import type { SignatureResult } from "../git/signatures/result.ts";
import { verifyGitSignature } from "../git/signatures/verify.ts";
import type { Keyring } from "../trust/keyring.ts";
import { decodeClaim, encodeClaim } from "./claims.ts";
import type { Claim } from "../api/claims.ts";

/** SSHSIG's namespace for approvals and withdrawals: a signature made for git (or anything else) never counts. */
export const APPROVAL_NAMESPACE = "vigil-approval";

export interface Opened {
  envelope: DsseEnvelope;
  /** Read before any signature is checked: verify the signature before trusting a word of it. */
  claim: Claim;
}

export function signByPerson(claim: Claim, signer: DetachedSigner): DsseEnvelope {
  const payload = encodeClaim(claim);
  const armored = signDetached(preAuthEncoding(INTOTO_PAYLOAD_TYPE, payload), signer, APPROVAL_NAMESPACE);
  return { payloadType: INTOTO_PAYLOAD_TYPE, payload, signatures: [{ keyid: "", sig: Buffer.from(armored) }] };
}

export function signByAgent(claim: Claim, key: SigningKey): DsseEnvelope {
  return signEnvelope(INTOTO_PAYLOAD_TYPE, encodeClaim(claim), [{ key }]);
}

/** The envelope as DSSE's JSON, the bytes stored in the repository. */
export function serializeEnvelope(envelope: DsseEnvelope): string {
  return JSON.stringify(envelopeToJson(envelope), null, 2) + "\n";
}

/** Reads a stored envelope and its claim. Throws (VerificationFailure or InputError) saying what is wrong. */
export function openEnvelope(stored: Buffer, where: string): Opened {
  let json: unknown;
  try {
    json = JSON.parse(stored.toString("utf8"));
  } catch {
    refuse("format", "is not a DSSE envelope (not JSON)");
  }
  const envelope = parseEnvelope(json, where);
  if (envelope.payloadType !== INTOTO_PAYLOAD_TYPE) refuse("format", `carries a ${envelope.payloadType} payload, not an in-toto statement`);
  if (envelope.signatures.length !== 1) {
    refuse(
      "signature",
      envelope.signatures.length === 0 ? "is not signed" : `carries ${envelope.signatures.length} signatures; each signer writes their own`,
    );
  }
  return { envelope, claim: decodeClaim(envelope.payload) };
}

/**
 * Who signed a person's envelope, by the policy's keyring, with the key's validity judged at `at`: a
 * trusted time (the audit log's first sighting of the claim, else now), never the time the claim gives,
 * which its signer wrote.
 */
export function verifyPersonSignature(opened: Opened, keyring: Keyring, at: Date): Promise<SignatureResult> {
  const armored = opened.envelope.signatures[0]!.sig.toString("utf8");
  const pae = preAuthEncoding(opened.envelope.payloadType, opened.envelope.payload);
  return verifyGitSignature(keyring, armored, pae, at, APPROVAL_NAMESPACE);
}

/** Throws VerificationFailure unless the agent's key signed the envelope. */
export function verifyAgentSignature(opened: Opened, key: KeyObject, name: string): void {
  verifyEnvelope(opened.envelope, [{ key, name }]);
}
