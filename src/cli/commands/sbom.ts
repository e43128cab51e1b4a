// vigil sbom TARGET: the bill of materials of an image, OCI layout, docker archive, directory, or an
// SBOM another tool made, as CycloneDX 1.6 JSON, SPDX 2.3 JSON or a table.
import { readFileSync } from "node:fs";
import { isOneOf } from "../options.ts";
import { InputError } from "../../core/errors.ts";
import { parseReference } from "../../oci/index.ts";
// The modules themselves, not src/sbom/index.ts: that one also brings the agent's attested-SBOM path (Sigstore, the artifact gate).
import { toCycloneDx } from "../../sbom/cyclonedx.ts";
import { generateInventory } from "../../sbom/generate.ts";
import { formatSize } from "../../sbom/limits.ts";
import type { Inventory } from "../../sbom/model.ts";
import { toSpdx } from "../../sbom/spdx.ts";
import { toTable } from "../../sbom/table.ts";
import { defineCommand } from "../command.ts";
import { writeOutputFile } from "../output-file.ts";
import { clearProgress } from "../output.ts";
import { registryClient, registryClientHelp, registryClientOptions } from "../registry-client.ts";

const FORMATS = ["cyclonedx-json", "spdx-json", "table"] as const;

export const sbom = defineCommand({
  usage: "vigil sbom TARGET [-o cyclonedx-json|spdx-json|table] [--output FILE] [--platform OS/ARCH] [--allow-http-registry]",
  help: [
    "  TARGET             registry:IMAGE, oci-layout:DIR[:TAG|@DIGEST], docker-archive:FILE[:REPO:TAG], dir:PATH or sbom:FILE;",
    "                     without a prefix: a directory with an oci-layout file is a layout, another directory a root",
    "                     filesystem, a JSON file an SBOM, another file a docker archive, anything else an image reference",
    "  -o FORMAT          cyclonedx-json, spdx-json or table (default: table; cyclonedx-json with --json)",
    "  --output FILE      write the SBOM to FILE instead of standard output",
    "  --platform OS/ARCH the platform to read from a multi-platform image (default linux and this machine's)",
    registryClientHelp,
    "",
    "  Exit codes: 0 written; 2 bad input (a corrupt or hostile layer, an invalid input SBOM: the message names",
    "  the layer and path or the field); 1 content that does not match its digest; 3 the registry was unavailable.",
  ].join("\n"),
  options: {
    o: { type: "string", short: "o" },
    output: { type: "string" },
    platform: { type: "string" },
    ...registryClientOptions,
  },
  positionals: true,
  async run(values, positionals) {
    if (positionals.length !== 1) throw new InputError(`give one TARGET\nusage: ${this.usage}`);
    const target = positionals[0]!;
    const format = values.o ?? (values.json ? "cyclonedx-json" : "table");
    if (!isOneOf(format, FORMATS)) throw new InputError(`-o: unknown format "${format}" (${FORMATS.join(", ")})\nusage: ${this.usage}`);
    let client: ReturnType<typeof registryClient> | undefined;
    const showProgress = process.stderr.isTTY;
    let inventory: Inventory;
    try {
      inventory = await generateInventory(target, {
        client: () => (client ??= registryClient(values, [parseReference(target.replace(/^registry:/, ""))])),
        ...(typeof values.platform === "string" && { platform: values.platform }),
        ...(showProgress && {
          progress: (done, total, layer) => process.stderr.write(`\r\x1b[Kreading layers ${done}/${total}${layerRead(layer)}…`),
        }),
      });
    } finally {
      if (showProgress) clearProgress();
      await client?.close();
    }
    const text =
      format === "cyclonedx-json"
        ? toCycloneDx(inventory, version())
        : format === "spdx-json"
          ? toSpdx(inventory, version())
          : toTable(inventory);
    if (typeof values.output === "string") writeOutputFile(values.output, text);
    else process.stdout.write(text);
    // Warnings go to stderr for machine formats (the table lists them itself).
    if (format !== "table" || typeof values.output === "string")
      for (const w of inventory.warnings) process.stderr.write(`vigil: warning: ${w}\n`);
    return 0;
  },
});

/** ": 312.0 MiB of 1.0 GiB" within a large layer. */
function layerRead(layer: { read: number; size: number | undefined } | undefined): string {
  return layer ? `: ${formatSize(layer.read)}${layer.size === undefined ? "" : ` of ${formatSize(layer.size)}`}` : "";
}

function version(): string {
  return (JSON.parse(readFileSync(new URL("../../../package.json", import.meta.url), "utf8")) as { version: string }).version;
}
