// NuGet's version order (NuGet.Versioning): up to four numbers (missing = 0), then release labels
// compared case-insensitively (numbers numerically, numbers before words, fewer labels first; none
// sorts after any), build metadata ignored.
import { comparePrerelease } from "./semver.ts";
import { checkLength, compareDigits, VersionError, type VersionScheme } from "./types.ts";

export interface NuGetVersion {
  numbers: string[];
  labels: string[];
}

const PATTERN = /^[vV]?(\d+(?:\.\d+){0,3})(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?$/;

export const nuget: VersionScheme<NuGetVersion> = {
  name: "NuGet",
  parse(version) {
    checkLength(this.name, version);
    const m = PATTERN.exec(version.trim());
    if (!m) throw new VersionError(this.name, version, "expected 1 to 4 numbers, an optional -label and +metadata");
    return { numbers: m[1]!.split("."), labels: m[2] ? m[2].toLowerCase().split(".") : [] };
  },
  compare(a, b) {
    for (let i = 0; i < 4; i++) {
      const c = compareDigits(a.numbers[i] ?? "0", b.numbers[i] ?? "0");
      if (c !== 0) return c;
    }
    return comparePrerelease(a.labels, b.labels);
  },
};
