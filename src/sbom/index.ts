// The SBOM stage's public surface: generate an inventory of an image, layout, archive or directory (or
// read an SBOM another tool made), write it as CycloneDX 1.6 or SPDX 2.3 JSON, and get an image's SBOM
// the way the agent does (attested first, else generated, cached by digest). See docs/sbom.md.
export type { Component, Ecosystem, Inventory, Location, OsRelease, SourcePackage, Target } from "./model.ts";
export { generateInventory, type GenerateOptions } from "./generate.ts";
export { readSbom, readSbomFile } from "./read-sbom.ts";
export { toCycloneDx } from "./cyclonedx.ts";
export { toSpdx } from "./spdx.ts";
export { toTable } from "./table.ts";
export { DEFAULT_LIMITS, type ReadLimits } from "./limits.ts";
export { sbomForImage, type SbomForImageOptions, type ImageSbom } from "./for-image.ts";
