// The built-in policy packs: ValidatingAdmissionPolicies (with their bindings) shipped as YAML in
// packs/, so they can also be installed in a cluster as they are.
//
// A pack may include other packs, named one per line in its `includes` file (`#` starts a comment):
// pss-restricted includes pss-baseline, because the restricted level is every baseline control plus
// its own. The file is not YAML, so neither Vigil's loader nor `kubectl apply -f <pack>/` reads it as
// a manifest. Loading packs loads each pack once, however often it is named or included.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { InputError } from "../core/errors.ts";
import { loadManifests, type SourcedObject } from "../manifest/manifests.ts";

const packDir = join(import.meta.dirname, "packs");

export function packNames(): string[] {
  if (!existsSync(packDir)) return [];
  return readdirSync(packDir, { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .sort();
}

export function loadPack(name: string): SourcedObject[] {
  return loadPacks([name]);
}

/** The policies of the named packs and of the packs they include, each pack once. */
export function loadPacks(names: readonly string[]): SourcedObject[] {
  const loaded = new Set<string>();
  const load = (name: string): SourcedObject[] => {
    if (loaded.has(name)) return [];
    loaded.add(name);
    const dir = packDirectory(name);
    return [...packIncludes(dir).flatMap(load), ...loadManifests([dir])];
  };
  return names.flatMap(load);
}

function packDirectory(name: string): string {
  const dir = join(packDir, name);
  if (!/^[a-z0-9-]+$/.test(name) || !existsSync(dir)) {
    throw new InputError(`unknown policy pack "${name}" (available: ${packNames().join(", ") || "none"})`);
  }
  return dir;
}

function packIncludes(dir: string): string[] {
  const file = join(dir, "includes");
  if (!existsSync(file)) return [];
  return readFileSync(file, "utf8")
    .split("\n")
    .map((line) => line.replace(/#.*/, "").trim())
    .filter((line) => line !== "");
}
