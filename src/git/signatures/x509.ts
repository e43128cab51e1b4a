// x509 (CMS) commit signatures as gitsign (Sigstore keyless) and gpgsm make them, git's gpg.format=x509:
// the gpgsig header holds "-----BEGIN SIGNED MESSAGE-----", a PEM of a detached CMS SignedData (RFC 5652).
// A signature is trusted when the CMS signature verifies, its certificate chains to a CA of the Sigstore
// trusted root at signing time, and the certificate's SAN and Fulcio OIDC issuer are a trust-policy signer.
// Certificates are judged at a trusted time: the integrated time of the Rekor entry gitsign embeds
// (verified against the root's log keys), else the time the caller gives (the audit log's first sighting
// of the commit, else now). The CMS signingTime attribute is the signer's claim and never that time.
import { createHash } from "node:crypto";
import { accepted, describeTime, refused, verificationTime, type SignatureResult, type TrustedTime } from "./result.ts";
import type { TrustedRoot } from "../../trust/trusted-root.ts";
import type { SigstoreIdentity } from "../../trust/keyring.ts";
import { admissionKey } from "../../trust/admission-key.ts";
import { TlogError, decodeTransparencyLogEntry, hashedRekordBody, verifyTlogEntry } from "../../sigstore/tlog.ts";
import { fail, Refusal, RESIGN, verifyCertificateIdentity, type RefusalCode } from "../../sigstore/certificate.ts";
import { checkCmsSignature, checkMessageDigest, dearmor, parseSignedMessage, type SignedMessage } from "./cms.ts";

// Clocks of signer, log and verifier differ a little; a time this far ahead of ours is still accepted.
const CLOCK_SKEW_MS = 5 * 60 * 1000;

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
    if (e instanceof Refusal) return refused("x509", e.message, e.code ?? "signature-not-trusted");
    return refused("x509", `x509 signature could not be checked (${(e as Error).message}); ${RESIGN}`, "signature-malformed");
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
  const cms = coded("signature-malformed", () => parseSignedMessage(dearmor(armored)));
  coded("signature-invalid", () => {
    checkMessageDigest(cms, message);
    checkCmsSignature(cms);
  });
  const time = trustedTime(cms, root, given);
  const verdict = verifyCertificateIdentity(Buffer.from(cms.leaf.raw), identities, root, time.at, cms.certificates);
  if (!verdict.ok) fail(`at the trusted time ${describeTime(time)}: ${verdict.reason}`, verdict.code);
  const key = admissionKey.sigstore(verdict.identity, verdict.issuer);
  return accepted("x509", verdict.signer, `x509 ${verdict.identity} (issuer ${verdict.issuer})`, key, time);
}

/** Runs one step of the check; its refusals that name no reason code get the step's. */
function coded<T>(code: RefusalCode, step: () => T): T {
  try {
    return step();
  } catch (e) {
    if (e instanceof Refusal && !e.code) throw new Refusal(e.message, code);
    throw e;
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
    fail(
      `x509 signature claims a signing time (${cms.signingTime.toISOString()}) in the future of the trusted time ${describeTime(given)}; ${RESIGN} on a host with a correct clock`,
    );
  }
  return given;
}

// gitsign logs a hashedrekord 0.0.1 entry of (SHA-256 of the signed attributes, the CMS signature, the
// PEM certificate) and stores the entry without its body, so rebuilding the body from this signature is
// what ties the log entry to it. The entry cannot have been logged after `latest`, the trusted time the
// caller gave: the object was first seen, or is being verified, with the entry already in it.
function verifyGitsignEntry(cms: SignedMessage, root: TrustedRoot, latest: Date): { integratedTime: Date } {
  let entry: ReturnType<typeof decodeTransparencyLogEntry>;
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
