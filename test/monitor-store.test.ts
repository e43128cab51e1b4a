// How the inventory stores findings (schema 2): a narrow place row per finding and one detail per
// component and advisory, shared by every place that runs the component; only the delta is written.
// What is stored always reads back as the monitor's open findings (and so as a full rescan's); an
// inventory of schema 1 (one JSON document per finding) is migrated with its first-seen times; and a
// crash between announcing a change and storing it loses nothing: the next monitor announces it again.
import assert from "node:assert/strict";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { test, type TestContext } from "node:test";
import type { FindingsUpdate, InventoryStore } from "../src/monitor/inventory.ts";
import { openInventory } from "../src/monitor/inventory.ts";
import type { FindingChanges, Sink } from "../src/monitor/monitor.ts";
import { feed, openMonitor, osv, sboms, workloads } from "./helpers/monitor-fixture.ts";
import { requirePostgres, startPostgres } from "./helpers/postgres.ts";
import { fileScope, tempDir } from "./helpers/tools.ts";

const scope = fileScope();
const images = { "web:1": ["pkg:npm/lodash@4.17.20"], "api:1": ["pkg:npm/lodash@4.17.20", "pkg:npm/minimist@1.2.0"] };
const lodash = (modified: string, fixed: string) => osv({ id: "GHSA-lodash-0001", modified, ecosystem: "npm", name: "lodash", fixed });

/** Two environments running lodash in three places, an advisory about it imported. */
async function deployed(
  t: TestContext,
  dir: string,
  options: { inventory?: string; sinks?: Sink[]; inventoryStore?: InventoryStore } = {},
) {
  const f = await openMonitor(dir, options);
  t.after(() => f.close());
  for (const environment of ["staging", "prod"])
    await f.monitor.recordDeployment(
      environment,
      workloads("shop", environment === "prod" ? { web: ["web:1"] } : { web: ["web:1"], api: ["api:1"] }),
      {
        revision: "a".repeat(40),
        verdict: "pass",
        sbomFor: sboms(images),
      },
    );
  return f;
}

async function storesOnlyTheDelta(t: TestContext, inventory: string): Promise<void> {
  const dir = tempDir(t);
  const updates: FindingsUpdate[] = [];
  const f = await deployed(t, dir, { inventory });
  // Every write the monitor makes, seen on its way to the real store.
  const store = f.inventory;
  const watched = await openMonitor(dir, {
    inventoryStore: new Proxy(store, {
      get(target, property) {
        const value = Reflect.get(target, property, target);
        if (property !== "updateFindings") return typeof value === "function" ? value.bind(target) : value;
        return (update: FindingsUpdate) => {
          updates.push(update);
          return target.updateFindings(update);
        };
      },
    }),
  });
  t.after(() => watched.advisories.close());
  const opened = await watched.monitor.importAdvisories([feed(join(dir, "feed1"), [lodash("2026-11-01T00:00:00Z", "4.17.21")])]);
  assert.equal(opened.opened.length, 3, "lodash runs in three places");
  assert.deepEqual(await store.findings(), sorted(watched.monitor.openFindings()), "stored as the monitor holds them");

  updates.length = 0;
  const changed = await watched.monitor.importAdvisories([feed(join(dir, "feed2"), [lodash("2026-11-02T00:00:00Z", "4.17.22")])]);
  assert.equal(changed.opened.length, 3, "announced: the fixed version changed in all three places");
  assert.deepEqual(
    updates.map((u) => [u.opened.length, u.changed.length, u.closed.length]),
    [[0, 3, 0]],
    "written: no place, only the shared detail",
  );
  const stored = await store.findings();
  assert.deepEqual(stored, sorted(watched.monitor.openFindings()));
  assert.ok(
    stored.every((x) => x.fixed?.[0] === "4.17.22" && x.since === opened.opened[0]!.since),
    "first-seen times kept",
  );
  assert.deepEqual(sorted(await watched.monitor.fullRescan()), stored, "what is stored equals a full rescan");

  // The api workload goes: its place closes, the detail stays for the other two places; then all close.
  await watched.monitor.recordDeployment("staging", workloads("shop", { web: ["web:1"] }), {
    revision: "b".repeat(40),
    verdict: "pass",
    sbomFor: sboms(images),
  });
  assert.equal((await store.findings()).length, 2);
  await watched.monitor.importAdvisories([
    feed(join(dir, "feed3"), [{ ...(lodash("2026-11-03T00:00:00Z", "4.17.22") as object), withdrawn: "2026-11-03T00:00:00Z" }]),
  ]);
  assert.deepEqual(await store.findings(), []);
}

const sorted = <T extends { environment: string; key: string }>(list: T[]) =>
  [...list].sort((a, b) => (a.environment + "\u0000" + a.key < b.environment + "\u0000" + b.key ? -1 : 1));

test("embedded inventory: a changed advisory rewrites one shared detail, not a row per place; what is stored equals a full rescan", async (t) => {
  await storesOnlyTheDelta(t, join(tempDir(t), "inventory"));
});

test("PostgreSQL inventory: the same delta, the same findings read back", { timeout: 120_000 }, async (t) => {
  const bin = requirePostgres(t);
  if (!bin) return;
  await storesOnlyTheDelta(t, startPostgres(scope, bin).database("inventory"));
});

test("an inventory of schema 1 (a JSON document per finding) is migrated on open, first-seen times kept", async (t) => {
  const dir = tempDir(t);
  const f = await deployed(t, dir);
  await f.monitor.importAdvisories([feed(join(dir, "feed"), [lodash("2026-11-01T00:00:00Z", "4.17.21")])]);
  const before = await f.inventory.findings();
  // The same findings written as schema 1 kept them.
  const db = new DatabaseSync(join(dir, "inventory", "inventory.sqlite"));
  db.exec(
    "DROP TABLE vigil_monitor_open_findings; DROP TABLE vigil_monitor_finding_details; CREATE TABLE vigil_monitor_findings (key TEXT PRIMARY KEY, environment TEXT NOT NULL, since TEXT NOT NULL, doc TEXT NOT NULL); UPDATE vigil_monitor_meta SET value = '1' WHERE key = 'schema'",
  );
  const insert = db.prepare("INSERT INTO vigil_monitor_findings (key, environment, since, doc) VALUES (?, ?, ?, ?)");
  for (const x of before) insert.run(x.key, x.environment, "2026-11-15T00:00:00Z", JSON.stringify(x));
  db.close();

  const migrated = await openInventory(join(dir, "inventory"));
  t.after(() => migrated.close());
  assert.deepEqual(
    await migrated.findings(),
    before.map((x) => ({ ...x, since: "2026-11-15T00:00:00Z" })),
  );
  const schema = new DatabaseSync(join(dir, "inventory", "inventory.sqlite"), { readOnly: true });
  t.after(() => schema.close());
  assert.equal((schema.prepare("SELECT value FROM vigil_monitor_meta WHERE key = 'schema'").get() as { value: string }).value, "2");
});

test("announced before stored: a crash between the two loses nothing, the next monitor announces the change again", async (t) => {
  const dir = tempDir(t);
  const heard: FindingChanges[] = [];
  const listener: Sink = { name: "listener", emit: async (c) => void heard.push(c) };
  // The process dies in the inventory's write, after the sinks heard of the change.
  const inventory = await openInventory(join(dir, "inventory"));
  const crashing = new Proxy(inventory, {
    get(target, property) {
      const value = Reflect.get(target, property, target);
      if (property !== "updateFindings") return typeof value === "function" ? value.bind(target) : value;
      return async (update: FindingsUpdate) => {
        if (update.opened.some((x) => x.type === "advisory")) throw new Error("killed");
        return target.updateFindings(update);
      };
    },
  });
  await deployed(t, dir, { inventoryStore: crashing, sinks: [listener] });
  const crashed = await openMonitor(dir, { inventoryStore: crashing, sinks: [listener] });
  t.after(() => crashed.advisories.close());
  await assert.rejects(crashed.monitor.importAdvisories([feed(join(dir, "feed"), [lodash("2026-11-01T00:00:00Z", "4.17.21")])]), /killed/);
  assert.equal(heard.at(-1)!.opened.length, 3, "announced");
  assert.deepEqual(await inventory.findings(), [], "not stored");

  // Restarted on the same inventory and database: the first judgement finds the change again and announces it.
  heard.length = 0;
  const restarted = await openMonitor(dir, { sinks: [listener] });
  t.after(() => restarted.close());
  const again = await restarted.monitor.start();
  assert.equal(again.opened.length, 3, "announced again");
  assert.deepEqual(await restarted.inventory.findings(), sorted(restarted.monitor.openFindings()), "and stored this time");
});
