// Credentials never printed, by the agent (issue 14 §9): environments whose source URL carries a token
// (one right, one wrong) reconcile against a loopback git server that wants it, on a real API server,
// with an audit log. The token is searched for in the agent's stdout and stderr (table and --json), the
// status ConfigMaps, the Events and every file of the audit log.
import { strict as assert } from "node:assert";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { before, test } from "node:test";
import type { Cluster } from "../src/cluster/index.ts";
import { agentTestCluster, writeAgentConfig } from "./helpers/agent.ts";
import { makeLogKey } from "./helpers/audit.ts";
import { SshSigner, TestRepo, writePolicy } from "./helpers/git-fixture.ts";
import { startGitHttpServer } from "./helpers/git-http.ts";
import { missingKubeBinaries, requireKube, type KubeCluster } from "./helpers/kube.ts";
import { fileScope, run, tempDir, vigil } from "./helpers/tools.ts";

const scope = fileScope();
let cluster: KubeCluster;
let admin: Cluster;

before(async () => {
  if (missingKubeBinaries().length > 0) return;
  ({ cluster, admin } = await agentTestCluster(scope));
});

const TOKEN = "tk@agentS3cretT0ken";
const WRONG = "wr@agentWr0ngT0ken";
const forms = (token: string) => [token.slice(3), encodeURIComponent(token), Buffer.from(`x-access-token:${token}`).toString("base64")];
const secretForms = [...forms(TOKEN), ...forms(WRONG)];

function assertNoSecret(channel: string, text: string): void {
  for (const form of secretForms) assert.ok(!text.includes(form), `${channel} contains a token (${form}):\n${text.slice(0, 4000)}`);
}

test("the agent shows no token of a source URL: output, log, status ConfigMaps, Events, audit log", async (t) => {
  if (!requireKube(t)) return;
  const dir = tempDir(t);
  const alice = new SshSigner(dir, "alice");
  const repo = new TestRepo(join(dir, "work"));
  const configMap = (env: string) =>
    `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: redact-${env}\ndata:\n  mode: strict\n`;
  repo.commit({ "envs/good/settings.yaml": configMap("good"), "envs/bad/settings.yaml": configMap("bad") }, alice);
  run("git", ["clone", "-q", "--bare", repo.dir, join(dir, "served", "config.git")]);
  const server = await startGitHttpServer(scope, join(dir, "served"), TOKEN);
  const withToken = (token: string) => `${server.base.replace("http://", `http://x-access-token:${encodeURIComponent(token)}@`)}config.git`;
  const trust = writePolicy(join(dir, "trust.yaml"), {
    signers: [alice.policyEntry],
    paths: [{ pattern: "**", owners: ["alice"] }],
    environments: ["good", "bad"].map((name) => ({ name, branch: "main", path: `envs/${name}` })),
  });
  for (const env of ["good", "bad"]) {
    await admin.call({
      verb: "create",
      method: "POST",
      path: "/api/v1/namespaces",
      body: { apiVersion: "v1", kind: "Namespace", metadata: { name: `redact-${env}` } },
    });
  }
  const key = makeLogKey(dir, "example.com/vigil/redaction-test");
  const log = join(dir, "audit-log");
  const configFile = writeAgentConfig(dir, {
    trust,
    packs: ["pss-restricted"],
    extra: `audit: { log: "${log}", signingKeyFile: ${key.file} }\n`,
    environments: [
      { name: "good", url: withToken(TOKEN), cluster: cluster.admin.kubeconfigPath, namespaces: ["redact-good"] },
      { name: "bad", url: withToken(WRONG), cluster: cluster.admin.kubeconfigPath, namespaces: ["redact-bad"] },
    ],
  });

  const json = vigil(["agent", "--config", configFile, "--once", "--json"], { env: { XDG_CACHE_HOME: join(dir, "xdg") } });
  const table = vigil(["agent", "--config", configFile, "--once"], { env: { XDG_CACHE_HOME: join(dir, "xdg") } });
  assert.equal(json.status, 3, `the wrong token is an unavailable source:\n${json.stderr}`);
  const results = json.json() as { environment: string; verdict: { verdict: string; subject: { repo: string } } }[];
  assert.equal(results.find((r) => r.environment === "good")?.verdict.verdict, "pass", json.stdout);
  for (const r of results) assert.match(r.verdict.subject.repo, /^http:\/\/\*\*\*@127\.0\.0\.1:\d+\/config\.git$/);
  for (const [name, r] of Object.entries({ json, table })) {
    assertNoSecret(`agent ${name} stdout`, r.stdout);
    assertNoSecret(`agent ${name} stderr`, r.stderr);
  }

  const get = async (path: string) => (await admin.call({ verb: "get", method: "GET", path })).body;
  for (const env of ["good", "bad"])
    assertNoSecret(`status ConfigMap ${env}`, JSON.stringify(await get(`/api/v1/namespaces/vigil-system/configmaps/vigil-status-${env}`)));
  const events = await get("/api/v1/events");
  assert.ok(events.items.length > 0, "the agent recorded Events");
  assertNoSecret("Events", JSON.stringify(events));
  const logFiles = readdirSync(log, { recursive: true, encoding: "utf8" })
    .map((f) => join(log, f))
    .filter((f) => statSync(f).isFile());
  assert.ok(logFiles.length > 0, "the audit log was written");
  for (const file of logFiles) assertNoSecret(`audit log ${file}`, readFileSync(file, "latin1"));
});

test("no Secret value and no database password in any record: drift in a Secret is keys and hashes; a password in the audit log URL's userinfo or query never shows (issue 15 §5)", async (t) => {
  if (!requireKube(t)) return;
  const { requirePostgres, startPostgres } = await import("./helpers/postgres.ts");
  const bin = requirePostgres(t);
  if (!bin) return;
  const server = startPostgres(t, bin);
  const dir = tempDir(t);
  const alice = new SshSigner(dir, "alice");
  const repo = new TestRepo(join(dir, "work"));
  const planted = {
    inGit: "PlantedGitSecretValue-1",
    inCluster: "PlantedLiveSecretValue-2",
    dbUser: "PlantedDbPassw0rd-3",
    dbQuery: "PlantedDbQueryPass-4",
  };
  const plantedForms = Object.values(planted).flatMap((v) => [v, Buffer.from(v).toString("base64"), encodeURIComponent(v)]);
  const noPlanted = (channel: string, text: string) => {
    for (const form of plantedForms)
      assert.ok(!text.includes(form), `${channel} contains a planted secret (${form}):\n${text.slice(0, 3000)}`);
  };
  const ns = "redact-secret";
  await admin.call({
    verb: "create",
    method: "POST",
    path: "/api/v1/namespaces",
    body: { apiVersion: "v1", kind: "Namespace", metadata: { name: ns } },
  });
  repo.commit(
    {
      "envs/vault/db.yaml": `apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  namespace: ${ns}\ndata:\n  password: ${Buffer.from(planted.inGit).toString("base64")}\n`,
    },
    alice,
  );
  const trust = writePolicy(join(dir, "trust.yaml"), {
    signers: [alice.policyEntry],
    paths: [{ pattern: "**", owners: ["alice"] }],
    // The secrets gate would block the plain Secret in Git before it is applied: off here, since what is
    // tested is what the apply, drift and the log record of a Secret that does reach the cluster.
    environments: [{ name: "vault", branch: "main", path: "envs/vault", gates: { artifact: false, secrets: false } }],
  });
  // The database URL carries a password twice: in its userinfo and as a query parameter.
  const base = new URL(server.database("redaction"));
  base.password = planted.dbUser;
  base.searchParams.set("password", planted.dbQuery);
  const key = makeLogKey(dir, "example.com/vigil/redaction-secrets");
  const configFile = writeAgentConfig(dir, {
    trust,
    packs: ["pss-baseline"],
    extra: `audit: { log: "${base.toString()}", signingKeyFile: ${key.file} }\n`,
    environments: [{ name: "vault", url: repo.dir, cluster: cluster.admin.kubeconfigPath, namespaces: [ns] }],
  });
  (await import("node:fs")).appendFileSync(configFile, "    drift: report\n");
  // A new log: the checkpoint the other test's log left in the agent's namespace is not this one's.
  await admin.call({ verb: "delete", method: "DELETE", path: "/api/v1/namespaces/vigil-system/configmaps/vigil-audit-checkpoint" });
  const once = () => [vigil(["agent", "--config", configFile, "--once", "--json"]), vigil(["agent", "--config", configFile, "--once"])];
  const first = once();
  assert.equal(first[0]!.status, 0, first[0]!.stdout + first[0]!.stderr);

  // Someone changes the Secret in the cluster: the next reconcile reports drift, by key and hash.
  const patched = await admin.call({
    verb: "patch",
    method: "PATCH",
    path: `/api/v1/namespaces/${ns}/secrets/db`,
    query: { fieldManager: "intruder" },
    body: { data: { password: Buffer.from(planted.inCluster).toString("base64") } },
    contentType: "application/merge-patch+json",
  });
  assert.equal(patched.status, 200);
  const second = once();
  const drift = (second[0]!.json() as { verdict: { checks: { rule: string; message: string }[] } }[])[0]!.verdict.checks.find(
    (c) => c.rule === "drift",
  )!;
  assert.match(drift.message, /\.data\.password: "sha256:[0-9a-f]{16}" → "sha256:[0-9a-f]{16}"/);

  for (const [i, r] of [...first, ...second].entries()) {
    noPlanted(`agent run ${i} stdout`, r.stdout);
    noPlanted(`agent run ${i} stderr`, r.stderr);
  }
  const get = async (path: string) => (await admin.call({ verb: "get", method: "GET", path })).body;
  noPlanted("status ConfigMap", JSON.stringify(await get("/api/v1/namespaces/vigil-system/configmaps/vigil-status-vault")));
  noPlanted("inventory ConfigMap", JSON.stringify(await get("/api/v1/namespaces/vigil-system/configmaps/vigil-inventory-vault")));
  noPlanted("Events", JSON.stringify(await get("/api/v1/events")));
  const { sql } = await import("./helpers/postgres.ts");
  const rows = await sql(
    server.database("redaction"),
    "SELECT encode(data, 'escape') AS data FROM vigil_audit_entries UNION ALL SELECT note FROM vigil_audit_checkpoints",
  );
  assert.ok(rows.length > 0, "the audit log was written");
  noPlanted("audit log", JSON.stringify(rows));
  const shown = vigil(["audit", "show", "--log", base.toString()]);
  noPlanted("vigil audit show", shown.stdout + shown.stderr);
  server.stop();
});
