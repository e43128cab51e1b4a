// A scan: components (from SBOMs and lockfiles) against the advisory store, with VEX applied. Each
// component is judged once per distinct purl; advisories that are the same vulnerability under several
// ids (aliases, an upstream id) make one finding naming all of them. The result turns into the
// verdict's checks: gate "vulnerability", rule = the advisory id, subject = the purl.
import { check, type Check } from "../core/verdict.ts";
import { judge, mapPurl, needsRelease, type Component } from "./match.ts";
import type { Advisory } from "./osv.ts";
import { decidingSeverity, reaches, severityFigures, type Rating5, type SeverityFigure, type UnknownSeverity } from "./severity.ts";
import { lookupKey, type AdvisoryStore } from "./store.ts";
import { baseEcosystem } from "./versions/index.ts";
import { applicableStatement, type VexStatement } from "./vex.ts";

export const GATE = "vulnerability";

export interface Finding {
  purl: string;
  ref?: string;
  ecosystem: string;
  name: string;
  version: string;
  /** The deciding advisory's id first, then the others of its group, then their aliases. */
  id: string;
  ids: string[];
  /** The advisories of the group, as stored (without their aliases). */
  advisories: string[];
  kind: "affected" | "cannot-judge";
  reason?: string;
  summary?: string;
  severity: SeverityFigure;
  fixed: string[];
  /** Where the answer came from: the imported file(s) and the advisories' own sources. */
  sources: string[];
  url?: string;
  suppressed?: VexStatement;
}

export interface NotCovered {
  purl: string;
  reason: string;
}

export interface ScanResult {
  components: number;
  findings: Finding[];
  notCovered: NotCovered[];
  withoutPurl: string[];
}

export async function scanComponents(
  store: AdvisoryStore,
  components: Component[],
  vex: VexStatement[] = [],
  withoutPurl: string[] = [],
): Promise<ScanResult> {
  const unique = new Map<string, Component>();
  for (const c of components) if (!unique.has(c.purl)) unique.set(c.purl, c);
  const mapped = [...unique.values()].map((c) => ({ c, m: mapPurl(c.purl, c.source) }));
  const keys = mapped.flatMap(({ m }) => (m.ecosystem && m.name ? [{ base: baseEcosystem(m.ecosystem), name: m.name }] : []));
  const candidates = await store.lookup(keys);
  const result: ScanResult = { components: unique.size, findings: [], notCovered: [], withoutPurl };
  for (const { c, m } of mapped) {
    const stored = m.ecosystem && m.name ? (candidates.get(lookupKey(baseEcosystem(m.ecosystem), m.name)) ?? []) : [];
    if (!m.ok) {
      // A distribution package without its release can still be judged "cannot judge" if advisories name it.
      if (m.ecosystem && needsRelease(m.ecosystem) && stored.length > 0 && m.version) {
        result.findings.push(...findingsFor(c, m.ecosystem, m.name!, m.version, stored, vex));
      } else result.notCovered.push({ purl: c.purl, reason: m.reason });
      continue;
    }
    result.findings.push(...findingsFor(c, m.ecosystem, m.name, m.version, stored, vex));
  }
  return result;
}

function findingsFor(
  c: Component,
  ecosystem: string,
  name: string,
  version: string,
  stored: { advisory: Advisory; source: string }[],
  vex: VexStatement[],
): Finding[] {
  const hits: { advisory: Advisory; source: string; verdict: ReturnType<typeof judge> }[] = [];
  for (const s of stored) {
    const verdict = judge(s.advisory, ecosystem, name, version);
    if (verdict.kind !== "not-affected") hits.push({ ...s, verdict });
  }
  return groupByAlias(hits).map((group) => {
    // An affected advisory in the group decides over one that could not be judged.
    group.sort(
      (a, b) => Number(b.verdict.kind === "affected") - Number(a.verdict.kind === "affected") || preferId(a.advisory.id, b.advisory.id),
    );
    const lead = group[0]!;
    const figures = group.flatMap((h) => severityFigures(h.advisory, h.verdict.kind === "affected" ? h.verdict.entry : undefined));
    const ids = [...new Set(group.flatMap((h) => [h.advisory.id, ...h.advisory.aliases, ...h.advisory.upstream]))];
    const fixed = lead.verdict.kind === "affected" ? lead.verdict.fixed : [];
    const entrySource = lead.verdict.kind === "affected" ? lead.verdict.entry.source : undefined;
    const statement = applicableStatement(vex, ids, c.purl, c.ref);
    const suppresses = statement && (statement.status === "not_affected" || statement.status === "fixed");
    return {
      purl: c.purl,
      ...(c.ref && { ref: c.ref }),
      ecosystem,
      name,
      version,
      id: lead.advisory.id,
      ids,
      advisories: group.map((h) => h.advisory.id),
      kind: lead.verdict.kind === "affected" ? "affected" : "cannot-judge",
      ...(lead.verdict.kind === "cannot-judge" && { reason: lead.verdict.reason }),
      ...(lead.advisory.summary && { summary: lead.advisory.summary }),
      severity: decidingSeverity(figures),
      fixed,
      sources: [...new Set(group.map((h) => h.source)), ...(entrySource ? [entrySource] : [])],
      ...(lead.advisory.url && { url: lead.advisory.url }),
      ...(suppresses && { suppressed: statement }),
    } satisfies Finding;
  });
}

/** Advisories linked by an id, an alias or an upstream id are one vulnerability (union-find). */
function groupByAlias<T extends { advisory: Advisory }>(hits: T[]): T[][] {
  const parent = hits.map((_, i) => i);
  const find = (i: number): number => (parent[i] === i ? i : (parent[i] = find(parent[i]!)));
  const owner = new Map<string, number>();
  hits.forEach((h, i) => {
    for (const id of [h.advisory.id, ...h.advisory.aliases, ...h.advisory.upstream]) {
      const j = owner.get(id);
      if (j === undefined) owner.set(id, i);
      else parent[find(i)] = find(j);
    }
  });
  const groups = new Map<number, T[]>();
  hits.forEach((h, i) => {
    const root = find(i);
    groups.set(root, [...(groups.get(root) ?? []), h]);
  });
  return [...groups.values()];
}

/** The id to lead with: an ecosystem's own id before a CVE, then the smallest. */
function preferId(a: string, b: string): number {
  const cve = (x: string) => Number(x.startsWith("CVE-"));
  return cve(a) - cve(b) || (a < b ? -1 : a > b ? 1 : 0);
}

/**
 * Purls, names, versions and summaries are written by whoever made the SBOM or the advisory: control
 * characters in them would reach a terminal through the table, so they are shown as U+FFFD.
 */
function printable(c: Check): Check {
  return { ...c, subject: printableText(c.subject), message: printableText(c.message) };
}

export function printableText(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, "\ufffd");
}

/** One check per finding, then one per kind of component that could not be looked up, then the summary. */
export function scanChecks(result: ScanResult, failOn: Rating5, target: string, unknown: UnknownSeverity = "fail"): Check[] {
  return scanChecksRaw(result, failOn, target, unknown).map(printable);
}

function scanChecksRaw(result: ScanResult, failOn: Rating5, target: string, unknown: UnknownSeverity): Check[] {
  const checks = result.findings.map((f) => findingCheck(f, failOn, unknown));
  const byReason = new Map<string, string[]>();
  for (const n of result.notCovered) byReason.set(n.reason, [...(byReason.get(n.reason) ?? []), n.purl]);
  for (const [reason, purls] of byReason) {
    checks.push(
      check({
        gate: GATE,
        rule: "not-covered",
        status: "warn",
        subject: purls[0]!,
        message: `cannot judge ${purls.length} component${purls.length > 1 ? "s" : ""} (${reason}): ${purls.slice(0, 3).join(", ")}${purls.length > 3 ? ", …" : ""}`,
        code: "not-covered",
      }),
    );
  }
  if (result.withoutPurl.length > 0) {
    checks.push(
      check({
        gate: GATE,
        rule: "not-covered",
        status: "warn",
        subject: target,
        message: `cannot judge ${result.withoutPurl.length} component${result.withoutPurl.length > 1 ? "s" : ""} listed without a purl: ${result.withoutPurl.slice(0, 3).join(", ")}${result.withoutPurl.length > 3 ? ", …" : ""}`,
        code: "no-purl",
      }),
    );
  }
  const counted = (k: Check["status"]) => checks.filter((c) => c.status === k && c.rule !== "not-covered").length;
  const fails = counted("fail");
  checks.push(
    check({
      gate: GATE,
      rule: "scan",
      status: fails > 0 ? "fail" : "pass",
      subject: target,
      message: `${result.components} components: ${fails} finding${fails === 1 ? "" : "s"} at or above ${failOn}${unknown === "fail" ? ", of unknown severity" : ""} or not judgeable, ${counted("warn")} below it${unknown === "warn" ? " or of unknown severity" : ""}, ${counted("skip")} suppressed by VEX`,
      code: fails > 0 ? "vulnerabilities-over-threshold" : "vulnerabilities-within-threshold",
    }),
  );
  return checks;
}

export function findingCheck(f: Finding, failOn: Rating5, unknown: UnknownSeverity = "fail"): Check {
  return printable(findingCheckRaw(f, failOn, unknown));
}

function findingCheckRaw(f: Finding, failOn: Rating5, unknown: UnknownSeverity): Check {
  const sev = f.severity.score !== undefined ? `${f.severity.rating.toUpperCase()} ${f.severity.score}` : f.severity.rating.toUpperCase();
  const others = f.ids.filter((x) => x !== f.id);
  const also = others.length > 0 ? ` (also ${others.slice(0, 6).join(", ")}${others.length > 6 ? ", …" : ""})` : "";
  const fix = f.fixed.length > 0 ? `fixed in ${f.fixed[0]}: upgrade ${f.name} to ${f.fixed[0]} or later` : "no fixed version is known";
  const source = `source: ${f.sources.join(", ")}; severity: ${f.severity.source}`;
  if (f.suppressed) {
    const s = f.suppressed;
    const why = [s.justification, s.impact].filter(Boolean).join(": ");
    return check({
      gate: GATE,
      rule: f.id,
      status: "skip",
      subject: f.purl,
      message: `suppressed by VEX ${s.source}: ${s.status}${why ? ` (${why})` : ""}; ${sev} ${f.name} ${f.version}${also}; ${fix}; ${source}`,
      code: "vex-suppressed",
    });
  }
  if (f.kind === "cannot-judge") {
    return check({
      gate: GATE,
      rule: f.id,
      status: "fail",
      subject: f.purl,
      message: `cannot judge ${f.name} ${f.version}${also}: ${f.reason}; check it by hand and record the outcome in VEX; ${source}`,
      code: "not-judgeable",
    });
  }
  const status = reaches(f.severity.rating, failOn, unknown) ? "fail" : "warn";
  const why =
    f.severity.rating !== "unknown"
      ? ""
      : unknown === "fail"
        ? " (no severity figure: it fails at any threshold unless unknownSeverity is warn)"
        : " (no severity figure: a warning because unknownSeverity is warn)";
  return check({
    gate: GATE,
    rule: f.id,
    status,
    subject: f.purl,
    message: `${sev}${why} in ${f.name} ${f.version}${also}${f.summary ? `: ${f.summary}` : ""}; ${fix}; ${source}`,
    code: status === "fail" ? "vulnerability-over-threshold" : "vulnerability-below-threshold",
  });
}
