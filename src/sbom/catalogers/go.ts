// Go modules: the build information the Go toolchain embeds in every binary it links (Go 1.18's inline
// format, read by `go version -m`: the toolchain version, then "path", "mod", "dep" and "=>" lines),
// and go.mod files' require directives (with replace directives applied).
import type { Component } from "../model.ts";
import { purl } from "../purl.ts";
import type { TreeFile } from "../tree.ts";
import { baseName, type Cataloger } from "./cataloger.ts";
import { component } from "./common.ts";
import { isElf } from "./elf.ts";

const MAGIC = Buffer.from("\xff Go buildinf:", "latin1");
const MAX_INFO = 16 << 20;

export const goCataloger: Cataloger = {
  name: "go",
  wants: (path, info) => (baseName(path) === "go.mod" ? "content" : (info.mode & 0o111) !== 0 && info.size > 1024 ? "analyse" : undefined),
  analyse(path, bytes, layer, warn) {
    if (!isElf(bytes)) return [];
    const info = readBuildInfo(bytes, warn);
    if (!info) return [];
    const file: TreeFile = { path, layer, layerIndex: 0 };
    // The standard library as OSV names it: package "stdlib", version without "go" ("go1.22.3 X:boringcrypto" → "1.22.3").
    const stdlib = /^go(\d+(?:\.\d+)*(?:(?:rc|beta)\d+)?)/.exec(info.goVersion)?.[1];
    return info.modules
      .map((m) => goComponent(file, "go-binary", m.path, m.version))
      .concat(stdlib ? [goComponent(file, "go-binary", "stdlib", stdlib)] : []);
  },
  catalog(tree) {
    const out: Component[] = [];
    for (const file of tree.select((p) => baseName(p) === "go.mod")) if (file.content) out.push(...goMod(file));
    return out;
  },
};

export function goPurl(modulePath: string, version: string): string {
  const path = modulePath.replace(/\/+$/, "");
  const slash = path.lastIndexOf("/");
  return slash < 0 ? purl("golang", undefined, path, version) : purl("golang", path.slice(0, slash), path.slice(slash + 1), version);
}

function goComponent(file: TreeFile, foundBy: string, path: string, version: string): Component {
  return component(file, { name: path, version, ecosystem: "golang", purl: goPurl(path, version), foundBy });
}

export interface BuildInfo {
  goVersion: string;
  /** The main module and every dependency, replacements applied. */
  modules: { path: string; version: string }[];
}

/** Build info of an ELF binary, or undefined if it has none (not a Go binary). */
export function readBuildInfo(bytes: Buffer, warn: (m: string) => void): BuildInfo | undefined {
  let at = bytes.indexOf(MAGIC);
  while (at >= 0 && at % 16 !== 0) at = bytes.indexOf(MAGIC, at + 1);
  if (at < 0 || at + 32 > bytes.length) return undefined;
  const flags = bytes[at + 15]!;
  if ((flags & 2) === 0) {
    warn("Go build information in the pre-1.18 format (pointers into the binary) is not read");
    return undefined;
  }
  let cursor = at + 32;
  const next = (): string | undefined => {
    let length = 0;
    let shift = 0;
    for (;;) {
      if (cursor >= bytes.length || shift > 28) return undefined;
      const b = bytes[cursor++]!;
      length |= (b & 0x7f) << shift;
      if ((b & 0x80) === 0) break;
      shift += 7;
    }
    if (length > MAX_INFO || cursor + length > bytes.length) return undefined;
    const s = bytes.toString("utf8", cursor, cursor + length);
    cursor += length;
    return s;
  };
  const goVersion = next();
  let modinfo = next();
  if (goVersion === undefined || modinfo === undefined) {
    warn("Go build information is truncated");
    return undefined;
  }
  // modinfo is wrapped in 16-byte sentinels.
  if (modinfo.length >= 33 && modinfo[modinfo.length - 17] === "\n") modinfo = modinfo.slice(16, -16);
  return { goVersion, modules: parseModInfo(modinfo) };
}

function parseModInfo(text: string): { path: string; version: string }[] {
  const modules: { path: string; version: string }[] = [];
  for (const line of text.split("\n")) {
    const [kind, path, version] = line.split("\t");
    if ((kind === "mod" || kind === "dep") && path && version) modules.push({ path, version });
    else if (kind === "=>" && path && modules.length > 0) {
      // A replacement of the line before: the code built is the replacement module's. A local directory
      // (a path starting with ./, ../ or /, as go.mod's replace defines it) is no module anyone publishes:
      // the module keeps its own path, built from (devel).
      const replaced = modules[modules.length - 1]!;
      const local = /^(\.\.?\/|\/)/.test(path);
      modules[modules.length - 1] = local || !version ? { path: replaced.path, version: "(devel)" } : { path, version };
    }
  }
  return modules.filter((m) => m.version !== "");
}

/** require lines, single and in blocks; replace directives to a module version swap the module. */
function goMod(file: TreeFile): Component[] {
  const text = file.content!.toString("utf8").replace(/\/\/[^\n]*/g, "");
  const requires = new Map<string, string>();
  const replaces = new Map<string, { path: string; version: string | undefined }>();
  let block: string | undefined;
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === ")") block = undefined;
    else if (/^(require|replace)\s*\($/.test(line)) block = line.split(/\s/)[0];
    else {
      const m = /^(?:(require|replace)\s+)?(.*)$/.exec(line)!;
      const kind = m[1] ?? block;
      const parts = m[2]!.split(/\s+/).filter(Boolean);
      if (kind === "require" && parts.length >= 2) requires.set(parts[0]!, parts[1]!);
      else if (kind === "replace") {
        const arrow = parts.indexOf("=>");
        if (arrow > 0) replaces.set(parts[0]!, { path: parts[arrow + 1]!, version: parts[arrow + 2] });
      }
    }
  }
  const out: Component[] = [];
  for (const [path, version] of requires) {
    const replaced = replaces.get(path);
    if (replaced && !replaced.version) continue; // replaced by a local directory: no published version
    out.push(goComponent(file, "go-mod", replaced?.path ?? path, replaced?.version ?? version));
  }
  return out;
}
