// Debian packages: dpkg's status file (/var/lib/dpkg/status), and distroless images' one file per
// package under /var/lib/dpkg/status.d/. Licenses from each package's machine-readable copyright file
// (DEP-5 "License:" fields), as that is where Debian states them.
import type { Component } from "../model.ts";
import { distroQualifier, purl } from "../purl.ts";
import type { FileTree } from "../tree.ts";
import { dirName, type Cataloger } from "./cataloger.ts";
import { parseDeb822, withIntroducingLayer } from "./revisions.ts";

const STATUS = "/var/lib/dpkg/status";
const STATUS_D = "/var/lib/dpkg/status.d";
const DOC = "/usr/share/doc/";

interface DebPackage {
  name: string;
  version: string;
  arch: string | undefined;
  source: { name: string; version?: string } | undefined;
}

export const dpkgCataloger: Cataloger = {
  name: "dpkg-db",
  wants(path) {
    if (path === STATUS) return "database";
    if (dirName(path) === STATUS_D && !path.endsWith(".md5sums")) return "database";
    if (path.startsWith(DOC) && path.endsWith("/copyright") && path.split("/").length === 6) return "content";
    return undefined;
  },
  catalog(tree, { os }) {
    const files = tree.select((p) => p === STATUS || (dirName(p) === STATUS_D && !p.endsWith(".md5sums")));
    const components: Component[] = [];
    for (const file of files) {
      for (const { entry, layer } of withIntroducingLayer(file, parseStatus, (p) => `${p.name}\0${p.version}\0${p.arch}`)) {
        const licenses = copyrightLicenses(tree, entry.name);
        const distro = distroQualifier(os);
        components.push({
          name: entry.name,
          version: entry.version,
          ecosystem: "deb",
          purl: purl("deb", os?.id ?? "debian", entry.name, entry.version, {
            arch: entry.arch,
            ...(entry.source && { upstream: entry.source.version ? `${entry.source.name}@${entry.source.version}` : entry.source.name }),
            distro,
          }),
          ...(licenses.length > 0 && { licenses }),
          ...(entry.source && { source: entry.source }),
          ...(os && { os }),
          foundBy: "dpkg-db",
          locations: [{ ...(layer && { layer }), path: file.path }],
        });
      }
    }
    return components;
  },
};

/** Installed packages of a status file (or a status.d file, which has no Status field). */
export function parseStatus(content: Buffer): DebPackage[] {
  const packages: DebPackage[] = [];
  for (const p of parseDeb822(content.toString("utf8"))) {
    if (!p.Package || !p.Version) continue;
    // "install ok installed": the third word is the state; config-files, not-installed and the like are not on disk.
    if (
      p.Status !== undefined &&
      !["installed", "half-configured", "triggers-awaited", "triggers-pending"].includes(p.Status.split(/\s+/)[2] ?? "")
    )
      continue;
    packages.push({ name: p.Package, version: p.Version, arch: p.Architecture, source: sourceOf(p.Source, p.Version) });
  }
  return packages;
}

/** "Source: name (version)" or "Source: name"; the binary's own version when it gives none. */
function sourceOf(field: string | undefined, version: string): DebPackage["source"] {
  if (!field) return undefined;
  const m = /^(\S+)(?:\s+\(([^)]+)\))?$/.exec(field.trim());
  if (!m) return undefined;
  return { name: m[1]!, version: m[2] ?? version };
}

function copyrightLicenses(tree: FileTree, name: string): string[] {
  const file = tree.lookup(`${DOC}${name}/copyright`);
  if (!file?.content) return [];
  const found = new Set<string>();
  for (const m of file.content.toString("utf8").matchAll(/^License:[ \t]*(\S[^\n]*)$/gm)) found.add(m[1]!.trim());
  return [...found];
}
