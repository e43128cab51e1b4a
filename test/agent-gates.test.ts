// The gates wired into the agent's chain after the first four, each through the real agent (startAgent,
// one reconcile as `vigil agent --once`) against a real kube-apiserver: the server-side dry run, the
// secrets gate, the vulnerability gate (a real registry, attested SBOMs) and SOPS decryption (files
// encrypted by the real sops binary). A revision any of them blocks writes nothing, and the cluster keeps
// the last good revision; no secret reaches a verdict, status, Event, log line or audit log.
import { strict as assert } from "node:assert";
import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { before, test, type TestContext } from "node:test";
import { generateX25519Identity, identityToRecipient } from "age-encryption";
import type { ReconcileResult } from "../src/agent/reconcile.ts";
import type { Cluster } from "../src/cluster/index.ts";
import { PREDICATE_TYPES } from "../src/sigstore/intoto.ts";
import { advisoryStore, releaseWithLodash } from "./helpers/advisories.ts";
import { agentTestCluster, createNamespace, reconcileOnce, writeAgentConfig, type AgentEnvironment } from "./helpers/agent.ts";
import { makeLogKey } from "./helpers/audit.ts";
import { soleOwnerPolicy, SshSigner, TestRepo } from "./helpers/git-fixture.ts";
import { cosignKeyPair, signingRegistry, type CosignKeyPair, type SigningRegistry } from "./helpers/image-signing.ts";
import { missingKubeBinaries, requireKube, type KubeCluster } from "./helpers/kube.ts";
import { cryptoRandom, plantedLine, tokenKinds } from "./helpers/secret-tokens.ts";
import { fileScope, hasTool, requireTools, run, tempDir, vigil } from "./helpers/tools.ts";

let cluster: KubeCluster;
let admin: Cluster;
let registry: SigningRegistry;
let imageKey: CosignKeyPair;
let alice: SshSigner;
const scope = fileScope();

before(async () => {
  if (missingKubeBinaries().length > 0 || !hasTool("docker-registry") || !hasTool("cosign") || !hasTool("ssh-keygen")) return;
  ({ cluster, admin } = await agentTestCluster(scope));
  registry = await signingRegistry(scope);
  imageKey = cosignKeyPair(registry.dir, "ci");
  alice = new SshSigner(tempDir(scope, "vigil-agent-gates-keys-"), "alice");
});

function ready(t: TestContext, tools: string[] = []): boolean {
  return requireKube(t) && requireTools(t, ["docker-registry", "cosign", "ssh-keygen", "git", ...tools]);
}

const configMapYaml = (ns: string, name: string, mode = "strict") =>
  `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\n  namespace: ${ns}\ndata:\n  mode: ${mode}\n`;

interface Workspace {
  dir: string;
  repo: TestRepo;
  configFile: string;
  env: string;
  ns: string;
}

/** A config repository for `env` (its namespace made beforehand), its trust policy and the agent's configuration. */
async function workspace(
  t: TestContext,
  env: string,
  options: { images?: Record<string, unknown>[]; extra?: string; envExtra?: string; trustGates?: Record<string, boolean> } = {},
): Promise<Workspace> {
  const dir = tempDir(t, "vigil-agent-gates-");
  const ns = `${env}-shop`;
  await createNamespace(admin, ns);
  const trust = soleOwnerPolicy(join(dir, "trust.yaml"), alice, env, {
    images: options.images ?? [{ pattern: `${registry.registry.host}/**`, signers: [{ key: imageKey.publicPem }] }],
    ...(options.trustGates && { environments: [{ name: env, branch: "main", path: `envs/${env}`, gates: options.trustGates }] }),
  });
  const repo = new TestRepo(join(dir, "config"));
  const environment: AgentEnvironment = {
    name: env,
    url: repo.dir,
    cluster: cluster.admin.kubeconfigPath,
    namespaces: [ns],
    ...(options.envExtra && { extra: options.envExtra }),
  };
  const configFile = writeAgentConfig(dir, {
    trust,
    packs: ["pss-baseline"],
    extra: `insecureRegistries: ["${registry.registry.host}"]\n${options.extra ?? ""}`,
    environments: [environment],
  });
  return { dir, repo, configFile, env, ns };
}

const reconcile = async (w: Workspace): Promise<ReconcileResult> => (await reconcileOnce(w.configFile))[0]!;

async function get(path: string): Promise<any> {
  const answer = await admin.call({ verb: "get", method: "GET", path });
  return answer.status === 200 ? answer.body : undefined;
}

const status = (env: string) => get(`/api/v1/namespaces/vigil-system/configmaps/vigil-status-${env}`).then((cm) => cm?.data);
const events = (env: string) => get(`/api/v1/namespaces/vigil-system/events?fieldSelector=involvedObject.name%3Dvigil-status-${env}`);
const failures = (r: ReconcileResult) => r.verdict.checks.filter((c) => c.status === "fail");

test("dry run: a revision the API server refuses (an ExternalName Service without its externalName) is blocked before any write", async (t) => {
  if (!ready(t)) return;
  const w = await workspace(t, "dryrun");
  const good = w.repo.commit({ "envs/dryrun/settings.yaml": configMapYaml(w.ns, "settings") }, alice);
  const first = await reconcile(w);
  assert.equal(first.exitCode, 0, JSON.stringify(failures(first)));
  assert.equal(first.verdict.checks.find((c) => c.gate === "dry-run")?.status, "pass");

  const service = `apiVersion: v1
kind: Service
metadata: { name: api, namespace: ${w.ns} }
spec:
  type: ExternalName
  ports:
    - { port: 80 }
`;
  w.repo.commit({ "envs/dryrun/settings.yaml": configMapYaml(w.ns, "settings", "open"), "envs/dryrun/service.yaml": service }, alice);
  const blocked = await reconcile(w);
  assert.equal(blocked.exitCode, 1);
  const failed = failures(blocked);
  assert.equal(failed[0]!.gate, "dry-run", JSON.stringify(failed));
  assert.match(failed[0]!.subject, /Service/);
  assert.match(failed[0]!.message, /externalName/);
  // The policy gate's offline checks passed it: only the API server refuses it.
  assert.equal(blocked.verdict.checks.filter((c) => c.gate === "policy" && c.status === "fail").length, 0);
  assert.equal(blocked.applied, false);
  assert.equal(await get(`/api/v1/namespaces/${w.ns}/services/api`), undefined, "nothing of the revision was written");
  assert.equal((await get(`/api/v1/namespaces/${w.ns}/configmaps/settings`)).data.mode, "strict");
  assert.equal((await status("dryrun")).lastApplied, good);
});

test("secrets: a signed commit that adds a token is blocked, the last good revision kept, and no part of the token is printed", async (t) => {
  if (!ready(t)) return;
  const w = await workspace(t, "leak");
  const good = w.repo.commit({ "envs/leak/settings.yaml": configMapYaml(w.ns, "settings") }, alice);
  const first = await reconcile(w);
  assert.equal(first.exitCode, 0, JSON.stringify(failures(first)));
  assert.equal(first.verdict.checks.find((c) => c.gate === "secrets")?.status, "pass");

  const aws = tokenKinds.find((k) => k.rule === "aws-access-token")!;
  const { line, secret } = plantedLine(aws, cryptoRandom);
  const leak = w.repo.commit({ "envs/leak/settings.yaml": `${configMapYaml(w.ns, "settings", "open")}# ${line}\n` }, alice);
  const blocked = await reconcile(w);
  assert.equal(blocked.exitCode, 1);
  const failed = failures(blocked);
  assert.equal(failed.length, 1, JSON.stringify(failed));
  assert.equal(failed[0]!.gate, "secrets");
  assert.equal(failed[0]!.rule, "aws-access-token");
  assert.match(failed[0]!.subject + failed[0]!.message, new RegExp(leak.slice(0, 12)));
  assert.ok(!blocked.verdict.checks.some((c) => c.gate === "render"), "nothing after the secrets gate ran");
  assert.equal((await get(`/api/v1/namespaces/${w.ns}/configmaps/settings`)).data.mode, "strict");
  const after = await status("leak");
  assert.equal(after.lastApplied, good, "the cluster keeps the last good revision");
  assert.equal(after.verdict, "fail");
  const printed = [JSON.stringify(blocked.verdict), JSON.stringify(after), JSON.stringify(await events("leak"))];
  for (const text of printed) assertNoPart(text, secret);
});

test("only the signed trust policy turns the secrets and dry-run gates off: each a skip check naming its line", async (t) => {
  if (!ready(t)) return;
  const w = await workspace(t, "gatesoff", { trustGates: { secrets: false, "dry-run": false } });
  const { line } = plantedLine(tokenKinds.find((k) => k.rule === "aws-access-token")!, cryptoRandom);
  w.repo.commit({ "envs/gatesoff/settings.yaml": `${configMapYaml(w.ns, "settings")}# ${line}\n` }, alice);
  const result = await reconcile(w);
  assert.equal(result.exitCode, 0, JSON.stringify(failures(result)));
  for (const gate of ["secrets", "dry-run"]) {
    const off = result.verdict.checks.filter((c) => c.gate === gate);
    assert.equal(off.length, 1, JSON.stringify(off));
    assert.equal(off[0]!.status, "skip");
    assert.match(
      off[0]!.message,
      new RegExp(`the ${gate} gate is off for gatesoff by the trust policy \\(\\S*trust\\.yaml:\\d+ environments\\[0\\]\\.gates\\.${gate}`),
    );
  }
});

/** Neither the secret nor any 8-character run of it is in `text`. */
function assertNoPart(text: string, secret: string): void {
  for (let i = 0; i + 8 <= secret.length; i++)
    assert.ok(!text.includes(secret.slice(i, i + 8)), `part of the secret is printed: …${secret.slice(i, i + 8)}…`);
}

test("vulnerability: through the agent, an image with a finding at the environment's threshold is blocked; a VEX statement lets it through", async (t) => {
  if (!ready(t)) return;
  const dir = tempDir(t, "vigil-agent-vuln-");
  (await advisoryStore(dir)).close();

  /** An image signed and attested with an SBOM holding lodash at `lodash`. */
  const release = (tag: string, lodash: string) => releaseWithLodash(registry, imageKey, `${registry.registry.host}/vuln/api`, tag, lodash);
  const deployment = (ns: string, image: string) => `apiVersion: apps/v1
kind: Deployment
metadata: { name: api, namespace: ${ns} }
spec:
  selector: { matchLabels: { app: api } }
  template:
    metadata: { labels: { app: api } }
    spec: { containers: [{ name: api, image: "${image}" }] }
`;
  const vexFile = join(dir, "prod.vex.json");
  writeFileSync(vexFile, "{}");
  const images = [
    {
      pattern: `${registry.registry.host}/vuln/**`,
      signers: [{ key: imageKey.publicPem }],
      attestations: [{ predicateType: PREDICATE_TYPES.cyclonedx }],
    },
  ];
  const w = await workspace(t, "vuln", { images, envExtra: `    vulnerability: { db: ${join(dir, "db")}, failOn: high }\n` });
  const liveImage = async () =>
    (await get(`/apis/apps/v1/namespaces/${w.ns}/deployments/api`))?.spec?.template?.spec?.containers?.[0]?.image;

  const clean = await release("v1", "4.17.21");
  const good = w.repo.commit({ "envs/vuln/api.yaml": deployment(w.ns, clean) }, alice);
  const first = await reconcile(w);
  assert.equal(first.exitCode, 0, JSON.stringify(failures(first)));
  assert.ok(
    first.verdict.checks.some((c) => c.gate === "vulnerability" && c.status === "pass"),
    JSON.stringify(first.verdict.checks),
  );
  const lastGood = await liveImage();
  assert.match(lastGood, new RegExp(`^${clean}@sha256:`));

  const vulnerable = await release("v2", "4.17.15");
  w.repo.commit({ "envs/vuln/api.yaml": deployment(w.ns, vulnerable) }, alice);
  const blocked = await reconcile(w);
  assert.equal(blocked.exitCode, 1);
  const finding = blocked.verdict.checks.find((c) => c.gate === "vulnerability" && c.rule === "GHSA-p6mc-m468-83gw")!;
  assert.equal(finding.status, "fail");
  assert.match(finding.message, /HIGH 7.4 in lodash 4.17.15.*fixed in 4.17.19/);
  assert.ok(!blocked.verdict.checks.some((c) => c.gate === "dry-run" || c.gate === "apply"), "nothing after the vulnerability gate ran");
  assert.equal(await liveImage(), lastGood, "the cluster keeps the last good revision");
  assert.equal((await status("vuln")).lastApplied, good);

  // The environment's VEX says the finding does not apply: the same revision passes.
  writeFileSync(
    vexFile,
    JSON.stringify({
      "@context": "https://openvex.dev/ns/v0.2.0",
      "@id": "prod-vex",
      author: "security",
      timestamp: "2024-01-01T00:00:00Z",
      version: 1,
      statements: [
        {
          vulnerability: { name: "CVE-2020-8203" },
          products: [{ "@id": "pkg:npm/lodash@4.17.15" }],
          status: "not_affected",
          justification: "vulnerable_code_not_in_execute_path",
        },
      ],
    }),
  );
  writeFileSync(w.configFile, readFileSync(w.configFile, "utf8").replace("failOn: high }", `failOn: high, vex: [${vexFile}] }`));
  const covered = await reconcile(w);
  assert.equal(covered.exitCode, 0, JSON.stringify(failures(covered)));
  assert.equal(covered.verdict.checks.find((c) => c.rule === "GHSA-p6mc-m468-83gw")?.status, "skip");
  assert.match(await liveImage(), new RegExp(`^${vulnerable}@sha256:`));
});

test("SOPS: a file the real sops encrypted is applied decrypted; a tampered one is blocked; the plaintext is in no status, Event, log line or audit log", async (t) => {
  if (!ready(t, ["sops"])) return;
  const identity = await generateX25519Identity();
  const recipient = await identityToRecipient(identity);
  const keysSecret = "sops-keys";
  await admin.call({
    verb: "create",
    method: "POST",
    path: "/api/v1/namespaces/vigil-system/secrets",
    body: {
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: keysSecret },
      data: { "age.agekey": Buffer.from(`# age-keygen\n${identity}\n`).toString("base64") },
    },
  });

  const dir = tempDir(t, "vigil-agent-sops-");
  const key = makeLogKey(dir);
  const log = join(dir, "log");
  const w = await workspace(t, "sops", {
    extra: `sops: { secret: ${keysSecret} }\naudit: { log: "${log}", signingKeyFile: ${key.file} }\n`,
  });
  const plaintext = "correct horse battery staple 42";
  const manifest = `apiVersion: v1
kind: Secret
metadata:
  name: db
  namespace: ${w.ns}
type: Opaque
stringData:
  password: "${plaintext}"
`;
  const plainFile = join(dir, "db.yaml");
  writeFileSync(plainFile, manifest);
  const encrypted = run("sops", ["--encrypt", "--age", recipient, "--encrypted-regex", "^(data|stringData)$", plainFile], {
    env: { SOPS_AGE_KEY_FILE: "/nonexistent" },
  });
  assert.ok(!encrypted.includes(plaintext), "sops encrypted the value");

  const good = w.repo.commit({ "envs/sops/settings.yaml": configMapYaml(w.ns, "settings"), "envs/sops/db.yaml": encrypted }, alice);
  // As `vigil agent --once` runs it, so its log lines are read too.
  const once = vigil(["agent", "--once", "--config", w.configFile, "--json"]);
  assert.equal(once.status, 0, once.stdout + once.stderr);
  const secret = await get(`/api/v1/namespaces/${w.ns}/secrets/db`);
  assert.equal(Buffer.from(secret.data.password, "base64").toString("utf8"), plaintext, "the decrypted Secret is applied");
  assert.equal(secret.sops, undefined);
  assert.equal((await status("sops")).lastApplied, good);

  // A tampered ciphertext: its MAC (or its own tag) no longer verifies.
  const tampered = encrypted.replace(
    /password: ENC\[AES256_GCM,data:([A-Za-z0-9+/]{4})/,
    (_, d: string) => `password: ENC[AES256_GCM,data:${d === "AAAA" ? "BBBB" : "AAAA"}`,
  );
  assert.notEqual(tampered, encrypted);
  w.repo.commit({ "envs/sops/settings.yaml": configMapYaml(w.ns, "settings", "open"), "envs/sops/db.yaml": tampered }, alice);
  const blocked = vigil(["agent", "--once", "--config", w.configFile, "--json"]);
  assert.equal(blocked.status, 1, blocked.stdout + blocked.stderr);
  const verdict = JSON.stringify(JSON.parse(blocked.stdout));
  assert.match(verdict, /"gate":"decrypt"/);
  assert.equal(
    (await get(`/api/v1/namespaces/${w.ns}/configmaps/settings`)).data.mode,
    "strict",
    "nothing of the tampered revision was written",
  );
  assert.equal((await status("sops")).lastApplied, good);

  const logFiles = (d: string): string[] =>
    readdirSync(d).flatMap((n) => (statSync(join(d, n)).isDirectory() ? logFiles(join(d, n)) : [join(d, n)]));
  const places: [string, string][] = [
    ["log lines", once.stdout + once.stderr + blocked.stdout + blocked.stderr],
    ["status ConfigMap", JSON.stringify(await status("sops"))],
    ["Events", JSON.stringify(await events("sops"))],
    ...logFiles(log).map((f): [string, string] => [f, readFileSync(f).toString("latin1")]),
  ];
  assert.ok(places.length > 3, "the audit log has files");
  for (const [where, text] of places) {
    assert.ok(!text.includes(plaintext) && !text.includes(Buffer.from(plaintext).toString("base64")), `the plaintext is in ${where}`);
    assert.ok(!text.includes(identity), `the age identity is in ${where}`);
  }
});
