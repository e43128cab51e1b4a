// RubyGems' Gem::Version order: "-" reads as ".pre.", the version splits into runs of digits and runs
// of letters, trailing zeros are dropped from the numeric part and from the part from the first letter
// on, then segments compare one by one (missing = 0): a letter run sorts before any number (so
// 1.0.a < 1.0), letters compare byte by byte, numbers as numbers.
import { checkLength, compareDigits, compareStrings, VersionError, type VersionScheme } from "./types.ts";

export type GemVersion = string[];

const VALID = /^\s*[0-9]+(?:\.[0-9a-zA-Z]+)*(?:-[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?\s*$/;
const isNumber = (s: string) => /^\d/.test(s);

export const rubygems: VersionScheme<GemVersion> = {
  name: "RubyGems",
  parse(version) {
    checkLength(this.name, version);
    // Gem::Version's own pattern, loosened as OSV's vectors need: a letter may follow a digit directly (1beta).
    if (!VALID.test(version) && !/^\s*[0-9][0-9A-Za-z.-]*\s*$/.test(version))
      throw new VersionError(this.name, version, "only digits, letters, dots and hyphens are allowed, starting with a digit");
    const segments =
      version
        .trim()
        .replaceAll("-", ".pre.")
        .match(/[0-9]+|[a-zA-Z]+/g) ?? [];
    const firstString = segments.findIndex((s) => !isNumber(s));
    const numeric = firstString < 0 ? segments : segments.slice(0, firstString);
    const rest = firstString < 0 ? [] : segments.slice(firstString);
    return [...dropTrailingZeros(numeric), ...dropTrailingZeros(rest)];
  },
  compare(a, b) {
    for (let i = 0; i < Math.max(a.length, b.length); i++) {
      const x = a[i] ?? "0",
        y = b[i] ?? "0";
      const xn = isNumber(x),
        yn = isNumber(y);
      const c = xn && yn ? compareDigits(x, y) : xn !== yn ? (xn ? 1 : -1) : compareStrings(x, y);
      if (c !== 0) return c;
    }
    return 0;
  },
};

function dropTrailingZeros(segments: string[]): string[] {
  let end = segments.length;
  while (end > 0 && /^0+$/.test(segments[end - 1]!)) end--;
  return segments.slice(0, end);
}
