// The shared inventory on a real PostgreSQL: two monitors (two clusters' environments) write one
// inventory (and read one advisory database), each sees the other's deployments and findings, first-seen times survive, the findings
// equal those of the embedded store for the same inputs, and vigil findings reads it by URL.
import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import { feed, openMonitor, osv, sboms, workloads } from "./helpers/monitor-fixture.ts";
import { requirePostgres, startPostgres } from "./helpers/postgres.ts";
import { fileScope, tempDir, vigil } from "./helpers/tools.ts";

const scope = fileScope();
const images = { "web:1": ["pkg:npm/lodash@4.17.20", "pkg:npm/minimist@1.2.0"], "api:1": ["pkg:npm/lodash@4.17.19"] };
const advisories = [
  osv({ id: "GHSA-lodash-0001", modified: "2026-11-01T00:00:00Z", ecosystem: "npm", name: "lodash", fixed: "4.17.21" }),
  osv({ id: "GHSA-minimist-0001", modified: "2026-11-01T00:00:00Z", ecosystem: "npm", name: "minimist", fixed: "1.2.6" }),
];

test("two monitors share one PostgreSQL inventory, with the embedded store's findings", { timeout: 120_000 }, async (t) => {
  const bin = requirePostgres(t);
  if (!bin) return;
  const pg = startPostgres(scope, bin);
  const url = pg.database("inventory");
  // Monitors that share an inventory share the advisory database too (both judge every environment).
  const database = pg.database("vulns");
  const dir = tempDir(t);
  const feedDir = feed(join(dir, "feed"), advisories);

  const east = await openMonitor(join(dir, "east"), { inventory: url, database });
  await east.monitor.recordDeployment("staging", workloads("shop", { web: ["web:1"] }), {
    revision: "a".repeat(40),
    verdict: "pass",
    sbomFor: sboms(images),
  });
  await east.monitor.importAdvisories([feedDir]);
  await east.close();
  const west = await openMonitor(join(dir, "west"), { inventory: url, database, now: () => new Date("2026-12-02T00:00:00Z") });
  t.after(() => west.close());
  await west.monitor.recordDeployment("prod", workloads("shop", { web: ["web:1"], api: ["api:1"] }), {
    revision: "b".repeat(40),
    verdict: "pass",
    sbomFor: sboms(images),
  });
  await west.monitor.importAdvisories([feedDir]);
  const shared = await west.inventory.findings();
  assert.deepEqual(
    shared.map((f) => `${f.environment} ${f.workload} ${f.rule} ${f.since}`),
    [
      "prod Deployment shop/api GHSA-lodash-0001 2026-12-02T00:00:00Z",
      "prod Deployment shop/web GHSA-lodash-0001 2026-12-02T00:00:00Z",
      "prod Deployment shop/web GHSA-minimist-0001 2026-12-02T00:00:00Z",
      "staging Deployment shop/web GHSA-lodash-0001 2026-12-01T10:00:00Z",
      "staging Deployment shop/web GHSA-minimist-0001 2026-12-01T10:00:00Z",
    ],
  );
  assert.deepEqual(
    west.monitor.openFindings().map((f) => f.key),
    shared.map((f) => f.key),
    "the second monitor loaded the first one's findings",
  );

  const local = await openMonitor(join(dir, "local"), { now: () => new Date("2026-12-02T00:00:00Z") });
  t.after(() => local.close());
  await local.monitor.recordDeployment("staging", workloads("shop", { web: ["web:1"] }), {
    revision: "a".repeat(40),
    verdict: "pass",
    sbomFor: sboms(images),
  });
  await local.monitor.recordDeployment("prod", workloads("shop", { web: ["web:1"], api: ["api:1"] }), {
    revision: "b".repeat(40),
    verdict: "pass",
    sbomFor: sboms(images),
  });
  await local.monitor.importAdvisories([feedDir]);
  const strip = (list: { since: string }[]) => list.map((f) => ({ ...f, since: "" }));
  assert.deepEqual(strip(await local.inventory.findings()), strip(shared));

  const listed = vigil(["findings", "--inventory", url, "--env", "staging", "--json"]);
  assert.equal(listed.status, 1, listed.stderr);
  assert.equal(listed.json().findings.length, 2);
  assert.equal(vigil(["findings", "--inventory", url.replace(/host=[^&]+/, "host=/nonexistent")]).status, 3);
});
