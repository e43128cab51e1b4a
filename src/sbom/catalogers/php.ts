// PHP packages: composer.lock (packages and packages-dev) and vendor/composer/installed.json
// (Composer 1's array, Composer 2's {"packages": [...]}).
import type { Component } from "../model.ts";
import { purl } from "../purl.ts";
import type { TreeFile } from "../tree.ts";
import { baseName, type CatalogContext, type Cataloger } from "./cataloger.ts";
import { component, isRecord, readJson, str } from "./common.ts";

const isInstalled = (p: string) => p.endsWith("/vendor/composer/installed.json") || p === "/vendor/composer/installed.json";

export const phpCataloger: Cataloger = {
  name: "php",
  wants: (path) => (baseName(path) === "composer.lock" || isInstalled(path) ? "content" : undefined),
  catalog(tree, context) {
    const out: Component[] = [];
    for (const file of tree.select((p) => baseName(p) === "composer.lock" || isInstalled(p))) out.push(...composer(file, context));
    return out;
  },
};

function composer(file: TreeFile, context: CatalogContext): Component[] {
  const json = readJson(file, context);
  const lists: [unknown, boolean][] = Array.isArray(json)
    ? [[json, false]]
    : isRecord(json)
      ? [
          [json.packages, false],
          [json["packages-dev"], true],
        ]
      : [];
  const out: Component[] = [];
  for (const [list, dev] of lists) {
    if (!Array.isArray(list)) continue;
    for (const p of list) {
      if (!isRecord(p)) continue;
      const name = str(p.name);
      const version = str(p.version);
      if (!name || !version) continue;
      const slash = name.indexOf("/");
      out.push(
        component(file, {
          name,
          version,
          ecosystem: "composer",
          purl:
            slash > 0 ? purl("composer", name.slice(0, slash), name.slice(slash + 1), version) : purl("composer", undefined, name, version),
          foundBy: "php-composer",
          licenses: Array.isArray(p.license) ? p.license.filter((l): l is string => typeof l === "string") : [],
          ...(dev && { scope: "optional" as const }),
        }),
      );
    }
  }
  return out;
}
