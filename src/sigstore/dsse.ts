// DSSE envelopes (github.com/secure-systems-lab/dsse, protocol v1): a payload, its type, and signatures
// over the pre-authentication encoding (PAE) of both, each with an optional key id. The key id is an
// unauthenticated hint: it only narrows which key is tried, it never makes a signature count.
import type { KeyObject } from "node:crypto";
import { InputError } from "../core/errors.ts";
import { base64Field, jsonObject } from "./encoding.ts";
import { refuse } from "./failure.ts";
import { describeKey, signData, verifyData, type SigningKey } from "./keys.ts";

export interface DsseSignature {
  keyid: string;
  sig: Buffer;
}

export interface DsseEnvelope {
  payloadType: string;
  payload: Buffer;
  signatures: DsseSignature[];
}

/** PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body, lengths in ASCII decimal bytes. */
export function preAuthEncoding(payloadType: string, payload: Buffer): Buffer {
  const type = Buffer.from(payloadType, "utf8");
  return Buffer.concat([Buffer.from(`DSSEv1 ${type.length} `), type, Buffer.from(` ${payload.length} `), payload]);
}

/** Signs `payload` with every key given; each signature carries its key id ("" when none). */
export function signEnvelope(payloadType: string, payload: Buffer, signers: { key: SigningKey; keyid?: string }[]): DsseEnvelope {
  const pae = preAuthEncoding(payloadType, payload);
  return { payloadType, payload, signatures: signers.map((s) => ({ keyid: s.keyid ?? "", sig: signData(s.key, pae) })) };
}

/** A verifier's trusted key; `keyid`, when set, must equal a signature's key id for that pair to be tried. */
export interface TrustedKey {
  key: KeyObject;
  keyid?: string;
  /** How the key is named in messages (a signer name, a file). */
  name?: string;
}

/**
 * Verifies an envelope: at least `threshold` distinct trusted keys must each have a valid signature.
 * Returns the keys that signed; throws VerificationFailure when too few did.
 */
export function verifyEnvelope(envelope: DsseEnvelope, keys: readonly TrustedKey[], threshold = 1): TrustedKey[] {
  if (keys.length === 0) refuse("signature", "no trusted key was given to verify the DSSE envelope with");
  if (envelope.signatures.length === 0) refuse("signature", "the DSSE envelope has no signatures");
  const pae = preAuthEncoding(envelope.payloadType, envelope.payload);
  const signed = keys.filter((trusted) =>
    envelope.signatures.some((s) => (!trusted.keyid || !s.keyid || s.keyid === trusted.keyid) && verifyData(trusted.key, pae, s.sig)),
  );
  if (signed.length >= threshold) return signed;
  const names = keys.map((k) => k.name ?? describeKey(k.key)).join(", ");
  refuse(
    "signature",
    threshold === 1
      ? `no signature on the DSSE envelope (payload type ${envelope.payloadType}) verifies with the trusted key${keys.length > 1 ? "s" : ""} ${names}: it was signed with another key, or altered after signing`
      : `only ${signed.length} of the ${threshold} required trusted keys signed the DSSE envelope (trusted: ${names})`,
  );
}

/** The envelope as DSSE's JSON serialization writes it. */
export function envelopeToJson(envelope: DsseEnvelope): {
  payloadType: string;
  payload: string;
  signatures: { keyid: string; sig: string }[];
} {
  return {
    payloadType: envelope.payloadType,
    payload: envelope.payload.toString("base64"),
    signatures: envelope.signatures.map((s) => ({ keyid: s.keyid, sig: s.sig.toString("base64") })),
  };
}

/** Reads a DSSE JSON envelope strictly. `where` names the file (and field) for InputError messages. */
export function parseEnvelope(value: unknown, where: string): DsseEnvelope {
  const env = jsonObject(value, where, ["payload", "payloadType", "signatures"]);
  const payloadType = env.payloadType;
  if (typeof payloadType !== "string" || payloadType === "") throw new InputError(`${where}.payloadType must be a non-empty string`);
  const payload = base64Field(env.payload, `${where}.payload`);
  if (!Array.isArray(env.signatures)) throw new InputError(`${where}.signatures must be a list`);
  const signatures = env.signatures.map((s, i) => {
    const field = `${where}.signatures[${i}]`;
    const sig = jsonObject(s, field, ["keyid", "sig"]);
    if (sig.keyid !== undefined && typeof sig.keyid !== "string") throw new InputError(`${field}.keyid must be a string`);
    const bytes = base64Field(sig.sig, `${field}.sig`);
    if (bytes.length === 0) throw new InputError(`${field}.sig is empty`);
    return { keyid: (sig.keyid as string | undefined) ?? "", sig: bytes };
  });
  return { payloadType, payload, signatures };
}
