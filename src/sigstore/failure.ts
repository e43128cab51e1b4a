// A signature, bundle or attestation that does not verify. Library functions throw it with the reason a
// person can act on; callers turn it into a failing check (exit 1). Malformed input is an InputError
// (exit 2) instead, naming the file and field.

export class VerificationFailure extends Error {
  /** Which step refused: "signature", "identity", "transparency-log", "timestamp", "certificate", "subject", "predicate"… */
  readonly step: string;
  constructor(step: string, message: string) {
    super(message);
    this.name = "VerificationFailure";
    this.step = step;
  }
}

export function refuse(step: string, message: string): never {
  throw new VerificationFailure(step, message);
}
