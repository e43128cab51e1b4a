// Every pack policy installs into a real API server (kube-apiserver at the pinned release): the API
// server compiles each expression with its declared types when the policy is created, so a policy Vigil
// evaluates but the cluster refuses would be caught here. docs/policy-packs.md tells users to apply the
// packs with kubectl; this is what makes that true.
import assert from "node:assert/strict";
import { test } from "node:test";
import { loadPack, packNames } from "../src/policy/packs.ts";
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
      if (answer.status !== 201)
        refused.push(
          `${object.kind} ${object.metadata?.name} (${file}): ${answer.status} ${answer.body?.message ?? JSON.stringify(answer.body)}`,
        );
    }
    assert.deepEqual(refused, []);
  });
}
