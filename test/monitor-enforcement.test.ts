// Per-environment enforcement from the signed trust policy: alert only, block promotion of a revision
// whose workloads have open findings (until a fixed revision is deployed, or a VEX statement says the
// finding does not apply), or mark the environment degraded; a bad mode is bad input naming the field.
import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import { parseTrustPolicy } from "../src/trust/policy.ts";
import { environmentChecks, promotionChecks } from "../src/monitor/enforcement.ts";
import { parseVex } from "../src/vuln/vex.ts";
import { feed, openMonitor, osv, sboms, workloads } from "./helpers/monitor-fixture.ts";
import { tempDir } from "./helpers/tools.ts";

const policy = (prod: string, staging = "degraded") =>
  parseTrustPolicy(
    [
      "apiVersion: vigil.dev/v1alpha1",
      "kind: TrustPolicy",
      "environments:",
      `  - { name: staging, branch: main, monitor: { enforcement: ${staging} } }`,
      `  - { name: prod, branch: main, monitor: { enforcement: ${prod} } }`,
      "",
    ].join("\n"),
    "trust.yaml",
    () => "",
  );

test("block-promotion blocks an affected revision until a fixed one is deployed; degraded marks the environment; alert only records", async (t) => {
  const dir = tempDir(t);
  const f = await openMonitor(dir);
  t.after(() => f.close());
  const bad = "a".repeat(40);
  const fixed = "b".repeat(40);
  await f.monitor.recordDeployment("staging", workloads("shop", { web: ["web:1"] }), {
    revision: bad,
    verdict: "pass",
    sbomFor: sboms({ "web:1": ["pkg:npm/lodash@4.17.20"], "web:2": ["pkg:npm/lodash@4.17.21"] }),
  });
  await f.monitor.importAdvisories([
    feed(join(dir, "feed"), [
      osv({ id: "GHSA-lodash-0001", modified: "2026-11-01T00:00:00Z", ecosystem: "npm", name: "lodash", fixed: "4.17.21" }),
    ]),
  ]);
  const state = async () => ({ open: f.monitor.openFindings(), workloads: await f.inventory.workloads() });

  const blocking = await policy("block-promotion");
  const blocked = promotionChecks(blocking, "prod", bad, (await state()).open, (await state()).workloads);
  assert.equal(blocked[0]!.status, "fail");
  assert.match(
    blocked[0]!.message,
    /^1 open finding\(s\) on workloads running this revision block its promotion to prod: GHSA-lodash-0001 in pkg:npm\/lodash@4\.17\.20 \(staging Deployment shop\/web\)/,
  );
  assert.equal(environmentChecks(blocking, "staging", (await state()).open)[0]!.status, "fail", "staging is degraded");
  assert.match(
    environmentChecks(blocking, "staging", (await state()).open)[0]!.message,
    /^staging is degraded: 1 open finding\(s\) since 2026-12-01T10:00:00Z/,
  );

  const alerting = await policy("alert", "alert");
  assert.equal(promotionChecks(alerting, "prod", bad, (await state()).open, (await state()).workloads)[0]!.status, "skip");
  assert.equal(environmentChecks(alerting, "staging", (await state()).open)[0]!.status, "skip");

  await f.monitor.setVex(
    parseVex(
      JSON.stringify({
        "@context": "https://openvex.dev/ns/v0.2.0",
        "@id": "x",
        author: "a",
        timestamp: "2026-12-01T00:00:00Z",
        version: 1,
        statements: [
          {
            vulnerability: { name: "GHSA-lodash-0001" },
            products: ["pkg:npm/lodash@4.17.20"],
            status: "not_affected",
            justification: "inline_mitigations_already_exist",
          },
        ],
      }),
      "vex.json",
    ),
  );
  assert.equal(
    promotionChecks(blocking, "prod", bad, (await state()).open, (await state()).workloads)[0]!.status,
    "pass",
    "a suppressed finding does not block",
  );
  await f.monitor.setVex([]);

  await f.monitor.recordDeployment("staging", workloads("shop", { web: ["web:2"] }), {
    revision: fixed,
    verdict: "pass",
    sbomFor: sboms({ "web:2": ["pkg:npm/lodash@4.17.21"] }),
  });
  assert.equal(promotionChecks(blocking, "prod", fixed, (await state()).open, (await state()).workloads)[0]!.status, "pass");
  assert.equal(
    environmentChecks(blocking, "staging", (await state()).open)[0]!.status,
    "pass",
    "the fixed revision ends the degraded state",
  );
});

test("an unknown enforcement mode is bad input naming file, line and field", async () => {
  await assert.rejects(policy("sometimes"), (e: Error) =>
    /trust\.yaml:5 .*environments\[1\]\.monitor\.enforcement: must be "alert", "block-promotion" or "degraded"/.test(e.message),
  );
});
