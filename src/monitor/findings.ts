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
  return {
    key: findingKey(at.environment, at.workload, at.digest, f.purl, f.id),
    type: "advisory",
    subject: f.purl,
    rule: f.id,
    environment: at.environment,
    workload: at.workload,
    image: at.image,
    digest: at.digest,
    purl: f.purl,
    advisory: f.id,
    ids: f.ids,
    kind: f.kind,
    severity: f.severity.rating,
    fixed: f.fixed,
    since,
    action: actionFor(f, at),
    ...(f.summary && { summary: f.summary }),
    ...(f.suppressed && {
      suppressed: { status: f.suppressed.status, ...(f.suppressed.justification && { justification: f.suppressed.justification }) },
    }),
  };
}

function actionFor(f: Finding, at: Placement): string {
  if (f.kind === "cannot-judge")
    return `${f.reason ?? "cannot be judged"}: check ${f.name} ${f.version} in ${at.image} by hand, or give its SBOM the missing detail`;
  if (f.fixed.length > 0) return `upgrade ${f.name} to ${f.fixed[0]} in ${at.image} and deploy the new digest to ${at.environment}`;
  return `no fixed version of ${f.name} is known: remove it from ${at.image}, or record a VEX statement if it is not exploitable`;
}

export function findingKey(...parts: string[]): string {
  // U+001F (unit separator): below every printable character, so keys sort by their parts; PostgreSQL text cannot hold U+0000.
  return parts.join("\u001f");
}
