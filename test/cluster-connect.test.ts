// connectCluster against a real API server: kubeconfig contexts, client certificates, bearer tokens and
// exec credential plugins as kubectl reads them, impersonation of a service account, requests counted,
// and the ways a connection fails: unreachable or silent servers (exit 3, named), and kubeconfigs Vigil
// refuses (exit 2).
import assert from "node:assert/strict";
import { chmodSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { join } from "node:path";
import { test } from "node:test";
import { connectCluster, type Cluster } from "../src/cluster/index.ts";
import { InputError, UnavailableError } from "../src/core/errors.ts";
import { kubeApi, kubeForFile } from "./helpers/cluster.ts";
import { requireKube, type KubeCluster } from "./helpers/kube.ts";
import { tempDir } from "./helpers/tools.ts";

const kube = kubeForFile();
const b64 = (s: string | Buffer) => Buffer.from(s).toString("base64");

/** A kubeconfig with the given users, one context per user, and `current` as current-context. */
function kubeconfig(
  dir: string,
  server: string,
  caPem: string,
  users: Record<string, Record<string, unknown>>,
  current: string,
  extraCluster: Record<string, unknown> = {},
): string {
  const file = join(dir, "config");
  writeFileSync(
    file,
    JSON.stringify({
      apiVersion: "v1",
      kind: "Config",
      clusters: [{ name: "test", cluster: { server, "certificate-authority-data": b64(caPem), ...extraCluster } }],
      users: Object.entries(users).map(([name, user]) => ({ name, user })),
      contexts: Object.keys(users).map((name) => ({ name, context: { cluster: "test", user: name } })),
      "current-context": current,
    }),
  );
  return file;
}

const certUser = (kube: KubeCluster, name: string) => {
  const user = kube.user(name);
  return { "client-certificate-data": b64(readFileSync(user.certFile)), "client-key-data": b64(readFileSync(user.keyFile)) };
};

/** Who the API server thinks we are. */
async function whoAmI(cluster: Cluster): Promise<string> {
  const answer = await cluster.call({
    verb: "create",
    method: "POST",
    path: "/apis/authentication.k8s.io/v1/selfsubjectreviews",
    body: { apiVersion: "authentication.k8s.io/v1", kind: "SelfSubjectReview" },
  });
  assert.equal(answer.status, 201, JSON.stringify(answer.body));
  return answer.body.status.userInfo.username;
}

async function serviceAccountToken(ns: string, name: string): Promise<string> {
  await kubeApi(kube.cluster, "POST", "/api/v1/namespaces", { metadata: { name: ns } });
  await kubeApi(kube.cluster, "POST", `/api/v1/namespaces/${ns}/serviceaccounts`, { metadata: { name } });
  const answer = await kubeApi(kube.cluster, "POST", `/api/v1/namespaces/${ns}/serviceaccounts/${name}/token`, {
    apiVersion: "authentication.k8s.io/v1",
    kind: "TokenRequest",
    spec: { expirationSeconds: 600 },
  });
  assert.equal(answer.status, 201);
  return answer.body.status.token;
}

test("kubeconfig contexts: the current one by default, another by name; an unknown context is bad input naming the file and the choices", async (t) => {
  if (!requireKube(t)) return;
  const dir = tempDir(t, "vigil-kubeconfig-");
  const file = kubeconfig(
    dir,
    kube.cluster.url,
    kube.cluster.caPem,
    { alice: certUser(kube.cluster, "alice"), carol: certUser(kube.cluster, "carol") },
    "alice",
  );
  for (const [context, user] of [
    [undefined, "alice"],
    ["carol", "carol"],
  ] as const) {
    const cluster = await connectCluster({ kubeconfig: file, ...(context && { context }) });
    t.after(() => cluster.close());
    assert.equal(await whoAmI(cluster), user);
    assert.equal(cluster.source, `context "${user}" of ${file}`);
  }
  const unknown = await connectCluster({ kubeconfig: file, context: "prod" }).then(
    () => assert.fail("expected a refusal"),
    (e) => e,
  );
  assert.ok(unknown instanceof InputError);
  assert.equal(unknown.message, `${file}: no context "prod" (it has "alice", "carol")`);
  const missing = await connectCluster({ kubeconfig: join(dir, "nope") }).then(
    () => assert.fail("expected a refusal"),
    (e) => e,
  );
  assert.ok(missing instanceof InputError);
  assert.match(missing.message, /nope: not a readable kubeconfig: ENOENT/);
});

test("a bearer token and an exec credential plugin authenticate as the service account they are for", async (t) => {
  if (!requireKube(t)) return;
  const token = await serviceAccountToken("tokens", "reader");
  const dir = tempDir(t, "vigil-kubeconfig-");
  const plugin = join(dir, "credential-plugin.sh");
  writeFileSync(
    plugin,
    `#!/bin/sh\nprintf '%s' '${JSON.stringify({ apiVersion: "client.authentication.k8s.io/v1", kind: "ExecCredential", status: { token } })}'\n`,
  );
  chmodSync(plugin, 0o755);
  const file = kubeconfig(
    dir,
    kube.cluster.url,
    kube.cluster.caPem,
    {
      static: { token },
      exec: { exec: { apiVersion: "client.authentication.k8s.io/v1", command: plugin, interactiveMode: "Never" } },
    },
    "static",
  );
  for (const context of ["static", "exec"]) {
    const cluster = await connectCluster({ kubeconfig: file, context });
    t.after(() => cluster.close());
    assert.equal(await whoAmI(cluster), "system:serviceaccount:tokens:reader", context);
  }
  writeFileSync(plugin, "#!/bin/sh\necho 'no credentials today' >&2\nexit 1\n");
  const failing = await connectCluster({ kubeconfig: file, context: "exec" }).then(
    () => assert.fail("expected a failure"),
    (e) => e,
  );
  assert.ok(failing instanceof UnavailableError);
  assert.match(failing.message, /^context "exec" of .*: cannot get credentials: no credentials today/);
});

test("impersonation: requests act as the service account; every request is counted by verb", async (t) => {
  if (!requireKube(t)) return;
  const cluster = await connectCluster({
    kubeconfig: kube.cluster.admin.kubeconfigPath,
    impersonate: "system:serviceaccount:kube-system:deployer",
  });
  t.after(() => cluster.close());
  assert.equal(await whoAmI(cluster), "system:serviceaccount:kube-system:deployer");
  const denied = await cluster.call({ verb: "list", method: "GET", path: "/api/v1/namespaces/kube-system/secrets" });
  assert.equal(denied.status, 403);
  assert.match(denied.body.message, /User "system:serviceaccount:kube-system:deployer" cannot list resource "secrets"/);
  assert.deepEqual(cluster.requests.snapshot(), { total: 2, writes: 1, byVerb: { create: 1, list: 1 } });
  const bad = await connectCluster({ kubeconfig: kube.cluster.admin.kubeconfigPath, impersonate: "two words" }).then(
    () => assert.fail("expected a refusal"),
    (e) => e,
  );
  assert.ok(bad instanceof InputError);
});

test("an unreachable API server, and one that never answers, are exit 3 naming the server, after bounded retries", async (t) => {
  if (!requireKube(t)) return;
  const dir = tempDir(t, "vigil-kubeconfig-");
  // A port nothing listens on.
  const closed = await listen(createServer());
  const port = (closed.address() as { port: number }).port;
  await new Promise((r) => closed.close(r));
  const file = kubeconfig(dir, `https://127.0.0.1:${port}`, kube.cluster.caPem, { admin: certUser(kube.cluster, "someone") }, "admin");
  const refused = await connectCluster({ kubeconfig: file, retry: { attempts: 3, deadlineMs: 5_000 } });
  t.after(() => refused.close());
  const started = Date.now();
  const error = await refused.call({ verb: "get", method: "GET", path: "/version" }).then(
    () => assert.fail("expected a failure"),
    (e) => e,
  );
  assert.ok(error instanceof UnavailableError);
  assert.equal(error.exitCode, 3);
  assert.match(
    error.message,
    new RegExp(
      `^cannot reach the Kubernetes API server https://127\\.0\\.0\\.1:${port} \\(GET /version\\): ECONNREFUSED \\(3 attempts over \\d\\.\\d s\\)$`,
    ),
  );
  assert.equal(refused.requests.total, 3);
  assert.ok(Date.now() - started < 5_000);

  // A server that accepts connections and then says nothing.
  const sockets: Socket[] = [];
  const silent = await listen(createServer((socket) => void sockets.push(socket)));
  t.after(() => {
    for (const socket of sockets) socket.destroy();
    return new Promise((r) => silent.close(r));
  });
  const silentPort = (silent.address() as { port: number }).port;
  const silentFile = kubeconfig(
    dir,
    `https://127.0.0.1:${silentPort}`,
    kube.cluster.caPem,
    { admin: certUser(kube.cluster, "someone-else") },
    "admin",
  );
  const mute = await connectCluster({
    kubeconfig: silentFile,
    timeouts: { connectMs: 300, requestMs: 300 },
    retry: { attempts: 2, deadlineMs: 3_000 },
  });
  t.after(() => mute.close());
  const timedOut = await mute.call({ verb: "get", method: "GET", path: "/version" }).then(
    () => assert.fail("expected a failure"),
    (e) => e,
  );
  assert.ok(timedOut instanceof UnavailableError);
  assert.match(
    timedOut.message,
    new RegExp(
      `^cannot reach the Kubernetes API server https://127\\.0\\.0\\.1:${silentPort} \\(GET /version\\): timed out connecting \\(2 attempts`,
    ),
  );
});

test("kubeconfigs that would weaken the connection are refused: no TLS verification, plain HTTP", async (t) => {
  if (!requireKube(t)) return;
  const dir = tempDir(t, "vigil-kubeconfig-");
  const user = { admin: certUser(kube.cluster, "nobody") };
  const insecure = kubeconfig(dir, kube.cluster.url, kube.cluster.caPem, user, "admin", { "insecure-skip-tls-verify": true });
  const e1 = await connectCluster({ kubeconfig: insecure }).then(
    () => assert.fail("expected a refusal"),
    (e) => e,
  );
  assert.ok(e1 instanceof InputError);
  assert.equal(
    e1.message,
    `context "admin" of ${insecure}: insecure-skip-tls-verify is not accepted; give the cluster's CA (certificate-authority or certificate-authority-data)`,
  );
  const plain = kubeconfig(dir, kube.cluster.url.replace("https:", "http:"), kube.cluster.caPem, user, "admin");
  const e2 = await connectCluster({ kubeconfig: plain }).then(
    () => assert.fail("expected a refusal"),
    (e) => e,
  );
  assert.ok(e2 instanceof InputError);
  assert.match(e2.message, /: server http:\/\/127\.0\.0\.1:\d+ is not https$/);
});

function listen(server: Server): Promise<Server> {
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server)));
}
