// Python packages: installed metadata (*.dist-info/METADATA, *.egg-info/PKG-INFO or an .egg-info file),
// and project locks: poetry.lock, Pipfile.lock, uv.lock and requirements files with exact pins (==).
import { parse as parseToml } from "smol-toml";
import type { Component } from "../model.ts";
import { purl } from "../purl.ts";
import type { TreeFile } from "../tree.ts";
import { baseName, dirName, type CatalogContext, type Cataloger } from "./cataloger.ts";
import { component, isRecord, readJson, str, where } from "./common.ts";

/** requirements.txt and its kin (dev-requirements.txt, requirements-test.txt, test_requirements.txt). */
const REQUIREMENTS = /requirements.*\.txt$/;

function isMetadata(path: string): boolean {
  const name = baseName(path);
  const parent = baseName(dirName(path));
  return (
    (name === "METADATA" && parent.endsWith(".dist-info")) ||
    (name === "PKG-INFO" && parent.endsWith(".egg-info")) ||
    (name.endsWith(".egg-info") && !parent.endsWith(".egg-info"))
  );
}

function isLock(path: string): boolean {
  const name = baseName(path);
  return name === "poetry.lock" || name === "Pipfile.lock" || name === "uv.lock" || REQUIREMENTS.test(name);
}

export const pythonCataloger: Cataloger = {
  name: "python",
  wants: (path) => (isMetadata(path) || isLock(path) ? "content" : undefined),
  catalog(tree, context) {
    const out: Component[] = [];
    for (const file of tree.select((p) => isMetadata(p) || isLock(p))) {
      const name = baseName(file.path);
      if (!file.content) continue;
      if (isMetadata(file.path)) out.push(...installed(file));
      else if (name === "poetry.lock" || name === "uv.lock")
        out.push(...tomlLock(file, context, name === "uv.lock" ? "uv-lock" : "poetry-lock"));
      else if (name === "Pipfile.lock") out.push(...pipfileLock(file, context));
      else out.push(...requirements(file));
    }
    return out;
  },
};

/** PEP 503 normalisation, as the pypi purl type asks. */
export function normalizeName(name: string): string {
  return name.toLowerCase().replace(/[-_.]+/g, "-");
}

function pypi(
  file: TreeFile,
  foundBy: string,
  name: string,
  version: string,
  licenses: string[] = [],
  scope?: Component["scope"],
): Component {
  return component(file, {
    name,
    version,
    ecosystem: "pypi",
    purl: purl("pypi", undefined, normalizeName(name), version),
    foundBy,
    licenses,
    ...(scope && { scope }),
  });
}

/** Core metadata (email header format): Name, Version, License-Expression, License, license classifiers. */
function installed(file: TreeFile): Component[] {
  const text = file.content!.toString("utf8");
  const headerEnd = text.search(/\r?\n\r?\n/);
  const headers = headerEnd < 0 ? text : text.slice(0, headerEnd);
  const fields = new Map<string, string[]>();
  let last: string | undefined;
  for (const line of headers.split(/\r?\n/)) {
    if (/^\s/.test(line) && last) {
      const values = fields.get(last)!;
      values[values.length - 1] += "\n" + line.trim();
      continue;
    }
    const colon = line.indexOf(":");
    if (colon <= 0) continue;
    last = line.slice(0, colon).toLowerCase();
    fields.set(last, [...(fields.get(last) ?? []), line.slice(colon + 1).trim()]);
  }
  const name = fields.get("name")?.[0];
  const version = fields.get("version")?.[0];
  if (!name || !version) return [];
  const expression = fields.get("license-expression")?.[0];
  const license = fields.get("license")?.[0];
  const classifiers = (fields.get("classifier") ?? []).filter((c) => c.startsWith("License ::")).map((c) => c.split("::").pop()!.trim());
  const licenses = expression ? [expression] : license && license !== "UNKNOWN" && !license.includes("\n") ? [license] : classifiers;
  return [pypi(file, "python-installed", name, version, licenses)];
}

function tomlLock(file: TreeFile, context: CatalogContext, foundBy: string): Component[] {
  let doc: Record<string, unknown>;
  try {
    doc = parseToml(file.content!.toString("utf8")) as Record<string, unknown>;
  } catch (e) {
    context.warn(`${where(file)}not valid TOML (${(e as Error).message}); skipped`);
    return [];
  }
  const packages = Array.isArray(doc.package) ? doc.package : [];
  const out: Component[] = [];
  for (const p of packages) {
    if (!isRecord(p)) continue;
    const name = str(p.name);
    const version = str(p.version);
    // uv lists the project itself (and workspace members) with an editable or virtual source.
    if (!name || !version || (isRecord(p.source) && (p.source.editable !== undefined || p.source.virtual !== undefined))) continue;
    const scope =
      foundBy === "poetry-lock" && (p.category === "dev" || (Array.isArray(p.groups) && p.groups.length > 0 && !p.groups.includes("main")))
        ? "optional"
        : undefined;
    out.push(pypi(file, foundBy, name, version, [], scope));
  }
  return out;
}

function pipfileLock(file: TreeFile, context: CatalogContext): Component[] {
  const json = readJson(file, context);
  if (!isRecord(json)) return [];
  const out: Component[] = [];
  for (const section of ["default", "develop"] as const) {
    const deps = json[section];
    if (!isRecord(deps)) continue;
    for (const [name, entry] of Object.entries(deps)) {
      const version = isRecord(entry) ? str(entry.version) : undefined;
      if (version?.startsWith("=="))
        out.push(pypi(file, "pipfile-lock", name, version.slice(2), [], section === "develop" ? "optional" : undefined));
    }
  }
  return out;
}

/** Lines "name[extras]==version ; markers  # comment"; ranges and unpinned names are not a version. */
function requirements(file: TreeFile): Component[] {
  const out: Component[] = [];
  let text = file.content!.toString("utf8").replace(/\\\r?\n/g, " ");
  text = text.replace(/\r/g, "");
  for (const raw of text.split("\n")) {
    const line = raw
      .replace(/(^|\s)#.*$/, "")
      .split(";")[0]!
      .trim();
    const m = /^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?\s*===?\s*([A-Za-z0-9][A-Za-z0-9.+!_-]*)(?:\s|$)/.exec(line);
    if (m) out.push(pypi(file, "python-requirements", m[1]!, m[2]!));
  }
  return out;
}
