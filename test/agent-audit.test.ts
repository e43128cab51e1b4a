// The agent with its audit log and the approval and promotion gate, against real components: config
// repositories signed through git's own ssh signing, approvals made by `vigil approve`, a real
// kube-apiserver, the audit log on a directory and on a real PostgreSQL. Every reconcile is recorded
// (and `vigil audit` verifies and explains it); approvals and promotion block before anything is
// written; a healthy deploy's signed record lands in the log, where promotion finds it; a log that
// cannot be written fails the reconcile's verdict without stopping the loop.
import { strict as assert } from "node:assert";
import { join } from "node:path";
import { before, test, type TestContext } from "node:test";
import { startAgent } from "../src/agent/agent.ts";
import type { ReconcileResult } from "../src/agent/reconcile.ts";
import { revisionOf, signDeploymentRecord } from "../src/approvals/index.ts";
import { deploymentRecord } from "../src/agent/records.ts";
import { openAuditLog, type AuditRecord } from "../src/audit/index.ts";
import type { Cluster } from "../src/cluster/index.ts";
import { openRepo } from "../src/git/repo.ts";
import { agentTestCluster, createNamespace, reconcileOnce, writeAgentConfig } from "./helpers/agent.ts";
import { approvalsFixture, type ApprovalsFixture } from "./helpers/approvals-fixture.ts";
import { makeLogKey, type LogKey } from "./helpers/audit.ts";
import { missingKubeBinaries, requireKube, type KubeCluster } from "./helpers/kube.ts";
import { requirePostgres, startPostgres } from "./helpers/postgres.ts";
import { fileScope, hasTool, requireTools, tempDir, vigil } from "./helpers/tools.ts";

let cluster: KubeCluster;
let admin: Cluster;
const scope = fileScope();

before(async () => {
  if (missingKubeBinaries().length > 0 || !hasTool("ssh-keygen")) return;
  ({ cluster, admin } = await agentTestCluster(scope, null));
});

function ready(t: TestContext): boolean {
  return requireKube(t) && requireTools(t, ["git", "ssh-keygen"]);
}

const namespaceYaml = (ns: string) => `apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ${ns}\n`;
const configMapYaml = (ns: string, name: string, mode = "strict") =>
  `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\n  namespace: ${ns}\ndata:\n  mode: ${mode}\n`;

interface Environment {
  name: "staging" | "prod";
  namespace: string;
  gates?: string[];
}

interface AgentSetup {
  /** The agent's own namespace: each test has its own, so statuses and inventories never meet. */
  agentNamespace: string;
  environments: Environment[];
  audit?: { log: string; key: LogKey };
  /** The cosign key file deployment records are signed with. */
  recordsKey?: string;
  interval?: string;
}

/** Writes an agent configuration for the fixture's repository; creates the agent's namespace. */
async function agentConfig(t: TestContext, f: ApprovalsFixture, setup: AgentSetup): Promise<string> {
  await createNamespace(admin, setup.agentNamespace);
  const audit = setup.audit ? `audit: { log: "${setup.audit.log}", signingKeyFile: ${setup.audit.key.file} }\n` : "";
  const records = setup.recordsKey ? `deploymentRecords: { keyFile: ${setup.recordsKey} }\n` : "";
  return writeAgentConfig(tempDir(t, "vigil-agent-audit-"), {
    trust: f.trust,
    namespace: setup.agentNamespace,
    packs: ["pss-baseline"],
    extra: audit + records,
    environments: setup.environments.map((e) => ({
      name: e.name,
      url: f.repo.dir,
      cluster: cluster.admin.kubeconfigPath,
      namespaces: [e.namespace],
      interval: setup.interval ?? "5m",
      ...(e.gates && { gates: e.gates }),
    })),
  });
}

/** One reconcile of the configuration's first environment, as `vigil agent --once` does. */
async function reconcileFirst(configFile: string): Promise<ReconcileResult> {
  return (await reconcileOnce(configFile))[0]!;
}

async function get(path: string): Promise<any> {
  const answer = await admin.call({ verb: "get", method: "GET", path });
  return answer.status === 200 ? answer.body : undefined;
}

const failures = (r: ReconcileResult) => r.verdict.checks.filter((c) => c.status === "fail");
const only = (r: ReconcileResult, gate: string, rule: string) => {
  const found = r.verdict.checks.filter((c) => c.gate === gate && c.rule === rule);
  assert.equal(found.length, 1, `one ${gate}/${rule} check in ${JSON.stringify(r.verdict.checks, null, 1)}`);
  return found[0]!;
};

/** Every record in the log, read with the verifier key. */
async function records(location: string, key: LogKey): Promise<{ index: number; record: AuditRecord }[]> {
  const log = await openAuditLog(location, { verifierKey: key.verifierKey });
  try {
    const all = [];
    for await (const e of log.entries()) all.push({ index: e.index, record: e.record });
    return all;
  } finally {
    await log.close();
  }
}

test("every reconcile is appended to the log: the reconcile and what it applied; vigil audit verify passes and explain names the commit and its signer", async (t) => {
  if (!ready(t)) return;
  const f = approvalsFixture(t);
  const dir = tempDir(t);
  const key = makeLogKey(dir, "example.com/vigil/agent-test");
  const log = join(dir, "log");
  const configFile = await agentConfig(t, f, {
    agentNamespace: "vigil-a",
    environments: [{ name: "staging", namespace: "a-stg" }],
    audit: { log, key },
  });
  const commit = f.repo.commit(
    { "envs/staging/namespace.yaml": namespaceYaml("a-stg"), "envs/staging/settings.yaml": configMapYaml("a-stg", "settings") },
    f.alice,
  );

  const result = await reconcileFirst(configFile);
  assert.deepEqual(failures(result), []);
  assert.equal(result.applied, true);
  assert.equal(only(result, "approvals", "approvals").status, "skip", "staging asks no approvals: the gate runs and says so");
  assert.match(only(result, "audit", "recorded").message, /^entries 0 to 1$/);

  const written = await records(log, key);
  assert.deepEqual(
    written.map((e) => e.record.kind),
    ["reconcile", "apply"],
  );
  const [reconcile, apply] = written.map((e) => e.record) as [
    Extract<AuditRecord, { kind: "reconcile" }>,
    Extract<AuditRecord, { kind: "apply" }>,
  ];
  assert.equal(reconcile.payload.revision, commit);
  assert.equal(reconcile.payload.verdict, "pass");
  assert.deepEqual(
    reconcile.payload.commits.map((c) => c.signer),
    ["alice"],
  );
  assert.deepEqual(apply.payload.objects.map((o) => `${o.kind} ${o.action}`).sort(), ["ConfigMap create", "Namespace create"]);

  // A second reconcile changes nothing in the cluster, and is recorded all the same.
  const again = await reconcileFirst(configFile);
  assert.match(only(again, "audit", "recorded").message, /^entries 2 to 3$/);
  assert.deepEqual(
    (await records(log, key)).slice(2).map((e) => e.record.kind === "apply" && e.record.payload.objects.map((o) => o.action)),
    [false, ["unchanged", "unchanged"]],
  );

  const verified = vigil(["audit", "verify", "--log", log, "--key", key.verifierKey, "--records"]);
  assert.equal(verified.status, 0, verified.stdout + verified.stderr);
  const explained = vigil(["audit", "explain", "ConfigMap/a-stg/settings", "--env", "staging", "--log", log, "--key", key.verifierKey]);
  assert.equal(explained.status, 0, explained.stdout + explained.stderr);
  assert.match(explained.stdout, new RegExp(`revision ${commit}`));
  assert.match(explained.stdout, new RegExp(`signer +alice \\(.+\\) signed 1: ${commit.slice(0, 12)}`));
});

test("approvals: an environment the trust policy gives an approvals rule is blocked without one (nothing written), even with the gate left out of its gates, and applied once approved", async (t) => {
  if (!ready(t)) return;
  const f = approvalsFixture(t, { approvals: { required: 1, from: ["bob"] }, promotion: undefined });
  const dir = tempDir(t);
  const key = makeLogKey(dir);
  const log = join(dir, "log");
  const configFile = await agentConfig(t, f, {
    agentNamespace: "vigil-b",
    environments: [{ name: "prod", namespace: "b-prod", gates: ["revision", "policy", "artifact"] }],
    audit: { log, key },
  });
  const commit = f.repo.commit(
    { "envs/prod/namespace.yaml": namespaceYaml("b-prod"), "envs/prod/settings.yaml": configMapYaml("b-prod", "settings") },
    f.alice,
  );

  const blocked = await reconcileFirst(configFile);
  assert.equal(blocked.exitCode, 1);
  assert.equal(blocked.applied, false);
  const [first] = failures(blocked);
  assert.equal(first!.gate, "approvals");
  assert.match(
    first!.message,
    /^0 of 1 required deploy approvals for prod; 1 more needed from bob .*"vigil approve --env prod --rev [0-9a-f]{40}"/,
  );
  assert.equal(await get("/api/v1/namespaces/b-prod"), undefined, "nothing is written");
  assert.equal(blocked.steps.render, undefined, "an unapproved revision is not even rendered");
  assert.match(only(blocked, "audit", "recorded").message, /^entry 0$/, "the block is recorded");

  assert.equal(f.approve(f.bob, commit).status, 0);
  const approved = await reconcileFirst(configFile);
  assert.deepEqual(failures(approved), []);
  assert.equal(approved.applied, true);
  assert.match(only(approved, "approvals", "approvals").message, /^1 of 1 required deploy approvals for prod \(bob\)$/);
  assert.equal((await get("/api/v1/namespaces/b-prod/configmaps/settings")).data.mode, "strict");

  const explained = vigil(["audit", "explain", "ConfigMap/b-prod/settings", "--env", "prod", "--log", log, "--key", key.verifierKey]);
  assert.equal(explained.status, 0, explained.stderr);
  assert.match(explained.stdout, /approvals +approvals: [0-9a-f]{40}: 1 of 1 required deploy approvals for prod \(bob\)/);
});

test("promotion: staging's healthy deploy leaves a signed record in the log, which lets prod take the tree; without it, or with a record signed by another key, prod is blocked", async (t) => {
  if (!ready(t)) return;
  const f = approvalsFixture(t, { approvals: undefined, promotion: { after: "staging", soak: "0s" } });
  const dir = tempDir(t);
  const key = makeLogKey(dir);
  const log = join(dir, "log");
  const staging = await agentConfig(t, f, {
    agentNamespace: "vigil-c",
    environments: [{ name: "staging", namespace: "c-stg" }],
    audit: { log, key },
    recordsKey: f.staging.file,
  });
  const prod = await agentConfig(t, f, {
    agentNamespace: "vigil-c2",
    environments: [{ name: "prod", namespace: "c-prod" }],
    audit: { log, key },
  });
  const files = (mode: string) => ({
    "envs/staging/namespace.yaml": namespaceYaml("c-stg"),
    "envs/staging/settings.yaml": configMapYaml("c-stg", "settings", mode),
    "envs/prod/namespace.yaml": namespaceYaml("c-prod"),
    "envs/prod/settings.yaml": configMapYaml("c-prod", "settings", mode),
  });
  const commit = f.repo.commit(files("strict"), f.alice);
  const tree = f.repo.git("rev-parse", `${commit}^{tree}`);

  const early = await reconcileFirst(prod);
  assert.equal(early.exitCode, 1);
  assert.equal(failures(early)[0]!.gate, "promotion");
  assert.match(
    failures(early)[0]!.message,
    new RegExp(
      `^tree ${tree.slice(0, 12)} of ${commit.slice(0, 12)} has no deployment record signed by staging's agent: prod takes only what ran in staging first`,
    ),
  );
  assert.equal(await get("/api/v1/namespaces/c-prod"), undefined);

  const deployed = await reconcileFirst(staging);
  assert.deepEqual(failures(deployed), []);
  assert.equal(deployed.health, "healthy");
  assert.match(
    only(deployed, "audit", "recorded").message,
    new RegExp(`^entries 1 to 3, with a deployment record of tree ${tree.slice(0, 12)} signed by this agent's key$`),
  );
  const recorded = (await records(log, key)).filter((e) => e.record.kind === "deployment");
  assert.equal(recorded.length, 1);
  const [{ index, record }] = recorded as [{ index: number; record: Extract<AuditRecord, { kind: "deployment" }> }];
  assert.equal(record.environment, "staging");
  assert.deepEqual(record.payload.revision, { commit, tree });
  const statement = JSON.parse(Buffer.from(JSON.parse(record.payload.envelope).payload, "base64").toString());
  assert.equal(statement.predicateType, "https://vigil.dev/deployment/v1");
  assert.equal(statement.predicate.environment, "staging");
  assert.equal(f.repo.git("for-each-ref", "refs/vigil/"), "", "the agent writes nothing to Git");

  // Healthy again at the same tree: no second record.
  const steady = await reconcileFirst(staging);
  assert.match(only(steady, "audit", "recorded").message, /^entries 4 to 5$/);

  const promoted = await reconcileFirst(prod);
  assert.deepEqual(failures(promoted), []);
  assert.equal(promoted.applied, true);
  const seen = only(promoted, "promotion", "deployment-record");
  assert.equal(seen.subject, `audit log entry ${index}`);
  assert.match(seen.message, new RegExp(`^staging's agent deployed ${commit.slice(0, 12)} \\(tree ${tree.slice(0, 12)}\\) at `));
  assert.match(
    only(promoted, "promotion", "promotion").message,
    new RegExp(`^tree ${tree.slice(0, 12)} of ${commit.slice(0, 12)} ran healthy in staging from `),
  );
  assert.equal((await get("/api/v1/namespaces/c-prod/configmaps/settings")).data.mode, "strict");

  // Whoever can append to the log (its signing key) records the next tree with another key: not counted.
  const next = f.repo.commit(files("relaxed"), f.alice);
  const source = await openRepo(f.repo.dir);
  const revision = await revisionOf(source, next);
  source.close();
  const forged = signDeploymentRecord({
    environment: "staging",
    revision,
    key: f.rogue.key,
    deployedAt: new Date(Date.now() - 3_600_000),
    healthyAt: new Date(Date.now() - 3_600_000),
  });
  const writer = await openAuditLog(log, { signingKeyFile: key.file });
  const forgedAt = (await writer.append([deploymentRecord({ environment: "staging", revision, envelope: forged.envelope })]))[0]!.index;
  await writer.close();
  const refused = await reconcileFirst(prod);
  assert.equal(refused.exitCode, 1);
  const notCounted = only(refused, "promotion", "deployment-record");
  assert.equal(notCounted.subject, `audit log entry ${forgedAt}`);
  assert.equal(notCounted.status, "warn");
  assert.match(
    notCounted.message,
    /^not counted: is not a deployment record signed by staging's agent: .*staging's agent key ecdsa-p256 SHA256:/,
  );
  assert.match(only(refused, "promotion", "promotion").message, /has no deployment record signed by staging's agent/);
  assert.equal((await get("/api/v1/namespaces/c-prod/configmaps/settings")).data.mode, "strict", "prod keeps the promoted revision");

  // An agent configured with a key the trust policy does not name for its environment does not start.
  const rogue = await agentConfig(t, f, {
    agentNamespace: "vigil-c3",
    environments: [{ name: "staging", namespace: "c-stg" }],
    audit: { log, key },
    recordsKey: f.rogue.file,
  });
  await assert.rejects(
    startAgent({ configFile: rogue, onResult: () => {} }),
    /deploymentRecords\.keyFile: .*rogue-agent\.key is not the key of staging's agent \(.*vigil\.trust\.yaml:\d+ environments\[0\]\.agent\.key\): records it signs would not count for promotion/,
  );
});

test("a log that cannot be reached (PostgreSQL gone): nothing is deployed on evidence that cannot be verified, the reconcile fails with exit 3 saying why, and the loop goes on", async (t) => {
  if (!ready(t)) return;
  const bin = requirePostgres(t);
  if (!bin) return;
  const server = startPostgres(t, bin);
  const f = approvalsFixture(t);
  const key = makeLogKey(tempDir(t));
  const location = server.database("agent_audit");
  const configFile = await agentConfig(t, f, {
    agentNamespace: "vigil-d",
    environments: [{ name: "staging", namespace: "d-stg" }],
    audit: { log: location, key },
    interval: "1h",
  });
  f.repo.commit({ "envs/staging/namespace.yaml": namespaceYaml("d-stg") }, f.alice);

  const results: ReconcileResult[] = [];
  const agent = await startAgent({ configFile, onResult: (r) => results.push(r) });
  t.after(() => agent.stop());
  assert.deepEqual(agent.audit, { log: location, deploymentRecords: false });
  const looping = agent.loop();
  await until("the first reconcile", () => results.length >= 1);
  assert.deepEqual(failures(results[0]!), []);
  assert.match(only(results[0]!, "audit", "recorded").message, /^entries 0 to 1$/);

  // Approvals, promotion and first sightings come from the log: without it, nothing is applied.
  server.stop();
  f.repo.commit({ "envs/staging/more.yaml": namespaceYaml("d-stg-2") }, f.alice);
  for (const n of [2, 3]) {
    assert.ok(agent.trigger("staging"));
    await until(`reconcile ${n}`, () => results.length >= n);
    const r = results[n - 1]!;
    const evidence = only(r, "audit", "evidence");
    assert.equal(evidence.status, "fail");
    assert.match(
      evidence.message,
      /^the audit log cannot be read: .*; approvals, promotion and first sightings come from it, so nothing is deployed until it can be/,
    );
    assert.equal(r.exitCode, 3, "the log is unreachable");
    assert.equal(r.applied, false);
  }
  assert.equal(
    (await get("/api/v1/namespaces")).items.some((n: { metadata: { name: string } }) => n.metadata.name === "d-stg-2"),
    false,
    "nothing was applied",
  );
  const status = (await get("/api/v1/namespaces/vigil-d/configmaps/vigil-status-staging")).data;
  assert.equal(status.verdict, "fail");
  assert.match(status.message, /^audit: /);
  await agent.stop();
  await looping;
});

async function until(what: string, condition: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
