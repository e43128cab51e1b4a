// Which version scheme each OSV ecosystem uses (OSV schema, "Defined ecosystems"). The ecosystem's
// suffix after ":" (a release, "Debian:12", "Alpine:v3.20") does not change its scheme. An ecosystem
// that is not here cannot be judged: the matcher reports that, it never guesses a scheme.
import { alpine } from "./alpine.ts";
import { debian } from "./debian.ts";
import { maven } from "./maven.ts";
import { nuget } from "./nuget.ts";
import { cran, hackage } from "./numeric.ts";
import { packagist } from "./packagist.ts";
import { pep440 } from "./pep440.ts";
import { pub } from "./pub.ts";
import { rpm } from "./rpm.ts";
import { rubygems } from "./rubygems.ts";
import { semver } from "./semver.ts";
import type { VersionScheme } from "./types.ts";

export { VersionError, type VersionScheme } from "./types.ts";
export { semver };

const byEcosystem: Record<string, VersionScheme> = {
  npm: semver,
  "crates.io": semver,
  Go: semver,
  Hex: semver,
  Kubernetes: semver,
  Bitnami: semver,
  SwiftURL: semver,
  PyPI: pep440,
  Maven: maven,
  RubyGems: rubygems,
  NuGet: nuget,
  Packagist: packagist,
  Pub: pub,
  CRAN: cran,
  Hackage: hackage,
  Debian: debian,
  Ubuntu: debian,
  Alpine: alpine,
  AlmaLinux: rpm,
  "Rocky Linux": rpm,
  "Red Hat": rpm,
  openSUSE: rpm,
  SUSE: rpm,
  Mageia: rpm,
  "Oracle Linux": rpm,
  openEuler: rpm,
} as Record<string, VersionScheme>;

/** The ecosystem's base name: "Debian:12" → "Debian", "Ubuntu:Pro:16.04:LTS" → "Ubuntu". */
export function baseEcosystem(ecosystem: string): string {
  const colon = ecosystem.indexOf(":");
  return colon < 0 ? ecosystem : ecosystem.slice(0, colon);
}

export function schemeFor(ecosystem: string): VersionScheme | undefined {
  return Object.hasOwn(byEcosystem, baseEcosystem(ecosystem)) ? byEcosystem[baseEcosystem(ecosystem)] : undefined;
}

/** Compares two version strings of one ecosystem; throws VersionError when either cannot be read. */
export function compareVersions(ecosystem: string, a: string, b: string): number {
  const scheme = schemeFor(ecosystem);
  if (!scheme) throw new Error(`no version scheme for ecosystem ${ecosystem}`);
  return scheme.compare(scheme.parse(a), scheme.parse(b));
}
