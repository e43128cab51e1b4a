// The CEL libraries kube-apiserver v1.37 declares, evaluated side by side: each case is a validation of
// its own policy (selected by a matchCondition on the ConfigMap's name) installed in a real API server,
// and the same policy run by `vigil policy check`. A ConfigMap named for the case is sent as a
// server-side dry run and checked by Vigil: both must allow it, or both deny it with the same message
// and reason (an evaluation error is worded `expression '…' resulted in error: …` by both). Data the
// expressions read comes from the ConfigMap, so nothing is folded away at compile time.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { KubeObject, SourcedObject } from "../src/manifest/manifests.ts";
import { policyChecks } from "../src/policy/gate.ts";
import { kubeApi, kubeForFile } from "./helpers/cluster.ts";
import { requireKube } from "./helpers/kube.ts";

const kube = kubeForFile();
const VAP = "/apis/admissionregistration.k8s.io/v1";
const NAMESPACE = "cel";

interface Case {
  expression: string;
  data?: Record<string, string>;
}

// The semver.org precedence example, in order.
const precedence =
  "['1.0.0-alpha', '1.0.0-alpha.1', '1.0.0-alpha.beta', '1.0.0-beta', '1.0.0-beta.2', '1.0.0-beta.11', '1.0.0-rc.1', '1.0.0']";

const cases: Case[] = [
  // The lists extension's sortBy macro (cel-go ext.Lists version 3, Kubernetes 1.34+).
  { expression: "[3, 1, 2].sortBy(x, -x) == [3, 2, 1]" },
  { expression: "object.data.names.split(',').sortBy(n, size(n)) == ['b', 'cc', 'aaa']", data: { names: "aaa,b,cc" } },
  { expression: "object.data.names.split(',').sortBy(n, n)[0] == 'b'", data: { names: "c,b,d" } },
  { expression: "[['b', 'y'], ['a', 'z']].sortBy(e, e[1]).map(e, e[0]) == ['b', 'a']" },
  { expression: "object.data.names.split(',').filter(n, n == 'x').sortBy(n, n) == []", data: { names: "a" } },
  { expression: "object.data.names.split(',').sortBy(n, n.size() > 1 ? dyn(n) : dyn(1)).size() > 0", data: { names: "a,bb" } },
  { expression: "object.data.names.split(',').sortBy(n, dyn({'k': n})).size() > 0", data: { names: "a,bb" } },
  { expression: "object.data.names.split(',').sortBy(n, n) == ['a', 'b']", data: { names: "b,a,c" } },
  // Kubernetes' semver library (version 1, Kubernetes 1.33+).
  {
    expression: "semver(object.data.v).major() == 1 && semver(object.data.v).minor() == 2 && semver(object.data.v).patch() == 3",
    data: { v: "1.2.3" },
  },
  { expression: "isSemver('1.0.0') && !isSemver('v1.0.0') && isSemver('v1.0', true) && !isSemver('1.0-rc', true) && !isSemver('')" },
  { expression: "semver(object.data.v, true) == semver('1.2.3')", data: { v: "v01.02.03" } },
  { expression: "semver(object.data.v, true) == semver('1.0.0')", data: { v: "1" } },
  { expression: "semver('1.0.0+build.5') == semver('1.0.0') && semver('1.0.0-rc.1') != semver('1.0.0')" },
  { expression: `lists.range(7).all(i, semver(${precedence}[i]).isLessThan(semver(${precedence}[i + 1])))` },
  { expression: `lists.range(7).all(i, semver(${precedence}[i + 1]).compareTo(semver(${precedence}[i])) == 1)` },
  { expression: "semver('2.0.0').compareTo(semver('10.0.0')) == -1 && semver('1.0.0').isGreaterThan(semver('1.0.0-rc.1'))" },
  { expression: "semver('1.0.0-1').isLessThan(semver('1.0.0-a')) && semver('1.0.0-2').isLessThan(semver('1.0.0-10'))" },
  { expression: "semver(object.data.v).major() == -1", data: { v: "18446744073709551615.0.0" } },
  { expression: "semver(object.data.v).major() >= 0", data: { v: "1.0" } },
  { expression: "semver(object.data.v).major() >= 0", data: { v: "01.0.0" } },
  { expression: "semver(object.data.v).major() >= 0", data: { v: "1.0.0-01" } },
  { expression: "semver(object.data.v).major() >= 0", data: { v: "1.0.0+" } },
  { expression: "semver(object.data.v).major() >= 0", data: { v: "1.0.0-a_b" } },
  { expression: "semver(object.data.v).major() >= 0", data: { v: "1.x.0" } },
  { expression: "semver(object.data.v).major() >= 0", data: { v: "18446744073709551616.0.0" } },
  { expression: "semver(object.data.v, true).major() >= 0", data: { v: "1.2-rc" } },
  { expression: "semver(object.data.v).major() >= 0", data: { v: "" } },
  // The optional library's version 2: first() and last().
  {
    expression: "object.data.names.split(',').first() == optional.of('a') && object.data.names.split(',').last().value() == 'c'",
    data: { names: "a,b,c" },
  },
  { expression: "!object.data.names.split(',').filter(n, n == 'x').first().hasValue()", data: { names: "a" } },
];

const policyName = (i: number) => `cel-library-${i}`;
const caseName = (i: number) => `case-${i}`;

function policiesFor(i: number, c: Case): KubeObject[] {
  return [
    {
      apiVersion: "admissionregistration.k8s.io/v1",
      kind: "ValidatingAdmissionPolicy",
      metadata: { name: policyName(i) },
      spec: {
        failurePolicy: "Fail",
        matchConstraints: { resourceRules: [{ apiGroups: [""], apiVersions: ["v1"], operations: ["CREATE"], resources: ["configmaps"] }] },
        matchConditions: [{ name: "this-case", expression: `object.metadata.name == '${caseName(i)}'` }],
        validations: [{ expression: c.expression, message: `case ${i} is false` }],
      },
    },
    {
      apiVersion: "admissionregistration.k8s.io/v1",
      kind: "ValidatingAdmissionPolicyBinding",
      metadata: { name: policyName(i) },
      spec: {
        policyName: policyName(i),
        validationActions: ["Deny"],
        matchResources: { namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": NAMESPACE } } },
      },
    },
  ];
}

const configMap = (i: number, c: Case): KubeObject => ({
  apiVersion: "v1",
  kind: "ConfigMap",
  metadata: { name: caseName(i), namespace: NAMESPACE },
  data: c.data ?? {},
});

const sourced = (object: KubeObject, file: string): SourcedObject => ({ object, file, line: 1 });

test("CEL libraries: Vigil evaluates sortBy, semver, first/last as kube-apiserver v1.37 does (decision, message, reason)", async (t) => {
  if (!requireKube(t)) return;
  const created = await kubeApi(kube.cluster, "POST", "/api/v1/namespaces", { metadata: { name: NAMESPACE } });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const policies = cases.flatMap((c, i) => policiesFor(i, c));
  for (const o of policies) {
    const path = o.kind === "ValidatingAdmissionPolicy" ? "validatingadmissionpolicies" : "validatingadmissionpolicybindings";
    const answer = await kubeApi(kube.cluster, "POST", `${VAP}/${path}`, o);
    assert.equal(answer.status, 201, `${o.metadata!.name}: ${JSON.stringify(answer.body)}`);
  }
  await untilEffective(cases.length - 1);

  const disagreements: string[] = [];
  let denials = 0;
  for (const [i, c] of cases.entries()) {
    const object = configMap(i, c);
    const api = await kubeApi(kube.cluster, "POST", `/api/v1/namespaces/${NAMESPACE}/configmaps?dryRun=All`, object);
    const checks = policyChecks({
      policies: policiesFor(i, c).map((o) => sourced(o, "policies.yaml")),
      manifests: [sourced(object, `${caseName(i)}.yaml`)],
    }).filter((x) => x.subject.startsWith("ConfigMap/") && x.status === "fail");
    const apiAllowed = api.status === 201;
    if (apiAllowed !== (checks.length === 0)) {
      disagreements.push(
        `${c.expression}: API server ${apiAllowed ? "allows" : `denies: ${api.body.message}`}; Vigil ${checks.length === 0 ? "allows" : `blocks: ${checks.map((x) => x.message).join(" | ")}`}`,
      );
      continue;
    }
    if (apiAllowed) continue;
    denials++;
    const expected = `ValidatingAdmissionPolicy '${policyName(i)}' with binding '${policyName(i)}' denied request: `;
    const same = checks.some((x) => {
      const m = /^(.*) \(reason (\w+); binding [^)]+\)$/s.exec(x.message);
      return m !== null && String(api.body.message).endsWith(expected + m[1]) && api.body.reason === m[2];
    });
    if (!same)
      disagreements.push(
        `${c.expression}: API server: ${api.body.reason}: ${api.body.message}; Vigil: ${checks.map((x) => x.message).join(" | ")}`,
      );
  }
  t.diagnostic(`${cases.length} expressions compared, ${denials} denials by message and reason`);
  assert.deepEqual(disagreements, []);
  assert.ok(denials >= 10, "errors and false results were compared, not only passes");
});

/** Policies take effect once the API server's informers have them: wait until the last case's denies or errs as it should. */
async function untilEffective(last: number): Promise<void> {
  const probe = { ...configMap(last, cases[last]!), data: { names: "" } };
  delete (probe.data as Record<string, string>).names;
  for (const deadline = Date.now() + 30_000; ; await new Promise((r) => setTimeout(r, 200))) {
    const answer = await kubeApi(kube.cluster, "POST", `/api/v1/namespaces/${NAMESPACE}/configmaps?dryRun=All`, probe);
    if (answer.status !== 201) return;
    if (Date.now() > deadline) throw new Error("the policies never took effect");
  }
}
