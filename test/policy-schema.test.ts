// Manifests the API server would reject are blocked by the policy gate before any write: built-in kinds
// validated offline against the pinned Kubernetes v1.37 schema (types, required fields, the enumerations
// its validation enforces), failing with the field path; unknown fields dropped as the API server drops
// them, so no policy judges a field the cluster never sees.
import { strict as assert } from "node:assert";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { policyChecks } from "../src/policy/gate.ts";
import { parseManifests } from "../src/manifest/manifests.ts";
import { validateObject } from "../src/policy/schema.ts";
import { tempDir, vigil } from "./helpers/tools.ts";

const pod = (spec: string) => `apiVersion: v1
kind: Pod
metadata: { name: web, namespace: shop }
spec:
${spec}`;

const problems = (yaml: string) => validateObject(parseManifests(yaml, "m.yaml")[0]!.object)!.problems;

describe("the pinned schema", () => {
  it("accepts a valid pod, and Deployments with int-or-string and quantity fields", () => {
    assert.deepEqual(
      problems(
        pod(
          "  containers: [{ name: app, image: nginx:1, resources: { limits: { cpu: 500m, memory: 1 } }, ports: [{ containerPort: 80 }] }]",
        ),
      ),
      [],
    );
    const deployment = `apiVersion: apps/v1
kind: Deployment
metadata: { name: web, labels: { app: web } }
spec:
  selector: { matchLabels: { app: web } }
  strategy: { rollingUpdate: { maxSurge: 1, maxUnavailable: "25%" } }
  template: { metadata: { labels: { app: web } }, spec: { containers: [{ name: app, image: "nginx:1" }] } }`;
    assert.deepEqual(problems(deployment), []);
  });

  it("names the field of an unsupported enumerated value, a missing required field and a wrong type", () => {
    assert.deepEqual(
      problems(pod("  securityContext: { seccompProfile: { type: Unconfinedd } }\n  containers: [{ name: app, image: nginx:1 }]")),
      [
        'spec.securityContext.seccompProfile.type: Unsupported value: "Unconfinedd": supported values: "Localhost", "RuntimeDefault", "Unconfined"',
      ],
    );
    assert.deepEqual(problems(pod("  containers: [{ image: nginx:1 }]")), ["spec.containers[0].name: Required value"]);
    assert.deepEqual(problems(pod("  containers: [{ name: app, image: nginx:1, env: [{ name: PORT, value: 8080 }] }]")), [
      "spec.containers[0].env[0].value: Invalid value: 8080: must be a string",
    ]);
    assert.deepEqual(problems(pod('  hostNetwork: "true"\n  containers: [{ name: app, image: nginx:1 }]')), [
      'spec.hostNetwork: Invalid value: "true": must be a boolean',
    ]);
    assert.deepEqual(problems("apiVersion: v1\nkind: ConfigMap\nmetadata: { name: c, labels: { version: 2 } }"), [
      "metadata.labels.version: Invalid value: 2: must be a string",
    ]);
    // Secret data is base64 as Go decodes it; the value itself is never repeated.
    assert.deepEqual(
      problems("apiVersion: v1\nkind: Secret\nmetadata: { name: s }\ndata: { password: hunter2, token: 'aGk=', bad: 'aGk' }"),
      [
        "data.password: Invalid value: (value withheld): must be base64 (illegal base64 data: wrong length or padding)",
        "data.bad: Invalid value: (value withheld): must be base64 (illegal base64 data: wrong length or padding)",
      ],
    );
    assert.deepEqual(problems("apiVersion: v1\nkind: Secret\nmetadata: { name: s }\ndata: { password: 'p@ss' }"), [
      "data.password: Invalid value: (value withheld): must be base64 (illegal base64 data at input byte 1)",
    ]);
  });

  it("lists unknown fields and drops them from what policies see", () => {
    const result = validateObject(
      parseManifests(pod("  containers: [{ name: app, image: nginx:1, securityContex: { privileged: true } }]"), "m.yaml")[0]!.object,
    )!;
    assert.deepEqual(result.unknown, ["spec.containers[0].securityContex"]);
    assert.equal("securityContex" in (result.object.spec as any).containers[0], false);
  });
});

describe("the policy gate with the schema", () => {
  const policy = `apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: { name: no-extra }
spec:
  matchConstraints: { resourceRules: [{ apiGroups: [""], apiVersions: [v1], operations: [CREATE], resources: [pods] }] }
  validations:
    - expression: "!has(object.spec.extra)"
      message: the pod has an extra field
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: { name: no-extra }
spec: { policyName: no-extra, validationActions: [Deny] }`;

  it("fails a manifest the API server would reject, with the field path, and blocks the CLI (exit 1)", (t) => {
    const dir = tempDir(t);
    writeFileSync(join(dir, "policy.yaml"), policy);
    writeFileSync(join(dir, "pod.yaml"), pod("  containers: [{ name: app, image: nginx:1, imagePullPolicy: Sometimes }]"));
    const out = vigil(["policy", "check", "--json", "--policy", join(dir, "policy.yaml"), join(dir, "pod.yaml")]);
    assert.equal(out.status, 1, out.stderr);
    const schema = (out.json().checks as any[]).find((c) => c.rule === "schema");
    assert.equal(schema.status, "fail");
    assert.match(
      schema.message,
      /spec\.containers\[0\]\.imagePullPolicy: Unsupported value: "Sometimes": supported values: "Always", "IfNotPresent", "Never" \(Kubernetes v1\.37\.\d+ schema\)/,
    );
    assert.deepEqual(schema.location, { file: join(dir, "pod.yaml"), line: 1 });
  });

  it("warns about an unknown field and evaluates policies without it, as the cluster would", () => {
    const checks = policyChecks({
      policies: parseManifests(policy, "p.yaml"),
      manifests: parseManifests(pod("  extra: 1\n  containers: [{ name: app, image: nginx:1 }]"), "m.yaml"),
    });
    assert.deepEqual(
      checks.map((c) => [c.rule, c.status]),
      [
        ["schema", "warn"],
        ["no-extra", "pass"],
      ],
    );
    assert.match(checks[0]!.message, /unknown fields spec\.extra: the API server drops them/);
  });

  it("keeps a SOPS-encrypted manifest's metadata for the policies that read it", () => {
    const secret =
      "apiVersion: v1\nkind: Secret\nmetadata: { name: s, namespace: shop }\ndata: { password: 'ENC[AES256_GCM,data:q83vQ==,type:str]' }\nsops: { mac: 'ENC[AES256_GCM,data:Zm9v,type:str]', version: 3.9.0 }";
    const checks = policyChecks({ policies: [], manifests: parseManifests(secret, "m.yaml") });
    assert.equal(
      checks.some((c) => c.rule === "schema"),
      false,
    );
  });
});
