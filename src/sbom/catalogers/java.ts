// Java archives (JAR, WAR, EAR, and the other zip-packaged kinds): each pom.properties is a Maven
// artifact; an archive without one is named by its MANIFEST.MF (or its file name). Archives inside
// archives (WEB-INF/lib, BOOT-INF/lib, EAR modules) are read too, to a bounded depth and size: zip
// bombs and deep nesting are refused with a warning naming the path inside the archive.
import { inflateRawSync } from "node:zlib";
import type { Component } from "../model.ts";
import { purl } from "../purl.ts";
import type { TreeFile } from "../tree.ts";
import { baseName, type Cataloger } from "./cataloger.ts";
import { component } from "./common.ts";

const ARCHIVE = /\.(jar|war|ear|par|sar|nar|jpi|hpi|lpkg|kar)$/i;
const MAX_DEPTH = 4;
const MAX_ENTRY_BYTES = 64 << 20;
const MAX_ENTRIES = 200_000;

export const javaCataloger: Cataloger = {
  name: "java",
  wants: (path) => (ARCHIVE.test(path) ? "analyse" : undefined),
  analyse(path, bytes, layer, warn) {
    const out: Component[] = [];
    readArchive({ path, layer, layerIndex: 0 }, path, bytes, 0, warn, out);
    return out;
  },
  catalog: () => [],
};

interface ZipEntry {
  name: string;
  method: number;
  compressedSize: number;
  size: number;
  localOffset: number;
}

function readArchive(file: TreeFile, virtualPath: string, bytes: Buffer, depth: number, warn: (m: string) => void, out: Component[]): void {
  let entries: ZipEntry[];
  try {
    entries = centralDirectory(bytes);
  } catch (e) {
    warn(`${virtualPath}: not a readable zip archive (${(e as Error).message})`);
    return;
  }
  const location: TreeFile = { ...file, path: virtualPath };
  const read = (entry: ZipEntry): Buffer | undefined => {
    try {
      return entryBytes(bytes, entry);
    } catch (e) {
      warn(`${virtualPath}:${entry.name}: ${(e as Error).message}`);
      return undefined;
    }
  };
  const poms = entries.filter((e) => /^META-INF\/maven\/[^/]+\/[^/]+\/pom\.properties$/.test(e.name));
  for (const pom of poms) {
    const props = properties(read(pom));
    if (props.groupId && props.artifactId && props.version) out.push(maven(location, props.groupId, props.artifactId, props.version));
  }
  if (poms.length === 0) {
    const manifest = entries.find((e) => e.name === "META-INF/MANIFEST.MF");
    const fromManifest = manifest ? manifestIdentity(read(manifest)) : {};
    const fromName = /^(.+?)-(\d[\w.+-]*)\.[a-z]+$/i.exec(baseName(virtualPath));
    const named = fromName?.[1] ?? baseName(virtualPath).replace(ARCHIVE, "");
    // Files named group.artifact-version.jar (as Jetty ships org.mortbay.jasper.apache-el-10.0.27.jar): the artifact is what follows the group.
    const artifact = fromManifest.group && named.startsWith(`${fromManifest.group}.`) ? named.slice(fromManifest.group.length + 1) : named;
    const version = fromManifest.version ?? fromName?.[2];
    if (version) out.push(maven(location, fromManifest.group ?? artifact, artifact, version, fromManifest.license));
  }
  for (const nested of entries.filter((e) => ARCHIVE.test(e.name))) {
    if (depth + 1 > MAX_DEPTH) {
      warn(`${virtualPath}:${nested.name}: archives nested more than ${MAX_DEPTH} deep; not read`);
      continue;
    }
    const inner = read(nested);
    if (inner) readArchive(file, `${virtualPath}:${nested.name}`, inner, depth + 1, warn, out);
  }
}

function maven(file: TreeFile, group: string, artifact: string, version: string, license?: string): Component {
  return component(file, {
    name: artifact,
    version,
    ecosystem: "maven",
    purl: purl("maven", group, artifact, version),
    foundBy: "java-archive",
    licenses: [license],
  });
}

function properties(bytes: Buffer | undefined): Record<string, string> {
  const props: Record<string, string> = {};
  for (const line of (bytes?.toString("utf8") ?? "").split(/\r?\n/)) {
    const m = /^\s*([^#!\s=:][^=:]*?)\s*[=:]\s*(.*)$/.exec(line);
    if (m) props[m[1]!] = m[2]!.trim();
  }
  return props;
}

/** MANIFEST.MF main section: continuation lines start with one space. */
function manifestIdentity(bytes: Buffer | undefined): { group?: string; version?: string; license?: string } {
  const text = (bytes?.toString("utf8") ?? "").replace(/\r?\n /g, "");
  const main = text.split(/\r?\n\r?\n/)[0] ?? "";
  const fields: Record<string, string> = {};
  for (const line of main.split(/\r?\n/)) {
    const colon = line.indexOf(": ");
    if (colon > 0) fields[line.slice(0, colon)] = line.slice(colon + 2).trim();
  }
  const version = fields["Implementation-Version"] ?? fields["Bundle-Version"] ?? fields["Specification-Version"];
  const group = fields["Implementation-Vendor-Id"] ?? fields["Bundle-SymbolicName"]?.split(";")[0]?.split(".").slice(0, -1).join(".");
  return {
    ...(version && { version }),
    ...(group && { group }),
    ...(fields["Bundle-License"] && !fields["Bundle-License"].includes("://") && { license: fields["Bundle-License"] }),
  };
}

/** The central directory, found through the end-of-central-directory record (searched in the last 64 KiB + 22 bytes). */
function centralDirectory(bytes: Buffer): ZipEntry[] {
  const floor = Math.max(0, bytes.length - 65557);
  let eocd = -1;
  for (let i = bytes.length - 22; i >= floor; i--) {
    if (bytes.readUInt32LE(i) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw new Error("no end of central directory record");
  let count = bytes.readUInt16LE(eocd + 10);
  let offset = bytes.readUInt32LE(eocd + 16);
  if (offset === 0xffffffff || count === 0xffff) {
    // ZIP64: the locator sits just before the EOCD record.
    const locator = eocd - 20;
    if (locator < 0 || bytes.readUInt32LE(locator) !== 0x07064b50) throw new Error("ZIP64 locator missing");
    const record = Number(bytes.readBigUInt64LE(locator + 8));
    if (record + 56 > bytes.length || bytes.readUInt32LE(record) !== 0x06064b50) throw new Error("ZIP64 record missing");
    count = Number(bytes.readBigUInt64LE(record + 32));
    offset = Number(bytes.readBigUInt64LE(record + 48));
  }
  if (count > MAX_ENTRIES) throw new Error(`${count} entries, more than the ${MAX_ENTRIES} read`);
  const entries: ZipEntry[] = [];
  let at = offset;
  for (let i = 0; i < count; i++) {
    if (at + 46 > bytes.length || bytes.readUInt32LE(at) !== 0x02014b50) throw new Error(`central directory entry ${i} is corrupt`);
    const nameLength = bytes.readUInt16LE(at + 28);
    const extraLength = bytes.readUInt16LE(at + 30);
    const commentLength = bytes.readUInt16LE(at + 32);
    entries.push({
      name: bytes.toString("utf8", at + 46, at + 46 + nameLength),
      method: bytes.readUInt16LE(at + 10),
      compressedSize: bytes.readUInt32LE(at + 20),
      size: bytes.readUInt32LE(at + 24),
      localOffset: bytes.readUInt32LE(at + 42),
    });
    at += 46 + nameLength + extraLength + commentLength;
  }
  return entries;
}

function entryBytes(bytes: Buffer, entry: ZipEntry): Buffer {
  if (entry.size > MAX_ENTRY_BYTES) throw new Error(`${entry.size} bytes uncompressed, over the ${MAX_ENTRY_BYTES} read from an archive`);
  const at = entry.localOffset;
  if (at + 30 > bytes.length || bytes.readUInt32LE(at) !== 0x04034b50) throw new Error("local header is corrupt");
  const start = at + 30 + bytes.readUInt16LE(at + 26) + bytes.readUInt16LE(at + 28);
  const data = bytes.subarray(start, start + entry.compressedSize);
  if (start + entry.compressedSize > bytes.length) throw new Error("entry runs past the end of the archive");
  if (entry.method === 0) return data;
  if (entry.method !== 8) throw new Error(`compression method ${entry.method} is not supported`);
  // The declared size can lie: inflate is capped whatever it says.
  return inflateRawSync(data, { maxOutputLength: Math.min(MAX_ENTRY_BYTES, Math.max(entry.size, 1)) });
}
