// The monitor fed by the real agent on a real API server: a signed revision that runs a signed image
// with an attested SBOM is deployed; the agent records it in the monitor's inventory with the keys that
// admitted it. Then, in a monitor on the same inventory: a new advisory opens a finding on exactly that
// workload and digest; the environment's "degraded" enforcement shows in the agent's verdict, status,
// metrics and Event until a fixed revision is deployed (and the monitor, noticing it, closes the
// finding); a revoked image key and a removed commit signer flag what they admitted; drift left in place
// is recorded as it runs and evaluated again by the policy trigger.
import { strict as assert } from "node:assert";
import { mkdirSync, writeFileSync } from "node:fs";
import { type AddressInfo, createServer } from "node:net";
import { stringify } from "yaml";
import { join } from "node:path";
import { before, test, type TestContext } from "node:test";
import { AgentMetrics } from "../src/agent/metrics.ts";
import { attestImage, signImage } from "../src/artifact/sign-image.ts";
import type { Cluster } from "../src/cluster/index.ts";
import { PREDICATE_TYPES } from "../src/sigstore/intoto.ts";
import { loadTrustPolicyFile } from "../src/trust/policy.ts";
import { loadPacks } from "../src/policy/packs.ts";
import { VigilError } from "../src/core/errors.ts";
import { startAgent } from "../src/agent/agent.ts";
import type { ReconcileResult } from "../src/agent/reconcile.ts";
import { openAuditLog } from "../src/audit/index.ts";
import { openInventory } from "../src/monitor/inventory.ts";
import { agentTestCluster, reconcileOnce, writeAgentConfig } from "./helpers/agent.ts";
import { kubeApi } from "./helpers/cluster.ts";
import { makeLogKey } from "./helpers/audit.ts";
import { soleOwnerPolicy, SshSigner, TestRepo } from "./helpers/git-fixture.ts";
import { cosignKeyPair, signingRegistry, type CosignKeyPair, type SigningRegistry } from "./helpers/image-signing.ts";
import { missingKubeBinaries, requireKube, type KubeCluster } from "./helpers/kube.ts";
import { cyclonedx, feed, openMonitor, osv } from "./helpers/monitor-fixture.ts";
import { pushTestImage } from "./helpers/registry.ts";
import { fileScope, hasTool, requireTools, tempDir } from "./helpers/tools.ts";

let cluster: KubeCluster;
let admin: Cluster;
let registry: SigningRegistry;
let imageKey: CosignKeyPair;
let otherKey: CosignKeyPair;
/** Images signed by imageKey, each attested with a CycloneDX SBOM: left-pad 1.0.0 (vulnerable), then 1.0.1 (fixed). */
const images: Record<"vulnerable" | "fixed", { reference: string; digest: string }> = {} as never;
let alice: SshSigner;
let bob: SshSigner;
const scope = fileScope();

before(async () => {
  if (missingKubeBinaries().length > 0 || !hasTool("docker-registry") || !hasTool("cosign") || !hasTool("ssh-keygen")) return;
  ({ cluster, admin } = await agentTestCluster(scope));
  registry = await signingRegistry(scope);
  imageKey = cosignKeyPair(registry.dir, "ci");
  otherKey = cosignKeyPair(registry.dir, "other");
  for (const [name, version] of [
    ["vulnerable", "1.0.0"],
    ["fixed", "1.0.1"],
  ] as const) {
    const repository = `${registry.registry.host}/shop/web-${name}`;
    const image = await pushTestImage(registry.client.repository(repository), { tag: "v1" });
    await signImage(registry.client, `${repository}:v1`, imageKey.signing);
    await attestImage(
      registry.client,
      `${repository}:v1`,
      cyclonedx([`pkg:npm/left-pad@${version}`]),
      PREDICATE_TYPES.cyclonedx,
      imageKey.signing,
    );
    images[name] = { reference: `${repository}:v1`, digest: image.descriptor.digest };
  }
  const keys = tempDir(scope, "vigil-monitor-keys-");
  alice = new SshSigner(keys, "alice");
  bob = new SshSigner(keys, "bob");
});

function ready(t: TestContext): boolean {
  return requireKube(t) && requireTools(t, ["docker-registry", "cosign", "ssh-keygen", "git"]);
}

const namespaceYaml = (ns: string) => `apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ${ns}\n`;
const deploymentYaml = (ns: string, image: string, extra = "") => `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: ${ns}
spec:
  replicas: 1
  selector: { matchLabels: { app: web } }
  template:
    metadata: { labels: { app: web } }
    spec:
      containers:
        - name: web
          image: ${image}${extra}
`;

/** A config repository for `env`, its trust policy (the environment's monitor enforcement given) and an agent configuration naming the monitor's inventory. */
function workspace(t: TestContext, env: string, enforcement: string, extra = "", monitorConfig?: (dir: string) => string) {
  const dir = tempDir(t, "vigil-monitor-agent-");
  const ns = `${env}-shop`;
  const imagesRule = (pem: string) => [{ pattern: `${registry.registry.host}/**`, signers: [{ key: pem }] }];
  const environments = [{ name: env, branch: "main", path: `envs/${env}`, monitor: { enforcement } }];
  const trust = soleOwnerPolicy(join(dir, "trust.yaml"), alice, env, { environments, images: imagesRule(imageKey.publicPem) });
  const repo = new TestRepo(join(dir, "config"));
  const inventory = join(dir, "inventory");
  const database = join(dir, "vulndb");
  const configFile = writeAgentConfig(dir, {
    trust,
    packs: ["pss-baseline"],
    extra: `insecureRegistries: ["${registry.registry.host}"]\nmonitor: { inventory: ${inventory}${monitorConfig ? `, config: ${monitorConfig(dir)}` : ""} }\n`,
    environments: [{ name: env, url: repo.dir, cluster: cluster.admin.kubeconfigPath, namespaces: [ns], ...(extra && { extra }) }],
  });
  /** The same policy with other image keys or signers: what a revocation looks like. */
  const revised = (file: string, changes: { imageKey?: string; signer?: SshSigner }) =>
    soleOwnerPolicy(join(dir, file), changes.signer ?? alice, env, {
      environments,
      images: imagesRule(changes.imageKey ?? imageKey.publicPem),
    });
  return { dir, repo, configFile, env, ns, inventory, database, revised };
}

const get = async (path: string) => {
  const answer = await admin.call({ verb: "get", method: "GET", path });
  return answer.status === 200 ? answer.body : undefined;
};

test("the agent records what it deployed; a new advisory opens a finding on it; degraded shows until a fixed revision is deployed; a revoked key flags what it admitted", async (t) => {
  if (!ready(t)) return;
  const w = workspace(t, "mona", "degraded");
  const commit = w.repo.commit(
    { "envs/mona/namespace.yaml": namespaceYaml(w.ns), "envs/mona/web.yaml": deploymentYaml(w.ns, images.vulnerable.reference) },
    alice,
  );
  const [deployed] = await reconcileOnce(w.configFile);
  assert.equal(deployed!.exitCode, 0, JSON.stringify(deployed!.verdict.checks.filter((c) => c.status === "fail")));
  const recorded = deployed!.verdict.checks.find((c) => c.gate === "monitor" && c.rule === "inventory");
  assert.equal(recorded?.status, "pass", JSON.stringify(recorded));
  assert.match(recorded!.message, /1 workload\(s\), 2 admission\(s\)/, "the commit's signature and the image's");

  // A monitor on the same inventory and database (vigil monitor's), then an advisory about left-pad 1.0.0.
  const f = await openMonitor(w.dir, { inventory: w.inventory, database: w.database, now: () => new Date() });
  t.after(() => f.close());
  const advisory = osv({
    id: "GHSA-left-pad-0001",
    modified: "2026-12-07T00:00:00Z",
    ecosystem: "npm",
    name: "left-pad",
    fixed: "1.0.1",
    severity: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
  });
  const imported = await f.monitor.importAdvisories([feed(join(w.dir, "feed"), [advisory])]);
  assert.equal(imported.opened.length, 1, JSON.stringify(imported.opened));
  const finding = imported.opened[0]!;
  assert.deepEqual(
    [finding.environment, finding.workload, finding.digest, finding.subject, finding.rule, finding.fixed],
    ["mona", `Deployment ${w.ns}/web`, images.vulnerable.digest, "pkg:npm/left-pad@1.0.0", "GHSA-left-pad-0001", ["1.0.1"]],
  );
  assert.deepEqual(
    await f.monitor.fullRescan(),
    f.monitor.openFindings().filter((x) => x.type === "advisory"),
    "incremental equals a full rescan",
  );

  // Degraded: the next reconcile says so in its verdict, status, metrics and Event, and still succeeds.
  const [degraded] = await reconcileOnce(w.configFile);
  assert.equal(degraded!.exitCode, 0);
  assert.equal(degraded!.health, "degraded");
  const said = degraded!.verdict.checks.find((c) => c.gate === "monitor" && c.rule === "degraded");
  assert.equal(said?.status, "warn");
  assert.match(said!.message, /mona is degraded: 1 open finding/);
  const status = (await get(`/api/v1/namespaces/vigil-system/configmaps/vigil-status-mona`))?.data;
  assert.equal(status?.health, "degraded");
  const metrics = new AgentMetrics(["mona"]);
  metrics.observe(degraded!);
  assert.match(metrics.render(), /vigil_environment_health\{environment="mona",state="degraded"\} 1/);
  const events = (await get(`/api/v1/namespaces/vigil-system/events`))?.items ?? [];
  assert.ok(
    events.some((e: any) => /health degraded/.test(e.message)),
    JSON.stringify(events.map((e: any) => e.message)),
  );

  // A fixed revision: the agent records it; the running monitor notices (the inventory's generation) and
  // closes the finding; the environment is no longer degraded.
  const fixCommit = w.repo.commit({ "envs/mona/web.yaml": deploymentYaml(w.ns, images.fixed.reference) }, alice);
  const [fixed] = await reconcileOnce(w.configFile);
  assert.equal(fixed!.exitCode, 0, JSON.stringify(fixed!.verdict.checks.filter((c) => c.status === "fail")));
  const noticed = await f.monitor.refresh();
  assert.deepEqual(
    noticed.flatMap((c) => c.closed.map((x) => x.digest)),
    [images.vulnerable.digest],
  );
  assert.deepEqual(
    f.monitor.openFindings().filter((x) => x.type === "advisory"),
    [],
  );
  const [healthy] = await reconcileOnce(w.configFile);
  assert.notEqual(healthy!.health, "degraded");
  assert.equal(healthy!.verdict.checks.find((c) => c.gate === "monitor" && c.rule === "degraded")?.status, "pass");

  // The image key revoked (another key trusted instead): the deployed digest it admitted is flagged.
  const revoked = await f.monitor.setTrustPolicy(await loadTrustPolicyFile(w.revised("revoked.yaml", { imageKey: otherKey.publicPem })));
  assert.deepEqual(
    revoked.opened.map((x) => [x.type, x.subject, x.workload]),
    [["untrusted-key", images.fixed.digest, `Deployment ${w.ns}/web`]],
  );
  // The commit signer removed (bob trusted instead): every deployed commit alice admitted is flagged.
  const removed = await f.monitor.setTrustPolicy(await loadTrustPolicyFile(w.revised("removed.yaml", { signer: bob })));
  const commits = removed.opened.filter((x) => x.type === "untrusted-key" && x.digest === "");
  // Both deployed commits: the first admitted by the first deployment, carried over by the second.
  assert.deepEqual(commits.map((x) => x.subject).sort(), [commit, fixCommit].sort(), JSON.stringify(removed.opened));
  assert.ok(
    commits.every((x) => /alice/.test(x.action)),
    JSON.stringify(commits.map((x) => x.action)),
  );
  assert.ok(
    removed.closed.some((x) => x.subject === images.fixed.digest),
    "the image key is trusted again under the removed-signer policy",
  );
});

test("drift the agent leaves in place (drift: report) is evaluated again by the policy trigger", async (t) => {
  if (!ready(t)) return;
  const w = workspace(t, "monb", "alert", "    drift: report\n");
  w.repo.commit(
    {
      "envs/monb/namespace.yaml": namespaceYaml(w.ns),
      "envs/monb/web.yaml": deploymentYaml(w.ns, images.fixed.reference, "\n          securityContext: { capabilities: { add: [CHOWN] } }"),
    },
    alice,
  );
  const [first] = await reconcileOnce(w.configFile);
  assert.equal(first!.exitCode, 0, JSON.stringify(first!.verdict.checks.filter((c) => c.status === "fail")));
  // Someone changes the capability Vigil applied to one the baseline forbids (this API server refuses privileged containers).
  const patched = await admin.call({
    verb: "patch",
    method: "PATCH",
    path: `/apis/apps/v1/namespaces/${w.ns}/deployments/web`,
    contentType: "application/json-patch+json",
    body: [{ op: "replace", path: "/spec/template/spec/containers/0/securityContext/capabilities/add", value: ["NET_ADMIN"] }],
  });
  assert.equal(patched.status, 200, JSON.stringify(patched.body));
  const [drifted] = await reconcileOnce(w.configFile);
  const drift = drifted!.verdict.checks.find((c) => c.gate === "monitor" && c.rule === "drift");
  assert.ok(drift, JSON.stringify(drifted!.verdict.checks));
  assert.match(drift!.message, /^1 drifted object\(s\) recorded/);
  // The monitor's policy trigger evaluates the live object the agent recorded.
  const f = await openMonitor(w.dir, { inventory: w.inventory, database: w.database });
  t.after(() => f.close());
  const checked = await f.monitor.checkPolicies({ policies: loadPacks(["pss-baseline"]) });
  const policy = checked.opened.filter((x) => x.type === "policy");
  assert.deepEqual(
    policy.map((x) => [x.rule, x.workload]),
    [["pss-capabilities-baseline", `Deployment ${w.ns}/web`]],
    JSON.stringify(policy),
  );
});

test("block-promotion: a revision with open findings where it runs is refused for the environment, naming them; below the threshold it goes", async (t) => {
  if (!ready(t)) return;
  const dir = tempDir(t, "vigil-monitor-promotion-");
  const repo = new TestRepo(join(dir, "config"));
  const inventory = join(dir, "inventory");
  const database = join(dir, "vulndb");
  const policy = (threshold?: string) =>
    soleOwnerPolicy(join(dir, `trust-${threshold ?? "any"}.yaml`), alice, "stage", {
      environments: [
        { name: "stage", branch: "main", path: "envs/stage" },
        { name: "prod", branch: "main", path: "envs/prod", monitor: { enforcement: "block-promotion", ...(threshold && { threshold }) } },
      ],
      images: [{ pattern: `${registry.registry.host}/**`, signers: [{ key: imageKey.publicPem }] }],
    });
  const agentConfig = (env: string, trust: string) =>
    writeAgentConfig(tempDir(t, `vigil-monitor-${env}-`), {
      trust,
      packs: ["pss-baseline"],
      extra: `insecureRegistries: ["${registry.registry.host}"]\nmonitor: { inventory: ${inventory} }\n`,
      environments: [{ name: env, url: repo.dir, cluster: cluster.admin.kubeconfigPath, namespaces: [`${env}-shop`] }],
    });
  const files = (image: string) => ({
    "envs/stage/namespace.yaml": namespaceYaml("stage-shop"),
    "envs/stage/web.yaml": deploymentYaml("stage-shop", image),
    "envs/prod/namespace.yaml": namespaceYaml("prod-shop"),
    "envs/prod/web.yaml": deploymentYaml("prod-shop", image),
  });
  const vulnerable = repo.commit(files(images.vulnerable.reference), alice);
  const [staged] = await reconcileOnce(agentConfig("stage", policy()));
  assert.equal(staged!.exitCode, 0, JSON.stringify(staged!.verdict.checks.filter((c) => c.status === "fail")));
  const f = await openMonitor(dir, { inventory, database, now: () => new Date() });
  t.after(() => f.close());
  const advisory = osv({
    id: "GHSA-left-pad-0002",
    modified: "2026-12-07T00:00:00Z",
    ecosystem: "npm",
    name: "left-pad",
    fixed: "1.0.1",
    severity: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N",
  });
  assert.equal((await f.monitor.importAdvisories([feed(join(dir, "feed"), [advisory])])).opened.length, 1);

  const [blocked] = await reconcileOnce(agentConfig("prod", policy()));
  assert.equal(blocked!.exitCode, 1);
  assert.equal(blocked!.applied, false);
  const refusal = blocked!.verdict.checks.find((c) => c.status === "fail");
  assert.deepEqual([refusal?.gate, refusal?.rule, refusal?.subject], ["monitor", "open-findings", vulnerable]);
  assert.match(refusal!.message, /GHSA-left-pad-0002 in pkg:npm\/left-pad@1\.0\.0 \(stage Deployment stage-shop\/web\)/);
  assert.equal(await get("/apis/apps/v1/namespaces/prod-shop/deployments/web"), undefined, "nothing was applied to prod");

  // The finding is high; a threshold of critical lets it through.
  const [lenient] = await reconcileOnce(agentConfig("prod", policy("critical")));
  assert.equal(lenient!.exitCode, 0, JSON.stringify(lenient!.verdict.checks.filter((c) => c.status === "fail")));
  assert.equal(lenient!.verdict.checks.find((c) => c.rule === "open-findings")?.status, "pass");
});

test("an inventory that cannot be reached stops the agent at start with exit 3, naming it without its password", async (t) => {
  if (!ready(t)) return;
  const dir = tempDir(t, "vigil-monitor-unreachable-");
  const configFile = writeAgentConfig(dir, {
    trust: soleOwnerPolicy(join(dir, "trust.yaml"), alice, "monc"),
    packs: ["pss-baseline"],
    extra: 'monitor: { inventory: "postgres://vigil:hunter2@127.0.0.1:1/inventory" }\n',
    environments: [{ name: "monc", url: join(dir, "config"), cluster: cluster.admin.kubeconfigPath, namespaces: ["monc-shop"] }],
  });
  const refused = await reconcileOnce(configFile).then(
    () => undefined,
    (e: unknown) => e as VigilError,
  );
  assert.ok(refused instanceof VigilError, String(refused));
  assert.equal(refused.exitCode, 3);
  assert.match(refused.message, /127\.0\.0\.1:1/);
  assert.doesNotMatch(refused.message, /hunter2/);
});

test("monitor.config: the agent runs the monitor in its process; an advisory in the watched feed, a key revoked in the trust policy, a VEX statement, a pack added, a Pod Vigil did not deploy and a force-push produce findings (Events, metrics, audit log), announced once by the replica holding vigil-monitor", async (t) => {
  if (!ready(t)) return;
  const logKey = makeLogKey(tempDir(t, "vigil-monitor-log-key-"));
  const metricsPort = await freePort();
  const w = workspace(t, "moni", "alert", "    interval: 1h\n", (dir) => {
    mkdirSync(join(dir, "feed"));
    mkdirSync(join(dir, "policies"));
    writeFileSync(join(dir, "vex.openvex.json"), openVex([]));
    const file = join(dir, "monitor.yaml");
    writeFileSync(
      file,
      [
        "apiVersion: vigil.dev/v1alpha1",
        "kind: MonitorConfig",
        "inventory: inventory",
        "database: vulndb",
        "feeds: [feed]",
        "trustPolicy: trust.yaml",
        "vex: [vex.openvex.json]",
        "policy: { paths: [policies], interval: 1h }",
        `audit: { log: monitor-audit, signingKeyFile: ${logKey.file} }`,
        `clusters: [{ environment: moni, kubeconfig: ${cluster.admin.kubeconfigPath}, namespaces: [moni-shop], interval: 1s }]`,
        "repository: { location: config, interval: 1s }",
        "refreshInterval: 1s",
        `metrics: { listen: "127.0.0.1:${metricsPort}" }`,
        "",
      ].join("\n"),
    );
    return file;
  });
  const before = w.repo.commit({ "envs/moni/namespace.yaml": namespaceYaml(w.ns) }, alice);
  const deployedRevision = w.repo.commit({ "envs/moni/web.yaml": deploymentYaml(w.ns, images.vulnerable.reference) }, alice);
  // Two replicas of the agent, each configured to run the monitor; no vigil monitor process anywhere.
  const results: ReconcileResult[] = [];
  const replicas = await Promise.all(
    ["replica-a", "replica-b"].map((identity) => startAgent({ configFile: w.configFile, identity, onResult: (r) => results.push(r) })),
  );
  const loops = replicas.map((r) => r.loop());
  const stopAll = async () => {
    await Promise.all(replicas.map((r) => r.stop()));
    await Promise.all(loops);
  };
  t.after(stopAll);
  await until(
    () => results.some((r) => r.applied && r.exitCode === 0),
    () => JSON.stringify(results.map((r) => r.verdict.checks.filter((c) => c.status === "fail"))),
  );
  const holder = async () => (await get("/apis/coordination.k8s.io/v1/namespaces/vigil-system/leases/vigil-monitor"))?.spec?.holderIdentity;
  await until(
    async () => ["replica-a", "replica-b"].includes(await holder()),
    async () => `vigil-monitor held by ${await holder()}`,
  );

  const inventory = await openInventory(w.inventory);
  t.after(() => inventory.close());
  const found = async (type: string) => (await inventory.findings({ environment: "moni" })).filter((f) => f.type === type);
  feed(join(w.dir, "feed"), [
    osv({ id: "GHSA-left-pad-0002", modified: "2026-12-07T00:00:00Z", ecosystem: "npm", name: "left-pad", fixed: "1.0.1" }),
  ]);
  await until(
    async () => (await found("advisory")).length === 1,
    async () => JSON.stringify(await inventory.findings()),
  );
  const [advisory] = await found("advisory");
  assert.deepEqual(
    [advisory!.workload, advisory!.digest, advisory!.subject, advisory!.rule],
    [`Deployment ${w.ns}/web`, images.vulnerable.digest, "pkg:npm/left-pad@1.0.0", "GHSA-left-pad-0002"],
  );
  const events = async (reason: string) =>
    ((await get(`/api/v1/namespaces/${w.ns}/events`))?.items ?? []).filter(
      (e: { reason?: string; involvedObject?: { name?: string } }) => e.reason === reason && e.involvedObject?.name === "web",
    );
  await until(
    async () => (await events("VulnerabilityFound")).length > 0,
    async () => JSON.stringify(await events("VulnerabilityFound")),
  );

  // Prometheus metrics, served by the replica that leads the monitor.
  const metrics = async () => (await fetch(`http://127.0.0.1:${metricsPort}/metrics`).catch(() => undefined))?.text();
  await until(
    async () =>
      /vigil_monitor_findings\{environment="moni",type="advisory",severity="unknown",suppressed="false"\} 1/.test((await metrics()) ?? ""),
    async () => String(await metrics()),
  );

  // The image key is revoked in the trust policy the monitor watches: the digest it admitted is flagged.
  w.revised("trust.yaml", { imageKey: otherKey.publicPem });
  await until(
    async () => (await found("untrusted-key")).some((f) => f.digest === images.vulnerable.digest),
    async () => JSON.stringify(await found("untrusted-key")),
  );

  // A VEX statement written to the watched document suppresses the advisory's finding, with its justification.
  writeFileSync(join(w.dir, "vex.openvex.json"), openVex([{ vulnerability: "GHSA-left-pad-0002", product: "pkg:npm/left-pad@1.0.0" }]));
  await until(
    async () => (await found("advisory"))[0]?.suppressed?.justification === "vulnerable_code_not_in_execute_path",
    async () => JSON.stringify(await found("advisory")),
  );
  // A pack written to the watched policy folder: the live Deployment, which runs as root, fails it.
  writeFileSync(
    join(w.dir, "policies", "restricted.yaml"),
    loadPacks(["pss-restricted"])
      .map((o) => stringify(o.object))
      .join("---\n"),
  );
  await until(
    async () => (await found("policy")).some((f) => f.workload === `Deployment ${w.ns}/web`),
    async () => JSON.stringify(await found("policy")),
  );

  // A Pod running a digest Vigil did not deploy (its status written as a kubelet would): a finding at the next look at the cluster.
  const foreign = `sha256:${"f".repeat(64)}`;
  assert.equal(
    (await kubeApi(cluster, "POST", `/api/v1/namespaces/${w.ns}/serviceaccounts`, { metadata: { name: "default" } })).status,
    201,
  );
  const pod = await kubeApi(cluster, "POST", `/api/v1/namespaces/${w.ns}/pods`, {
    metadata: { name: "stray" },
    spec: { automountServiceAccountToken: false, containers: [{ name: "app", image: `registry.example.com/stray@${foreign}` }] },
  });
  assert.equal(pod.status, 201, JSON.stringify(pod.body));
  const running = {
    phase: "Running",
    containerStatuses: [
      {
        name: "app",
        image: `registry.example.com/stray@${foreign}`,
        imageID: `registry.example.com/stray@${foreign}`,
        ready: true,
        restartCount: 0,
        state: { running: { startedAt: "2026-12-07T00:00:00Z" } },
      },
    ],
  };
  const patched = await kubeApi(
    cluster,
    "PATCH",
    `/api/v1/namespaces/${w.ns}/pods/stray/status`,
    { status: running },
    {
      contentType: "application/merge-patch+json",
    },
  );
  assert.equal(patched.status, 200, JSON.stringify(patched.body));
  await until(
    async () => (await found("not-deployed")).some((f) => f.digest === foreign),
    async () => JSON.stringify(await found("not-deployed")),
  );

  // main is force-pushed back behind the deployed revision: the repository trigger flags it.
  w.repo.git("update-ref", "refs/heads/main", before);
  await until(
    async () => (await found("repository")).some((f) => f.rule === "revision-unreachable" && f.subject.includes(deployedRevision)),
    async () => JSON.stringify(await inventory.findings()),
  );

  // The replica holding vigil-monitor stops: the other takes the Lease over, loads the inventory and judges the next advisory.
  const leader = await holder();
  await replicas.find((r) => r.identity === leader)!.stop();
  await until(
    async () => ![leader, undefined, ""].includes(await holder()),
    async () => `vigil-monitor held by ${await holder()}`,
  );
  feed(join(w.dir, "feed"), [
    osv({ id: "GHSA-left-pad-0003", modified: "2026-12-07T00:00:00Z", ecosystem: "npm", name: "left-pad", fixed: "1.0.1" }),
  ]);
  await until(
    async () => (await found("advisory")).length === 2,
    async () => JSON.stringify(await found("advisory")),
  );

  // Announced once: the monitor's audit log holds one record per finding, whichever replica led.
  await stopAll();
  const log = await openAuditLog(join(w.dir, "monitor-audit"), { signingKeyFile: logKey.file });
  t.after(() => log.close());
  const announced: string[] = [];
  for await (const e of log.entries())
    if (e.record.kind === "finding")
      announced.push(
        [e.record.payload.rule, e.record.payload.advisory, /suppressed by VEX/.test(e.record.payload.message) ? "suppressed" : undefined]
          .filter(Boolean)
          .join(" "),
      );
  // Each change once: found, then suppressed by the VEX statement (a changed finding is announced again).
  assert.equal(announced.filter((x) => x === "advisory GHSA-left-pad-0002").length, 1, JSON.stringify(announced));
  assert.equal(announced.filter((x) => x === "advisory GHSA-left-pad-0002 suppressed").length, 1, JSON.stringify(announced));
  assert.equal(announced.filter((x) => x === "advisory GHSA-left-pad-0003").length, 1, JSON.stringify(announced));
  assert.ok(announced.includes("untrusted-key"), JSON.stringify(announced));
});

/** An OpenVEX document: each statement says the product is not affected by the vulnerability. */
function openVex(statements: { vulnerability: string; product: string }[]): string {
  return JSON.stringify({
    "@context": "https://openvex.dev/ns/v0.2.0",
    "@id": "https://example.com/vex/agent",
    author: "security@example.com",
    timestamp: "2026-12-07T00:00:00Z",
    version: 1,
    statements: statements.map((s) => ({
      vulnerability: { name: s.vulnerability },
      products: [s.product],
      status: "not_affected",
      justification: "vulnerable_code_not_in_execute_path",
    })),
  });
}

/** A TCP port free on loopback now. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Polls `condition` every 200 ms for up to 60 s; fails saying what was seen. */
async function until(condition: () => boolean | Promise<boolean>, seen: () => string | Promise<string>): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (!(await condition())) {
    if (Date.now() > deadline) assert.fail(`timed out; seen: ${await seen()}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}
