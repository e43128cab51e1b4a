// `vigil policy check` as a user runs it: exit codes, table/JSON/SARIF output, and bad input.
import { strict as assert } from "node:assert";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { tempDir, vigil } from "./helpers/tools.ts";

const vap = (validation: string) => `apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: { name: max-replicas }
spec:
  matchConstraints:
    resourceRules: [{ apiGroups: [apps], apiVersions: [v1], operations: [CREATE], resources: [deployments] }]
  validations:
    - expression: "${validation}"
      message: at most 5 replicas
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: { name: max-replicas }
spec: { policyName: max-replicas, validationActions: [Deny] }
`;
const deployment = (replicas: number) =>
  `apiVersion: apps/v1\nkind: Deployment\nmetadata: { name: web, namespace: shop }\nspec: { replicas: ${replicas}, selector: { matchLabels: { app: web } }, template: { metadata: { labels: { app: web } }, spec: { containers: [{ name: app, image: "registry.example.com/web:1" }] } } }\n`;

function workspace(t: import("node:test").TestContext, replicas = 9, validation = "object.spec.replicas <= 5") {
  const dir = tempDir(t);
  mkdirSync(join(dir, "policies"));
  mkdirSync(join(dir, "manifests"));
  writeFileSync(join(dir, "policies", "max.yaml"), vap(validation));
  writeFileSync(join(dir, "manifests", "web.yaml"), "# the web tier\n" + deployment(replicas));
  return dir;
}

describe("vigil policy check", () => {
  it("blocks (exit 1) with a table naming policy, resource and message, and passes (exit 0) when compliant", (t) => {
    const dir = workspace(t);
    let out = vigil(["policy", "check", "--policy", join(dir, "policies"), join(dir, "manifests")]);
    assert.equal(out.status, 1, out.stderr);
    assert.match(out.stdout, /FAIL\s+policy\s+max-replicas\s+Deployment\/shop\/web\s+at most 5 replicas/);
    writeFileSync(join(dir, "manifests", "web.yaml"), deployment(2));
    out = vigil(["policy", "check", "--policy", join(dir, "policies"), join(dir, "manifests")]);
    assert.equal(out.status, 0, out.stdout + out.stderr);
  });

  it("prints the verdict as JSON and as SARIF with file and line", (t) => {
    const dir = workspace(t);
    const json = vigil(["policy", "check", "--json", "--policy", join(dir, "policies"), join(dir, "manifests")]).json();
    assert.equal(json.verdict, "fail");
    assert.deepEqual(json.checks[0].location, { file: join(dir, "manifests", "web.yaml"), line: 2 });
    const sarif = JSON.parse(vigil(["policy", "check", "-o", "sarif", "--policy", join(dir, "policies"), join(dir, "manifests")]).stdout);
    assert.equal(sarif.version, "2.1.0");
    const [result] = sarif.runs[0].results;
    assert.equal(result.ruleId, "max-replicas");
    assert.equal(result.level, "error");
    assert.equal(result.locations[0].physicalLocation.region.startLine, 2);
    assert.equal(sarif.runs[0].tool.driver.rules[0].id, "max-replicas");
  });

  it("names file and line of invalid YAML, and a policy whose expression does not compile (exit 2)", (t) => {
    const dir = workspace(t);
    writeFileSync(join(dir, "manifests", "bad.yaml"), "apiVersion: v1\nkind: ConfigMap\nmetadata: [oops\n");
    let out = vigil(["policy", "check", "--policy", join(dir, "policies"), join(dir, "manifests")]);
    assert.equal(out.status, 2);
    assert.match(out.stderr, /bad\.yaml:\d+:\d+: invalid YAML/);
    assert.equal(out.stdout, "");

    const broken = workspace(t, 1, "object.spec.replicas <=");
    out = vigil(["policy", "check", "--policy", join(broken, "policies"), join(broken, "manifests")]);
    assert.equal(out.status, 2);
    assert.match(out.stderr, /policy max-replicas: spec\.validations\[0\]\.expression does not compile/);
    assert.match(out.stderr, /expression: object\.spec\.replicas <=/);
  });

  it("refuses usage errors: no manifests, no policy, an unknown pack, a binding to a missing policy (exit 2)", (t) => {
    const dir = workspace(t);
    assert.equal(vigil(["policy", "check", "--policy", join(dir, "policies")]).status, 2);
    assert.equal(vigil(["policy", "check", join(dir, "manifests")]).status, 2);
    const pack = vigil(["policy", "check", "--pack", "no-such-pack", join(dir, "manifests")]);
    assert.equal(pack.status, 2);
    assert.match(pack.stderr, /unknown policy pack "no-such-pack"/);
    writeFileSync(
      join(dir, "policies", "orphan.yaml"),
      "apiVersion: admissionregistration.k8s.io/v1\nkind: ValidatingAdmissionPolicyBinding\nmetadata: { name: orphan }\nspec: { policyName: ghost, validationActions: [Deny] }\n",
    );
    const orphan = vigil(["policy", "check", "--policy", join(dir, "policies"), join(dir, "manifests")]);
    assert.equal(orphan.status, 2);
    assert.match(orphan.stderr, /binds policy "ghost", which is not defined/);
    assert.equal(vigil(["policy", "check", "--help"]).status, 0);
    const jobs = vigil(["policy", "check", "--jobs", "0", "--policy", join(dir, "policies"), join(dir, "manifests")]);
    assert.equal(jobs.status, 2);
    assert.match(jobs.stderr, /--jobs must be a whole number of threads/);
  });

  it("handles a large manifest set", (t) => {
    const dir = workspace(t, 2);
    const many = Array.from({ length: 5000 }, (_, i) => deployment(i % 5).replace("name: web", `name: web-${i}`)).join("---\n");
    writeFileSync(join(dir, "manifests", "many.yaml"), many);
    const configMap = (bytes: number) =>
      `apiVersion: v1\nkind: ConfigMap\nmetadata: { name: big, namespace: shop }\ndata: { blob: "${"x".repeat(bytes)}" }\n`;
    writeFileSync(join(dir, "manifests", "big.yaml"), configMap(2_000_000));
    const out = vigil(["policy", "check", "--json", "--policy", join(dir, "policies"), join(dir, "manifests")]);
    assert.equal(out.status, 0, out.stderr.slice(0, 500));
    assert.equal(out.json().checks.filter((c: { rule: string }) => c.rule === "max-replicas").length, 5001);

    // Over the API server's 3 MiB request limit, the object could never be applied: said, exit 2.
    writeFileSync(join(dir, "manifests", "big.yaml"), configMap(4_000_000));
    const refused = vigil(["policy", "check", "--policy", join(dir, "policies"), join(dir, "manifests")]);
    assert.equal(refused.status, 2);
    assert.match(refused.stderr, /big\.yaml:1: the object is \d+ bytes as JSON; the API server refuses requests over 3145728 bytes/);
    assert.doesNotMatch(refused.stderr, /\n\s+at /, "no stack trace");
  });
});
