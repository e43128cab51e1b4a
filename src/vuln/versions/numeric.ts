// Versions that are lists of numbers: CRAN (R's package_version: numbers separated by "." or "-") and
// Hackage (Haskell's Data.Version: numbers separated by "."). Numbers compare as numbers; when one list
// is a prefix of the other, the longer one is higher (1.0 < 1.0.0), as both ecosystems define.
import { checkLength, compareDigits, VersionError, type VersionScheme } from "./types.ts";

function numberList(name: string, separators: RegExp, shape: RegExp): VersionScheme<string[]> {
  return {
    name,
    parse(version) {
      checkLength(name, version);
      if (!shape.test(version))
        throw new VersionError(name, version, "expected numbers separated by " + (name === "CRAN" ? "'.' or '-'" : "'.'"));
      return version.split(separators);
    },
    compare(a, b) {
      for (let i = 0; i < Math.min(a.length, b.length); i++) {
        const c = compareDigits(a[i]!, b[i]!);
        if (c !== 0) return c;
      }
      return a.length - b.length;
    },
  };
}

export const cran = numberList("CRAN", /[.-]/, /^\d+(?:[.-]\d+)*$/);
export const hackage = numberList("Hackage", /\./, /^\d+(?:\.\d+)*$/);
