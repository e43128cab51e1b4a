// Ruby gems: installed specifications (specifications/*.gemspec, as RubyGems writes them: Ruby code
// whose s.name, s.version and s.licenses lines are read, never run) and Gemfile.lock's GEM specs.
import type { Component } from "../model.ts";
import { purl } from "../purl.ts";
import type { TreeFile } from "../tree.ts";
import { baseName, dirName, type Cataloger } from "./cataloger.ts";
import { component } from "./common.ts";

const isGemspec = (p: string) => p.endsWith(".gemspec") && baseName(dirName(p)) === "specifications";

export const rubyCataloger: Cataloger = {
  name: "ruby",
  wants: (path) => (isGemspec(path) || baseName(path) === "Gemfile.lock" ? "content" : undefined),
  catalog(tree) {
    const out: Component[] = [];
    for (const file of tree.select((p) => isGemspec(p) || baseName(p) === "Gemfile.lock")) {
      out.push(...(baseName(file.path) === "Gemfile.lock" ? gemfileLock(file) : gemspec(file)));
    }
    return out;
  },
};

function gem(file: TreeFile, foundBy: string, name: string, version: string, licenses: string[] = []): Component {
  return component(file, { name, version, ecosystem: "gem", purl: purl("gem", undefined, name, version), foundBy, licenses });
}

function gemspec(file: TreeFile): Component[] {
  const text = file.content!.toString("utf8");
  const name = /^\s*\w+\.name\s*=\s*["']([^"']+)["']/m.exec(text)?.[1];
  const version = /^\s*\w+\.version\s*=\s*["']([^"']+)["']/m.exec(text)?.[1];
  if (!name || !version) return [];
  const licenseList = /^\s*\w+\.licenses\s*=\s*\[([^\]]*)\]/m.exec(text)?.[1];
  const single = /^\s*\w+\.license\s*=\s*["']([^"']+)["']/m.exec(text)?.[1];
  const licenses = licenseList ? [...licenseList.matchAll(/["']([^"']+)["']/g)].map((m) => m[1]!) : single ? [single] : [];
  return [gem(file, "ruby-gemspec", name, version, licenses)];
}

/** The "specs:" of GEM sections: four spaces, "name (version)"; deeper lines are their dependencies. */
function gemfileLock(file: TreeFile): Component[] {
  const out: Component[] = [];
  let inGem = false;
  for (const line of file.content!.toString("utf8").split(/\r?\n/)) {
    if (/^\S/.test(line)) inGem = line.trim() === "GEM";
    if (!inGem) continue;
    const m = /^ {4}([^\s(]+) \(([^)]+)\)$/.exec(line);
    if (m) out.push(gem(file, "ruby-gemfile-lock", m[1]!, m[2]!.replace(/-(x86|arm|aarch64|universal|java|x64).*$/, "")));
  }
  return out;
}
