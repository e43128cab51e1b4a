// The policy trigger: when the policies change (here, a built-in pack added), the live manifests as last
// applied are evaluated again and each failing check is a finding; drift the agent reports replaces the
// drifted object and re-evaluates, closing what no longer fails.
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { loadPacks } from "../src/policy/packs.ts";
import { loadManifests, type SourcedObject } from "../src/manifest/manifests.ts";
import { loadTrustPolicyFile } from "../src/trust/policy.ts";
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
  assert.ok(
    flagged.opened.every((x) => x.type === "policy" && x.environment === "prod" && /web/.test(x.subject)),
    JSON.stringify(flagged.opened.map((x) => x.subject)),
  );
  assert.ok(flagged.opened.some((x) => /privileged/i.test(x.action)));
  assert.deepEqual((await f.monitor.checkPolicies(baseline)).opened, [], "the same evaluation opens nothing new");

  const fixedLive = structuredClone(objects[0]!);
  const drift = await f.monitor.driftDetected("prod", [fixedLive], baseline);
  assert.equal(drift.closed.length, flagged.opened.length);
  assert.deepEqual(
    f.monitor.openFindings().filter((x) => x.type === "policy"),
    [],
  );
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
  writeFileSync(
    config,
    [
      "apiVersion: vigil.dev/v1alpha1",
      "kind: MonitorConfig",
      "inventory: inventory",
      "database: vulndb",
      "policy: { packs: [pss-baseline] }",
      "",
    ].join("\n"),
  );
  const once = vigil(["monitor", "--config", config, "--once"]);
  assert.equal(once.status, 1, once.stderr);
  const line = once.stdout
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l))
    .find((l) => l.trigger === "policies");
  assert.ok(line.opened.length >= 1 && line.opened.every((x: any) => x.workload === "Deployment shop/web"), JSON.stringify(line.opened));
  writeFileSync(
    config,
    [
      "apiVersion: vigil.dev/v1alpha1",
      "kind: MonitorConfig",
      "inventory: inventory",
      "database: vulndb",
      "policy: { packs: [no-such-pack] }",
      "",
    ].join("\n"),
  );
  const unknown = vigil(["monitor", "--config", config, "--once"]);
  assert.equal(unknown.status, 2, unknown.stderr);
});

test("a policy change re-checks only the policies that changed; the result equals evaluating every policy again", async (t) => {
  const dir = tempDir(t);
  const f = await openMonitor(dir);
  t.after(() => f.close());
  const objects = workloads("shop", { web: ["web:1"], api: ["api:1"] });
  (objects[0]!.object as any).spec.template.spec.containers[0].securityContext = { privileged: true };
  await f.monitor.recordDeployment("prod", objects, { revision: "a".repeat(40), verdict: "pass", sbomFor: sboms({}) });
  const baseline = { policies: loadPacks(["pss-baseline"]) };
  const restricted = { policies: loadPacks(["pss-restricted"]) };
  const first = await f.monitor.checkPolicies(baseline);
  assert.ok(
    first.opened.some((x) => x.rule === "pss-privileged"),
    JSON.stringify(first.opened.map((x) => x.rule)),
  );

  // pss-restricted holds pss-baseline's policies unchanged and adds its own: only those are evaluated.
  const widened = await f.monitor.checkPolicies(restricted);
  assert.ok(
    widened.policies.length > 0 && widened.policies.every((name) => !first.policies.includes(name)),
    `re-checked: ${widened.policies.join(", ")}`,
  );
  assert.ok(
    widened.opened.length > 0 && widened.opened.every((x) => widened.policies.includes(x.rule)),
    JSON.stringify(widened.opened.map((x) => x.rule)),
  );
  assert.deepEqual(widened.closed, [], "the unchanged policies' findings are neither re-evaluated nor closed");
  assert.deepEqual((await f.monitor.checkPolicies(restricted)).policies, [], "nothing changed, nothing evaluated");

  // Equal to evaluating every policy again on a monitor that never saw the earlier policies.
  const fresh = await openMonitor(dir);
  t.after(() => fresh.close());
  const whole = await fresh.monitor.checkPolicies(restricted);
  const policyFindings = (list: { type: string; key: string }[]) =>
    list
      .filter((x) => x.type === "policy")
      .map((x) => x.key)
      .sort();
  assert.deepEqual(policyFindings(f.monitor.openFindings()), policyFindings(fresh.monitor.openFindings()));
  assert.ok(whole.policies.length >= widened.policies.length);

  // Back to baseline: the restricted-only policies' findings close, the others stay.
  const narrowed = await f.monitor.checkPolicies(baseline);
  assert.deepEqual(narrowed.opened, []);
  assert.ok(narrowed.closed.length > 0 && narrowed.closed.every((x) => widened.policies.includes(x.rule)));
  assert.ok(f.monitor.openFindings().some((x) => x.rule === "pss-privileged"));
});

test("an exception that expires changes only the policy it names, and its finding opens", async (t) => {
  const dir = tempDir(t);
  let now = new Date("2026-12-01T10:00:00Z");
  const f = await openMonitor(dir, { now: () => now });
  t.after(() => f.close());
  const objects = workloads("shop", { web: ["web:1"] });
  (objects[0]!.object as any).spec.template.spec.containers[0].securityContext = { privileged: true };
  await f.monitor.recordDeployment("prod", objects, { revision: "a".repeat(40), verdict: "pass", sbomFor: sboms({}) });
  const exceptions = join(dir, "exceptions.yaml");
  writeFileSync(
    exceptions,
    `apiVersion: vigil.dev/v1alpha1
kind: PolicyException
metadata: { name: web-privileged }
spec:
  policies: [pss-privileged]
  resources: [{ kind: Deployment, namespace: shop, name: web }]
  justification: "INC-1: a debugging session"
  expires: "2026-12-02T00:00:00Z"
`,
  );
  const input = { policies: loadPacks(["pss-baseline"]), exceptions: loadManifests([exceptions]) };
  const excepted = await f.monitor.checkPolicies(input);
  assert.ok(!excepted.opened.some((x) => x.rule === "pss-privileged"), "excepted until it expires");
  now = new Date("2026-12-02T00:00:01Z");
  const expired = await f.monitor.checkPolicies(input);
  assert.deepEqual(expired.policies, ["pss-privileged"], "only the policy the exception names is evaluated again");
  assert.ok(
    expired.opened.some((x) => x.rule === "pss-privileged" && /expired/.test(x.action)),
    JSON.stringify(expired.opened),
  );
});

test("the containers a trust policy's kinds declares are judged by the policy trigger once the monitor has that trust policy", async (t) => {
  const dir = tempDir(t);
  const f = await openMonitor(dir);
  t.after(() => f.close());
  const image = `registry.example.com/tools/make@${digestOf("make:1")}`;
  const task = {
    source: { file: "ci/task.yaml", index: 0 },
    object: {
      apiVersion: "tekton.dev/v1",
      kind: "Task",
      metadata: { name: "build", namespace: "ci" },
      spec: { steps: [{ name: "compile", image, securityContext: { privileged: true } }] },
    },
  } as unknown as SourcedObject;
  const crd = {
    source: { file: "ci/crd.yaml", index: 0 },
    object: {
      apiVersion: "apiextensions.k8s.io/v1",
      kind: "CustomResourceDefinition",
      metadata: { name: "tasks.tekton.dev" },
      spec: {
        group: "tekton.dev",
        names: { kind: "Task", plural: "tasks" },
        scope: "Namespaced",
        versions: [
          {
            name: "v1",
            served: true,
            storage: true,
            schema: { openAPIV3Schema: { type: "object", "x-kubernetes-preserve-unknown-fields": true } },
          },
        ],
      },
    },
  } as unknown as SourcedObject;
  await f.monitor.recordDeployment("prod", [crd, task], { revision: "a".repeat(40), verdict: "pass", sbomFor: sboms({}) });
  const baseline = { policies: loadPacks(["pss-baseline"]) };
  assert.deepEqual((await f.monitor.checkPolicies(baseline)).opened, [], "an undeclared kind has no containers to judge");

  const trustFile = join(dir, "vigil.trust.yaml");
  writeFileSync(
    trustFile,
    "apiVersion: vigil.dev/v1alpha1\nkind: TrustPolicy\nkinds:\n  - { group: tekton.dev, kind: Task, containerLists: [spec.steps] }\n",
  );
  await f.monitor.setTrustPolicy(await loadTrustPolicyFile(trustFile));
  const flagged = await f.monitor.checkPolicies(baseline);
  assert.ok(
    flagged.opened.some((x) => x.type === "policy" && x.rule === "pss-privileged" && /Task/.test(x.subject)),
    JSON.stringify(flagged.opened.map((x) => [x.rule, x.subject])),
  );
});
