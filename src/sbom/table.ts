// The human-readable table: one row per component, and the warnings after it.
import type { Inventory } from "./model.ts";

export function toTable(inventory: Inventory): string {
  const rows = inventory.components.map((c) => [
    c.name,
    c.version,
    c.ecosystem,
    c.locations[0]?.path ?? "",
    c.locations[0]?.layer?.slice(7, 19) ?? "",
  ]);
  const header = ["NAME", "VERSION", "TYPE", "FOUND IN", "LAYER"];
  const widths = header.map((h, i) => Math.min(60, Math.max(h.length, ...rows.map((r) => r[i]!.length))));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i < cells.length - 1 ? c.padEnd(widths[i]!) : c))
      .join("  ")
      .trimEnd();
  const lines = [
    `target: ${inventory.target.name}${inventory.target.digest ? ` (${inventory.target.digest})` : ""}`,
    ...(inventory.os ? [`os: ${inventory.os.prettyName ?? `${inventory.os.id} ${inventory.os.versionId ?? ""}`.trim()}`] : []),
    "",
    line(header),
    ...rows.map(line),
    "",
    `${inventory.components.length} components`,
    ...inventory.warnings.map((w) => `warning: ${w}`),
  ];
  return lines.join("\n") + "\n";
}
