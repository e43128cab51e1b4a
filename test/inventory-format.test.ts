// The inventory's format (src/api/inventory.ts) carries its version, and every reader refuses one it
// does not read: `vigil findings` on an inventory a newer Vigil wrote exits 2 naming the file or database
// and the versions, for the embedded store and for a shared PostgreSQL one; the current version opens.
import assert from "node:assert/strict";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { test } from "node:test";
import { INVENTORY_VERSION } from "../src/api/inventory.ts";
import { openInventory } from "../src/monitor/inventory.ts";
import { requirePostgres, sql, startPostgres } from "./helpers/postgres.ts";
import { fileScope, tempDir, vigil } from "./helpers/tools.ts";

const scope = fileScope();
const refusal = (where: string, version: string) =>
  new RegExp(
    `${where.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}: the inventory is in format version "${version}", and this Vigil reads version ${INVENTORY_VERSION} `,
  );

test("an embedded inventory in a version this Vigil does not read is refused, naming its file and both versions", async (t) => {
  const dir = tempDir(t);
  await (await openInventory(dir)).close();
  assert.equal(vigil(["findings", "--inventory", dir]).status, 0, "the current version opens");
  const file = join(dir, "inventory.sqlite");
  const db = new DatabaseSync(file);
  db.prepare("UPDATE vigil_monitor_meta SET value = '9' WHERE key = 'schema'").run();
  db.close();
  const out = vigil(["findings", "--inventory", dir]);
  assert.equal(out.status, 2, out.stderr);
  assert.match(out.stderr, refusal(file, "9"));
  await assert.rejects(openInventory(dir), refusal(file, "9"));
});

test("a shared PostgreSQL inventory in a version this Vigil does not read is refused, its password not shown", {
  timeout: 120_000,
}, async (t) => {
  const bin = requirePostgres(t);
  if (!bin) return;
  const url = startPostgres(scope, bin).database("inventory");
  await (await openInventory(url)).close();
  await sql(url, "UPDATE vigil_monitor_meta SET value = '9' WHERE key = 'schema'");
  const out = vigil(["findings", "--inventory", url]);
  assert.equal(out.status, 2, out.stderr);
  assert.match(out.stderr, /the inventory is in format version "9", and this Vigil reads version/);
  const password = new URL(url).password;
  if (password) assert.ok(!out.stderr.includes(password), "the database password is not in the message");
});
