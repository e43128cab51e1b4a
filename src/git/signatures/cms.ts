// The CMS (RFC 5652) detached SignedData inside an x509 git signature, "-----BEGIN SIGNED MESSAGE-----" as
// gitsign and gpgsm write it: parsed strictly (one signer, detached data, no repeated attributes) and its
// signature over the signed attributes verified with the signer's certificate. Trusting that certificate
// is src/sigstore/certificate.ts's work; x509.ts puts the two together.
import { type X509Certificate, createHash, verify as cryptoVerify } from "node:crypto";
import * as asn1js from "asn1js";
import * as pkijs from "pkijs";
import { decodeAsn1, extension, fail, octets, parseCertificate, Refusal, RESIGN, x509 } from "../../sigstore/certificate.ts";

const ARMOR_BEGIN = "-----BEGIN SIGNED MESSAGE-----";
const ARMOR_END = "-----END SIGNED MESSAGE-----";

const OID = {
  signedData: "1.2.840.113549.1.7.2",
  data: "1.2.840.113549.1.7.1",
  contentType: "1.2.840.113549.1.9.3",
  messageDigest: "1.2.840.113549.1.9.4",
  signingTime: "1.2.840.113549.1.9.5",
  rekorEntry: "1.3.6.1.4.1.57264.3.1", // gitsign: serialized dev.sigstore.rekor.v1.TransparencyLogEntry
  subjectKeyId: "2.5.29.14",
} as const;

const DIGESTS: Record<string, string> = {
  "2.16.840.1.101.3.4.2.1": "sha256",
  "2.16.840.1.101.3.4.2.2": "sha384",
  "2.16.840.1.101.3.4.2.3": "sha512",
};

// Signature algorithm → key type and hash; "digest" means the SignerInfo's digest algorithm decides.
const SIGNATURE_ALGORITHMS: Record<string, { key: string; hash: string | null }> = {
  "1.2.840.10045.4.3.2": { key: "ec", hash: "sha256" },
  "1.2.840.10045.4.3.3": { key: "ec", hash: "sha384" },
  "1.2.840.10045.4.3.4": { key: "ec", hash: "sha512" },
  "1.2.840.10045.2.1": { key: "ec", hash: "digest" },
  "1.2.840.113549.1.1.1": { key: "rsa", hash: "digest" },
  "1.2.840.113549.1.1.11": { key: "rsa", hash: "sha256" },
  "1.2.840.113549.1.1.12": { key: "rsa", hash: "sha384" },
  "1.2.840.113549.1.1.13": { key: "rsa", hash: "sha512" },
  "1.3.101.112": { key: "ed25519", hash: null },
};

export function dearmor(armored: string): Buffer {
  const text = armored.trim();
  if (!text.startsWith(ARMOR_BEGIN)) fail(`not an x509 signature (missing the ${ARMOR_BEGIN} line); ${RESIGN}`);
  const end = text.indexOf(ARMOR_END);
  if (end < 0) fail(`truncated x509 signature (missing the ${ARMOR_END} line); ${RESIGN}`);
  if (text.slice(end + ARMOR_END.length).trim() !== "") fail(`unexpected data after the x509 signature's END line; ${RESIGN}`);
  const b64 = text.slice(ARMOR_BEGIN.length, end).replace(/\s+/g, "");
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64) || b64.length % 4 !== 0) fail(`x509 signature is not valid base64; ${RESIGN}`);
  return Buffer.from(b64, "base64");
}

export interface SignedMessage {
  /** The signed attributes as they were signed: DER with the SET OF tag (RFC 5652 §5.4). */
  signedAttrs: Buffer;
  digest: string;
  signatureAlgorithm: string;
  signature: Buffer;
  leaf: X509Certificate;
  /** Every certificate the CMS carries, the leaf included. */
  certificates: Buffer[];
  messageDigest: Buffer;
  signingTime?: Date;
  /** gitsign's Rekor entry (protobuf), from the unsigned attributes. */
  rekorEntry?: Buffer;
}

export function parseSignedMessage(der: Buffer): SignedMessage {
  const asn = decodeAsn1(der, "x509 signature");
  let signed: pkijs.SignedData;
  try {
    const info = new pkijs.ContentInfo({ schema: asn });
    if (info.contentType !== OID.signedData) fail(`x509 signature is CMS ${info.contentType}, not SignedData; ${RESIGN}`);
    signed = new pkijs.SignedData({ schema: info.content });
  } catch (e) {
    if (e instanceof Refusal) throw e;
    fail(`x509 signature is not a CMS SignedData (${(e as Error).message}); ${RESIGN}`);
  }
  const content = signed.encapContentInfo;
  if (content.eContentType !== OID.data) fail(`x509 signature signs content of type ${content.eContentType}, not data; ${RESIGN}`);
  if (content.eContent !== undefined) fail(`x509 signature embeds its content; git needs a detached signature; ${RESIGN}`);
  if (signed.signerInfos.length !== 1) fail(`x509 signature has ${signed.signerInfos.length} signers, not exactly one; ${RESIGN}`);
  const certificates = certificateBytes(asn);
  return { ...signerFields(signed.signerInfos[0]!, certificates), certificates };
}

// The certificates' own bytes, not pkijs' re-encoding: certificates are compared and hashed byte for byte.
function certificateBytes(contentInfo: asn1js.AsnType): Buffer[] {
  const signedData = (contentInfo as asn1js.Sequence).valueBlock.value[1] as asn1js.Constructed;
  const fields = (signedData.valueBlock.value[0] as asn1js.Sequence).valueBlock.value;
  const set = fields.find((f) => f.idBlock.tagClass === 3 && f.idBlock.tagNumber === 0) as asn1js.Constructed | undefined;
  return (set?.valueBlock.value ?? []).map((c) => Buffer.from(c.valueBeforeDecodeView));
}

function signerFields(signer: pkijs.SignerInfo, certificates: Buffer[]): Omit<SignedMessage, "certificates"> {
  if (!signer.signedAttrs) fail(`x509 signature has no signed attributes; ${RESIGN}`);
  const digest = DIGESTS[signer.digestAlgorithm.algorithmId];
  if (!digest)
    fail(
      `x509 signature uses digest algorithm ${signer.digestAlgorithm.algorithmId}, which is not accepted (use SHA-256, SHA-384 or SHA-512); ${RESIGN}`,
    );
  const attrs = attributeMap(signer.signedAttrs.attributes, "signed");
  const contentType = single(attrs, OID.contentType, "content-type");
  if (!(contentType instanceof asn1js.ObjectIdentifier) || contentType.valueBlock.toString() !== OID.data) {
    fail(`x509 signature's content-type attribute is not data; ${RESIGN}`);
  }
  const digestValue = single(attrs, OID.messageDigest, "message-digest");
  if (!(digestValue instanceof asn1js.OctetString)) fail(`x509 signature's message-digest attribute is not an OCTET STRING; ${RESIGN}`);
  return {
    signedAttrs: Buffer.from(signer.signedAttrs.encodedValue),
    digest,
    signatureAlgorithm: signer.signatureAlgorithm.algorithmId,
    signature: Buffer.from(signer.signature.valueBlock.valueHexView),
    leaf: findSigner(signer, certificates),
    messageDigest: Buffer.from(digestValue.valueBlock.valueHexView),
    signingTime: attrs.has(OID.signingTime) ? timeValue(single(attrs, OID.signingTime, "signing-time")) : undefined,
    rekorEntry: rekorEntry(signer),
  };
}

type Attributes = Map<string, unknown[]>;

// RFC 5652 forbids repeating these attributes; a repeat of any type is refused rather than guessed at.
function attributeMap(list: pkijs.Attribute[], kind: string): Attributes {
  const map: Attributes = new Map();
  for (const attr of list) {
    if (map.has(attr.type)) fail(`x509 signature repeats the ${kind} attribute ${attr.type}; ${RESIGN}`);
    map.set(attr.type, attr.values);
  }
  return map;
}

function single(attrs: Attributes, oid: string, name: string): unknown {
  const values = attrs.get(oid);
  if (!values) fail(`x509 signature lacks the ${name} attribute; ${RESIGN}`);
  if (values.length !== 1) fail(`x509 signature's ${name} attribute has ${values.length} values, not one; ${RESIGN}`);
  return values[0];
}

function timeValue(value: unknown): Date {
  if (value instanceof asn1js.UTCTime || value instanceof asn1js.GeneralizedTime) return value.toDate();
  fail(`x509 signature's signing-time attribute is not a time; ${RESIGN}`);
}

function rekorEntry(signer: pkijs.SignerInfo): Buffer | undefined {
  if (!signer.unsignedAttrs) return undefined;
  const attrs = attributeMap(signer.unsignedAttrs.attributes, "unsigned");
  if (!attrs.has(OID.rekorEntry)) return undefined;
  const value = single(attrs, OID.rekorEntry, "Rekor transparency-log entry");
  if (!(value instanceof asn1js.OctetString)) fail(`x509 signature's Rekor entry attribute is not an OCTET STRING; ${RESIGN}`);
  return Buffer.from(value.valueBlock.valueHexView);
}

// The SignerInfo names its certificate by issuer and serial number, or by subject key identifier.
function findSigner(signer: pkijs.SignerInfo, certificates: Buffer[]): X509Certificate {
  const matches = certificates.filter((der) => {
    const cert = parseCertificate(der);
    if (signer.sid instanceof pkijs.IssuerAndSerialNumber) {
      return cert.issuer.isEqual(signer.sid.issuer) && cert.serialNumber.isEqual(signer.sid.serialNumber);
    }
    const ski = extension(cert, OID.subjectKeyId);
    const id = ski && decodeAsn1(octets(ski.extnValue), "subjectKeyIdentifier");
    return id instanceof asn1js.OctetString && Buffer.from(octets(id)).equals(subjectKeyId(signer.sid));
  });
  if (matches.length !== 1) {
    fail(`x509 signature carries ${matches.length === 0 ? "no" : "several"} certificates matching its signer; ${RESIGN}`);
  }
  return x509(matches[0]!, "the signer's certificate");
}

// pkijs hands over a subjectKeyIdentifier signer as the raw [0] IMPLICIT value (or, if some encoder
// wrapped it explicitly, a constructed [0] around an OCTET STRING).
function subjectKeyId(sid: unknown): Buffer {
  if (sid instanceof asn1js.Constructed && sid.valueBlock.value[0] instanceof asn1js.OctetString) {
    return Buffer.from(octets(sid.valueBlock.value[0]));
  }
  if (sid instanceof asn1js.Primitive) return Buffer.from(sid.valueBlock.valueHexView);
  fail(`x509 signature names its signer in an unknown form; ${RESIGN}`);
}

// ---------------------------------------------------------------------------------------------------
// The CMS signature itself

export function checkMessageDigest(cms: SignedMessage, message: Buffer): void {
  const actual = createHash(cms.digest).update(message).digest();
  if (!actual.equals(cms.messageDigest)) {
    fail("the commit does not match its x509 signature (message digest differs): it was changed after signing; re-sign it");
  }
}

export function checkCmsSignature(cms: SignedMessage): void {
  const alg = SIGNATURE_ALGORITHMS[cms.signatureAlgorithm];
  if (!alg)
    fail(
      `x509 signature uses signature algorithm ${cms.signatureAlgorithm}, which is not supported (ECDSA, RSA PKCS#1 v1.5 or Ed25519); ${RESIGN}`,
      "signature-malformed",
    );
  const key = cms.leaf.publicKey;
  if (key.asymmetricKeyType !== alg.key) {
    fail(`x509 signature algorithm ${cms.signatureAlgorithm} does not fit the certificate's ${key.asymmetricKeyType} key; ${RESIGN}`);
  }
  const hash = alg.hash === "digest" ? cms.digest : alg.hash;
  if (!cryptoVerify(hash, cms.signedAttrs, key, cms.signature)) {
    fail(`x509 signature does not verify with its certificate's key: it is corrupt or was not made with that certificate; ${RESIGN}`);
  }
}
