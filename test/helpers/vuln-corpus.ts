// A scan corpus made from the shared OSV data itself, the same for Vigil and osv-scanner: packages that
// advisories name, at versions their ranges name (introduced, fixed, last_affected, listed versions),
// so that matching is exercised at the boundaries where version rules matter. Written as one CycloneDX
// SBOM (name, version and purl per component, as SBOM tools write them) and, for Go, a go.mod, since
// osv-scanner reads Go modules from lockfiles. Deterministic: the same data gives the same files.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseAdvisory } from "../../src/vuln/osv.ts";
import { zipEntries } from "../../src/vuln/zip.ts";

export interface Corpus {
  sbom: string;
  goMod: string;
  components: number;
}

/** OSV ecosystem (as in the advisories) → how a purl names a package of it. */
const PURL: Record<string, (name: string, version: string, ecosystem: string) => string | undefined> = {
  npm: (n, v) => `pkg:npm/${n.startsWith("@") ? n.replace("@", "%40") : n}@${v}`,
  PyPI: (n, v) => `pkg:pypi/${n}@${v}`,
  "crates.io": (n, v) => `pkg:cargo/${n}@${v}`,
  RubyGems: (n, v) => `pkg:gem/${n}@${v}`,
  Alpine: (n, v, e) => `pkg:apk/alpine/${n}@${v}?arch=x86_64&distro=${e.split(":v")[1]}.0`,
  Ubuntu: (n, v, e) =>
    /^Ubuntu:\d+\.\d+:LTS$/.test(e)
      ? `pkg:deb/ubuntu/${n}@${encodeURIComponent(v)}?arch=source&distro=ubuntu-${e.split(":")[1]}`
      : undefined,
};

/**
 * `versions`: "boundaries" takes the versions the ranges name (introduced, fixed, last_affected) and the
 * first listed ones; "published" takes, where an entry enumerates its versions (OSV.dev does for PyPI,
 * as the releases that exist), only those, since an installed package carries a published version.
 */
export async function writeCorpus(
  osvDir: string,
  outDir: string,
  size: number,
  mode: "boundaries" | "published" = "boundaries",
): Promise<Corpus> {
  const versions = new Map<string, Set<string>>(); // "ecosystem\0name" → versions its advisories name
  for (const eco of ["npm", "PyPI", "crates.io", "RubyGems", "Alpine", "Ubuntu", "Go"]) {
    for await (const entry of zipEntries(join(osvDir, eco, "all.zip"))) {
      const advisory = parseAdvisory(JSON.parse((await entry.read()).toString("utf8")));
      if (advisory.withdrawn) continue;
      for (const a of advisory.affected) {
        const key = `${a.ecosystem}\u0000${a.name}`;
        const set = versions.get(key) ?? new Set<string>();
        if (mode === "boundaries" || a.versions.length === 0) {
          for (const r of a.ranges)
            if (r.type !== "GIT") for (const e of r.events) if (e.version !== "0" && e.kind !== "limit") set.add(e.version);
        }
        for (const v of mode === "published" ? a.versions : a.versions.slice(0, 3)) set.add(v);
        if (set.size > 0) versions.set(key, set);
      }
    }
  }
  // Every package at each of its versions, in a fixed order; then an even spread of `size` of them.
  const all = [...versions.entries()]
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .flatMap(([key, set]) => [...set].sort().map((v) => [...key.split("\u0000"), v] as [string, string, string]));
  const spread = <T>(xs: T[], n: number) => Array.from({ length: Math.min(n, xs.length) }, (_, i) => xs[Math.floor((i * xs.length) / n)]!);
  // The SBOM gets `size` components; the go.mod a fifth as many modules besides.
  const chosen = [
    ...spread(
      all.filter(([e]) => e !== "Go" && PURL[e.split(":")[0]!]?.("x", "1", e)),
      size,
    ),
    ...spread(
      all.filter(([e]) => e === "Go"),
      Math.ceil(size / 5),
    ),
  ];
  const components: object[] = [];
  const goModules: [string, string][] = [];
  for (const [ecosystem, name, version] of chosen) {
    if (ecosystem === "Go") {
      if (name !== "stdlib" && name !== "toolchain") goModules.push([name, version]);
      continue;
    }
    const purl = PURL[ecosystem.split(":")[0]!]?.(name, version, ecosystem);
    if (purl) components.push({ type: "library", name, version, purl });
  }
  const sbom = join(outDir, `corpus-${mode}.cdx.json`);
  writeFileSync(sbom, JSON.stringify({ bomFormat: "CycloneDX", specVersion: "1.5", version: 1, components }));
  const goDir = join(outDir, `go-${mode}`);
  const { mkdirSync } = await import("node:fs");
  mkdirSync(goDir, { recursive: true });
  // One version per module in a go.mod; the rest of a module's versions are left out.
  const firstPerModule = new Map<string, string>();
  for (const [m, v] of goModules) if (!firstPerModule.has(m)) firstPerModule.set(m, v);
  const goMod = join(goDir, "go.mod");
  writeFileSync(
    goMod,
    `module example.com/corpus\n\ngo 1.22\n\nrequire (\n${[...firstPerModule].map(([m, v]) => `\t${m} v${v}\n`).join("")})\n`,
  );
  return { sbom, goMod, components: components.length + firstPerModule.size };
}

export interface Comparison {
  vigil: number;
  osvScanner: number;
  both: number;
  agreement: number;
  onlyVigil: string[];
  onlyOsvScanner: string[];
}

/** Findings as "ecosystem-base name version advisory-id" lines, compared as sets. */
export function compare(vigil: Set<string>, osvScanner: Set<string>): Comparison {
  const both = [...vigil].filter((x) => osvScanner.has(x)).length;
  const union = new Set([...vigil, ...osvScanner]).size;
  return {
    vigil: vigil.size,
    osvScanner: osvScanner.size,
    both,
    agreement: union === 0 ? 1 : both / union,
    onlyVigil: [...vigil].filter((x) => !osvScanner.has(x)).sort(),
    onlyOsvScanner: [...osvScanner].filter((x) => !vigil.has(x)).sort(),
  };
}

/** osv-scanner's JSON output → finding keys. */
export function osvScannerFindings(output: string): Set<string> {
  const doc = JSON.parse(output) as {
    results?: { packages?: { package: { name: string; version: string; ecosystem: string }; vulnerabilities?: { id: string }[] }[] }[];
  };
  const out = new Set<string>();
  for (const r of doc.results ?? [])
    for (const p of r.packages ?? [])
      for (const v of p.vulnerabilities ?? []) {
        out.add(`${p.package.ecosystem.split(":")[0]} ${p.package.name} ${p.package.version} ${v.id}`);
      }
  return out;
}

/** Vigil's affected findings (not suppressed, not "cannot judge") as the same keys as osvScannerFindings. */
export function vigilFindings(
  findings: { kind: string; suppressed?: unknown; ecosystem: string; name: string; version: string; advisories: string[] }[],
): Set<string> {
  const out = new Set<string>();
  for (const f of findings) {
    if (f.kind !== "affected" || f.suppressed) continue;
    const base = f.ecosystem.split(":")[0]!;
    const version = base === "Go" ? f.version.replace(/^v/, "") : f.version;
    for (const id of f.advisories) out.add(`${base} ${f.name} ${version} ${id}`);
  }
  return out;
}

/**
 * Why osv-scanner 2.5.0 misses a finding Vigil makes, when it is the one defect found: its
 * rangeAffectsVersion (osv-scalibr enricher/vulnmatch/osvlocal/internal/vulns) returns "not affected" at
 * the first range that is neither ECOSYSTEM nor SEMVER instead of going on to the next, so an entry
 * whose GIT range comes first is judged by its `versions` list alone.
 */
export function gitRangeFirst(
  advisory: { affected: { name: string; ranges: { type: string }[]; versions: string[] }[] },
  name: string,
  version: string,
): boolean {
  return advisory.affected.some(
    (a) => a.name === name && a.ranges[0]?.type === "GIT" && a.ranges.some((r) => r.type !== "GIT") && !a.versions.includes(version),
  );
}

/**
 * The other reason found: osv-scanner compares package names as written, and the advisory spells a PyPI
 * name another way than the SBOM (jw.util, jw-util), which PEP 503 makes one name.
 */
export function spelledOtherwise(advisory: { affected: { name: string; writtenName?: string }[] }, name: string): boolean {
  return advisory.affected.some((a) => a.name === name && a.writtenName !== undefined && a.writtenName !== name);
}

/** Runs osv-scanner offline over the corpus, with a local database made of the same zips. */
export function osvScannerArgs(corpus: Corpus): string[] {
  return ["scan", "--offline", "--offline-vulnerabilities", "-L", corpus.sbom, "-L", corpus.goMod, "--format", "json"];
}

/**
 * osv-scanner's offline database folder (its OSV_SCALIBR_LOCAL_DB_CACHE_DIRECTORY): osv-scalibr/<ecosystem>/all.zip,
 * each a symbolic link to the shared zip, so both tools read the same bytes.
 */
export async function osvScannerDatabase(osvDir: string, dir: string): Promise<string> {
  const { mkdirSync, readdirSync, symlinkSync } = await import("node:fs");
  for (const eco of readdirSync(osvDir, { withFileTypes: true }).filter((e) => e.isDirectory())) {
    mkdirSync(join(dir, "osv-scalibr", eco.name), { recursive: true });
    symlinkSync(join(osvDir, eco.name, "all.zip"), join(dir, "osv-scalibr", eco.name, "all.zip"));
  }
  return dir;
}
