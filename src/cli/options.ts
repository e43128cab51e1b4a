// Options several commands share, read one way: whole numbers, choices, and the Sigstore trusted root.
import { InputError } from "../core/errors.ts";
import { loadTrustedRootFile, type TrustedRoot } from "../trust/trusted-root.ts";

interface IntegerRules {
  /** The smallest value accepted (default 0). */
  min?: number;
  /** What the number counts, for the message ("threads"). */
  unit?: string;
}

/**
 * A whole-number option (`--jobs 4`): decimal digits only (no sign, exponent, hex or spaces), at least
 * `min`, within what a number holds exactly. Undefined when the option was not given.
 */
export function integerOption(text: string, option: string, rules?: IntegerRules): number;
export function integerOption(text: string | undefined, option: string, rules?: IntegerRules): number | undefined;
export function integerOption(text: string | undefined, option: string, { min = 0, unit }: IntegerRules = {}): number | undefined {
  if (text === undefined) return undefined;
  const n = /^(0|[1-9][0-9]{0,15})$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < min) {
    throw new InputError(`${option} must be a whole number${unit ? ` of ${unit}` : ""}, ${min} or more (got "${text}")`);
  }
  return n;
}

/** Whether an option's value is one of `choices`: narrows it to their type, with no cast (the caller says what else to do). */
export function isOneOf<T extends string>(value: string, choices: readonly T[]): value is T {
  return (choices as readonly string[]).includes(value);
}

/** The Sigstore trusted root `--trusted-root FILE` names, if given. */
export function trustedRootOption(values: { "trusted-root"?: string | undefined }): TrustedRoot | undefined {
  const file = values["trusted-root"];
  return file ? loadTrustedRootFile(file) : undefined;
}
