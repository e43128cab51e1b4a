// RPM packages: the SQLite rpmdb (rpm 4.16+: /var/lib/rpm/rpmdb.sqlite, /usr/lib/sysimage/rpm/),
// NDB (Packages.db, SUSE) and Berkeley DB hash (Packages, older RHEL and CentOS). Each stores one RPM
// header blob per package; the header format (rpm's "header structure": index count, data size, index
// entries of tag/type/offset/count, then the data store) is parsed strictly with every offset checked.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import type { Component } from "../model.ts";
import { distroQualifier, purl } from "../purl.ts";
import { baseName, dirName, type Cataloger } from "./cataloger.ts";

const DB_DIRS = new Set(["/var/lib/rpm", "/usr/lib/sysimage/rpm", "/usr/share/rpm"]);
const DB_FILES = new Set(["rpmdb.sqlite", "Packages.db", "Packages"]);
/** SQLite's write-ahead log: pages rpm wrote but did not checkpoint yet live there. */
const WAL = "rpmdb.sqlite-wal";

const TAG = { name: 1000, version: 1001, release: 1002, epoch: 1003, license: 1014, vendor: 1011, arch: 1022, sourcerpm: 1044 } as const;
const MAX_INDEX_ENTRIES = 1 << 16;

export interface RpmHeader {
  name: string;
  version: string;
  release: string;
  epoch?: number;
  arch?: string;
  license?: string;
  sourceRpm?: string;
}

export const rpmCataloger: Cataloger = {
  name: "rpm-db",
  wants: (path) => (DB_DIRS.has(dirName(path)) && (DB_FILES.has(baseName(path)) || baseName(path) === WAL) ? "content" : undefined),
  catalog(tree, { os, warn }) {
    const components: Component[] = [];
    for (const file of tree.select((p) => DB_DIRS.has(dirName(p)) && DB_FILES.has(baseName(p)))) {
      let headers: RpmHeader[];
      try {
        headers = readRpmDb(baseName(file.path), file.content!, tree.files.get(`${file.path}-wal`)?.content);
      } catch (e) {
        warn(`${file.layer ? `layer ${file.layer}: ` : ""}${file.path}: not a readable rpm database: ${(e as Error).message}`);
        continue;
      }
      for (const h of headers) {
        if (h.name === "gpg-pubkey") continue; // imported signing keys, not software
        const version = `${h.version}-${h.release}`;
        const source = h.sourceRpm ? sourceOf(h.sourceRpm) : undefined;
        components.push({
          name: h.name,
          version: h.epoch ? `${h.epoch}:${version}` : version,
          ecosystem: "rpm",
          purl: purl("rpm", os?.id, h.name, version, {
            arch: h.arch,
            epoch: h.epoch !== undefined ? String(h.epoch) : undefined,
            upstream: h.sourceRpm,
            distro: distroQualifier(os),
          }),
          ...(h.license && { licenses: [h.license] }),
          ...(source && { source }),
          ...(os && { os }),
          foundBy: "rpm-db",
          locations: [{ ...(file.layer && { layer: file.layer }), path: file.path }],
        });
      }
    }
    return components;
  },
};

function readRpmDb(name: string, content: Buffer, wal: Buffer | undefined): RpmHeader[] {
  const blobs = name === "rpmdb.sqlite" ? sqliteBlobs(content, wal) : name === "Packages.db" ? ndbBlobs(content) : bdbBlobs(content);
  return blobs.map(parseHeaderBlob);
}

/** rpm's SQLite backend: table Packages(hnum, blob). node:sqlite reads a file, so the bytes go to a private temporary one. */
function sqliteBlobs(content: Buffer, wal: Buffer | undefined): Buffer[] {
  const dir = mkdtempSync(join(tmpdir(), "vigil-rpmdb-"));
  try {
    const file = join(dir, "rpmdb.sqlite");
    writeFileSync(file, content, { mode: 0o600 });
    if (wal && wal.length > 0) writeFileSync(`${file}-wal`, wal, { mode: 0o600 });
    const db = new DatabaseSync(file, { readOnly: !wal?.length });
    try {
      return db
        .prepare("SELECT blob FROM Packages")
        .all()
        .map((row) => Buffer.from(row.blob as Uint8Array));
    } finally {
      db.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** NDB: blobs stored whole, each after a 16-byte header whose first word is "BlbS" (little-endian). */
function ndbBlobs(content: Buffer): Buffer[] {
  const blobs: Buffer[] = [];
  const magic = Buffer.from("BlbS", "latin1");
  for (let at = content.indexOf(magic); at >= 0 && at + 16 <= content.length; at = content.indexOf(magic, at + 4)) {
    const length = content.readUInt32LE(at + 12);
    if (at + 16 + length > content.length || length < 8) continue;
    blobs.push(content.subarray(at + 16, at + 16 + length));
  }
  return blobs;
}

/**
 * Berkeley DB hash database: page 0 is the metadata page (page size at offset 20); hash pages (type 13)
 * hold key/data items; a header is an off-page item (type 3) naming the first overflow page (type 7) of
 * a chain that holds it.
 */
function bdbBlobs(content: Buffer): Buffer[] {
  if (content.length < 512) throw new Error("too short for a Berkeley DB file");
  const magic = content.readUInt32LE(12);
  if (magic !== 0x061561) throw new Error(`not a Berkeley DB hash file (magic ${magic.toString(16)})`);
  const pageSize = content.readUInt32LE(20);
  if (pageSize < 512 || pageSize > 65536 || (pageSize & (pageSize - 1)) !== 0) throw new Error(`page size ${pageSize} is not valid`);
  const pages = Math.floor(content.length / pageSize);
  const blobs: Buffer[] = [];
  for (let p = 1; p < pages; p++) {
    const page = content.subarray(p * pageSize, (p + 1) * pageSize);
    if (page[25] !== 13) continue; // P_HASH
    const entries = page.readUInt16LE(20);
    // Items come in key/data pairs; their offsets follow the 26-byte page header.
    for (let i = 1; i < entries; i += 2) {
      const offset = page.readUInt16LE(26 + i * 2);
      if (offset >= pageSize || page[offset] !== 3) continue; // H_OFFPAGE
      const first = page.readUInt32LE(offset + 4);
      const length = page.readUInt32LE(offset + 8);
      blobs.push(overflowChain(content, pageSize, first, length));
    }
  }
  return blobs;
}

function overflowChain(content: Buffer, pageSize: number, first: number, length: number): Buffer {
  const parts: Buffer[] = [];
  let total = 0;
  const visited = new Set<number>();
  for (let p = first; p !== 0 && total < length; ) {
    if (visited.has(p) || (p + 1) * pageSize > content.length) throw new Error(`overflow chain broken at page ${p}`);
    visited.add(p);
    const page = content.subarray(p * pageSize, (p + 1) * pageSize);
    const used = page.readUInt16LE(22); // hf_offset holds the bytes used on overflow pages
    parts.push(page.subarray(26, 26 + Math.min(used, pageSize - 26)));
    total += used;
    p = page.readUInt32LE(16); // next_pgno
  }
  return Buffer.concat(parts).subarray(0, length);
}

/** An RPM header blob (no lead, no magic): il, dl, il index entries of 16 bytes, dl bytes of data. */
export function parseHeaderBlob(blob: Buffer): RpmHeader {
  if (blob.length < 8) throw new Error("header blob too short");
  const il = blob.readUInt32BE(0);
  const dl = blob.readUInt32BE(4);
  if (il > MAX_INDEX_ENTRIES || 8 + il * 16 + dl > blob.length)
    throw new Error(`header sizes (${il} entries, ${dl} bytes) exceed the blob`);
  const dataStart = 8 + il * 16;
  const data = blob.subarray(dataStart, dataStart + dl);
  const strings = new Map<number, string>();
  const ints = new Map<number, number>();
  for (let i = 0; i < il; i++) {
    const e = 8 + i * 16;
    const tag = blob.readUInt32BE(e);
    const type = blob.readUInt32BE(e + 4);
    const offset = blob.readUInt32BE(e + 8);
    if (offset >= dl) continue;
    if (type === 6 || type === 9 || type === 8) {
      const end = data.indexOf(0, offset);
      strings.set(tag, data.toString("utf8", offset, end < 0 ? dl : end));
    } else if (type === 4 && offset + 4 <= dl) ints.set(tag, data.readUInt32BE(offset));
  }
  const name = strings.get(TAG.name);
  const version = strings.get(TAG.version);
  const release = strings.get(TAG.release);
  if (!name || !version || !release) throw new Error("a header lacks name, version or release");
  const epoch = ints.get(TAG.epoch);
  return {
    name,
    version,
    release,
    ...(epoch !== undefined && { epoch }),
    ...(strings.has(TAG.arch) && { arch: strings.get(TAG.arch)! }),
    ...(strings.has(TAG.license) && { license: strings.get(TAG.license)! }),
    ...(strings.has(TAG.sourcerpm) && { sourceRpm: strings.get(TAG.sourcerpm)! }),
  };
}

/** "openssl-3.0.7-27.el9.src.rpm" → openssl, 3.0.7-27.el9. */
function sourceOf(sourceRpm: string): { name: string; version: string } | undefined {
  const m = /^(.+)-([^-]+)-([^-]+)\.(?:no)?src\.rpm$/.exec(sourceRpm);
  return m ? { name: m[1]!, version: `${m[2]}-${m[3]}` } : undefined;
}
