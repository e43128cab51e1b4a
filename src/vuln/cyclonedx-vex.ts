// The findings as a CycloneDX 1.6 VEX document (vulnerabilities with ratings, affects and analysis),
// for Dependency-Track and other consumers; suppressed findings carry the VEX statement's analysis.
import { randomUUID } from "node:crypto";
import type { Finding } from "./scan.ts";

const STATE: Record<string, string> = { not_affected: "not_affected", fixed: "resolved" };

export function toCycloneDxVex(findings: Finding[], toolVersion: string): object {
  return {
    bomFormat: "CycloneDX",
    specVersion: "1.6",
    serialNumber: `urn:uuid:${randomUUID()}`,
    version: 1,
    metadata: {
      timestamp: new Date().toISOString(),
      tools: { components: [{ type: "application", name: "vigil", version: toolVersion }] },
    },
    vulnerabilities: findings.map((f) => ({
      id: f.id,
      ...(f.url && { source: { url: f.url } }),
      references: f.ids.filter((x) => x !== f.id).map((id) => ({ id, source: {} })),
      ratings: [
        {
          ...(f.severity.score !== undefined && { score: f.severity.score }),
          severity: f.severity.rating === "none" ? "none" : f.severity.rating,
          ...(f.severity.vector && { method: methodOf(f.severity.vector), vector: f.severity.vector }),
          justification: f.severity.source,
        },
      ],
      ...(f.summary && { description: f.summary }),
      ...(f.fixed.length > 0 && { recommendation: `upgrade ${f.name} to ${f.fixed[0]} or later` }),
      affects: [
        {
          ref: f.ref ?? f.purl,
          versions: [
            {
              version: f.version,
              status: f.kind === "affected" && !f.suppressed ? "affected" : f.kind === "affected" ? "unaffected" : "unknown",
            },
          ],
        },
      ],
      analysis: f.suppressed
        ? {
            state: STATE[f.suppressed.status] ?? "in_triage",
            ...(f.suppressed.justification && { justification: cdxJustification(f.suppressed.justification) }),
            detail: `${f.suppressed.impact ?? ""} (${f.suppressed.source})`.trim(),
          }
        : {
            state: f.kind === "affected" ? "exploitable" : "in_triage",
            detail: f.kind === "affected" ? `matched by ${f.sources.join(", ")}` : (f.reason ?? ""),
          },
    })),
  };
}

function methodOf(vector: string): string {
  if (vector.startsWith("CVSS:4.0")) return "CVSSv4";
  if (vector.startsWith("CVSS:3.1")) return "CVSSv31";
  if (vector.startsWith("CVSS:3.0")) return "CVSSv3";
  return "CVSSv2";
}

/** OpenVEX justifications → CycloneDX's nearest: both name why code is not reachable or present. */
function cdxJustification(j: string): string {
  const map: Record<string, string> = {
    component_not_present: "code_not_present",
    vulnerable_code_not_present: "code_not_present",
    vulnerable_code_not_in_execute_path: "code_not_reachable",
    vulnerable_code_cannot_be_controlled_by_adversary: "requires_environment",
    inline_mitigations_already_exist: "protected_by_mitigating_control",
  };
  return map[j] ?? j;
}
