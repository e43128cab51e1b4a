// The policy trigger: when the policies change (here, a built-in pack added), the live manifests as last
// applied are evaluated again and each failing check is a finding; drift the agent reports replaces the
// drifted object and re-evaluates, closing what no longer fails.
import assert from "node:assert/strict";
import { test } from "node:test";
import { loadPacks } from "../src/policy/packs.ts";
import { digestOf, openMonitor, sboms, workloads } from "./helpers/monitor-fixture.ts";
import { tempDir } from "./helpers/tools.ts";

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
