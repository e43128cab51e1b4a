// Issue 15 end to end, on a real kube-apiserver with a config repository signed through git's own ssh
// signing: gates turned off only by the signed trust policy and named in the verdict; an environment
// that ships its own PolicyException; names the API server would reject; the agent's state changed
// behind its back (status patched or deleted, with and without the audit log); a paused leader; an
// unreachable cluster that neither ends the loop nor hides the other environments' results.
import { strict as assert } from "node:assert";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { before, test, type TestContext } from "node:test";
import { nextWait, startAgent } from "../src/agent/agent.ts";
import { LeaderElector, LeaseLost } from "../src/agent/leader.ts";
import type { ReconcileResult } from "../src/agent/reconcile.ts";
import type { Cluster } from "../src/cluster/index.ts";
import { ExitCode } from "../src/core/errors.ts";
import { agentTestCluster, reconcileOnce, writeAgentConfig } from "./helpers/agent.ts";
import { makeLogKey } from "./helpers/audit.ts";
import { soleOwnerPolicy, SshSigner, TestRepo } from "./helpers/git-fixture.ts";
import { missingKubeBinaries, requireKube, type KubeCluster } from "./helpers/kube.ts";
import { fileScope, hasTool, requireTools, tempDir } from "./helpers/tools.ts";

let cluster: KubeCluster;
let admin: Cluster;
let alice: SshSigner;
const scope = fileScope();

before(async () => {
  if (missingKubeBinaries().length > 0 || !hasTool("ssh-keygen")) return;
  ({ cluster, admin } = await agentTestCluster(scope));
  alice = new SshSigner(tempDir(scope, "vigil-attack-keys-"), "alice");
});

function ready(t: TestContext): boolean {
  return requireKube(t) && requireTools(t, ["ssh-keygen", "git"]);
}

const configMap = (ns: string, name: string, value = "v1") =>
  `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\n  namespace: ${ns}\ndata:\n  value: ${value}\n`;
const namespace = (ns: string) => `apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ${ns}\n`;

interface Workspace {
  dir: string;
  repo: TestRepo;
  configFile: string;
  env: string;
  ns: string;
}

/**
 * A repository for environment `env`, a trust policy whose environment turns the artifact gate off (no
 * registry in these tests; that switch is itself under test), and the agent's configuration.
 */
function workspace(t: TestContext, env: string, options: { trustEnv?: Record<string, unknown>; extra?: string } = {}): Workspace {
  const dir = tempDir(t, "vigil-attack-");
  const ns = `${env}-ns`;
  const trust = soleOwnerPolicy(join(dir, "trust.yaml"), alice, env, {
    admins: { members: ["alice"], threshold: 1 },
    environments: [{ name: env, branch: "main", path: `envs/${env}`, gates: { artifact: false }, ...options.trustEnv }],
  });
  const repo = new TestRepo(join(dir, "config"));
  const configFile = writeAgentConfig(dir, {
    trust,
    packs: ["pss-baseline"],
    ...(options.extra && { extra: options.extra }),
    environments: [{ name: env, url: repo.dir, cluster: cluster.admin.kubeconfigPath, namespaces: [ns] }],
  });
  return { dir, repo, configFile, env, ns };
}

const reconcile = async (w: Workspace): Promise<ReconcileResult> => (await reconcileOnce(w.configFile))[0]!;
const failures = (r: ReconcileResult) => r.verdict.checks.filter((c) => c.status === "fail");
const statusPath = (env: string) => `/api/v1/namespaces/vigil-system/configmaps/vigil-status-${env}`;

/** A new audit log for this test: the checkpoint another test's log left in the agent's namespace is not this log's. */
async function forgetKeptCheckpoint(): Promise<void> {
  await admin.call({ verb: "delete", method: "DELETE", path: "/api/v1/namespaces/vigil-system/configmaps/vigil-audit-checkpoint" });
}

async function patchStatus(env: string, data: Record<string, string | null>): Promise<void> {
  const answer = await admin.call({
    verb: "patch",
    method: "PATCH",
    path: statusPath(env),
    body: { data },
    contentType: "application/merge-patch+json",
  });
  assert.equal(answer.status, 200);
}

test("a gate is off only where the signed trust policy turns it off, and every verdict says so and by whose policy", async (t) => {
  if (!ready(t)) return;
  const w = workspace(t, "gates");
  w.repo.commit({ [`envs/gates/ns.yaml`]: namespace(w.ns), [`envs/gates/a.yaml`]: configMap(w.ns, "a") }, alice);
  const result = await reconcile(w);
  assert.deepEqual(failures(result), []);
  const off = result.verdict.checks.find((c) => c.gate === "artifact")!;
  assert.equal(off.rule, "gate-off");
  assert.equal(off.status, "skip");
  assert.match(
    off.message,
    /the artifact gate is off for gates by the trust policy \(.*trust\.yaml:\d+ environments\[0\]\.gates\.artifact, admins alice \(threshold 1\)\)/,
  );
  assert.ok(
    result.verdict.checks.some((c) => c.gate === "policy"),
    "the policy gate ran",
  );

  // The agent's own configuration cannot drop a gate: starting with one left out is bad input.
  writeFileSync(w.configFile, `${(await import("node:fs")).readFileSync(w.configFile, "utf8")}    gates: [revision, approvals]\n`);
  await assert.rejects(
    reconcileOnce(w.configFile),
    (e: Error & { exitCode?: number }) =>
      e.exitCode === ExitCode.badInput && /the policy gate cannot be left out by the agent's configuration/.test(e.message),
  );
});

test("an environment's own PolicyException or admission policy is refused before the policy gate; the trust policy's policySources are used", async (t) => {
  if (!ready(t)) return;
  const w = workspace(t, "selfexempt", { trustEnv: { policySources: ["security/exceptions"] } });
  const privileged = `apiVersion: v1\nkind: Pod\nmetadata:\n  name: root\n  namespace: ${w.ns}\nspec:\n  containers:\n    - name: c\n      image: registry.example/app@sha256:${"a".repeat(64)}\n      securityContext: { privileged: true }\n`;
  const exception = (name: string) =>
    `apiVersion: vigil.dev/v1alpha1\nkind: PolicyException\nmetadata:\n  name: ${name}\nspec:\n  policies: [pss-privileged]\n  resources: [{ kind: Pod, namespace: ${w.ns}, name: root }]\n  justification: the environment says it needs a privileged pod\n  expires: "2099-01-01T00:00:00Z"\n`;
  w.repo.commit(
    {
      [`envs/selfexempt/pod.yaml`]: privileged,
      [`envs/selfexempt/exception.yaml`]: exception("self"),
      "security/exceptions/README.md": "Reviewed exceptions, owned by the security team.\n",
    },
    alice,
  );
  const shipped = await reconcile(w);
  assert.equal(shipped.exitCode, ExitCode.blocked);
  const refused = failures(shipped)[0]!;
  assert.equal(refused.rule, "policy-source");
  assert.match(
    refused.message,
    /PolicyException self is in the environment's own manifests: policies, bindings and PolicyExceptions come only from the sources the trust policy names/,
  );
  assert.equal(
    (await admin.call({ verb: "get", method: "GET", path: `/api/v1/namespaces/${w.ns}/pods/root` })).status,
    404,
    "nothing applied",
  );

  // Without the exception, the pack blocks the privileged Pod…
  w.repo.commit({ [`envs/selfexempt/exception.yaml`]: null }, alice);
  const blocked = await reconcile(w);
  assert.ok(
    failures(blocked).some((c) => c.gate === "policy" && /privileged/i.test(c.rule + c.message)),
    JSON.stringify(failures(blocked)),
  );
  // …and the same exception, kept where the trust policy says exceptions live, is honoured.
  w.repo.commit({ "security/exceptions/root.yaml": exception("reviewed") }, alice);
  const excepted = await reconcile(w);
  assert.ok(!failures(excepted).some((c) => c.gate === "policy"), JSON.stringify(failures(excepted)));
});

test("an object named '..' or a name the API server would reject is bad input (exit 2) naming the file, before any request to the cluster", async (t) => {
  if (!ready(t)) return;
  const w = workspace(t, "names");
  w.repo.commit({ [`envs/names/bad.yaml`]: configMap(w.ns, "..") + "---\n" + configMap(w.ns, "a/b") }, alice);
  const result = await reconcile(w);
  assert.equal(result.exitCode, ExitCode.badInput);
  const names = failures(result).filter((c) => c.rule === "name");
  assert.equal(names.length, 2);
  assert.deepEqual(
    names.map((c) => c.location?.file),
    ["envs/names/bad.yaml", "envs/names/bad.yaml"],
  );
  assert.match(names[0]!.message, /metadata\.name "\.\." may not be "\." or "\.\."/);
  assert.match(names[1]!.message, /may not contain "\/" or "%"/);
});

test("the agent's state is evidence: a status patched back to an older revision or deleted blocks with the reason, against the audit log and without it", async (t) => {
  if (!ready(t)) return;
  const logDir = tempDir(t, "vigil-attack-log-");
  const key = makeLogKey(logDir);
  const w = workspace(t, "state", { extra: `audit: { log: "${join(logDir, "log")}", signingKeyFile: ${key.file} }\n` });
  await forgetKeptCheckpoint();
  const first = w.repo.commit({ [`envs/state/ns.yaml`]: namespace(w.ns), [`envs/state/a.yaml`]: configMap(w.ns, "a") }, alice);
  assert.equal((await reconcile(w)).exitCode, 0);
  const second = w.repo.commit({ [`envs/state/a.yaml`]: configMap(w.ns, "a", "v2") }, alice);
  assert.equal((await reconcile(w)).exitCode, 0);

  // Someone who may write ConfigMaps in the agent's namespace moves lastApplied back, to open a rollback.
  await patchStatus("state", { lastApplied: first });
  const altered = await reconcile(w);
  assert.equal(altered.exitCode, ExitCode.blocked);
  assert.equal(failures(altered)[0]!.rule, "state");
  assert.match(
    failures(altered)[0]!.message,
    new RegExp(
      `the status says ${first.slice(0, 12)} was applied last, but the audit log records ${second.slice(0, 12)} .*altered outside the agent`,
    ),
  );
  assert.equal(
    (await admin.call({ verb: "get", method: "GET", path: `/api/v1/namespaces/${w.ns}/configmaps/a` })).body.data.value,
    "v2",
    "nothing moved",
  );

  // Deleted: history does not restart.
  await admin.call({ verb: "delete", method: "DELETE", path: statusPath("state") });
  const deleted = await reconcile(w);
  assert.equal(deleted.exitCode, ExitCode.blocked);
  assert.match(
    failures(deleted)[0]!.message,
    new RegExp(`the status has no last applied revision, but the audit log records ${second.slice(0, 12)} applied`),
  );

  // Put back as the log says (the blocked reconcile wrote no status of its own): the agent goes on.
  assert.equal((await admin.call({ verb: "get", method: "GET", path: statusPath("state") })).status, 404);
  assert.equal(
    (
      await admin.call({
        verb: "create",
        method: "POST",
        path: "/api/v1/namespaces/vigil-system/configmaps",
        body: { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "vigil-status-state" }, data: { lastApplied: second } },
      })
    ).status,
    201,
  );
  assert.equal((await reconcile(w)).exitCode, 0);

  // With the audit log too, the inventory is kept under the agent's key: rewritten, it blocks before any write.
  const inventoryPath = "/api/v1/namespaces/vigil-system/configmaps/vigil-inventory-state";
  const inventory = (await admin.call({ verb: "get", method: "GET", path: inventoryPath })).body.data;
  const rewrite = (objects: string) =>
    admin.call({
      verb: "patch",
      method: "PATCH",
      path: inventoryPath,
      body: { data: { objects } },
      contentType: "application/merge-patch+json",
    });
  assert.equal((await rewrite(inventory.objects.replace(/"desired":"[^"]+"/, '"desired":"AAAAAAAAAAAAAAAAAAAAAA"'))).status, 200);
  const rewritten = await reconcile(w);
  assert.equal(rewritten.exitCode, ExitCode.blocked);
  assert.equal(failures(rewritten)[0]!.subject, "inventory of state");
  assert.match(failures(rewritten)[0]!.message, /has a MAC that does not verify: it was rewritten outside the agent/);
  assert.equal((await rewrite(inventory.objects)).status, 200);
  assert.equal((await reconcile(w)).exitCode, 0);

  // Without an audit log: a deleted status while the inventory remains blocks too.
  const plain = workspace(t, "plainstate");
  plain.repo.commit({ [`envs/plainstate/ns.yaml`]: namespace(plain.ns), [`envs/plainstate/a.yaml`]: configMap(plain.ns, "a") }, alice);
  assert.equal((await reconcile(plain)).exitCode, 0);
  await admin.call({ verb: "delete", method: "DELETE", path: statusPath("plainstate") });
  const gone = await reconcile(plain);
  assert.equal(gone.exitCode, ExitCode.blocked);
  assert.match(failures(gone)[0]!.message, /the status ConfigMap is gone but plainstate's inventory is not/);
});

test("a leader paused past its renew deadline does not act when it resumes: not leading, and every write is fenced", async (t) => {
  if (!ready(t)) return;
  const elector = new LeaderElector({
    cluster: admin,
    namespace: "vigil-system",
    name: "paused-lease",
    identity: "paused",
    leaseDurationSeconds: 3,
  });
  elector.start();
  t.after(() => elector.stop());
  await elector.waitForLeadership();
  assert.equal(elector.leading, true);
  elector.assertLeading();
  // A pause (a stopped process, a frozen VM): nothing runs on this thread for longer than the renew deadline (2 s).
  const until = Date.now() + 2300;
  while (Date.now() < until) {
    /* paused */
  }
  assert.equal(elector.leading, false, "checked against the renew deadline, before any renewal notices");
  assert.throws(
    () => elector.assertLeading(),
    (e: Error) => e instanceof LeaseLost && e.exitCode === ExitCode.unavailable && /no longer certainly holds the Lease/.test(e.message),
  );
  await elector.waitForLeadership();
  assert.equal(elector.leading, true, "leads again once it renewed");
});

test("an unreachable cluster: --once still gives every environment's result, and the loop backs off instead of ending", async (t) => {
  if (!ready(t)) return;
  const w = workspace(t, "reachable");
  w.repo.commit({ [`envs/reachable/ns.yaml`]: namespace(w.ns), [`envs/reachable/a.yaml`]: configMap(w.ns, "a") }, alice);
  // A second environment whose cluster is a closed port.
  const dead = join(w.dir, "dead.kubeconfig");
  writeFileSync(
    dead,
    (await import("node:fs"))
      .readFileSync(cluster.admin.kubeconfigPath, "utf8")
      .replace(/"server":\s*"https:\/\/127\.0\.0\.1:\d+"/, '"server":"https://127.0.0.1:1"'),
  );
  const config =
    (await import("node:fs")).readFileSync(w.configFile, "utf8") +
    `  - name: unreachable\n    source: { url: "${w.repo.dir}", path: envs/reachable }\n    cluster: { kubeconfig: ${dead} }\n    namespaces: [other-ns]\n    interval: 1h\n`;
  writeFileSync(w.configFile, config);
  const results = await reconcileOnce(w.configFile);
  assert.deepEqual(
    results.map((r) => [r.environment, r.exitCode]),
    [
      ["reachable", 0],
      ["unreachable", ExitCode.unavailable],
    ],
    JSON.stringify(results.map(failures)),
  );
  assert.match(failures(results[1]!)[0]!.message, /127\.0\.0\.1:1/);

  // In the loop, the unreachable environment retries soon (1 s, 2 s, 4 s… up to its interval) and the other goes on.
  assert.deepEqual(
    [0, 1, 2, 3, 30].map((n) => nextWait(3600_000, n)),
    [3600_000, 1000, 2000, 4000, 3600_000],
  );
  const seen: ReconcileResult[] = [];
  const agent = await startAgent({ configFile: w.configFile, identity: "backoff", onResult: (r) => seen.push(r) });
  t.after(() => agent.stop());
  void agent.loop();
  const deadline = Date.now() + 20_000;
  while (seen.filter((r) => r.environment === "unreachable").length < 3 && Date.now() < deadline)
    await new Promise((r) => setTimeout(r, 100));
  assert.ok(seen.filter((r) => r.environment === "unreachable").length >= 3, "retried with backoff, well before its 1 h interval");
  assert.ok(seen.some((r) => r.environment === "reachable" && r.exitCode === 0));
});

test("a namespaced object with cluster-wide effect: a Service with externalIPs (CVE-2020-8554) is blocked by the network-isolation pack, offline and installed in the API server", async (t) => {
  if (!ready(t)) return;
  const { loadPacks } = await import("../src/policy/packs.ts");
  const { policyChecks } = await import("../src/policy/gate.ts");
  const { parseManifests } = await import("../src/manifest/manifests.ts");
  const service = (name: string, externalIPs?: string[]) => ({
    apiVersion: "v1",
    kind: "Service",
    metadata: { name, namespace: "ext-ips" },
    spec: { ports: [{ port: 80 }], ...(externalIPs && { externalIPs }) },
  });
  const set = parseManifests(
    [service("grab", ["10.0.0.1"]), service("fine")].map((o) => JSON.stringify(o)).join("\n---\n"),
    "envs/x/services.yaml",
  );
  const checks = policyChecks({ manifests: set, policies: loadPacks(["network-isolation"]) }).filter(
    (c) => c.rule === "network-no-external-ips",
  );
  assert.deepEqual(
    checks.map((c) => [c.subject, c.status]),
    [
      ["Service/ext-ips/grab", "fail"],
      ["Service/ext-ips/fine", "pass"],
    ],
  );
  assert.match(checks[0]!.message, /spec\.externalIPs \(10\.0\.0\.1\).*CVE-2020-8554/);

  // The same policy, as the pack ships it, in the API server: the Service is denied there too.
  for (const so of loadPacks(["network-isolation"]).filter((p) => String(p.object.metadata?.name).startsWith("network-no-external-ips"))) {
    const plural = so.object.kind === "ValidatingAdmissionPolicy" ? "validatingadmissionpolicies" : "validatingadmissionpolicybindings";
    assert.equal(
      (await admin.call({ verb: "create", method: "POST", path: `/apis/admissionregistration.k8s.io/v1/${plural}`, body: so.object }))
        .status,
      201,
    );
  }
  await admin.call({
    verb: "create",
    method: "POST",
    path: "/api/v1/namespaces",
    body: { apiVersion: "v1", kind: "Namespace", metadata: { name: "ext-ips" } },
  });
  let denied: { status: number; body: any } | undefined;
  for (let i = 0; i < 50; i++) {
    // The API server takes a moment to load a new policy.
    const answer = await admin.call({
      verb: "create",
      method: "POST",
      path: "/api/v1/namespaces/ext-ips/services",
      body: service(`grab-${i}`, ["10.0.0.1"]),
      query: { dryRun: "All" },
    });
    if (answer.status !== 201) {
      denied = answer;
      break;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  assert.equal(denied?.status, 403);
  assert.match(String(denied?.body?.message), /network-no-external-ips.*CVE-2020-8554/);
  assert.equal(
    (
      await admin.call({
        verb: "create",
        method: "POST",
        path: "/api/v1/namespaces/ext-ips/services",
        body: service("fine"),
        query: { dryRun: "All" },
      })
    ).status,
    201,
  );
});

test("every wait on a dependency is bounded: a PostgreSQL lock held by another writer fails the reconcile (exit 3) within the configured time", async (t) => {
  if (!ready(t)) return;
  const { requirePostgres, startPostgres } = await import("./helpers/postgres.ts");
  const bin = requirePostgres(t);
  if (!bin) return;
  const server = startPostgres(t, bin);
  const location = server.database("agent_bounded");
  const key = makeLogKey(tempDir(t, "vigil-attack-pg-"));
  const w = workspace(t, "bounded", { extra: `audit: { log: "${location}", signingKeyFile: ${key.file} }\ntimeouts: { database: 2s }\n` });
  await forgetKeptCheckpoint();
  w.repo.commit({ [`envs/bounded/ns.yaml`]: namespace(w.ns) }, alice);
  const first = await reconcile(w);
  assert.equal(first.exitCode, 0, JSON.stringify(failures(first)));

  // Another writer takes the log's tables and holds them, as a stuck transaction would.
  const pg = (await import("pg")).default;
  const holder = new pg.Client({ connectionString: location });
  holder.on("error", () => {}); // the server stops before this client at the end
  await holder.connect();
  await holder.query("BEGIN");
  await holder.query("LOCK TABLE vigil_audit_entries, vigil_audit_checkpoints IN ACCESS EXCLUSIVE MODE");
  w.repo.commit({ [`envs/bounded/a.yaml`]: configMap(w.ns, "a") }, alice);
  const started = Date.now();
  // The agent reads the log when it starts (--once fails then, with exit 3) and before each reconcile.
  const blocked = await reconcile(w).then(
    (r) => ({ exitCode: r.exitCode, message: failures(r)[0]?.message ?? "" }),
    (e: Error & { exitCode?: number }) => ({ exitCode: e.exitCode, message: e.message }),
  );
  const took = Date.now() - started;
  assert.equal(blocked.exitCode, ExitCode.unavailable, blocked.message);
  assert.match(blocked.message, /lock timeout|statement timeout|canceling statement/i);
  assert.ok(took < 15_000, `failed within the bound, not stalled (${took} ms)`);
  assert.equal(
    (await admin.call({ verb: "get", method: "GET", path: `/api/v1/namespaces/${w.ns}/configmaps/a` })).status,
    404,
    "nothing applied on unverified evidence",
  );
  await holder.query("ROLLBACK");
  assert.equal((await reconcile(w)).exitCode, 0, "goes on once the lock is released");
  await holder.end();
  server.stop();
});

test("the prune limit in the agent: an emptied revision deletes nothing and fails saying why; --allow-mass-prune lets one run through, said in the verdict", async (t) => {
  if (!ready(t)) return;
  const w = workspace(t, "mass");
  const names = Array.from({ length: 12 }, (_, i) => `cm-${i}`);
  w.repo.commit(
    { [`envs/mass/ns.yaml`]: namespace(w.ns), ...Object.fromEntries(names.map((n) => [`envs/mass/${n}.yaml`, configMap(w.ns, n)])) },
    alice,
  );
  assert.equal((await reconcile(w)).exitCode, 0);
  w.repo.commit(Object.fromEntries(names.slice(1).map((n) => [`envs/mass/${n}.yaml`, null])), alice);
  const blocked = await reconcile(w);
  assert.equal(blocked.exitCode, ExitCode.blocked);
  assert.match(
    failures(blocked).find((c) => c.rule === "prune-limit")!.message,
    /prune limit: 11 of 13 objects would be deleted, more than both 10 objects and 50% of the inventory; nothing was deleted/,
  );
  const live = async () =>
    (
      await admin.call({
        verb: "list",
        method: "GET",
        path: `/api/v1/namespaces/${w.ns}/configmaps`,
        query: { labelSelector: "vigil.dev/applied-by=mass" },
      })
    ).body.items.length;
  assert.equal(await live(), 12);
  const agent = await startAgent({ configFile: w.configFile, allowMassPrune: ["mass"], onResult: () => {} });
  t.after(() => agent.stop());
  const [allowed] = await agent.reconcileAll();
  assert.equal(allowed!.exitCode, 0, JSON.stringify(failures(allowed!)));
  assert.match(
    allowed!.verdict.checks.find((c) => c.rule === "prune-limit")!.message,
    /lifted for this run \(vigil agent --allow-mass-prune\)/,
  );
  assert.equal(await live(), 1);
  await assert.rejects(
    startAgent({ configFile: w.configFile, allowMassPrune: ["nowhere"], onResult: () => {} }),
    /--allow-mass-prune nowhere: no such environment/,
  );
});

/** Objects of the cluster-effect pack's tests, each refused by the rule named, with the message's gist; and ones that pass. */
const CLUSTER_EFFECT_CASES: { rule: string; object: Record<string, any>; message?: RegExp }[] = [
  {
    rule: "cluster-effect-endpoints",
    message: /points at 10\.96\.0\.1, not Pods of namespace tenant.*CVE-2021-25740/,
    object: {
      apiVersion: "v1",
      kind: "Endpoints",
      metadata: { name: "grab", namespace: "tenant" },
      subsets: [{ addresses: [{ ip: "10.96.0.1" }], ports: [{ port: 443 }] }],
    },
  },
  {
    rule: "cluster-effect-endpoints",
    message: /points at 10\.0\.0\.9/,
    object: {
      apiVersion: "v1",
      kind: "Endpoints",
      metadata: { name: "foreign-pod", namespace: "tenant" },
      subsets: [
        {
          notReadyAddresses: [{ ip: "10.0.0.9", targetRef: { kind: "Pod", namespace: "kube-system", name: "etcd" } }],
          ports: [{ port: 2379 }],
        },
      ],
    },
  },
  {
    rule: "cluster-effect-endpoints",
    message: /points at 192\.168\.1\.1 192\.168\.1\.2/,
    object: {
      apiVersion: "discovery.k8s.io/v1",
      kind: "EndpointSlice",
      metadata: { name: "grab-slice", namespace: "tenant" },
      addressType: "IPv4",
      endpoints: [{ addresses: ["192.168.1.1", "192.168.1.2"] }],
      ports: [{ port: 80 }],
    },
  },
  {
    rule: "cluster-effect-external-name",
    message: /ExternalName \(kubernetes\.default\.svc\.cluster\.local\)/,
    object: {
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: "alias", namespace: "tenant" },
      spec: { type: "ExternalName", externalName: "kubernetes.default.svc.cluster.local" },
    },
  },
  {
    rule: "cluster-effect-role-binding-reach",
    message: /roleRef ClusterRole edit/,
    object: {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "RoleBinding",
      metadata: { name: "edit", namespace: "tenant" },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "edit" },
      subjects: [{ kind: "Group", name: "system:serviceaccounts:tenant", apiGroup: "rbac.authorization.k8s.io" }],
    },
  },
  {
    rule: "cluster-effect-role-binding-reach",
    message: /roleRef ClusterRole system:controller:replicaset-controller/,
    object: {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "RoleBinding",
      metadata: { name: "ctl", namespace: "tenant" },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "system:controller:replicaset-controller" },
      subjects: [{ kind: "ServiceAccount", name: "app", namespace: "tenant" }],
    },
  },
  {
    rule: "cluster-effect-role-binding-reach",
    message: /binds ServiceAccount other\/robot, Group system:authenticated in namespace tenant/,
    object: {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "RoleBinding",
      metadata: { name: "foreign", namespace: "tenant" },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "reader" },
      subjects: [
        { kind: "ServiceAccount", name: "robot", namespace: "other" },
        { kind: "Group", name: "system:authenticated", apiGroup: "rbac.authorization.k8s.io" },
        { kind: "ServiceAccount", name: "app", namespace: "tenant" },
      ],
    },
  },
  {
    rule: "cluster-effect-ingress-nginx-snippets",
    message: /nginx\.ingress\.kubernetes\.io\/configuration-snippet: .*CVE-2021-25742/,
    object: {
      apiVersion: "networking.k8s.io/v1",
      kind: "Ingress",
      metadata: {
        name: "snippet",
        namespace: "tenant",
        annotations: { "nginx.ingress.kubernetes.io/configuration-snippet": 'more_set_headers "x: y";' },
      },
      spec: { defaultBackend: { service: { name: "web", port: { number: 80 } } } },
    },
  },
  {
    rule: "cluster-effect-ingress-nginx-snippets",
    message: /nginx\.ingress\.kubernetes\.io\/permanent-redirect: the value holds.*CVE-2023-5044/,
    object: {
      apiVersion: "networking.k8s.io/v1",
      kind: "Ingress",
      metadata: {
        name: "redirect",
        namespace: "tenant",
        annotations: { "nginx.ingress.kubernetes.io/permanent-redirect": "https://example.com;\n}\nlocation /x { return 200 $secret" },
      },
      spec: { defaultBackend: { service: { name: "web", port: { number: 80 } } } },
    },
  },
  {
    rule: "cluster-effect-pvc-volume-name",
    message: /spec\.volumeName pv-of-team-b/,
    object: {
      apiVersion: "v1",
      kind: "PersistentVolumeClaim",
      metadata: { name: "steal", namespace: "tenant" },
      spec: { volumeName: "pv-of-team-b", accessModes: ["ReadWriteOnce"], resources: { requests: { storage: "1Gi" } } },
    },
  },
  {
    rule: "cluster-effect-service-account-token-secrets",
    message: /for ServiceAccount operator: a token that never expires/,
    object: {
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: "token", namespace: "tenant", annotations: { "kubernetes.io/service-account.name": "operator" } },
      type: "kubernetes.io/service-account-token",
    },
  },
  {
    rule: "cluster-effect-pdb-blocks-drain",
    message: /maxUnavailable 0: no voluntary eviction/,
    object: {
      apiVersion: "policy/v1",
      kind: "PodDisruptionBudget",
      metadata: { name: "never", namespace: "tenant" },
      spec: { maxUnavailable: 0, selector: { matchLabels: { app: "web" } } },
    },
  },
  {
    rule: "cluster-effect-pdb-blocks-drain",
    message: /minAvailable 100%/,
    object: {
      apiVersion: "policy/v1",
      kind: "PodDisruptionBudget",
      metadata: { name: "all", namespace: "tenant" },
      spec: { minAvailable: "100%", selector: { matchLabels: { app: "web" } } },
    },
  },
  // Legitimate objects of the same kinds: pass.
  {
    rule: "cluster-effect-endpoints",
    object: {
      apiVersion: "v1",
      kind: "Endpoints",
      metadata: { name: "own", namespace: "tenant" },
      subsets: [{ addresses: [{ ip: "10.1.0.5", targetRef: { kind: "Pod", namespace: "tenant", name: "web-0" } }], ports: [{ port: 80 }] }],
    },
  },
  {
    rule: "cluster-effect-endpoints",
    object: {
      apiVersion: "discovery.k8s.io/v1",
      kind: "EndpointSlice",
      metadata: { name: "own-slice", namespace: "tenant" },
      addressType: "IPv4",
      endpoints: [{ addresses: ["10.1.0.5"], targetRef: { kind: "Pod", name: "web-0" } }],
      ports: [{ port: 80 }],
    },
  },
  {
    rule: "cluster-effect-external-name",
    object: {
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: "web", namespace: "tenant" },
      spec: { ports: [{ port: 80 }], selector: { app: "web" } },
    },
  },
  {
    rule: "cluster-effect-role-binding-reach",
    object: {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "RoleBinding",
      metadata: { name: "reader", namespace: "tenant" },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "view" },
      subjects: [
        { kind: "ServiceAccount", name: "app", namespace: "tenant" },
        { kind: "User", name: "alice@example.com", apiGroup: "rbac.authorization.k8s.io" },
      ],
    },
  },
  {
    rule: "cluster-effect-ingress-nginx-snippets",
    object: {
      apiVersion: "networking.k8s.io/v1",
      kind: "Ingress",
      metadata: {
        name: "plain",
        namespace: "tenant",
        annotations: {
          "nginx.ingress.kubernetes.io/rewrite-target": "/$2",
          "nginx.ingress.kubernetes.io/auth-url": "https://$host/oauth2/auth",
        },
      },
      spec: { defaultBackend: { service: { name: "web", port: { number: 80 } } } },
    },
  },
  {
    rule: "cluster-effect-pvc-volume-name",
    object: {
      apiVersion: "v1",
      kind: "PersistentVolumeClaim",
      metadata: { name: "data", namespace: "tenant" },
      spec: { accessModes: ["ReadWriteOnce"], resources: { requests: { storage: "1Gi" } } },
    },
  },
  {
    rule: "cluster-effect-service-account-token-secrets",
    object: { apiVersion: "v1", kind: "Secret", metadata: { name: "filled-by-a-controller", namespace: "tenant" }, type: "Opaque" },
  },
  {
    rule: "cluster-effect-pdb-blocks-drain",
    object: {
      apiVersion: "policy/v1",
      kind: "PodDisruptionBudget",
      metadata: { name: "one", namespace: "tenant" },
      spec: { maxUnavailable: 1, selector: { matchLabels: { app: "web" } } },
    },
  },
];

const PLURALS: Record<string, string> = {
  Endpoints: "endpoints",
  EndpointSlice: "endpointslices",
  Service: "services",
  RoleBinding: "rolebindings",
  Ingress: "ingresses",
  PersistentVolumeClaim: "persistentvolumeclaims",
  Secret: "secrets",
  PodDisruptionBudget: "poddisruptionbudgets",
};

test("namespaced objects with cluster-wide effect (the cluster-effect pack): hand-written endpoints, ExternalName, RoleBindings reaching past the namespace, ingress-nginx snippets, pre-bound claims, token Secrets, drain-blocking budgets; offline and in the API server", async (t) => {
  if (!ready(t)) return;
  const { loadPacks } = await import("../src/policy/packs.ts");
  const { policyChecks } = await import("../src/policy/gate.ts");
  const { parseManifests } = await import("../src/manifest/manifests.ts");
  const pack = loadPacks(["cluster-effect"]);
  const set = parseManifests(CLUSTER_EFFECT_CASES.map((c) => JSON.stringify(c.object)).join("\n---\n"), "envs/tenant/objects.yaml");
  const checks = policyChecks({ manifests: set, policies: pack });
  for (const c of CLUSTER_EFFECT_CASES) {
    const { kind, metadata } = c.object;
    const found = checks.filter((k) => k.rule === c.rule && k.subject === `${kind}/${metadata.namespace}/${metadata.name}`);
    assert.ok(
      found.length > 0,
      `${c.rule} judged ${kind} ${metadata.name}: ${JSON.stringify(checks.filter((k) => k.subject.endsWith(`/${metadata.name}`)))}`,
    );
    const failed = found.filter((k) => k.status === "fail");
    if (c.message) {
      assert.equal(failed.length, 1, `${kind} ${metadata.name} refused by ${c.rule}`);
      assert.match(failed[0]!.message, c.message);
    } else assert.equal(failed.length, 0, `${kind} ${metadata.name} passes ${c.rule}: ${JSON.stringify(failed)}`);
  }

  // The pack as it ships, installed in the API server: the same objects denied or admitted there.
  for (const so of pack) {
    const plural = so.object.kind === "ValidatingAdmissionPolicy" ? "validatingadmissionpolicies" : "validatingadmissionpolicybindings";
    const created = await admin.call({
      verb: "create",
      method: "POST",
      path: `/apis/admissionregistration.k8s.io/v1/${plural}`,
      body: so.object,
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
  }
  t.after(async () => {
    for (const so of pack) {
      const plural = so.object.kind === "ValidatingAdmissionPolicy" ? "validatingadmissionpolicies" : "validatingadmissionpolicybindings";
      await admin.call({
        verb: "delete",
        method: "DELETE",
        path: `/apis/admissionregistration.k8s.io/v1/${plural}/${so.object.metadata!.name}`,
      });
    }
  });
  await admin.call({
    verb: "create",
    method: "POST",
    path: "/api/v1/namespaces",
    body: { apiVersion: "v1", kind: "Namespace", metadata: { name: "tenant" } },
  });
  const create = (object: Record<string, any>) => {
    const group = object.apiVersion.includes("/") ? `/apis/${object.apiVersion}` : `/api/${object.apiVersion}`;
    return admin.call({
      verb: "create",
      method: "POST",
      path: `${group}/namespaces/tenant/${PLURALS[object.kind]}`,
      body: object,
      query: { dryRun: "All" },
    });
  };
  for (const c of CLUSTER_EFFECT_CASES) {
    let answer = await create(c.object);
    // The API server takes a moment to load each new policy.
    for (let i = 0; i < 50 && c.message && answer.status === 201; i++) {
      await new Promise((r) => setTimeout(r, 200));
      answer = await create(c.object);
    }
    if (c.message) {
      assert.equal(answer.status, 403, `${c.object.kind} ${c.object.metadata.name}: ${JSON.stringify(answer.body)}`);
      assert.match(String(answer.body?.message), new RegExp(c.rule));
      assert.match(String(answer.body?.message), c.message);
    } else assert.equal(answer.status, 201, `${c.object.kind} ${c.object.metadata.name}: ${JSON.stringify(answer.body?.message)}`);
  }
  // The control plane's controllers (and the API server's own default/kubernetes endpoints) are not judged.
  const { connectCluster } = await import("../src/cluster/index.ts");
  const controller = await connectCluster({
    kubeconfig: cluster.admin.kubeconfigPath,
    impersonate: "system:serviceaccount:kube-system:endpoint-controller",
  });
  t.after(() => controller.close());
  const byController = await controller.call({
    verb: "create",
    method: "POST",
    path: "/api/v1/namespaces/tenant/endpoints",
    body: CLUSTER_EFFECT_CASES[0]!.object,
    query: { dryRun: "All" },
  });
  assert.equal(byController.status, 201, JSON.stringify(byController.body?.message));
});

test("a manifest set with an alias bomb or a huge document: refused naming the file and the document's line, nothing applied", async (t) => {
  if (!ready(t)) return;
  const w = workspace(t, "docbounds");
  const levels = ["a: &a [x, x, x, x, x, x, x, x, x]"];
  for (let i = 1; i < 9; i++)
    levels.push(
      `${"abcdefghi"[i]}: &${"abcdefghi"[i]} [${Array(9)
        .fill(`*${"abcdefghi"[i - 1]}`)
        .join(", ")}]`,
    );
  const bomb = `${configMap(w.ns, "fine")}---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: bomb\n  namespace: ${w.ns}\ndata:\n${levels.map((l) => `  ${l}`).join("\n")}\n`;
  w.repo.commit({ [`envs/docbounds/ns.yaml`]: namespace(w.ns), [`envs/docbounds/bomb.yaml`]: bomb }, alice);
  const bombed = await reconcile(w);
  assert.equal(bombed.exitCode, ExitCode.badInput, JSON.stringify(bombed.verdict.checks));
  assert.equal(bombed.applied, false);
  assert.match(
    JSON.stringify(failures(bombed)),
    /envs\/docbounds\/bomb\.yaml:8: a YAML document expands to more than 1000000 nodes through aliases/,
  );

  const huge = `${configMap(w.ns, "fine")}---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: huge\n  namespace: ${w.ns}\ndata:\n  value: "${"x".repeat(9 * 1024 * 1024)}"\n`;
  w.repo.commit({ [`envs/docbounds/bomb.yaml`]: null, [`envs/docbounds/huge.yaml`]: huge }, alice);
  const refused = await reconcile(w);
  assert.equal(refused.exitCode, ExitCode.badInput);
  assert.equal(refused.applied, false);
  assert.match(
    JSON.stringify(failures(refused)),
    /envs\/docbounds\/huge\.yaml:8: a YAML document of \d+ bytes, more than the 8388608 Vigil reads as one object; split it/,
  );
  assert.equal(
    (await admin.call({ verb: "get", method: "GET", path: `/api/v1/namespaces/${w.ns}/configmaps/fine` })).status,
    404,
    "nothing applied",
  );
});
