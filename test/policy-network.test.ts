// The network-isolation pack and the offline-only CEL functions it stands on (vigil.objects,
// vigil.selects): passing and failing cases through the whole policy gate, and the functions alone.
import { strict as assert } from "node:assert";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import type { Check } from "../src/core/verdict.ts";
import { CelEvalError, compileCel, toCel } from "../src/policy/cel/compile.ts";
import { withManifestSet } from "../src/policy/cel/manifest-set.ts";
import { policyChecks } from "../src/policy/gate.ts";
import { parseManifests, type KubeObject } from "../src/manifest/manifests.ts";
import { loadPack } from "../src/policy/packs.ts";

const pack = "network-isolation";
const DEFAULT_DENY = "network-default-deny-ingress";
const SELECTED = "network-workload-selected";

function run(manifests: string[]): Check[] {
  return policyChecks({ policies: loadPack(pack), manifests: parseManifests(manifests.join("\n---\n"), "manifests.yaml") });
}

function checkOf(checks: Check[], rule: string, subject: string): Check {
  const found = checks.filter((c) => c.rule === rule && c.subject === subject);
  assert.equal(found.length, 1, `expected one ${rule} check for ${subject}, got:\n${JSON.stringify(checks, null, 2)}`);
  return found[0]!;
}

function assertFails(checks: Check[], rule: string, subject: string, ...messages: RegExp[]): void {
  const c = checkOf(checks, rule, subject);
  assert.equal(c.status, "fail", `${rule} on ${subject}: ${c.message}`);
  for (const m of messages) assert.match(c.message, m);
}

function assertPasses(checks: Check[], rule: string, subject: string): void {
  const c = checkOf(checks, rule, subject);
  assert.equal(c.status, "pass", `${rule} on ${subject}: ${c.message}`);
}

// ---------------------------------------------------------------------------------------------------
// Manifests

const namespace = (name: string) => `
apiVersion: v1
kind: Namespace
metadata: { name: ${name} }
`;

/** A NetworkPolicy; `spec` is the YAML of its spec, indented by two. */
const networkPolicy = (name: string, ns: string, spec: string) => `
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: { name: ${name}, namespace: ${ns} }
spec:
${spec.trim().replace(/^/gm, "  ")}
`;

const denyIngress = (ns: string) =>
  networkPolicy(
    "default-deny-ingress",
    ns,
    `
podSelector: {}
policyTypes: [Ingress]
`,
  );

/** A Deployment whose pod template has `podLabels`; the Deployment itself is labelled `tier: web`. */
const deployment = (name: string, ns: string, podLabels: string) => `
apiVersion: apps/v1
kind: Deployment
metadata: { name: ${name}, namespace: ${ns}, labels: { tier: web } }
spec:
  selector: { matchLabels: ${podLabels} }
  template:
    metadata: { labels: ${podLabels} }
    spec: { containers: [{ name: app, image: app }] }
`;

const cronJob = (name: string, ns: string, ownLabels: string, podLabels: string) => `
apiVersion: batch/v1
kind: CronJob
metadata: { name: ${name}, namespace: ${ns}, labels: ${ownLabels} }
spec:
  schedule: "0 3 * * *"
  jobTemplate:
    spec:
      template:
        metadata: { labels: ${podLabels} }
        spec: { restartPolicy: OnFailure, containers: [{ name: job, image: job }] }
`;

const pod = (name: string, ns: string, labels: string) => `
apiVersion: v1
kind: Pod
metadata: { name: ${name}, namespace: ${ns}, labels: ${labels} }
spec: { containers: [{ name: app, image: app }] }
`;

// ---------------------------------------------------------------------------------------------------

describe("network-isolation: structure", () => {
  it("every file is one ValidatingAdmissionPolicy and its Deny binding; those that read vigil.objects say they are offline-only", () => {
    const byFile = Map.groupBy(loadPack(pack), (so) => so.file);
    assert.equal(byFile.size, 3);
    let offline = 0;
    for (const [file, objects] of byFile) {
      assert.deepEqual(
        objects.map((o) => o.object.kind),
        ["ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"],
        file,
      );
      const [policy, binding] = objects.map((o) => o.object as Record<string, any>);
      assert.equal(binding!.spec.policyName, policy!.metadata.name, file);
      assert.deepEqual(binding!.spec.validationActions, ["Deny"], file);
      const text = readFileSync(file, "utf8");
      const readsSet = /vigil\.objects/.test(text.replace(/^#.*$/gm, ""));
      if (readsSet) offline++;
      assert.equal(
        /^# OFFLINE ONLY\. .* vigil\.objects/m.test(text),
        readsSet,
        `${file}: offline-only exactly when it reads vigil.objects`,
      );
    }
    assert.equal(offline, 2, "the two cross-object policies");
  });
});

describe("network-default-deny-ingress", () => {
  const web = deployment("web", "shop", "{ app: web }");

  it("passes for a namespace with podSelector {} and policyTypes [Ingress], and for its workloads", () => {
    const checks = run([namespace("shop"), denyIngress("shop"), web]);
    assertPasses(checks, DEFAULT_DENY, "Namespace/shop");
    assertPasses(checks, DEFAULT_DENY, "Deployment/shop/web");
  });

  it("fails for a namespace without one, naming the namespace and what to add", () => {
    const checks = run([namespace("shop"), web]);
    const what =
      /^namespace shop has no default-deny ingress NetworkPolicy: add one with podSelector: \{\}, policyTypes: \[Ingress\] and no ingress rules/;
    assertFails(checks, DEFAULT_DENY, "Namespace/shop", what);
    assertFails(checks, DEFAULT_DENY, "Deployment/shop/web", what);
  });

  it("covers a namespace that appears only in a workload's metadata.namespace", () => {
    assertFails(run([web]), DEFAULT_DENY, "Deployment/shop/web", /^namespace shop has no default-deny/);
    assertPasses(run([web, denyIngress("shop")]), DEFAULT_DENY, "Deployment/shop/web");
  });

  it("counts a policy only in its own namespace; a workload without a namespace is in default", () => {
    const checks = run([namespace("shop"), namespace("billing"), denyIngress("billing"), web]);
    assertFails(checks, DEFAULT_DENY, "Namespace/shop");
    assertFails(checks, DEFAULT_DENY, "Deployment/shop/web");
    assertPasses(checks, DEFAULT_DENY, "Namespace/billing");
    const unplaced = pod("debug", "default", "{ app: debug }").replace(", namespace: default", "");
    assertFails(run([unplaced]), DEFAULT_DENY, "Pod/debug", /^namespace default has no/);
    assertPasses(run([unplaced, denyIngress("default")]), DEFAULT_DENY, "Pod/debug");
  });

  it("takes Ingress from policyTypes, or from its absence; an egress-only policy does not isolate ingress", () => {
    for (const types of ["policyTypes: [Ingress, Egress]", "policyTypes: []", ""]) {
      const np = networkPolicy("deny", "shop", `podSelector: {}\n${types}`);
      assertPasses(run([namespace("shop"), np]), DEFAULT_DENY, "Namespace/shop");
    }
    assertPasses(
      run([namespace("shop"), "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: { name: deny, namespace: shop }"]),
      DEFAULT_DENY,
      "Namespace/shop",
    );
    const egressOnly = networkPolicy("deny-egress", "shop", "podSelector: {}\npolicyTypes: [Egress]");
    assertFails(
      run([namespace("shop"), egressOnly]),
      DEFAULT_DENY,
      "Namespace/shop",
      /\(NetworkPolicy deny-egress has policyTypes Egress, without Ingress\): add one/,
    );
  });

  it("does not count a policy that selects every pod but allows some ingress", () => {
    const allowMonitoring = networkPolicy(
      "allow-monitoring",
      "shop",
      `
podSelector: { matchLabels: {} }
policyTypes: [Ingress]
ingress:
  - from: [{ namespaceSelector: { matchLabels: { kubernetes.io/metadata.name: monitoring } } }]
`,
    );
    assertFails(
      run([namespace("shop"), allowMonitoring]),
      DEFAULT_DENY,
      "Namespace/shop",
      /\(NetworkPolicy allow-monitoring selects every pod but allows ingress \(1 rule\(s\)\), so it is no default deny\)/,
    );
    assertPasses(run([namespace("shop"), allowMonitoring, denyIngress("shop")]), DEFAULT_DENY, "Namespace/shop");
  });

  it("does not count a deny policy that selects only some pods", () => {
    const some = networkPolicy("deny-web", "shop", "podSelector: { matchLabels: { app: web } }\npolicyTypes: [Ingress]");
    assertFails(
      run([namespace("shop"), some]),
      DEFAULT_DENY,
      "Namespace/shop",
      /^namespace shop has no default-deny ingress NetworkPolicy: add/,
    );
  });

  it("does not exempt kube-system", () => {
    assertFails(run([deployment("coredns", "kube-system", "{ k8s-app: kube-dns }")]), DEFAULT_DENY, "Deployment/kube-system/coredns");
  });
});

describe("network-workload-selected", () => {
  const web = deployment("web", "shop", "{ app: web, tier: frontend }");
  const selecting = (selector: string) => networkPolicy("web", "shop", `podSelector: ${selector}\npolicyTypes: [Ingress]`);

  it("passes when a podSelector's matchLabels match the pod template's labels", () => {
    assertPasses(run([web, selecting("{ matchLabels: { app: web } }")]), SELECTED, "Deployment/shop/web");
  });

  it("fails when none does, listing the pod labels and what to add", () => {
    assertFails(
      run([web, selecting("{ matchLabels: { app: api } }")]),
      SELECTED,
      "Deployment/shop/web",
      /^no NetworkPolicy in namespace shop selects the pods \(labels app=web, tier=frontend\): add a NetworkPolicy there whose podSelector matches them/,
    );
    assertFails(run([web]), SELECTED, "Deployment/shop/web", /^no NetworkPolicy in namespace shop selects the pods/);
  });

  it("matches the pod template's labels, not the workload's own", () => {
    // The Deployment is labelled tier: web; its pods are not.
    assertFails(run([web, selecting("{ matchLabels: { tier: web } }")]), SELECTED, "Deployment/shop/web");
  });

  it("counts a default-deny policy, which selects every pod", () => {
    assertPasses(run([web, denyIngress("shop")]), SELECTED, "Deployment/shop/web");
  });

  it("matchExpressions: In, NotIn, Exists, DoesNotExist", () => {
    const cases: [string, "pass" | "fail"][] = [
      ["{ key: app, operator: In, values: [api, web] }", "pass"],
      ["{ key: app, operator: In, values: [api] }", "fail"],
      ["{ key: app, operator: NotIn, values: [api] }", "pass"],
      ["{ key: app, operator: NotIn, values: [web] }", "fail"],
      ["{ key: tier, operator: Exists }", "pass"],
      ["{ key: team, operator: Exists }", "fail"],
      ["{ key: team, operator: DoesNotExist }", "pass"],
      ["{ key: tier, operator: DoesNotExist }", "fail"],
    ];
    for (const [expression, status] of cases) {
      const c = checkOf(run([web, selecting(`{ matchExpressions: [${expression}] }`)]), SELECTED, "Deployment/shop/web");
      assert.equal(c.status, status, `${expression}: ${c.message}`);
    }
    // Every requirement must hold, matchLabels included.
    const both = selecting("{ matchLabels: { app: web }, matchExpressions: [{ key: tier, operator: In, values: [backend] }] }");
    assertFails(run([web, both]), SELECTED, "Deployment/shop/web");
  });

  it("counts only NetworkPolicies in the workload's namespace", () => {
    const elsewhere = networkPolicy("web", "billing", "podSelector: { matchLabels: { app: web } }");
    assertFails(run([web, elsewhere]), SELECTED, "Deployment/shop/web", /in namespace shop/);
  });

  it("uses a CronJob's job template's pod labels", () => {
    const report = cronJob("report", "shop", "{ app: web }", "{ app: report }");
    assertFails(run([report, selecting("{ matchLabels: { app: web } }")]), SELECTED, "CronJob/shop/report", /labels app=report/);
    assertPasses(run([report, selecting("{ matchLabels: { app: report } }")]), SELECTED, "CronJob/shop/report");
  });

  it("uses a Pod's own labels, and says when it has none", () => {
    assertPasses(run([pod("debug", "shop", "{ app: web }"), selecting("{ matchLabels: { app: web } }")]), SELECTED, "Pod/shop/debug");
    assertFails(
      run([pod("debug", "shop", "{}"), selecting("{ matchLabels: { app: web } }")]),
      SELECTED,
      "Pod/shop/debug",
      /\(labels none\)/,
    );
  });

  it("fails closed on a malformed podSelector", () => {
    assertFails(
      run([web, selecting("{ matchExpressions: [{ key: app, operator: Exists, values: [web] }] }")]),
      SELECTED,
      "Deployment/shop/web",
      /operator Exists takes no values.*failurePolicy Fail/,
    );
    assertFails(
      run([web, selecting("{ matchExpressions: [{ key: app, operator: Matches, values: [web] }] }")]),
      SELECTED,
      "Deployment/shop/web",
      /unknown operator "Matches"/,
    );
  });
});

// ---------------------------------------------------------------------------------------------------
// The functions on their own

const evaluate = (expression: string, objects: KubeObject[] = [], object: unknown = {}) =>
  withManifestSet(objects, () => compileCel(expression, ["object"]).evaluate({ object: toCel(object) }));

const configMap = (name: string, namespace?: string): KubeObject => ({
  apiVersion: "v1",
  kind: "ConfigMap",
  metadata: { name, ...(namespace ? { namespace } : {}) },
  data: { replicas: 3 } as never,
});

describe("vigil.objects", () => {
  const set = [
    configMap("a", "shop"),
    configMap("b", "billing"),
    configMap("c"),
    { apiVersion: "v1", kind: "Secret", metadata: { name: "s", namespace: "shop" } },
  ];

  it("lists the objects of a kind in a namespace, or in all of them for ''; no namespace means default", () => {
    const names = (ns: string) => evaluate(`vigil.objects('v1', 'ConfigMap', '${ns}').map(o, o.metadata.name)`, set);
    assert.deepEqual([...(names("shop") as Iterable<string>)], ["a"]);
    assert.deepEqual([...(names("default") as Iterable<string>)], ["c"]);
    assert.deepEqual([...(names("") as Iterable<string>)], ["a", "b", "c"]);
    assert.equal(evaluate("size(vigil.objects('apps/v1', 'ConfigMap', '')) == 0", set), true);
  });

  it("converts objects as the engine converts manifests: integers are ints", () => {
    assert.equal(
      evaluate(
        "vigil.objects('v1', 'ConfigMap', 'shop')[0].data.replicas == 3 && type(vigil.objects('v1', 'ConfigMap', 'shop')[0].data.replicas) == int",
        set,
      ),
      true,
    );
  });

  it("is an evaluation error with arguments of the wrong type, or outside a manifest set", () => {
    assert.throws(() => evaluate("vigil.objects(1, 'ConfigMap', '')", set), CelEvalError);
    assert.throws(() => evaluate("vigil.objects('v1', 'ConfigMap')", set), CelEvalError);
    assert.throws(
      () => compileCel("vigil.objects('v1', 'ConfigMap', '')", []).evaluate({}),
      (e) => e instanceof CelEvalError && /no manifest set/.test(e.message),
    );
  });

  it("answers from the set of the innermost withManifestSet, and from none once it returns", () => {
    const program = compileCel("size(vigil.objects('v1', 'ConfigMap', ''))", []);
    withManifestSet(set, () => {
      assert.equal(
        withManifestSet([configMap("x")], () => program.evaluate({})),
        1n,
      );
      assert.equal(program.evaluate({}), 3n);
    });
    assert.throws(
      () =>
        withManifestSet(set, () => {
          throw new Error("boom");
        }),
      /boom/,
    );
    assert.throws(() => program.evaluate({}), CelEvalError);
  });

  it("works when its module is the first one loaded", () => {
    const script = `const m = await import(${JSON.stringify(new URL("../src/policy/cel/manifest-set.ts", import.meta.url).href)});
const c = await import(${JSON.stringify(new URL("../src/policy/cel/compile.ts", import.meta.url).href)});
console.log(m.withManifestSet([], () => c.compileCel("vigil.selects(null, {})", []).evaluate({})));`;
    assert.equal(execFileSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8" }).trim(), "true");
  });
});

describe("vigil.selects", () => {
  const selects = (selector: string, labels: string) => evaluate(`vigil.selects(${selector}, ${labels})`);

  it("selects everything with a null or empty selector, as a NetworkPolicy's podSelector", () => {
    assert.equal(selects("null", "{'app': 'web'}"), true);
    assert.equal(selects("{}", "{}"), true);
    assert.equal(selects("{'matchLabels': {}, 'matchExpressions': []}", "null"), true);
  });

  it("matches matchLabels and matchExpressions as Kubernetes does", () => {
    assert.equal(selects("{'matchLabels': {'app': 'web'}}", "{'app': 'web', 'tier': 'x'}"), true);
    assert.equal(selects("{'matchLabels': {'app': 'web'}}", "{'app': 'api'}"), false);
    assert.equal(selects("{'matchLabels': {'app': 'web'}}", "null"), false);
    assert.equal(selects("{'matchExpressions': [{'key': 'app', 'operator': 'In', 'values': ['web']}]}", "{}"), false);
    assert.equal(selects("{'matchExpressions': [{'key': 'app', 'operator': 'NotIn', 'values': ['web']}]}", "{}"), true);
    assert.equal(selects("{'matchExpressions': [{'key': 'app', 'operator': 'DoesNotExist'}]}", "{'tier': 'x'}"), true);
    assert.equal(selects("{'matchExpressions': [{'key': 'app', 'operator': 'Exists', 'values': null}]}", "{'app': ''}"), true);
  });

  it("takes labels from objects as the engine converts them", () => {
    assert.equal(
      evaluate("vigil.selects({'matchLabels': {'app': 'web'}}, object.metadata.labels)", [], { metadata: { labels: { app: "web" } } }),
      true,
    );
  });

  it("is an evaluation error for a malformed selector or labels", () => {
    const malformed: [string, string, RegExp][] = [
      ["'app=web'", "{}", /the label selector must be a map or null/],
      ["{}", "'app=web'", /labels must be a map of strings or null/],
      ["{}", "{'replicas': 3}", /labels must map strings to strings/],
      ["{'matchLabels': {'app': 1}}", "{}", /matchLabels must map strings to strings/],
      ["{'matchLabel': {'app': 'web'}}", "{}", /unknown field matchLabel/],
      ["{'matchExpressions': {'key': 'app'}}", "{}", /matchExpressions must be a list/],
      ["{'matchExpressions': [{'key': 'app', 'operator': 'In'}]}", "{}", /operator In needs values/],
      ["{'matchExpressions': [{'key': 'app', 'operator': 'Has'}]}", "{}", /unknown operator "Has"/],
      [
        "{'matchExpressions': [{'key': 'app', 'operator': 'Exists', 'values': ['x']}]}",
        "{}",
        /matchExpressions\[0\]: operator Exists takes no values/,
      ],
      ["{'matchExpressions': [{'key': 1, 'operator': 'Exists'}]}", "{}", /matchExpressions\[0\]\.key must be a string/],
      ["{'matchExpressions': [{'key': 'app', 'operator': 'In', 'values': [1]}]}", "{}", /values must be strings/],
    ];
    for (const [selector, labels, message] of malformed) {
      assert.throws(
        () => selects(selector, labels),
        (e) => e instanceof CelEvalError && message.test(e.message),
        `${selector}, ${labels}`,
      );
    }
    assert.throws(() => evaluate("vigil.selects({})"), CelEvalError);
  });
});
