// JavaScript packages: package-lock.json (lockfileVersion 1, 2 and 3; also npm-shrinkwrap.json and
// node_modules/.package-lock.json), installed packages (node_modules/**/package.json), yarn.lock
// (v1's own format and berry's YAML) and pnpm-lock.yaml (v5 to v9).
import { parse as parseYaml } from "yaml";
import type { Component } from "../model.ts";
import { purl } from "../purl.ts";
import type { TreeFile } from "../tree.ts";
import { baseName, type CatalogContext, type Cataloger } from "./cataloger.ts";
import { component, isRecord, readJson, str, where } from "./common.ts";

const LOCKS = new Set(["package-lock.json", "npm-shrinkwrap.json", "yarn.lock", "pnpm-lock.yaml"]);
const INSTALLED = /\/node_modules\/(?:@[^/]+\/)?[^/@][^/]*\/package\.json$/;

export const npmCataloger: Cataloger = {
  name: "npm",
  wants: (path) => (LOCKS.has(baseName(path)) || INSTALLED.test(path) ? "content" : undefined),
  catalog(tree, context) {
    const found: Component[] = [];
    for (const file of tree.select((p) => LOCKS.has(baseName(p)) || INSTALLED.test(p))) {
      const name = baseName(file.path);
      if (name === "package.json") found.push(...installed(file, context));
      else if (name === "yarn.lock") found.push(...yarnLock(file, context));
      else if (name === "pnpm-lock.yaml") found.push(...pnpmLock(file, context));
      else found.push(...packageLock(file, context));
    }
    return found;
  },
};

export function npmPurl(name: string, version: string): string {
  const slash = name.startsWith("@") ? name.indexOf("/") : -1;
  return slash > 0 ? purl("npm", name.slice(0, slash), name.slice(slash + 1), version) : purl("npm", undefined, name, version);
}

function npm(file: TreeFile, foundBy: string, name: string, version: string, license?: unknown, dev?: boolean): Component {
  return component(file, {
    name,
    version,
    ecosystem: "npm",
    purl: npmPurl(name, version),
    foundBy,
    licenses: licensesOf(license),
    ...(dev && { scope: "optional" as const }),
  });
}

/** package.json's "license" (a string), or the old "licenses" form ([{type}] or {type}). */
function licensesOf(value: unknown): string[] {
  if (typeof value === "string") return [value];
  if (Array.isArray(value)) return value.flatMap(licensesOf);
  if (isRecord(value) && typeof value.type === "string") return [value.type];
  return [];
}

function installed(file: TreeFile, context: CatalogContext): Component[] {
  const json = readJson(file, context);
  if (!isRecord(json)) return [];
  const name = str(json.name);
  const version = str(json.version);
  if (!name || !version) return [];
  return [npm(file, "npm-installed", name, version, json.license ?? json.licenses)];
}

function packageLock(file: TreeFile, context: CatalogContext): Component[] {
  const json = readJson(file, context);
  if (!isRecord(json)) return [];
  const out: Component[] = [];
  if (isRecord(json.packages)) {
    // v2 and v3: keys are install paths; "" is the project itself.
    for (const [path, entry] of Object.entries(json.packages)) {
      if (path === "" || !isRecord(entry) || entry.link === true) continue;
      const at = path.lastIndexOf("node_modules/");
      if (at < 0) continue; // a workspace folder, not an installed package
      const name = str(entry.name) ?? path.slice(at + "node_modules/".length);
      const version = str(entry.version);
      if (version) out.push(npm(file, "npm-package-lock", name, version, entry.license, entry.dev === true));
    }
    return out;
  }
  // v1: a tree of "dependencies".
  const walk = (deps: unknown, depth: number) => {
    if (!isRecord(deps) || depth > 256) return;
    for (const [name, entry] of Object.entries(deps)) {
      if (!isRecord(entry)) continue;
      const version = str(entry.version);
      if (version && !version.startsWith("file:")) out.push(npm(file, "npm-package-lock", name, version, undefined, entry.dev === true));
      walk(entry.dependencies, depth + 1);
    }
  };
  walk(json.dependencies, 0);
  return out;
}

function yarnLock(file: TreeFile, context: CatalogContext): Component[] {
  const text = file.content!.toString("utf8");
  if (/^__metadata:/m.test(text)) return yarnBerry(file, text, context);
  // v1: an unindented line of specifiers ending in ":", then indented "version "x"".
  const out: Component[] = [];
  let names: string[] = [];
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    if (!line.startsWith(" ") && line.endsWith(":")) {
      names = line
        .slice(0, -1)
        .split(",")
        .map((s) => specName(s.trim().replace(/^"|"$/g, "")));
    } else if (names.length > 0) {
      const m = /^\s+version:?\s+"?([^"\s]+)"?\s*$/.exec(line);
      if (m) {
        out.push(npm(file, "yarn-lock", names[0]!, m[1]!));
        names = [];
      }
    }
  }
  return out;
}

/** "@scope/name@^1.0.0" → "@scope/name". */
function specName(spec: string): string {
  const at = spec.indexOf("@", 1);
  return at < 0 ? spec : spec.slice(0, at);
}

function yarnBerry(file: TreeFile, text: string, context: CatalogContext): Component[] {
  let doc: unknown;
  try {
    doc = parseYaml(text, { maxAliasCount: 100 });
  } catch (e) {
    context.warn(`${where(file)}not valid YAML (${(e as Error).message}); skipped`);
    return [];
  }
  if (!isRecord(doc)) return [];
  const out: Component[] = [];
  for (const [key, entry] of Object.entries(doc)) {
    if (key === "__metadata" || !isRecord(entry)) continue;
    const resolution = str(entry.resolution) ?? key.split(",")[0]!.trim();
    if (/@(workspace|link|portal|file):/.test(resolution)) continue;
    const version = str(entry.version) ?? (typeof entry.version === "number" ? String(entry.version) : undefined);
    if (version) out.push(npm(file, "yarn-lock", specName(resolution), version));
  }
  return out;
}

function pnpmLock(file: TreeFile, context: CatalogContext): Component[] {
  let doc: unknown;
  try {
    doc = parseYaml(file.content!.toString("utf8"), { maxAliasCount: 100 });
  } catch (e) {
    context.warn(`${where(file)}not valid YAML (${(e as Error).message}); skipped`);
    return [];
  }
  if (!isRecord(doc) || !isRecord(doc.packages)) return [];
  const version = Number.parseFloat(String(doc.lockfileVersion ?? "0"));
  const out: Component[] = [];
  for (const [key, entry] of Object.entries(doc.packages)) {
    const parsed = pnpmKey(key, version);
    if (!parsed) continue;
    const dev = isRecord(entry) && entry.dev === true;
    out.push(
      npm(
        file,
        "pnpm-lock",
        isRecord(entry) && str(entry.name) ? str(entry.name)! : parsed.name,
        isRecord(entry) && str(entry.version) ? str(entry.version)! : parsed.version,
        undefined,
        dev,
      ),
    );
  }
  return out;
}

/** "/name/1.0.0" (v5), "/name@1.0.0(peer@2)" (v6), "name@1.0.0" (v9), with _peer or (peer) suffixes. */
function pnpmKey(key: string, lockVersion: number): { name: string; version: string } | undefined {
  let k = key.replace(/^\//, "").replace(/\(.*$/, "");
  if (lockVersion < 6 && !/^(@[^/]+\/)?[^/@]+@/.test(k)) {
    const slash = k.lastIndexOf("/");
    if (slash <= 0) return undefined;
    return { name: k.slice(0, slash), version: k.slice(slash + 1).replace(/_.*$/, "") };
  }
  k = k.replace(/_.*$/, "");
  const at = k.lastIndexOf("@");
  if (at <= 0) return undefined;
  const version = k.slice(at + 1);
  if (/^(link|file|workspace):/.test(version)) return undefined;
  return { name: k.slice(0, at), version };
}
