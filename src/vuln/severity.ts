// Severity: CVSS v3.x and v4.0 base scores computed from the vectors (per FIRST's specifications, by
// ae-cvss-calculator after a strict read of the vector here), CVSS v2 likewise, then the ratings an
// advisory database gives without a vector (GHSA's "HIGH", Ubuntu's priorities, bare scores). The
// highest figure decides, and every figure says where it came from. No figure at all is "unknown",
// which a threshold treats as reaching it (fail closed).
import calculator from "ae-cvss-calculator";
import type { Advisory, Affected, Rating, Severity } from "./osv.ts";

export type Rating5 = "none" | "low" | "medium" | "high" | "critical";
export type SeverityName = Rating5 | "unknown";
export const SEVERITY_ORDER: SeverityName[] = ["none", "low", "medium", "high", "critical"];

export interface SeverityFigure {
  rating: SeverityName;
  score?: number;
  /** Where the figure came from: "CVSS:3.1 base score of severity[0]", "database_specific.severity". */
  source: string;
  vector?: string;
}

const { Cvss2, Cvss3P0, Cvss3P1, Cvss4P0 } = calculator as unknown as { Cvss2: Calc; Cvss3P0: Calc; Cvss3P1: Calc; Cvss4P0: Calc };
type Calc = new (vector: string) => { calculateScores(): { base?: number } };

const V3_BASE: Record<string, string> = { AV: "NALP", AC: "LH", PR: "NLH", UI: "NR", S: "UC", C: "HLN", I: "HLN", A: "HLN" };
const V3_OTHER: Record<string, string> = {
  E: "XUPFH",
  RL: "XOTWU",
  RC: "XURC",
  CR: "XLMH",
  IR: "XLMH",
  AR: "XLMH",
  MAV: "XNALP",
  MAC: "XLH",
  MPR: "XNLH",
  MUI: "XNR",
  MS: "XUC",
  MC: "XNLH",
  MI: "XNLH",
  MA: "XNLH",
};
const V4_BASE: Record<string, string> = {
  AV: "NALP",
  AC: "LH",
  AT: "NP",
  PR: "NLH",
  UI: "NPA",
  VC: "HLN",
  VI: "HLN",
  VA: "HLN",
  SC: "HLN",
  SI: "HLN",
  SA: "HLN",
};
const V4_OTHER: Record<string, string> = {
  E: "XAPU",
  CR: "XHML",
  IR: "XHML",
  AR: "XHML",
  MAV: "XNALP",
  MAC: "XLH",
  MAT: "XNP",
  MPR: "XNLH",
  MUI: "XNPA",
  MVC: "XHLN",
  MVI: "XHLN",
  MVA: "XHLN",
  MSC: "XHLN",
  MSI: "XSHLN",
  MSA: "XSHLN",
  S: "XNP",
  AU: "XNY",
  R: "XAUI",
  V: "XDC",
  RE: "XLMH",
  U: ["X", "Clear", "Green", "Amber", "Red"].join("|"),
};
const V2_BASE: Record<string, string> = { AV: "LAN", AC: "HML", Au: "MSN", C: "NPC", I: "NPC", A: "NPC" };

/** Reads a vector strictly: every base metric once with a value the specification allows. */
export function checkVector(vector: string): { version: "2.0" | "3.0" | "3.1" | "4.0" } | { error: string } {
  if (vector.length > 300) return { error: "longer than any CVSS vector" };
  const prefix = /^CVSS:(3\.0|3\.1|4\.0)\//.exec(vector);
  const version = (prefix?.[1] ?? "2.0") as "2.0" | "3.0" | "3.1" | "4.0";
  const base = version === "4.0" ? V4_BASE : version === "2.0" ? V2_BASE : V3_BASE;
  const other = version === "4.0" ? V4_OTHER : version === "2.0" ? {} : V3_OTHER;
  const seen = new Set<string>();
  for (const part of vector.slice(prefix ? prefix[0].length : 0).split("/")) {
    const [metric, value, extra] = part.split(":");
    if (metric === undefined || value === undefined || extra !== undefined) return { error: `"${part}" is not METRIC:VALUE` };
    const allowed = Object.hasOwn(base, metric) ? base[metric]! : Object.hasOwn(other, metric) ? other[metric]! : undefined;
    if (allowed === undefined) return { error: `unknown metric ${metric} for CVSS ${version}` };
    const values = allowed.includes("|") ? allowed.split("|") : allowed.split("");
    if (!values.includes(value)) return { error: `${metric}:${value} is not a value CVSS ${version} allows` };
    if (seen.has(metric)) return { error: `${metric} appears twice` };
    seen.add(metric);
  }
  const missing = Object.keys(base).filter((m) => !seen.has(m));
  if (missing.length > 0) return { error: `base metric${missing.length > 1 ? "s" : ""} ${missing.join(", ")} missing` };
  return { version };
}

/**
 * Base scores already computed, by vector: a feed repeats a few thousand vectors over many advisories,
 * and a scan scores each advisory once per component it judges. Bounded: cleared when full.
 */
const scoredVectors = new Map<string, number | { error: string }>();
const MAX_SCORED_VECTORS = 10_000;

export function baseScore(vector: string): number | { error: string } {
  let score = scoredVectors.get(vector);
  if (score === undefined) {
    score = computeBaseScore(vector);
    if (scoredVectors.size >= MAX_SCORED_VECTORS) scoredVectors.clear();
    scoredVectors.set(vector, score);
  }
  return score;
}

function computeBaseScore(vector: string): number | { error: string } {
  const checked = checkVector(vector);
  if ("error" in checked) return checked;
  const Calc = { "2.0": Cvss2, "3.0": Cvss3P0, "3.1": Cvss3P1, "4.0": Cvss4P0 }[checked.version];
  try {
    const score = new Calc(vector).calculateScores().base;
    if (typeof score !== "number" || !Number.isFinite(score)) return { error: "no base score" };
    return score;
  } catch (e) {
    return { error: (e as Error).message };
  }
}

/** CVSS v3/v4 qualitative rating (v2 uses the same bands here, as OSV's tools do). */
export function ratingOf(score: number): Rating5 {
  if (score === 0) return "none";
  if (score < 4) return "low";
  if (score < 7) return "medium";
  if (score < 9) return "high";
  return "critical";
}

const WORDS: Record<string, SeverityName> = {
  negligible: "low",
  unimportant: "low",
  low: "low",
  moderate: "medium",
  medium: "medium",
  important: "high",
  high: "high",
  critical: "critical",
  none: "none",
};

/** Every figure an advisory gives for one of its affected entries, the entry's own first. */
export function severityFigures(advisory: Advisory, entry?: Affected): SeverityFigure[] {
  const figures: SeverityFigure[] = [];
  const fromList = (list: Severity[], where: string) =>
    list.forEach((s, i) => {
      const source = `${where}[${i}]`;
      if (s.type === "CVSS_V2" || s.type === "CVSS_V3" || s.type === "CVSS_V4") {
        const score = baseScore(s.score);
        if (typeof score === "number")
          figures.push({ rating: ratingOf(score), score, source: `${s.type} base score of ${source}`, vector: s.score });
      } else if (Object.hasOwn(WORDS, s.score.toLowerCase())) {
        figures.push({ rating: WORDS[s.score.toLowerCase()]!, source: `${s.type} rating in ${source}` });
      }
    });
  const fromRatings = (list: Rating[]) =>
    list.forEach((r) => {
      if (typeof r.value === "number" || /^\d+(\.\d+)?$/.test(r.value)) {
        const score = Number(r.value);
        if (score >= 0 && score <= 10) figures.push({ rating: ratingOf(score), score, source: `${r.field} (a score without a vector)` });
      } else if (Object.hasOwn(WORDS, r.value.toLowerCase())) figures.push({ rating: WORDS[r.value.toLowerCase()]!, source: r.field });
    });
  if (entry) fromList(entry.severity, "affected.severity");
  fromList(advisory.severity, "severity");
  if (entry) fromRatings(entry.ratings);
  fromRatings(advisory.ratings);
  return figures;
}

/** The figure that decides: the highest computed CVSS score, else the highest rating, else unknown. */
export function decidingSeverity(figures: SeverityFigure[]): SeverityFigure {
  const scored = figures.filter((f) => f.score !== undefined && f.vector !== undefined);
  const pool = scored.length > 0 ? scored : figures;
  if (pool.length === 0) return { rating: "unknown", source: "the advisory gives no CVSS vector or rating" };
  return pool.reduce((best, f) => (rank(f) > rank(best) ? f : best));
}

function rank(f: SeverityFigure): number {
  return f.score ?? SEVERITY_ORDER.indexOf(f.rating as Rating5) * 2.5;
}

/**
 * What a finding whose advisory gives no severity figure at all does: "fail" (the default: an advisory
 * that says nothing about how bad it is may be critical, so it is treated as reaching any threshold) or
 * "warn" (an environment's informed choice: the Go, PyPI and Alpine feeds carry no figures).
 */
export type UnknownSeverity = "fail" | "warn";
export const UNKNOWN_SEVERITY_CHOICES: readonly UnknownSeverity[] = ["fail", "warn"];

/** Whether a finding of this severity reaches a --fail-on threshold; unknown does unless the choice is "warn". */
export function reaches(severity: SeverityName, threshold: Rating5, unknown: UnknownSeverity = "fail"): boolean {
  if (severity === "unknown") return unknown === "fail";
  return SEVERITY_ORDER.indexOf(severity) >= SEVERITY_ORDER.indexOf(threshold);
}
