// Pod templates inside custom resources (Argo Rollouts, Knative Services, Argo Workflows' container
// sets, any CRD with a pod spec) are judged by the Pod Security packs like a PodTemplate: the packs hold
// there too, and a failure names the owner and the field.
import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import { policyChecks } from "../src/policy/gate.ts";
import { parseManifests } from "../src/manifest/manifests.ts";
import { loadPacks } from "../src/policy/packs.ts";

const crd = (group: string, kind: string, plural: string) => `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: { name: ${plural}.${group} }
spec:
  group: ${group}
  names: { kind: ${kind}, plural: ${plural} }
  scope: Namespaced
  versions: [{ name: v1, served: true, storage: true, schema: { openAPIV3Schema: { type: object, x-kubernetes-preserve-unknown-fields: true } } }]`;

const restrictedContainer =
  "{ name: app, image: registry.example.com/app@sha256:0000000000000000000000000000000000000000000000000000000000000000, securityContext: { runAsNonRoot: true, allowPrivilegeEscalation: false, capabilities: { drop: [ALL] }, seccompProfile: { type: RuntimeDefault } } }";
const privilegedContainer = "{ name: app, image: registry.example.com/app:1, securityContext: { privileged: true } }";

const rollout = (name: string, container: string) => `apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: { name: ${name}, namespace: shop, labels: { app: ${name} } }
spec:
  replicas: 2
  template:
    metadata: { labels: { app: ${name} } }
    spec:
      containers: [${container}]`;

const knativeService = (name: string, spec: string) => `apiVersion: serving.knative.dev/v1
kind: Service
metadata: { name: ${name}, namespace: shop }
spec:
  template:
    spec:
${spec}`;

const workflow = (name: string, container: string) => `apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: { name: ${name}, namespace: shop }
spec:
  entrypoint: main
  templates:
    - name: main
      containerSet:
        containers: [${container}]`;

const crds = [
  crd("argoproj.io", "Rollout", "rollouts").replace("v1, served", "v1alpha1, served"),
  crd("serving.knative.dev", "Service", "services"),
  crd("argoproj.io", "Workflow", "workflows").replace("v1, served", "v1alpha1, served"),
].join("\n---\n");

function check(yaml: string, packs = ["pss-restricted"]) {
  const manifests = parseManifests(`${crds}\n---\n${yaml}`, "set.yaml");
  return policyChecks({ policies: loadPacks(packs), manifests });
}

describe("Pod Security packs on pod templates inside custom resources", () => {
  it("block a privileged container in an Argo Rollout's template, naming the Rollout and the field", () => {
    const checks = check(rollout("web", privilegedContainer), ["pss-baseline"]);
    const failing = checks.filter((c) => c.status === "fail");
    assert.ok(
      failing.some((c) => c.rule === "pss-privileged" && c.subject === "Rollout/shop/web spec.template.spec"),
      JSON.stringify(failing, null, 1),
    );
  });

  it("pass a Rollout, a Knative Service and a Workflow whose templates meet the restricted level", () => {
    const checks = check(
      [
        rollout("web", restrictedContainer),
        knativeService("api", `      containers: [${restrictedContainer}]`),
        workflow("job", restrictedContainer),
      ].join("\n---\n"),
    );
    const templates = checks.filter((c) => / spec\./.test(c.subject));
    assert.deepEqual(
      templates.filter((c) => c.status === "fail"),
      [],
    );
    for (const subject of [
      "Rollout/shop/web spec.template.spec",
      "Service/shop/api spec.template.spec",
      "Workflow/shop/job spec.templates[0].containerSet",
    ]) {
      assert.ok(
        templates.some((c) => c.subject === subject && c.status === "pass"),
        `${subject} was judged`,
      );
    }
  });

  it("apply pod-level rules: host network in a Knative Service, a hostPath volume in a Rollout", () => {
    const knative = check(knativeService("api", `      hostNetwork: true\n      containers: [${restrictedContainer}]`), ["pss-baseline"]);
    assert.ok(
      knative.some((c) => c.rule === "pss-host-namespaces" && c.status === "fail" && c.subject === "Service/shop/api spec.template.spec"),
    );
    const hostPath = check(
      rollout("web", restrictedContainer).replace(
        "      containers:",
        "      volumes: [{ name: root, hostPath: { path: / } }]\n      containers:",
      ),
      ["pss-baseline"],
    );
    assert.ok(
      hostPath.some((c) => c.rule === "pss-host-path" && c.status === "fail" && c.subject === "Rollout/shop/web spec.template.spec"),
    );
  });

  it("judge the templates of a kind whose CRD is not in the set too (and still fail the unknown kind)", () => {
    const manifests = parseManifests(rollout("web", privilegedContainer), "set.yaml");
    const checks = policyChecks({ policies: loadPacks(["pss-baseline"]), manifests });
    assert.ok(checks.some((c) => c.rule === "known-kind" && c.status === "fail"));
    assert.ok(
      checks.some((c) => c.rule === "pss-privileged" && c.status === "fail" && c.subject === "Rollout/shop/web spec.template.spec"),
    );
  });

  it("let an exception for the owner cover its template", () => {
    const exception = `apiVersion: vigil.dev/v1alpha1
kind: PolicyException
metadata: { name: web-privileged, namespace: shop }
spec:
  policies: [pss-privileged]
  resources: [{ kind: Rollout, namespace: shop, name: web }]
  justification: "node agent, reviewed"
  expires: "2999-01-01T00:00:00Z"`;
    const checks = check(`${rollout("web", privilegedContainer)}\n---\n${exception}`, ["pss-baseline"]);
    const privileged = checks.filter((c) => c.rule === "pss-privileged" && c.subject.startsWith("Rollout/"));
    assert.ok(privileged.length > 0 && privileged.every((c) => c.status === "skip"), JSON.stringify(privileged));
  });
});
