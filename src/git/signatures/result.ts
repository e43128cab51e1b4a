// What every signature verifier returns: who signed, or exactly why nobody trusted did; and the trusted
// time the keys' validity was judged at, with where that time came from (docs/trusted-time.md).
import type { CheckCode } from "../../core/verdict.ts";

export type SignatureKind = "ssh" | "openpgp" | "x509";

/**
 * Where a trusted time comes from, most trusted first: a transparency log's integrated time that the
 * signature carries and that verifies against the trusted root; the time Vigil's audit log first
 * recorded the object; the time of verification. Never a time the signer writes (committer date,
 * CMS signingTime, OpenPGP signature creation time, an approval's `at`).
 */
export type TimeSource = "transparency-log" | "first-seen" | "verification";

/** Where the time a caller gives comes from; a transparency-log time is the verifiers' own to find. */
export type CallerTimeSource = Exclude<TimeSource, "transparency-log">;

/** A time key validity is judged at, and its source. Callers give first-seen or verification. */
export interface TrustedTime {
  at: Date;
  source: TimeSource;
}

export type SignatureResult =
  | {
      ok: true;
      kind: SignatureKind;
      /** The trust policy's signer name (or allowed_signers principal) that made the signature. */
      identity: string;
      /** The key, as a person would look it up: "ssh-ed25519 SHA256:…", "openpgp 0xABCD…", a certificate SAN. */
      key: string;
      /**
       * The trusted key that verified, in the canonical form programs compare (src/trust/admission-key.ts):
       * the SSH key or certificate authority, the OpenPGP (sub)key, the certificate's identity and issuer.
       */
      canonicalKey: string;
      /** The trusted time the key (and certificate) was valid at. */
      time: Date;
      timeSource: TimeSource;
    }
  | { ok: false; kind: SignatureKind | "unknown"; reason: string; code: SignatureRefusal };

/** Why a signature was refused, as the failing check's code says it (src/api/check-codes.ts). */
export type SignatureRefusal = Extract<
  CheckCode,
  "signature-malformed" | "untrusted-key" | "signature-invalid" | "key-not-valid" | "merge-only-key" | "signature-not-trusted"
>;

export type AcceptedSignature = Extract<SignatureResult, { ok: true }>;

export function refused(kind: SignatureResult["kind"], reason: string, code: SignatureRefusal): SignatureResult {
  return { ok: false, kind, reason, code };
}

export function accepted(kind: SignatureKind, identity: string, key: string, canonicalKey: string, time: TrustedTime): AcceptedSignature {
  return { ok: true, kind, identity, key, canonicalKey, time: time.at, timeSource: time.source };
}

/** The time of verification, for callers that have no first sighting of the object. */
export function verificationTime(now: Date = new Date()): TrustedTime {
  return { at: now, source: "verification" };
}

const SOURCE_WORDS: Record<TimeSource, string> = {
  "transparency-log": "transparency-log time",
  "first-seen": "first seen in the audit log",
  verification: "time of verification",
};

/** "2026-01-02T03:04:05.000Z (first seen in the audit log)": for messages. */
export function describeTime(time: TrustedTime): string {
  return `${time.at.toISOString()} (${SOURCE_WORDS[time.source]})`;
}

/**
 * What a passing check says about an accepted signature: signer, key and the trusted time, e.g.
 * "alice (ssh-ed25519 SHA256:…; valid at 2026-01-02T03:04:05.000Z, first seen in the audit log)".
 */
export function describeSigner(result: AcceptedSignature): string {
  return `${result.identity} (${result.key}; valid at ${isoTime(result.time)}, ${SOURCE_WORDS[result.timeSource]})`;
}

// A range's commits are mostly judged at one time (the time of verification): it is written out once.
let lastTime = Number.NaN;
let lastIso = "";
function isoTime(at: Date): string {
  const t = at.getTime();
  if (t !== lastTime) {
    lastIso = at.toISOString();
    lastTime = t;
  }
  return lastIso;
}
