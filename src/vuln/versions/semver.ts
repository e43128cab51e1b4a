// SemVer 2.0.0 order (semver.org §11), as OSV's SEMVER ranges use it for npm, crates.io, Go, Hex and
// others. Read as OSV's tools read it: a leading "v" is allowed (Go writes v1.2.3), missing minor or
// patch count as 0, and anything after the third number that is not a pre-release is build metadata,
// which never affects order (so Go's +incompatible and a fourth number are ignored). Go pseudo-versions
// (v0.0.0-20200101000000-abcdef123456) are pre-releases and order by their timestamp like any other.
import { checkLength, compareDigits, compareStrings, VersionError, type VersionScheme } from "./types.ts";

export interface SemVer {
  core: [string, string, string];
  pre: string[];
}

const CORE = /^v?(\d+)(?:\.(\d+))?(?:\.(\d+))?/;
const IDENTIFIER = /^[0-9A-Za-z-]+$/;

export const semver: VersionScheme<SemVer> = {
  name: "SemVer 2.0",
  parse(version) {
    checkLength(this.name, version);
    const m = CORE.exec(version);
    if (!m) throw new VersionError(this.name, version, "it does not start with a number");
    let rest = version.slice(m[0].length);
    let pre: string[] = [];
    if (rest.startsWith("-")) {
      const end = rest.indexOf("+");
      const text = end < 0 ? rest.slice(1) : rest.slice(1, end);
      pre = text.split(".");
      if (pre.some((p) => !IDENTIFIER.test(p)))
        throw new VersionError(this.name, version, "a pre-release identifier is empty or has a character outside [0-9A-Za-z-]");
      rest = end < 0 ? "" : rest.slice(end);
    }
    // What is left ("+build", ".4.5") is build metadata: it does not take part in the order.
    if (rest !== "" && !/^[+.][0-9A-Za-z.+-]*$/.test(rest))
      throw new VersionError(this.name, version, `unexpected ${JSON.stringify(rest[0])} after the version numbers`);
    return { core: [m[1]!, m[2] ?? "0", m[3] ?? "0"], pre };
  },
  compare(a, b) {
    for (let i = 0; i < 3; i++) {
      const c = compareDigits(a.core[i]!, b.core[i]!);
      if (c !== 0) return c;
    }
    return comparePrerelease(a.pre, b.pre);
  },
};

/** §11.3-4: a version without pre-release is higher; identifiers compare numerically when both are
 *  numbers, numbers are lower than other identifiers, others compare in ASCII order; more is higher. */
export function comparePrerelease(a: string[], b: string[]): number {
  if (a.length === 0 || b.length === 0) return b.length - a.length;
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const c = compareIdentifier(a[i]!, b[i]!);
    if (c !== 0) return c;
  }
  return a.length - b.length;
}

function compareIdentifier(a: string, b: string): number {
  const an = /^\d+$/.test(a);
  const bn = /^\d+$/.test(b);
  if (an && bn) return compareDigits(a, b);
  if (an !== bn) return an ? -1 : 1;
  return compareStrings(a, b);
}
