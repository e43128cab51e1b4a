// The agent's configuration: what a platform team writes, checked strictly, every error naming file,
// line and field, and the safety rules the schema alone cannot say.
import { strict as assert } from "node:assert";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { loadAgentConfig, parseAgentConfig } from "../src/agent/config.ts";
import { InputError } from "../src/core/errors.ts";
import { tempDir } from "./helpers/tools.ts";

const valid = `apiVersion: vigil.dev/v1alpha1
kind: AgentConfig
trustPolicy: trust.yaml
environments:
  - name: staging
    source: { url: https://git.example.com/config.git, ref: main, path: envs/staging, tokenFile: secrets/token }
    cluster: { kubeconfig: kube/config, context: staging }
    namespaces: [shop]
    serviceAccount: shop/deployer
    interval: 2m
  - name: prod
    source: { url: ../config-repo }
    cluster: { inCluster: true }
    namespaces: [shop, payments]
    gates: [revision, policy, artifact]
    drift: report
`;

const refused = (pattern: RegExp) => (e: Error) => e instanceof InputError && pattern.test(e.message);

test("a valid configuration: defaults filled in, relative paths taken from its folder, URLs left alone", (t) => {
  const dir = tempDir(t);
  const file = join(dir, "agent.yaml");
  writeFileSync(file, valid);
  const config = loadAgentConfig(file);
  const [staging, prod] = config.doc.environments;
  assert.equal(config.doc.trustPolicy, join(dir, "trust.yaml"));
  assert.equal(config.doc.namespace, "vigil-system");
  assert.equal(staging!.source.url, "https://git.example.com/config.git");
  assert.equal(staging!.source.tokenFile, join(dir, "secrets/token"));
  assert.deepEqual(staging!.cluster, { kubeconfig: join(dir, "kube/config"), context: "staging" });
  assert.deepEqual(
    staging!.gates,
    ["revision", "approvals", "secrets", "policy", "artifact", "vulnerability"],
    "every gate unless the environment says otherwise",
  );
  assert.deepEqual(
    prod!.gates,
    ["revision", "approvals", "secrets", "policy", "artifact", "vulnerability"],
    "the approvals, secrets and vulnerability gates run even when left out: the trust policy decides whether one is off",
  );
  assert.equal(staging!.drift, "restore");
  assert.equal(staging!.prune, true);
  assert.equal(staging!.force, false);
  assert.equal(prod!.source.url, join(dir, "..", "config-repo"));
  assert.equal(config.intervals.get("staging"), 120_000);
  assert.equal(config.intervals.get("prod"), 300_000, "five minutes by default");
});

test("unknown fields, bad values and missing ones are named with file and line", () => {
  assert.throws(
    () => parseAgentConfig(valid.replace("interval: 2m", "intervall: 2m"), "agent.yaml"),
    refused(/agent\.yaml:\d+ environments\[0\]\.intervall: unknown field "intervall"/),
  );
  assert.throws(
    () => parseAgentConfig(valid.replace("interval: 2m", "interval: soon"), "agent.yaml"),
    refused(/agent\.yaml:10 environments\[0\]\.interval: must be a duration/),
  );
  assert.throws(
    () => parseAgentConfig(valid.replace("namespaces: [shop]\n", "namespaces: []\n"), "agent.yaml"),
    refused(/environments\[0\]\.namespaces: must name at least one namespace/),
  );
  assert.throws(
    () => parseAgentConfig(valid.replace("drift: report", "drift: ignore"), "agent.yaml"),
    refused(/environments\[1\]\.drift: must be restore or report/),
  );
  assert.throws(
    () => parseAgentConfig(valid.replace("serviceAccount: shop/deployer", "serviceAccount: deployer"), "agent.yaml"),
    refused(/serviceAccount: must be NAMESPACE\/NAME/),
  );
  assert.throws(
    () => parseAgentConfig(valid.replace("gates: [revision, policy, artifact]", "gates: [revision, vibes]"), "agent.yaml"),
    refused(/gates\[1\]: must be one of revision, approvals, secrets, policy, artifact, vulnerability/),
  );
  assert.throws(
    () => parseAgentConfig("kind: AgentConfig\n", "agent.yaml"),
    refused(/agent\.yaml:1 apiVersion: is required[\s\S]*trustPolicy: is required/),
  );
  assert.throws(() => parseAgentConfig("environments: [\n", "agent.yaml"), refused(/^agent\.yaml:\d+:\d+: invalid YAML/));
});

test("the revision gate cannot be switched off, an environment is configured once, one credential per source, none deploys into the agent's namespace", () => {
  assert.throws(
    () => parseAgentConfig(valid.replace("gates: [revision, policy, artifact]", "gates: [policy, artifact]"), "agent.yaml"),
    refused(/environments\[1\]\.gates: the revision gate cannot be left out/),
  );
  // Secure by default: the agent's own file cannot drop the policy or artifact gate; only the signed trust policy can.
  for (const gate of ["policy", "artifact"]) {
    const without = valid.replace("gates: [revision, policy, artifact]", `gates: [revision, ${gate === "policy" ? "artifact" : "policy"}]`);
    assert.throws(
      () => parseAgentConfig(without, "agent.yaml"),
      refused(
        new RegExp(
          `environments\\[1\\]\\.gates: the ${gate} gate cannot be left out by the agent's configuration: turn it off for prod in the trust policy`,
        ),
      ),
    );
  }
  assert.throws(
    () => parseAgentConfig(valid.replace("name: prod", "name: staging"), "agent.yaml"),
    refused(/environments\[1\]\.name: environment "staging" is configured twice/),
  );
  assert.throws(
    () => parseAgentConfig(valid.replace("tokenFile: secrets/token", "tokenFile: t, sshKeyFile: k"), "agent.yaml"),
    refused(/give tokenFile or sshKeyFile, not both/),
  );
  assert.throws(
    () => parseAgentConfig(valid.replace("namespaces: [shop, payments]", "namespaces: [shop, vigil-system]"), "agent.yaml"),
    refused(/agent\.yaml:\d+ environments\[1\]\.namespaces: "vigil-system" is the agent's own namespace/),
  );
  assert.throws(
    () => parseAgentConfig(valid.replace("trustPolicy: trust.yaml", "trustPolicy: trust.yaml\nnamespace: shop"), "agent.yaml"),
    refused(/environments\[0\]\.namespaces: "shop" is the agent's own namespace/),
  );
  assert.throws(
    () => loadAgentConfig("/nonexistent/agent.yaml"),
    refused(/\/nonexistent\/agent\.yaml: cannot read the agent configuration: ENOENT/),
  );
});

test("the audit log and the deployment record key: paths from the configuration's folder, a database URL left alone; records need the log", (t) => {
  const dir = tempDir(t);
  const file = join(dir, "agent.yaml");
  writeFileSync(
    file,
    valid.replace(
      "trustPolicy: trust.yaml\n",
      "trustPolicy: trust.yaml\naudit: { log: audit, signingKeyFile: keys/audit.key }\ndeploymentRecords: { keyFile: keys/agent.key, passwordFile: keys/agent.password }\n",
    ),
  );
  const config = loadAgentConfig(file);
  assert.deepEqual(config.doc.audit, { log: join(dir, "audit"), signingKeyFile: join(dir, "keys/audit.key") });
  assert.deepEqual(config.doc.deploymentRecords, { keyFile: join(dir, "keys/agent.key"), passwordFile: join(dir, "keys/agent.password") });
  const shared = parseAgentConfig(
    valid.replace(
      "trustPolicy: trust.yaml\n",
      "trustPolicy: trust.yaml\naudit: { log: 'postgres://vigil@db/audit', signingKeyFile: /keys/audit.key }\n",
    ),
    join(dir, "agent.yaml"),
  );
  assert.equal(shared.doc.audit!.log, "postgres://vigil@db/audit");
  assert.equal(parseAgentConfig(valid, "agent.yaml").doc.audit, undefined, "no log unless configured");

  assert.throws(
    () =>
      parseAgentConfig(
        valid.replace("trustPolicy: trust.yaml\n", "trustPolicy: trust.yaml\ndeploymentRecords: { keyFile: agent.key }\n"),
        "agent.yaml",
      ),
    refused(
      /agent\.yaml:4 deploymentRecords: deployment records are kept in the audit log \(the agent never writes Git\): configure audit too/,
    ),
  );
  assert.throws(
    () => parseAgentConfig(valid.replace("trustPolicy: trust.yaml\n", "trustPolicy: trust.yaml\naudit: { log: audit }\n"), "agent.yaml"),
    refused(/audit\.signingKeyFile: is required/),
  );
  assert.throws(
    () =>
      parseAgentConfig(
        valid.replace("trustPolicy: trust.yaml\n", "trustPolicy: trust.yaml\naudit: { log: audit, signingKeyFile: k, key: x }\n"),
        "agent.yaml",
      ),
    refused(/audit\.key: unknown field/),
  );
});

test("the vulnerability gate's database, threshold and VEX per environment, and the SOPS keys' Secret: validated with file and line", (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, "prod.vex.json"), "{}");
  const file = join(dir, "agent.yaml");
  const withVuln = (fields: string) =>
    valid.replace("gates: [revision, policy, artifact]", `gates: [revision, policy, artifact]\n    vulnerability: ${fields}`);
  writeFileSync(
    file,
    withVuln("{ db: vulndb, failOn: high, vex: [prod.vex.json] }").replace(
      "trustPolicy: trust.yaml\n",
      "trustPolicy: trust.yaml\nsops: { secret: sops-keys }\n",
    ),
  );
  const config = loadAgentConfig(file);
  assert.deepEqual(config.doc.environments[1]!.vulnerability, {
    db: join(dir, "vulndb"),
    failOn: "high",
    vex: [join(dir, "prod.vex.json")],
  });
  assert.equal(config.doc.environments[0]!.vulnerability, undefined, "no database, no gate");
  assert.deepEqual(config.doc.sops, { secret: "sops-keys" });
  assert.equal(
    parseAgentConfig(withVuln("{ db: 'postgres://vigil@db/vuln', failOn: low }"), join(dir, "agent.yaml")).doc.environments[1]!
      .vulnerability!.db,
    "postgres://vigil@db/vuln",
  );
  assert.throws(
    () => parseAgentConfig(withVuln("{ db: vulndb, failOn: severe }"), "agent.yaml"),
    refused(/agent\.yaml:\d+ environments\[1\]\.vulnerability\.failOn: must be one of low, medium, high, critical/),
  );
  assert.throws(
    () => parseAgentConfig(withVuln("{ failOn: high }"), "agent.yaml"),
    refused(/environments\[1\]\.vulnerability\.db: is required/),
  );
  assert.throws(
    () => parseAgentConfig(withVuln("{ db: vulndb, failOn: high, vex: [missing.json] }"), join(dir, "agent.yaml")),
    refused(/agent\.yaml:\d+ environments\[1\]\.vulnerability\.vex\[0\]: .*missing\.json does not exist/),
  );
  assert.throws(
    () => parseAgentConfig(valid.replace("trustPolicy: trust.yaml\n", "trustPolicy: trust.yaml\nsops: { secret: Keys }\n"), "agent.yaml"),
    refused(/agent\.yaml:\d+ sops\.secret: must be a lowercase name/),
  );
  assert.throws(
    () =>
      parseAgentConfig(valid.replace("trustPolicy: trust.yaml\n", "trustPolicy: trust.yaml\nsops: { secret: k, keys: x }\n"), "agent.yaml"),
    refused(/sops\.keys: unknown field/),
  );
});
