// Rust crates: Cargo.lock, and the dependency list cargo-auditable embeds in binaries (section
// .dep-v0: zlib-compressed JSON {"packages": [{name, version, source, kind, root}]}).
import { inflateSync } from "node:zlib";
import { parse as parseToml } from "smol-toml";
import type { Component } from "../model.ts";
import { purl } from "../purl.ts";
import type { TreeFile } from "../tree.ts";
import { baseName, type Cataloger } from "./cataloger.ts";
import { component, isRecord, str, where } from "./common.ts";
import { elfSection, isElf } from "./elf.ts";

const MAX_AUDIT_JSON = 8 << 20;

export const rustCataloger: Cataloger = {
  name: "rust",
  wants: (path, info) =>
    baseName(path) === "Cargo.lock" ? "content" : (info.mode & 0o111) !== 0 && info.size > 1024 ? "analyse" : undefined,
  analyse(path, bytes, layer, warn) {
    if (!isElf(bytes)) return [];
    const section = elfSection(bytes, ".dep-v0");
    if (!section) return [];
    let json: unknown;
    try {
      json = JSON.parse(inflateSync(section, { maxOutputLength: MAX_AUDIT_JSON }).toString("utf8"));
    } catch (e) {
      warn(`cargo-auditable data not readable (${(e as Error).message})`);
      return [];
    }
    const file: TreeFile = { path, layer, layerIndex: 0 };
    const packages = isRecord(json) && Array.isArray(json.packages) ? json.packages : [];
    return packages
      .filter(
        (p): p is Record<string, unknown> => isRecord(p) && p.root !== true && typeof p.name === "string" && typeof p.version === "string",
      )
      .map((p) => crate(file, "rust-auditable", p.name as string, p.version as string));
  },
  catalog(tree, context) {
    const out: Component[] = [];
    for (const file of tree.select((p) => baseName(p) === "Cargo.lock")) {
      let doc: Record<string, unknown>;
      try {
        doc = parseToml(file.content!.toString("utf8")) as Record<string, unknown>;
      } catch (e) {
        context.warn(`${where(file)}not valid TOML (${(e as Error).message}); skipped`);
        continue;
      }
      for (const p of Array.isArray(doc.package) ? doc.package : []) {
        // Crates without a source are the workspace's own, not dependencies fetched from anywhere.
        if (isRecord(p) && str(p.name) && str(p.version) && str(p.source))
          out.push(crate(file, "rust-cargo-lock", p.name as string, p.version as string));
      }
    }
    return out;
  },
};

function crate(file: TreeFile, foundBy: string, name: string, version: string): Component {
  return component(file, { name, version, ecosystem: "cargo", purl: purl("cargo", undefined, name, version), foundBy });
}
