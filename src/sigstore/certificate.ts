// Sigstore (Fulcio) signing certificates, checked one way for every signature that carries one: the chain
// from the leaf (through the certificates a signature carries) to a CA of the trusted root is validated
// here, with path building bounded against a signer who makes its certificates issue each other in any
// pattern, for gitsign's x509 commit signatures (src/git/signatures/x509.ts) and for Sigstore bundles
// (src/sigstore/verify.ts, which then gives @sigstore/verify only the chain validated here); the leaf's
// identity is read here for both. Also the DER helpers the CMS parser shares.
import { X509Certificate } from "node:crypto";
import * as asn1js from "asn1js";
import * as pkijs from "pkijs";
import type { SigstoreIdentity } from "../trust/keyring.ts";
import { describeRange, withinRange, type TrustedCertificateAuthority, type TrustedRoot } from "../trust/trusted-root.ts";

export type CertificateVerdict =
  | { ok: true; signer: string; identity: string; issuer: string; authority: TrustedCertificateAuthority }
  | { ok: false; reason: string; code?: RefusalCode };

// Path building is bounded: the signer chooses the certificates it carries, and may make them issue each
// other in any pattern it likes.
const MAX_CHAIN = 8; // certificates on one path below the trusted chain, the leaf included
const MAX_CARRIED = 32; // certificates one signature may carry
const MAX_PATH_STEPS = 256; // certificates tried as the next link, over all paths and CAs
export const RESIGN = "re-sign the commit with gitsign or gpgsm";

const OID = {
  fulcioIssuer: "1.3.6.1.4.1.57264.1.8", // DER UTF8String
  fulcioIssuerLegacy: "1.3.6.1.4.1.57264.1.1", // the raw string, no DER wrapping
  codeSigning: "1.3.6.1.5.5.7.3.3",
  keyUsage: "2.5.29.15",
  subjectAltName: "2.5.29.17",
  basicConstraints: "2.5.29.19",
  extKeyUsage: "2.5.29.37",
} as const;

/**
 * Why a certificate or signature is refused, as a failing check's code names it (docs/verdict.md); a
 * refusal without one is an x509 chain, log entry or identity that does not verify: signature-not-trusted.
 */
export type RefusalCode = "signature-malformed" | "untrusted-key" | "signature-invalid" | "key-not-valid";

/** Why a signature is not trusted; caught at the entry points and turned into a refusal. */
export class Refusal extends Error {
  readonly code: RefusalCode | undefined;
  constructor(message: string, code?: RefusalCode) {
    super(message);
    this.code = code;
  }
}

export function fail(reason: string, code?: RefusalCode): never {
  throw new Refusal(reason, code);
}

/** Decodes DER/BER that must be exactly one ASN.1 value. */
export function decodeAsn1(bytes: Uint8Array, what: string): asn1js.AsnType {
  const parsed = asn1js.fromBER(bytes);
  if (parsed.offset === -1 || parsed.result.error)
    fail(`${what} is not valid ASN.1 (${parsed.result.error}); ${RESIGN}`, "signature-malformed");
  if (parsed.offset !== bytes.byteLength) fail(`${what} has trailing bytes after its ASN.1 value; ${RESIGN}`, "signature-malformed");
  return parsed.result;
}

export function parseCertificate(der: Buffer): pkijs.Certificate {
  try {
    return new pkijs.Certificate({ schema: decodeAsn1(der, "a certificate") });
  } catch (e) {
    if (e instanceof Refusal) throw e;
    fail(`x509 signature carries a malformed certificate (${(e as Error).message}); ${RESIGN}`, "signature-malformed");
  }
}

export function x509(der: Buffer, what: string): X509Certificate {
  try {
    return new X509Certificate(der);
  } catch (e) {
    fail(`${what} is not a valid X.509 certificate (${(e as Error).message})`, "signature-malformed");
  }
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
    if (e instanceof Refusal) return { ok: false, reason: e.message, ...(e.code && { code: e.code }) };
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
  const { authority } = chainOf(leaf, root, at, intermediates, `${RESIGN} with a current certificate`);
  checkLeafUsage(leaf);
  const { identity, issuer, signer } = matchIdentity(leaf, identities);
  return { ok: true, signer, identity, issuer, authority };
}

/**
 * What a Sigstore (Fulcio) signing certificate certifies: its email and URI SANs and its OIDC issuer
 * (both Fulcio extensions, which must agree), after checking it is a code-signing leaf with no critical
 * extension left unprocessed. For Sigstore bundles, whose chain validateChain checks at each verified time.
 * Throws an Error with the reason.
 */
export function signingCertificateIdentity(certDer: Buffer): { names: string[]; issuer: string } {
  const leaf = toCert(certDer, "the signing certificate");
  checkLeafUsage(leaf);
  const names = subjectAltNames(leaf.pki);
  if (names.length === 0) fail("the signing certificate has no email or URI subject alternative name to identify its signer");
  return { names, issuer: oidcIssuer(leaf.pki) };
}

/** A signing certificate's path to a CA of the trusted root, and that CA. */
export interface ValidatedChain {
  authority: TrustedCertificateAuthority;
  /** The leaf first, then each issuer up to the root of the CA's chain. */
  path: X509Certificate[];
}

/**
 * Validates the chain of a signing certificate at `at`: the leaf is valid then, and it chains (through
 * `intermediates`, the certificates the signature carries, or the CA's own chain) to a CA of the trusted
 * root whose validFor window holds `at`, every issuer on the path valid then, a CA allowed to sign
 * certificates with room for the CAs below it. Throws Refusal with the reason.
 */
export function validateChain(certDer: Buffer, root: TrustedRoot, at: Date, intermediates: readonly Buffer[] = []): ValidatedChain {
  return chainOf(toCert(certDer, "the signing certificate"), root, at, intermediates);
}

/** `remedy`: what the signer can do about a certificate not valid at `at`, where there is something to say. */
function chainOf(leaf: Cert, root: TrustedRoot, at: Date, intermediates: readonly Buffer[], remedy?: string): ValidatedChain {
  checkValidAt(leaf, at, "the signing certificate", remedy);
  if (intermediates.length > MAX_CARRIED)
    fail(`the signature carries ${intermediates.length} certificates, more than the ${MAX_CARRIED} a chain needs`);
  const pool = intermediates.filter((der) => !der.equals(leaf.x509.raw)).map((der) => toCert(der, "a certificate in the signature"));
  return chainToRoot(leaf, pool, root, at, remedy);
}

function toCert(der: Buffer, what: string): Cert {
  return { x509: x509(der, what), pki: parseCertificate(der) };
}

function checkValidAt(cert: Cert, at: Date, what: string, remedy: string | undefined): void {
  const { validFromDate: from, validToDate: to, subject } = cert.x509;
  if (at < from || at > to) {
    fail(
      `${what} (${(subject ?? "").replace(/\n/g, ", ") || "no subject"}) is valid from ${from.toISOString()} to ${to.toISOString()}, ` +
        `not at ${at.toISOString()}${remedy ? `; ${remedy}` : ""}`,
      "key-not-valid",
    );
  }
}

// Tries every path to every CA of the root: several certificates may share an issuer's name and key (a
// cross-signed intermediate, an expired copy), and the first one found need not lead anywhere. A path
// that reaches a CA but fails its window or validity at `at` gives the most useful reasons, so those are
// the ones reported.
function chainToRoot(leaf: Cert, pool: Cert[], root: TrustedRoot, at: Date, remedy: string | undefined): ValidatedChain {
  // What each path that reached a CA failed on, and its code: not valid then, or not a proper chain.
  const near = new Map<string, RefusalCode | undefined>();
  const search = new PathSearch(pool);
  for (const ca of root.certificateAuthorities) {
    for (const path of search.paths(leaf.x509, ca)) {
      try {
        checkPath(path, ca, at, remedy);
        return { authority: ca, path };
      } catch (e) {
        if (!(e instanceof Refusal)) throw e;
        near.set(e.message, e.code);
      }
    }
  }
  if (near.size > 0) {
    const codes = [...near.values()];
    fail([...near.keys()].slice(0, 3).join("; "), codes.every((c) => c === "key-not-valid") ? "key-not-valid" : "untrusted-key");
  }
  if (search.exhausted)
    fail(`the signing certificate's issuers could not be sorted out within ${MAX_PATH_STEPS} steps; sign with a plain chain`);
  fail(
    `the signing certificate (issuer ${leaf.x509.issuer.replace(/\n/g, ", ")}) does not chain to any certificate authority ` +
      `in the trusted root ${root.source}; pass the trusted root of the Sigstore instance that issued it`,
    "untrusted-key",
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

function checkPath(path: X509Certificate[], ca: TrustedCertificateAuthority, at: Date, remedy: string | undefined): void {
  if (!withinRange(ca.validFor, at)) {
    fail(
      `time ${at.toISOString()} is outside the validFor window (${describeRange(ca.validFor)}) of ` +
        `${ca.where} (${ca.uri || ca.chain[0]!.subject.replace(/\n/g, ", ")}) in the trusted root; that CA did not issue certificates then`,
      "key-not-valid",
    );
  }
  path.slice(1).forEach((cert, i) => {
    const issuer = { x509: cert, pki: parsedIssuer(cert) };
    checkValidAt(issuer, at, `issuing certificate ${cert.subject.replace(/\n/g, ", ")}`, remedy);
    checkIssuer(issuer, path.slice(1, i + 1).filter((c) => c.subject !== c.issuer).length);
  });
}

// The trusted root's certificates are the issuers of every chain: each is decoded once per process.
const parsedIssuers = new WeakMap<X509Certificate, pkijs.Certificate>();
function parsedIssuer(cert: X509Certificate): pkijs.Certificate {
  let parsed = parsedIssuers.get(cert);
  if (!parsed) parsedIssuers.set(cert, (parsed = parseCertificate(Buffer.from(cert.raw))));
  return parsed;
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
    fail(
      `certificate for ${shown} was issued on the word of OIDC issuer ${issuer}, but the trust policy expects ${expected}`,
      "untrusted-key",
    );
  }
  fail(
    `certificate identity ${shown} (issuer ${issuer}) is not a trusted signer; add it to a signer's sigstore identities in the trust policy if it should be trusted`,
    "untrusted-key",
  );
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

export function extension(cert: pkijs.Certificate, oid: string): pkijs.Extension | undefined {
  const found = (cert.extensions ?? []).filter((e) => e.extnID === oid);
  if (found.length > 1) fail(`a certificate repeats the extension ${oid}`);
  return found[0];
}

export function octets(value: asn1js.OctetString): Uint8Array {
  return value.valueBlock.valueHexView;
}
