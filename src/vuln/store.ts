// Where advisories are kept: an embedded SQLite database (node:sqlite, a file in a folder) for one
// machine, or PostgreSQL when several agents share one database. Both hold the same tables; an import
// is one transaction, so an interrupted import leaves the previous database whole.
import { randomUUID } from "node:crypto";
import { InputError } from "../core/errors.ts";
import type { Advisory } from "./osv.ts";

/** The version of the tables. A database written by a newer Vigil is refused, never misread. */
export const SCHEMA_VERSION = 1;

export interface StoredAdvisory {
  advisory: Advisory;
  /** The file it was imported from (an all.zip, a folder, a JSON file). */
  source: string;
}

export interface ImportTransaction {
  put(entry: StoredAdvisory): Promise<void>;
  remove(id: string): Promise<void>;
  commit(): Promise<void>;
  rollback(): Promise<void>;
}

export interface DatabaseInfo {
  location: string;
  schema: number;
  advisories: number;
  packages: number;
  ecosystems: Record<string, number>;
  lastImport?: string;
}

export interface AdvisoryStore {
  readonly location: string;
  /** Every stored advisory's `modified`, for incremental imports. */
  modifiedIndex(): Promise<Map<string, string>>;
  begin(): Promise<ImportTransaction>;
  /** The advisories with an affected package of this ecosystem base name and package name, per key. */
  lookup(keys: { base: string; name: string }[]): Promise<Map<string, StoredAdvisory[]>>;
  info(): Promise<DatabaseInfo>;
  /**
   * Which import the database is at: a value every committed import changes (a random id written with
   * it; before there was one, the last import's time), read with the schema so a store kept open
   * notices both a newer import and a newer schema.
   */
  generation?(): Promise<{ schema: string | undefined; generation: string }>;
  close(): Promise<void>;
}

/** The meta rows an import's commit writes: when, and a new generation id. */
export function importStamp(): { lastImport: string; generation: string } {
  return { lastImport: new Date().toISOString(), generation: randomUUID() };
}

/** The generation from the meta rows (the id, else the last import's time, else empty: never imported). */
export function generationOf(meta: Map<string, string>): { schema: string | undefined; generation: string } {
  return { schema: meta.get("schema"), generation: meta.get("generation") ?? meta.get("last_import") ?? "" };
}

export const lookupKey = (base: string, name: string) => `${base}\u0000${name}`;

export function checkSchema(location: string, found: string | undefined): void {
  if (found === undefined)
    throw new InputError(`${location}: not a Vigil vulnerability database (no schema version); import into a new folder or database`);
  const version = Number(found);
  if (!Number.isInteger(version) || version < 1) throw new InputError(`${location}: unreadable schema version ${JSON.stringify(found)}`);
  if (version > SCHEMA_VERSION) {
    throw new InputError(
      `${location}: the database has schema ${version}, newer than this Vigil reads (${SCHEMA_VERSION}): upgrade Vigil, or import into a new database`,
    );
  }
}

/** The packages of an advisory that it is looked up by: (ecosystem base name, package name), once each. */
export function packageKeys(advisory: Advisory): { base: string; ecosystem: string; name: string }[] {
  const seen = new Set<string>();
  const keys: { base: string; ecosystem: string; name: string }[] = [];
  for (const a of advisory.affected) {
    const key = `${a.ecosystem}\u0000${a.name}`;
    if (seen.has(key)) continue;
    seen.add(key);
    keys.push({ base: a.ecosystem.split(":")[0]!, ecosystem: a.ecosystem, name: a.name });
  }
  return keys;
}
