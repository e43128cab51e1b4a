// Issue 22's "no secret reaches any output channel", through the real agent and everything that shows
// what it did: a revision adding a token of every kind the scanner knows, after one that delivered a
// SOPS-encrypted Secret, reconciled by `vigil agent --once` against a real kube-apiserver with an audit
// log. Every channel a person or a machine reads is then searched for every secret (any 12-character
// piece of it), the SOPS plaintext (and its base64), and the agent's age identity: the verdict (JSON and
// table), the agent's log lines (its loop-mode log, fed each reconcile), `vigil secrets scan` (table, JSON, SARIF), `vigil verify release`
// (table, SARIF), the audit log's files and `vigil audit show`/`export`, the status ConfigMap, every
// Event in the cluster, the console's API (environments, entries, explain, search, export), and the
// agent's Prometheus metrics after it observed those reconciles.
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { before, test } from "node:test";
import { generateX25519Identity, identityToRecipient } from "age-encryption";
import { Agent as HttpsAgent, fetch } from "undici";
import { loadAgentConfig } from "../src/agent/config.ts";
import { AgentLog, configuredSecrets } from "../src/agent/log.ts";
import { AgentMetrics } from "../src/agent/metrics.ts";
import { newToken } from "../src/cli/commands/console.ts";
import type { Cluster } from "../src/cluster/index.ts";
import { loadConsoleConfig } from "../src/console/config.ts";
import { startConsole } from "../src/console/server.ts";
import { agentTestCluster, createNamespace, reconcileOnce, writeAgentConfig } from "./helpers/agent.ts";
import { makeLogKey } from "./helpers/audit.ts";
import { soleOwnerPolicy, SshSigner, TestRepo } from "./helpers/git-fixture.ts";
import { missingKubeBinaries, requireKube, type KubeCluster } from "./helpers/kube.ts";
import { cryptoRandom, plantedLine, tokenKinds } from "./helpers/secret-tokens.ts";
import { fileScope, hasTool, requireTools, run, tempDir, vigil } from "./helpers/tools.ts";

let cluster: KubeCluster;
let admin: Cluster;
let alice: SshSigner;
const scope = fileScope();

before(async () => {
  if (missingKubeBinaries().length > 0 || !hasTool("ssh-keygen") || !hasTool("sops")) return;
  ({ cluster, admin } = await agentTestCluster(scope));
  alice = new SshSigner(tempDir(scope, "vigil-secrets-channels-keys-"), "alice");
});

/** Fails naming the channel when `text` holds any 12-character piece of a secret. */
function assertNoSecret(channel: string, text: string, secrets: readonly string[]): void {
  for (const secret of secrets)
    for (let i = 0; i + 12 <= secret.length; i += 4)
      assert.ok(!text.includes(secret.slice(i, i + 12)), `${channel} shows part of a secret: …${secret.slice(i, i + 4)}…`);
}

const files = (d: string): string[] =>
  readdirSync(d).flatMap((n) => (statSync(join(d, n)).isDirectory() ? files(join(d, n)) : [join(d, n)]));

async function get(path: string): Promise<any> {
  const answer = await admin.call({ verb: "get", method: "GET", path });
  return answer.status === 200 ? answer.body : undefined;
}

test("no secret, SOPS plaintext or key reaches the verdict, logs, scans, SARIF, audit log, status, Events, console API or metrics", async (t) => {
  if (!requireKube(t) || !requireTools(t, ["ssh-keygen", "git", "sops"])) return;
  const env = "channels";
  const ns = `${env}-shop`;
  await createNamespace(admin, ns);

  // The agent's SOPS key, in a Secret of its own namespace, as the agent's configuration names it.
  const identity = await generateX25519Identity();
  await admin.call({
    verb: "create",
    method: "POST",
    path: "/api/v1/namespaces/vigil-system/secrets",
    body: {
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: "channels-sops" },
      data: { "age.agekey": Buffer.from(`${identity}\n`).toString("base64") },
    },
  });

  const dir = tempDir(t, "vigil-secrets-channels-");
  const key = makeLogKey(dir);
  const log = join(dir, "audit");
  const trust = soleOwnerPolicy(join(dir, "trust.yaml"), alice, env);
  const repo = new TestRepo(join(dir, "config"));
  const configFile = writeAgentConfig(dir, {
    trust,
    packs: ["pss-baseline"],
    extra: `sops: { secret: channels-sops }\naudit: { log: "${log}", signingKeyFile: ${key.file} }\n`,
    environments: [{ name: env, url: repo.dir, cluster: cluster.admin.kubeconfigPath, namespaces: [ns] }],
  });

  // Revision 1: a ConfigMap and a Secret encrypted by the real sops; the agent applies it decrypted.
  const plaintext = "Vx9qLm27RtPz84KcWn53";
  const plainFile = join(dir, "db.yaml");
  writeFileSync(
    plainFile,
    `apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  namespace: ${ns}\ntype: Opaque\nstringData:\n  password: "${plaintext}"\n`,
  );
  const encrypted = run(
    "sops",
    ["--encrypt", "--age", await identityToRecipient(identity), "--encrypted-regex", "^(data|stringData)$", plainFile],
    {
      env: { SOPS_AGE_KEY_FILE: "/nonexistent" },
    },
  );
  const configMap = (extra = "") =>
    `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: ${ns}\ndata:\n  mode: strict\n${extra}`;
  const good = repo.commit(
    { [`envs/${env}/settings.yaml`]: configMap(), [`envs/${env}/db.yaml`]: encrypted },
    alice,
    "TICKET-1: settings and db",
  );
  // The agent's metrics and its loop-mode log lines, fed every reconcile as the agent feeds them.
  const outputs: [string, string][] = [];
  const metrics = new AgentMetrics([env]);
  let logLines = "";
  const agentLog = new AgentLog(configuredSecrets(loadAgentConfig(configFile)), (line) => (logLines += line));
  const reconcile = async () => {
    const [result] = await reconcileOnce(configFile);
    metrics.observe(result!);
    agentLog.reconcile(result!);
    outputs.push([`reconcile result ${result!.revision}`, JSON.stringify(result)]);
    return result!;
  };
  const applied = await reconcile();
  assert.equal(applied.exitCode, 0, JSON.stringify(applied.verdict.checks.filter((c) => c.status === "fail")));
  const delivered = await get(`/api/v1/namespaces/${ns}/secrets/db`);
  assert.equal(Buffer.from(delivered.data.password, "base64").toString("utf8"), plaintext, "the Secret is applied decrypted");

  // Revision 2: a token of every kind, in a ConfigMap's comments: blocked by the secrets gate.
  const planted = tokenKinds.map((k) => plantedLine(k, cryptoRandom));
  const comments = planted
    .map((p) =>
      p.line
        .split("\n")
        .map((l) => `# ${l}\n`)
        .join(""),
    )
    .join("");
  const leak = repo.commit({ [`envs/${env}/settings.yaml`]: configMap(comments) }, alice, "TICKET-2: more settings");
  const blocked = await reconcile();
  assert.equal(blocked.exitCode, 1);
  const failed = blocked.verdict.checks.filter((c) => c.status === "fail");
  assert.equal(failed.length, tokenKinds.length, "one failing check per planted token");
  assert.ok(failed.every((c) => c.gate === "secrets" && c.subject === leak));
  // As a person runs it: the verdict as JSON and as a table.
  for (const format of [["--json"], []]) {
    const r = vigil(["agent", "--once", "--config", configFile, ...format]);
    assert.equal(r.status, 1, r.stdout + r.stderr);
    outputs.push([`agent --once ${format.join(" ")}`, r.stdout + r.stderr]);
  }
  assert.match(outputs.at(-1)![1], /fingerprint [0-9a-f]{32}/);

  // The same range through the commands people and CI run.
  for (const format of [[], ["--json"], ["-o", "sarif"]]) {
    const r = vigil(["secrets", "scan", "--repo", repo.dir, "--trust", trust, "--from", good, "--to", leak, ...format]);
    assert.equal(r.status, 1, r.stderr);
    outputs.push([`secrets scan ${format.join(" ")}`, r.stdout + r.stderr]);
  }
  for (const format of [[], ["-o", "sarif"]]) {
    const r = vigil(["verify", "release", "--repo", repo.dir, "--trust", trust, "--env", env, "--rev", leak, ...format]);
    assert.equal(r.status, 1, r.stdout + r.stderr);
    assert.match(r.stdout, /fingerprint [0-9a-f]{32}/, "the release's secrets checks are in it");
    outputs.push([`verify release ${format.join(" ")}`, r.stdout + r.stderr]);
  }

  // The audit log: its files as stored, and as the audit commands print them.
  for (const f of files(log)) outputs.push([`audit log file ${f}`, readFileSync(f).toString("latin1")]);
  for (const args of [["show", "--json"], ["show"], ["export"]]) {
    const r = vigil(["audit", ...args, "--log", log, "--key", key.verifierKey]);
    assert.equal(r.status, 0, r.stderr);
    outputs.push([`audit ${args.join(" ")}`, r.stdout + r.stderr]);
  }
  assert.match(outputs.at(-1)![1], /"gate":"secrets"/, "the blocked reconcile is in the audit log");

  // The cluster: the status ConfigMap and every Event anywhere.
  outputs.push(["status ConfigMap", JSON.stringify(await get(`/api/v1/namespaces/vigil-system/configmaps/vigil-status-${env}`))]);
  const events = await get("/api/v1/events");
  assert.ok(events.items.length > 0, "the agent recorded Events");
  outputs.push(["Events", JSON.stringify(events)]);

  // The console's API over the agent's audit log.
  const auditor = newToken("dana", "auditor");
  const consoleFile = join(dir, "console.yaml");
  writeFileSync(
    consoleFile,
    `apiVersion: vigil.dev/v1alpha1\nkind: ConsoleConfig\nlisten: 127.0.0.1:0\ntls: { generate: localhost }\naudit:\n  log: "${log}"\n  verifierKey: "${key.verifierKey}"\ntokens:\n  - { name: dana, role: auditor, sha256: ${auditor.entry.sha256} }\n`,
  );
  const running = await startConsole(loadConsoleConfig(consoleFile));
  t.after(() => running.close());
  const dispatcher = new HttpsAgent({ connect: { ca: running.certificate } });
  const api = async (path: string) => {
    const response = await fetch(new URL(path, running.url), { dispatcher, headers: { authorization: `Bearer ${auditor.token}` } });
    const text = await response.text();
    assert.equal(response.status, 200, `${path}: ${text}`);
    return text;
  };
  const search = JSON.parse(await api("/api/v1/audit/search?limit=100")) as { entries: { index: number }[] };
  assert.ok(search.entries.length >= 2);
  outputs.push(["console audit search", JSON.stringify(search)]);
  outputs.push(["console audit export", await api("/api/v1/audit/export")]);
  outputs.push(["console environments", await api("/api/v1/environments")]);
  outputs.push(["console environment", await api(`/api/v1/environments/${env}`)]);
  outputs.push(["console explain", await api(`/api/v1/explain?env=${env}&target=${encodeURIComponent(`Secret/${ns}/db`)}`)]);
  for (const e of search.entries) outputs.push([`console entry ${e.index}`, await api(`/api/v1/entries/${e.index}`)]);

  // The metrics as the agent's Prometheus endpoint serves them, and the log lines.
  const served = await metrics.serve("127.0.0.1:0");
  t.after(() => served.close());
  const scraped = await (await fetch(new URL("/metrics", served.url))).text();
  assert.match(scraped, /vigil_gate_failures_total\{environment="channels",gate="secrets"\} 1/);
  outputs.push(["metrics", scraped]);
  assert.match(logLines, /"firstFailure":\{"gate":"secrets"/);
  outputs.push(["agent log lines", logLines]);

  const secrets = [...planted.map((p) => p.secret), plaintext, Buffer.from(plaintext).toString("base64"), identity.slice(16)];
  for (const [channel, text] of outputs) assertNoSecret(channel, text, secrets);
});
