// The vulnerability gate's environment settings through the real agent (startAgent, one reconcile as
// `vigil agent --once`) on a real kube-apiserver and registry: VEX required to be signed (an unsigned or
// forged VEX suppresses nothing and blocks; a signed one lets the revision through), unknownSeverity
// (a finding without any severity blocks by default and warns when the environment says so), and the
// advisory database kept open between reconciles, noticing a newer import without a restart.
import { strict as assert } from "node:assert";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { before, test, type TestContext } from "node:test";
import type { ReconcileResult } from "../src/agent/reconcile.ts";
import { attestImage, signImage } from "../src/artifact/sign-image.ts";
import type { Cluster } from "../src/cluster/index.ts";
import { PREDICATE_TYPES } from "../src/sigstore/intoto.ts";
import { importAdvisories } from "../src/vuln/import.ts";
import { SqliteStore } from "../src/vuln/sqlite-store.ts";
import { LODASH_ADVISORY } from "./helpers/advisories.ts";
import { agentTestCluster, createNamespace, reconcileOnce, writeAgentConfig } from "./helpers/agent.ts";
import { soleOwnerPolicy, SshSigner, TestRepo } from "./helpers/git-fixture.ts";
import { cosignKeyPair, signingRegistry, type CosignKeyPair, type SigningRegistry } from "./helpers/image-signing.ts";
import { missingKubeBinaries, requireKube, type KubeCluster } from "./helpers/kube.ts";
import { pushTestImage } from "./helpers/registry.ts";
import { fileScope, hasTool, requireTools, tempDir, vigil } from "./helpers/tools.ts";

let cluster: KubeCluster;
let admin: Cluster;
let registry: SigningRegistry;
let imageKey: CosignKeyPair;
let alice: SshSigner;
const scope = fileScope();

before(async () => {
  if (missingKubeBinaries().length > 0 || !hasTool("docker-registry") || !hasTool("cosign") || !hasTool("ssh-keygen")) return;
  ({ cluster, admin } = await agentTestCluster(scope));
  registry = await signingRegistry(scope);
  imageKey = cosignKeyPair(registry.dir, "ci");
  alice = new SshSigner(tempDir(scope, "vigil-vuln-agent-keys-"), "alice");
});

const ready = (t: TestContext) => requireKube(t) && requireTools(t, ["docker-registry", "cosign", "ssh-keygen", "git"]);

const lodashHigh = LODASH_ADVISORY;
/** As the Go, PyPI and Alpine feeds write them: no severity at all. */
const minimistUnknown = {
  id: "GO-2099-0001",
  modified: "2024-01-01T00:00:00Z",
  affected: [
    { package: { ecosystem: "npm", name: "minimist" }, ranges: [{ type: "SEMVER", events: [{ introduced: "0" }, { fixed: "1.2.6" }] }] },
  ],
};

async function importInto(db: string, dir: string, advisories: object[], name: string): Promise<void> {
  const file = join(dir, `${name}.json`);
  writeFileSync(file, JSON.stringify(advisories));
  const store = SqliteStore.open(db, { create: true });
  try {
    await importAdvisories(store, [file]);
  } finally {
    await store.close();
  }
}

/** An image signed and attested with an SBOM holding these npm packages. */
async function release(tag: string, packages: Record<string, string>): Promise<string> {
  const name = `${registry.registry.host}/vuln-agent/api`;
  await pushTestImage(registry.client.repository(name), { tag });
  await signImage(registry.client, `${name}:${tag}`, imageKey.signing);
  const components = Object.entries(packages).map(([pkg, version]) => ({
    type: "library",
    name: pkg,
    version,
    purl: `pkg:npm/${pkg}@${version}`,
  }));
  await attestImage(
    registry.client,
    `${name}:${tag}`,
    { bomFormat: "CycloneDX", specVersion: "1.5", components },
    PREDICATE_TYPES.cyclonedx,
    imageKey.signing,
  );
  return `${name}:${tag}`;
}

const deployment = (ns: string, image: string) => `apiVersion: apps/v1
kind: Deployment
metadata: { name: api, namespace: ${ns} }
spec:
  selector: { matchLabels: { app: api } }
  template:
    metadata: { labels: { app: api } }
    spec: { containers: [{ name: api, image: "${image}" }] }
`;

/** A configuration repository for `env` and the agent's configuration, its vulnerability block as given. */
async function workspace(
  t: TestContext,
  env: string,
  vulnerability: string,
): Promise<{ dir: string; repo: TestRepo; configFile: string; ns: string }> {
  const dir = tempDir(t, "vigil-vuln-agent-");
  const ns = `${env}-shop`;
  await createNamespace(admin, ns);
  const images = [
    {
      pattern: `${registry.registry.host}/vuln-agent/**`,
      signers: [{ key: imageKey.publicPem }],
      attestations: [{ predicateType: PREDICATE_TYPES.cyclonedx }],
    },
  ];
  const trust = soleOwnerPolicy(join(dir, "trust.yaml"), alice, env, { images });
  const repo = new TestRepo(join(dir, "config"));
  const configFile = writeAgentConfig(dir, {
    trust,
    packs: ["pss-baseline"],
    extra: `insecureRegistries: ["${registry.registry.host}"]\n`,
    environments: [
      { name: env, url: repo.dir, cluster: cluster.admin.kubeconfigPath, namespaces: [ns], extra: `    vulnerability: ${vulnerability}\n` },
    ],
  });
  return { dir, repo, configFile, ns };
}

const reconcile = async (configFile: string): Promise<ReconcileResult> => (await reconcileOnce(configFile))[0]!;
const vulnChecks = (r: ReconcileResult) => r.verdict.checks.filter((c) => c.gate === "vulnerability");
const find = (r: ReconcileResult, rule: string) => r.verdict.checks.find((c) => c.gate === "vulnerability" && c.rule === rule);

test("signed VEX required: unsigned and forged VEX are refused and block; the signed one suppresses the finding", async (t) => {
  if (!ready(t)) return;
  const keys = tempDir(t, "vigil-vuln-agent-vex-");
  const env = { COSIGN_PASSWORD: "vex-agent" };
  assert.equal(vigil(["generate-key-pair", "--output-key-prefix", "vex"], { cwd: keys, env }).status, 0);
  const db = join(keys, "db");
  await importInto(db, keys, [lodashHigh], "advisories");
  const vexFile = join(keys, "prod.openvex.json");
  const vexText = JSON.stringify({
    "@context": "https://openvex.dev/ns/v0.2.0",
    "@id": "prod-vex",
    author: "security",
    timestamp: "2024-01-01T00:00:00Z",
    version: 1,
    statements: [
      {
        vulnerability: { name: "CVE-2020-8203" },
        products: [{ "@id": "pkg:npm/lodash@4.17.15" }],
        status: "not_affected",
        justification: "vulnerable_code_not_in_execute_path",
      },
    ],
  });
  writeFileSync(vexFile, vexText);
  const w = await workspace(
    t,
    "vexsig",
    `{ db: ${db}, failOn: high, vex: [${vexFile}], vexSignature: { key: ${join(keys, "vex.pub")}, insecureIgnoreTlog: true } }`,
  );
  w.repo.commit({ "envs/vexsig/api.yaml": deployment(w.ns, await release("vex", { lodash: "4.17.15" })) }, alice);

  const unsigned = await reconcile(w.configFile);
  assert.equal(unsigned.exitCode, 1);
  const missing = find(unsigned, "vex-signature")!;
  assert.equal(missing.status, "fail");
  assert.match(missing.message, /has no signature: a signed VEX is required.*its statements are not applied/);
  assert.equal(find(unsigned, "GHSA-p6mc-m468-83gw")?.status, "fail", "an unsigned VEX suppresses nothing");
  assert.notEqual(unsigned.applied, true, "nothing was applied");

  const signed = vigil(["sign", "blob", vexFile, "--key", join(keys, "vex.key"), "--bundle", `${vexFile}.sigstore.json`], { env });
  assert.equal(signed.status, 0, signed.stderr);
  const passed = await reconcile(w.configFile);
  assert.equal(passed.exitCode, 0, JSON.stringify(passed.verdict.checks.filter((c) => c.status === "fail")));
  assert.equal(find(passed, "vex-signature")?.status, "pass");
  assert.match(find(passed, "vex-signature")!.message, /VEX signed by .*vex\.pub/);
  assert.equal(find(passed, "GHSA-p6mc-m468-83gw")?.status, "skip");

  // Forged: a statement changed after signing (another product suppressed) no longer verifies.
  writeFileSync(vexFile, vexText.replace("pkg:npm/lodash@4.17.15", "pkg:npm/lodash@4.17.16"));
  w.repo.commit({ "envs/vexsig/api.yaml": deployment(w.ns, await release("vex2", { lodash: "4.17.16" })) }, alice);
  const forged = await reconcile(w.configFile);
  assert.equal(forged.exitCode, 1);
  assert.equal(find(forged, "vex-signature")?.status, "fail");
  assert.match(find(forged, "vex-signature")!.message, /signature|digest|verif/i);
  assert.equal(find(forged, "GHSA-p6mc-m468-83gw")?.status, "fail");

  // A signature key the configuration names but that is not there is bad input naming the field.
  writeFileSync(w.configFile, readFileSync(w.configFile, "utf8").replace(join(keys, "vex.pub"), join(keys, "gone.pub")));
  await assert.rejects(reconcileOnce(w.configFile), /vulnerability\.vexSignature\.key.*gone\.pub does not exist/);
});

test("unknownSeverity: a finding without any severity blocks by default at failOn critical; warn lets it through as a warning", async (t) => {
  if (!ready(t)) return;
  const dir = tempDir(t, "vigil-vuln-agent-unknown-");
  const db = join(dir, "db");
  await importInto(db, dir, [minimistUnknown], "advisories");
  const w = await workspace(t, "unknownsev", `{ db: ${db}, failOn: critical }`);
  w.repo.commit({ "envs/unknownsev/api.yaml": deployment(w.ns, await release("unknown", { minimist: "1.2.5" })) }, alice);
  const blocked = await reconcile(w.configFile);
  assert.equal(blocked.exitCode, 1);
  assert.equal(find(blocked, "GO-2099-0001")?.status, "fail");
  assert.match(
    find(blocked, "GO-2099-0001")!.message,
    /UNKNOWN \(no severity figure: it fails at any threshold unless unknownSeverity is warn\)/,
  );

  writeFileSync(
    w.configFile,
    readFileSync(w.configFile, "utf8").replace("failOn: critical }", "failOn: critical, unknownSeverity: warn }"),
  );
  const warned = await reconcile(w.configFile);
  assert.equal(warned.exitCode, 0, JSON.stringify(vulnChecks(warned)));
  assert.equal(find(warned, "GO-2099-0001")?.status, "warn");

  writeFileSync(w.configFile, readFileSync(w.configFile, "utf8").replace("unknownSeverity: warn", "unknownSeverity: ignore"));
  await assert.rejects(reconcileOnce(w.configFile), /vulnerability\.unknownSeverity.*must be fail or warn/);
});

test("the database stays open between reconciles and a newer import is noticed at the next one, without a restart", async (t) => {
  if (!ready(t)) return;
  const dir = tempDir(t, "vigil-vuln-agent-kept-");
  const db = join(dir, "db");
  await importInto(db, dir, [minimistUnknown], "first");
  const w = await workspace(t, "keptdb", `{ db: ${db}, failOn: high }`);
  w.repo.commit({ "envs/keptdb/api.yaml": deployment(w.ns, await release("kept", { lodash: "4.17.15" })) }, alice);
  const before = await reconcile(w.configFile);
  assert.equal(before.exitCode, 0, JSON.stringify(vulnChecks(before)));
  assert.equal(find(before, "GHSA-p6mc-m468-83gw"), undefined);
  // A new advisory imported while the agent's store is open (as `vigil db import` from another process would).
  await importInto(db, dir, [lodashHigh], "second");
  const after = await reconcile(w.configFile);
  assert.equal(after.exitCode, 1);
  assert.equal(find(after, "GHSA-p6mc-m468-83gw")?.status, "fail");
});
