// What vigil scan reads: CycloneDX (1.4-1.6) and SPDX 2.3 JSON SBOMs, and the lockfiles of the common
// package managers, each turned into components named by purl. Strict where it matters: a document
// that is neither is bad input naming the file and field; sizes and counts are capped, since an SBOM is
// written by whoever built the image.
import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import { basename } from "node:path";
import { PackageURL } from "packageurl-js";
import { InputError } from "../core/errors.ts";
import type { Component } from "./match.ts";

/** An SBOM of 100,000 components is a few tens of megabytes; this leaves room and refuses the absurd. */
export const MAX_INPUT_BYTES = 1024 * 1024 * 1024;
export const MAX_COMPONENTS = 2_000_000;

export interface ReadInput {
  kind: string;
  components: Component[];
  /** Components listed without a purl: they cannot be matched, and the scan says how many. */
  withoutPurl: string[];
}

export function readInputFile(path: string): ReadInput {
  const text = readCapped(path);
  const name = basename(path);
  const lockfile = LOCKFILES[name];
  if (lockfile) return { kind: name, components: lockfile(text, path), withoutPurl: [] };
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new InputError(
      `${path}: not a CycloneDX or SPDX JSON SBOM, nor a lockfile Vigil reads (${Object.keys(LOCKFILES).join(", ")}): ${(e as Error).message}`,
    );
  }
  return readSbomDocument(doc, path);
}

/** An SBOM already parsed (an attestation's predicate, for example); `path` names it in messages. */
export function readSbomDocument(doc: unknown, path: string): ReadInput {
  if (isObject(doc) && doc.bomFormat === "CycloneDX") return readCycloneDx(doc, path);
  if (isObject(doc) && typeof doc.spdxVersion === "string") return readSpdx(doc, path);
  throw new InputError(`${path}: JSON but neither CycloneDX (bomFormat) nor SPDX (spdxVersion)`);
}

function readCapped(path: string): string {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch (e) {
    throw new InputError(`${path}: cannot read: ${(e as Error).message}`);
  }
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile()) throw new InputError(`${path}: not a regular file`);
    if (stat.size > MAX_INPUT_BYTES) throw new InputError(`${path}: ${stat.size} bytes, over the ${MAX_INPUT_BYTES}-byte cap`);
    const buf = Buffer.alloc(stat.size);
    let off = 0;
    while (off < buf.length) {
      const n = readSync(fd, buf, off, buf.length - off, off);
      if (n === 0) break;
      off += n;
    }
    return buf.subarray(0, off).toString("utf8");
  } finally {
    closeSync(fd);
  }
}

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);

function readCycloneDx(doc: Json, path: string): ReadInput {
  if (typeof doc.specVersion !== "string" || !["1.4", "1.5", "1.6"].includes(doc.specVersion)) {
    throw new InputError(`${path}: specVersion ${JSON.stringify(doc.specVersion)}: Vigil reads CycloneDX 1.4, 1.5 and 1.6`);
  }
  const out: ReadInput = { kind: `CycloneDX ${doc.specVersion}`, components: [], withoutPurl: [] };
  // Depth-first without recursion: nesting is attacker-chosen.
  const stack: { list: unknown; field: string }[] = [{ list: doc.components ?? [], field: "components" }];
  while (stack.length > 0) {
    const { list, field } = stack.pop()!;
    if (!Array.isArray(list)) throw new InputError(`${path}: ${field} is not a list`);
    list.forEach((c, i) => {
      const where = `${field}[${i}]`;
      if (!isObject(c)) throw new InputError(`${path}: ${where} is not an object`);
      if (c.purl !== undefined && typeof c.purl !== "string") throw new InputError(`${path}: ${where}.purl is not a string`);
      if (typeof c.purl === "string" && c.purl !== "") {
        const source = sourcePackage(c.properties);
        addComponent(
          out,
          { purl: c.purl, from: path, ...(typeof c["bom-ref"] === "string" && { ref: c["bom-ref"] }), ...(source && { source }) },
          path,
        );
      } else if (c.type !== "file") out.withoutPurl.push(typeof c.name === "string" ? c.name : where);
      if (c.components !== undefined) stack.push({ list: c.components, field: `${where}.components` });
    });
  }
  return out;
}

/** Property names SBOM tools give a distribution package's source package under (vigil sbom's, Trivy's). */
const SOURCE_PROPERTIES = [
  ["vigil:package:sourceName", "vigil:package:sourceVersion"],
  ["aquasecurity:trivy:SrcName", "aquasecurity:trivy:SrcVersion"],
] as const;

function sourcePackage(properties: unknown): { name: string; version?: string } | undefined {
  if (!Array.isArray(properties)) return undefined;
  const value = (name: string) =>
    properties.find((p): p is { value: string } => isObject(p) && p.name === name && typeof p.value === "string")?.value;
  for (const [nameKey, versionKey] of SOURCE_PROPERTIES) {
    const name = value(nameKey);
    const version = value(versionKey);
    if (name) return { name, ...(version && { version }) };
  }
  return undefined;
}

function readSpdx(doc: Json, path: string): ReadInput {
  if (doc.spdxVersion !== "SPDX-2.3" && doc.spdxVersion !== "SPDX-2.2")
    throw new InputError(`${path}: spdxVersion ${JSON.stringify(doc.spdxVersion)}: Vigil reads SPDX 2.3 (and 2.2) JSON`);
  const out: ReadInput = { kind: doc.spdxVersion, components: [], withoutPurl: [] };
  const packages = doc.packages ?? [];
  if (!Array.isArray(packages)) throw new InputError(`${path}: packages is not a list`);
  packages.forEach((p, i) => {
    if (!isObject(p)) throw new InputError(`${path}: packages[${i}] is not an object`);
    const refs = p.externalRefs ?? [];
    if (!Array.isArray(refs)) throw new InputError(`${path}: packages[${i}].externalRefs is not a list`);
    const purls = refs
      .filter((r): r is Json => isObject(r) && r.referenceType === "purl" && typeof r.referenceLocator === "string")
      .map((r) => r.referenceLocator as string);
    if (purls.length === 0) out.withoutPurl.push(typeof p.name === "string" ? p.name : `packages[${i}]`);
    for (const purl of purls) addComponent(out, { purl, from: path, ...(typeof p.SPDXID === "string" && { ref: p.SPDXID }) }, path);
  });
  return out;
}

function addComponent(out: { components: Component[] }, c: Component, path: string): void {
  if (out.components.length >= MAX_COMPONENTS) throw new InputError(`${path}: more than ${MAX_COMPONENTS} components`);
  out.components.push(c);
}

const purl = (type: string, namespace: string | undefined, name: string, version: string) =>
  new PackageURL(type, namespace, name, version, undefined, undefined).toString();

/** Lockfiles by file name: each lists exact versions, which is all matching needs. */
const LOCKFILES: Record<string, (text: string, path: string) => Component[]> = {
  "package-lock.json": (text, path) => {
    const doc = parseJson(text, path);
    const out: Component[] = [];
    const packages = isObject(doc.packages) ? doc.packages : undefined;
    if (packages) {
      for (const [key, value] of Object.entries(packages)) {
        if (key === "" || !isObject(value) || typeof value.version !== "string" || value.link === true) continue;
        const name = typeof value.name === "string" ? value.name : key.slice(key.lastIndexOf("node_modules/") + "node_modules/".length);
        out.push(npmComponent(name, value.version, path));
      }
    } else if (isObject(doc.dependencies)) {
      const stack: Json[] = [doc.dependencies];
      while (stack.length > 0) {
        for (const [name, value] of Object.entries(stack.pop()!)) {
          if (!isObject(value) || typeof value.version !== "string") continue;
          out.push(npmComponent(name, value.version, path));
          if (isObject(value.dependencies)) stack.push(value.dependencies);
        }
      }
    }
    return out;
  },
  "requirements.txt": (text, path) =>
    text.split("\n").flatMap((line) => {
      const m = /^\s*([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?\s*===?\s*([^\s;#]+)/.exec(line);
      return m ? [{ purl: purl("pypi", undefined, m[1]!.toLowerCase(), m[2]!), from: path }] : [];
    }),
  "Cargo.lock": (text, path) =>
    [...text.matchAll(/\[\[package\]\]\s*\nname\s*=\s*"([^"]+)"\s*\nversion\s*=\s*"([^"]+)"/g)].map((m) => ({
      purl: purl("cargo", undefined, m[1]!, m[2]!),
      from: path,
    })),
  "Gemfile.lock": (text, path) => {
    // The gems are the four-space lines under "  specs:" of the GEM section (six-space lines are their dependencies).
    const out: Component[] = [];
    let section = "";
    let inSpecs = false;
    for (const line of text.split("\n")) {
      if (/^\S/.test(line)) [section, inSpecs] = [line.trim(), false];
      else if (line === "  specs:") inSpecs = section === "GEM";
      else if (inSpecs) {
        const m = /^ {4}([^\s(]+) \(([^)\s-]+)(?:-[^)]+)?\)$/.exec(line);
        if (m) out.push({ purl: purl("gem", undefined, m[1]!, m[2]!), from: path });
      }
    }
    return out;
  },
  "composer.lock": (text, path) => {
    const doc = parseJson(text, path);
    return [...(Array.isArray(doc.packages) ? doc.packages : []), ...(Array.isArray(doc["packages-dev"]) ? doc["packages-dev"] : [])]
      .filter((p): p is Json => isObject(p) && typeof p.name === "string" && typeof p.version === "string")
      .map((p) => {
        const [ns, name] = (p.name as string).split("/");
        return { purl: purl("composer", name ? ns : undefined, name ?? ns!, (p.version as string).replace(/^v/, "")), from: path };
      });
  },
  "go.mod": (text, path) => {
    const out: Component[] = [];
    const add = (module: string, version: string) => {
      const slash = module.lastIndexOf("/");
      out.push({ purl: purl("golang", slash < 0 ? undefined : module.slice(0, slash), module.slice(slash + 1), version), from: path });
    };
    for (const block of text.matchAll(/^require\s*\(([^)]*)\)/gm)) {
      for (const m of block[1]!.matchAll(/^\s*(\S+)\s+(v\S+)/gm)) add(m[1]!, m[2]!);
    }
    // The `go` line is the oldest language version the module accepts, not the toolchain it is built
    // with, so it says nothing about which standard library runs: stdlib is not guessed from it.
    for (const m of text.matchAll(/^require\s+(\S+)\s+(v\S+)/gm)) add(m[1]!, m[2]!);
    return out;
  },
};

function parseJson(text: string, path: string): Json {
  try {
    const doc = JSON.parse(text);
    if (!isObject(doc)) throw new Error("not an object");
    return doc;
  } catch (e) {
    throw new InputError(`${path}: not valid JSON: ${(e as Error).message}`);
  }
}

function npmComponent(name: string, version: string, from: string): Component {
  const scoped = name.startsWith("@") ? name.split("/") : undefined;
  return { purl: purl("npm", scoped?.[0], scoped ? scoped[1]! : name, version), from };
}
