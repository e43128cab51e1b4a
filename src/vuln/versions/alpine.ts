// Alpine's apk version order: number{.number}...{letter}{_suffix{number}}...{~hash}{-r#}, suffixes
// ordered _alpha < _beta < _pre < _rc < (none) < _cvs < _svn < _git < _hg < _p. Numbers after the first
// compare as strings when either starts with 0 (apk's reading of 1.01 vs 1.1); the hash is ignored. A
// string that does not fit the grammar is kept as invalid: it sorts below a valid version with the same
// prefix, and two invalid ones compare as strings, as OSV's tools compare them.
import { checkLength, compareDigits, compareStrings, VersionError, type VersionScheme } from "./types.ts";

export interface ApkVersion {
  original: string;
  numbers: string[];
  letter: string;
  suffixes: { weight: number; n: string }[];
  build: string;
  remainder: string;
  invalid: boolean;
}

const SUFFIXES = ["alpha", "beta", "pre", "rc", "", "cvs", "svn", "git", "hg", "p"];
const NO_SUFFIX = { weight: 4, n: "0" };

export const alpine: VersionScheme<ApkVersion> = {
  name: "Alpine (apk)",
  parse(version) {
    checkLength(this.name, version);
    // apk itself orders strings outside the grammar (".1", "a"), so only what no version can be is refused.
    if (!/^[\x21-\x7e]+$/.test(version))
      throw new VersionError(this.name, version, "it has white space or a character outside printable ASCII");
    let rest = version;
    const numbers = /^(?:\d+\.?)*/.exec(rest)![0];
    rest = rest.slice(numbers.length);
    const letter = /^[a-z]/.test(rest) ? rest[0]! : "";
    rest = rest.slice(letter.length);
    const suffixes: ApkVersion["suffixes"] = [];
    for (let m; (m = /^_(alpha|beta|pre|rc|cvs|svn|git|hg|p)(\d*)/.exec(rest)); rest = rest.slice(m[0].length)) {
      suffixes.push({ weight: SUFFIXES.indexOf(m[1]!), n: m[2] || "0" });
    }
    rest = rest.slice((/^~[0-9a-f]+/.exec(rest)?.[0] ?? "").length);
    let build = "0";
    let invalid = false;
    if (rest !== "") {
      const m = /^-r(\d*)/.exec(rest);
      if (m) {
        build = m[1] || "0";
        rest = rest.slice(m[0].length);
      } else invalid = true;
    }
    return { original: version, numbers: numbers.split("."), letter, suffixes, build, remainder: rest, invalid };
  },
  compare(a, b) {
    if (a.invalid && b.invalid) return compareStrings(a.original, b.original);
    return (
      compareNumbers(a.numbers, b.numbers) ||
      compareLetters(a.letter, b.letter) ||
      compareSuffixes(a, b) ||
      compareDigits(a.build, b.build) ||
      compareRemainders(a.remainder, b.remainder)
    );
  },
};

function compareNumbers(a: string[], b: string[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const x = a[i] ?? "0",
      y = b[i] ?? "0";
    const c =
      i > 0 && i < a.length && i < b.length && (x.startsWith("0") || y.startsWith("0"))
        ? compareStrings(x, y)
        : compareDigits(x || "0", y || "0");
    if (c !== 0) return c;
  }
  return 0;
}

function compareLetters(a: string, b: string): number {
  if (a === "" || b === "") return a === b ? 0 : a === "" ? -1 : 1;
  return compareStrings(a, b);
}

function compareSuffixes(a: ApkVersion, b: ApkVersion): number {
  for (let i = 0; i < Math.max(a.suffixes.length, b.suffixes.length); i++) {
    const x = a.suffixes[i] ?? NO_SUFFIX,
      y = b.suffixes[i] ?? NO_SUFFIX;
    const c = x.weight - y.weight || compareDigits(x.n, y.n);
    if (c !== 0) return c;
  }
  return 0;
}

/** What follows the grammar makes a version lower than the same version without it. */
function compareRemainders(a: string, b: string): number {
  return (a === "") === (b === "") ? 0 : a === "" ? 1 : -1;
}
