// The layering of src/: every import points down the stack or across one layer, never up, so a shared
// noun never depends on a stage and a stage never on the agent that chains it. Each top-level folder of
// src/ is named below; a new folder must be placed before the test passes.
//
//   cli → agent → gates (revision, approvals, render, policy, artifact, sbom, vuln, secrets, monitor,
//   admission, console, ci) → git, cluster, oci, sigstore, audit → trust, manifest, api → core
import { strict as assert } from "node:assert";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";
import { describe, it } from "node:test";

const src = resolve(import.meta.dirname, "../src");

/** Each folder of src/ and its layer: higher layers may import lower ones and their own, never higher. */
const layers: Record<string, number> = {
  core: 0,
  trust: 1,
  manifest: 1,
  api: 1,
  git: 2,
  cluster: 2,
  oci: 2,
  sigstore: 2,
  audit: 2,
  revision: 3,
  approvals: 3,
  render: 3,
  policy: 3,
  artifact: 3,
  sbom: 3,
  vuln: 3,
  secrets: 3,
  monitor: 3,
  admission: 3,
  console: 3,
  ci: 3,
  agent: 4,
  cli: 5,
};
const layerNames = ["core", "trust/manifest/api", "git/cluster/oci/sigstore/audit", "gates", "agent", "cli"];

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(path);
    return e.name.endsWith(".ts") ? [path] : [];
  });
}

/** Relative module specifiers of static imports, re-exports, dynamic imports and import types. */
function relativeImports(text: string): { spec: string; line: number }[] {
  const found: { spec: string; line: number }[] = [];
  const pattern = /(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)["'](\.{1,2}\/[^"']+)["']/gm;
  for (const m of text.matchAll(pattern)) {
    found.push({ spec: m[1]!, line: text.slice(0, m.index).split("\n").length });
  }
  return found;
}

const folderOf = (file: string) => relative(src, file).split(sep)[0]!;

describe("layering of src/", () => {
  const files = sourceFiles(src);

  it("names the layer of every folder of src/", () => {
    const folders = [...new Set(files.map(folderOf))].filter((f) => !f.endsWith(".ts"));
    assert.deepEqual(
      folders.filter((f) => layers[f] === undefined),
      [],
      "place each new folder of src/ in the layers table",
    );
  });

  it("has no import that points up the stack", () => {
    const upward: string[] = [];
    for (const file of files) {
      const from = folderOf(file);
      const fromLayer = layers[from];
      if (fromLayer === undefined) continue;
      for (const { spec, line } of relativeImports(readFileSync(file, "utf8"))) {
        const target = resolve(dirname(file), spec);
        if (!target.startsWith(src + sep)) continue;
        const to = folderOf(target);
        const toLayer = layers[to];
        if (toLayer !== undefined && toLayer > fromLayer) {
          upward.push(
            `${relative(src, file)}:${line} (${layerNames[fromLayer]}) imports ${relative(src, target)} (${layerNames[toLayer]})`,
          );
        }
      }
    }
    assert.deepEqual(upward, [], `imports pointing up the stack:\n${upward.join("\n")}`);
  });
});
