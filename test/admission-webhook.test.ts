// The admission webhook end to end on a real kube-apiserver: the API server reaches `vigil admission`
// over TLS at the URL of the ValidatingWebhookConfiguration Vigil keeps, trusting it through the caBundle
// Vigil issued. Pods made with kubectl by a user holding write access (a stolen credential) are refused
// unless Vigil verified their images; the real agent's deployment (a signed repository, a cosign-signed
// image in a real registry) and the ReplicaSets and Pods its controllers make are admitted; break-glass
// admits once and is in the audit log; a replica killed mid-request admits nothing.
import { strict as assert } from "node:assert";
import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { before, test, type TestContext } from "node:test";
import { startAdmission, type RunningAdmission } from "../src/admission/admission.ts";
import { BREAK_GLASS_ANNOTATION } from "../src/admission/break-glass.ts";
import { issueCa, issueServing } from "../src/admission/certificates.ts";
import { loadAdmissionConfig } from "../src/admission/config.ts";
import { signImage } from "../src/artifact/sign-image.ts";
import { openAuditLog } from "../src/audit/index.ts";
import { connectCluster, type Cluster } from "../src/cluster/index.ts";
import { agentTestCluster, createNamespace, reconcileOnce, writeAgentConfig } from "./helpers/agent.ts";
import { makeLogKey } from "./helpers/audit.ts";
import { SshSigner, TestRepo, writePolicy } from "./helpers/git-fixture.ts";
import { cosignKeyPair, signingRegistry, type CosignKeyPair, type SigningRegistry } from "./helpers/image-signing.ts";
import { kubectlBinary, missingKubeBinaries, requireKube, type KubeCluster, type KubeUser } from "./helpers/kube.ts";
import { freePort, pushTestImage } from "./helpers/registry.ts";
import { fileScope, hasTool, requireTools, tempDir, vigil } from "./helpers/tools.ts";

const scope = fileScope();
const ENV = "prod";
const NS = "shop";
const AGENT_USER = "vigil-agent";

let cluster: KubeCluster;
let admin: Cluster;
let registry: SigningRegistry;
let imageKey: CosignKeyPair;
let alice: SshSigner;
let bob: SshSigner;
let mallory: KubeUser;
let dir: string;
let configFile: string;
let trustFile: string;
let auditDir: string;
let inventoryDir: string;
let signed: { reference: string; digest: string };
let unsigned: { reference: string; digest: string };
let webhook: RunningAdmission | undefined;
const decisions: Record<string, unknown>[] = [];

before(async () => {
  if (missingKubeBinaries([kubectlBinary]).length > 0 || !hasTool("docker-registry") || !hasTool("cosign") || !hasTool("ssh-keygen"))
    return;
  ({ cluster, admin } = await agentTestCluster(scope));
  for (const ns of [NS, "elsewhere"]) await createNamespace(admin, ns);
  // Pods run as their namespace's default ServiceAccount, which the controller-manager (not running here) would make.
  for (const ns of [NS, "elsewhere", "vigil-system"])
    await post(`/api/v1/namespaces/${ns}/serviceaccounts`, { metadata: { name: "default" } });
  registry = await signingRegistry(scope);
  imageKey = cosignKeyPair(registry.dir, "ci");
  const repository = `${registry.registry.host}/shop/web`;
  const image = await pushTestImage(registry.client.repository(repository), { tag: "v1" });
  await signImage(registry.client, `${repository}:v1`, imageKey.signing);
  signed = { reference: `${repository}:v1`, digest: image.descriptor.digest };
  const other = await pushTestImage(registry.client.repository(`${registry.registry.host}/shop/tool`), { tag: "v1" });
  unsigned = { reference: `${registry.registry.host}/shop/tool:v1`, digest: other.descriptor.digest };

  dir = tempDir(scope, "vigil-admission-");
  alice = new SshSigner(dir, "alice");
  bob = new SshSigner(dir, "bob");
  trustFile = writePolicy(join(dir, "trust.yaml"), {
    signers: [alice.policyEntry, bob.policyEntry],
    admins: { members: ["alice"], threshold: 1 },
    paths: [{ pattern: "**", owners: ["alice"] }],
    environments: [{ name: ENV, branch: "main", path: `envs/${ENV}` }],
    images: [{ pattern: `${registry.registry.host}/**`, signers: [{ key: imageKey.publicPem }] }],
  });
  // Mallory holds a real credential that may write workloads in the namespace: what a stolen kubeconfig gives.
  mallory = cluster.user("mallory");
  // (The built-in edit role is aggregated by the controller-manager, which does not run here: a role of its own.)
  await post("/apis/rbac.authorization.k8s.io/v1/clusterroles", {
    metadata: { name: "workload-writer" },
    rules: [{ apiGroups: ["", "apps", "batch"], resources: ["pods", "deployments", "replicasets", "jobs"], verbs: ["*"] }],
  });
  for (const ns of [NS, "elsewhere"]) {
    await post(`/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/rolebindings`, {
      metadata: { name: "mallory-writes" },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "workload-writer" },
      subjects: [{ kind: "User", name: "mallory" }],
    });
  }
  auditDir = join(dir, "audit");
  inventoryDir = join(dir, "inventory");
  const logKey = makeLogKey(dir);
  const port = await freePort();
  configFile = join(dir, "admission.yaml");
  writeFileSync(
    configFile,
    `apiVersion: vigil.dev/v1alpha1
kind: AdmissionConfig
inventory: ${inventoryDir}
trustPolicy: ${trustFile}
listen: 127.0.0.1:${port}
cluster: { kubeconfig: ${cluster.admin.kubeconfigPath} }
webhook: { url: "https://127.0.0.1:${port}", timeoutSeconds: 5 }
tls: { validity: 1h, caValidity: 2d, checkInterval: 1h }
audit: { log: ${auditDir}, signingKeyFile: ${logKey.file} }
refresh: 1s
environments:
  - name: ${ENV}
    namespaces: [${NS}]
`,
  );
  webhook = await startAdmission(loadAdmissionConfig(configFile), (line) => decisions.push(line));
  scope.after(() => webhook?.stop());
  await untilEnforced();
});

function ready(t: TestContext): boolean {
  return requireKube(t, [kubectlBinary]) && requireTools(t, ["docker-registry", "cosign", "ssh-keygen", "git"]);
}

async function post(path: string, body: unknown, as: Cluster = admin): Promise<{ status: number; body: any }> {
  return as.call({ verb: "create", method: "POST", path, body });
}

const podYaml = (name: string, image: string, annotations: Record<string, string> = {}, ns = NS) =>
  JSON.stringify({
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name, namespace: ns, annotations },
    spec: { containers: [{ name: "app", image }] },
  });

/** kubectl create -f - as `user`: exit status and what it printed (asynchronous: the webhook may run in this process). */
function kubectlCreate(user: KubeUser, manifest: string, extra: string[] = []): Promise<{ status: number; output: string }> {
  return new Promise((resolve) => {
    const p = spawn(kubectlBinary, ["--kubeconfig", user.kubeconfigPath, "create", "-f", "-", ...extra], {
      stdio: ["pipe", "pipe", "pipe"],
    });
    let output = "";
    p.stdout.on("data", (d) => (output += d));
    p.stderr.on("data", (d) => (output += d));
    p.on("exit", (code) => resolve({ status: code ?? -1, output }));
    p.stdin.end(manifest);
  });
}

/** The API server reads webhook configurations asynchronously: wait until a bad Pod is refused by Vigil. */
async function untilEnforced(): Promise<void> {
  const deadline = Date.now() + 20_000;
  for (let i = 0; ; i++) {
    const r = await kubectlCreate(mallory, podYaml(`probe-${i}`, unsigned.reference), ["--dry-run=server"]);
    if (r.status !== 0 && /vigil admission/.test(r.output)) return;
    if (Date.now() > deadline) throw new Error(`the webhook is not called: ${r.output}`);
    await new Promise((res) => setTimeout(res, 200));
  }
}

test("kubectl with a stolen credential: an unverified digest, a tag, and an unknown registry are each refused, naming the image and what to do", async (t) => {
  if (!ready(t)) return;
  const cases = [
    { name: "unverified-digest", image: `${unsigned.reference}@${unsigned.digest}`, why: /is not a digest Vigil verified/ },
    {
      name: "tag",
      image: signed.reference,
      why: /is a tag, not a digest, and the inventory resolves .*shop\/web:v1 to no verified digest/,
    },
    { name: "unknown-registry", image: `evil.example.net/shop/web@${signed.digest}`, why: /is not a digest Vigil verified/ },
  ];
  for (const c of cases) {
    const r = await kubectlCreate(mallory, podYaml(c.name, c.image));
    assert.notEqual(r.status, 0, `${c.name} was admitted: ${r.output}`);
    assert.match(r.output, /admission webhook "prod\.env\.admission\.vigil\.dev" denied the request/);
    assert.ok(r.output.includes(`image "${c.image}" (container app)`), r.output);
    assert.match(r.output, c.why);
    assert.match(r.output, /deploy it through Vigil .* break-glass/);
  }
  const other = await kubectlCreate(mallory, podYaml("nowhere", `${unsigned.reference}@${unsigned.digest}`, {}, "elsewhere"));
  assert.notEqual(other.status, 0);
  assert.match(other.output, /namespace elsewhere is no Vigil environment's/);
  const answer = await admin.call({ verb: "get", method: "GET", path: "/api/v1/namespaces/shop/pods" });
  assert.deepEqual(
    answer.body.items.map((p: any) => p.metadata.name),
    [],
  );
});

test("the agent's own deployment is admitted; then, from what the agent recorded in the inventory, the ReplicaSet and Pod its controllers make, and a Job's Pod", async (t) => {
  if (!ready(t)) return;
  const repo = new TestRepo(join(dir, "config"));
  const deployment = `apiVersion: apps/v1
kind: Deployment
metadata: { name: web, namespace: ${NS} }
spec:
  replicas: 1
  selector: { matchLabels: { app: web } }
  template:
    metadata: { labels: { app: web } }
    spec: { containers: [{ name: web, image: "${signed.reference}" }] }
`;
  const job = `apiVersion: batch/v1
kind: Job
metadata: { name: migrate, namespace: ${NS} }
spec:
  template:
    spec: { restartPolicy: Never, containers: [{ name: migrate, image: "${signed.reference}" }] }
`;
  repo.commit({ [`envs/${ENV}/web.yaml`]: deployment, [`envs/${ENV}/job.yaml`]: job }, alice);
  const agentUser = cluster.user(AGENT_USER, ["system:masters"]);
  const agentConfig = writeAgentConfig(tempDir(t, "vigil-admission-agent-"), {
    trust: trustFile,
    packs: ["pss-baseline"],
    // The agent records what it deployed in the monitor's inventory, which the webhook reads.
    // It also installs the environment's packs as the API server's own admission policies.
    extra: `insecureRegistries: ["${registry.registry.host}"]\nmonitor: { inventory: ${inventoryDir} }\nadmissionPolicies: true\n`,
    environments: [{ name: ENV, url: repo.dir, cluster: agentUser.kubeconfigPath, namespaces: [NS] }],
  });
  const [result] = await reconcileOnce(agentConfig);
  assert.equal(result!.exitCode, 0, JSON.stringify(result!.verdict.checks.filter((c) => c.status === "fail")));
  const applied = (await admin.call({ verb: "get", method: "GET", path: `/apis/apps/v1/namespaces/${NS}/deployments/web` })).body;
  const pinned = `${signed.reference}@${signed.digest}`;
  assert.equal(applied.spec.template.spec.containers[0].image, pinned);
  // Admitted for what it runs, not for who sent it: the agent recorded the digests it verified before its dry run.
  assert.ok(
    decisions.some(
      (d) => d.kind === "Deployment" && d.user === AGENT_USER && d.rule === "verified" && d.allowed === true && d.dryRun === true,
    ),
    "the agent's dry run went through the webhook",
  );
  assert.ok(
    decisions.some(
      (d) => d.kind === "Deployment" && d.user === AGENT_USER && d.rule === "verified" && d.allowed === true && d.dryRun === false,
    ),
    "the agent's apply went through the webhook",
  );
  assert.ok(!decisions.some((d) => d.user === AGENT_USER && d.allowed === false), "nothing of the agent's was refused");

  assert.equal(
    result!.verdict.checks.find((c) => c.gate === "monitor" && c.rule === "inventory")?.status,
    "pass",
    "the agent recorded the deployment",
  );
  const appliedJob = (await admin.call({ verb: "get", method: "GET", path: `/apis/batch/v1/namespaces/${NS}/jobs/migrate` })).body;

  // No controller-manager runs here: create what the controllers would, as the controllers.
  const as = async (user: string) => {
    const c = await connectCluster({ kubeconfig: cluster.admin.kubeconfigPath, impersonate: user });
    t.after(() => c.close());
    return c;
  };
  const deploymentController = await as("system:serviceaccount:kube-system:deployment-controller");
  const rs = await post(
    `/apis/apps/v1/namespaces/${NS}/replicasets`,
    {
      apiVersion: "apps/v1",
      kind: "ReplicaSet",
      metadata: {
        name: "web-6f7d8",
        namespace: NS,
        labels: { app: "web" },
        ownerReferences: [{ apiVersion: "apps/v1", kind: "Deployment", name: "web", uid: applied.metadata.uid, controller: true }],
      },
      spec: { replicas: 1, selector: applied.spec.selector, template: applied.spec.template },
    },
    deploymentController,
  );
  assert.equal(rs.status, 201, JSON.stringify(rs.body));
  const replicasetController = await as("system:serviceaccount:kube-system:replicaset-controller");
  const pod = await post(
    `/api/v1/namespaces/${NS}/pods`,
    {
      apiVersion: "v1",
      kind: "Pod",
      metadata: {
        generateName: "web-6f7d8-",
        namespace: NS,
        labels: { app: "web" },
        ownerReferences: [{ apiVersion: "apps/v1", kind: "ReplicaSet", name: "web-6f7d8", uid: rs.body.metadata.uid, controller: true }],
      },
      spec: applied.spec.template.spec,
    },
    replicasetController,
  );
  assert.equal(pod.status, 201, JSON.stringify(pod.body));
  const jobController = await as("system:serviceaccount:kube-system:job-controller");
  const jobPod = await post(
    `/api/v1/namespaces/${NS}/pods`,
    {
      apiVersion: "v1",
      kind: "Pod",
      metadata: {
        generateName: "migrate-",
        namespace: NS,
        ownerReferences: [{ apiVersion: "batch/v1", kind: "Job", name: "migrate", uid: appliedJob.metadata.uid, controller: true }],
      },
      spec: appliedJob.spec.template.spec,
    },
    jobController,
  );
  assert.equal(jobPod.status, 201, JSON.stringify(jobPod.body));
  // Now the tag resolves, in the inventory, to the verified digest.
  const byTag = await kubectlCreate(mallory, podYaml("by-tag", signed.reference), ["--dry-run=server"]);
  assert.equal(byTag.status, 0, byTag.output);
  // A controller is no pass of its own: from a template Vigil did not apply, its Pod is refused.
  const forged = await post(
    `/api/v1/namespaces/${NS}/pods`,
    {
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: "forged", namespace: NS },
      spec: { containers: [{ name: "x", image: `${unsigned.reference}@${unsigned.digest}` }] },
    },
    replicasetController,
  );
  assert.equal(forged.status, 403);
  assert.match(forged.body.message, /is not a digest Vigil verified/);
});

test("the environment's policy pack, installed by the agent, holds as native admission policy: a host-network Pod of a verified image is refused by the API server itself", async (t) => {
  if (!ready(t)) return;
  const hostNetwork = JSON.stringify({
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name: "host-network", namespace: NS },
    spec: { hostNetwork: true, containers: [{ name: "app", image: `${signed.reference}@${signed.digest}` }] },
  });
  // The API server reads new policies and bindings asynchronously (the agent installed them a moment ago).
  const deadline = Date.now() + 20_000;
  let r = await kubectlCreate(mallory, hostNetwork, ["--dry-run=server"]);
  while (r.status === 0 && Date.now() < deadline) {
    await new Promise((res) => setTimeout(res, 250));
    r = await kubectlCreate(mallory, hostNetwork, ["--dry-run=server"]);
  }
  assert.notEqual(r.status, 0);
  assert.match(r.output, /ValidatingAdmissionPolicy 'pss-host-namespaces' with binding 'vigil-prod-pss-host-namespaces' denied request/);
  // Elsewhere the binding does not reach: the namespace is refused by the webhook, not by the pack.
  const other = await kubectlCreate(mallory, hostNetwork.replace(`"namespace":"${NS}"`, '"namespace":"elsewhere"'), ["--dry-run=server"]);
  assert.doesNotMatch(other.output, /ValidatingAdmissionPolicy/);
});

test("break-glass: an admin's token admits one object once, recorded in the audit log with who and why; others are refused with the reason", async (t) => {
  if (!ready(t)) return;
  const image = `${unsigned.reference}@${unsigned.digest}`;
  const token = (name: string, key = alice.keyFile, expires = "10m") => {
    const r = vigil([
      "admission",
      "break-glass",
      "--kind",
      "Pod",
      "--namespace",
      NS,
      "--name",
      name,
      "--reason",
      "INC-42: payments down, hotfix image",
      "--key",
      key,
      "--expires",
      expires,
    ]);
    assert.equal(r.status, 0, r.stderr);
    return r.stdout.trim();
  };
  const glass = token("hotfix");
  const first = await kubectlCreate(mallory, podYaml("hotfix", image, { [BREAK_GLASS_ANNOTATION]: glass }));
  assert.equal(first.status, 0, first.output);
  assert.match(first.output, /admitted by break-glass: signed by alice/);

  const log = await openAuditLog(auditDir);
  t.after(() => log.close());
  const records = [];
  for await (const e of log.entries()) if (e.record.kind === "break-glass") records.push(e.record.payload);
  assert.equal(records.length, 1);
  assert.deepEqual(
    { ...records[0], key: undefined, token: undefined, notAfter: undefined },
    {
      object: { apiVersion: "v1", kind: "Pod", namespace: NS, name: "hotfix" },
      operation: "CREATE",
      user: "mallory",
      signer: "alice",
      reason: "INC-42: payments down, hotfix image",
      images: [image],
      key: undefined,
      token: undefined,
      notAfter: undefined,
    },
  );

  // Once: deleted and made again with the same token, it is refused.
  await admin.call({ verb: "delete", method: "DELETE", path: `/api/v1/namespaces/${NS}/pods/hotfix`, query: { gracePeriodSeconds: "0" } });
  const again = await kubectlCreate(mallory, podYaml("hotfix", image, { [BREAK_GLASS_ANNOTATION]: glass }));
  assert.notEqual(again.status, 0);
  assert.match(again.output, /was used already/);

  const refusals: [string, string, RegExp][] = [
    ["other-object", token("hotfix-2"), /the token is for Pod shop\/hotfix-2, not Pod shop\/other-object/],
    ["not-admin", token("not-admin", bob.keyFile), /signed by bob .* who is not an admin of the trust policy/],
    ["too-long", token("too-long", alice.keyFile, "2h"), /longer than the 60 the configuration allows/],
    ["tampered", tamper(token("tampered")), /signature does not verify/],
    ["garbage", "not a token", /the token is not base64/],
  ];
  for (const [name, value, why] of refusals) {
    const r = await kubectlCreate(mallory, podYaml(name, image, { [BREAK_GLASS_ANNOTATION]: value }));
    assert.notEqual(r.status, 0, `${name} was admitted`);
    assert.match(r.output, why, name);
  }
  const after = [];
  for await (const e of log.entries()) if (e.record.kind === "break-glass") after.push(e);
  assert.equal(after.length, 1, "refused tokens record nothing");
});

/** The token with its claim's reason changed, its signature left as it was. */
function tamper(token: string): string {
  const envelope = JSON.parse(Buffer.from(token, "base64").toString());
  const claim = JSON.parse(Buffer.from(envelope.payload, "base64").toString());
  envelope.payload = Buffer.from(JSON.stringify({ ...claim, reason: "routine" })).toString("base64");
  return Buffer.from(JSON.stringify(envelope)).toString("base64");
}

test("TLS: the API server trusts the webhook through the caBundle Vigil keeps; a rotated serving certificate is served and still trusted; a deleted configuration comes back", async (t) => {
  if (!ready(t)) return;
  const secret = (await admin.call({ verb: "get", method: "GET", path: "/api/v1/namespaces/vigil-system/secrets/vigil-admission-tls" }))
    .body;
  const vwc = (
    await admin.call({
      verb: "get",
      method: "GET",
      path: "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/vigil-admission",
    })
  ).body;
  for (const w of vwc.webhooks) assert.equal(w.clientConfig.caBundle, secret.data["ca-bundle.crt"]);
  assert.deepEqual(
    vwc.webhooks.map((w: any) => [w.name, w.failurePolicy]),
    [
      ["prod.env.admission.vigil.dev", "Fail"],
      ["other-namespaces.admission.vigil.dev", "Fail"],
    ],
  );
  assert.deepEqual(vwc.webhooks[1].namespaceSelector.matchExpressions[0].values, ["vigil-system", "kube-system", "shop"]);
  assert.match(vwc.metadata.annotations["vigil.dev/excluded-namespaces"], /deadlock/);

  // The Secret's serving certificate has 10 of its 60 minutes left: a new one is issued by the same CA.
  const b64 = (t: string) => Buffer.from(t).toString("base64");
  const text = (k: string) => Buffer.from(secret.data[k], "base64").toString();
  const ca = { certPem: text("ca.crt"), keyPem: text("ca.key") };
  const names = { dns: [], ips: ["127.0.0.1"] };
  const ending = await issueServing(ca, names, 10 * 60_000);
  await putSecret(secret, { "tls.crt": b64(ending.certPem), "tls.key": b64(ending.keyPem) });
  const rotated = await webhook!.checkCertificates();
  assert.notEqual(rotated.certPem, ending.certPem);
  assert.equal(rotated.caBundle, text("ca-bundle.crt"), "the same CA");
  const r = await kubectlCreate(mallory, podYaml("after-rotation", `${unsigned.reference}@${unsigned.digest}`), ["--dry-run=server"]);
  assert.match(r.output, /vigil admission: Pod shop\/after-rotation is refused/, "the API server still reaches the webhook");

  // The CA itself has 10 minutes of its 2 days left: a new CA joins the bundle (the old one stays while valid).
  const endingCa = await issueCa("ending", 10 * 60_000);
  const leaf = await issueServing(endingCa, names, 3600_000);
  const current = (await admin.call({ verb: "get", method: "GET", path: "/api/v1/namespaces/vigil-system/secrets/vigil-admission-tls" }))
    .body;
  await putSecret(current, {
    "ca.crt": b64(endingCa.certPem),
    "ca.key": b64(endingCa.keyPem),
    "ca-bundle.crt": b64(endingCa.certPem),
    "tls.crt": b64(leaf.certPem),
    "tls.key": b64(leaf.keyPem),
  });
  const renewed = await webhook!.checkCertificates();
  assert.deepEqual(renewed.caBundle.match(/-----BEGIN CERTIFICATE-----[^-]+/g)!.length, 2);
  assert.ok(renewed.caBundle.endsWith(endingCa.certPem), "the old CA is still trusted while it is valid");
  const now = (
    await admin.call({
      verb: "get",
      method: "GET",
      path: "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/vigil-admission",
    })
  ).body;
  assert.equal(now.webhooks[0].clientConfig.caBundle, b64(renewed.caBundle));
  const still = await kubectlCreate(mallory, podYaml("after-ca-rotation", `${unsigned.reference}@${unsigned.digest}`), [
    "--dry-run=server",
  ]);
  assert.match(still.output, /vigil admission: Pod shop\/after-ca-rotation is refused/);

  // Deleted by hand, the webhook configuration is back at the next check.
  const vwcPath = "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/vigil-admission";
  assert.equal((await admin.call({ verb: "delete", method: "DELETE", path: vwcPath })).status, 200);
  await webhook!.checkCertificates();
  assert.equal((await admin.call({ verb: "get", method: "GET", path: vwcPath })).status, 200);
});

async function putSecret(secret: any, data: Record<string, string>): Promise<void> {
  const answer = await admin.call({
    verb: "update",
    method: "PUT",
    path: "/api/v1/namespaces/vigil-system/secrets/vigil-admission-tls",
    body: { ...secret, data: { ...secret.data, ...data } },
  });
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
}

test("fail closed: a webhook replica killed in the middle of a request admits nothing, and the agent's namespace is not blocked (no deadlock)", async (t) => {
  if (!ready(t)) return;
  await webhook!.stop();
  webhook = undefined;
  // A replica as deployed: the CLI in its own process.
  const child = spawn(join(import.meta.dirname, "..", "bin", "vigil"), ["admission", "--config", configFile], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout.on("data", (d) => (output += d));
  child.stderr.on("data", (d) => (output += d));
  const exited = new Promise((resolve) => child.once("exit", resolve));
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    await exited;
  });
  const deadline = Date.now() + 20_000;
  while (!/listening on/.test(output)) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`vigil admission did not start: ${output}`);
    await new Promise((res) => setTimeout(res, 100));
  }
  const good = `${signed.reference}@${signed.digest}`;
  assert.equal(
    (await kubectlCreate(mallory, podYaml("while-up", good), ["--dry-run=server"])).status,
    0,
    "a verified image is admitted while the replica runs",
  );

  // Stopped: the connection is accepted by the kernel, the request sent, no answer comes; then killed.
  child.kill("SIGSTOP");
  const pending = kubectlCreate(mallory, podYaml("mid-request", `${unsigned.reference}@${unsigned.digest}`));
  await new Promise((res) => setTimeout(res, 1500));
  child.kill("SIGKILL");
  const r = await pending;
  assert.notEqual(r.status, 0, r.output);
  assert.match(r.output, /failed calling webhook "prod\.env\.admission\.vigil\.dev"/);
  // With no replica at all, even a verified image is refused: nothing is admitted unjudged.
  const down = await kubectlCreate(mallory, podYaml("while-down", good));
  assert.notEqual(down.status, 0);
  assert.match(down.output, /failed calling webhook/);
  const pods = (await admin.call({ verb: "get", method: "GET", path: `/api/v1/namespaces/${NS}/pods` })).body.items.map(
    (p: any) => p.metadata.name,
  );
  assert.ok(!pods.includes("mid-request") && !pods.includes("while-down"), pods.join(", "));
  // The agent's namespace is left out: the agent and the webhook itself can start while it is down.
  const own = await post("/api/v1/namespaces/vigil-system/pods", JSON.parse(podYaml("vigil-admission-0", good, {}, "vigil-system")));
  assert.equal(own.status, 201, JSON.stringify(own.body));
});
