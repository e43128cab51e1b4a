// What `vigil scan TARGET` reads when TARGET is not one SBOM or lockfile: a folder is searched for
// lockfiles and SBOMs (as osv-scanner's recursive scan does), skipping dependency and VCS folders; an
// image or anything else needs `vigil sbom` (src/sbom) to make an SBOM first.
import { lstatSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { InputError } from "../core/errors.ts";
import { readInputFile, type ReadInput } from "./inputs.ts";

const LOCKFILE_NAMES = new Set(["package-lock.json", "requirements.txt", "Cargo.lock", "Gemfile.lock", "composer.lock", "go.mod"]);
const SBOM_NAME = /(\.cdx\.json|\.spdx\.json|^bom\.json|^sbom\.json)$/;
const SKIP = new Set([".git", "node_modules", "vendor", ".venv", "target"]);
const MAX_DEPTH = 32;
const MAX_FILES = 100_000;

export function readTarget(path: string): ReadInput[] {
  let stat;
  try {
    stat = lstatSync(path);
  } catch {
    throw new InputError(`${path}: no such file or folder (to scan an image, make its SBOM with "vigil sbom IMAGE" and scan that)`);
  }
  if (stat.isFile()) return [readInputFile(path)];
  if (!stat.isDirectory()) throw new InputError(`${path}: not a file or folder`);
  const found: string[] = [];
  const walk = (dir: string, depth: number) => {
    if (depth > MAX_DEPTH) return;
    for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      if (entry.isDirectory() && !SKIP.has(entry.name)) walk(join(dir, entry.name), depth + 1);
      else if (entry.isFile() && (LOCKFILE_NAMES.has(entry.name) || SBOM_NAME.test(entry.name))) {
        if (found.length >= MAX_FILES) throw new InputError(`${path}: more than ${MAX_FILES} lockfiles and SBOMs`);
        found.push(join(dir, entry.name));
      }
    }
  };
  walk(path, 0);
  if (found.length === 0)
    throw new InputError(`${path}: no lockfile (${[...LOCKFILE_NAMES].join(", ")}) or SBOM (*.cdx.json, *.spdx.json) in this folder`);
  return found.map(readInputFile);
}
