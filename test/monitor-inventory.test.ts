// The inventory's read functions other stages use, on both stores (embedded SQLite and a real
// PostgreSQL): the verified digests per environment (the admission webhook's question: which digests did
// Vigil verify and deploy here, and which digest does a tag stand for), and the generation every
// deployment raises (how a running monitor notices the agent's), with a refresh picking the change up.
import assert from "node:assert/strict";
import { join } from "node:path";
import { test, type TestContext } from "node:test";
import { verifiedImages } from "../src/monitor/inventory.ts";
import { digestOf, openMonitor, sboms, workloads } from "./helpers/monitor-fixture.ts";
import { requirePostgres, startPostgres } from "./helpers/postgres.ts";
import { fileScope, tempDir } from "./helpers/tools.ts";

const scope = fileScope();
const images = { "web:1": ["pkg:npm/lodash@4.17.20"], "api:2": ["pkg:npm/minimist@1.2.0"] };

async function check(t: TestContext, inventory: string): Promise<void> {
  const dir = tempDir(t);
  const recorder = await openMonitor(dir, { inventory });
  t.after(() => recorder.close());
  const watcher = await openMonitor(dir, { inventory });
  t.after(() => watcher.close());
  const before = await recorder.inventory.generation();
  await recorder.monitor.recordDeployment("prod", workloads("shop", { web: ["web:1"], api: ["api:2", "web:1"] }), {
    revision: "a".repeat(40),
    verdict: "pass",
    sbomFor: sboms(images),
  });
  await recorder.monitor.recordDeployment("staging", workloads("shop", { web: ["api:2"] }), {
    revision: "b".repeat(40),
    verdict: "fail",
    sbomFor: sboms(images),
  });
  assert.equal(await recorder.inventory.generation(), before + 4, "workloads and manifests, per deployment");
  // Recorded again unchanged: nothing is written, the generation stays.
  await recorder.monitor.recordDeployment("prod", workloads("shop", { web: ["web:1"], api: ["api:2", "web:1"] }), {
    revision: "a".repeat(40),
    verdict: "pass",
    sbomFor: sboms(images),
  });
  assert.equal(await recorder.inventory.generation(), before + 4, "an unchanged redeployment writes nothing");

  assert.deepEqual(
    await verifiedImages(recorder.inventory, "prod"),
    [
      {
        repository: "registry.example.com/team/api",
        tag: "2",
        digest: digestOf("api:2"),
        workloads: ["Deployment shop/api"],
        revisions: ["a".repeat(40)],
      },
      {
        repository: "registry.example.com/team/web",
        tag: "1",
        digest: digestOf("web:1"),
        workloads: ["Deployment shop/api", "Deployment shop/web"],
        revisions: ["a".repeat(40)],
      },
    ].sort((a, b) => (a.repository + a.digest < b.repository + b.digest ? -1 : 1)),
  );
  assert.deepEqual(await verifiedImages(recorder.inventory, "staging"), [], "a deployment whose verdict failed verified nothing");
  assert.deepEqual(await verifiedImages(recorder.inventory, "nowhere"), []);

  // The other monitor had loaded nothing: its refresh places both environments.
  const noticed = await watcher.monitor.refresh();
  assert.deepEqual(noticed.map((c) => c.trigger).sort(), [
    "deployment of prod (recorded elsewhere)",
    "deployment of staging (recorded elsewhere)",
  ]);
  assert.deepEqual(await watcher.monitor.refresh(), [], "nothing changed since");
}

test("embedded inventory: verified digests per environment and the generation", async (t) => {
  await check(t, join(tempDir(t), "inventory"));
});

test("PostgreSQL inventory: verified digests per environment and the generation", { timeout: 120_000 }, async (t) => {
  const bin = requirePostgres(t);
  if (!bin) return;
  await check(t, startPostgres(scope, bin).database("inventory"));
});
