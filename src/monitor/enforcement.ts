// Per-environment enforcement of the monitor's findings, as the signed trust policy says
// (environments[].monitor.enforcement): "alert" only records and notifies; "block-promotion" blocks
// promoting a revision into the environment while findings are open on workloads that run it anywhere;
// "degraded" marks the environment degraded while it has open findings, until a fixed revision is
// deployed (which closes them). Suppressed findings (VEX) count for none of these, nor do findings below
// the environment's threshold (monitor.threshold; an unknown severity always counts).
import { check, type Check } from "../core/verdict.ts";
import type { TrustPolicy } from "../trust/policy.ts";
import type { MonitorFinding } from "./findings.ts";
import { reaches } from "../vuln/severity.ts";
import type { DeployedWorkload } from "../api/inventory.ts";

export const GATE = "monitor";
export type Enforcement = "alert" | "block-promotion" | "degraded";

export function enforcementOf(policy: TrustPolicy, environment: string): Enforcement {
  return policy.doc.environments.find((e) => e.name === environment)?.monitor?.enforcement ?? "alert";
}

/** The open findings that enforce in `environment`: not suppressed by VEX, at or above its threshold (an unknown severity always). */
function enforcing(policy: TrustPolicy, environment: string, open: MonitorFinding[]): MonitorFinding[] {
  const threshold = policy.doc.environments.find((e) => e.name === environment)?.monitor?.threshold ?? "low";
  return open.filter((f) => !f.suppressed && reaches(f.severity, threshold));
}

/** The monitor's checks for promoting `revision` into `environment` (the approvals gate can add them to its verdict). */
export function promotionChecks(
  policy: TrustPolicy,
  environment: string,
  revision: string,
  open: MonitorFinding[],
  workloads: DeployedWorkload[],
): Check[] {
  const mode = enforcementOf(policy, environment);
  if (mode !== "block-promotion")
    return [
      check({
        gate: GATE,
        rule: "open-findings",
        status: "skip",
        subject: revision,
        message: `${environment}'s enforcement is ${mode}: findings do not block promotion`,
        code: "enforcement-off",
      }),
    ];
  const running = new Set(workloads.filter((w) => w.revision === revision).map((w) => `${w.environment}\u0000${w.workload}`));
  const affecting = enforcing(policy, environment, open).filter((f) => running.has(`${f.environment}\u0000${f.workload}`));
  if (affecting.length === 0)
    return [
      check({
        gate: GATE,
        rule: "open-findings",
        status: "pass",
        subject: revision,
        message: `no open findings on workloads running ${revision}`,
        code: "no-open-findings",
      }),
    ];
  const named = affecting
    .slice(0, 5)
    .map((f) => `${f.rule} in ${f.subject} (${f.environment} ${f.workload})`)
    .join("; ");
  return [
    check({
      gate: GATE,
      rule: "open-findings",
      status: "fail",
      subject: revision,
      message: `${affecting.length} open finding(s) on workloads running this revision block its promotion to ${environment}: ${named}${affecting.length > 5 ? "; …" : ""}. Deploy a fixed revision, or record a VEX statement for findings that do not apply (vigil findings --json lists them)`,
      code: "open-findings",
    }),
  ];
}

/** Whether the environment is degraded: its enforcement is "degraded" and findings are open on it. */
export function environmentChecks(policy: TrustPolicy, environment: string, open: MonitorFinding[]): Check[] {
  const mode = enforcementOf(policy, environment);
  const here = enforcing(policy, environment, open).filter((f) => f.environment === environment);
  if (mode !== "degraded")
    return [
      check({
        gate: GATE,
        rule: "degraded",
        status: "skip",
        subject: environment,
        message: `${environment}'s enforcement is ${mode}`,
        code: "enforcement-off",
      }),
    ];
  if (here.length === 0)
    return [
      check({
        gate: GATE,
        rule: "degraded",
        status: "pass",
        subject: environment,
        message: `no open findings in ${environment}`,
        code: "no-open-findings",
      }),
    ];
  return [
    check({
      gate: GATE,
      rule: "degraded",
      status: "fail",
      subject: environment,
      message: `${environment} is degraded: ${here.length} open finding(s) since ${here.map((f) => f.since).sort()[0]}; deploy a fixed revision (vigil findings --env ${environment})`,
      code: "environment-degraded",
    }),
  ];
}
