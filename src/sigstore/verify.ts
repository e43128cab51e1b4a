// Verifying a Sigstore bundle, offline, against a trusted root: the glue around @sigstore/verify, which
// checks the signature, the transparency-log entry (inclusion proof against a signed checkpoint, signed
// entry timestamp, entry body against the bundle), RFC 3161 timestamps and SCTs. Vigil adds what the
// library leaves to its caller or does differently: the trusted root is Vigil's strict parse; the Fulcio
// chain is validated by Vigil's one chain validator (src/sigstore/certificate.ts, which gitsign's
// signatures use too) at each signing time, and the library is given only the chains found there; the
// identity policy (exact or RE2 pattern, both Fulcio issuer extensions); the code-signing checks on the
// leaf; key signatures in cosign's algorithms (ECDSA P-384/P-521 hashes, RSA-PSS); the artifact's digest
// against the bundle; no log time in the future.
import { createHash, type KeyObject } from "node:crypto";
import { RE2JS } from "@bufbuild/re2";
import { X509Certificate as SigstoreCertificate, dsse as sigstoreDsse } from "@sigstore/core";
import { PolicyError, toSignedEntity, VerificationError, Verifier, type SignedEntity, type TrustMaterial } from "@sigstore/verify";
import { HashAlgorithm } from "@sigstore/protobuf-specs";
import { InputError } from "../core/errors.ts";
import { Refusal, signingCertificateIdentity, validateChain } from "./certificate.ts";
import type { Bundle } from "./bundle.ts";
import type { DsseEnvelope } from "./dsse.ts";
import { refuse } from "./failure.ts";
import { checkSubject, envelopeStatement, type Statement } from "./intoto.ts";
import { describeKey, hashForKey, verifyData } from "./keys.ts";
import type { TrustedCertificateAuthority, TrustedLogKey, TrustedRoot } from "../trust/trusted-root.ts";
import { admissionKey } from "../trust/admission-key.ts";

/** How a certificate's SAN or issuer is matched: the exact string, or an unanchored RE2 pattern as cosign's *-regexp flags. */
export type Matcher = { exact: string } | { regexp: string };

export interface CertificateIdentityPolicy {
  subject: Matcher;
  issuer: Matcher;
}

/** Who must have signed: the holder of a key, or a Fulcio certificate whose identity matches one of the policies. */
export type SignerPolicy = { key: KeyObject; name?: string } | { identities: CertificateIdentityPolicy[] };

export interface BundleVerificationOptions {
  signer: SignerPolicy;
  /** Needed for certificates, and for keys whose bundle has log entries or timestamps. */
  trustedRoot?: TrustedRoot;
  /**
   * Require a verified transparency-log entry (default true, as cosign). Key-signed bundles made offline
   * have none: pass false (cosign's --insecure-ignore-tlog); entries that are present are still verified.
   */
  requireTlog?: boolean;
  now?: Date;
}

export interface VerifiedBundle {
  /** "alice@example.com (issuer https://…)" or "ecdsa-p256 SHA256:…". */
  signer: string;
  /** The trusted key or identity that verified, in the canonical form programs compare (src/trust/admission-key.ts). */
  key: string;
  identity?: { subject: string; issuer: string };
  /** Signing times that a transparency log or a timestamp authority vouches for. */
  times: Date[];
  tlogEntries: number;
  /** For a DSSE bundle: the verified envelope. */
  envelope?: DsseEnvelope;
}

/** How far in the future a logged time may lie, for clocks that disagree a little. */
const CLOCK_SKEW_MS = 5 * 60 * 1000;

const HASH_NAMES: Partial<Record<HashAlgorithm, string>> = {
  [HashAlgorithm.SHA2_256]: "sha256",
  [HashAlgorithm.SHA2_384]: "sha384",
  [HashAlgorithm.SHA2_512]: "sha512",
};

/**
 * Verifies a bundle. For a message signature `artifact` is the signed file's bytes (required); for a DSSE
 * bundle the envelope is verified on its own and returned. Throws VerificationFailure with the reason.
 */
export function verifyBundle(bundle: Bundle, artifact: Buffer | undefined, options: BundleVerificationOptions): VerifiedBundle {
  const byKey = "key" in options.signer;
  const requireTlog = options.requireTlog ?? true;
  // What the library leaves to its caller.
  checkMaterialKind(bundle, byKey);
  checkArtifactDigest(bundle, artifact);
  checkNoRootInChain(bundle, options.trustedRoot);
  checkLogEntries(bundle, requireTlog, options.now ?? new Date());
  // The library: timestamps, the validated chain at those times and SCTs, log entries, the signature.
  const entity = withCosignSignatures(signedEntity(bundle, artifact ?? Buffer.alloc(0)), bundle, artifact);
  const chains = byKey ? [] : validatedChains(bundle, entity, options.trustedRoot);
  const verifier = new Verifier(trustMaterial(options, entity, chains), {
    tlogThreshold: requireTlog ? 1 : 0,
    ctlogThreshold: byKey ? 0 : 1,
    timestampThreshold: byKey ? 0 : 1,
  });
  try {
    verifier.verify(entity);
  } catch (e) {
    if (e instanceof VerificationError || e instanceof PolicyError) explain(e, byKey, verifiedTimes(entity).length > 0);
    // Anything else is the library tripping over content it did not expect: refused, never passed.
    refuse("bundle", `the bundle could not be verified (${(e as Error).message})`);
  }
  // Who signed.
  const signer = "key" in options.signer ? keySigner(options.signer) : certificateSigner(bundle, options.signer.identities);
  return {
    ...signer,
    times: verifiedTimes(entity),
    tlogEntries: entity.tlogEntries.length,
    envelope: bundle.content.$case === "dsseEnvelope" ? envelopeOf(bundle) : undefined,
  };
}

/**
 * A blob's bundle as cosign verify-blob and verify-blob-attestation take it: a message signature over
 * the file, or a DSSE in-toto attestation whose subjects must include the file's (or `digest`'s) digest.
 * With neither file nor digest a DSSE bundle is verified on its own, and `subjectChecked` says so.
 */
export function verifyBlobBundle(
  bundle: Bundle,
  artifact: { bytes?: Buffer; digest?: string },
  options: BundleVerificationOptions,
): VerifiedBundle & { statement?: Statement; subjectChecked: boolean } {
  const verified = verifyBundle(bundle, artifact.bytes, options);
  if (!verified.envelope) return { ...verified, subjectChecked: true };
  const statement = envelopeStatement(verified.envelope);
  const digest = artifact.bytes ? `sha256:${createHash("sha256").update(artifact.bytes).digest("hex")}` : artifact.digest;
  if (digest) checkSubject(statement, digest);
  return { ...verified, statement, subjectChecked: digest !== undefined };
}

// ---------------------------------------------------------------------------------------------------
// Before the library: what the bundle claims about the artifact and the log's clock

function checkMaterialKind(bundle: Bundle, byKey: boolean): void {
  const material = bundle.verificationMaterial.content.$case;
  if (byKey && material !== "publicKey") {
    refuse(
      "identity",
      "the bundle is signed with a Fulcio certificate, not a key: verify it with --certificate-identity and --certificate-oidc-issuer",
    );
  }
  if (!byKey && material === "publicKey") {
    refuse(
      "identity",
      "the bundle is signed with a key, not a certificate, so no identity can be checked: verify it with --key and the signer's public key",
    );
  }
}

function checkArtifactDigest(bundle: Bundle, artifact: Buffer | undefined): void {
  if (bundle.content.$case !== "messageSignature") return;
  if (!artifact) refuse("signature", "the bundle signs a file (a message signature), so the file itself is needed to verify it");
  const digest = bundle.content.messageSignature.messageDigest;
  // Without a digest (Ed25519) the signature itself covers the file's bytes.
  if (!digest) return;
  const hash = HASH_NAMES[digest.algorithm];
  if (!hash) refuse("signature", "the bundle's message digest uses an unsupported hash algorithm");
  if (!createHash(hash).update(artifact).digest().equals(digest.digest)) {
    refuse(
      "signature",
      `the file's ${hash} digest differs from the one the bundle signs: this is not the file that was signed (or it was changed)`,
    );
  }
}

function checkLogEntries(bundle: Bundle, requireTlog: boolean, now: Date): void {
  if (requireTlog && bundle.verificationMaterial.tlogEntries.length === 0) {
    refuse(
      "transparency-log",
      "the bundle has no transparency-log entry, so nothing shows the signature was made public; for a key-signed offline bundle accept that explicitly (--insecure-ignore-tlog)",
    );
  }
  for (const entry of bundle.verificationMaterial.tlogEntries) {
    const at = new Date(Number(entry.integratedTime) * 1000);
    if (at.getTime() > now.getTime() + CLOCK_SKEW_MS) {
      refuse(
        "transparency-log",
        `the transparency-log entry's integrated time ${at.toISOString()} is in the future; the entry is forged or the log's clock is wrong`,
      );
    }
  }
}

// The library reads a message signature's digest unconditionally; an Ed25519 bundle has none, so it is
// given the artifact's SHA-256, the digest a log entry for this artifact records.
function withArtifactDigest(bundle: Bundle, artifact: Buffer): Bundle {
  if (bundle.content.$case !== "messageSignature" || bundle.content.messageSignature.messageDigest) return bundle;
  const messageDigest = { algorithm: HashAlgorithm.SHA2_256, digest: createHash("sha256").update(artifact).digest() };
  return { ...bundle, content: { ...bundle.content, messageSignature: { ...bundle.content.messageSignature, messageDigest } } };
}

// Trust anchors come from the trusted root alone; a bundle that ships its own root tries to bring one.
// cosign and sigstore-js accept a chain that ends with a root byte-equal to one the trusted root holds
// (cosign's legacy chain annotation carries it): that brings nothing new, so it is accepted too.
function checkNoRootInChain(bundle: Bundle, trustedRoot: TrustedRoot | undefined): void {
  const material = bundle.verificationMaterial.content;
  if (material.$case !== "x509CertificateChain") return;
  const certificates = material.x509CertificateChain.certificates;
  for (const [i, c] of certificates.entries()) {
    let cert: SigstoreCertificate;
    try {
      cert = SigstoreCertificate.parse(Buffer.from(c.rawBytes));
    } catch (e) {
      refuse("certificate", `certificate ${i} of the bundle's chain cannot be decoded (${(e as Error).message})`);
    }
    if (cert.subject.equals(cert.issuer) && cert.verify()) {
      const isLast = i === certificates.length - 1 && i > 0;
      if (isLast && isTrustedRootCertificate(Buffer.from(c.rawBytes), trustedRoot)) continue;
      refuse(
        "certificate",
        `the bundle's certificate chain includes a self-signed root (certificate ${i}) that is not ${isLast ? "one of the trusted root's certificate authorities, byte for byte" : "at the end of the chain"}; roots are trusted only from the trusted root, so the bundle is refused`,
      );
    }
  }
}

function isTrustedRootCertificate(der: Buffer, trustedRoot: TrustedRoot | undefined): boolean {
  return (trustedRoot?.certificateAuthorities ?? []).some((ca) => ca.chain.some((c) => c.raw.equals(der)));
}

function signedEntity(bundle: Bundle, artifact: Buffer): SignedEntity {
  try {
    return toSignedEntity(withArtifactDigest(bundle, artifact), artifact);
  } catch (e) {
    refuse("certificate", `the bundle's certificate or timestamp cannot be decoded (${(e as Error).message})`);
  }
}

// The library verifies with node's defaults (SHA-256 for every ECDSA key in DSSE, PKCS#1 v1.5 for RSA);
// cosign hashes with the curve's size and may sign RSA with PSS, so signatures are checked as cosign makes them.
function withCosignSignatures(entity: SignedEntity, bundle: Bundle, artifact: Buffer | undefined): SignedEntity {
  const content = entity.signature;
  const verifySignature = (key: KeyObject): boolean => {
    if (bundle.content.$case === "dsseEnvelope") {
      const env = bundle.content.dsseEnvelope;
      return verifyData(key, sigstoreDsse.preAuthEncoding(env.payloadType, env.payload), content.signature);
    }
    const digest = bundle.content.messageSignature.messageDigest;
    const declared = digest && (HASH_NAMES[digest.algorithm] as ReturnType<typeof hashForKey>);
    const hashes = key.asymmetricKeyType === "ed25519" ? [null] : [...new Set([hashForKey(key), declared ?? hashForKey(key)])];
    return hashes.some((hash) => verifyData(key, artifact!, content.signature, hash));
  };
  return {
    ...entity,
    signature: {
      signature: content.signature,
      compareSignature: (s) => content.compareSignature(s),
      compareDigest: (d) => content.compareDigest(d),
      compareSignedDigest: (d) => content.compareSignedDigest(d),
      verifySignature,
    },
  };
}

// ---------------------------------------------------------------------------------------------------
// Trust material from Vigil's trusted root

const END_OF_TIME = new Date(8640000000000000);

type CertAuthority = TrustMaterial["certificateAuthorities"][number];

/**
 * The signing certificate's chain, validated by src/sigstore/certificate.ts at every signing time the
 * bundle's timestamps give (each of which the library then verifies: TSA signatures, signed entry
 * timestamps): the only certificate authorities the library is given, so its own path building finds
 * exactly these chains, and checks the SCTs and the signature over them. No time, no chain: the library
 * then refuses for want of a verified signing time.
 */
function validatedChains(bundle: Bundle, entity: SignedEntity, root: TrustedRoot | undefined): CertAuthority[] {
  if (!root) return [];
  const leaf = leafCertificate(bundle);
  const chains = new Map<string, CertAuthority>();
  for (const at of verifiedTimes(entity)) {
    let validated: ReturnType<typeof validateChain>;
    try {
      validated = validateChain(leaf, root, at);
    } catch (e) {
      if (!(e instanceof Refusal)) throw e;
      refuse(
        "certificate",
        `the signing certificate is not trusted at the verified signing time (${e.message}); it was issued by another Sigstore instance, or had expired when signed`,
      );
    }
    const above = validated.path.slice(1);
    chains.set(above.map((c) => c.fingerprint256).join(" "), {
      certChain: above.map((c) => SigstoreCertificate.parse(c.raw)),
      validFor: { start: validated.authority.validFor.start, end: validated.authority.validFor.end ?? END_OF_TIME },
    });
  }
  return [...chains.values()];
}

function trustMaterial(options: BundleVerificationOptions, entity: SignedEntity, chains: CertAuthority[]): TrustMaterial {
  const root = options.trustedRoot;
  const needsRoot =
    !("key" in options.signer) || entity.tlogEntries.length > 0 || entity.timestamps.length > 0 || (options.requireTlog ?? true);
  if (!root && needsRoot) {
    throw new InputError(
      "verifying this bundle needs a Sigstore trusted root (its certificate authorities, logs and timestamp authorities): pass --trusted-root FILE",
    );
  }
  const key = "key" in options.signer ? options.signer.key : undefined;
  return {
    certificateAuthorities: chains,
    timestampAuthorities: (root?.timestampAuthorities ?? []).map(certAuthority),
    tlogs: (root?.tlogs ?? []).map(logAuthority),
    ctlogs: (root?.ctlogs ?? []).map(logAuthority),
    // The bundle's key hint is unauthenticated: the key the policy names is the only one tried.
    publicKey: () => {
      if (!key) refuse("identity", "the bundle names a key, but the policy trusts certificate identities");
      return { publicKey: key, validFor: () => true };
    },
  };
}

function certAuthority(ca: TrustedCertificateAuthority) {
  return {
    certChain: ca.chain.map((c) => SigstoreCertificate.parse(Buffer.from(c.raw))),
    validFor: { start: ca.validFor.start, end: ca.validFor.end ?? END_OF_TIME },
  };
}

function logAuthority(log: TrustedLogKey) {
  return {
    logID: log.logId,
    baseURL: log.baseUrl,
    publicKey: log.publicKey,
    validFor: { start: log.validFor.start, end: log.validFor.end ?? END_OF_TIME },
  };
}

// ---------------------------------------------------------------------------------------------------
// After the library: who signed, and when

function keySigner(signer: { key: KeyObject; name?: string }): Pick<VerifiedBundle, "signer" | "key"> {
  return {
    signer: signer.name ? `${signer.name} (${describeKey(signer.key)})` : describeKey(signer.key),
    key: admissionKey.publicKey(signer.key),
  };
}

function certificateSigner(bundle: Bundle, identities: CertificateIdentityPolicy[]): Pick<VerifiedBundle, "signer" | "key" | "identity"> {
  if (identities.length === 0)
    throw new InputError("no certificate identity to verify against: give --certificate-identity and --certificate-oidc-issuer");
  let certified: { names: string[]; issuer: string };
  try {
    certified = signingCertificateIdentity(leafCertificate(bundle));
  } catch (e) {
    refuse("certificate", (e as Error).message);
  }
  for (const policy of identities) {
    const subject = certified.names.find((n) => matches(policy.subject, n));
    if (subject !== undefined && matches(policy.issuer, certified.issuer)) {
      return {
        signer: `${subject} (issuer ${certified.issuer})`,
        key: admissionKey.sigstore(subject, certified.issuer),
        identity: { subject, issuer: certified.issuer },
      };
    }
  }
  const expected = identities.map((p) => `${describeMatcher(p.subject)} from ${describeMatcher(p.issuer)}`).join("; or ");
  refuse(
    "identity",
    `the certificate was issued to ${certified.names.join(", ")} by the OIDC issuer ${certified.issuer}, but the policy expects ${expected}; ` +
      "it was signed by someone else, or the policy must name this identity",
  );
}

function leafCertificate(bundle: Bundle): Buffer {
  const material = bundle.verificationMaterial.content;
  if (material.$case === "certificate") return Buffer.from(material.certificate.rawBytes);
  if (material.$case === "x509CertificateChain") return Buffer.from(material.x509CertificateChain.certificates[0]!.rawBytes);
  refuse("identity", "the bundle carries no certificate");
}

function matches(matcher: Matcher, value: string): boolean {
  if ("exact" in matcher) return matcher.exact === value;
  return compileMatcher(matcher.regexp).test(value);
}

/** Compiles an identity pattern (Go RE2 syntax, unanchored as cosign's); InputError when it is not RE2. */
export function compileMatcher(pattern: string): RE2JS {
  try {
    return RE2JS.compile(pattern);
  } catch (e) {
    throw new InputError(`"${pattern}" is not a valid RE2 regular expression (${(e as Error).message})`);
  }
}

function describeMatcher(m: Matcher): string {
  return "exact" in m ? m.exact : `/${m.regexp}/`;
}

// A log entry's integrated time counts only when its signed entry timestamp vouches for it.
function verifiedTimes(entity: SignedEntity): Date[] {
  return entity.timestamps.flatMap((t) => {
    if (t.$case === "timestamp-authority") return [t.timestamp.signingTime];
    return t.tlogEntry.inclusionPromise ? [new Date(Number(t.tlogEntry.integratedTime) * 1000)] : [];
  });
}

function envelopeOf(bundle: Bundle): DsseEnvelope {
  if (bundle.content.$case !== "dsseEnvelope") throw new Error("not a DSSE bundle");
  const env = bundle.content.dsseEnvelope;
  return {
    payloadType: env.payloadType,
    payload: Buffer.from(env.payload),
    signatures: env.signatures.map((s) => ({ keyid: s.keyid, sig: Buffer.from(s.sig) })),
  };
}

// ---------------------------------------------------------------------------------------------------
// The library's errors, said so that a person knows what happened and what to do

/** `timed`: the bundle gives a signing time (a log entry with a signed entry timestamp, or an RFC 3161 timestamp). */
function explain(e: VerificationError | PolicyError, byKey: boolean, timed: boolean): never {
  const detail = e.cause instanceof Error ? `${e.message}: ${e.cause.message}` : e.message;
  switch (e.code) {
    case "SIGNATURE_ERROR":
      refuse(
        "signature",
        byKey
          ? "the signature does not verify with the given key: the artifact was changed after signing, or another key signed it"
          : "the signature does not verify with the certificate's key: the artifact or the bundle was changed after signing",
      );
    case "CERTIFICATE_ERROR":
      refuse(
        "certificate",
        `the signing certificate is not trusted at the verified signing time (${detail}); it was issued by another Sigstore instance, or had expired when signed`,
      );
    case "TIMESTAMP_ERROR":
      refuse(
        "timestamp",
        !timed
          ? "the bundle has no verified signing time (no transparency-log entry with a signed entry timestamp and no trusted RFC 3161 timestamp), so its certificate's validity cannot be checked"
          : `a timestamp in the bundle does not verify against the trusted root's timestamp authorities (${detail})`,
      );
    case "TLOG_BODY_ERROR":
      refuse(
        "transparency-log",
        `the transparency-log entry is not for this signature (${detail}); the bundle was assembled from different parts`,
      );
    case "TLOG_MISSING_INCLUSION_ERROR":
    case "TLOG_ERROR":
    case "TLOG_INCLUSION_PROOF_ERROR":
    case "TLOG_INCLUSION_PROMISE_ERROR":
      refuse("transparency-log", `the transparency-log entry does not verify against the trusted root's logs (${detail})`);
    case "PUBLIC_KEY_ERROR":
      refuse("signature", `the signing key cannot be used (${detail})`);
    default:
      refuse("signature", detail);
  }
}
