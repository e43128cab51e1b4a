// The agent judges the same images against the same database every reconcile, so the database is kept
// open between reconciles and the advisories it already read are kept with it, per location. Before
// each scan one small query reads the database's generation (every committed import writes a new one)
// and its schema: a newer import empties what was kept, a newer schema is refused as when opening.
// The SQLite store stays open (it holds no socket); a PostgreSQL connection is made per reconcile as
// before (an idle socket would keep a one-shot agent alive), but what it read is kept all the same.
// An image judged again against the same import, with the same SBOM and VEX, has the same findings: those
// are kept too (scanRemembered), so an unchanged revision costs one hash per image.
import { createHash } from "node:crypto";
import { statSync } from "node:fs";
import { Lru } from "../core/lru.ts";
import { join } from "node:path";
import { checkSchema, lookupKey, type AdvisoryStore, type StoredAdvisory } from "./store.ts";
import { openStore } from "./pg-store.ts";
import { DATABASE_FILE } from "./sqlite-store.ts";
import { scanComponents, type ScanResult } from "./scan.ts";
import type { Component } from "./match.ts";
import type { VexStatement } from "./vex.ts";

/** Looked-up packages kept per database; beyond this many the set starts again (bounded memory). */
const MAX_KEPT_KEYS = 100_000;

interface Kept {
  /** The open SQLite store, reused while its file is the same file; undefined for PostgreSQL. */
  open?: AdvisoryStore;
  file?: { dev: number; ino: number };
  generation?: string;
  advisories: Map<string, StoredAdvisory[]>;
}

const kept = new Map<string, Kept>();

const isPostgres = (location: string) => /^postgres(ql)?:\/\//.test(location);

/**
 * The database at `location` as the agent reads it each reconcile: lookups served from what was read
 * before while the database's generation is unchanged. close() ends a PostgreSQL connection and leaves
 * the SQLite store open for the next reconcile.
 */
export async function openKeptStore(location: string): Promise<AdvisoryStore> {
  let entry = kept.get(location);
  if (!entry) kept.set(location, (entry = { advisories: new Map() }));
  if (entry.open && !sameFile(location, entry.file)) {
    // A database made again in a new file (a folder replaced): the open one is the old file.
    await entry.open.close();
    entry = { advisories: new Map() };
    kept.set(location, entry);
  }
  const store = entry.open ?? (await openStore(location));
  if (!isPostgres(location) && !entry.open) {
    entry.open = store;
    entry.file = fileId(location);
  }
  const state = entry;
  return {
    location: store.location,
    modifiedIndex: () => store.modifiedIndex(),
    begin: () => store.begin(),
    info: () => store.info(),
    ...(store.generation && { generation: () => store.generation!() }),
    async lookup(keys) {
      await refresh(store, state);
      const missing = keys.filter((k) => !state.advisories.has(lookupKey(k.base, k.name)));
      if (missing.length > 0) {
        if (state.advisories.size + missing.length > MAX_KEPT_KEYS) state.advisories.clear();
        for (const [key, found] of await store.lookup(missing)) state.advisories.set(key, found);
      }
      return new Map(keys.map((k) => [lookupKey(k.base, k.name), state.advisories.get(lookupKey(k.base, k.name)) ?? []]));
    },
    close: async () => {
      if (isPostgres(location)) await store.close();
    },
  };
}

function fileId(location: string): { dev: number; ino: number } | undefined {
  try {
    const s = statSync(join(location, DATABASE_FILE));
    return { dev: s.dev, ino: s.ino };
  } catch {
    return undefined;
  }
}

function sameFile(location: string, known: Kept["file"]): boolean {
  const now = fileId(location);
  return now !== undefined && known !== undefined && now.dev === known.dev && now.ino === known.ino;
}

/** Empties what was kept when the database moved to another import; refuses a newer schema. */
async function refresh(store: AdvisoryStore, state: Kept): Promise<void> {
  if (!store.generation) {
    state.advisories.clear();
    return;
  }
  const now = await store.generation();
  checkSchema(store.location, now.schema);
  if (now.generation !== state.generation) {
    state.advisories.clear();
    state.generation = now.generation;
  }
}

/** Closes every store kept open (an agent that stops, a test that ends). */
export async function closeKeptStores(): Promise<void> {
  const open = [...kept.values()].flatMap((k) => (k.open ? [k.open] : []));
  kept.clear();
  judged = new Lru(REMEMBERED_SCANS);
  await Promise.all(open.map((s) => s.close()));
}

/** Scan results by the database's import, the SBOM document and the VEX statements that decided them. */
const REMEMBERED_SCANS = 32;
let judged = new Lru<string, ScanResult>(REMEMBERED_SCANS);

/**
 * scanComponents, remembered: the same SBOM document and VEX statements against the same import of the
 * same database give the same result, so it is computed once. A store that cannot say its generation is
 * scanned every time.
 */
export async function scanRemembered(
  store: AdvisoryStore,
  sbom: { document: unknown; components: Component[]; withoutPurl: string[] },
  vex: VexStatement[],
): Promise<ScanResult> {
  const now = await store.generation?.();
  if (!now) return scanComponents(store, sbom.components, vex, sbom.withoutPurl);
  checkSchema(store.location, now.schema);
  const key = createHash("sha256")
    .update(JSON.stringify([store.location, now.generation, sbom.document, vex]))
    .digest("hex");
  const known = judged.get(key);
  if (known) return known;
  const result = await scanComponents(store, sbom.components, vex, sbom.withoutPurl);
  judged.set(key, result);
  return result;
}
