// Dart's pub_semver order: SemVer 2.0, except that build metadata takes part in the order (a version
// without it sorts first; its identifiers compare like pre-release identifiers).
import { comparePrerelease, semver, type SemVer } from "./semver.ts";
import { checkLength, VersionError, type VersionScheme } from "./types.ts";

export interface PubVersion {
  base: SemVer;
  build: string[];
}

export const pub: VersionScheme<PubVersion> = {
  name: "Pub",
  parse(version) {
    checkLength(this.name, version);
    const plus = version.indexOf("+");
    const build = plus < 0 ? [] : version.slice(plus + 1).split(".");
    if (build.some((p) => !/^[0-9A-Za-z-]+$/.test(p)))
      throw new VersionError(this.name, version, "a build identifier is empty or has a character outside [0-9A-Za-z-]");
    return { base: semver.parse(plus < 0 ? version : version.slice(0, plus)), build };
  },
  compare(a, b) {
    const c = semver.compare(a.base, b.base);
    if (c !== 0) return c;
    if (a.build.length === 0 || b.build.length === 0) return a.build.length - b.build.length;
    return comparePrerelease(a.build, b.build);
  },
};
