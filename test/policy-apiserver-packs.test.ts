// Every pack policy installs into a real API server (kube-apiserver at the pinned release): the API
// server compiles each expression with its declared types when the policy is created, so a policy Vigil
// evaluates but the cluster refuses would be caught here. docs/policy-packs.md tells users to apply the
// packs with kubectl; this is what makes that true.
import assert from "node:assert/strict";
import { test } from "node:test";
import { InputError } from "../src/core/errors.ts";
import { loadPack, packNames } from "../src/policy/packs.ts";
import { compilePolicy } from "../src/policy/vap.ts";
import { kubeApi, kubeForFile } from "./helpers/cluster.ts";
import { requireKube } from "./helpers/kube.ts";

const kube = kubeForFile();

const paths: Record<string, string> = {
  ValidatingAdmissionPolicy: "/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicies",
  ValidatingAdmissionPolicyBinding: "/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicybindings",
};

// network-isolation calls vigil.objects, which reads the other manifests of the set: it is offline only
// (its files say so), and the API server refuses it for that function alone.
const installable = packNames().filter((p) => p !== "network-isolation");

for (const pack of installable) {
  test(`every policy and binding of ${pack} is accepted by the API server`, async (t) => {
    if (!requireKube(t)) return;
    const refused: string[] = [];
    for (const { object, file } of loadPack(pack)) {
      if (pack === "pss-restricted" && file.includes("/pss-baseline/")) continue; // installed with its own pack
      const path = paths[object.kind];
      if (!path) continue; // a ConfigMap of parameters, etc.
      const answer = await kubeApi(kube.cluster, "POST", path, object);
      if (answer.status !== 201) refused.push(`${object.kind} ${object.metadata?.name} (${file}): ${answer.status} ${answer.body?.message ?? JSON.stringify(answer.body)}`);
    }
    assert.deepEqual(refused, []);
  });
}

// The API server's type check at creation (src/policy/cel/typecheck.ts): each expression is created in
// the API server inside a policy and compiled by Vigil; both must accept it, or both refuse it with the
// same reason at the same line and column. Accepted cases matter as much as refused ones: the check
// must never refuse what the cluster takes. The old forms of the four pack policies the API server
// refused are here too (the first cases).
interface TypeCase {
  expression: string;
  variables?: [string, string][];
  params?: boolean;
  field?: "validation" | "matchCondition" | "messageExpression" | "auditAnnotation";
}
const typeCases: TypeCase[] = [
  { expression: "[{'who': 'pod', 'type': has(object.spec.type) ? object.spec.type : ''}].size() == 0" },
  { expression: "[{'who': 'pod', 'type': has(object.spec.type) ? string(object.spec.type) : ''}].size() == 0" },
  { expression: "variables.containers.map(c, {'name': c.name, 'hosts': ['a', 'b'].filter(h, h != '').join(', ')}).size() >= 0", variables: [["containers", "has(object.spec.containers) ? object.spec.containers : []"]] },
  { expression: "variables.containers.map(c, {'name': string(c.name), 'hosts': ['a'].join(', ')}).size() >= 0", variables: [["containers", "has(object.spec.containers) ? object.spec.containers : []"]] },
  { expression: "variables.containers.map(c, {'name': c.name, 'image': has(c.image) ? c.image : ''}).size() >= 0", variables: [["containers", "has(object.spec.containers) ? object.spec.containers : []"]] },
  { expression: "{'a': object.metadata.name, 'b': object.metadata.namespace}.size() == 2" },
  { expression: "{'a': 'x', 'b': object.metadata.name}.size() == 2" },
  { expression: "[dyn('x'), 1].size() == 2" },
  { expression: "[object.metadata.name, 'x' + object.metadata.name].size() == 2" },
  { expression: "object.spec.replicas" },
  { expression: "1" },
  { expression: "1.startsWith('a')" },
  { expression: "'a'.startsWith(1)" },
  { expression: "1 == 'a'" },
  { expression: "1 == 1.0" },
  { expression: "1 < 1.0" },
  { expression: "params.x == 1" },
  { expression: "params.x == 1", params: true },
  { expression: "request.foo == 1" },
  { expression: "request.userInfo.username == 'a'" },
  { expression: "request.userInfo.username == 1" },
  { expression: "namespaceObject.metadata.labels['a'] == 'b'" },
  { expression: "namespaceObject.metadata.labelz == 'b'" },
  { expression: "namespaceObject.metadata.name.size() > 1" },
  { expression: "variables.a == 1", variables: [["a", "'x'"]] },
  { expression: "variables.b == 1", variables: [["a", "'x'"]] },
  { expression: "variables.a.startsWith('x')", variables: [["a", "object.metadata.name"]] },
  { expression: "variables.a.startsWith('x')", variables: [["a", "[1]"]] },
  { expression: "authorizer.group('').resource('pods').check('get').allowed()" },
  { expression: "authorizer.foo()" },
  { expression: "'a'.b" },
  { expression: "size(1) > 0" },
  { expression: "[1,2].all(x, x > 'a')" },
  { expression: "object.spec.containers.all(c, c.image.startsWith(1))" },
  { expression: "'abc'", field: "messageExpression" },
  { expression: "1", field: "messageExpression" },
  { expression: "object.metadata.name", field: "messageExpression" },
  { expression: "object.metadata.name", field: "auditAnnotation" },
  { expression: "1", field: "auditAnnotation" },
  { expression: "null", field: "auditAnnotation" },
  { expression: "object.x", field: "matchCondition" },
  { expression: "'a' + 1 == 'b'" },
  { expression: "quantity('1').isLessThan(1)" },
  { expression: "quantity('1').isLessThan(quantity('2'))" },
  { expression: "'a'.matches(1)" },
  { expression: "object.spec.containers.map(c, c.name).size() > 0 && [1].map(x, x + 'a').size() > 0" },
  { expression: "object.spec.containers.all(c1, object.spec.containers.all(c2, object.spec.containers.all(c3, object.spec.containers.all(c4, c1.name == c4.name))))" },
  { expression: "!1" },
  { expression: "1 ? true : false" },
  { expression: "true ? 1 : 'a'" },
  { expression: "(true ? 1 : 'a') == 1" },
  { expression: "int('1') == 1 && duration('1s') > duration('0s') && timestamp('2020-01-01T00:00:00Z') < timestamp('2021-01-01T00:00:00Z')" },
  { expression: "{'a': 1}.a == 1" },
  { expression: "{'a': 1}.a == 'x'" },
  { expression: "[1, 2][0] == 'x'" },
  { expression: "{1: 'a'}['x'] == 'a'" },
  { expression: "[1] + ['a'] == []" },
  { expression: "1 in ['a']" },
  { expression: "'a' in {'a': 1}" },
  { expression: "1 in {'a': 1}" },
  { expression: "variables.a == 'x'", field: "matchCondition" },
  { expression: "object.x.foo(1) == 1" },
  { expression: "object.spec.containers.all(c, 1)" },
  { expression: "object.spec.containers.exists(c, c)" },
  { expression: "true ? null : 'a' == 'a'" },
  { expression: "(true ? object.x : 'a') == 1" },
  { expression: "(true ? 1 : object.x) == 'a'" },
  { expression: "object.?spec.?replicas.orValue(1) > 0" },
  { expression: "1 && true" },
  { expression: "[1, 'a'].size() == 2" },
  { expression: "[[1], ['a']].size() == 2" },
  { expression: "{'a': [1], 'b': {'c': 1}}.size() == 2" },
  { expression: "[1, null].size() == 2" },
  { expression: "[null, 1].size() == 2" },
  { expression: "'x'.size() == 1u" },
  { expression: "'abc'.substring(1) == 1" },
  { expression: "'abc'.split(',').size() == 'a'" },
  { expression: "[1,2].map(x, x * 2).exists(y, y == 'a')" },
  { expression: "{'a': 1}.all(k, k == 1)" },
  { expression: "request.userInfo.groups.exists(g, g == 1)" },
  { expression: "namespaceObject.metadata.labels.exists(k, namespaceObject.metadata.labels[k] == 1)" },
  { expression: "variables.a.size() > 0", variables: [["a", "request.userInfo"]] },
  { expression: "variables.a.username == 'x'", variables: [["a", "request.userInfo"]] },
  { expression: "variables.a.isLessThan(quantity('1'))", variables: [["a", "quantity('2')"]] },
  { expression: "duration('1s') + 1 == duration('2s')" },
  { expression: "int('1') == '1'" },
  { expression: "string(1) == 1" },
  { expression: "type(1) == int" },
  { expression: "object.metadata.name.matches('a') && 'a'.lowerAscii().upperAscii() == 'A'" },
  { expression: "'a'.lowerAscii(1) == 'a'" },
  { expression: "ip('1.2.3.4').family() == 'x'" },
  { expression: "cidr('1.2.3.0/24').containsIP('1.2.3.4')" },
  { expression: "url('https://a').getHost() == 1" },
  { expression: "[1,2].sum() == 'x'" },
  { expression: "authorizer.group('').resource('pods').check('get').allowed() == 1" },
  { expression: "authorizer.requestResource.check('get').allowed()" },
  { expression: "has(object.spec) && has(request.name)" },
  { expression: "has(request.foo)" },
  { expression: "1 + 1u == 2" },
  { expression: "-'a' == 'a'" },
  { expression: "[1][0u] == 1" },
  { expression: "[1][1.0] == 1" },
  { expression: "'abc'[0] == 'a'" },
  { expression: "object.spec.containers.filter(c, c.name).size() > 0" },
  { expression: "cel.bind(x, 1, x == 'a')" },
  { expression: "'%s'.format([1]) == 'a'" },
  { expression: "{'a': 1}['a'] == 1 && {'a': 1}.?a.orValue(2) == 1" },
  { expression: "object.spec.containers.all(i, c, c.name == i)" },
  { expression: "[1].all(i, v, i == 'a')" },
  { expression: "authorizer.group('').resource('pods').check('get').allowed()", field: "messageExpression" },
  { expression: "params.x == 'a'", field: "messageExpression" },
  { expression: "'a' == null" },
  { expression: "request.namespace == null" },
  { expression: "true ? 'a' : null == 'a'" },
  { expression: "object.x == null" },
  { expression: "null == null" },
  { expression: "authorizer.group('').resource('pods').check('get') == 1" },
  { expression: "authorizer.path('/x').check('get').allowed()" },
  { expression: "authorizer.serviceAccount('ns', 'sa').resource('pods').check('get').allowed()" },
  { expression: "authorizer.group('').resource('pods').namespace('a').name('b').subresource('c').check('get').reason() == ''" },
  { expression: "[1, 2].exists_one(x, x == 1)" },
  { expression: "object.spec.containers.exists_one(c, c.name)" },
  { expression: "'abc'.indexOf('b') == 1 && [1,2].indexOf(2) == 1" },
  { expression: "[1,2].min() == 'a'" },
  { expression: "['a'].join(1) == 'a'" },
  { expression: "object.metadata.labels.all(k, k.startsWith('a'))" },
  { expression: "sets.contains([1], [1])" },
  { expression: "isSorted([1])" },
  { expression: "[1].isSorted()" },
  { expression: "format.dns1123Label().validate('a').hasValue()" },
  { expression: "'a'.size() + 1.0 > 0.0" },
  { expression: "object.metadata.name + 1 == 'a'" },
  { expression: "variables.x.size() > 0", variables: [["x", "object.spec.containers.map(c, c.name)"]] },
  { expression: "variables.x.exists(n, n == 1)", variables: [["x", "['a'].map(c, c)"]] },
  { expression: "variables.x == 1", variables: [["x", "{'a': 1}"]] },
  { expression: "variables.x['a'] == 'b'", variables: [["x", "{'a': 1}"]] },
  { expression: "has(variables.x)", variables: [["x", "1"]] },
  { expression: "has(object.x) ? object.x : false" },
  { expression: "string(object.x)", field: "messageExpression" },
  { expression: "'a' + object.x", field: "messageExpression" },
  { expression: "quantity('1').add(1).isGreaterThan(quantity('0'))" },
  { expression: "duration('1h') > duration('1m') && timestamp('2020-01-01T00:00:00Z').getFullYear() == 2020" },
  { expression: "[1,2].map(x, x > 0, x * 2).size() == 2" },
  { expression: "{'a': 1}.map(k, k).size() == 1" },
  { expression: "[[1]].all(l, l.all(x, x == 'a'))" },
  { expression: "params.x.y.z == 1 && params.a.startsWith('b')", params: true },
  { expression: "oldObject == null" },
  { expression: "request.userInfo.extra['a'].exists(x, x == 1)" },
  { expression: "namespaceObject.metadata.creationTimestamp > timestamp('2020-01-01T00:00:00Z')" },
  { expression: "namespaceObject.status.conditions.exists(c, c.type == 'a')" },
  { expression: "namespaceObject.spec.finalizers.size() == 'a'" },
  { expression: "request.dryRun == 'a'" },
  { expression: "request.options.x == 1" },
  { expression: "1 < 'a'" },
  { expression: "'a' < 'b' && 1u < 2 && 1.0 <= 2u" },
  { expression: "object.spec.containers.filter(c, c.name == 'x').map(c, c.image).all(i, i.endsWith(':v1'))" },
  { expression: "{'a': 1}.all(k, v, k == 'a' && v > 0)" },
  { expression: "{'a': 1}.exists(k, v, v == 'x')" },
  { expression: "['a'].transformList(i, v, v + i).size() == 1" },
  { expression: "['a'].transformList(i, v, i + 1).size() == 1" },
  { expression: "{'a': 1}.transformMap(k, v, v + 1).size() == 1" },
  { expression: "object.spec.containers.all(i, c, i >= 0 && c.name != '')" },
];

/** Refusals the API server makes that Vigil's check does not (yet); none now. */
const knownMisses = new Set<string>();

function typeCasePolicy(c: TypeCase, i: number) {
  const field = c.field ?? "validation";
  const spec: Record<string, unknown> = {
    matchConstraints: { resourceRules: [{ apiGroups: [""], apiVersions: ["v1"], operations: ["CREATE"], resources: ["pods"] }] },
    validations: [field === "validation" ? { expression: c.expression } : field === "messageExpression" ? { expression: "true", messageExpression: c.expression } : { expression: "true" }],
    ...(c.variables && { variables: c.variables.map(([name, expression]) => ({ name, expression })) }),
    ...(c.params && { paramKind: { apiVersion: "v1", kind: "ConfigMap" } }),
    ...(field === "matchCondition" && { matchConditions: [{ name: "m", expression: c.expression }] }),
  };
  if (field === "auditAnnotation") {
    delete spec.validations;
    spec.auditAnnotations = [{ key: "k", valueExpression: c.expression }];
  }
  return { apiVersion: "admissionregistration.k8s.io/v1", kind: "ValidatingAdmissionPolicy", metadata: { name: `typecheck-${i}` }, spec };
}

/** The reason and position of a refusal: cel-go's first error line, or the result-type sentence. */
function apiReason(message: string): { reason: string; at?: string } {
  const compiled = /<input>:(\d+):(\d+): ([^\n]*)/.exec(message);
  if (compiled) return { reason: compiled[3]!, at: `${compiled[1]}:${compiled[2]}` };
  return { reason: /(must evaluate [^\n]*)/.exec(message)?.[1] ?? message };
}

function vigilReason(message: string): { reason: string; at?: string } {
  const m = /does not compile(?: at line (\d+), column (\d+))?: ([^\n]*)/.exec(message);
  if (!m) return { reason: message };
  return { reason: m[3]!, ...(m[1] && { at: `${m[1]}:${m[2]}` }) };
}

test("type check at creation: Vigil refuses what the API server refuses, with its reason and position, and accepts the rest", async (t) => {
  if (!requireKube(t)) return;
  const disagreements: string[] = [];
  const missed: string[] = [];
  let refused = 0;
  for (const [i, c] of typeCases.entries()) {
    const policy = typeCasePolicy(c, i);
    const api = await kubeApi(kube.cluster, "POST", `${paths.ValidatingAdmissionPolicy!}?dryRun=All`, policy);
    assert.ok(api.status === 201 || api.status === 422, `${c.expression}: API server answered ${api.status}`);
    let vigilError: string | undefined;
    try {
      compilePolicy({ object: policy as never, file: "typecheck.yaml", line: 1 });
    } catch (e) {
      if (!(e instanceof InputError)) throw e;
      assert.equal(e.exitCode, 2);
      vigilError = e.message;
    }
    if (api.status === 422) refused++;
    if (api.status === 201 && vigilError === undefined) continue;
    if (api.status === 422 && vigilError === undefined && knownMisses.has(c.expression)) {
      missed.push(c.expression);
      continue;
    }
    const theirs = api.status === 422 ? apiReason(api.body.message) : undefined;
    const ours = vigilError === undefined ? undefined : vigilReason(vigilError);
    const same = theirs && ours && ours.reason.startsWith(theirs.reason) && ours.at === theirs.at;
    if (!same) disagreements.push(`${c.expression}: API server ${theirs ? `refuses at ${theirs.at ?? "-"}: ${theirs.reason}` : "accepts"}; Vigil ${ours ? `refuses at ${ours.at ?? "-"}: ${ours.reason}` : "accepts"}`);
  }
  assert.deepEqual(disagreements, []);
  assert.deepEqual(missed, [...knownMisses], "a known miss is now caught: take it off the list");
  assert.ok(refused >= 80, `${refused} of the cases were refused: the comparison must cover refusals`);
});

test("the API server makes no cost estimate at creation: an expression with nested comprehensions is created, and Vigil accepts it too", async (t) => {
  if (!requireKube(t)) return;
  const expression = "object.spec.containers.all(a, object.spec.containers.all(b, object.spec.containers.all(c, object.spec.containers.all(d, a.name == d.name || b.name != c.name))))";
  const policy = typeCasePolicy({ expression }, 9999);
  const api = await kubeApi(kube.cluster, "POST", `${paths.ValidatingAdmissionPolicy!}?dryRun=All`, policy);
  assert.equal(api.status, 201, JSON.stringify(api.body));
  compilePolicy({ object: policy as never, file: "cost.yaml", line: 1 });
});
