// Matching components against advisories exactly: by OSV ecosystem and package name, and by the
// ecosystem's own version rules over the advisory's SEMVER and ECOSYSTEM ranges (introduced, fixed,
// last_affected, limit) and its `versions` list, as the OSV schema's evaluation defines. Whatever
// cannot be decided (a version or an advisory bound Vigil cannot read, a GIT-only range, a distribution
// package without its release) is a "cannot judge" result of its own, never "not affected".
import { ecosystemCovers } from "./ecosystems.ts";
import type { Advisory, Affected, Range } from "./osv.ts";
import { mapPurl } from "./purl.ts";
import { baseEcosystem, schemeFor, semver, VersionError, type VersionScheme } from "./versions/index.ts";

export interface Component {
  purl: string;
  /** Where it was listed: the SBOM or lockfile, and its bom-ref or SPDXID when there is one. */
  from: string;
  ref?: string;
  /** The distribution source package, when the SBOM gives it outside the purl (a property). */
  source?: { name: string; version?: string };
}

export type Verdict =
  | { kind: "affected"; entry: Affected; fixed: string[] }
  | { kind: "cannot-judge"; reason: string }
  | { kind: "not-affected" };

/** Distribution ecosystems: their advisories are per release, so a component needs its release. */
const PER_RELEASE = new Set([
  "Debian",
  "Ubuntu",
  "Alpine",
  "AlmaLinux",
  "Rocky Linux",
  "Red Hat",
  "openSUSE",
  "SUSE",
  "Mageia",
  "openEuler",
]);

export function needsRelease(ecosystem: string): boolean {
  return PER_RELEASE.has(ecosystem) && !ecosystem.includes(":");
}

export { mapPurl };

/** Judges one advisory for a package of `ecosystem` named `name` at `version`. */
export function judge(advisory: Advisory, ecosystem: string, name: string, version: string): Verdict {
  const entries = advisory.affected.filter((a) => a.name === name && ecosystemCovers(a.ecosystem, ecosystem));
  if (entries.length === 0) {
    if (needsRelease(ecosystem) && advisory.affected.some((a) => a.name === name && baseEcosystem(a.ecosystem) === ecosystem)) {
      return { kind: "cannot-judge", reason: `${advisory.id} is per ${ecosystem} release and the component names none` };
    }
    return { kind: "not-affected" };
  }
  const reasons: string[] = [];
  for (const entry of entries) {
    const v = judgeEntry(advisory.id, entry, version);
    if (v.kind === "affected") return v;
    if (v.kind === "cannot-judge") reasons.push(v.reason);
  }
  return reasons.length > 0 ? { kind: "cannot-judge", reason: reasons.join("; ") } : { kind: "not-affected" };
}

function judgeEntry(id: string, entry: Affected, version: string): Verdict {
  const scheme = schemeFor(entry.ecosystem);
  if (entry.versions.includes(version)) return { kind: "affected", entry, fixed: fixedAbove(entry, version, scheme) };
  const reasons: string[] = [];
  let judged = entry.versions.length > 0;
  for (const range of entry.ranges) {
    if (range.type === "GIT") continue;
    const rangeScheme = range.type === "SEMVER" ? semver : range.type === "ECOSYSTEM" ? scheme : undefined;
    if (!rangeScheme) {
      reasons.push(
        range.type === "ECOSYSTEM"
          ? `no version rules known for ecosystem ${JSON.stringify(entry.ecosystem)} (${id})`
          : `${id} has a range of unknown type ${JSON.stringify(range.type)}`,
      );
      continue;
    }
    judged = true;
    try {
      if (inRange(range, rangeScheme, rangeScheme.parse(version)))
        return { kind: "affected", entry, fixed: fixedAbove(entry, version, scheme) };
    } catch (e) {
      if (!(e instanceof VersionError)) throw e;
      reasons.push(`${e.message} (${id}, ${entry.ecosystem} ${entry.name})`);
    }
  }
  if (reasons.length > 0) return { kind: "cannot-judge", reason: reasons.join("; ") };
  // A GIT range with no enumerated versions speaks of commits: only the repository could tell.
  if (!judged && entry.ranges.some((r) => r.type === "GIT"))
    return {
      kind: "cannot-judge",
      reason: `${id} gives only a GIT range for ${entry.name}, which cannot be judged without the repository`,
    };
  return { kind: "not-affected" };
}

/** OSV's evaluation: events sorted by version, the last introduced/fixed/last_affected at or below v decides, and limits cap the range. */
function inRange(range: Range, scheme: VersionScheme, v: unknown): boolean {
  const events = range.events.map((e, i) => ({
    ...e,
    i,
    parsed:
      (e.kind === "introduced" && e.version === "0") || (e.kind === "limit" && e.version === "*") ? undefined : scheme.parse(e.version),
  }));
  events.sort((a, b) =>
    a.parsed === undefined
      ? b.parsed === undefined
        ? 0
        : -1
      : b.parsed === undefined
        ? 1
        : scheme.compare(a.parsed, b.parsed) || order(a.kind) - order(b.kind),
  );
  let affected = false;
  for (const e of events) {
    if (e.kind === "limit") continue;
    const c = e.parsed === undefined ? 1 : scheme.compare(v, e.parsed);
    if (e.kind === "introduced" && c >= 0) affected = true;
    else if (e.kind === "fixed" && c >= 0) affected = false;
    else if (e.kind === "last_affected" && c > 0) affected = false;
  }
  const limits = events.filter((e) => e.kind === "limit");
  if (affected && limits.length > 0 && !limits.some((l) => l.version === "*" || scheme.compare(v, l.parsed) < 0)) return false;
  return affected;
}

const order = (kind: string) => (kind === "introduced" ? 0 : 1);

/** The entry's fixed versions above the component's, lowest first (what to upgrade to). */
function fixedAbove(entry: Affected, version: string, scheme: VersionScheme | undefined): string[] {
  const fixed = [
    ...new Set(
      entry.ranges.filter((r) => r.type !== "GIT").flatMap((r) => r.events.filter((e) => e.kind === "fixed").map((e) => e.version)),
    ),
  ];
  if (!scheme) return fixed;
  try {
    const v = scheme.parse(version);
    const parsed = fixed.flatMap((f) => {
      try {
        return [{ f, p: scheme.parse(f) }];
      } catch {
        return [];
      }
    });
    return parsed
      .filter((x) => scheme.compare(x.p, v) > 0)
      .sort((a, b) => scheme.compare(a.p, b.p))
      .map((x) => x.f);
  } catch {
    return fixed;
  }
}
