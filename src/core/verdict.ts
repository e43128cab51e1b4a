// The verdict every gate and every verify/check command produces (README.md, "Using it").

export type CheckStatus = "pass" | "fail" | "warn" | "skip";

export interface Check {
  gate: string;
  rule: string;
  status: CheckStatus;
  /** What the check was about: a commit id, a path, a resource, an image digest. */
  subject: string;
  /** For a failing check: what a person must do about it. */
  message: string;
  /** Where the subject is written, when it is a file (a manifest): for editors and SARIF. */
  location?: { file: string; line: number };
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

export function check(
  gate: string,
  rule: string,
  status: CheckStatus,
  subject: string,
  message: string,
): Check {
  return { gate, rule, status, subject, message };
}
