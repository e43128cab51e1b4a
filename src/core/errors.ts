// Errors carry the exit code README.md fixes for them, so the CLI never has to guess.

export const ExitCode = {
  ok: 0,
  blocked: 1,
  badInput: 2,
  unavailable: 3,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

export class VigilError extends Error {
  readonly exitCode: ExitCode;
  constructor(message: string, exitCode: ExitCode, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.exitCode = exitCode;
  }
}

/** Bad input or usage: the message names the file, line or field. Exit 2. */
export class InputError extends VigilError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, ExitCode.badInput, options);
  }
}

/** A dependency (git remote, registry, cluster, database) was unavailable. Exit 3. */
export class UnavailableError extends VigilError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, ExitCode.unavailable, options);
  }
}
