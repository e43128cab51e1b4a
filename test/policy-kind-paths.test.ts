// The containers a trust policy's `kinds` declares for a custom kind (a Tekton Task's steps, an Argo
// Workflows template's single `container`, a pod spec under a field name the finder cannot guess) are
// judged by the Pod Security packs as a PodTemplate's, through `vigil policy check --trust` as in the
// agent: without the declaration they are not pod specs, and only the artifact gate blocks the kind.
import { strict as assert } from "node:assert";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { parseManifests } from "../src/manifest/manifests.ts";
import { policyChecks } from "../src/policy/gate.ts";
import { loadPacks } from "../src/policy/packs.ts";
import { vigil } from "./helpers/tools.ts";

const dir = mkdtempSync(join(tmpdir(), "vigil-kind-paths-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const crd = (group: string, kind: string, plural: string, version: string) => `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: { name: ${plural}.${group} }
spec:
  group: ${group}
  names: { kind: ${kind}, plural: ${plural} }
  scope: Namespaced
  versions: [{ name: ${version}, served: true, storage: true, schema: { openAPIV3Schema: { type: object, x-kubernetes-preserve-unknown-fields: true } } }]`;

const crds = [
  crd("tekton.dev", "Task", "tasks", "v1"),
  crd("argoproj.io", "Workflow", "workflows", "v1alpha1"),
  crd("example.dev", "Runner", "runners", "v1"),
].join("\n---\n");

const restricted =
  "securityContext: { runAsNonRoot: true, allowPrivilegeEscalation: false, capabilities: { drop: [ALL] }, seccompProfile: { type: RuntimeDefault } }";
const image = "registry.example.com/tools/make@sha256:0000000000000000000000000000000000000000000000000000000000000000";

const task = (stepSecurity: string) => `apiVersion: tekton.dev/v1
kind: Task
metadata: { name: build, namespace: ci }
spec:
  steps:
    - { name: compile, image: "${image}", script: make, ${stepSecurity} }
  sidecars:
    - { name: cache, image: "${image}", ${restricted} }`;

const workflow = (containerSecurity: string) => `apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: { name: release, namespace: ci }
spec:
  entrypoint: build
  templates:
    - name: build
      container: { image: "${image}", command: [make], ${containerSecurity} }`;

// A pod spec under a field the finder does not take for one (no containers list at that level).
const runner = (hostNetwork: boolean) => `apiVersion: example.dev/v1
kind: Runner
metadata: { name: agent, namespace: ci }
spec:
  pod: { hostNetwork: ${hostNetwork}, initContainers: [{ name: init, image: "${image}", ${restricted} }] }`;

const trust = `apiVersion: vigil.dev/v1alpha1
kind: TrustPolicy
kinds:
  - { group: tekton.dev, kind: Task, containerLists: ["spec.steps", "spec.sidecars"] }
  - { group: argoproj.io, kind: Workflow, containers: ["spec.templates[*].container"] }
  - { group: example.dev, kind: Runner, podSpecs: ["spec.pod"] }
`;
const trustFile = join(dir, "vigil.trust.yaml");
writeFileSync(trustFile, trust);

function policyCheck(name: string, yaml: string, withTrust = true) {
  const file = join(dir, `${name}.yaml`);
  writeFileSync(file, `${crds}\n---\n${yaml}`);
  const out = vigil(["policy", "check", "--pack", "pss-restricted", ...(withTrust ? ["--trust", trustFile] : []), "--json", file]);
  const checks = out.status === 2 ? [] : (out.json().checks as { rule: string; status: string; subject: string; message: string }[]);
  return { ...out, checks, failing: checks.filter((c) => c.status === "fail") };
}

describe("policy gate: containers the trust policy's kinds declares", () => {
  it("blocks a privileged Tekton step and a Workflow container that escalates, naming the owner and the field (exit 1)", () => {
    const out = policyCheck(
      "privileged",
      `${task("securityContext: { privileged: true }")}\n---\n${workflow("securityContext: { allowPrivilegeEscalation: true }")}`,
    );
    assert.equal(out.status, 1, out.stdout + out.stderr);
    const failed = new Set(out.failing.map((c) => `${c.rule} ${c.subject}`));
    assert.ok(failed.has("pss-privileged Task/ci/build spec.steps"), [...failed].join("\n"));
    assert.ok(failed.has("pss-privilege-escalation Workflow/ci/release spec.templates[0].container"), [...failed].join("\n"));
    assert.ok(
      out.failing.every((c) => !c.subject.endsWith("spec.sidecars")),
      "the restricted sidecar passes on its own",
    );
  });

  it("passes steps and containers that meet the restricted level on their own (exit 0)", () => {
    const out = policyCheck("restricted", `${task(restricted)}\n---\n${workflow(restricted)}\n---\n${runner(false)}`);
    assert.equal(out.status, 0, out.stdout + out.stderr);
    for (const subject of [
      "Task/ci/build spec.steps",
      "Task/ci/build spec.sidecars",
      "Workflow/ci/release spec.templates[0].container",
      "Runner/ci/agent spec.pod",
    ])
      assert.ok(
        out.checks.some((c) => c.subject === subject && c.rule === "pss-privileged" && c.status === "pass"),
        `${subject} was judged`,
      );
  });

  it("applies pod-level rules to a declared pod spec (host network in spec.pod)", () => {
    const out = policyCheck("runner", runner(true));
    assert.equal(out.status, 1, out.stdout + out.stderr);
    assert.ok(out.failing.some((c) => c.rule === "pss-host-namespaces" && c.subject === "Runner/ci/agent spec.pod"));
  });

  it("is stricter on a declared container than on a pod: a control met only at pod level elsewhere is not seen", () => {
    // Without a pod-level securityContext, runAsNonRoot must be on the container itself.
    const out = policyCheck("no-run-as", workflow(restricted.replace("runAsNonRoot: true, ", "")));
    assert.equal(out.status, 1);
    assert.ok(out.failing.some((c) => c.rule === "pss-run-as-non-root" && c.subject === "Workflow/ci/release spec.templates[0].container"));
  });

  it("without the declaration, the steps are not pod specs to the policy gate (the artifact gate blocks the kind)", () => {
    const out = policyCheck("undeclared", task("securityContext: { privileged: true }"), false);
    assert.equal(out.status, 0, out.stdout + out.stderr);
    assert.ok(out.checks.every((c) => !c.subject.includes("spec.steps")));
  });

  it("refuses a trust policy whose declared path does not parse (exit 2, naming the field)", () => {
    const bad = join(dir, "bad.trust.yaml");
    writeFileSync(bad, trust.replace('containers: ["spec.templates[*].container"]', 'containers: ["spec.templates[*]..container"]'));
    const file = join(dir, "bad.yaml");
    writeFileSync(file, workflow(restricted));
    const out = vigil(["policy", "check", "--pack", "pss-restricted", "--trust", bad, file]);
    assert.equal(out.status, 2);
    assert.match(out.stderr, /bad\.trust\.yaml:\d+ kinds\[1\]\.containers\[0\]: "spec\.templates\[\*\]\.\.container" is not a field path/);
  });

  it("judges the same in process (the agent's path): a declared container list is a PodTemplate of its containers", () => {
    const manifests = parseManifests(`${crds}\n---\n${task("securityContext: { privileged: true }")}`, "set.yaml");
    const kinds = [{ group: "tekton.dev", kind: "Task", containerLists: ["spec.steps"] }];
    const checks = policyChecks({ policies: loadPacks(["pss-baseline"]), manifests, kinds });
    assert.ok(checks.some((c) => c.rule === "pss-privileged" && c.status === "fail" && c.subject === "Task/ci/build spec.steps"));
    const without = policyChecks({ policies: loadPacks(["pss-baseline"]), manifests });
    assert.ok(!without.some((c) => c.subject === "Task/ci/build spec.steps"));
  });
});
