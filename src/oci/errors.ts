// Errors of the OCI layer. Content that is not what it claims (a digest that does not match, a
// manifest of the wrong type) is a verification failure: exit 1, blocked. A registry that cannot be
// reached, refuses us or misbehaves (timeouts, redirect loops, oversized answers) is unavailable: exit 3.
import { ExitCode, UnavailableError, VigilError } from "../core/errors.ts";

/** Content that failed verification: wrong digest, unknown or mismatched media type, malformed manifest. */
export class OciContentError extends VigilError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, ExitCode.blocked, options);
  }
}

/** A registry (or local source) that could not give us what we asked for. */
export class RegistryError extends UnavailableError {
  /** The HTTP status, when the registry answered. */
  readonly status: number | undefined;
  /** The distribution error code from the body (MANIFEST_UNKNOWN, DENIED…), when there was one. */
  readonly code: string | undefined;
  constructor(message: string, details: { status?: number; code?: string; cause?: unknown } = {}) {
    super(message, { cause: details.cause });
    this.status = details.status;
    this.code = details.code;
  }
}

export function isNotFound(e: unknown): boolean {
  return e instanceof RegistryError && e.status === 404;
}
