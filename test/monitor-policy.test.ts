// The policy trigger: when the policies change (here, a built-in pack added), the live manifests as last
// applied are evaluated again and each failing check is a finding; drift the agent reports replaces the
// drifted object and re-evaluates, closing what no longer fails.
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { loadPacks } from "../src/policy/packs.ts";
import { digestOf, openMonitor, sboms, workloads } from "./helpers/monitor-fixture.ts";
import { tempDir, vigil } from "./helpers/tools.ts";

test("a pack added flags the live manifests that fail it; drift back to a passing object closes the finding", async (t) => {
  const dir = tempDir(t);
  const f = await openMonitor(dir);
  t.after(() => f.close());
  const objects = workloads("shop", { web: ["web:1"], api: ["api:1"] });
  const privileged = structuredClone(objects);
  (privileged[0]!.object as any).spec.template.spec.containers[0].securityContext = { privileged: true };
  await f.monitor.recordDeployment("prod", privileged, { revision: "a".repeat(40), verdict: "pass", sbomFor: sboms({}) });

  assert.deepEqual((await f.monitor.checkPolicies({ policies: [] })).opened, [], "no policies, no findings");
  const baseline = { policies: loadPacks(["pss-baseline"]) };
  const flagged = await f.monitor.checkPolicies(baseline);
  assert.ok(flagged.opened.length >= 1, JSON.stringify(flagged.opened));
  assert.ok(flagged.opened.every((x) => x.type === "policy" && x.environment === "prod" && /web/.test(x.subject)), JSON.stringify(flagged.opened.map((x) => x.subject)));
  assert.ok(flagged.opened.some((x) => /privileged/i.test(x.action)));
  assert.deepEqual((await f.monitor.checkPolicies(baseline)).opened, [], "the same evaluation opens nothing new");

  const fixedLive = structuredClone(objects[0]!);
  const drift = await f.monitor.driftDetected("prod", [fixedLive], baseline);
  assert.equal(drift.closed.length, flagged.opened.length);
  assert.deepEqual(f.monitor.openFindings().filter((x) => x.type === "policy"), []);
  assert.equal(digestOf("web:1").length, 71);
});

test("vigil monitor --once evaluates the live manifests against the configured packs; an unknown pack is bad input", async (t) => {
  const dir = tempDir(t);
  const f = await openMonitor(dir);
  const privileged = workloads("shop", { web: ["web:1"] });
  (privileged[0]!.object as any).spec.template.spec.containers[0].securityContext = { privileged: true };
  await f.monitor.recordDeployment("prod", privileged, { revision: "a".repeat(40), verdict: "pass", sbomFor: sboms({}) });
  await f.close();
  const config = join(dir, "monitor.yaml");
  writeFileSync(config, ["apiVersion: vigil.dev/v1alpha1", "kind: MonitorConfig", "inventory: inventory", "database: vulndb", "policy: { packs: [pss-baseline] }", ""].join("\n"));
  const once = vigil(["monitor", "--config", config, "--once"]);
  assert.equal(once.status, 1, once.stderr);
  const line = once.stdout.trim().split("\n").map((l) => JSON.parse(l)).find((l) => l.trigger === "policies");
  assert.ok(line.opened.length >= 1 && line.opened.every((x: any) => x.workload === "Deployment shop/web"), JSON.stringify(line.opened));
  writeFileSync(config, ["apiVersion: vigil.dev/v1alpha1", "kind: MonitorConfig", "inventory: inventory", "database: vulndb", "policy: { packs: [no-such-pack] }", ""].join("\n"));
  const unknown = vigil(["monitor", "--config", config, "--once"]);
  assert.equal(unknown.status, 2, unknown.stderr);
});
