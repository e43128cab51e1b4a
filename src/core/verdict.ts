// The verdict every gate and every verify/check command produces (README.md, "Using it").

export type CheckStatus = "pass" | "fail" | "warn" | "skip";

/**
 * The declared check codes, one key each. It is empty here and filled by src/api/check-codes.ts (module
 * augmentation), since core sits below api and cannot import from it; the codes live there, with the
 * other formats on the wire.
 */
// biome-ignore lint/suspicious/noEmptyInterface: filled by declaration merging in src/api/check-codes.ts
export interface CheckCodeRegistry {}

/** A declared check code (src/api/check-codes.ts, docs/verdict.md). */
export type CheckCode = keyof CheckCodeRegistry & string;

/** A check's fields, named so that a subject and a message cannot trade places unnoticed. */
export interface CheckFields {
  gate: string;
  rule: string;
  status: CheckStatus;
  /** What the check was about: a commit id, a path, a resource, an image digest. */
  subject: string;
  /** For a failing check: what a person must do about it. */
  message: string;
  /** The machine-readable reason beside the message (declared in src/api/check-codes.ts): programs read this, never the message. */
  code: CheckCode;
  /** On a passing signature check: what each accepted signature let in, for programs (the monitor's inventory, audit records). */
  admits?: Admitted[];
}

export interface Check extends CheckFields {
  /** Where the subject is written, when it is a file (a manifest): for editors and SARIF. */
  location?: { file: string; line: number };
}

/** A check as an audit record keeps it: records written before checks carried codes have none. */
export type RecordedCheck = Omit<Check, "code"> & { code?: CheckCode };

/**
 * What one accepted signature let in: a commit, or an image digest, by which signer and which key. The
 * key is in the trust policy's canonical form (src/trust/admission-key.ts), so revoking that key later
 * finds exactly what it admitted, compared by equality and never read out of a message.
 */
export interface Admitted {
  kind: "commit" | "image";
  /** The commit id, or the image digest it was pinned to. */
  subject: string;
  /** The trust policy's signer name (commits), or the image rule's signer (its name, or the key or identity). */
  signer: string;
  /** "ssh SHA256:…", "openpgp <FINGERPRINT>", "sigstore <identity> <issuer>" or "key sha256:<hex>". */
  key: string;
}

export interface VerdictSubject {
  repo?: string;
  revision?: string;
  environment?: string;
  [key: string]: string | undefined;
}

export interface Verdict {
  verdict: "pass" | "fail";
  subject: VerdictSubject;
  checks: Check[];
}

/** Fail closed: a verdict with no checks at all passes nothing. */
export function makeVerdict(subject: VerdictSubject, checks: Check[]): Verdict {
  const failed = checks.length === 0 || checks.some((c) => c.status === "fail");
  return { verdict: failed ? "fail" : "pass", subject, checks };
}

export function check({ gate, rule, status, subject, message, code, admits }: CheckFields): Check {
  return { gate, rule, status, subject, message, code, ...(admits !== undefined && { admits }) };
}
