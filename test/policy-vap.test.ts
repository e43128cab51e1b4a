// ValidatingAdmissionPolicy semantics, evaluated offline: matching, conditions, variables, messages,
// params, actions, failure policy and exceptions.
import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import { parseManifests } from "../src/manifest/manifests.ts";
import { policyChecks } from "../src/policy/gate.ts";
import type { Check } from "../src/core/verdict.ts";

const policy = (name: string, spec: string) => `
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: { name: ${name} }
spec:
${spec.replace(/^/gm, "  ")}
`;
const binding = (policyName: string, extra = "", actions = "[Deny]") => `
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: { name: ${policyName}-binding }
spec:
  policyName: ${policyName}
  validationActions: ${actions}
${extra.replace(/^/gm, "  ")}
`;
const deployments = `matchConstraints:
  resourceRules:
    - { apiGroups: [apps], apiVersions: [v1], operations: [CREATE, UPDATE], resources: [deployments] }`;
const deployment = (name: string, replicas: number, extra = "") => `
apiVersion: apps/v1
kind: Deployment
metadata: { name: ${name}, namespace: shop${extra} }
spec:
  replicas: ${replicas}
  selector: { matchLabels: { app: ${name} } }
  template: { metadata: { labels: { app: ${name} } }, spec: { containers: [{ name: app, image: "registry.example.com/app:1" }] } }
`;

function run(policies: string[], manifests: string[], now?: Date): Check[] {
  return policyChecks({
    policies: parseManifests(policies.join("\n---\n"), "policies.yaml"),
    manifests: parseManifests(manifests.join("\n---\n"), "manifests.yaml"),
    ...(now ? { now } : {}),
  });
}
const byStatus = (checks: Check[], status: Check["status"]) => checks.filter((c) => c.status === status);

const maxReplicas = policy(
  "max-replicas",
  `${deployments}
validations:
  - expression: "object.spec.replicas <= 5"
    messageExpression: "'replicas ' + string(object.spec.replicas) + ' exceeds 5'"
    reason: Forbidden`,
);

describe("ValidatingAdmissionPolicy evaluation", () => {
  it("applies validations to matching resources, with messageExpression, reason, file and line", () => {
    const checks = run([maxReplicas, binding("max-replicas")], [deployment("small", 2), deployment("big", 9)]);
    const [fail] = byStatus(checks, "fail");
    assert.equal(fail!.subject, "Deployment/shop/big");
    assert.equal(fail!.rule, "max-replicas");
    assert.match(fail!.message, /replicas 9 exceeds 5 \(reason Forbidden; binding max-replicas-binding\)/);
    assert.deepEqual(fail!.location, { file: "manifests.yaml", line: 12 });
    assert.equal(byStatus(checks, "pass")[0]!.subject, "Deployment/shop/small");
  });

  it("does nothing without a binding, and maps Warn and Audit to warnings", () => {
    assert.equal(byStatus(run([maxReplicas], [deployment("big", 9)]), "fail").length, 0);
    const warn = run([maxReplicas, binding("max-replicas", "", "[Warn]")], [deployment("big", 9)]);
    assert.match(byStatus(warn, "warn")[0]!.message, /^warning: replicas 9/);
    const audit = run([maxReplicas, binding("max-replicas", "", "[Audit]")], [deployment("big", 9)]);
    assert.match(byStatus(audit, "warn")[0]!.message, /^audit: /);
  });

  it("matches resource rules, excludes, scope, object and namespace selectors", () => {
    const p = policy(
      "no-big",
      `matchConstraints:
  resourceRules:
    - { apiGroups: ["*"], apiVersions: ["*"], operations: ["*"], resources: ["*"] }
  excludeResourceRules:
    - { apiGroups: [""], apiVersions: [v1], operations: ["*"], resources: [configmaps] }
  objectSelector: { matchExpressions: [{ key: tier, operator: NotIn, values: [test] }] }
  namespaceSelector: { matchLabels: { env: prod } }
validations:
  - expression: "!has(object.spec) || !has(object.spec.replicas) || object.spec.replicas <= 5"`,
    );
    const ns = (name: string, env: string) => `apiVersion: v1\nkind: Namespace\nmetadata: { name: ${name}, labels: { env: ${env} } }`;
    const checks = run(
      [p, binding("no-big")],
      [
        ns("shop", "prod"),
        deployment("big", 9),
        deployment("big-test", 9, ", labels: { tier: test }"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata: { name: c, namespace: shop }\ndata: { replicas: '9' }",
        deployment("elsewhere", 9).replace("namespace: shop", "namespace: dev"),
      ],
    );
    assert.deepEqual(
      byStatus(checks, "fail").map((c) => c.subject),
      ["Deployment/shop/big"],
    );
    // The Namespace itself is matched by its own labels.
    assert.ok(checks.some((c) => c.subject === "Namespace/shop" && c.status === "pass"));
  });

  it("skips when a matchCondition is false and applies failurePolicy when one errors", () => {
    const p = (failurePolicy: string) =>
      policy(
        "cond",
        `failurePolicy: ${failurePolicy}
${deployments}
matchConditions:
  - name: not-exempt
    expression: "!has(object.metadata.labels) || !('exempt' in object.metadata.labels)"
  - name: broken
    expression: "object.metadata.annotations['missing'] == 'x'"
validations:
  - expression: "false"`,
      );
    const exempt = deployment("x", 1, ", labels: { exempt: 'yes' }");
    assert.equal(byStatus(run([p("Fail"), binding("cond")], [exempt]), "fail").length, 0);
    const failed = byStatus(run([p("Fail"), binding("cond")], [deployment("y", 1)]), "fail");
    assert.match(failed[0]!.message, /matchCondition broken failed: .*failurePolicy Fail/);
    assert.equal(byStatus(run([p("Ignore"), binding("cond")], [deployment("y", 1)]), "fail").length, 0);
  });

  it("computes variables in order and reports an expression error as the failure policy says", () => {
    const p = policy(
      "vars",
      `${deployments}
variables:
  - { name: replicas, expression: "object.spec.replicas" }
  - { name: doubled, expression: "variables.replicas * 2" }
  - { name: broken, expression: "object.spec.nothing" }
validations:
  - expression: "variables.doubled <= 10"
    message: too many
  - expression: "variables.broken == 1"`,
    );
    const checks = run([p, binding("vars")], [deployment("a", 9)]);
    const messages = byStatus(checks, "fail")
      .map((c) => c.message)
      .join("\n");
    assert.match(messages, /too many/);
    assert.match(messages, /validation 1 \(variable broken\) failed/);
  });

  it("reads params through paramRef, and applies parameterNotFoundAction", () => {
    const p = policy(
      "limit",
      `paramKind: { apiVersion: v1, kind: ConfigMap }
${deployments}
validations:
  - expression: "object.spec.replicas <= int(params.data.max)"
    messageExpression: "'more than ' + params.data.max + ' replicas'"`,
    );
    const params = "apiVersion: v1\nkind: ConfigMap\nmetadata: { name: limits, namespace: shop }\ndata: { max: '3' }";
    const ref = (name: string, action: string) => `paramRef: { name: ${name}, parameterNotFoundAction: ${action} }`;
    let checks = run([p, binding("limit", ref("limits", "Deny")), params], [deployment("a", 4)]);
    assert.match(byStatus(checks, "fail")[0]!.message, /more than 3 replicas/);
    checks = run([p, binding("limit", ref("absent", "Deny"))], [deployment("a", 1)]);
    assert.match(byStatus(checks, "fail")[0]!.message, /no params of kind ConfigMap found .*parameterNotFoundAction: Deny/);
    checks = run([p, binding("limit", ref("absent", "Allow"))], [deployment("a", 1)]);
    assert.equal(byStatus(checks, "fail").length, 0);
    // A binding without paramRef: the API server evaluates the policy with params null.
    checks = run([p, binding("limit")], [deployment("a", 1)]);
    assert.match(
      byStatus(checks, "fail")[0]!.message,
      /^expression 'object\.spec\.replicas <= int\(params\.data\.max\)' resulted in error: no such key: data \(reason Invalid; binding limit-binding\)$/,
    );
    const tolerant = policy(
      "limit-or-any",
      `paramKind: { apiVersion: v1, kind: ConfigMap }
${deployments}
validations:
  - expression: "params == null || object.spec.replicas <= int(params.data.max)"`,
    );
    checks = run([tolerant, binding("limit-or-any")], [deployment("a", 9)]);
    assert.deepEqual(
      checks.map((c) => c.status),
      ["pass"],
    );
  });

  it("adds audit annotations to the result", () => {
    const p = policy(
      "annotate",
      `${deployments}
validations:
  - expression: "true"
auditAnnotations:
  - { key: replicas, valueExpression: "string(object.spec.replicas)" }`,
    );
    assert.match(run([p, binding("annotate")], [deployment("a", 2)])[0]!.message, /audit annotations: annotate\/replicas=2/);
  });

  it("reports unknown kinds instead of passing them, and knows kinds from CRDs in the set", () => {
    const crd = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: { name: widgets.example.com }
spec:
  group: example.com
  names: { kind: Widget, plural: widgets }
  scope: Namespaced
  versions: [{ name: v1, served: true, storage: true }]`;
    const widget = "apiVersion: example.com/v1\nkind: Widget\nmetadata: { name: w, namespace: shop }";
    const unknown = run([maxReplicas, binding("max-replicas")], [widget]);
    assert.equal(unknown[0]!.status, "fail");
    assert.match(unknown[0]!.message, /unknown kind Widget in example\.com\/v1/);
    const known = run([maxReplicas, binding("max-replicas")], [crd, widget]);
    assert.ok(known.every((c) => c.status !== "fail"));
  });

  it("applies an unexpired exception, names it, and stops applying it once expired", () => {
    const exception = `apiVersion: vigil.dev/v1alpha1
kind: PolicyException
metadata: { name: big-sale }
spec:
  policies: [max-replicas]
  resources: [{ kind: Deployment, namespace: shop, name: "big*" }]
  justification: Black Friday traffic needs more replicas
  expires: "2030-01-01T00:00:00Z"`;
    const excepted = run([maxReplicas, binding("max-replicas")], [deployment("big", 9), exception]);
    assert.equal(byStatus(excepted, "fail").length, 0);
    assert.match(byStatus(excepted, "skip")[0]!.message, /excepted by big-sale .* until 2030-01-01.*Black Friday/);
    const later = run([maxReplicas, binding("max-replicas")], [deployment("big", 9), exception], new Date("2031-01-01"));
    assert.match(byStatus(later, "fail")[0]!.message, /exception big-sale .* expired 2030-01-01/);
  });
});

describe("variables shared between policies", () => {
  const withVariables = (name: string, variables: [string, string][], validation: string) =>
    policy(
      name,
      `${deployments}
variables:
${variables.map(([n, e]) => `  - { name: ${n}, expression: ${JSON.stringify(e)} }`).join("\n")}
validations:
  - expression: ${JSON.stringify(validation)}
    message: ${name} refuses it`,
    );

  it("gives each policy its own value when a same-named variable follows different ones", () => {
    const low = withVariables(
      "low",
      [
        ["limit", "3"],
        ["tooMany", "object.spec.replicas > variables.limit"],
      ],
      "!variables.tooMany",
    );
    const high = withVariables(
      "high",
      [
        ["limit", "30"],
        ["tooMany", "object.spec.replicas > variables.limit"],
      ],
      "!variables.tooMany",
    );
    const checks = run([low, binding("low"), high, binding("high")], [deployment("web", 9)]);
    assert.deepEqual(
      checks.map((c) => `${c.rule} ${c.status}`),
      ["low fail", "high pass"],
    );
  });

  it("still charges a shared variable to every policy that uses it, so the cost limit holds", () => {
    // Each expression below costs about 0.87M of the 10M budget (under the 1M limit of one expression):
    // alone, "second" fits with its eleven validations; with the shared variable charged again it does not.
    const ten = "[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]";
    const costly = `${ten}.map(a, ${ten}.map(b, ${ten}.map(c, ${ten}.map(d, [0, 1, 2, 3, 4, 5].map(e, e)))))`;
    const first = withVariables("first", [["big", `${costly}.size()`]], "variables.big > 0");
    const validations = Array.from({ length: 11 }, () => `  - expression: "${costly}.size() > 0"`).join("\n");
    const second = policy(
      "second",
      `${deployments}
variables:
  - { name: big, expression: "${costly}.size()" }
validations:
${validations}`,
    );
    const checks = run([first, binding("first"), second, binding("second")], [deployment("web", 1)]);
    assert.equal(checks.find((c) => c.rule === "first")!.status, "pass");
    const refused = checks.find((c) => c.rule === "second")!;
    assert.equal(refused.status, "fail");
    assert.match(
      refused.message,
      /exceeded the cost limit: validation failed due to running out of cost budget, no further validation rules will be run/,
    );
  });

  it("stops one expression at the API server's per-expression limit (1M) and still runs the others", () => {
    const ten = "[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]";
    const tooCostly = `${ten}.map(a, ${ten}.map(b, ${ten}.map(c, ${ten}.map(d, ${ten}.map(e, e))))).size() > 0`;
    const p = policy(
      "per-call",
      `${deployments}
validations:
  - expression: "${tooCostly}"
  - expression: "object.spec.replicas <= 3"
    message: " too many replicas  "`,
    );
    const checks = run([p, binding("per-call")], [deployment("web", 5)]);
    const messages = byStatus(checks, "fail").map((c) => c.message);
    assert.equal(messages.length, 2);
    assert.match(
      messages[0]!,
      /validation 0 exceeded the cost limit: expression '.*' resulted in error: operation cancelled: actual cost limit exceeded \(failurePolicy Fail\)/,
    );
    assert.match(messages[1]!, /^too many replicas \(reason Invalid;/, "the static message is trimmed, the reason defaults to Invalid");
  });
});

describe("the authorizer variable, offline", () => {
  const authorizerPolicy = (failurePolicy: string) =>
    policy(
      "may-scale",
      `${deployments}
failurePolicy: ${failurePolicy}
validations:
  - expression: "authorizer.group('apps').resource('deployments').namespace(object.metadata.namespace).check('update').allowed()"
    message: the requester may not update deployments`,
    );

  it("compiles, and a check is an evaluation error that says why, decided by failurePolicy", () => {
    const failed = run([authorizerPolicy("Fail"), binding("may-scale")], [deployment("web", 1)]);
    assert.equal(failed.length, 1);
    assert.equal(failed[0]!.status, "fail");
    assert.match(failed[0]!.message, /authorizer checks need the API server's authorizer and the requesting user/);
    const ignored = run([authorizerPolicy("Ignore"), binding("may-scale")], [deployment("web", 1)]);
    assert.equal(ignored[0]!.status, "warn");
  });

  it("says the decision errored, so a policy can handle the offline case itself", () => {
    const handled = policy(
      "may-scale",
      `${deployments}
variables:
  - name: d
    expression: "authorizer.group('apps').resource('deployments').check('update')"
validations:
  - expression: "variables.d.errored() || variables.d.allowed()"`,
    );
    assert.equal(run([handled, binding("may-scale")], [deployment("web", 1)])[0]!.status, "pass");
  });
});

describe("the API server's checks at creation", () => {
  it("refuses a list or map literal mixing types (exit 2, with field and position), and accepts one made of one type", () => {
    const mixed = policy(
      "mixed",
      `${deployments}
validations:
  - expression: "[{'who': 'pod', 'type': has(object.spec.type) ? object.spec.type : ''}].size() == 0"`,
    );
    assert.throws(
      () => run([mixed, binding("mixed")], [deployment("a", 1)]),
      (e: Error & { exitCode?: number }) =>
        e.exitCode === 2 &&
        /policy mixed: spec\.validations\[0\]\.expression does not compile at line 1, column \d+: expected type 'string' but found 'dyn'/.test(
          e.message,
        ),
    );
    const converted = policy(
      "converted",
      `${deployments}
validations:
  - expression: "[{'who': 'pod', 'type': has(object.spec.type) ? string(object.spec.type) : ''}].size() == 1"`,
    );
    assert.deepEqual(
      run([converted, binding("converted")], [deployment("a", 1)]).map((c) => c.status),
      ["pass"],
    );
  });

  it("refuses a reserved word as a variable name, as the API server does", () => {
    const reserved = policy(
      "reserved",
      `${deployments}
variables:
  - { name: namespace, expression: "object.metadata.namespace" }
validations:
  - expression: "true"`,
    );
    assert.throws(
      () => run([reserved, binding("reserved")], [deployment("a", 1)]),
      /spec\.variables\[0\]\.name: Invalid value: "namespace": must be a valid CEL identifier/,
    );
  });
});
