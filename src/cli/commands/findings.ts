import { InputError } from "../../core/errors.ts";
import { loadMonitorConfig } from "../../monitor/config.ts";
import type { MonitorFinding } from "../../monitor/findings.ts";
import { openInventory } from "../../monitor/inventory.ts";
import { printableText } from "../../vuln/scan.ts";
import { defineCommand } from "../command.ts";

export const findings = defineCommand({
  usage: "vigil findings (--config FILE | --inventory DIR) [--env E] [--since TIME] [--json]",
  help: [
    "  --config FILE     the monitor's configuration (its inventory is read)",
    "  --inventory DIR   or the inventory folder itself",
    "  --env E           only environment E",
    "  --since TIME      only findings first seen at or after TIME (RFC 3339, e.g. 2026-12-01T00:00:00Z)",
  ].join("\n"),
  options: { config: { type: "string" }, inventory: { type: "string" }, env: { type: "string" }, since: { type: "string" } },
  async run(values) {
    const location = values.inventory ?? (values.config ? loadMonitorConfig(values.config).inventory : undefined);
    if (!location) throw new InputError(`give --config FILE or --inventory DIR\nusage: ${this.usage}`);
    const since = values.since;
    if (since !== undefined && !/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/.test(since))
      throw new InputError(`--since: ${JSON.stringify(since)} is not an RFC 3339 UTC time like 2026-12-01T00:00:00Z`);
    const inventory = await openInventory(location);
    try {
      const list = await inventory.findings({
        ...(values.env !== undefined && { environment: values.env }),
        ...(since !== undefined && { since }),
      });
      if (values.json) process.stdout.write(JSON.stringify({ findings: list }, null, 2) + "\n");
      else process.stdout.write(table(list));
      return list.some((f) => !f.suppressed) ? 1 : 0;
    } finally {
      await inventory.close();
    }
  },
});

function table(list: MonitorFinding[]): string {
  if (list.length === 0) return "no open findings\n";
  const rows = list.map((f) => [
    f.environment,
    f.workload,
    f.digest ? `${f.image.split("@")[0]}@${f.digest.slice(0, 19)}` : "-",
    f.subject,
    f.rule,
    f.severity,
    f.fixed?.[0] ?? "-",
    f.since,
    f.suppressed
      ? `suppressed (VEX ${f.suppressed.status}${f.suppressed.justification ? `: ${f.suppressed.justification}` : ""})`
      : f.action,
  ]);
  const head = ["ENVIRONMENT", "WORKLOAD", "IMAGE", "SUBJECT", "RULE", "SEVERITY", "FIXED", "SINCE", "ACTION"];
  const widths = head.slice(0, -1).map((h, i) => Math.min(48, Math.max(h.length, ...rows.map((r) => r[i]!.length))));
  const line = (r: string[]) =>
    r
      .map((c, i) => (i < widths.length ? c.padEnd(widths[i]!) : c))
      .join("  ")
      .trimEnd();
  // Purls, advisory ids and summaries come from SBOMs and advisories: no control characters to the terminal.
  return [line(head), ...rows.map(line)].map(printableText).join("\n") + `\n\n${list.length} open finding${list.length === 1 ? "" : "s"}\n`;
}
