// x509 (CMS) commit signatures as gitsign (Sigstore keyless) and gpgsm make them, git's gpg.format=x509:
// the gpgsig header holds "-----BEGIN SIGNED MESSAGE-----", a PEM of a detached CMS SignedData (RFC 5652).
// A signature is trusted when the CMS signature verifies, its certificate chains to a CA of the Sigstore
// trusted root at signing time, and the certificate's SAN and Fulcio OIDC issuer are a trust-policy signer.
// Certificates are judged at a trusted time: the integrated time of the Rekor entry gitsign embeds
// (verified against the root's log keys), else the time the caller gives (the audit log's first sighting
// of the commit, else now). The CMS signingTime attribute is the signer's claim and never that time.
import { X509Certificate, createHash, verify as cryptoVerify } from "node:crypto";
import * as asn1js from "asn1js";
import * as pkijs from "pkijs";
import { accepted, describeTime, refused, verificationTime, type SignatureResult, type TrustedTime } from "./result.ts";
import {
  describeRange,
  withinRange,
  type TrustedCertificateAuthority,
  type TrustedRoot,
} from "../../trust/trusted-root.ts";
import type { SigstoreIdentity } from "../../trust/keyring.ts";
import { TlogError, decodeTransparencyLogEntry, hashedRekordBody, verifyTlogEntry } from "../../sigstore/tlog.ts";

export type CertificateVerdict =
  | { ok: true; signer: string; identity: string; issuer: string; authority: TrustedCertificateAuthority }
  | { ok: false; reason: string };

const ARMOR_BEGIN = "-----BEGIN SIGNED MESSAGE-----";
const ARMOR_END = "-----END SIGNED MESSAGE-----";
// Clocks of signer, log and verifier differ a little; a time this far ahead of ours is still accepted.
const CLOCK_SKEW_MS = 5 * 60 * 1000;
// Path building is bounded: the signer chooses the certificates it carries, and may make them issue each
// other in any pattern it likes.
const MAX_CHAIN = 8; // certificates on one path below the trusted chain, the leaf included
const MAX_CARRIED = 32; // certificates one signature may carry
const MAX_PATH_STEPS = 256; // certificates tried as the next link, over all paths and CAs
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
  time: TrustedTime = verificationTime(),
): SignatureResult {
  try {
    return verifySignature(armored, message, identities, root, time);
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
  given: TrustedTime,
): SignatureResult {
  if (!root) {
    fail("x509 signatures are checked against a Sigstore trusted root, and none was given: pass --trusted-root <trusted_root.json>");
  }
  const cms = parseSignedMessage(dearmor(armored));
  checkMessageDigest(cms, message);
  checkCmsSignature(cms);
  const time = trustedTime(cms, root, given);
  const verdict = verifyCertificateIdentity(Buffer.from(cms.leaf.raw), identities, root, time.at, cms.certificates);
  if (!verdict.ok) fail(`at the trusted time ${describeTime(time)}: ${verdict.reason}`);
  return accepted("x509", verdict.signer, `x509 ${verdict.identity} (issuer ${verdict.issuer})`, time);
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
// Trusted time

/**
 * The time the certificate is judged at: a verified Rekor entry's integrated time, else `given`. The
 * signingTime attribute is only checked not to claim a time after the trusted one: a signature cannot
 * have been made after Vigil first saw it, or after now.
 */
function trustedTime(cms: SignedMessage, root: TrustedRoot, given: TrustedTime): TrustedTime {
  if (cms.rekorEntry) return { at: verifyGitsignEntry(cms, root, given.at).integratedTime, source: "transparency-log" };
  if (cms.signingTime && cms.signingTime.getTime() > given.at.getTime() + CLOCK_SKEW_MS) {
    fail(`x509 signature claims a signing time (${cms.signingTime.toISOString()}) in the future of the trusted time ${describeTime(given)}; ${RESIGN} on a host with a correct clock`);
  }
  return given;
}

// gitsign logs a hashedrekord 0.0.1 entry of (SHA-256 of the signed attributes, the CMS signature, the
// PEM certificate) and stores the entry without its body, so rebuilding the body from this signature is
// what ties the log entry to it. The entry cannot have been logged after `latest`, the trusted time the
// caller gave: the object was first seen, or is being verified, with the entry already in it.
function verifyGitsignEntry(cms: SignedMessage, root: TrustedRoot, latest: Date): { integratedTime: Date } {
  let entry;
  try {
    entry = decodeTransparencyLogEntry(cms.rekorEntry!);
  } catch (e) {
    if (e instanceof TlogError) fail(`x509 signature's ${e.message}; ${RESIGN}`);
    throw e;
  }
  if (entry.kind !== "hashedrekord" || entry.version !== "0.0.1") {
    fail(`x509 signature's Rekor entry is of kind ${entry.kind} ${entry.version}, not hashedrekord 0.0.1 as gitsign writes`);
  }
  const digest = createHash("sha256").update(cms.signedAttrs).digest();
  const body = hashedRekordBody(digest, cms.signature, cms.leaf.toString());
  if (entry.body.length > 0 && !entry.body.equals(body)) {
    fail("x509 signature's Rekor entry is for a different signature or certificate; re-sign the commit");
  }
  const verdict = verifyTlogEntry({ ...entry, body }, root, latest);
  if (!verdict.ok) fail(verdict.reason);
  return verdict;
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
  if (intermediates.length > MAX_CARRIED) fail(`the signature carries ${intermediates.length} certificates, more than the ${MAX_CARRIED} a chain needs`);
  const pool = intermediates.filter((der) => !der.equals(certDer)).map((der) => toCert(der, "a certificate in the signature"));
  const authority = chainToRoot(leaf, pool, root, at);
  checkLeafUsage(leaf);
  const { identity, issuer, signer } = matchIdentity(leaf, identities);
  return { ok: true, signer, identity, issuer, authority };
}

/**
 * What a Sigstore (Fulcio) signing certificate certifies: its email and URI SANs and its OIDC issuer
 * (both Fulcio extensions, which must agree), after checking it is a code-signing leaf with no critical
 * extension left unprocessed. For Sigstore bundles, whose chain and times @sigstore/verify checks.
 * Throws an Error with the reason.
 */
export function signingCertificateIdentity(certDer: Buffer): { names: string[]; issuer: string } {
  const leaf = toCert(certDer, "the signing certificate");
  checkLeafUsage(leaf);
  const names = subjectAltNames(leaf.pki);
  if (names.length === 0) fail("the signing certificate has no email or URI subject alternative name to identify its signer");
  return { names, issuer: oidcIssuer(leaf.pki) };
}

function toCert(der: Buffer, what: string): Cert {
  return { x509: x509(der, what), pki: parseCertificate(der) };
}

function checkValidAt(cert: Cert, at: Date, what: string): void {
  const { validFromDate: from, validToDate: to, subject } = cert.x509;
  if (at < from || at > to) {
    fail(
      `${what} (${subject.replace(/\n/g, ", ") || "no subject"}) is valid from ${from.toISOString()} to ${to.toISOString()}, ` +
        `not at ${at.toISOString()}; ${RESIGN} with a current certificate`,
    );
  }
}

// Tries every path to every CA of the root: several certificates may share an issuer's name and key (a
// cross-signed intermediate, an expired copy), and the first one found need not lead anywhere. A path
// that reaches a CA but fails its window or validity at `at` gives the most useful reasons, so those are
// the ones reported.
function chainToRoot(leaf: Cert, pool: Cert[], root: TrustedRoot, at: Date): TrustedCertificateAuthority {
  const near = new Set<string>();
  const search = new PathSearch(pool);
  for (const ca of root.certificateAuthorities) {
    for (const path of search.paths(leaf.x509, ca)) {
      try {
        checkPath(path, ca, at);
        return ca;
      } catch (e) {
        if (!(e instanceof Refusal)) throw e;
        near.add(e.message);
      }
    }
  }
  if (near.size > 0) fail([...near].slice(0, 3).join("; "));
  if (search.exhausted) fail(`the signing certificate's issuers could not be sorted out within ${MAX_PATH_STEPS} steps; sign with a plain chain`);
  fail(
    `the signing certificate (issuer ${leaf.x509.issuer.replace(/\n/g, ", ")}) does not chain to any certificate authority ` +
      `in the trusted root ${root.source}; pass the trusted root of the Sigstore instance that issued it`,
  );
}

/**
 * Walks from the leaf up through the signature's own certificates until it meets a certificate of the
 * CA's chain; from there the chain, which the trusted root vouches for, runs on to its root. Every
 * candidate issuer is followed, depth first; issuer checks (signature verifications) are remembered.
 */
class PathSearch {
  private readonly pool: X509Certificate[];
  private readonly verdicts = new Map<X509Certificate, Map<X509Certificate, boolean>>();
  private steps = 0;

  constructor(pool: Cert[]) {
    this.pool = pool.map((c) => c.x509);
  }

  get exhausted(): boolean {
    return this.steps >= MAX_PATH_STEPS;
  }

  *paths(leaf: X509Certificate, ca: TrustedCertificateAuthority): Generator<X509Certificate[]> {
    yield* this.extend([leaf], ca);
  }

  private *extend(path: X509Certificate[], ca: TrustedCertificateAuthority): Generator<X509Certificate[]> {
    const current = path[path.length - 1]!;
    for (const [k, trusted] of ca.chain.entries()) {
      if (this.issued(current, trusted)) yield [...path, ...ca.chain.slice(k)];
    }
    if (path.length >= MAX_CHAIN) return;
    for (const next of this.pool) {
      if (this.exhausted) return;
      if (path.includes(next) || !this.issued(current, next)) continue;
      this.steps++;
      yield* this.extend([...path, next], ca);
    }
  }

  private issued(child: X509Certificate, parent: X509Certificate): boolean {
    let known = this.verdicts.get(child);
    if (!known) this.verdicts.set(child, (known = new Map()));
    let verdict = known.get(parent);
    if (verdict === undefined) known.set(parent, (verdict = issuedBy(child, parent)));
    return verdict;
  }
}

function issuedBy(child: X509Certificate, parent: X509Certificate): boolean {
  return child.checkIssued(parent) && child.verify(parent.publicKey);
}

function checkPath(path: X509Certificate[], ca: TrustedCertificateAuthority, at: Date): void {
  if (!withinRange(ca.validFor, at)) {
    fail(
      `time ${at.toISOString()} is outside the validFor window (${describeRange(ca.validFor)}) of ` +
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

