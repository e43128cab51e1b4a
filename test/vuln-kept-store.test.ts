// The database the agent keeps open between reconciles (src/vuln/kept-store.ts), on real SQLite files: the
// same store serves later reconciles, a newer import (from another connection, as `vigil db import` in
// another process) is seen at the next lookup, a database made again in a new file is opened again, and a
// newer schema written meanwhile is refused, never misread.
import assert from "node:assert/strict";
import { renameSync, rmSync, writeFileSync } from "node:fs";
import { DatabaseSync } from "node:sqlite";
import { join } from "node:path";
import { test } from "node:test";
import { importAdvisories } from "../src/vuln/import.ts";
import { closeKeptStores, openKeptStore, scanRemembered } from "../src/vuln/kept-store.ts";
import { DATABASE_FILE, SqliteStore } from "../src/vuln/sqlite-store.ts";
import { lookupKey } from "../src/vuln/store.ts";
import { fileScope, tempDir } from "./helpers/tools.ts";

const scope = fileScope();
scope.after(() => closeKeptStores());

const advisory = (id: string, name: string, modified = "2024-01-01T00:00:00Z") => ({
  id,
  modified,
  affected: [{ package: { ecosystem: "npm", name }, ranges: [{ type: "SEMVER", events: [{ introduced: "0" }, { fixed: "9.0.0" }] }] }],
});

async function importInto(db: string, advisories: object[]): Promise<void> {
  const file = join(db, `..`, `import-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(file, JSON.stringify(advisories));
  const store = SqliteStore.open(db, { create: true });
  try {
    await importAdvisories(store, [file]);
  } finally {
    await store.close();
  }
}

const ids = async (db: string, name: string) => {
  const store = await openKeptStore(db);
  try {
    return ((await store.lookup([{ base: "npm", name }])).get(lookupKey("npm", name)) ?? []).map((s) => s.advisory.id).sort();
  } finally {
    await store.close();
  }
};

test("a newer import is seen at the next lookup; an unchanged database is served from what was read", async () => {
  const db = join(tempDir(scope, "vigil-kept-"), "db");
  await importInto(db, [advisory("GHSA-1", "left-pad")]);
  assert.deepEqual(await ids(db, "left-pad"), ["GHSA-1"]);
  await importInto(db, [advisory("GHSA-2", "left-pad")]);
  assert.deepEqual(await ids(db, "left-pad"), ["GHSA-1", "GHSA-2"], "the import's new generation empties what was kept");
  // A change behind the store's back without a new generation (no import does this) is not seen: proof
  // that the second lookup came from what was kept.
  const raw = new DatabaseSync(join(db, DATABASE_FILE));
  raw.prepare("DELETE FROM vigil_osv_packages WHERE advisory = 'GHSA-2'").run();
  raw.close();
  assert.deepEqual(await ids(db, "left-pad"), ["GHSA-1", "GHSA-2"]);
  await importInto(db, [advisory("GHSA-1", "left-pad", "2025-01-01T00:00:00Z")]);
  assert.deepEqual(await ids(db, "left-pad"), ["GHSA-1"]);
});

test("a database made again in a new file is opened again", async () => {
  const root = tempDir(scope, "vigil-kept-");
  const db = join(root, "db");
  await importInto(db, [advisory("GHSA-OLD", "lodash")]);
  assert.deepEqual(await ids(db, "lodash"), ["GHSA-OLD"]);
  const fresh = join(root, "fresh");
  await importInto(fresh, [advisory("GHSA-NEW", "lodash")]);
  rmSync(db, { recursive: true });
  renameSync(fresh, db);
  assert.deepEqual(await ids(db, "lodash"), ["GHSA-NEW"]);
});

test("a newer schema written while the store is kept open is refused at the next lookup", async () => {
  const db = join(tempDir(scope, "vigil-kept-"), "db");
  await importInto(db, [advisory("GHSA-3", "minimist")]);
  assert.deepEqual(await ids(db, "minimist"), ["GHSA-3"]);
  const raw = new DatabaseSync(join(db, DATABASE_FILE));
  raw.prepare("UPDATE vigil_osv_meta SET value = '7' WHERE key = 'schema'").run();
  raw.close();
  await assert.rejects(ids(db, "minimist"), /the database has schema 7, newer than this Vigil reads \(1\)/);
});

test("an image's findings are remembered for the same SBOM, VEX and import, and judged again after a new import", async () => {
  const db = join(tempDir(scope, "vigil-kept-"), "db");
  await importInto(db, [advisory("GHSA-4", "qs")]);
  const components = [{ purl: "pkg:npm/qs@1.0.0", from: "test sbom" }];
  const sbom = { document: { components: ["qs@1.0.0"] }, components, withoutPurl: [] };
  const scan = async () => {
    const store = await openKeptStore(db);
    try {
      return await scanRemembered(store, sbom, []);
    } finally {
      await store.close();
    }
  };
  const first = await scan();
  assert.deepEqual(
    first.findings.map((f) => f.id),
    ["GHSA-4"],
  );
  assert.equal(await scan(), first, "the same result object: nothing was judged again");
  await importInto(db, [advisory("GHSA-5", "qs")]);
  const after = await scan();
  assert.notEqual(after, first);
  assert.deepEqual(after.findings.map((f) => f.id).sort(), ["GHSA-4", "GHSA-5"]);
});
