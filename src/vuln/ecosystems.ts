// OSV ecosystem names and package names, spelled one way so that an advisory and an SBOM's component
// meet: the ecosystem's base name in the schema's spelling (advisories write "kubernetes" for
// "Kubernetes"), and package names as each ecosystem compares them (PyPI per PEP 503, NuGet, Packagist
// and Hex without case; the others exactly).

const KNOWN = [
  "AlmaLinux",
  "Alpine",
  "Android",
  "Bioconductor",
  "Bitnami",
  "Chainguard",
  "ConanCenter",
  "CRAN",
  "crates.io",
  "Debian",
  "GHC",
  "GitHub Actions",
  "Go",
  "Hackage",
  "Hex",
  "Julia",
  "Kubernetes",
  "Linux",
  "Mageia",
  "Maven",
  "MinimOS",
  "npm",
  "NuGet",
  "openEuler",
  "openSUSE",
  "OSS-Fuzz",
  "Packagist",
  "Photon OS",
  "Pub",
  "PyPI",
  "Red Hat",
  "Rocky Linux",
  "RubyGems",
  "SUSE",
  "SwiftURL",
  "Ubuntu",
  "Wolfi",
  "Echo",
  "MinimOS",
  "Oracle Linux",
];
const byLower = new Map(KNOWN.map((k) => [k.toLowerCase(), k]));

/** "kubernetes" → "Kubernetes", "debian:12" → "Debian:12"; an unknown base name is kept as written. */
export function canonicalEcosystem(ecosystem: string): string {
  const colon = ecosystem.indexOf(":");
  const base = colon < 0 ? ecosystem : ecosystem.slice(0, colon);
  const known = byLower.get(base.toLowerCase());
  return known === undefined ? ecosystem : known + (colon < 0 ? "" : ecosystem.slice(colon));
}

export function normalizeName(ecosystem: string, name: string): string {
  const base = ecosystem.split(":")[0];
  switch (base) {
    case "PyPI":
      return name.toLowerCase().replace(/[-_.]+/g, "-");
    case "NuGet":
    case "Packagist":
    case "Hex":
      return name.toLowerCase();
    default:
      return name;
  }
}

/**
 * Whether an advisory's ecosystem covers a component's: the same, or the advisory's names a release
 * the component's names less precisely in the same way OSV does ("Ubuntu:22.04" is covered by
 * "Ubuntu:22.04:LTS"; "Ubuntu:Pro:…" only by itself).
 */
export function ecosystemCovers(advisory: string, component: string): boolean {
  if (advisory === component) return true;
  return advisory.startsWith(component + ":") && component.includes(":") && !advisory.slice(component.length + 1).includes(":");
}
