// The agent installs each environment's policy packs as the API server's own ValidatingAdmissionPolicies
// (admissionPolicies: true), on a real kube-apiserver with the real agent (a signed repository, a
// cosign-signed image in a real registry): after a sync, a privileged Pod (the node's root file system
// mounted) that kubectl creates in the environment's namespace is refused by the API server itself with
// the pack's message, and one in an unrelated namespace is not; a PolicyException in force lets the object of the set it names through
// (the agent's own apply is judged by those policies too), and only that object; a pack the environment
// drops is removed from the cluster, policy and bindings, leaving other objects alone; and each sync is a
// check of the reconcile's verdict, so it is in the audit log.
import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { before, test, type TestContext } from "node:test";
import { prepareAdmission } from "../src/agent/admission-policies.ts";
import { startAgent } from "../src/agent/agent.ts";
import { signImage } from "../src/artifact/sign-image.ts";
import { openAuditLog } from "../src/audit/index.ts";
import type { Cluster } from "../src/cluster/index.ts";
import { agentTestCluster, createNamespace, reconcileOnce, writeAgentConfig } from "./helpers/agent.ts";
import { makeLogKey } from "./helpers/audit.ts";
import { SshSigner, TestRepo, writePolicy } from "./helpers/git-fixture.ts";
import { cosignKeyPair, signingRegistry } from "./helpers/image-signing.ts";
import { kubectlBinary, missingKubeBinaries, requireKube, type KubeCluster, type KubeUser } from "./helpers/kube.ts";
import { pushTestImage } from "./helpers/registry.ts";
import { fileScope, hasTool, requireTools, tempDir } from "./helpers/tools.ts";

const scope = fileScope();
const ENV = "prod";
const NS = "shop";
const VAP = "/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicies";
const BINDINGS = "/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicybindings";

let cluster: KubeCluster;
let admin: Cluster;
let mallory: KubeUser;
let pinned: string;
let dir: string;
let trustFile: string;
let repo: TestRepo;
let alice: SshSigner;
let registryHost: string;
let exceptionsDir: string;
let audit: { log: string; keyFile: string };

before(async () => {
  if (missingKubeBinaries([kubectlBinary]).length > 0 || !hasTool("docker-registry") || !hasTool("cosign") || !hasTool("ssh-keygen"))
    return;
  ({ cluster, admin } = await agentTestCluster(scope));
  for (const ns of [NS, "elsewhere"]) {
    await createNamespace(admin, ns);
    await admin.call({
      verb: "create",
      method: "POST",
      path: `/api/v1/namespaces/${ns}/serviceaccounts`,
      body: { metadata: { name: "default" } },
    });
  }
  const registry = await signingRegistry(scope);
  registryHost = registry.registry.host;
  const imageKey = cosignKeyPair(registry.dir, "ci");
  const repository = `${registryHost}/shop/web`;
  const image = await pushTestImage(registry.client.repository(repository), { tag: "v1" });
  await signImage(registry.client, `${repository}:v1`, imageKey.signing);
  pinned = `${repository}:v1@${image.descriptor.digest}`;

  dir = tempDir(scope, "vigil-admission-policies-");
  alice = new SshSigner(dir, "alice");
  trustFile = writePolicy(join(dir, "trust.yaml"), {
    signers: [alice.policyEntry],
    admins: { members: ["alice"], threshold: 1 },
    paths: [{ pattern: "**", owners: ["alice"] }],
    environments: [{ name: ENV, branch: "main", path: `envs/${ENV}` }],
    images: [{ pattern: `${registryHost}/**`, signers: [{ key: imageKey.publicPem }] }],
  });
  // The set: a Deployment on the node's network, which the security team excepted (until next year).
  repo = new TestRepo(join(dir, "config"));
  repo.commit(
    {
      [`envs/${ENV}/web.yaml`]: `apiVersion: apps/v1
kind: Deployment
metadata: { name: web, namespace: ${NS} }
spec:
  replicas: 1
  selector: { matchLabels: { app: web } }
  template:
    metadata: { labels: { app: web } }
    spec: { hostNetwork: true, containers: [{ name: web, image: "${registryHost}/shop/web:v1" }] }
`,
    },
    alice,
  );
  exceptionsDir = join(dir, "exceptions");
  mkdirSync(exceptionsDir);
  writeFileSync(
    join(exceptionsDir, "web.yaml"),
    `apiVersion: vigil.dev/v1alpha1
kind: PolicyException
metadata: { name: web-host-network }
spec:
  policies: [pss-host-namespaces]
  resources: [{ kind: Deployment, namespace: ${NS}, name: web }]
  justification: "INC-12: the web tier binds the node's port until the load balancer lands"
  expires: "${new Date(Date.now() + 365 * 86_400_000).toISOString().replace(/\.\d+Z$/, "Z")}"
`,
  );
  mallory = cluster.user("mallory");
  await admin.call({
    verb: "create",
    method: "POST",
    path: "/apis/rbac.authorization.k8s.io/v1/clusterroles",
    body: {
      metadata: { name: "workload-writer" },
      rules: [{ apiGroups: ["", "apps"], resources: ["pods", "deployments"], verbs: ["*"] }],
    },
  });
  for (const ns of [NS, "elsewhere"]) {
    await admin.call({
      verb: "create",
      method: "POST",
      path: `/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/rolebindings`,
      body: {
        metadata: { name: "mallory-writes" },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "workload-writer" },
        subjects: [{ kind: "User", name: "mallory" }],
      },
    });
  }
  const logKey = makeLogKey(dir);
  audit = { log: join(dir, "audit"), keyFile: logKey.file };
});

function ready(t: TestContext): boolean {
  return requireKube(t, [kubectlBinary]) && requireTools(t, ["docker-registry", "cosign", "ssh-keygen", "git"]);
}

/** The agent's configuration with these packs for the environment; it installs them as admission policies. */
function agentConfig(packs: string[]): string {
  const agentUser = cluster.user("vigil-agent", ["system:masters"]);
  return writeAgentConfig(tempDir(scope, "vigil-admission-policies-agent-"), {
    trust: trustFile,
    packs,
    extra: `insecureRegistries: ["${registryHost}"]\nadmissionPolicies: true\naudit: { log: ${audit.log}, signingKeyFile: ${audit.keyFile} }\n`,
    environments: [
      {
        name: ENV,
        url: repo.dir,
        cluster: agentUser.kubeconfigPath,
        namespaces: [NS],
        extra: `    policy: { exceptions: ${exceptionsDir} }\n`,
      },
    ],
  });
}

/** kubectl create -f - as `user`, its exit status and output. */
function kubectlCreate(user: KubeUser, object: unknown): { status: number; output: string } {
  const r = spawnSync(kubectlBinary, ["--kubeconfig", user.kubeconfigPath, "create", "-f", "-"], { input: JSON.stringify(object) });
  return { status: r.status ?? -1, output: `${r.stdout}${r.stderr}` };
}

/** A Pod with the node's root file system mounted (privileged: true itself is refused by this API server's own flags). */
const privilegedPod = (name: string, namespace: string) => ({
  apiVersion: "v1",
  kind: "Pod",
  metadata: { name, namespace },
  spec: {
    containers: [{ name: "app", image: pinned, volumeMounts: [{ name: "node", mountPath: "/node" }] }],
    volumes: [{ name: "node", hostPath: { path: "/" } }],
  },
});

/** The API server reads policies and bindings asynchronously: wait until the pack refuses a privileged Pod. */
async function untilEnforced(): Promise<{ status: number; output: string }> {
  const deadline = Date.now() + 20_000;
  for (let i = 0; ; i++) {
    const r = kubectlCreate(mallory, privilegedPod(`probe-${i}`, NS));
    if (r.status !== 0 && /ValidatingAdmissionPolicy/.test(r.output)) return r;
    if (r.status === 0)
      await admin.call({
        verb: "delete",
        method: "DELETE",
        path: `/api/v1/namespaces/${NS}/pods/probe-${i}`,
        query: { gracePeriodSeconds: "0" },
      });
    if (Date.now() > deadline) throw new Error(`the pack is not enforced by the API server: ${r.output}`);
    await new Promise((res) => setTimeout(res, 250));
  }
}

test("after an agent sync the API server itself refuses a privileged Pod in the environment's namespace with the pack's message, not elsewhere; the exception admits the set's object and only it", async (t) => {
  if (!ready(t)) return;
  const [result] = await reconcileOnce(agentConfig(["pss-baseline"]));
  assert.equal(result!.exitCode, 0, JSON.stringify(result!.verdict.checks.filter((c) => c.status === "fail")));
  const installed = result!.verdict.checks.find((c) => c.gate === "admission" && c.rule === "policies");
  assert.equal(installed?.status, "pass");
  assert.match(installed!.message, /binding\(s\) of pack\(s\) pss-baseline bound to namespace\(s\) shop; 1 object\(s\) excepted/);

  // The binding is Vigil's, limited to the environment's namespaces, with the pack's actions.
  const binding = (await admin.call({ verb: "get", method: "GET", path: `${BINDINGS}/vigil-prod-pss-host-path` })).body;
  assert.deepEqual(binding.metadata.labels, { "app.kubernetes.io/managed-by": "vigil", "vigil.dev/environment": ENV });
  assert.deepEqual(binding.spec.validationActions, ["Deny"]);
  assert.deepEqual(binding.spec.matchResources.namespaceSelector.matchExpressions[0].values, [NS]);
  assert.ok(
    binding.metadata.managedFields.some((f: { manager: string }) => f.manager === "vigil"),
    "applied with the agent's field manager",
  );

  const refused = await untilEnforced();
  assert.match(
    refused.output,
    /ValidatingAdmissionPolicy 'pss-host-path' with binding 'vigil-prod-pss-host-path' denied request: .*hostPath/,
  );
  const elsewhere = kubectlCreate(mallory, privilegedPod("unrelated", "elsewhere"));
  assert.equal(elsewhere.status, 0, `a namespace no environment owns is not the pack's: ${elsewhere.output}`);

  // The exception in force: the agent's own Deployment on the node's network was applied through the
  // API server's policies; another Deployment like it, not in the set, is refused.
  const web = await admin.call({ verb: "get", method: "GET", path: `/apis/apps/v1/namespaces/${NS}/deployments/web` });
  assert.equal(web.status, 200);
  assert.equal(web.body.spec.template.spec.hostNetwork, true);
  const hostNetwork = await admin.call({ verb: "get", method: "GET", path: `${BINDINGS}/vigil-prod-pss-host-namespaces` });
  assert.deepEqual(hostNetwork.body.spec.matchResources.excludeResourceRules, [
    { apiGroups: ["apps"], apiVersions: ["*"], resources: ["deployments"], resourceNames: ["web"], operations: ["*"], scope: "*" },
  ]);
  const copy = kubectlCreate(mallory, {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name: "web-copy", namespace: NS },
    spec: {
      selector: { matchLabels: { app: "copy" } },
      template: { metadata: { labels: { app: "copy" } }, spec: { hostNetwork: true, containers: [{ name: "web", image: pinned }] } },
    },
  });
  assert.notEqual(copy.status, 0);
  assert.match(copy.output, /ValidatingAdmissionPolicy 'pss-host-namespaces' with binding 'vigil-prod-pss-host-namespaces' denied request/);
});

test("a pack the environment drops is removed from the cluster (its policies and Vigil's bindings, nothing else), and each sync is in the audit log", async (t) => {
  if (!ready(t)) return;
  // Someone else's policy, labelled as nobody's: never touched.
  const foreign = await admin.call({
    verb: "create",
    method: "POST",
    path: VAP,
    body: {
      apiVersion: "admissionregistration.k8s.io/v1",
      kind: "ValidatingAdmissionPolicy",
      metadata: { name: "team-own-rule" },
      spec: {
        matchConstraints: { resourceRules: [{ apiGroups: [""], apiVersions: ["v1"], operations: ["CREATE"], resources: ["configmaps"] }] },
        validations: [{ expression: "true" }],
      },
    },
  });
  assert.equal(foreign.status, 201, JSON.stringify(foreign.body));
  const [result] = await reconcileOnce(agentConfig(["rbac-least-privilege"]));
  assert.equal(result!.exitCode, 0, JSON.stringify(result!.verdict.checks.filter((c) => c.status === "fail")));
  const installed = result!.verdict.checks.find((c) => c.gate === "admission" && c.rule === "policies")!;
  assert.match(installed.message, /removed: .*binding vigil-prod-pss-host-path, .*policy pss-host-path/);
  for (const path of [`${VAP}/pss-host-path`, `${BINDINGS}/vigil-prod-pss-host-path`, `${BINDINGS}/vigil-prod-pss-host-namespaces`])
    assert.equal((await admin.call({ verb: "get", method: "GET", path })).status, 404, path);
  assert.equal((await admin.call({ verb: "get", method: "GET", path: `${VAP}/team-own-rule` })).status, 200, "not Vigil's: left alone");
  const left = (await admin.call({ verb: "get", method: "GET", path: BINDINGS, query: { labelSelector: "vigil.dev/environment=prod" } }))
    .body;
  assert.ok(left.items.length > 0);
  assert.ok(
    left.items.every((b: { spec: { policyName: string } }) => b.spec.policyName.startsWith("rbac-")),
    left.items.map((b: { metadata: { name: string } }) => b.metadata.name).join(", "),
  );

  // The privileged Pod is no longer refused by a pack (no webhook runs in this test).
  const deadline = Date.now() + 20_000;
  for (let i = 0; ; i++) {
    const r = kubectlCreate(mallory, privilegedPod(`after-${i}`, NS));
    if (r.status === 0) break;
    if (Date.now() > deadline) throw new Error(`still refused after the pack was removed: ${r.output}`);
    await new Promise((res) => setTimeout(res, 250));
  }

  const log = await openAuditLog(audit.log);
  t.after(() => log.close());
  const synced: string[] = [];
  for await (const e of log.entries()) {
    if (e.record.kind !== "reconcile") continue;
    const checks = (e.record.payload as { checks: { gate: string; rule: string; message: string }[] }).checks;
    synced.push(...checks.filter((c) => c.gate === "admission" && c.rule === "policies").map((c) => c.message));
  }
  assert.equal(synced.length, 2, "both syncs are recorded");
  assert.match(synced[1]!, /removed: .*binding vigil-prod-pss-host-path/);
});

test("two environments on one cluster share a pack's policies: one dropping the pack while the other installs it at once leaves the other's policies and bindings in place", async (t) => {
  if (!ready(t)) return;
  await createNamespace(admin, "shop-staging");
  const install = (name: string, namespace: string, packs: string[]) =>
    prepareAdmission({
      environment: { name, namespaces: [namespace] },
      revision: "0".repeat(40),
      objects: [],
      policies: { cluster: admin, packs, exceptions: [] },
    });
  for (const [a, b] of [
    [install("blue", "shop", ["pss-baseline"]), install("green", "shop-staging", ["pss-baseline"])],
    [install("blue", "shop", ["pss-baseline"]), install("green", "shop-staging", [])],
  ]) {
    const checks = (await Promise.all([a!, b!])).flat();
    assert.ok(
      checks.every((c) => c.status === "pass"),
      JSON.stringify(checks),
    );
  }
  assert.equal((await admin.call({ verb: "get", method: "GET", path: `${VAP}/pss-host-path` })).status, 200, "blue still binds it");
  assert.equal((await admin.call({ verb: "get", method: "GET", path: `${BINDINGS}/vigil-blue-pss-host-path` })).status, 200);
  assert.equal((await admin.call({ verb: "get", method: "GET", path: `${BINDINGS}/vigil-green-pss-host-path` })).status, 404);
  const [dropped] = await install("blue", "shop", []);
  assert.match(dropped!.message, /policy pss-host-path/, "the last environment to drop it removes the policy");
  assert.equal((await admin.call({ verb: "get", method: "GET", path: `${VAP}/pss-host-path` })).status, 404);
});

test("a sync applies only what is not as this agent last applied it: nothing when unchanged, and again a policy whose spec someone edited and a binding someone deleted", async (t) => {
  if (!ready(t)) return;
  const agent = await startAgent({ configFile: agentConfig(["pss-baseline"]), onResult: () => {} });
  t.after(() => agent.stop());
  const installed = async () => {
    const [result] = await agent.reconcileAll();
    assert.equal(result!.exitCode, 0, JSON.stringify(result!.verdict.checks.filter((c) => c.status === "fail")));
    const message = result!.verdict.checks.find((c) => c.gate === "admission" && c.rule === "policies")!.message;
    const [, applied, wanted] = /; (\d+) of (\d+) object\(s\) applied/.exec(message)!;
    return { applied: Number(applied), wanted: Number(wanted) };
  };
  const first = await installed();
  assert.equal(first.applied, first.wanted, "a new agent applies everything once");
  assert.ok(first.wanted > 10);
  const policyVersion = (await admin.call({ verb: "get", method: "GET", path: `${VAP}/pss-host-path` })).body.metadata.resourceVersion;
  assert.deepEqual(await installed(), { applied: 0, wanted: first.wanted });
  assert.equal(
    (await admin.call({ verb: "get", method: "GET", path: `${VAP}/pss-host-path` })).body.metadata.resourceVersion,
    policyVersion,
    "not written again",
  );

  // Someone with write access to admission policies turns a rule off and unbinds another.
  const edited = await admin.call({
    verb: "patch",
    method: "PATCH",
    path: `${VAP}/pss-host-path`,
    body: JSON.stringify({ spec: { validations: [{ expression: "true" }] } }),
    contentType: "application/merge-patch+json",
  });
  assert.equal(edited.status, 200, JSON.stringify(edited.body));
  assert.equal((await admin.call({ verb: "delete", method: "DELETE", path: `${BINDINGS}/vigil-prod-pss-host-namespaces` })).status, 200);
  assert.deepEqual(await installed(), { applied: 2, wanted: first.wanted });
  const restored = (await admin.call({ verb: "get", method: "GET", path: `${VAP}/pss-host-path` })).body;
  assert.notEqual(restored.spec.validations[0].expression, "true");
  assert.equal((await admin.call({ verb: "get", method: "GET", path: `${BINDINGS}/vigil-prod-pss-host-namespaces` })).status, 200);
  await untilEnforced();
});
