// The agent's in-cluster target without a kubelet: everything a pod gives the agent, made for real on a
// real kube-apiserver and read through the same code path as in a pod. The ServiceAccount vigil-agent
// and deploy/'s RBAC are installed; its token comes from the TokenRequest API, bound to a Pod object
// as the kubelet binds it; the files are laid out as the kubelet's projected volume writes them (token
// and ca.crt as links through ..data to a timestamped folder, swapped atomically on rotation); and
// KUBERNETES_SERVICE_HOST/PORT point at the API server. What no test here can show: a kubelet's own
// mount and rotation schedule, and the cluster's Service address (tested: its loopback address).
import { strict as assert } from "node:assert";
import { mkdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { before, test, type TestContext } from "node:test";
import { Agent, request } from "undici";
import { startAgent, type RunningAgent } from "../src/agent/agent.ts";
import type { ReconcileResult } from "../src/agent/reconcile.ts";
import { forgeDeliveryHeaders } from "../src/core/webhook-signature.ts";
import { connectCluster, type Cluster } from "../src/cluster/index.ts";
import { InputError, VigilError } from "../src/core/errors.ts";
import { agentTestCluster, writeAgentConfig } from "./helpers/agent.ts";
import { soleOwnerPolicy, SshSigner, TestRepo } from "./helpers/git-fixture.ts";
import { kubectlBinary, missingKubeBinaries, requireKube, type KubeCluster } from "./helpers/kube.ts";
import { fileScope, hasTool, requireTools, run, tempDir } from "./helpers/tools.ts";

const AGENT_ACCOUNT = "system:serviceaccount:vigil-system:vigil-agent";
const deploy = new URL("../deploy/", import.meta.url).pathname;
let cluster: KubeCluster;
let admin: Cluster;
let alice: SshSigner;
const scope = fileScope();

before(async () => {
  if (missingKubeBinaries([kubectlBinary]).length > 0 || !hasTool("ssh-keygen") || !hasTool("git")) return;
  ({ cluster, admin } = await agentTestCluster(scope, null));
  // The install's identity and RBAC as an admin applies them, and the example environment's account.
  const files = ["00-namespace.yaml", "10-serviceaccount.yaml", "20-rbac.yaml"].flatMap((f) => ["-f", join(deploy, f)]);
  run(kubectlBinary, [
    "--kubeconfig",
    cluster.admin.kubeconfigPath,
    "apply",
    "--server-side",
    "--field-manager",
    "vigil-install",
    ...files,
    "-f",
    join(deploy, "example-environment"),
  ]);
  alice = new SshSigner(tempDir(scope, "vigil-in-cluster-keys-"), "alice");
});

function ready(t: TestContext): boolean {
  return requireKube(t, [kubectlBinary]) && requireTools(t, ["ssh-keygen", "git"]);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const started = Date.now();
  while (!(await condition())) {
    if (Date.now() - started > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(25);
  }
}

async function call(method: "GET" | "POST" | "DELETE", path: string, body?: unknown): Promise<{ status: number; body: any }> {
  return admin.call({
    verb: method === "GET" ? "get" : method === "POST" ? "create" : "delete",
    method,
    path,
    ...(body !== undefined && { body }),
  });
}

/** A Pod of the agent's account, as the Deployment's would be (no kubelet runs it: it stays Pending). */
async function agentPod(t: TestContext, name: string): Promise<{ name: string; uid: string }> {
  const pod = {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name, namespace: "vigil-system" },
    spec: {
      serviceAccountName: "vigil-agent",
      securityContext: { runAsNonRoot: true, runAsUser: 65532, seccompProfile: { type: "RuntimeDefault" } },
      containers: [
        {
          name: "agent",
          image: "ghcr.io/vigil-dev/vigil@sha256:" + "0".repeat(64),
          securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] } },
        },
      ],
    },
  };
  const created = await call("POST", "/api/v1/namespaces/vigil-system/pods", pod);
  assert.equal(created.status, 201, JSON.stringify(created.body));
  t.after(() => call("DELETE", `/api/v1/namespaces/vigil-system/pods/${name}`));
  return { name, uid: created.body.metadata.uid };
}

/** A token for vigil-agent from the TokenRequest API, bound to an object (a Pod, as the kubelet asks, or a Secret). */
async function requestToken(bound: { kind: "Pod" | "Secret"; name: string; uid: string }): Promise<string> {
  const answer = await call("POST", "/api/v1/namespaces/vigil-system/serviceaccounts/vigil-agent/token", {
    apiVersion: "authentication.k8s.io/v1",
    kind: "TokenRequest",
    spec: { expirationSeconds: 3600, boundObjectRef: { apiVersion: "v1", ...bound } },
  });
  assert.equal(answer.status, 201, JSON.stringify(answer.body));
  return answer.body.status.token;
}

/** A Secret to bind a token to: deleting it makes the API server refuse that token at once. */
async function bindingSecret(t: TestContext, name: string): Promise<{ kind: "Secret"; name: string; uid: string }> {
  const created = await call("POST", "/api/v1/namespaces/vigil-system/secrets", { apiVersion: "v1", kind: "Secret", metadata: { name } });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  t.after(() => call("DELETE", `/api/v1/namespaces/vigil-system/secrets/${name}`));
  return { kind: "Secret", name, uid: created.body.metadata.uid };
}

/**
 * The service account volume as the kubelet's atomic writer lays it out: the files live in a
 * timestamped folder, `..data` links to it, and token, ca.crt and namespace link through `..data`.
 * A rotation writes a new folder and swaps `..data` with one rename, so a reader never sees half a token.
 */
function projectedVolume(dir: string) {
  mkdirSync(dir, { recursive: true });
  let generation = 0;
  let current: string | undefined;
  const write = (files: Record<string, string>) => {
    const folder = `..${new Date().toISOString().replace(/[-:.]/g, "_")}.${generation++}`;
    mkdirSync(join(dir, folder));
    for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, folder, name), content, { mode: 0o600 });
    symlinkSync(folder, join(dir, "..data_tmp"));
    renameSync(join(dir, "..data_tmp"), join(dir, "..data"));
    if (current) rmSync(join(dir, current), { recursive: true });
    current = folder;
    for (const name of Object.keys(files)) {
      try {
        symlinkSync(join("..data", name), join(dir, name));
      } catch {
        // already a link through ..data
      }
    }
  };
  return { dir, write };
}

/** KUBERNETES_SERVICE_HOST and _PORT as a pod has them, for this test. */
function serviceEnvironment(t: TestContext): void {
  const saved = { host: process.env.KUBERNETES_SERVICE_HOST, port: process.env.KUBERNETES_SERVICE_PORT };
  const url = new URL(cluster.url);
  process.env.KUBERNETES_SERVICE_HOST = url.hostname;
  process.env.KUBERNETES_SERVICE_PORT = url.port;
  t.after(() => {
    for (const [key, value] of [
      ["KUBERNETES_SERVICE_HOST", saved.host],
      ["KUBERNETES_SERVICE_PORT", saved.port],
    ] as const) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
  });
}

/** Who the API server takes us for, and which credential (the token's JTI) was used. */
async function whoAmI(c: Cluster): Promise<{ username: string; credential: string; pod?: string }> {
  const answer = await c.call({
    verb: "create",
    method: "POST",
    path: "/apis/authentication.k8s.io/v1/selfsubjectreviews",
    body: { apiVersion: "authentication.k8s.io/v1", kind: "SelfSubjectReview" },
  });
  assert.equal(answer.status, 201, JSON.stringify(answer.body));
  const { username, extra = {} } = answer.body.status.userInfo;
  return {
    username,
    credential: extra["authentication.kubernetes.io/credential-id"]?.[0],
    pod: extra["authentication.kubernetes.io/pod-name"]?.[0],
  };
}

/** The status of one request with a bearer token. */
async function fetchAs(token: string, path: string): Promise<number> {
  const dispatcher = new Agent({ connect: { ca: cluster.caPem } });
  try {
    const res = await request(`${cluster.url}${path}`, { dispatcher, headers: { authorization: `Bearer ${token}` } });
    await res.body.dump();
    return res.statusCode;
  } finally {
    await dispatcher.close();
  }
}

interface Workspace {
  repo: TestRepo;
  configFile: string;
}

/**
 * The example environment of deploy/ (shop-production, in shop, as vigil-deployer-shop), in-cluster,
 * from a new repository: the environment's state from an earlier test (its last applied revision, of
 * another repository) is removed first, and so is the state key's record that it applied.
 */
async function workspace(t: TestContext, extra = ""): Promise<Workspace> {
  for (const name of ["vigil-status-shop-production", "vigil-inventory-shop-production"])
    await call("DELETE", `/api/v1/namespaces/vigil-system/configmaps/${name}`);
  // Starting the environment over on purpose: the agent's state key no longer records that it applied.
  await admin.call({
    verb: "patch",
    method: "PATCH",
    path: "/api/v1/namespaces/vigil-system/secrets/vigil-agent-state",
    body: { metadata: { annotations: { "vigil.dev/applied-environments": null } } },
    contentType: "application/merge-patch+json",
  });
  const dir = tempDir(t, "vigil-in-cluster-");
  const trust = soleOwnerPolicy(join(dir, "trust.yaml"), alice, "shop-production");
  const repo = new TestRepo(join(dir, "config"));
  repo.commit({ "envs/shop-production/settings.yaml": settings("first") }, alice);
  const configFile = writeAgentConfig(dir, {
    trust,
    packs: ["pss-restricted"],
    extra,
    environments: [
      {
        name: "shop-production",
        url: repo.dir,
        cluster: "inCluster",
        namespaces: ["shop"],
        serviceAccount: "vigil-system/vigil-deployer-shop",
        interval: "1h",
      },
    ],
  });
  return { repo, configFile };
}

const settings = (value: string) =>
  `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: shop\ndata:\n  value: "${value}"\n`;
const liveValue = async () => (await call("GET", "/api/v1/namespaces/shop/configmaps/settings")).body?.data?.value;
const failing = (r: ReconcileResult) => JSON.stringify(r.verdict.checks.filter((c) => c.status === "fail"));

test("in-cluster: the pod's token (TokenRequest, bound to its Pod), CA and KUBERNETES_SERVICE_HOST/PORT; the agent is vigil-agent with deploy/'s RBAC and applies as the environment's account", async (t) => {
  if (!ready(t)) return;
  serviceEnvironment(t);
  const pod = await agentPod(t, "vigil-agent-0");
  const volume = projectedVolume(join(tempDir(t, "vigil-sa-"), "serviceaccount"));
  volume.write({ token: await requestToken({ kind: "Pod", ...pod }), "ca.crt": cluster.caPem, namespace: "vigil-system" });

  // The connection the agent makes for an in-cluster environment.
  const own = await connectCluster({ inCluster: true, serviceAccountDir: volume.dir });
  t.after(() => own.close());
  assert.equal(own.server.origin, cluster.url);
  assert.match(own.source, /in-cluster service account/);
  const me = await whoAmI(own);
  assert.equal(me.username, AGENT_ACCOUNT);
  assert.equal(me.pod, pod.name, "the token is bound to the pod");

  const w = await workspace(t);
  const agent = await startAgent({ configFile: w.configFile, onResult: () => {}, inCluster: { serviceAccountDir: volume.dir } });
  t.after(() => agent.stop());
  const [result] = await agent.reconcileAll();
  assert.equal(result!.exitCode, 0, failing(result!));
  assert.equal(result!.applied, true);
  assert.equal(await liveValue(), "first");
  const applied = (await call("GET", "/api/v1/namespaces/shop/configmaps/settings")).body;
  assert.equal(applied.metadata.labels["vigil.dev/applied-by"], "shop-production");
  assert.equal(
    (await call("GET", "/api/v1/namespaces/vigil-system/configmaps/vigil-status-shop-production")).body.data.verdict,
    "pass",
    "the status kept as the agent itself",
  );

  // Without the pod's environment or files: bad input, naming what is missing.
  await assert.rejects(
    connectCluster({ inCluster: true, serviceAccountDir: join(volume.dir, "absent") }),
    (e: Error) => e instanceof InputError && /no service account token at .*absent\/token/.test(e.message),
  );
  delete process.env.KUBERNETES_SERVICE_PORT;
  await assert.rejects(
    connectCluster({ inCluster: true, serviceAccountDir: volume.dir }),
    (e: Error) => e instanceof InputError && /KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set/.test(e.message),
  );
});

test("in-cluster with deploy/'s RBAC (issue 15): an object someone else made in shop is a conflict until adopted by annotation; a Secret the deployer may not read is reported and the rest applies; a deleted status blocks", async (t) => {
  if (!ready(t)) return;
  serviceEnvironment(t);
  const pod = await agentPod(t, "vigil-agent-0");
  const volume = projectedVolume(join(tempDir(t, "vigil-sa-"), "serviceaccount"));
  volume.write({ token: await requestToken({ kind: "Pod", ...pod }), "ca.crt": cluster.caPem, namespace: "vigil-system" });
  const w = await workspace(t);
  await call("DELETE", "/api/v1/namespaces/shop/configmaps/platform");
  const made = await admin.call({
    verb: "create",
    method: "POST",
    path: "/api/v1/namespaces/shop/configmaps",
    query: { fieldManager: "platform-team" },
    body: { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "platform", namespace: "shop" }, data: { value: "theirs" } },
  });
  assert.equal(made.status, 201);
  const secret = `apiVersion: v1\nkind: Secret\nmetadata:\n  name: creds\n  namespace: shop\ntype: Opaque\n`;
  const platform = `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: platform\n  namespace: shop\ndata:\n  value: "theirs"\n`;
  w.repo.commit(
    {
      "envs/shop-production/platform.yaml": platform,
      "envs/shop-production/creds.yaml": secret,
      "envs/shop-production/settings.yaml": settings("second"),
    },
    alice,
  );
  const reconcile = async () => {
    const agent = await startAgent({ configFile: w.configFile, onResult: () => {}, inCluster: { serviceAccountDir: volume.dir } });
    try {
      return (await agent.reconcileAll())[0]!;
    } finally {
      await agent.stop();
    }
  };

  const conflicted = await reconcile();
  const conflict = conflicted.verdict.checks.find((c) => c.rule === "conflict")!;
  assert.equal(conflict.subject, "ConfigMap shop/platform");
  assert.match(conflict.message, /not created by environment shop-production: managed by platform-team \(Update\)/);
  const forbidden = conflicted.verdict.checks.find((c) => c.rule === "forbidden")!;
  assert.equal(forbidden.subject, "Secret shop/creds");
  assert.equal(forbidden.status, "warn");
  assert.equal(await liveValue(), "second", "the rest of the revision applied");
  assert.equal(
    (await call("GET", "/api/v1/namespaces/shop/configmaps/platform")).body.metadata.labels?.["vigil.dev/applied-by"],
    undefined,
  );

  await admin.call({
    verb: "patch",
    method: "PATCH",
    path: "/api/v1/namespaces/shop/configmaps/platform",
    body: { metadata: { annotations: { "vigil.dev/adopt": "shop-production" } } },
    contentType: "application/merge-patch+json",
  });
  const adopted = await reconcile();
  assert.equal(adopted.exitCode, 0, failing(adopted));
  assert.equal(adopted.verdict.checks.find((c) => c.rule === "adopt")?.subject, "ConfigMap shop/platform");

  // The agent's own account keeps the status: without an audit log, a status deleted while the inventory remains blocks.
  await call("DELETE", "/api/v1/namespaces/vigil-system/configmaps/vigil-status-shop-production");
  const deleted = await reconcile();
  assert.equal(deleted.exitCode, 1);
  assert.match(failing(deleted), /the status ConfigMap is gone but shop-production's inventory is not/);
  // The blocked reconcile writes no new status: a second one is not taken for a fresh start.
  assert.equal((await call("GET", "/api/v1/namespaces/vigil-system/configmaps/vigil-status-shop-production")).status, 404);
  assert.equal((await reconcile()).exitCode, 1);
});

test("in-cluster token rotation: a token replaced on disk is used after the refresh interval without a failure, and at once when the server refuses the old one (401)", async (t) => {
  if (!ready(t)) return;
  serviceEnvironment(t);
  const volume = projectedVolume(join(tempDir(t, "vigil-sa-"), "serviceaccount"));
  const write = (token: string) => volume.write({ token, "ca.crt": cluster.caPem, namespace: "vigil-system" });
  const first = await bindingSecret(t, "token-one");
  write(await requestToken(first));

  // Rereading on schedule: the next credential after the interval is the new token, with no 401 needed.
  const scheduled = await connectCluster({ inCluster: true, serviceAccountDir: volume.dir, credentialsRefreshMs: 300 });
  t.after(() => scheduled.close());
  const before = (await whoAmI(scheduled)).credential;
  assert.ok(before?.startsWith("JTI="), `the token's id: ${before}`);
  write(await requestToken(await bindingSecret(t, "token-two")));
  assert.equal((await whoAmI(scheduled)).credential, before, "within the interval, the token in use");
  await sleep(400);
  const after = await whoAmI(scheduled);
  assert.notEqual(after.credential, before, "after the interval, the token on disk");
  assert.equal(after.username, AGENT_ACCOUNT);

  // Through the agent, with the default interval (30 s): the old token stops being accepted (its
  // Secret is deleted, as an expired token would be refused); the 401 makes the agent read the file
  // again at once, and the reconcile passes.
  write(await requestToken(await bindingSecret(t, "token-three")));
  const agentVolume = projectedVolume(join(tempDir(t, "vigil-sa-"), "serviceaccount"));
  const old = await bindingSecret(t, "token-four");
  const oldToken = await requestToken(old);
  agentVolume.write({ token: oldToken, "ca.crt": cluster.caPem, namespace: "vigil-system" });
  const w = await workspace(t);
  const agent = await startAgent({ configFile: w.configFile, onResult: () => {}, inCluster: { serviceAccountDir: agentVolume.dir } });
  t.after(() => agent.stop());
  const [one] = await agent.reconcileAll();
  assert.equal(one!.exitCode, 0, failing(one!));
  agentVolume.write({
    token: await requestToken(await bindingSecret(t, "token-five")),
    "ca.crt": cluster.caPem,
    namespace: "vigil-system",
  });
  assert.equal((await call("DELETE", `/api/v1/namespaces/vigil-system/secrets/${old.name}`)).status, 200);
  await until("the old token to be refused", async () => (await fetchAs(oldToken, "/api")) === 401);
  w.repo.commit({ "envs/shop-production/settings.yaml": settings("after rotation") }, alice);
  const [two] = await agent.reconcileAll();
  assert.equal(two!.exitCode, 0, failing(two!));
  assert.equal(await liveValue(), "after rotation");
});

test("in-cluster, two replicas with deploy/'s RBAC: one takes the Lease; a webhook that reaches the standby is recorded on vigil-triggers, and the leader applies", async (t) => {
  if (!ready(t)) return;
  serviceEnvironment(t);
  await call("DELETE", "/apis/coordination.k8s.io/v1/namespaces/vigil-system/leases/vigil-agent");
  const secret = "a-long-random-shared-webhook-secret";
  const secretFile = join(tempDir(t, "vigil-hook-"), "webhook-secret");
  writeFileSync(secretFile, secret);
  const w = await workspace(t, `leaderElection: { leaseDuration: 10s }\nwebhook: { listen: "127.0.0.1:0", secretFile: ${secretFile} }\n`);
  const errors: string[] = [];
  const replicas: { agent: RunningAgent; results: ReconcileResult[]; url: string }[] = [];
  for (const name of ["vigil-agent-a", "vigil-agent-b"]) {
    const pod = await agentPod(t, name);
    const volume = projectedVolume(join(tempDir(t, "vigil-sa-"), "serviceaccount"));
    volume.write({ token: await requestToken({ kind: "Pod", ...pod }), "ca.crt": cluster.caPem, namespace: "vigil-system" });
    const results: ReconcileResult[] = [];
    const agent = await startAgent({
      configFile: w.configFile,
      identity: name,
      onResult: (r) => results.push(r),
      onLeaseError: (e) => errors.push(`lease: ${(e as Error).message}`),
      onTriggerError: (e) => errors.push(`triggers: ${(e as Error).message}`),
      inCluster: { serviceAccountDir: volume.dir },
    });
    t.after(() => agent.stop());
    const { webhook } = await agent.listen();
    void agent.loop();
    replicas.push({ agent, results, url: webhook! });
  }
  await until("the leader's first reconcile", () => replicas.some((r) => r.results.length === 1));
  const leader = replicas.find((r) => r.agent.leading)!;
  const standby = replicas.find((r) => r !== leader)!;
  assert.equal(leader.results[0]!.exitCode, 0, failing(leader.results[0]!));

  const next = w.repo.commit({ "envs/shop-production/settings.yaml": settings("relayed") }, alice);
  const body = JSON.stringify({ ref: "refs/heads/main" });
  const res = await fetch(`${standby.url}/hooks/shop-production`, {
    method: "POST",
    body,
    headers: forgeDeliveryHeaders(secret, "/hooks/shop-production", body),
  });
  assert.equal(res.status, 202, await res.text());
  await until("the leader's reconcile of the relayed trigger", () => leader.results.some((r) => r.revision === next), 10_000);
  assert.equal(await liveValue(), "relayed");
  assert.equal(standby.results.length, 0);
  assert.deepEqual(errors, [], "the agent's RBAC allows the Lease and the triggers' list, watch and patch");
  const lease = (await call("GET", "/apis/coordination.k8s.io/v1/namespaces/vigil-system/leases/vigil-agent")).body;
  assert.equal(lease.spec.holderIdentity, leader.agent.identity);
});

test("in-cluster with deploy/'s RBAC, no audit log (issue 15 §4): the state is signed with the agent's key in a Secret the environment's account cannot read; a patched status, a rewritten inventory or a deleted key blocks", async (t) => {
  if (!ready(t)) return;
  serviceEnvironment(t);
  const pod = await agentPod(t, "vigil-agent-0");
  const volume = projectedVolume(join(tempDir(t, "vigil-sa-"), "serviceaccount"));
  volume.write({ token: await requestToken({ kind: "Pod", ...pod }), "ca.crt": cluster.caPem, namespace: "vigil-system" });
  const w = await workspace(t);
  const reconcile = async () => {
    const agent = await startAgent({ configFile: w.configFile, onResult: () => {}, inCluster: { serviceAccountDir: volume.dir } });
    try {
      return (await agent.reconcileAll())[0]!;
    } finally {
      await agent.stop();
    }
  };
  const statusPath = "/api/v1/namespaces/vigil-system/configmaps/vigil-status-shop-production";
  const inventoryPath = "/api/v1/namespaces/vigil-system/configmaps/vigil-inventory-shop-production";
  const keyPath = "/api/v1/namespaces/vigil-system/secrets/vigil-agent-state";
  const patch = async (path: string, data: Record<string, string | null>) =>
    assert.equal(
      (await admin.call({ verb: "patch", method: "PATCH", path, body: { data }, contentType: "application/merge-patch+json" })).status,
      200,
    );

  const first = await reconcile();
  assert.equal(first.exitCode, 0, failing(first));
  const key = (await call("GET", keyPath)).body;
  assert.ok(Buffer.from(key.data.key, "base64").length >= 32, "the agent made its key at its first start");
  // The environment's account (what a committer's objects act as) may not read it.
  const deployer = await connectCluster({
    kubeconfig: cluster.admin.kubeconfigPath,
    impersonate: "system:serviceaccount:vigil-system:vigil-deployer-shop",
  });
  t.after(() => deployer.close());
  assert.equal((await deployer.call({ verb: "get", method: "GET", path: keyPath })).status, 403);
  const firstCommit = first.revision!;
  w.repo.commit({ "envs/shop-production/settings.yaml": settings("second") }, alice);
  assert.equal((await reconcile()).exitCode, 0);
  const signed = (await call("GET", statusPath)).body.data;
  assert.match(signed.stateMac, /^[A-Za-z0-9_-]{43}$/);

  // Someone who may write ConfigMaps in vigil-system moves lastApplied back, to open a rollback.
  await patch(statusPath, { lastApplied: firstCommit });
  const patched = await reconcile();
  assert.equal(patched.exitCode, 1);
  assert.match(
    failing(patched),
    /"rule":"state".*the status ConfigMap has a MAC that does not verify under the agent's state key \(the Secret vigil-system\/vigil-agent-state\) for lastApplied [0-9a-f]{12}: it was patched or rewritten outside the agent/,
  );
  assert.equal(await liveValue(), "second", "nothing applied");
  const events = (
    await call(
      "GET",
      "/api/v1/namespaces/vigil-system/events?fieldSelector=involvedObject.name%3Dvigil-status-shop-production%2Creason%3DStateRefused",
    )
  ).body.items;
  assert.ok(
    events.some((e: { message: string }) => /MAC that does not verify/.test(e.message)),
    "an Event says so (the status itself is left as found)",
  );
  assert.equal((await call("GET", statusPath)).body.data.lastApplied, firstCommit, "the patched status is left as found, not re-signed");
  // Removing the MAC does not help.
  await patch(statusPath, { stateMac: null });
  assert.match(failing(await reconcile()), /the status ConfigMap carries no MAC/);
  // Put back as the agent wrote it: the agent goes on.
  await patch(statusPath, { lastApplied: signed.lastApplied, lastAppliedAt: signed.lastAppliedAt, stateMac: signed.stateMac });
  assert.equal((await reconcile()).exitCode, 0);

  // The inventory's hashes rewritten (to pass an edit off as unchanged): blocks before any write.
  const inventory = (await call("GET", inventoryPath)).body.data;
  await patch(inventoryPath, { objects: inventory.objects.replace(/"desired":"[^"]+"/, '"desired":"AAAAAAAAAAAAAAAAAAAAAA"') });
  const rewritten = await reconcile();
  assert.equal(rewritten.exitCode, 1);
  assert.match(
    failing(rewritten),
    /"subject":"inventory of shop-production".*has a MAC that does not verify: it was rewritten outside the agent/,
  );
  await patch(inventoryPath, { objects: inventory.objects });
  assert.equal((await reconcile()).exitCode, 0);

  // The status and the inventory both deleted, so that the environment looks new: the key's Secret says it applied.
  assert.equal((await call("GET", keyPath)).body.metadata.annotations["vigil.dev/applied-environments"], "shop-production");
  const kept = { status: (await call("GET", statusPath)).body.data, inventory: (await call("GET", inventoryPath)).body.data };
  for (const path of [statusPath, inventoryPath]) assert.equal((await call("DELETE", path)).status, 200);
  const reset = await reconcile();
  assert.equal(reset.exitCode, 1);
  assert.match(
    failing(reset),
    /the status and the inventory of shop-production are gone, but the agent's state key \(the Secret vigil-system\/vigil-agent-state\) records that shop-production has applied/,
  );
  for (const [name, data] of [
    ["vigil-status-shop-production", kept.status],
    ["vigil-inventory-shop-production", kept.inventory],
  ] as const) {
    assert.equal(
      (await call("POST", "/api/v1/namespaces/vigil-system/configmaps", { apiVersion: "v1", kind: "ConfigMap", metadata: { name }, data }))
        .status,
      201,
    );
  }
  assert.equal((await reconcile()).exitCode, 0, "restored as the agent wrote them");

  // The key deleted, to have the agent make a new one: refused while statuses signed by it remain.
  assert.equal((await call("DELETE", keyPath)).status, 200);
  await assert.rejects(
    startAgent({ configFile: w.configFile, onResult: () => {}, inCluster: { serviceAccountDir: volume.dir } }),
    (e: Error) =>
      e instanceof VigilError &&
      e.exitCode === 1 &&
      /the agent's state key \(Secret vigil-system\/vigil-agent-state\) is gone, but statuses in vigil-system are signed by it/.test(
        e.message,
      ),
  );
  assert.equal((await call("GET", keyPath)).status, 404, "no new key made");
  assert.equal(
    (
      await call("POST", "/api/v1/namespaces/vigil-system/secrets", {
        apiVersion: "v1",
        kind: "Secret",
        metadata: { name: "vigil-agent-state" },
        data: { key: key.data.key },
      })
    ).status,
    201,
  );
  assert.equal((await reconcile()).exitCode, 0, "restored from a backup");
});

test("in-cluster with deploy/'s RBAC (issue 15 §3): a webhook delivery is accepted once whichever replica it reaches, and after a restart; the ids are kept in vigil-deliveries, bounded", async (t) => {
  if (!ready(t)) return;
  serviceEnvironment(t);
  await call("DELETE", "/api/v1/namespaces/vigil-system/configmaps/vigil-deliveries");
  const secret = "a-long-random-shared-webhook-secret";
  const secretFile = join(tempDir(t, "vigil-hook-"), "webhook-secret");
  writeFileSync(secretFile, secret);
  const w = await workspace(t, `webhook: { listen: "127.0.0.1:0", secretFile: ${secretFile} }\n`);
  const replica = async (name: string) => {
    const pod = await agentPod(t, name);
    const volume = projectedVolume(join(tempDir(t, "vigil-sa-"), "serviceaccount"));
    volume.write({ token: await requestToken({ kind: "Pod", ...pod }), "ca.crt": cluster.caPem, namespace: "vigil-system" });
    const agent = await startAgent({
      configFile: w.configFile,
      identity: name,
      onResult: () => {},
      inCluster: { serviceAccountDir: volume.dir },
    });
    t.after(() => agent.stop());
    return { agent, url: (await agent.listen()).webhook! };
  };
  const a = await replica("vigil-agent-a");
  const b = await replica("vigil-agent-b");
  const body = JSON.stringify({ ref: "refs/heads/main" });
  const headers = forgeDeliveryHeaders(secret, "/hooks/shop-production", body, "delivery-1");
  const deliver = async (url: string, h = headers) => {
    const res = await fetch(`${url}/hooks/shop-production`, { method: "POST", body, headers: h });
    return `${res.status} ${(await res.text()).trim()}`;
  };
  assert.match(await deliver(a.url), /^202 /);
  assert.match(await deliver(b.url), /^409 delivery delivery-1 was accepted before/, "replayed to the other replica");
  // The same signature under another id is the same delivery too.
  assert.match(await deliver(b.url, { ...headers, "x-github-delivery": "delivery-1-again" }), /^409 /);

  // After a restart of the replica that accepted it: still a replay.
  await a.agent.stop();
  const restarted = await replica("vigil-agent-c");
  assert.match(await deliver(restarted.url), /^409 /);
  // A new push: another body, so another signature (a forge signs the body alone).
  const next = JSON.stringify({ ref: "refs/heads/main", after: "2" });
  const accepted = await fetch(`${restarted.url}/hooks/shop-production`, {
    method: "POST",
    body: next,
    headers: forgeDeliveryHeaders(secret, "/hooks/shop-production", next, "delivery-2"),
  });
  assert.equal(accepted.status, 202, "a new delivery is accepted");
  const kept = (await call("GET", "/api/v1/namespaces/vigil-system/configmaps/vigil-deliveries")).body.data;
  assert.equal(Object.keys(kept).length, 4, "an id and a signature per delivery, as hashes");
  assert.ok(Object.entries(kept).every(([k, v]) => /^[0-9a-f]{32}$/.test(k) && Number.isSafeInteger(Number(v))));
  assert.ok(!JSON.stringify(kept).includes("delivery-1"), "the sender's text is not stored");
});

test("the shared delivery log is bounded: expired entries and the oldest past its size go first; two replicas recording at once both land", async (t) => {
  if (!ready(t)) return;
  const { sharedDeliveryLog } = await import("../src/agent/deliveries.ts");
  await call("DELETE", "/api/v1/namespaces/vigil-system/configmaps/vigil-deliveries");
  const small = sharedDeliveryLog(admin, "vigil-system", { maxEntries: 3, ttlMs: 60_000 });
  assert.equal(await small.firstTime(["one"]), true);
  assert.equal(await small.firstTime(["two"]), true);
  assert.equal(await small.firstTime(["three"]), true);
  assert.equal(await small.firstTime(["one"]), false);
  assert.equal(await small.firstTime(["four"]), true);
  assert.equal(Object.keys((await call("GET", "/api/v1/namespaces/vigil-system/configmaps/vigil-deliveries")).body.data).length, 3);
  // An entry older than the expiry is dropped: it counts as new again (its signature would have to be replayed a day later).
  const expired = sharedDeliveryLog(admin, "vigil-system", { ttlMs: 1 });
  await new Promise((r) => setTimeout(r, 5));
  assert.equal(await expired.firstTime(["four"]), true);
  // Concurrent writers: every key recorded once, every first sighting accepted once.
  await call("DELETE", "/api/v1/namespaces/vigil-system/configmaps/vigil-deliveries");
  const shared = sharedDeliveryLog(admin, "vigil-system");
  const answers = await Promise.all([..."abcdef"].flatMap((k) => [shared.firstTime([k]), shared.firstTime([k])]));
  assert.equal(answers.filter(Boolean).length, 6, JSON.stringify(answers));
});

test("vigil agent adopt (issue 15 §2), with deploy/'s RBAC: refuses an absent object, one outside the environment's namespaces or another environment's; adopts on purpose, recorded in the audit log with who (the API server's word) and why; the next reconcile applies it", async (t) => {
  if (!ready(t)) return;
  serviceEnvironment(t);
  const { makeLogKey } = await import("./helpers/audit.ts");
  const { vigil } = await import("./helpers/tools.ts");
  const { openAuditLog } = await import("../src/audit/index.ts");
  const pod = await agentPod(t, "vigil-agent-0");
  const volume = projectedVolume(join(tempDir(t, "vigil-sa-"), "serviceaccount"));
  volume.write({ token: await requestToken({ kind: "Pod", ...pod }), "ca.crt": cluster.caPem, namespace: "vigil-system" });
  const logDir = tempDir(t, "vigil-adopt-log-");
  const key = makeLogKey(logDir);
  const log = join(logDir, "log");
  await call("DELETE", "/api/v1/namespaces/vigil-system/configmaps/vigil-audit-checkpoint");
  const w = await workspace(t, `audit: { log: "${log}", signingKeyFile: ${key.file} }\n`);
  const reconcile = async () => {
    const agent = await startAgent({ configFile: w.configFile, onResult: () => {}, inCluster: { serviceAccountDir: volume.dir } });
    try {
      return (await agent.reconcileAll())[0]!;
    } finally {
      await agent.stop();
    }
  };
  for (const name of ["legacy", "theirs"]) await call("DELETE", `/api/v1/namespaces/shop/configmaps/${name}`);
  const made = (name: string, labels: Record<string, string> = {}) =>
    admin.call({
      verb: "create",
      method: "POST",
      path: "/api/v1/namespaces/shop/configmaps",
      query: { fieldManager: "platform-team" },
      body: { apiVersion: "v1", kind: "ConfigMap", metadata: { name, namespace: "shop", labels }, data: { value: "theirs" } },
    });
  assert.equal((await made("legacy")).status, 201);
  assert.equal((await made("theirs", { "vigil.dev/applied-by": "shop-staging" })).status, 201);
  const legacy = `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: legacy\n  namespace: shop\ndata:\n  value: "ours"\n`;
  w.repo.commit({ "envs/shop-production/legacy.yaml": legacy }, alice);
  const conflicted = await reconcile();
  assert.match(failing(conflicted), /"rule":"conflict","status":"fail","subject":"ConfigMap shop\/legacy"/);

  const adopt = (...args: string[]) =>
    vigil(["agent", "adopt", "--config", w.configFile, "--env", "shop-production", "--kubeconfig", cluster.admin.kubeconfigPath, ...args]);
  const reason = "taking over the platform team's settings, TICKET-42";
  // Refusals, each before anything is recorded or written.
  const absent = adopt("--reason", reason, "configmap/shop/nowhere");
  assert.equal(absent.status, 2, absent.stderr);
  assert.match(absent.stderr, /configmap\/shop\/nowhere: ConfigMap shop\/nowhere does not exist/);
  const outside = adopt("--reason", reason, "--json", "configmap/kube-system/extension-apiserver-authentication", "configmap/shop/legacy");
  assert.equal(outside.status, 1, outside.stderr);
  assert.deepEqual(
    outside.json().objects.map((o: any) => o.outcome),
    ["refused", "adopted"],
  );
  assert.match(outside.json().objects[0].message, /namespace kube-system is outside environment shop-production's namespaces \(shop\)/);
  const owned = adopt("--reason", reason, "cm/shop/theirs");
  assert.equal(owned.status, 2, "cm is no kind name the API server serves");
  const other = adopt("--reason", reason, "ConfigMap/shop/theirs");
  assert.equal(other.status, 1, other.stderr);
  assert.match(other.stdout, /refused\s+ConfigMap shop\/theirs\s+it belongs to environment shop-staging/);
  const cluster_scoped = adopt("--reason", reason, "clusterrole/view");
  assert.equal(cluster_scoped.status, 1);
  assert.match(
    cluster_scoped.stdout,
    /ClusterRole is cluster-scoped, and environment shop-production may hold cluster-scoped objects only with allowClusterScoped/,
  );
  const unreasoned = adopt("configmap/shop/legacy");
  assert.equal(unreasoned.status, 2, `a reason is required: ${unreasoned.stderr}`);
  assert.match(unreasoned.stderr, /--reason is required/);
  assert.equal(
    (await call("GET", "/api/v1/namespaces/shop/configmaps/legacy")).body.metadata.annotations?.["vigil.dev/adopt"],
    undefined,
    "nothing annotated by a refused run",
  );

  // On purpose: recorded, then annotated.
  const adopted = adopt("--reason", reason, "--json", "configmaps/shop/legacy");
  assert.equal(adopted.status, 0, adopted.stderr);
  const result = adopted.json();
  assert.equal(result.user, "admin");
  assert.deepEqual(
    result.objects.map((o: any) => [o.outcome, o.kind, o.namespace, o.name]),
    [["adopted", "ConfigMap", "shop", "legacy"]],
  );
  assert.match(result.objects[0].message, /taken from platform-team/);
  assert.equal(
    (await call("GET", "/api/v1/namespaces/shop/configmaps/legacy")).body.metadata.annotations?.["vigil.dev/adopt"],
    "shop-production",
  );
  const opened = await openAuditLog(log, { verifierKey: key.verifierKey });
  const records: any[] = [];
  for await (const entry of opened.entries()) records.push(entry.record);
  await opened.close();
  const record = records.find((r) => r.kind === "adopt");
  assert.deepEqual(record, {
    kind: "adopt",
    time: record.time,
    environment: "shop-production",
    payload: { user: "admin", reason, objects: [{ apiVersion: "v1", kind: "ConfigMap", namespace: "shop", name: "legacy" }] },
  });

  const applied = await reconcile();
  assert.equal(applied.exitCode, 0, failing(applied));
  assert.equal(applied.verdict.checks.find((c) => c.rule === "adopt")?.subject, "ConfigMap shop/legacy");
  assert.equal((await call("GET", "/api/v1/namespaces/shop/configmaps/legacy")).body.data.value, "ours");
  const again = adopt("--reason", reason, "configmap/shop/legacy");
  assert.equal(again.status, 0);
  assert.match(again.stdout, /already\s+ConfigMap shop\/legacy\s+already environment shop-production's/);
});
