// x509 (CMS) commit signatures as gitsign (Sigstore keyless) and gpgsm make them, git's gpg.format=x509:
// the gpgsig header holds "-----BEGIN SIGNED MESSAGE-----", a PEM of a detached CMS SignedData (RFC 5652).
// A signature is trusted when the CMS signature verifies, its certificate chains to a CA of the Sigstore
// trusted root at signing time, and the certificate's SAN and Fulcio OIDC issuer are a trust-policy signer.
// The signing time comes from the Rekor entry gitsign embeds (verified against the root's log keys), or,
// failing that, from the CMS signingTime attribute, which the signer alone vouches for; results say which.
import { X509Certificate, createHash, verify as cryptoVerify } from "node:crypto";
import * as asn1js from "asn1js";
import * as pkijs from "pkijs";
import { refused, type SignatureResult } from "./result.ts";
import {
  describeRange,
  loadTrustedRoot,
  withinRange,
  type TrustedCertificateAuthority,
  type TrustedLogKey,
  type TrustedRoot,
} from "./trusted-root.ts";

export { loadTrustedRoot };
export type { TimeRange, TrustedCertificateAuthority, TrustedLogKey, TrustedRoot } from "./trusted-root.ts";

/** One Sigstore identity a trust policy accepts. */
export interface SigstoreIdentity {
  /** The trust policy's signer name. */
  signer: string;
  /** The certificate SAN, exactly: an email address or a URI. */
  identity: string;
  /** The OIDC issuer in the certificate's Fulcio extension, exactly. */
  issuer: string;
  /** Where the policy states it, for messages. */
  source: string;
}

export type CertificateVerdict =
  | { ok: true; signer: string; identity: string; issuer: string; authority: TrustedCertificateAuthority }
  | { ok: false; reason: string };

const ARMOR_BEGIN = "-----BEGIN SIGNED MESSAGE-----";
const ARMOR_END = "-----END SIGNED MESSAGE-----";
const SIGNING_TIME_NOTE = " (signing time from the CMS signingTime attribute, no transparency-log proof)";
// Clocks of signer, log and verifier differ a little; a time this far ahead of ours is still accepted.
const CLOCK_SKEW_MS = 5 * 60 * 1000;
const MAX_CHAIN = 8;
const RESIGN = "re-sign the commit with gitsign or gpgsm";

const OID = {
  signedData: "1.2.840.113549.1.7.2",
  data: "1.2.840.113549.1.7.1",
  contentType: "1.2.840.113549.1.9.3",
  messageDigest: "1.2.840.113549.1.9.4",
  signingTime: "1.2.840.113549.1.9.5",
  rekorEntry: "1.3.6.1.4.1.57264.3.1", // gitsign: serialized dev.sigstore.rekor.v1.TransparencyLogEntry
  fulcioIssuer: "1.3.6.1.4.1.57264.1.8", // DER UTF8String
  fulcioIssuerLegacy: "1.3.6.1.4.1.57264.1.1", // the raw string, no DER wrapping
  codeSigning: "1.3.6.1.5.5.7.3.3",
  keyUsage: "2.5.29.15",
  subjectAltName: "2.5.29.17",
  basicConstraints: "2.5.29.19",
  extKeyUsage: "2.5.29.37",
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

/** Why a signature is not trusted; caught at the entry points and turned into a refusal. */
class Refusal extends Error {}

function fail(reason: string): never {
  throw new Refusal(reason);
}

// ---------------------------------------------------------------------------------------------------
// Entry point

/**
 * Verifies an x509 commit signature over `message` (the commit without its gpgsig header).
 * Never throws: a signature that is malformed, untrusted or of someone unknown is a refusal with a reason.
 */
export function verifyX509Signature(
  armored: string,
  message: Buffer,
  identities: readonly SigstoreIdentity[],
  root: TrustedRoot | undefined,
  now: Date = new Date(),
): SignatureResult {
  try {
    return verifySignature(armored, message, identities, root, now);
  } catch (e) {
    if (e instanceof Refusal) return refused("x509", e.message);
    return refused("x509", `x509 signature could not be checked (${(e as Error).message}); ${RESIGN}`);
  }
}

function verifySignature(
  armored: string,
  message: Buffer,
  identities: readonly SigstoreIdentity[],
  root: TrustedRoot | undefined,
  now: Date,
): SignatureResult {
  if (!root) {
    fail("x509 signatures are checked against a Sigstore trusted root, and none was given: pass --trusted-root <trusted_root.json>");
  }
  const cms = parseSignedMessage(dearmor(armored));
  checkMessageDigest(cms, message);
  checkCmsSignature(cms);
  const time = signingTime(cms, root, now);
  const verdict = verifyCertificateIdentity(Buffer.from(cms.leaf.raw), identities, root, time.at, cms.certificates);
  if (!verdict.ok) fail(verdict.reason);
  const note = time.fromLog ? "" : SIGNING_TIME_NOTE;
  return { ok: true, kind: "x509", identity: verdict.signer, key: `x509 ${verdict.identity} (issuer ${verdict.issuer})${note}` };
}

// ---------------------------------------------------------------------------------------------------
// Armor and CMS structure

function dearmor(armored: string): Buffer {
  const text = armored.trim();
  if (!text.startsWith(ARMOR_BEGIN)) fail(`not an x509 signature (missing the ${ARMOR_BEGIN} line); ${RESIGN}`);
  const end = text.indexOf(ARMOR_END);
  if (end < 0) fail(`truncated x509 signature (missing the ${ARMOR_END} line); ${RESIGN}`);
  if (text.slice(end + ARMOR_END.length).trim() !== "") fail(`unexpected data after the x509 signature's END line; ${RESIGN}`);
  const b64 = text.slice(ARMOR_BEGIN.length, end).replace(/\s+/g, "");
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64) || b64.length % 4 !== 0) fail(`x509 signature is not valid base64; ${RESIGN}`);
  return Buffer.from(b64, "base64");
}

interface SignedMessage {
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

/** Decodes DER/BER that must be exactly one ASN.1 value. */
function decodeAsn1(bytes: Uint8Array, what: string): asn1js.AsnType {
  const parsed = asn1js.fromBER(bytes);
  if (parsed.offset === -1 || parsed.result.error) fail(`${what} is not valid ASN.1 (${parsed.result.error}); ${RESIGN}`);
  if (parsed.offset !== bytes.byteLength) fail(`${what} has trailing bytes after its ASN.1 value; ${RESIGN}`);
  return parsed.result;
}

function parseSignedMessage(der: Buffer): SignedMessage {
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
  if (!digest) fail(`x509 signature uses digest algorithm ${signer.digestAlgorithm.algorithmId}, which is not accepted (use SHA-256, SHA-384 or SHA-512); ${RESIGN}`);
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

function parseCertificate(der: Buffer): pkijs.Certificate {
  try {
    return new pkijs.Certificate({ schema: decodeAsn1(der, "a certificate") });
  } catch (e) {
    if (e instanceof Refusal) throw e;
    fail(`x509 signature carries a malformed certificate (${(e as Error).message}); ${RESIGN}`);
  }
}

function x509(der: Buffer, what: string): X509Certificate {
  try {
    return new X509Certificate(der);
  } catch (e) {
    fail(`${what} is not a valid X.509 certificate (${(e as Error).message})`);
  }
}

// ---------------------------------------------------------------------------------------------------
// The CMS signature itself

function checkMessageDigest(cms: SignedMessage, message: Buffer): void {
  const actual = createHash(cms.digest).update(message).digest();
  if (!actual.equals(cms.messageDigest)) {
    fail("the commit does not match its x509 signature (message digest differs): it was changed after signing; re-sign it");
  }
}

function checkCmsSignature(cms: SignedMessage): void {
  const alg = SIGNATURE_ALGORITHMS[cms.signatureAlgorithm];
  if (!alg) fail(`x509 signature uses signature algorithm ${cms.signatureAlgorithm}, which is not supported (ECDSA, RSA PKCS#1 v1.5 or Ed25519); ${RESIGN}`);
  const key = cms.leaf.publicKey;
  if (key.asymmetricKeyType !== alg.key) {
    fail(`x509 signature algorithm ${cms.signatureAlgorithm} does not fit the certificate's ${key.asymmetricKeyType} key; ${RESIGN}`);
  }
  const hash = alg.hash === "digest" ? cms.digest : alg.hash;
  if (!cryptoVerify(hash, cms.signedAttrs, key, cms.signature)) {
    fail(`x509 signature does not verify with its certificate's key: it is corrupt or was not made with that certificate; ${RESIGN}`);
  }
}

// ---------------------------------------------------------------------------------------------------
// Signing time

interface SigningTime {
  at: Date;
  /** True when a transparency log vouches for the time; false when only the signer's own attribute does. */
  fromLog: boolean;
}

function signingTime(cms: SignedMessage, root: TrustedRoot, now: Date): SigningTime {
  if (cms.rekorEntry) return { at: verifyGitsignEntry(cms, root, now).integratedTime, fromLog: true };
  if (!cms.signingTime) {
    fail(`x509 signature has neither a transparency-log entry nor a signingTime attribute, so its time is unknown; ${RESIGN}`);
  }
  if (cms.signingTime.getTime() > now.getTime() + CLOCK_SKEW_MS) {
    fail(`x509 signature claims a signing time in the future (${cms.signingTime.toISOString()}); ${RESIGN} on a host with a correct clock`);
  }
  return { at: cms.signingTime, fromLog: false };
}

// gitsign logs a hashedrekord 0.0.1 entry of (SHA-256 of the signed attributes, the CMS signature, the
// PEM certificate) and stores the entry without its body, so rebuilding the body from this signature is
// what ties the log entry to it.
function verifyGitsignEntry(cms: SignedMessage, root: TrustedRoot, now: Date): { integratedTime: Date } {
  const entry = decodeTransparencyLogEntry(cms.rekorEntry!);
  if (entry.kind !== "hashedrekord" || entry.version !== "0.0.1") {
    fail(`x509 signature's Rekor entry is of kind ${entry.kind} ${entry.version}, not hashedrekord 0.0.1 as gitsign writes`);
  }
  const digest = createHash("sha256").update(cms.signedAttrs).digest();
  const body = hashedRekordBody(digest, cms.signature, cms.leaf.toString());
  if (entry.body.length > 0 && !entry.body.equals(body)) {
    fail("x509 signature's Rekor entry is for a different signature or certificate; re-sign the commit");
  }
  const verdict = verifyTlogEntry({ ...entry, body }, root, now);
  if (!verdict.ok) fail(verdict.reason);
  return verdict;
}

/** The canonical JSON body Rekor stores for a hashedrekord 0.0.1 entry (keys sorted, as RFC 8785 has it). */
export function hashedRekordBody(sha256: Buffer, signature: Buffer, certificatePem: string): Buffer {
  const pem = Buffer.from(certificatePem).toString("base64");
  return Buffer.from(
    `{"apiVersion":"0.0.1","kind":"hashedrekord","spec":{"data":{"hash":{"algorithm":"sha256","value":"${sha256.toString("hex")}"}},` +
      `"signature":{"content":"${signature.toString("base64")}","publicKey":{"content":"${pem}"}}}}`,
  );
}

// ---------------------------------------------------------------------------------------------------
// Certificate chain and identity

/**
 * Checks a signing certificate as of `at`: it chains (through `intermediates` or the root's own chain)
 * to a CA of the trusted root whose validFor window holds `at`, every certificate on the path is valid
 * at `at`, it is a code-signing leaf, and its SAN and Fulcio OIDC issuer equal one of `identities`.
 */
export function verifyCertificateIdentity(
  certDer: Buffer,
  identities: readonly SigstoreIdentity[],
  root: TrustedRoot,
  at: Date,
  intermediates: readonly Buffer[] = [],
): CertificateVerdict {
  try {
    return checkCertificate(certDer, identities, root, at, intermediates);
  } catch (e) {
    if (e instanceof Refusal) return { ok: false, reason: e.message };
    return { ok: false, reason: `certificate could not be checked (${(e as Error).message})` };
  }
}

interface Cert {
  x509: X509Certificate;
  pki: pkijs.Certificate;
}

function checkCertificate(
  certDer: Buffer,
  identities: readonly SigstoreIdentity[],
  root: TrustedRoot,
  at: Date,
  intermediates: readonly Buffer[],
): CertificateVerdict {
  const leaf = toCert(certDer, "the signing certificate");
  checkValidAt(leaf, at, "the signing certificate");
  const pool = intermediates.filter((der) => !der.equals(certDer)).map((der) => toCert(der, "a certificate in the signature"));
  const authority = chainToRoot(leaf, pool, root, at);
  checkLeafUsage(leaf);
  const { identity, issuer, signer } = matchIdentity(leaf, identities);
  return { ok: true, signer, identity, issuer, authority };
}

function toCert(der: Buffer, what: string): Cert {
  return { x509: x509(der, what), pki: parseCertificate(der) };
}

function checkValidAt(cert: Cert, at: Date, what: string): void {
  const { validFromDate: from, validToDate: to, subject } = cert.x509;
  if (at < from || at > to) {
    fail(
      `${what} (${subject || "no subject"}) is valid from ${from.toISOString()} to ${to.toISOString()}, ` +
        `but the signature was made at ${at.toISOString()}; ${RESIGN} with a current certificate`,
    );
  }
}

// Tries every CA of the root; a CA whose chain issues the certificate but whose window or validity
// does not hold at `at` gives the most useful reason, so that is the one reported.
function chainToRoot(leaf: Cert, pool: Cert[], root: TrustedRoot, at: Date): TrustedCertificateAuthority {
  const near: string[] = [];
  for (const ca of root.certificateAuthorities) {
    const path = buildPath(leaf, pool, ca);
    if (!path) continue;
    try {
      checkPath(path, ca, at);
      return ca;
    } catch (e) {
      if (!(e instanceof Refusal)) throw e;
      near.push(e.message);
    }
  }
  if (near.length > 0) fail(near.join("; "));
  fail(
    `the signing certificate (issuer ${leaf.x509.issuer.replace(/\n/g, ", ")}) does not chain to any certificate authority ` +
      `in the trusted root ${root.source}; pass the trusted root of the Sigstore instance that issued it`,
  );
}

// Walks from the leaf up through the signature's own certificates until it meets one of the CA's;
// from there the CA's chain, which the trusted root vouches for, runs on to its root.
function buildPath(leaf: Cert, pool: Cert[], ca: TrustedCertificateAuthority): X509Certificate[] | null {
  const path = [leaf.x509];
  while (path.length <= MAX_CHAIN) {
    const current = path[path.length - 1]!;
    const k = ca.chain.findIndex((c) => issuedBy(current, c));
    if (k >= 0) return [...path, ...ca.chain.slice(k)];
    const next = pool.find((c) => !path.includes(c.x509) && issuedBy(current, c.x509));
    if (!next) return null;
    path.push(next.x509);
  }
  return null;
}

function issuedBy(child: X509Certificate, parent: X509Certificate): boolean {
  return child.checkIssued(parent) && child.verify(parent.publicKey);
}

function checkPath(path: X509Certificate[], ca: TrustedCertificateAuthority, at: Date): void {
  if (!withinRange(ca.validFor, at)) {
    fail(
      `signing time ${at.toISOString()} is outside the validFor window (${describeRange(ca.validFor)}) of ` +
        `${ca.where} (${ca.uri || ca.chain[0]!.subject.replace(/\n/g, ", ")}) in the trusted root; that CA did not issue certificates then`,
    );
  }
  path.slice(1).forEach((cert, i) => {
    const issuer = { x509: cert, pki: parseCertificate(Buffer.from(cert.raw)) };
    checkValidAt(issuer, at, `issuing certificate ${cert.subject.replace(/\n/g, ", ")}`);
    checkIssuer(issuer, path.slice(1, i + 1).filter((c) => c.subject !== c.issuer).length);
  });
}

// An issuing certificate must be a CA allowed to sign certificates, with room for the CAs below it.
function checkIssuer(cert: Cert, casBelow: number): void {
  const name = cert.x509.subject.replace(/\n/g, ", ");
  rejectUnknownCritical(cert, `issuing certificate ${name}`);
  const bc = extension(cert.pki, OID.basicConstraints);
  const constraints = bc && new pkijs.BasicConstraints({ schema: decodeAsn1(octets(bc.extnValue), "basicConstraints") });
  if (!constraints?.cA) fail(`issuing certificate ${name} is not a CA (basicConstraints cA is not set)`);
  const pathLen = constraints.pathLenConstraint;
  const limit = pathLen === undefined ? Infinity : typeof pathLen === "number" ? pathLen : pathLen.valueBlock.valueDec;
  if (casBelow > limit) fail(`issuing certificate ${name} allows ${limit} CAs below it, but the chain has ${casBelow}`);
  const usage = keyUsageBits(cert.pki);
  if (usage && !(usage[0]! & 0x04)) fail(`issuing certificate ${name} lacks the keyCertSign key usage`);
}

function checkLeafUsage(leaf: Cert): void {
  rejectUnknownCritical(leaf, "the signing certificate");
  if (leaf.x509.ca) fail("the signing certificate is a CA certificate, not a signing leaf; sign with a leaf certificate");
  const usage = keyUsageBits(leaf.pki);
  if (usage && !(usage[0]! & 0x80)) fail("the signing certificate lacks the digitalSignature key usage");
  const eku = extension(leaf.pki, OID.extKeyUsage);
  const purposes = eku ? new pkijs.ExtKeyUsage({ schema: decodeAsn1(octets(eku.extnValue), "extKeyUsage") }).keyPurposes : [];
  if (!purposes.includes(OID.codeSigning)) {
    fail("the signing certificate lacks the codeSigning extended key usage; sign with a code-signing certificate (Fulcio issues them)");
  }
}

const UNDERSTOOD_CRITICAL = new Set<string>([OID.keyUsage, OID.subjectAltName, OID.basicConstraints, OID.extKeyUsage]);

// RFC 5280: a certificate with a critical extension the verifier does not process must be rejected.
function rejectUnknownCritical(cert: Cert, what: string): void {
  const unknown = (cert.pki.extensions ?? []).find((e) => e.critical && !UNDERSTOOD_CRITICAL.has(e.extnID));
  if (unknown) fail(`${what} has the critical extension ${unknown.extnID}, which this verifier does not process`);
}

function keyUsageBits(cert: pkijs.Certificate): Uint8Array | undefined {
  const ext = extension(cert, OID.keyUsage);
  if (!ext) return undefined;
  const bits = decodeAsn1(octets(ext.extnValue), "keyUsage");
  if (!(bits instanceof asn1js.BitString)) fail("a certificate's keyUsage extension is not a BIT STRING");
  const bytes = bits.valueBlock.valueHexView;
  return bytes.length > 0 ? bytes : new Uint8Array([0]);
}

function matchIdentity(leaf: Cert, identities: readonly SigstoreIdentity[]): { identity: string; issuer: string; signer: string } {
  const names = subjectAltNames(leaf.pki);
  if (names.length === 0) fail("the signing certificate has no email or URI subject alternative name to identify its signer");
  const issuer = oidcIssuer(leaf.pki);
  const match = identities.find((id) => names.includes(id.identity) && id.issuer === issuer);
  if (match) return { identity: match.identity, issuer, signer: match.signer };
  const shown = names.join(", ");
  const sameName = identities.filter((id) => names.includes(id.identity));
  if (sameName.length > 0) {
    const expected = sameName.map((id) => `${id.issuer} (signer ${id.signer}, ${id.source})`).join(", ");
    fail(`certificate for ${shown} was issued on the word of OIDC issuer ${issuer}, but the trust policy expects ${expected}`);
  }
  fail(`certificate identity ${shown} (issuer ${issuer}) is not a trusted signer; add it to a signer's sigstore identities in the trust policy if it should be trusted`);
}

function subjectAltNames(cert: pkijs.Certificate): string[] {
  const ext = extension(cert, OID.subjectAltName);
  if (!ext) return [];
  const names = new pkijs.GeneralNames({ schema: decodeAsn1(octets(ext.extnValue), "subjectAltName") }).names;
  // rfc822Name (1) and uniformResourceIdentifier (6): the forms Fulcio certifies identities in.
  return names.filter((n) => n.type === 1 || n.type === 6).map((n) => String(n.value));
}

// Fulcio records the OIDC issuer as a DER UTF8String (…57264.1.8); its older extension (…57264.1.1)
// holds the bare string. If both are present they must agree, so neither can smuggle in another issuer.
function oidcIssuer(cert: pkijs.Certificate): string {
  const current = extension(cert, OID.fulcioIssuer);
  const legacy = extension(cert, OID.fulcioIssuerLegacy);
  const legacyValue = legacy && Buffer.from(octets(legacy.extnValue)).toString("utf8");
  if (!current) {
    if (legacyValue === undefined) fail("the signing certificate has no Fulcio OIDC issuer extension (1.3.6.1.4.1.57264.1.8)");
    return legacyValue;
  }
  const value = decodeAsn1(octets(current.extnValue), "the Fulcio OIDC issuer extension");
  if (!(value instanceof asn1js.Utf8String)) fail("the signing certificate's Fulcio OIDC issuer extension is not a UTF8String");
  const issuer = value.valueBlock.value;
  if (legacyValue !== undefined && legacyValue !== issuer) {
    fail(`the signing certificate names two different OIDC issuers (${issuer} and ${legacyValue})`);
  }
  return issuer;
}

function extension(cert: pkijs.Certificate, oid: string): pkijs.Extension | undefined {
  const found = (cert.extensions ?? []).filter((e) => e.extnID === oid);
  if (found.length > 1) fail(`a certificate repeats the extension ${oid}`);
  return found[0];
}

function octets(value: asn1js.OctetString): Uint8Array {
  return value.valueBlock.valueHexView;
}

// ---------------------------------------------------------------------------------------------------
// Rekor (v1) transparency-log entries

/** A Rekor entry, the fields of protobuf-specs' TransparencyLogEntry this verifier uses. */
export interface TlogEntry {
  logIndex: bigint;
  logId: Buffer;
  kind: string;
  version: string;
  integratedTime: bigint;
  /** The signed entry timestamp (inclusion promise), if any. */
  signedEntryTimestamp?: Buffer;
  inclusionProof?: InclusionProof;
  /** The canonicalized entry body. */
  body: Buffer;
}

export interface InclusionProof {
  logIndex: bigint;
  rootHash: Buffer;
  treeSize: bigint;
  hashes: Buffer[];
  checkpoint: string;
}

export type TlogVerdict = { ok: true; integratedTime: Date; log: TrustedLogKey } | { ok: false; reason: string };

/**
 * Verifies a Rekor v1 entry against the trusted root's log keys: the signed entry timestamp (which is
 * what vouches for the integrated time) and, when present, the inclusion proof and its signed checkpoint.
 */
export function verifyTlogEntry(entry: TlogEntry, root: TrustedRoot, now: Date = new Date()): TlogVerdict {
  try {
    const log = findLog(entry, root);
    const integratedTime = checkIntegratedTime(entry, log, now);
    checkSignedEntryTimestamp(entry, log);
    if (entry.inclusionProof) checkInclusion(entry.body, entry.inclusionProof, log);
    return { ok: true, integratedTime, log };
  } catch (e) {
    if (e instanceof Refusal) return { ok: false, reason: e.message };
    return { ok: false, reason: `transparency-log entry could not be checked (${(e as Error).message})` };
  }
}

function findLog(entry: TlogEntry, root: TrustedRoot): TrustedLogKey {
  const log = root.tlogs.find((t) => t.logId.equals(entry.logId));
  if (!log) {
    fail(`the transparency log ${entry.logId.toString("hex")} is not in the trusted root ${root.source}; pass the trusted root of the Sigstore instance that logged the signature`);
  }
  return log;
}

function checkIntegratedTime(entry: TlogEntry, log: TrustedLogKey, now: Date): Date {
  if (entry.logIndex < 0n || entry.integratedTime <= 0n) fail("the transparency-log entry has a negative index or no integrated time");
  const at = new Date(Number(entry.integratedTime) * 1000);
  if (at.getTime() > now.getTime() + CLOCK_SKEW_MS) fail(`the transparency-log entry's integrated time ${at.toISOString()} is in the future`);
  if (!withinRange(log.validFor, at)) {
    fail(`the transparency-log entry's integrated time ${at.toISOString()} is outside the validFor window (${describeRange(log.validFor)}) of ${log.where} in the trusted root`);
  }
  return at;
}

// Rekor signs the canonical JSON of body, integrated time, log id and index (keys in sorted order).
function checkSignedEntryTimestamp(entry: TlogEntry, log: TrustedLogKey): void {
  if (!entry.signedEntryTimestamp) fail("the transparency-log entry has no signed entry timestamp to vouch for its time");
  const payload =
    `{"body":"${entry.body.toString("base64")}","integratedTime":${entry.integratedTime},` +
    `"logID":"${entry.logId.toString("hex")}","logIndex":${entry.logIndex}}`;
  if (!logSignatureValid(log, Buffer.from(payload), entry.signedEntryTimestamp)) {
    fail(`the transparency-log entry's signed entry timestamp does not verify with the key of ${log.where} (${log.baseUrl}); the entry was altered or forged`);
  }
}

function logSignatureValid(log: TrustedLogKey, data: Buffer, signature: Buffer): boolean {
  const hash = /_SHA_?(256|384|512)$/.exec(log.keyDetails)?.[1];
  const algorithm = log.publicKey.asymmetricKeyType === "ed25519" ? null : `sha${hash ?? "256"}`;
  try {
    return cryptoVerify(algorithm, data, log.publicKey, signature);
  } catch {
    return false;
  }
}

// RFC 9162 §2.1.3.2: fold the audit path into the leaf hash and compare with the root.
function checkInclusion(body: Buffer, proof: InclusionProof, log: TrustedLogKey): void {
  if (proof.logIndex < 0n || proof.logIndex >= proof.treeSize) fail("the inclusion proof's index lies outside its tree");
  let fn = proof.logIndex;
  let sn = proof.treeSize - 1n;
  let hash = sha256(Buffer.from([0]), body);
  for (const sibling of proof.hashes) {
    if (sn === 0n) fail("the inclusion proof has more hashes than its tree needs");
    if (fn & 1n || fn === sn) {
      hash = sha256(Buffer.from([1]), sibling, hash);
      while (!(fn & 1n) && fn !== 0n) [fn, sn] = [fn >> 1n, sn >> 1n];
    } else {
      hash = sha256(Buffer.from([1]), hash, sibling);
    }
    [fn, sn] = [fn >> 1n, sn >> 1n];
  }
  if (sn !== 0n || !hash.equals(proof.rootHash)) fail("the transparency-log inclusion proof does not lead to its root hash; the entry is not proven to be in the log");
  checkCheckpoint(proof, log);
}

function sha256(...parts: Buffer[]): Buffer {
  const h = createHash("sha256");
  for (const p of parts) h.update(p);
  return h.digest();
}

// A checkpoint is a signed note (origin, tree size, base64 root hash, optional lines, a blank line, then
// "— name base64(key hint ‖ signature)" lines). The log's own line must verify and name this tree.
function checkCheckpoint(proof: InclusionProof, log: TrustedLogKey): void {
  const text = proof.checkpoint;
  const split = text.indexOf("\n\n");
  if (split < 0) fail("the inclusion proof's checkpoint is not a signed note");
  const note = text.slice(0, split + 1);
  const [, size, rootHash] = note.split("\n");
  if (size !== proof.treeSize.toString() || rootHash !== proof.rootHash.toString("base64")) {
    fail("the inclusion proof's checkpoint is for a different tree than the proof");
  }
  const hint = log.logId.subarray(0, 4);
  const signed = text
    .slice(split + 2)
    .split("\n")
    .map((line) => /^\u2014 \S+ ([A-Za-z0-9+/=]+)$/.exec(line)?.[1])
    .map((b64) => (b64 ? Buffer.from(b64, "base64") : undefined))
    .some((sig) => sig && sig.length > 4 && sig.subarray(0, 4).equals(hint) && logSignatureValid(log, Buffer.from(note), sig.subarray(4)));
  if (!signed) fail(`the inclusion proof's checkpoint carries no valid signature of ${log.where} (${log.baseUrl})`);
}

// ---------------------------------------------------------------------------------------------------
// Protobuf: just enough to read a TransparencyLogEntry

type Fields = Map<number, (bigint | Buffer)[]>;

function protoFields(buf: Buffer): Fields {
  const fields: Fields = new Map();
  let pos = 0;
  const varint = (): bigint => {
    let value = 0n;
    for (let shift = 0n; shift < 70n; shift += 7n) {
      if (pos >= buf.length) throw new Error("truncated varint");
      const byte = buf[pos++]!;
      value |= BigInt(byte & 0x7f) << shift;
      if (!(byte & 0x80)) return BigInt.asIntN(64, value);
    }
    throw new Error("varint too long");
  };
  const bytes = (n: number): Buffer => {
    if (n < 0 || pos + n > buf.length) throw new Error("truncated field");
    return buf.subarray(pos, (pos += n));
  };
  while (pos < buf.length) {
    const key = varint();
    const [field, wire] = [Number(key >> 3n), Number(key & 7n)];
    const value = wire === 0 ? varint() : wire === 2 ? bytes(Number(varint())) : wire === 1 ? bytes(8) : wire === 5 ? bytes(4) : null;
    if (value === null || field === 0) throw new Error(`unsupported protobuf wire type ${wire}`);
    fields.set(field, [...(fields.get(field) ?? []), value]);
  }
  return fields;
}

function protoOne(fields: Fields, n: number): bigint | Buffer | undefined {
  const values = fields.get(n) ?? [];
  if (values.length > 1) throw new Error(`field ${n} repeated`);
  return values[0];
}

function protoInt(fields: Fields, n: number): bigint {
  const v = protoOne(fields, n) ?? 0n;
  if (typeof v !== "bigint") throw new Error(`field ${n} is not an integer`);
  return v;
}

function protoBytes(fields: Fields, n: number): Buffer {
  const v = protoOne(fields, n) ?? Buffer.alloc(0);
  if (typeof v === "bigint") throw new Error(`field ${n} is not length-delimited`);
  return v;
}

function protoMessage(fields: Fields, n: number): Fields | undefined {
  return fields.has(n) ? protoFields(protoBytes(fields, n)) : undefined;
}

function decodeTransparencyLogEntry(bytes: Buffer): TlogEntry {
  try {
    const f = protoFields(bytes);
    const kind = protoMessage(f, 3) ?? new Map();
    const promise = protoMessage(f, 5);
    const proof = protoMessage(f, 6);
    return {
      logIndex: protoInt(f, 1),
      logId: protoBytes(protoMessage(f, 2) ?? new Map(), 1),
      kind: protoBytes(kind, 1).toString("utf8"),
      version: protoBytes(kind, 2).toString("utf8"),
      integratedTime: protoInt(f, 4),
      signedEntryTimestamp: promise && protoBytes(promise, 1),
      inclusionProof: proof && decodeInclusionProof(proof),
      body: protoBytes(f, 7),
    };
  } catch (e) {
    fail(`x509 signature's Rekor entry attribute is not a TransparencyLogEntry (${(e as Error).message}); ${RESIGN}`);
  }
}

function decodeInclusionProof(f: Fields): InclusionProof {
  return {
    logIndex: protoInt(f, 1),
    rootHash: protoBytes(f, 2),
    treeSize: protoInt(f, 3),
    hashes: (f.get(4) ?? []).map((h) => {
      if (typeof h === "bigint") throw new Error("inclusion hash is not bytes");
      return h;
    }),
    checkpoint: protoBytes(protoMessage(f, 5) ?? new Map(), 1).toString("utf8"),
  };
}
