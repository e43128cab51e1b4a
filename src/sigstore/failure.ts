// A signature, bundle or attestation that does not verify. Library functions throw it with the reason a
// person can act on; callers turn it into a failing check (exit 1) whose code is the failure's. Malformed
// input is an InputError (exit 2) instead, naming the file and field.
import type { CheckCode } from "../core/verdict.ts";

/** The step of verification that refused, and the check code it gives unless the thrower names a narrower one. */
const STEP_CODES = {
  signature: "signature-invalid",
  identity: "identity-mismatch",
  "transparency-log": "tlog-invalid",
  timestamp: "timestamp-invalid",
  certificate: "certificate-invalid",
  bundle: "bundle-invalid",
  payload: "payload-invalid",
  subject: "subject-mismatch",
  predicate: "predicate-mismatch",
  attestation: "attestation-invalid",
  annotations: "annotation-mismatch",
  content: "signature-unreadable",
  format: "signature-unreadable",
} as const satisfies Record<string, CheckCode>;

export type VerificationStep = keyof typeof STEP_CODES;

export class VerificationFailure extends Error {
  /** Which step refused: "signature", "identity", "transparency-log", "timestamp", "certificate", "subject", "predicate"… */
  readonly step: VerificationStep;
  /** The reason as programs read it (src/api/check-codes.ts). */
  readonly code: CheckCode;
  constructor(step: VerificationStep, message: string, code: CheckCode = STEP_CODES[step]) {
    super(message);
    this.name = "VerificationFailure";
    this.step = step;
    this.code = code;
  }
}

export function refuse(step: VerificationStep, message: string): never {
  throw new VerificationFailure(step, message);
}
