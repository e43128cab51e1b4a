// vigil db import: OSV advisories from JSON files, folders and all.zip exports into the store, in one
// transaction. Incremental by `modified` (an advisory no newer than the stored one is left alone),
// withdrawn advisories leave the database, malformed ones are skipped and counted with their ids.
// Any failure (a truncated zip, an unreadable file, the database going away) rolls the whole import
// back, so the previous database stays whole.
import { lstatSync, readdirSync, readFileSync } from "node:fs";
import { basename, join } from "node:path";
import { InputError } from "../core/errors.ts";
import { MalformedAdvisory, parseAdvisory, type Advisory } from "./osv.ts";
import type { AdvisoryStore, ImportTransaction } from "./store.ts";
import { MAX_ENTRY_BYTES, zipEntries } from "./zip.ts";

export interface Skipped {
  source: string;
  id?: string;
  reason: string;
}

export interface ImportResult {
  files: number;
  added: number;
  updated: number;
  unchanged: number;
  withdrawn: number;
  malformed: Skipped[];
}

interface Document {
  source: string;
  name: string;
  expectedId?: string;
  bytes: () => Promise<Buffer>;
}

export async function importAdvisories(store: AdvisoryStore, paths: string[], onProgress?: (n: number) => void): Promise<ImportResult> {
  const result: ImportResult = { files: 0, added: 0, updated: 0, unchanged: 0, withdrawn: 0, malformed: [] };
  const stored = await store.modifiedIndex();
  const tx = await store.begin();
  try {
    for (const path of paths) {
      for await (const doc of documents(path)) {
        result.files++;
        await importDocument(tx, doc, stored, result);
        onProgress?.(result.files);
      }
    }
    await tx.commit();
  } catch (e) {
    await tx.rollback();
    throw e;
  }
  return result;
}

async function importDocument(tx: ImportTransaction, doc: Document, stored: Map<string, string>, result: ImportResult): Promise<void> {
  let advisories: Advisory[];
  try {
    const raw: unknown = JSON.parse((await doc.bytes()).toString("utf8"));
    // A JSON file may hold one advisory or a list of them; a zip entry holds exactly one.
    advisories =
      Array.isArray(raw) && doc.expectedId === undefined ? raw.map((r) => parseAdvisory(r)) : [parseAdvisory(raw, doc.expectedId)];
  } catch (e) {
    if (e instanceof MalformedAdvisory) {
      result.malformed.push({
        source: `${doc.source}:${doc.name}`,
        ...((e.id ?? doc.expectedId) !== undefined && { id: e.id ?? doc.expectedId }),
        reason: e.message,
      });
      return;
    }
    if (e instanceof SyntaxError) {
      result.malformed.push({
        source: `${doc.source}:${doc.name}`,
        ...(doc.expectedId !== undefined && { id: doc.expectedId }),
        reason: `not JSON: ${e.message}`,
      });
      return;
    }
    throw e;
  }
  for (const advisory of advisories) {
    const previous = stored.get(advisory.id);
    if (advisory.withdrawn !== undefined) {
      if (previous !== undefined) await tx.remove(advisory.id);
      stored.delete(advisory.id);
      result.withdrawn++;
      continue;
    }
    if (previous !== undefined && Date.parse(previous) >= Date.parse(advisory.modified)) {
      result.unchanged++;
      continue;
    }
    await tx.put({ advisory, source: doc.source });
    stored.set(advisory.id, advisory.modified);
    if (previous === undefined) result.added++;
    else result.updated++;
  }
}

/** The advisory documents under a path: a zip's entries, a folder's .json and .zip files, one file. */
async function* documents(path: string): AsyncGenerator<Document> {
  let stat;
  try {
    stat = lstatSync(path);
  } catch {
    throw new InputError(`${path}: no such file or folder`);
  }
  if (stat.isDirectory()) {
    for (const name of readdirSync(path).sort()) {
      const child = join(path, name);
      const s = lstatSync(child);
      if (s.isDirectory() || name.endsWith(".zip") || name.endsWith(".json")) yield* documents(child);
    }
    return;
  }
  if (!stat.isFile()) throw new InputError(`${path}: not a regular file or folder`);
  if (path.endsWith(".zip")) {
    for await (const entry of zipEntries(path)) {
      if (!entry.name.endsWith(".json")) continue;
      yield { source: path, name: entry.name, expectedId: basename(entry.name, ".json"), bytes: entry.read };
    }
    return;
  }
  if (stat.size > MAX_ENTRY_BYTES * 64) throw new InputError(`${path}: ${stat.size} bytes, over the cap for a JSON file of advisories`);
  yield { source: path, name: basename(path), bytes: async () => readFileSync(path) };
}
