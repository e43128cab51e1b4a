// The test cluster itself (test/helpers/kube.ts): a real kube-apiserver on etcd, built at the pinned
// version, that authenticates client certificates and service account tokens, authorizes with RBAC,
// stores what it is given, and does server-side apply with field ownership, as the agent (issue 5) needs.
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { before, test } from "node:test";
import { Agent, request, type Dispatcher } from "undici";
import { pinnedVersion } from "../../scripts/kube-build.ts";
import { kubectlBinary, missingKubeBinaries, requireKube, startKubeApiServer, type KubeCluster } from "../helpers/kube.ts";
import { fileScope, run, tempDir } from "../helpers/tools.ts";

let cluster: KubeCluster;
// What the cluster cleans up when the file ends (an after() called inside before() would run at once).
const scope = fileScope();

// One cluster for the whole file (each test uses its own namespace): starting one takes seconds. Without
// the binaries, each test's requireKube() fails it in CI or skips it with the reason.
before(async () => {
  if (missingKubeBinaries().length === 0) cluster = await startKubeApiServer(scope);
});

interface Answer {
  status: number;
  body: any;
}

/** One API request as `dispatcher`'s identity; JSON in and out. */
async function api(
  dispatcher: Dispatcher,
  method: Dispatcher.HttpMethod,
  path: string,
  body?: unknown,
  contentType = "application/json",
): Promise<Answer> {
  const res = await request(`${cluster.url}${path}`, {
    method,
    dispatcher,
    headers: { accept: "application/json", ...(body !== undefined && { "content-type": contentType }) },
    ...(body !== undefined && { body: typeof body === "string" ? body : JSON.stringify(body) }),
  });
  const text = await res.body.text();
  return { status: res.statusCode, body: text.startsWith("{") ? JSON.parse(text) : text };
}

const asAdmin = (method: Dispatcher.HttpMethod, path: string, body?: unknown, contentType?: string) =>
  api(cluster.admin.dispatcher, method, path, body, contentType);

test("the API server is the pinned release, ready within seconds", (t) => {
  if (!requireKube(t)) return;
  t.diagnostic(`etcd + kube-apiserver ready in ${cluster.startupMs} ms`);
  return asAdmin("GET", "/version").then(({ status, body }) => {
    assert.equal(status, 200);
    assert.equal(body.gitVersion, pinnedVersion("kube", "k8s.io/kubernetes"));
  });
});

test("the admin creates a namespace and a ConfigMap, and reads them back", async (t) => {
  if (!requireKube(t)) return;
  const ns = await asAdmin("POST", "/api/v1/namespaces", { apiVersion: "v1", kind: "Namespace", metadata: { name: "create" } });
  assert.equal(ns.status, 201, JSON.stringify(ns.body));
  const configMap = { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "settings" }, data: { mode: "strict" } };
  const cm = await asAdmin("POST", "/api/v1/namespaces/create/configmaps", configMap);
  assert.equal(cm.status, 201, JSON.stringify(cm.body));
  const read = await asAdmin("GET", "/api/v1/namespaces/create/configmaps/settings");
  assert.equal(read.status, 200);
  assert.deepEqual(read.body.data, { mode: "strict" });
  assert.equal(
    (await asAdmin("POST", "/api/v1/namespaces/create/configmaps", configMap)).status,
    409,
    "a second create of the same name conflicts",
  );
});

test("server-side apply records Vigil's field manager, and another manager's change to its fields conflicts unless forced", async (t) => {
  if (!requireKube(t)) return;
  assert.equal((await asAdmin("POST", "/api/v1/namespaces", { metadata: { name: "apply" } })).status, 201);
  const path = "/api/v1/namespaces/apply/configmaps/app";
  const manifest =
    'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\n  namespace: apply\n  labels:\n    app.kubernetes.io/managed-by: vigil\ndata:\n  replicas: "3"\n';
  const applied = await asAdmin("PATCH", `${path}?fieldManager=vigil`, manifest, "application/apply-patch+yaml");
  assert.equal(applied.status, 201, JSON.stringify(applied.body));
  const read = await asAdmin("GET", path);
  assert.deepEqual(read.body.data, { replicas: "3" });
  assert.equal(read.body.metadata.labels["app.kubernetes.io/managed-by"], "vigil");
  const vigil = read.body.metadata.managedFields.find((f: any) => f.manager === "vigil");
  assert.equal(vigil?.operation, "Apply");
  assert.ok(vigil.fieldsV1["f:data"]["f:replicas"], "vigil owns data.replicas");

  const again = await asAdmin("PATCH", `${path}?fieldManager=vigil`, manifest, "application/apply-patch+yaml");
  assert.equal(again.status, 200);
  assert.equal(again.body.metadata.resourceVersion, read.body.metadata.resourceVersion, "re-applying the same manifest writes nothing");

  const other = manifest.replace('"3"', '"5"');
  const conflict = await asAdmin("PATCH", `${path}?fieldManager=someone-else`, other, "application/apply-patch+yaml");
  assert.equal(conflict.status, 409);
  assert.equal(conflict.body.reason, "Conflict");
  assert.match(conflict.body.message, /conflict with "vigil"/);
  const forced = await asAdmin("PATCH", `${path}?fieldManager=someone-else&force=true`, other, "application/apply-patch+yaml");
  assert.equal(forced.status, 200);
  assert.equal(forced.body.data.replicas, "5");
});

test("authentication and RBAC: anonymous and unknown callers are refused, a user may do only what a role grants", async (t) => {
  if (!requireKube(t)) return;
  const anonymous = new Agent({ connect: { ca: cluster.caPem } });
  t.after(() => anonymous.close());
  // Anonymous requests are on (the default) and reach RBAC as system:anonymous, which may do nothing.
  const refused = await api(anonymous, "GET", "/api/v1/namespaces");
  assert.equal(refused.status, 403);
  assert.match(refused.body.message, /User "system:anonymous" cannot list/);
  assert.equal((await api(anonymous, "POST", "/api/v1/namespaces", { metadata: { name: "nope" } })).status, 403);

  // A certificate the cluster's CA did not issue does not authenticate.
  const stranger = clientOfAnotherCa(t);
  assert.equal((await api(stranger, "GET", "/api/v1/namespaces")).status, 401);

  const reader = cluster.user("reader");
  assert.equal((await api(reader.dispatcher, "GET", "/api/v1/namespaces/default/configmaps")).status, 403);
  assert.equal(
    (
      await asAdmin("POST", "/apis/rbac.authorization.k8s.io/v1/namespaces/default/roles", {
        metadata: { name: "configmap-reader" },
        rules: [{ apiGroups: [""], resources: ["configmaps"], verbs: ["get", "list"] }],
      })
    ).status,
    201,
  );
  assert.equal(
    (
      await asAdmin("POST", "/apis/rbac.authorization.k8s.io/v1/namespaces/default/rolebindings", {
        metadata: { name: "reader" },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "configmap-reader" },
        subjects: [{ apiGroup: "rbac.authorization.k8s.io", kind: "User", name: "reader" }],
      })
    ).status,
    201,
  );
  // The authorizer sees a new binding through its informer, a moment after the write: wait for it (up to 10 s).
  let granted = 0;
  for (const deadline = Date.now() + 10_000; granted !== 200 && Date.now() < deadline; await new Promise((r) => setTimeout(r, 100))) {
    granted = (await api(reader.dispatcher, "GET", "/api/v1/namespaces/default/configmaps")).status;
  }
  assert.equal(granted, 200);
  assert.equal(
    (await api(reader.dispatcher, "GET", "/api/v1/namespaces/kube-system/configmaps")).status,
    403,
    "the role is for default only",
  );
  assert.equal(
    (await api(reader.dispatcher, "POST", "/api/v1/namespaces/default/configmaps", { metadata: { name: "x" } })).status,
    403,
    "reading is not writing",
  );
});

/** A client with a certificate from a CA of its own, which the cluster does not trust. */
function clientOfAnotherCa(t: { after(fn: () => unknown): void }): Agent {
  const dir = tempDir(t, "vigil-stranger-");
  run(
    "openssl",
    [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-subj",
      "/O=system:masters/CN=admin",
      "-days",
      "1",
      "-keyout",
      "key.pem",
      "-out",
      "cert.pem",
    ],
    { cwd: dir },
  );
  const agent = new Agent({
    connect: { ca: cluster.caPem, cert: readFileSync(join(dir, "cert.pem")), key: readFileSync(join(dir, "key.pem")) },
  });
  t.after(() => agent.close());
  return agent;
}

test("a service account's token from the TokenRequest API authenticates as that service account", async (t) => {
  if (!requireKube(t)) return;
  assert.equal((await asAdmin("POST", "/api/v1/namespaces", { metadata: { name: "agent" } })).status, 201);
  assert.equal((await asAdmin("POST", "/api/v1/namespaces/agent/serviceaccounts", { metadata: { name: "vigil" } })).status, 201);
  const tokenRequest = await asAdmin("POST", "/api/v1/namespaces/agent/serviceaccounts/vigil/token", {
    apiVersion: "authentication.k8s.io/v1",
    kind: "TokenRequest",
    spec: { expirationSeconds: 600 },
  });
  assert.equal(tokenRequest.status, 201, JSON.stringify(tokenRequest.body));
  const bearer = new Agent({ connect: { ca: cluster.caPem } }).compose(
    (dispatch) => (opts, handler) =>
      dispatch(
        { ...opts, headers: { ...(opts.headers as Record<string, string>), authorization: `Bearer ${tokenRequest.body.status.token}` } },
        handler,
      ),
  );
  const review = await api(bearer, "POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews", {
    apiVersion: "authentication.k8s.io/v1",
    kind: "SelfSubjectReview",
  });
  assert.equal(review.status, 201, JSON.stringify(review.body));
  assert.equal(review.body.status.userInfo.username, "system:serviceaccount:agent:vigil");
  assert.equal(
    (await api(bearer, "GET", "/api/v1/namespaces/agent/configmaps")).status,
    403,
    "a service account has no rights until bound",
  );
  await bearer.close();
});

test("kubectl apply --server-side works with the admin kubeconfig", async (t) => {
  if (!requireKube(t, [kubectlBinary])) return;
  const dir = tempDir(t, "vigil-kubectl-");
  writeFileSync(
    join(dir, "app.yaml"),
    "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: kubectl\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\n  namespace: kubectl\ndata:\n  key: value\n",
  );
  const out = run(kubectlBinary, [
    "--kubeconfig",
    cluster.admin.kubeconfigPath,
    "apply",
    "--server-side",
    "--field-manager=kubectl-bench",
    "-f",
    join(dir, "app.yaml"),
  ]);
  assert.match(out, /namespace\/kubectl serverside-applied/);
  assert.match(out, /configmap\/app serverside-applied/);
  const read = await asAdmin("GET", "/api/v1/namespaces/kubectl/configmaps/app");
  assert.deepEqual(read.body.data, { key: "value" });
});

test("the API server can go away and come back with its data (etcd keeps running)", async (t) => {
  if (!requireKube(t)) return;
  assert.equal((await asAdmin("POST", "/api/v1/namespaces", { metadata: { name: "restart" } })).status, 201);
  await cluster.stopApiServer();
  await assert.rejects(asAdmin("GET", "/api/v1/namespaces/restart"), /ECONNREFUSED|other side closed|SocketError/);
  const started = Date.now();
  await cluster.startApiServer();
  t.diagnostic(`kube-apiserver restarted in ${Date.now() - started} ms`);
  assert.equal((await asAdmin("GET", "/api/v1/namespaces/restart")).status, 200);
});
