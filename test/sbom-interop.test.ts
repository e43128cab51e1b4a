// Interoperation with syft (the peer, built by scripts/setup.ts): its CycloneDX 1.4, 1.5 and 1.6 and
// SPDX 2.3 documents pass Vigil's schema validation and read into the same packages, layers included;
// Vigil's own CycloneDX and SPDX are read by syft's converter.
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { PackageURL } from "packageurl-js";
import { generateInventory, readSbomFile, toCycloneDx, toSpdx } from "../src/sbom/index.ts";
import { alpineRoot, npmProject, ociImage } from "./helpers/sbom-targets.ts";
import { requireTools, run, tempDir } from "./helpers/tools.ts";

const env = { SYFT_CHECK_FOR_APP_UPDATE: "false" };
const purlsOf = (purls: string[]) =>
  new Set(purls.map((p) => PackageURL.fromString(p)).map((p) => `${p.type}/${p.namespace ?? ""}/${p.name}@${p.version}`));

test("syft's CycloneDX 1.4, 1.5, 1.6 and SPDX 2.3 validate and read into the packages syft found", async (t) => {
  if (!requireTools(t, ["syft", "npm"])) return;
  const { root } = npmProject();
  const dir = tempDir(t);
  for (const format of ["cyclonedx-json@1.4", "cyclonedx-json@1.5", "cyclonedx-json@1.6", "spdx-json@2.3"]) {
    const file = join(dir, `${format}.json`);
    writeFileSync(file, run("syft", ["scan", `dir:${root}`, "-q", "-o", format], { env }));
    const inventory = readSbomFile(file);
    const syftPurls = (JSON.parse(run("syft", ["convert", file, "-q", "-o", "syft-json"], { env })).artifacts as { purl?: string }[])
      .map((a) => a.purl)
      .filter((p): p is string => !!p);
    assert.deepEqual(purlsOf(inventory.components.map((c) => c.purl)), purlsOf(syftPurls), format);
    assert.ok(inventory.components.length >= 75, `${format}: ${inventory.components.length}`);
  }
});

test("syft's layer IDs are read as locations; Vigil's CycloneDX and SPDX convert with syft", async (t) => {
  if (!requireTools(t, ["syft"])) return;
  const dir = tempDir(t);
  const image = await ociImage(join(dir, "layout"), "v1", [alpineRoot().root], dir);
  const file = join(dir, "syft.cdx.json");
  writeFileSync(file, run("syft", ["scan", `oci-dir:${join(dir, "layout")}`, "-q", "-o", "cyclonedx-json"], { env }));
  const fromSyft = readSbomFile(file);
  const musl = fromSyft.components.find((c) => c.name === "musl")!;
  assert.equal(musl.locations[0]!.layer, image.diffIds[0]);
  assert.equal(musl.locations[0]!.path, "/lib/apk/db/installed");

  const ours = await generateInventory(`oci-layout:${join(dir, "layout")}:v1`);
  for (const [name, text] of [
    ["vigil.cdx.json", toCycloneDx(ours, "0.1.0")],
    ["vigil.spdx.json", toSpdx(ours, "0.1.0")],
  ] as const) {
    writeFileSync(join(dir, name), text);
    const converted = JSON.parse(run("syft", ["convert", join(dir, name), "-q", "-o", "syft-json"], { env })).artifacts as {
      purl?: string;
    }[];
    assert.deepEqual(purlsOf(converted.map((a) => a.purl!).filter(Boolean)), purlsOf(ours.components.map((c) => c.purl)), name);
  }
});
