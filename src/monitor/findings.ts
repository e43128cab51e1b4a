// A monitor finding names where (environment, workload, image digest), what (`subject`: a component's
// purl, an admitted commit or digest, a running image) and why (`rule`: an advisory id, a key no longer
// trusted, an image Vigil did not deploy), since when it is known and what to do about it. Its key
// names exactly that place, subject and rule, so a finding seen again keeps its first-seen time.
import type { Finding } from "../vuln/scan.ts";
import type { SeverityName } from "../vuln/severity.ts";

export type FindingType = "advisory" | "untrusted-key" | "not-deployed" | "repository" | "policy";

export interface MonitorFinding {
  key: string;
  type: FindingType;
  subject: string;
  rule: string;
  environment: string;
  workload: string;
  image: string;
  digest: string;
  severity: SeverityName;
  since: string;
  action: string;
  /** Advisory findings: the component, the deciding advisory and the group's other ids, the fixed versions. */
  purl?: string;
  advisory?: string;
  ids?: string[];
  kind?: "affected" | "cannot-judge";
  fixed?: string[];
  summary?: string;
  /** A VEX statement that suppresses it: kept, shown as suppressed, with its justification. */
  suppressed?: { status: string; justification?: string };
}

export interface Placement {
  environment: string;
  workload: string;
  image: string;
  digest: string;
}

export function placeFinding(f: Finding, at: Placement, since: string): MonitorFinding {
  const detail = advisoryDetail(f);
  return {
    key: findingKey(at.environment, at.workload, at.digest, f.purl, f.id),
    type: detail.type,
    subject: detail.subject,
    rule: detail.rule,
    environment: at.environment,
    workload: at.workload,
    image: at.image,
    digest: at.digest,
    purl: detail.purl,
    advisory: detail.advisory,
    ids: detail.ids,
    kind: detail.kind,
    severity: detail.severity,
    fixed: detail.fixed,
    since,
    action: detail.action,
    ...(detail.summary && { summary: detail.summary }),
    ...(detail.suppressed && { suppressed: detail.suppressed }),
  };
}

/** Each judged finding's detail, made once however many places run its component (a feed can place 300,000 at once). */
const details = new WeakMap<Finding, FindingDetail>();

function advisoryDetail(f: Finding): FindingDetail {
  let detail = details.get(f);
  if (!detail) {
    detail = {
      type: "advisory",
      subject: f.purl,
      rule: f.id,
      purl: f.purl,
      advisory: f.id,
      ids: f.ids,
      kind: f.kind,
      severity: f.severity.rating,
      fixed: f.fixed,
      action: actionFor(f),
      ...(f.summary && { summary: f.summary }),
      ...(f.suppressed && {
        suppressed: { status: f.suppressed.status, ...(f.suppressed.justification && { justification: f.suppressed.justification }) },
      }),
    };
    details.set(f, detail);
  }
  return detail;
}

/**
 * What to do, in words that hold wherever the component runs (the finding names the image and the
 * environment beside it): so one component's finding has the same details in every place it is found,
 * and the inventory stores those details once (see FindingDetail).
 */
function actionFor(f: Finding): string {
  if (f.kind === "cannot-judge")
    return `${f.reason ?? "cannot be judged"}: check ${f.name} ${f.version} in the image by hand, or give its SBOM the missing detail`;
  if (f.fixed.length > 0) return `upgrade ${f.name} to ${f.fixed[0]} in the image and deploy its new digest`;
  return `no fixed version of ${f.name} is known: remove it from the image, or record a VEX statement if it is not exploitable`;
}

export function findingKey(...parts: string[]): string {
  // U+001F (unit separator): below every printable character, so keys sort by their parts; PostgreSQL text cannot hold U+0000.
  return parts.join("\u001f");
}

/** The fields that say where a finding is found; everything else is its detail. */
export type FindingPlace = Pick<MonitorFinding, "key" | "environment" | "workload" | "image" | "digest" | "since">;
/** What a finding says, apart from where: for an advisory finding the same in every place its component runs. */
export type FindingDetail = Omit<MonitorFinding, keyof FindingPlace>;

/**
 * The id a finding's detail is stored under. An advisory finding's detail depends only on the component
 * and the advisory (the scan judges each purl once; VEX applies per purl), so every place that runs the
 * component shares it: a changed advisory rewrites one detail, not one row per place. Other findings'
 * details are their own.
 */
export function detailId(f: MonitorFinding): string {
  return f.type === "advisory" ? findingKey("advisory", f.subject, f.rule) : f.key;
}

/** A finding as its place and its detail. */
export function splitFinding(f: MonitorFinding): { place: FindingPlace; detail: FindingDetail } {
  const { key, environment, workload, image, digest, since, ...detail } = f;
  return { place: { key, environment, workload, image, digest, since }, detail };
}

/** The finding a place and a detail make (the inverse of splitFinding). */
export function joinFinding(place: FindingPlace, detail: FindingDetail): MonitorFinding {
  return { ...detail, ...place };
}

/** Whether two findings are found in the same place (their first-seen times aside). */
export function samePlace(a: MonitorFinding, b: MonitorFinding): boolean {
  return a.key === b.key && a.environment === b.environment && a.workload === b.workload && a.image === b.image && a.digest === b.digest;
}

/**
 * Whether two findings say the same in the same place, their first-seen times aside: field by field,
 * since a feed can change 300,000 findings at once and a generic deep comparison costs ten times more.
 */
export function sameFinding(a: MonitorFinding, b: MonitorFinding): boolean {
  return (
    samePlace(a, b) &&
    a.type === b.type &&
    a.subject === b.subject &&
    a.rule === b.rule &&
    a.severity === b.severity &&
    a.action === b.action &&
    a.purl === b.purl &&
    a.advisory === b.advisory &&
    a.kind === b.kind &&
    a.summary === b.summary &&
    sameList(a.ids, b.ids) &&
    sameList(a.fixed, b.fixed) &&
    (a.suppressed === b.suppressed ||
      (a.suppressed !== undefined &&
        b.suppressed !== undefined &&
        a.suppressed.status === b.suppressed.status &&
        a.suppressed.justification === b.suppressed.justification))
  );
}

type Compared =
  | keyof FindingPlace
  | "type"
  | "subject"
  | "rule"
  | "severity"
  | "action"
  | "purl"
  | "advisory"
  | "kind"
  | "summary"
  | "ids"
  | "fixed"
  | "suppressed";
/** Fails to compile when MonitorFinding gains a field sameFinding does not compare. */
export type SameFindingComparesEveryField = [Exclude<keyof MonitorFinding, Compared>] extends [never] ? true : never;
true satisfies SameFindingComparesEveryField;

function sameList(a: readonly string[] | undefined, b: readonly string[] | undefined): boolean {
  if (a === b) return true;
  if (a === undefined || b === undefined || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
