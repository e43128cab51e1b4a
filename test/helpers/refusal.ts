// What a verification refused with: tests assert the step and reason, never only that it threw.
import { strict as assert } from "node:assert";
import { VerificationFailure } from "../../src/sigstore/failure.ts";

/** Runs `fn` and returns the VerificationFailure it throws (any other error is rethrown). */
export function refusal(fn: () => unknown): VerificationFailure {
  try {
    fn();
  } catch (e) {
    if (e instanceof VerificationFailure) return e;
    throw e;
  }
  assert.fail("expected a refusal");
}

/** The VerificationFailure `promise` rejects with (any other error is rethrown). */
export async function asyncRefusal(promise: Promise<unknown>): Promise<VerificationFailure> {
  try {
    await promise;
  } catch (e) {
    if (e instanceof VerificationFailure) return e;
    throw e;
  }
  assert.fail("expected a refusal");
}
