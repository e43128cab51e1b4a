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

// The API server's type check at creation, for the rule Vigil applies (homogeneous list and map
// literals): each expression is created in the API server as a policy and compiled by Vigil; both must
// accept it or both refuse it. The old forms of the four pack policies the API server refused are here.
const literalCases: { expression: string; variables?: [string, string][] }[] = [
  { expression: "[{'who': 'pod', 'type': has(object.spec.type) ? object.spec.type : ''}].size() == 0" },
  { expression: "[{'who': 'pod', 'type': has(object.spec.type) ? string(object.spec.type) : ''}].size() == 0" },
  { expression: "variables.containers.map(c, {'name': c.name, 'hosts': ['a', 'b'].filter(h, h != '').join(', ')}).size() >= 0", variables: [["containers", "has(object.spec.containers) ? object.spec.containers : []"]] },
  { expression: "variables.containers.map(c, {'name': string(c.name), 'hosts': ['a'].join(', ')}).size() >= 0", variables: [["containers", "has(object.spec.containers) ? object.spec.containers : []"]] },
  { expression: "variables.containers.map(c, {'name': c.name, 'image': has(c.image) ? c.image : ''}).size() >= 0", variables: [["containers", "has(object.spec.containers) ? object.spec.containers : []"]] },
  { expression: "['a', 1].size() == 2" },
  { expression: "[1, 2, 3].size() == 3" },
  { expression: "{'a': object.metadata.name, 'b': object.metadata.namespace}.size() == 2" },
  { expression: "{'a': 'x', 'b': object.metadata.name}.size() == 2" },
  { expression: "[dyn('x'), 1].size() == 2" },
  { expression: "[object.metadata.name, 'x' + object.metadata.name].size() == 2" },
];

test("list and map literals: Vigil refuses exactly the ones the API server refuses at creation", async (t) => {
  if (!requireKube(t)) return;
  const disagreements: string[] = [];
  let refused = 0;
  for (const [i, c] of literalCases.entries()) {
    const policy = {
      apiVersion: "admissionregistration.k8s.io/v1",
      kind: "ValidatingAdmissionPolicy",
      metadata: { name: `literal-${i}` },
      spec: {
        matchConstraints: { resourceRules: [{ apiGroups: [""], apiVersions: ["v1"], operations: ["CREATE"], resources: ["pods"] }] },
        ...(c.variables && { variables: c.variables.map(([name, expression]) => ({ name, expression })) }),
        validations: [{ expression: c.expression }],
      },
    };
    const api = await kubeApi(kube.cluster, "POST", paths.ValidatingAdmissionPolicy!, policy);
    let vigilError: string | undefined;
    try {
      compilePolicy({ object: policy as never, file: "literal.yaml", line: 1 });
    } catch (e) {
      if (!(e instanceof InputError)) throw e;
      vigilError = e.message;
    }
    const apiRefuses = api.status === 422;
    if (apiRefuses) refused++;
    if (apiRefuses !== (vigilError !== undefined)) disagreements.push(`${c.expression}: API server ${apiRefuses ? `refuses (${api.body.message})` : "accepts"}, Vigil ${vigilError ? `refuses (${vigilError})` : "accepts"}`);
  }
  assert.deepEqual(disagreements, []);
  assert.ok(refused >= 4, `${refused} of the cases were refused: the comparison must cover refusals`);
});
