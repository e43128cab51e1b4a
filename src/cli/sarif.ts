// SARIF 2.1.0 for code scanning: one result per failing or warning check, at its file and line, its
// gate and reason code in the result's property bag.
import type { Verdict } from "../core/verdict.ts";

export function toSarif(verdict: Verdict, toolVersion: string): object {
  const findings = verdict.checks.filter((c) => c.status === "fail" || c.status === "warn");
  const rules = [...new Set(findings.map((c) => c.rule))].sort();
  return {
    version: "2.1.0",
    $schema: "https://json.schemastore.org/sarif-2.1.0.json",
    runs: [
      {
        tool: {
          driver: {
            name: "vigil",
            version: toolVersion,
            informationUri: "https://vigil.dev",
            rules: rules.map((id) => ({ id, name: id })),
          },
        },
        results: findings.map((c) => ({
          ruleId: c.rule,
          ruleIndex: rules.indexOf(c.rule),
          level: c.status === "fail" ? "error" : "warning",
          message: { text: `${c.subject}: ${c.message}` },
          // The verdict's machine-readable reason (docs/verdict.md), for tools that group or suppress by it.
          properties: { gate: c.gate, code: c.code },
          ...(c.location
            ? { locations: [{ physicalLocation: { artifactLocation: { uri: c.location.file }, region: { startLine: c.location.line } } }] }
            : {}),
        })),
      },
    ],
  };
}
