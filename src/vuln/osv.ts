// OSV advisories (https://ossf.github.io/osv-schema/), read strictly: an advisory that does not have
// the shape the schema gives is refused as a whole with the field that is wrong, so it is skipped and
// counted by the import, never half-read into the database. Only what matching, severity and reports
// need is kept (details and references are left out).
import { canonicalEcosystem, normalizeName } from "./ecosystems.ts";

export type EventKind = "introduced" | "fixed" | "last_affected" | "limit";
export interface RangeEvent {
  kind: EventKind;
  version: string;
}
export interface Range {
  type: string;
  repo?: string;
  events: RangeEvent[];
}
export interface Severity {
  type: string;
  score: string;
}

export interface Affected {
  ecosystem: string;
  name: string;
  ranges: Range[];
  versions: string[];
  severity: Severity[];
  /** Ratings an advisory database gives without a vector (GHSA "HIGH", Ubuntu priorities, scores). */
  ratings: Rating[];
  /** Where the entry came from inside its database (database_specific.source), when it says. */
  source?: string;
  /** The package name as the advisory writes it, when the ecosystem's normalisation changed it. */
  writtenName?: string;
}

export interface Rating {
  field: string;
  value: string | number;
}

export interface Advisory {
  id: string;
  modified: string;
  published?: string;
  withdrawn?: string;
  aliases: string[];
  upstream: string[];
  related: string[];
  summary?: string;
  severity: Severity[];
  ratings: Rating[];
  affected: Affected[];
  /** The advisory's own page, when it names one (an ADVISORY reference). */
  url?: string;
}

export class MalformedAdvisory extends Error {
  readonly id: string | undefined;
  constructor(id: string | undefined, reason: string) {
    super(reason);
    this.id = id;
  }
}

const ID = /^[A-Za-z0-9][A-Za-z0-9._:+-]{0,254}$|^x_[A-Za-z0-9._:+-]{1,253}$/;
const TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;
const EVENT_KINDS: EventKind[] = ["introduced", "fixed", "last_affected", "limit"];
/** An advisory's `affected` list and each range's events are bounded: no real advisory comes near. */
const MAX_ITEMS = 100_000;

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);

/** Reads one advisory; throws MalformedAdvisory naming the field. `expectedId` is the zip entry's name. */
export function parseAdvisory(raw: unknown, expectedId?: string): Advisory {
  if (!isObject(raw)) throw new MalformedAdvisory(expectedId, "not a JSON object");
  const id = raw.id;
  if (typeof id !== "string" || !ID.test(id)) throw new MalformedAdvisory(expectedId, `"id" is missing or not an identifier`);
  const fail = (field: string, what: string): never => {
    throw new MalformedAdvisory(id, `"${field}" ${what}`);
  };
  if (expectedId !== undefined && expectedId !== id)
    fail("id", `is ${JSON.stringify(id)} but the file is named ${JSON.stringify(expectedId)}`);
  const modified = timestamp(raw.modified, "modified", fail, true)!;
  const published = timestamp(raw.published, "published", fail, false);
  const withdrawn = timestamp(raw.withdrawn, "withdrawn", fail, false);
  const affectedRaw = raw.affected ?? [];
  if (!Array.isArray(affectedRaw) || affectedRaw.length > MAX_ITEMS) fail("affected", "is not a list");
  const advisory: Advisory = {
    id,
    modified,
    ...(published && { published }),
    ...(withdrawn && { withdrawn }),
    aliases: strings(raw.aliases, "aliases", fail),
    upstream: strings(raw.upstream, "upstream", fail),
    related: strings(raw.related, "related", fail),
    ...(typeof raw.summary === "string" && { summary: raw.summary.slice(0, 500) }),
    severity: severities(raw.severity, "severity", fail),
    ratings: ratings(raw.database_specific, "database_specific"),
    affected: [],
  };
  if (raw.summary !== undefined && typeof raw.summary !== "string") fail("summary", "is not a string");
  (affectedRaw as unknown[]).forEach((a, i) => {
    const entry = affected(a, `affected[${i}]`, fail);
    if (entry) advisory.affected.push(entry);
  });
  const refs = Array.isArray(raw.references) ? raw.references : [];
  const page = refs.find((r): r is { url: string } => isObject(r) && r.type === "ADVISORY" && typeof r.url === "string");
  if (page) advisory.url = page.url;
  return advisory;
}

function timestamp(v: unknown, field: string, fail: (f: string, w: string) => never, required: boolean): string | undefined {
  if (v === undefined && !required) return undefined;
  if (typeof v !== "string" || !TIMESTAMP.test(v) || Number.isNaN(Date.parse(v))) fail(field, "is not an RFC 3339 time");
  return v as string;
}

function strings(v: unknown, field: string, fail: (f: string, w: string) => never): string[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v) || v.length > MAX_ITEMS || !v.every((s) => typeof s === "string")) fail(field, "is not a list of strings");
  return v as string[];
}

function severities(v: unknown, field: string, fail: (f: string, w: string) => never): Severity[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) fail(field, "is not a list");
  return (v as unknown[]).map((s, i) => {
    if (!isObject(s) || typeof s.type !== "string" || typeof s.score !== "string") fail(`${field}[${i}]`, "needs a string type and score");
    return { type: (s as Json).type as string, score: (s as Json).score as string };
  });
}

/** Ratings without a vector: GHSA's database_specific.severity, Ubuntu's priority, a bare CVSS score. */
function ratings(v: unknown, field: string): Rating[] {
  if (!isObject(v)) return [];
  const out: Rating[] = [];
  for (const key of ["severity", "cvss_v4", "cvss_v3", "cvss_score"]) {
    const value = v[key];
    if (typeof value === "string" || (typeof value === "number" && Number.isFinite(value))) out.push({ field: `${field}.${key}`, value });
  }
  return out;
}

function affected(a: unknown, field: string, fail: (f: string, w: string) => never): Affected | undefined {
  if (!isObject(a)) return fail(field, "is not an object");
  const ranges = a.ranges ?? [];
  if (!Array.isArray(ranges) || ranges.length > MAX_ITEMS) fail(`${field}.ranges`, "is not a list");
  const parsedRanges = (ranges as unknown[]).map((r, i) => range(r, `${field}.ranges[${i}]`, fail));
  const versions = strings(a.versions, `${field}.versions`, fail);
  // An entry without a package names a repository only (GIT ranges): nothing an SBOM's purl can match.
  if (a.package === undefined) return undefined;
  const pkg = a.package;
  if (!isObject(pkg) || typeof pkg.ecosystem !== "string" || pkg.ecosystem === "" || typeof pkg.name !== "string" || pkg.name === "") {
    return fail(`${field}.package`, "needs a non-empty ecosystem and name");
  }
  const ecosystem = canonicalEcosystem(pkg.ecosystem as string);
  const specific = isObject(a.database_specific) ? a.database_specific : {};
  const name = normalizeName(ecosystem, pkg.name as string);
  return {
    ecosystem,
    name,
    ...(name !== pkg.name && { writtenName: pkg.name as string }),
    ranges: parsedRanges,
    versions,
    severity: severities(a.severity, `${field}.severity`, fail),
    ratings: [
      ...ratings(a.ecosystem_specific, `${field}.ecosystem_specific`),
      ...ratings(a.database_specific, `${field}.database_specific`),
    ],
    ...(typeof specific.source === "string" && { source: specific.source }),
  };
}

function range(r: unknown, field: string, fail: (f: string, w: string) => never): Range {
  if (!isObject(r) || typeof r.type !== "string") return fail(field, "needs a type");
  if (!Array.isArray(r.events) || r.events.length === 0 || r.events.length > MAX_ITEMS)
    return fail(`${field}.events`, "is not a non-empty list");
  const events = r.events.map((e, i) => {
    if (!isObject(e)) return fail(`${field}.events[${i}]`, "is not an object");
    const keys = Object.keys(e);
    const kind = keys[0] as EventKind;
    if (keys.length !== 1 || !EVENT_KINDS.includes(kind) || typeof e[kind] !== "string" || e[kind] === "") {
      return fail(`${field}.events[${i}]`, "must have exactly one of introduced, fixed, last_affected, limit with a version");
    }
    return { kind, version: e[kind] as string };
  });
  return { type: r.type, ...(typeof r.repo === "string" && { repo: r.repo }), events };
}
