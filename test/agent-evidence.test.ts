// The agent's audit log is evidence (issue 14 §5): on a real API server, a log rolled back to an older
// copy, cut, or edited blocks every reconcile with the reason, in the agent that was running when it
// happened and in one started afterwards (the checkpoint it keeps lives in a ConfigMap, outside the log);
// and `vigil verify release --log --checkpoint` reaches the agent's verdict on the same evidence.
import { strict as assert } from "node:assert";
import { cpSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { before, test } from "node:test";
import { startAgent } from "../src/agent/agent.ts";
import type { ReconcileResult } from "../src/agent/reconcile.ts";
import type { Cluster } from "../src/cluster/index.ts";
import { agentTestCluster, createNamespace, writeAgentConfig } from "./helpers/agent.ts";
import { makeLogKey } from "./helpers/audit.ts";
import { SshSigner, TestRepo, writePolicy } from "./helpers/git-fixture.ts";
import { missingKubeBinaries, requireKube, type KubeCluster } from "./helpers/kube.ts";
import { fileScope, tempDir, vigil } from "./helpers/tools.ts";

const scope = fileScope();
let cluster: KubeCluster;
let admin: Cluster;
before(async () => {
  if (missingKubeBinaries().length === 0) ({ cluster, admin } = await agentTestCluster(scope, null));
});

const configMap = (namespace: string, name: string, value: string) =>
  `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\n  namespace: ${namespace}\ndata:\n  value: "${value}"\n`;

/** A signed config repository for environment `env` deploying into namespace `env`, and an agent configuration with a directory log. */
async function setup(t: import("node:test").TestContext, env: string) {
  const dir = tempDir(t);
  const alice = new SshSigner(dir, "alice");
  const repo = new TestRepo(join(dir, "config"));
  repo.commit({ [`envs/${env}/a.yaml`]: configMap(env, "a", "1") }, alice);
  const trust = writePolicy(join(dir, "trust.yaml"), {
    signers: [alice.policyEntry],
    paths: [{ pattern: "**", owners: ["alice"] }],
    environments: [{ name: env, branch: "main", path: `envs/${env}` }],
  });
  // Each test its own agent namespace: the agent keeps its log's checkpoint there.
  await createNamespace(admin, env);
  await createNamespace(admin, `vigil-${env}`);
  const key = makeLogKey(dir, "example.com/vigil/evidence-test");
  const log = join(dir, "audit-log");
  const configFile = writeAgentConfig(dir, {
    trust,
    namespace: `vigil-${env}`,
    packs: ["pss-restricted"],
    extra: `audit: { log: "${log}", signingKeyFile: ${key.file} }\n`,
    environments: [{ name: env, url: repo.dir, cluster: cluster.admin.kubeconfigPath, namespaces: [env] }],
  });
  return { dir, alice, repo, trust, log, configFile, key };
}

async function agentFor(configFile: string) {
  const agent = await startAgent({ configFile, onResult: () => {} });
  return { reconcile: async (): Promise<ReconcileResult> => (await agent.reconcileAll())[0]!, stop: () => agent.stop() };
}

function evidenceFailure(r: ReconcileResult): string {
  const failed = r.verdict.checks.find((c) => c.gate === "audit" && c.rule === "evidence" && c.status === "fail");
  assert.ok(failed, `an audit evidence check fails: ${JSON.stringify(r.verdict.checks, null, 1)}`);
  assert.equal(r.applied, false, "nothing is applied on evidence that does not verify");
  return failed.message;
}

async function keptCheckpoint(agentNamespace: string, file: string): Promise<string> {
  const answer = await admin.call({
    verb: "get",
    method: "GET",
    path: `/api/v1/namespaces/${agentNamespace}/configmaps/vigil-audit-checkpoint`,
  });
  writeFileSync(file, answer.body.data.checkpoint);
  return file;
}

test("a log rolled back to an older copy blocks the running agent and a freshly started one; verify release --log with the kept checkpoint agrees", async (t) => {
  if (!requireKube(t)) return;
  const { dir, alice, repo, trust, log, configFile } = await setup(t, "ev-rollback");
  const running = await agentFor(configFile);
  t.after(() => running.stop());
  assert.equal((await running.reconcile()).verdict.verdict, "pass");
  cpSync(log, join(dir, "older-copy"), { recursive: true });
  repo.commit({ "envs/ev-rollback/b.yaml": configMap("ev-rollback", "b", "2") }, alice);
  assert.equal((await running.reconcile()).verdict.verdict, "pass");

  const release = (checkpoint: string) =>
    vigil([
      "verify",
      "release",
      "--repo",
      repo.dir,
      "--trust",
      trust,
      "--env",
      "ev-rollback",
      "--log",
      log,
      "--checkpoint",
      checkpoint,
      "--json",
    ]);
  const agreed = release(await keptCheckpoint("vigil-ev-rollback", join(dir, "kept-before")));
  assert.equal(agreed.status, 0, `verify release on the agent's own evidence passes as the agent did:\n${agreed.stdout}${agreed.stderr}`);

  rmSync(log, { recursive: true });
  cpSync(join(dir, "older-copy"), log, { recursive: true });
  repo.commit({ "envs/ev-rollback/c.yaml": configMap("ev-rollback", "c", "3") }, alice);
  assert.match(evidenceFailure(await running.reconcile()), /does not verify/);

  const fresh = await agentFor(configFile);
  t.after(() => fresh.stop());
  assert.match(evidenceFailure(await fresh.reconcile()), /does not verify/);
  assert.equal(
    (await admin.call({ verb: "get", method: "GET", path: "/api/v1/namespaces/ev-rollback/configmaps/c" })).status,
    404,
    "nothing of the new revision was applied",
  );

  const refused = release(await keptCheckpoint("vigil-ev-rollback", join(dir, "kept-after")));
  assert.equal(refused.status, 1, `verify release refuses the rolled-back log as the agent does:\n${refused.stdout}${refused.stderr}`);
});

test("a record edited in the log's files blocks a freshly started agent", async (t) => {
  if (!requireKube(t)) return;
  const { log, configFile } = await setup(t, "ev-edited");
  const first = await agentFor(configFile);
  assert.equal((await first.reconcile()).verdict.verdict, "pass");
  await first.stop();

  // One byte of the first entry changed: its hash no longer matches the tree the signed checkpoint names.
  const entries = readFileSync(join(log, "entries"));
  const at = entries.indexOf('"reconcile"');
  assert.ok(at > 0);
  entries[at + 1] = "R".charCodeAt(0);
  writeFileSync(join(log, "entries"), entries);

  const fresh = await agentFor(configFile);
  t.after(() => fresh.stop());
  assert.match(evidenceFailure(await fresh.reconcile()), /does not verify/);
});
