// The agent end to end, against real components: a config repository signed through git's own ssh
// signing, a docker-registry with an image signed by Vigil, and a real kube-apiserver. A signed revision
// that passes every gate is applied with its image pinned to the verified digest; a revision that fails
// any gate writes nothing and the last good revision keeps running; objects removed from Git are pruned.
import { strict as assert } from "node:assert";
import { renameSync } from "node:fs";
import { join } from "node:path";
import { before, test, type TestContext } from "node:test";
import type { ReconcileResult } from "../src/agent/reconcile.ts";
import { signImage } from "../src/artifact/sign-image.ts";
import type { Cluster } from "../src/cluster/index.ts";
import { agentTestCluster, reconcileOnce, writeAgentConfig } from "./helpers/agent.ts";
import { soleOwnerPolicy, SshSigner, TestRepo } from "./helpers/git-fixture.ts";
import { cosignKeyPair, signingRegistry, type CosignKeyPair, type SigningRegistry } from "./helpers/image-signing.ts";
import { missingKubeBinaries, requireKube, type KubeCluster } from "./helpers/kube.ts";
import { pushTestImage } from "./helpers/registry.ts";
import { fileScope, hasTool, requireTools, tempDir, vigil } from "./helpers/tools.ts";

let cluster: KubeCluster;
let admin: Cluster;
let registry: SigningRegistry;
let imageKey: CosignKeyPair;
let signedImage: { reference: string; digest: string };
let keys: string;
let alice: SshSigner;
let mallory: SshSigner;
const scope = fileScope();

before(async () => {
  if (missingKubeBinaries().length > 0 || !hasTool("docker-registry") || !hasTool("cosign") || !hasTool("ssh-keygen")) return;
  ({ cluster, admin } = await agentTestCluster(scope));
  registry = await signingRegistry(scope);
  imageKey = cosignKeyPair(registry.dir, "ci");
  const repository = `${registry.registry.host}/shop/web`;
  const image = await pushTestImage(registry.client.repository(repository), { tag: "v1" });
  await signImage(registry.client, `${repository}:v1`, imageKey.signing);
  signedImage = { reference: `${repository}:v1`, digest: image.descriptor.digest };
  keys = tempDir(scope, "vigil-agent-keys-");
  alice = new SshSigner(keys, "alice");
  mallory = new SshSigner(keys, "mallory");
});

function ready(t: TestContext): boolean {
  return requireKube(t) && requireTools(t, ["docker-registry", "cosign", "ssh-keygen", "git"]);
}

const namespaceYaml = (ns: string) => `apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ${ns}\n`;
const configMapYaml = (ns: string, name: string, mode = "strict") =>
  `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\n  namespace: ${ns}\ndata:\n  mode: ${mode}\n`;
const deploymentYaml = (ns: string, image: string, extra = "") => `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: ${ns}
spec:
  replicas: 1
  selector: { matchLabels: { app: web } }
  template:
    metadata: { labels: { app: web } }
    spec:
      containers:
        - name: web
          image: ${image}${extra}
`;

interface Workspace {
  repo: TestRepo;
  configFile: string;
  env: string;
  ns: string;
}

/** A config repository for environment `env` (namespace `ns`), its trust policy and the agent's configuration. */
function workspace(
  t: TestContext,
  env: string,
  options: { gates?: string[]; url?: (dir: string) => string; serviceAccount?: string } = {},
): Workspace {
  const dir = tempDir(t, "vigil-agent-");
  const ns = `${env}-shop`;
  const trust = soleOwnerPolicy(join(dir, "trust.yaml"), alice, env, {
    images: [{ pattern: `${registry.registry.host}/**`, signers: [{ key: imageKey.publicPem }] }],
  });
  const repo = new TestRepo(join(dir, "config"));
  const configFile = writeAgentConfig(dir, {
    trust,
    packs: ["pss-baseline"],
    extra: `insecureRegistries: ["${registry.registry.host}"]\n`,
    environments: [
      {
        name: env,
        url: options.url ? options.url(repo.dir) : repo.dir,
        cluster: cluster.admin.kubeconfigPath,
        namespaces: [ns],
        ...(options.serviceAccount && { serviceAccount: options.serviceAccount }),
        ...(options.gates && { gates: options.gates }),
      },
    ],
  });
  return { repo, configFile, env, ns };
}

/** One reconcile of the workspace's environment, as `vigil agent --once` does. */
async function reconcile(w: Workspace, dryRun = false): Promise<ReconcileResult> {
  return (await reconcileOnce(w.configFile, dryRun))[0]!;
}

async function get(path: string): Promise<any> {
  const answer = await admin.call({ verb: "get", method: "GET", path });
  return answer.status === 200 ? answer.body : undefined;
}

const status = (env: string) => get(`/api/v1/namespaces/vigil-system/configmaps/vigil-status-${env}`).then((cm) => cm?.data);
const failures = (r: ReconcileResult) => r.verdict.checks.filter((c) => c.status === "fail");

test("a signed revision that passes every gate is applied, its image pinned to the verified digest; a second reconcile writes nothing", async (t) => {
  if (!ready(t)) return;
  const w = workspace(t, "alpha");
  const commit = w.repo.commit(
    {
      [`envs/alpha/namespace.yaml`]: namespaceYaml(w.ns),
      [`envs/alpha/settings.yaml`]: configMapYaml(w.ns, "settings"),
      [`envs/alpha/web.yaml`]: deploymentYaml(w.ns, signedImage.reference),
    },
    alice,
  );

  const first = await reconcile(w);
  assert.deepEqual(failures(first), [], JSON.stringify(failures(first)));
  assert.equal(first.revision, commit);
  assert.equal(first.applied, true);
  assert.equal(first.exitCode, 0);
  const deployment = await get(`/apis/apps/v1/namespaces/${w.ns}/deployments/web`);
  assert.equal(
    deployment.spec.template.spec.containers[0].image,
    `${signedImage.reference}@${signedImage.digest}`,
    "the cluster runs exactly the verified digest (the tag kept for people)",
  );
  assert.equal(deployment.metadata.labels["vigil.dev/applied-by"], "alpha");
  assert.equal((await get(`/api/v1/namespaces/${w.ns}/configmaps/settings`)).data.mode, "strict");
  assert.equal(first.health, "progressing", "no controller runs here, so the Deployment never becomes available");
  const recorded = await status("alpha");
  assert.equal(recorded.lastApplied, commit);
  assert.equal(recorded.verdict, "pass");

  const again = await reconcile(w);
  assert.equal(again.exitCode, 0);
  const applied = again.verdict.checks.find((c) => c.gate === "apply" && c.rule === "applied");
  assert.match(applied!.message, /^3 unchanged \(/, "nothing is re-applied when nothing changed");
  assert.equal(
    (await get(`/apis/apps/v1/namespaces/${w.ns}/deployments/web`)).metadata.resourceVersion,
    deployment.metadata.resourceVersion,
  );
});

test("a revision that fails a gate writes nothing, and the last good revision keeps running", async (t) => {
  if (!ready(t)) return;
  const w = workspace(t, "bravo");
  const good = w.repo.commit(
    { [`envs/bravo/namespace.yaml`]: namespaceYaml(w.ns), [`envs/bravo/settings.yaml`]: configMapYaml(w.ns, "settings") },
    alice,
  );
  assert.equal((await reconcile(w)).exitCode, 0);

  // An untrusted signer: the revision gate.
  w.repo.commit(
    { [`envs/bravo/settings.yaml`]: configMapYaml(w.ns, "settings", "open"), [`envs/bravo/extra.yaml`]: configMapYaml(w.ns, "extra") },
    mallory,
  );
  const unsigned = await reconcile(w);
  assert.equal(unsigned.exitCode, 1);
  assert.equal(failures(unsigned)[0]!.gate, "revision");
  assert.equal((await get(`/api/v1/namespaces/${w.ns}/configmaps/settings`)).data.mode, "strict");
  assert.equal(await get(`/api/v1/namespaces/${w.ns}/configmaps/extra`), undefined);
  const afterBlock = await status("bravo");
  assert.equal(afterBlock.lastApplied, good, "the last good revision is kept");
  assert.equal(afterBlock.verdict, "fail");
  assert.match(afterBlock.message, /^revision: /);
  const events = await get(`/api/v1/namespaces/vigil-system/events?fieldSelector=involvedObject.name%3Dvigil-status-bravo`);
  assert.ok(
    events.items.some((e: any) => e.reason === "RevisionBlocked" && e.type === "Warning"),
    "a Warning event says why",
  );
});

test("a signed revision that breaks policy, names an unsigned image, or leaves its namespaces is blocked before any write", async (t) => {
  if (!ready(t)) return;
  const w = workspace(t, "charlie");
  w.repo.commit({ [`envs/charlie/namespace.yaml`]: namespaceYaml(w.ns) }, alice);
  assert.equal((await reconcile(w)).exitCode, 0);

  const privileged = "\n          securityContext: { privileged: true }";
  w.repo.commit({ [`envs/charlie/web.yaml`]: deploymentYaml(w.ns, signedImage.reference, privileged) }, alice);
  const policy = await reconcile(w);
  assert.equal(policy.exitCode, 1);
  assert.equal(failures(policy)[0]!.gate, "policy");
  assert.equal(await get(`/apis/apps/v1/namespaces/${w.ns}/deployments/web`), undefined);

  const unsignedImage = await pushTestImage(registry.client.repository(`${registry.registry.host}/shop/unsigned`), { tag: "v1" });
  w.repo.commit({ [`envs/charlie/web.yaml`]: deploymentYaml(w.ns, `${registry.registry.host}/shop/unsigned:v1`) }, alice);
  const artifact = await reconcile(w);
  assert.equal(artifact.exitCode, 1);
  assert.equal(failures(artifact)[0]!.gate, "artifact");
  assert.match(failures(artifact)[0]!.message, new RegExp(unsignedImage.descriptor.digest));
  assert.equal(await get(`/apis/apps/v1/namespaces/${w.ns}/deployments/web`), undefined);

  w.repo.commit({ [`envs/charlie/web.yaml`]: null, [`envs/charlie/escape.yaml`]: configMapYaml("kube-system", "escape") }, alice);
  const escape = await reconcile(w);
  assert.equal(escape.exitCode, 1);
  // Refused by the server-side dry run's own sync, with the apply's options, before any write.
  assert.equal(failures(escape)[0]!.gate, "dry-run");
  assert.match(failures(escape)[0]!.message, /kube-system/);
  assert.equal(await get(`/api/v1/namespaces/kube-system/configmaps/escape`), undefined);
});

test("an object removed from Git is pruned; a dry run prints the plan and writes nothing", async (t) => {
  if (!ready(t)) return;
  const w = workspace(t, "delta");
  w.repo.commit(
    {
      [`envs/delta/namespace.yaml`]: namespaceYaml(w.ns),
      [`envs/delta/a.yaml`]: configMapYaml(w.ns, "a"),
      [`envs/delta/b.yaml`]: configMapYaml(w.ns, "b"),
    },
    alice,
  );
  assert.equal((await reconcile(w)).exitCode, 0);
  const removal = w.repo.commit({ [`envs/delta/b.yaml`]: null, [`envs/delta/a.yaml`]: configMapYaml(w.ns, "a", "relaxed") }, alice);

  const planned = await reconcile(w, true);
  assert.equal(planned.exitCode, 0);
  assert.equal(planned.applied, false);
  assert.ok(
    planned.plan.some((l) => l.startsWith(`update ConfigMap ${w.ns}/a`)),
    planned.plan.join("\n"),
  );
  assert.ok(
    planned.plan.some((l) => l.startsWith(`prune ConfigMap ${w.ns}/b`)),
    planned.plan.join("\n"),
  );
  assert.equal((await get(`/api/v1/namespaces/${w.ns}/configmaps/a`)).data.mode, "strict", "a dry run writes nothing");
  assert.notEqual((await status("delta")).lastApplied, removal, "nor the status");

  const applied = await reconcile(w);
  assert.equal(applied.exitCode, 0);
  assert.equal((await get(`/api/v1/namespaces/${w.ns}/configmaps/a`)).data.mode, "relaxed");
  assert.equal(await get(`/api/v1/namespaces/${w.ns}/configmaps/b`), undefined, "pruned");
  assert.equal((await status("delta")).lastApplied, removal);
});

test("vigil agent --once: the verdict per environment as a table, or JSON; exit 1 when blocked", async (t) => {
  if (!ready(t)) return;
  const w = workspace(t, "echo");
  w.repo.commit({ [`envs/echo/namespace.yaml`]: namespaceYaml(w.ns) }, alice);
  const table = vigil(["agent", "--config", w.configFile, "--once"]);
  assert.equal(table.status, 0, table.stderr + table.stdout);
  assert.match(table.stdout, /echo: applied [0-9a-f]{12}; 1 commit checked; health healthy/);
  w.repo.commit({ [`envs/echo/x.yaml`]: configMapYaml(w.ns, "x") }, mallory);
  const blocked = vigil(["agent", "--config", w.configFile, "--once", "--json"]);
  assert.equal(blocked.status, 1, blocked.stderr);
  const [result] = blocked.json();
  assert.equal(result.environment, "echo");
  assert.equal(result.verdict.verdict, "fail");
  assert.equal(result.applied, false);
});

test("a git remote that is down: exit 3 with the reason, nothing written, the last good revision kept", async (t) => {
  if (!ready(t)) return;
  const w = workspace(t, "foxtrot", { url: (dir) => `file://${dir}` });
  const good = w.repo.commit(
    { [`envs/foxtrot/namespace.yaml`]: namespaceYaml(w.ns), [`envs/foxtrot/a.yaml`]: configMapYaml(w.ns, "a") },
    alice,
  );
  assert.equal((await reconcile(w)).exitCode, 0);
  renameSync(w.repo.dir, `${w.repo.dir}.gone`);
  const down = await reconcile(w);
  assert.equal(down.exitCode, 3);
  assert.equal(failures(down)[0]!.rule, "unavailable");
  assert.match(failures(down)[0]!.message, /cannot fetch file:\/\/.*config.*check the URL, the network and the read-only credential/);
  assert.equal((await get(`/api/v1/namespaces/${w.ns}/configmaps/a`)).data.mode, "strict");
  const recorded = await status("foxtrot");
  assert.equal(recorded.lastApplied, good);
  assert.equal(recorded.verdict, "fail");
});

test("applying as the environment's ServiceAccount: its RBAC bounds the apply, while the agent keeps the inventory and status itself", async (t) => {
  if (!ready(t)) return;
  const w = workspace(t, "golf", { serviceAccount: "vigil-system/deployer-golf" });
  const create = (path: string, body: unknown) => admin.call({ verb: "create", method: "POST", path, body });
  await create("/api/v1/namespaces", { apiVersion: "v1", kind: "Namespace", metadata: { name: w.ns } });
  await create("/api/v1/namespaces/vigil-system/serviceaccounts", {
    apiVersion: "v1",
    kind: "ServiceAccount",
    metadata: { name: "deployer-golf" },
  });
  const rbac = "/apis/rbac.authorization.k8s.io/v1";
  await create(`${rbac}/namespaces/${w.ns}/roles`, {
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "Role",
    metadata: { name: "deployer" },
    rules: [{ apiGroups: [""], resources: ["configmaps"], verbs: ["get", "list", "create", "patch", "update", "delete"] }],
  });
  await create(`${rbac}/namespaces/${w.ns}/rolebindings`, {
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "RoleBinding",
    metadata: { name: "deployer" },
    roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "deployer" },
    subjects: [{ kind: "ServiceAccount", name: "deployer-golf", namespace: "vigil-system" }],
  });

  w.repo.commit({ [`envs/golf/a.yaml`]: configMapYaml(w.ns, "a") }, alice);
  const applied = await reconcile(w);
  assert.deepEqual(failures(applied), []);
  assert.equal(
    (await get(`/api/v1/namespaces/${w.ns}/configmaps/a`)).metadata.managedFields.some((m: any) => m.manager === "vigil-golf"),
    true,
    "applied under the environment's own field manager",
  );
  assert.ok(
    await get("/api/v1/namespaces/vigil-system/configmaps/vigil-inventory-golf"),
    "the inventory is the agent's, in its own namespace",
  );

  // The ServiceAccount may not read or write Secrets: the agent names it, drops it from the inventory's
  // claims, and the rest of the revision reconciles (issue 15 §2: an environment never wedges).
  w.repo.commit(
    { [`envs/golf/s.yaml`]: `apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\n  namespace: ${w.ns}\nstringData:\n  k: v\n` },
    alice,
  );
  const refused = await reconcile(w);
  assert.deepEqual(failures(refused), []);
  assert.equal(refused.exitCode, 0);
  const forbidden = refused.verdict.checks.find((c) => c.rule === "forbidden")!;
  assert.equal(forbidden.status, "warn");
  assert.equal(forbidden.subject, `Secret ${w.ns}/s`);
  assert.match(forbidden.message, /may not read it.*grant the environment's ServiceAccount access, or remove it from Git/);
  assert.ok(!(await get("/api/v1/namespaces/vigil-system/configmaps/vigil-inventory-golf")).data.objects.includes('"Secret"'));
});
