// Alpine (and Wolfi) packages: apk's installed database, /lib/apk/db/installed (apk-tools'
// "installed database" format: one record per package, "X:value" lines, records split by blank lines;
// P name, V version, A arch, L license, o origin, c commit).
import type { Component } from "../model.ts";
import { purl } from "../purl.ts";
import type { Cataloger } from "./cataloger.ts";
import { withIntroducingLayer } from "./revisions.ts";

const INSTALLED = "/lib/apk/db/installed";

interface ApkPackage {
  name: string;
  version: string;
  arch?: string;
  license?: string;
  origin?: string;
}

export const apkCataloger: Cataloger = {
  name: "apk-db",
  wants: (path) => (path === INSTALLED ? "database" : undefined),
  catalog(tree, { os }) {
    const file = tree.files.get(INSTALLED);
    if (!file) return [];
    return withIntroducingLayer(file, parseInstalled, (p) => `${p.name}\0${p.version}\0${p.arch}`).map(
      ({ entry, layer }): Component => ({
        name: entry.name,
        version: entry.version,
        ecosystem: "apk",
        purl: purl("apk", os?.id ?? "alpine", entry.name, entry.version, { arch: entry.arch, distro: os?.versionId }),
        ...(entry.license && { licenses: [apkLicense(entry.license)] }),
        ...(entry.origin && { source: { name: entry.origin, version: entry.version } }),
        ...(os && { os }),
        foundBy: "apk-db",
        locations: [{ ...(layer && { layer }), path: INSTALLED }],
      }),
    );
  },
};

export function parseInstalled(content: Buffer): ApkPackage[] {
  const packages: ApkPackage[] = [];
  for (const record of content.toString("utf8").split(/\n\s*\n/)) {
    const fields: Record<string, string> = {};
    for (const line of record.split("\n")) {
      if (line.length >= 2 && line[1] === ":" && fields[line[0]!] === undefined) fields[line[0]!] = line.slice(2);
    }
    if (!fields.P || !fields.V) continue;
    packages.push({
      name: fields.P,
      version: fields.V,
      ...(fields.A && { arch: fields.A }),
      ...(fields.L && { license: fields.L }),
      ...(fields.o && { origin: fields.o }),
    });
  }
  return packages;
}

/** Alpine writes "MIT BSD-2-Clause" for "either or both": as an expression, licenses are ANDed by space only when not already an expression. */
function apkLicense(text: string): string {
  return /\b(AND|OR|WITH)\b/.test(text) ? text : text.trim().split(/\s+/).join(" AND ");
}
