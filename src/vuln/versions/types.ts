// A version scheme: parse a version string of one ecosystem and order two of them by its rules.
// Parsing is separate from comparing so a range's bounds are read once and an unparsable version is a
// finding of its own ("cannot judge"), never a silent "not affected".

export interface VersionScheme<V = unknown> {
  /** The scheme's name as docs and findings show it (for example "PEP 440"). */
  readonly name: string;
  /** The parsed form, or throws VersionError naming what is wrong. */
  parse(version: string): V;
  /** Negative, zero or positive, like Array.prototype.sort's comparator. */
  compare(a: V, b: V): number;
}

export class VersionError extends Error {
  constructor(scheme: string, version: string, reason: string) {
    super(`${JSON.stringify(version.length > 80 ? version.slice(0, 80) + "…" : version)} is not a ${scheme} version: ${reason}`);
    this.name = "VersionError";
  }
}

/** Versions are attacker-written: one longer than this is refused before any work is done on it. */
export const MAX_VERSION_LENGTH = 256;

export function checkLength(scheme: string, version: string): void {
  if (version.length === 0) throw new VersionError(scheme, version, "it is empty");
  if (version.length > MAX_VERSION_LENGTH) throw new VersionError(scheme, version, `it is longer than ${MAX_VERSION_LENGTH} characters`);
}

/** Compares two strings of decimal digits as numbers of any size (no precision lost past 2^53). */
export function compareDigits(a: string, b: string): number {
  const x = a.replace(/^0+/, "");
  const y = b.replace(/^0+/, "");
  if (x.length !== y.length) return x.length - y.length;
  return x < y ? -1 : x > y ? 1 : 0;
}

/** Byte-wise (code unit) order, as C's strcmp and Go's string comparison. */
export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
