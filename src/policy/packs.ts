// The built-in policy packs: ValidatingAdmissionPolicies (with their bindings) shipped as YAML in
// packs/, so they can also be installed in a cluster as they are.
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { InputError } from "../core/errors.ts";
import { loadManifests, type SourcedObject } from "./manifests.ts";

const packDir = join(import.meta.dirname, "packs");

export function packNames(): string[] {
  if (!existsSync(packDir)) return [];
  return readdirSync(packDir, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name).sort();
}

export function loadPack(name: string): SourcedObject[] {
  const dir = join(packDir, name);
  if (!/^[a-z0-9-]+$/.test(name) || !existsSync(dir)) {
    throw new InputError(`unknown policy pack "${name}" (available: ${packNames().join(", ") || "none"})`);
  }
  return loadManifests([dir]);
}
