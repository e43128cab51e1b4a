// The agent in loop mode, against a real kube-apiserver: leader election on the Lease (one replica of
// several reconciles; another takes over when it stops or stops renewing), the webhook that wakes an
// environment's reconcile, the Prometheus metrics, and the JSON log lines (never a credential).
import { strict as assert } from "node:assert";
import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { join } from "node:path";
import { before, test, type TestContext } from "node:test";
import { startAgent, type RunningAgent } from "../src/agent/agent.ts";
import { LeaderElector } from "../src/agent/leader.ts";
import { forgeDeliveryHeaders, signWebhookBody, vigilDeliveryHeaders, webhookSecretFor } from "../src/core/webhook-signature.ts";
import { MAX_WEBHOOK_BODY } from "../src/agent/webhook.ts";
import type { ReconcileResult } from "../src/agent/reconcile.ts";
import type { Cluster } from "../src/cluster/index.ts";
import { agentTestCluster, writeAgentConfig } from "./helpers/agent.ts";
import { soleOwnerPolicy, SshSigner, TestRepo } from "./helpers/git-fixture.ts";
import { missingKubeBinaries, requireKube, type KubeCluster } from "./helpers/kube.ts";
import { listen } from "./helpers/registry.ts";
import { fileScope, hasTool, requireTools, tempDir } from "./helpers/tools.ts";

let cluster: KubeCluster;
let admin: Cluster;
let alice: SshSigner;
const scope = fileScope();

before(async () => {
  if (missingKubeBinaries().length > 0 || !hasTool("ssh-keygen") || !hasTool("git")) return;
  ({ cluster, admin } = await agentTestCluster(scope));
  alice = new SshSigner(tempDir(scope, "vigil-loop-keys-"), "alice");
});

function ready(t: TestContext): boolean {
  return requireKube(t) && requireTools(t, ["ssh-keygen", "git"]);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 15_000): Promise<number> {
  const started = Date.now();
  while (!(await condition())) {
    if (Date.now() - started > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(25);
  }
  return Date.now() - started;
}

interface Workspace {
  dir: string;
  repo: TestRepo;
  configFile: string;
  env: string;
  ns: string;
}

/** A signed config repository with one namespace for `env`, and an agent configuration for it. */
function workspace(t: TestContext, env: string, extra = "", interval = "1h"): Workspace {
  const dir = tempDir(t, "vigil-loop-");
  const ns = `${env}-app`;
  const trust = soleOwnerPolicy(join(dir, "trust.yaml"), alice, env);
  const repo = new TestRepo(join(dir, "config"));
  repo.commit({ [`envs/${env}/namespace.yaml`]: `apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ${ns}\n` }, alice);
  const configFile = writeAgentConfig(dir, {
    trust,
    packs: ["pss-baseline"],
    extra,
    environments: [{ name: env, url: repo.dir, cluster: cluster.admin.kubeconfigPath, namespaces: [ns], interval }],
  });
  return { dir, repo, configFile, env, ns };
}

interface Replica {
  agent: RunningAgent;
  results: ReconcileResult[];
  looping: Promise<void>;
}

async function replica(
  t: TestContext,
  w: Workspace,
  identity: string,
): Promise<Replica & { urls: { webhook?: string; metrics?: string } }> {
  const results: ReconcileResult[] = [];
  const agent = await startAgent({ configFile: w.configFile, identity, onResult: (r) => results.push(r) });
  t.after(() => agent.stop());
  const urls = await agent.listen();
  const looping = agent.loop();
  return { agent, results, looping, urls };
}

async function lease(): Promise<any> {
  const answer = await admin.call({
    verb: "get",
    method: "GET",
    path: "/apis/coordination.k8s.io/v1/namespaces/vigil-system/leases/vigil-agent",
  });
  return answer.status === 200 ? answer.body : undefined;
}

async function deleteLease(): Promise<void> {
  await admin.call({ verb: "delete", method: "DELETE", path: "/apis/coordination.k8s.io/v1/namespaces/vigil-system/leases/vigil-agent" });
}

test("leader election: of two electors exactly one leads; a leader that steps down is replaced at once, one that stops renewing after the lease runs out", async (t) => {
  if (!ready(t)) return;
  await deleteLease();
  const changes: string[] = [];
  const elector = (identity: string) => {
    const e = new LeaderElector({
      cluster: admin,
      namespace: "vigil-system",
      identity,
      leaseDurationSeconds: 3,
      onChange: (l) => changes.push(`${identity} ${l}`),
    });
    t.after(() => e.stop({ release: false }));
    return e;
  };
  const a = elector("replica-a");
  const b = elector("replica-b");
  // Both find no Lease and both create it: the API server lets one create win, the other gets 409.
  a.start();
  b.start();
  await until("a leader", () => a.leading || b.leading);
  const [leader, waiting] = a.leading ? [a, b] : [b, a];
  for (let i = 0; i < 10; i++) {
    assert.ok(leader.leading && !waiting.leading, "exactly one leads");
    await sleep(150);
  }
  const held = await lease();
  assert.equal(held.spec.holderIdentity, leader.identity);
  assert.equal(held.spec.leaseDurationSeconds, 3);
  assert.ok(held.spec.acquireTime && held.spec.renewTime);
  // A leader renews: renewTime moves on while it leads.
  await until("a renewal", async () => (await lease()).spec.renewTime !== held.spec.renewTime, 3000);
  assert.equal((await lease()).spec.holderIdentity, leader.identity);

  // Stepping down clears the holder: the other takes over on its next try, well before the lease's 3 s.
  const stepDown = Date.now();
  await leader.stop();
  await until("the other replica to lead", () => waiting.leading, 3000);
  const tookOver = Date.now() - stepDown;
  assert.ok(tookOver < 3000, `took over ${tookOver} ms after the leader stepped down`);
  const taken = await lease();
  assert.equal(taken.spec.holderIdentity, waiting.identity);
  assert.equal(taken.spec.leaseTransitions, held.spec.leaseTransitions + 1);

  // A leader that dies without stepping down: a third replica waits for the lease to run out (measured
  // on its own clock from when it saw the Lease last change), then takes it.
  const c = elector("replica-c");
  const crash = Date.now();
  await waiting.stop({ release: false });
  c.start();
  await until("replica-c to lead", () => c.leading, 10_000);
  const waited = Date.now() - crash;
  assert.ok(waited >= 2000, `replica-c took a lease still held (after ${waited} ms)`);
  assert.ok(waited < 3000 + 2000, `replica-c took ${waited} ms to take an expired lease`);
  assert.equal((await lease()).spec.holderIdentity, "replica-c");
  assert.deepEqual(changes.slice(0, 1), [`${leader.identity} true`]);
});

test("agent loop: only the replica holding the Lease reconciles; when it stops the other takes over", async (t) => {
  if (!ready(t)) return;
  await deleteLease();
  const w = workspace(t, "lead", "leaderElection: { leaseDuration: 3s }\n");
  const one = await replica(t, w, "agent-one");
  const two = await replica(t, w, "agent-two");
  await until("a reconcile", () => one.results.length + two.results.length > 0);
  const [leader, standby] = one.agent.leading ? [one, two] : [two, one];
  assert.ok(leader.agent.leading && !standby.agent.leading);
  assert.equal(leader.results[0]!.exitCode, 0, JSON.stringify(leader.results[0]!.verdict.checks.filter((c) => c.status === "fail")));
  await sleep(1500);
  assert.equal(standby.results.length, 0, "the standby replica does not reconcile");
  assert.equal(leader.results.length, 1, "the leader reconciles once, then waits for the interval");

  const stopped = Date.now();
  await leader.agent.stop();
  await leader.looping;
  await until("the standby replica to reconcile", () => standby.results.length > 0, 3000);
  assert.ok(Date.now() - stopped < 3000, "within the lease duration");
  assert.ok(standby.agent.leading);
  assert.equal((await lease()).spec.holderIdentity, standby === one ? "agent-one" : "agent-two");
});

test("webhook: a signed POST reconciles the environment at once; unsigned, wrongly signed, unknown or oversized requests trigger nothing", async (t) => {
  if (!ready(t)) return;
  await deleteLease();
  const secret = "a-long-random-shared-webhook-secret";
  const dirForSecret = tempDir(t, "vigil-hook-");
  const secretFile = join(dirForSecret, "webhook-secret");
  writeFileSync(secretFile, `${secret}\n`);
  const w = workspace(t, "hook", `leaderElection: { leaseDuration: 3s }\nwebhook: { listen: "127.0.0.1:0", secretFile: ${secretFile} }\n`);
  const r = await replica(t, w, "hook-agent");
  await until("the first reconcile", () => r.results.length === 1);
  const post = (path: string, body: string, signature?: string, delivery = `d-${Math.random()}`) =>
    fetch(`${r.urls.webhook}${path}`, {
      method: "POST",
      body,
      headers: {
        "content-type": "application/json",
        "x-github-delivery": delivery,
        ...(signature && { "x-hub-signature-256": signature }),
      },
    });
  const pathSecret = (path: string) => webhookSecretFor(secret, path);
  const body = JSON.stringify({ ref: "refs/heads/main", after: "0".repeat(40) });

  // A new signed revision: the webhook makes the agent fetch it now, not in an hour.
  const next = w.repo.commit(
    { [`envs/hook/settings.yaml`]: `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: ${w.ns}\n` },
    alice,
  );
  const refusals: [string, Response][] = [
    ["unsigned", await post("/hooks/hook", body)],
    ["signed with another secret", await post("/hooks/hook", body, signWebhookBody("another-secret-of-some-length", body))],
    ["signature of another body", await post("/hooks/hook", body, signWebhookBody(pathSecret("/hooks/hook"), body + " "))],
    ["not hex", await post("/hooks/hook", body, `sha256=${"z".repeat(64)}`)],
    ["unsigned, unknown environment", await post("/hooks/nowhere", body)],
    // Bound to the path: the shared secret itself, or another path's secret, signs nothing here.
    ["signed with the shared secret, not the path's", await post("/hooks/hook", body, signWebhookBody(secret, body))],
    ["signed for another path", await post("/hooks/hook", body, signWebhookBody(pathSecret("/hooks"), body))],
    [
      "Vigil's form for another path",
      await fetch(`${r.urls.webhook}/hooks/hook`, { method: "POST", body, headers: vigilDeliveryHeaders(secret, "/hooks", body) }),
    ],
  ];
  for (const [what, res] of refusals) assert.equal(res.status, 401, `${what}: ${res.status}`);
  assert.equal(
    (await post("/hooks/nowhere", body, signWebhookBody(pathSecret("/hooks/nowhere"), body))).status,
    404,
    "unknown environment, once signed",
  );
  assert.equal(
    (
      await fetch(`${r.urls.webhook}/hooks/hook`, {
        method: "POST",
        body,
        headers: { "x-hub-signature-256": signWebhookBody(pathSecret("/hooks/hook"), body) },
      })
    ).status,
    400,
    "no delivery id",
  );
  assert.equal((await fetch(`${r.urls.webhook}/hooks/hook`)).status, 405);
  const big = "x".repeat(MAX_WEBHOOK_BODY + 1);
  assert.equal((await post("/hooks/hook", big, signWebhookBody(pathSecret("/hooks/hook"), big))).status, 413);
  await sleep(1000);
  assert.equal(r.results.length, 1, "nothing refused triggered a reconcile");

  const sent = Date.now();
  const res = await post("/hooks/hook", body, signWebhookBody(pathSecret("/hooks/hook"), body), "delivery-1");
  assert.equal(res.status, 202, await res.text());
  // Replayed (the same delivery, or the same signed body under a new id): accepted once only.
  assert.equal((await post("/hooks/hook", body, signWebhookBody(pathSecret("/hooks/hook"), body), "delivery-1")).status, 409);
  assert.equal((await post("/hooks/hook", body, signWebhookBody(pathSecret("/hooks/hook"), body), "delivery-2")).status, 409);
  await until("the triggered reconcile", () => r.results.length === 2, 10_000);
  const took = Date.now() - sent;
  assert.equal(r.results[1]!.revision, next, "the reconcile fetched the new revision");
  assert.equal(r.results[1]!.exitCode, 0);
  assert.ok(took < 10_000, `reconciled ${took} ms after the webhook (interval 1h)`);
  // The generic hook triggers every environment.
  const all = await fetch(`${r.urls.webhook}/hooks`, { method: "POST", body: "{}", headers: vigilDeliveryHeaders(secret, "/hooks", "{}") });
  assert.equal(all.status, 202);
  await until("the generic hook's reconcile", () => r.results.length === 3, 10_000);
});

test("webhook to a standby replica: it records the trigger on vigil-triggers and the leader reconciles at once; while the API server is away the standby answers 503, and afterwards the watch reconnects and nothing is lost", async (t) => {
  if (!ready(t)) return;
  await deleteLease();
  await admin.call({ verb: "delete", method: "DELETE", path: "/api/v1/namespaces/vigil-system/configmaps/vigil-triggers" });
  const secret = "a-long-random-shared-webhook-secret";
  const secretFile = join(tempDir(t, "vigil-relay-"), "webhook-secret");
  writeFileSync(secretFile, secret);
  // A lease long enough to outlast the API server's restart below, so the leader stays the leader.
  const w = workspace(
    t,
    "relay",
    `leaderElection: { leaseDuration: 30s }\nwebhook: { listen: "127.0.0.1:0", secretFile: ${secretFile} }\n`,
  );
  const one = await replica(t, w, "relay-one");
  const two = await replica(t, w, "relay-two");
  await until("the first reconcile", () => one.results.length + two.results.length === 1);
  const [leader, standby] = one.agent.leading ? [one, two] : [two, one];
  assert.equal(leader.results[0]!.exitCode, 0);
  const body = JSON.stringify({ ref: "refs/heads/main" });
  let pushes = 0;
  // Each push's body differs (a forge's names the new commit): the same signed body twice is a replay.
  const hook = (path = "/hooks/relay") => {
    const push = JSON.stringify({ ref: "refs/heads/main", push: ++pushes });
    return fetch(`${standby.urls.webhook}${path}`, {
      method: "POST",
      body: push,
      headers: { "content-type": "application/json", ...forgeDeliveryHeaders(secret, path, push) },
    });
  };
  const settings = (value: string) => ({
    [`envs/relay/settings.yaml`]: `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: ${w.ns}\ndata:\n  value: "${value}"\n`,
  });
  const live = async () =>
    (await admin.call({ verb: "get", method: "GET", path: `/api/v1/namespaces/${w.ns}/configmaps/settings` })).body?.data?.value;

  // Unsigned: refused by the standby as by any replica; nothing is recorded.
  assert.equal((await fetch(`${standby.urls.webhook}/hooks/relay`, { method: "POST", body })).status, 401);
  assert.equal(
    (await admin.call({ verb: "get", method: "GET", path: "/api/v1/namespaces/vigil-system/configmaps/vigil-triggers" })).status,
    404,
  );

  const first = w.repo.commit(settings("one"), alice);
  const sent = Date.now();
  const res = await hook();
  assert.equal(res.status, 202, await res.text());
  await until("the leader's reconcile of the new revision", () => leader.results.length === 2, 10_000);
  const took = Date.now() - sent;
  assert.equal(leader.results[1]!.revision, first);
  assert.equal(leader.results[1]!.exitCode, 0);
  assert.equal(await live(), "one");
  assert.ok(took < 5000, `the leader reconciled ${took} ms after the webhook reached the standby (interval 1h)`);
  assert.equal(standby.results.length, 0, "the standby does not reconcile");
  const triggers = (await admin.call({ verb: "get", method: "GET", path: "/api/v1/namespaces/vigil-system/configmaps/vigil-triggers" }))
    .body;
  assert.match(
    triggers.data.relay,
    new RegExp(` ${standby.agent.identity} [0-9a-f]{12}$`),
    "recorded by the standby, a new value per trigger",
  );
  t.diagnostic(`webhook at the standby to the leader's reconcile: ${took} ms`);

  // The API server goes away: the standby can neither tell whether the delivery is new (the replicas'
  // shared delivery log is there) nor record the trigger, and says so (the Git host redelivers).
  await cluster.stopApiServer();
  let refusal = "";
  try {
    const refused = await hook();
    refusal = await refused.text();
    assert.equal(refused.status, 503, refusal);
    assert.match(refusal, /was seen before cannot be told now: cannot reach the Kubernetes API server/);
  } finally {
    await cluster.startApiServer();
  }

  // Back: the trigger reaches the leader, through a watch made again (a list that compares every value first).
  const second = w.repo.commit(settings("two"), alice);
  const count = leader.results.length;
  assert.equal((await hook("/hooks")).status, 202);
  await until(
    "the leader's reconcile after the API server came back",
    () => leader.results.slice(count).some((r) => r.revision === second && r.exitCode === 0),
    30_000,
  );
  assert.equal(await live(), "two");
  assert.deepEqual(
    leader.results.slice(count).map((r) => r.revision),
    [second],
    "one reconcile, the triggered one (the leader kept the Lease)",
  );
  assert.ok(leader.agent.leading);
  assert.equal(standby.results.length, 0);
});

/** A scrape as "name{labels}" → value; every sample line must parse. */
function parseExposition(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("# HELP ") || line.startsWith("# TYPE ")) continue;
    const m = /^([a-z_:][a-z0-9_:]*(?:\{[^}]*\})?) (-?[0-9.e+-]+|\+Inf|NaN)$/i.exec(line);
    assert.ok(m, `not a sample line: ${line}`);
    samples.set(m[1]!, Number(m[2]));
  }
  return samples;
}

test("metrics: GET /metrics after reconciles that pass and are blocked: counts, gate failures, health, duration, leader", async (t) => {
  if (!ready(t)) return;
  await deleteLease();
  const w = workspace(t, "prom", `leaderElection: { leaseDuration: 3s }\nmetrics: { listen: "127.0.0.1:0" }\n`);
  const r = await replica(t, w, "prom-agent");
  await until("the first reconcile", () => r.results.length === 1);
  const scrape = async () => {
    const res = await fetch(`${r.urls.metrics}/metrics`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type")!, /^text\/plain; version=0\.0\.4/);
    return parseExposition(await res.text());
  };
  const first = await scrape();
  assert.equal(first.get('vigil_reconcile_total{environment="prom",result="pass"}'), 1);
  assert.equal(first.get('vigil_reconcile_total{environment="prom",result="blocked"}'), 0);
  assert.equal(first.get('vigil_environment_health{environment="prom",state="healthy"}'), 1);
  assert.equal(first.get('vigil_environment_health{environment="prom",state="degraded"}'), 0);
  assert.equal(first.get('vigil_drift_objects{environment="prom"}'), 0);
  assert.equal(first.get('vigil_reconcile_duration_seconds_count{environment="prom"}'), 1);
  assert.equal(first.get('vigil_reconcile_duration_seconds_bucket{environment="prom",le="+Inf"}'), 1);
  const sum = first.get('vigil_reconcile_duration_seconds_sum{environment="prom"}')!;
  assert.ok(Math.abs(sum - r.results[0]!.seconds) < 1e-9, `${sum} vs ${r.results[0]!.seconds}`);
  assert.equal(first.get("vigil_leader"), 1);

  // A revision that leaves its namespaces: blocked by the server-side dry run's sync, before any write.
  w.repo.commit(
    { [`envs/prom/escape.yaml`]: "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: escape\n  namespace: kube-system\n" },
    alice,
  );
  r.agent.trigger("prom");
  await until("the second reconcile", () => r.results.length === 2);
  const second = await scrape();
  assert.equal(second.get('vigil_reconcile_total{environment="prom",result="blocked"}'), 1);
  assert.equal(second.get('vigil_reconcile_total{environment="prom",result="pass"}'), 1);
  assert.equal(second.get('vigil_gate_failures_total{environment="prom",gate="dry-run"}'), 1);
  assert.equal(second.get('vigil_environment_health{environment="prom",state="unknown"}'), 1);
  assert.equal(second.get('vigil_reconcile_duration_seconds_count{environment="prom"}'), 2);
  assert.equal((await fetch(`${r.urls.metrics}/other`)).status, 404);

  await r.agent.stop();
});

test("logs: vigil agent in loop mode writes one JSON line per reconcile on stderr, and a token never appears, even when the remote echoes it", async (t) => {
  if (!ready(t)) return;
  await deleteLease();
  const token = "ghp_s3cretTokenThatMustNeverBeLogged0123";
  // A hostile Git remote: it answers every request with the Authorization header it was sent.
  let sawToken = false;
  const remote = createServer((req, res) => {
    const auth = req.headers.authorization ?? "";
    if (auth.includes(Buffer.from(`x-access-token:${token}`).toString("base64"))) sawToken = true;
    res.writeHead(500, { "content-type": "text/plain" }).end(`error for ${auth} token=${token}\n`);
  });
  const port = await listen(t, remote);
  const w = workspace(t, "logs", `leaderElection: { leaseDuration: 3s }\n`);
  const tokenFile = join(w.dir, "git-token");
  writeFileSync(tokenFile, `${token}\n`);
  writeFileSync(
    w.configFile,
    (await import("node:fs"))
      .readFileSync(w.configFile, "utf8")
      .replace(`source: { url: "${w.repo.dir}" }`, `source: { url: "http://127.0.0.1:${port}/config.git", tokenFile: ${tokenFile} }`),
  );

  const cli = new URL("../src/cli/main.ts", import.meta.url).pathname;
  const child = spawn(process.execPath, [cli, "agent", "--config", w.configFile], { stdio: ["ignore", "pipe", "pipe"] });
  t.after(() => void child.kill("SIGKILL"));
  let stderr = "";
  let stdout = "";
  child.stderr.on("data", (d) => (stderr += d));
  child.stdout.on("data", (d) => (stdout += d));
  const exited = new Promise((resolve) => child.once("exit", resolve));
  await until("a reconcile log line", () => stderr.split("\n").some((l) => l.includes('"msg":"reconcile"')), 30_000);
  child.kill("SIGTERM");
  await exited;

  const lines = stderr
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l));
  const reconcile = lines.find((l) => l.msg === "reconcile");
  assert.equal(reconcile.environment, "logs");
  assert.equal(reconcile.level, "error", "the remote could not be read: unavailable");
  assert.equal(reconcile.verdict, "fail");
  assert.equal(reconcile.applied, false);
  assert.equal(reconcile.health, "unknown");
  assert.equal(typeof reconcile.durationSeconds, "number");
  assert.ok(!Number.isNaN(Date.parse(reconcile.time)));
  assert.equal(reconcile.firstFailure.gate, "agent");
  assert.ok(
    lines.some((l) => l.msg.startsWith("leading") && l.leading === true),
    "leadership is logged",
  );
  for (const output of [stderr, stdout]) {
    assert.ok(!output.includes(token), "the token never appears");
    assert.ok(!output.includes(Buffer.from(`x-access-token:${token}`).toString("base64")), "nor its Basic form");
  }
  t.diagnostic(`remote received the token: ${sawToken}; first failure: ${reconcile.firstFailure.message}`);
});
