// Two environments of one agent in one cluster, sharing a namespace, on a real kube-apiserver: each
// applies under its own field manager and keeps its own inventory, so neither takes nor prunes the
// other's objects: an object both define stays the first one's (a conflict for the second, even with
// force), what one removes from Git is pruned for it alone, and a Namespace the other deploys into is
// left in place.
import { strict as assert } from "node:assert";
import { join } from "node:path";
import { before, test, type TestContext } from "node:test";
import type { ReconcileResult } from "../src/agent/reconcile.ts";
import type { Cluster } from "../src/cluster/index.ts";
import { agentTestCluster, reconcileOnce, writeAgentConfig } from "./helpers/agent.ts";
import { SshSigner, TestRepo, writePolicy } from "./helpers/git-fixture.ts";
import { missingKubeBinaries, requireKube, type KubeCluster } from "./helpers/kube.ts";
import { fileScope, hasTool, requireTools, tempDir } from "./helpers/tools.ts";

let cluster: KubeCluster;
let admin: Cluster;
let alice: SshSigner;
const scope = fileScope();

before(async () => {
  if (missingKubeBinaries().length > 0 || !hasTool("ssh-keygen") || !hasTool("git")) return;
  ({ cluster, admin } = await agentTestCluster(scope));
  alice = new SshSigner(tempDir(scope, "vigil-envs-keys-"), "alice");
});

function ready(t: TestContext): boolean {
  return requireKube(t) && requireTools(t, ["ssh-keygen", "git"]);
}

const configMap = (name: string, owner: string) =>
  `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\n  namespace: common\ndata:\n  owner: ${owner}\n`;
const namespace = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: common\n";

async function get(path: string): Promise<any> {
  const answer = await admin.call({ verb: "get", method: "GET", path });
  return answer.status === 200 ? answer.body : undefined;
}
const live = (name: string) => get(`/api/v1/namespaces/common/configmaps/${name}`);
const inventory = async (env: string) =>
  JSON.parse((await get(`/api/v1/namespaces/vigil-system/configmaps/vigil-inventory-${env}`)).data.objects).map(
    (e: any) => `${e.kind} ${e.namespace ?? ""}/${e.name}`,
  );
const managers = (obj: any) => obj.metadata.managedFields.map((m: any) => m.manager).sort();
const actions = (r: ReconcileResult) => r.verdict.checks.filter((c) => c.gate === "apply").map((c) => `${c.rule} ${c.status} ${c.subject}`);

test("two environments sharing a namespace: each its own field manager and inventory; neither takes (even with force) nor prunes the other's objects, nor deletes a Namespace the other deploys into", async (t) => {
  if (!ready(t)) return;
  const dir = tempDir(t, "vigil-envs-");
  const trust = writePolicy(join(dir, "trust.yaml"), {
    signers: [alice.policyEntry],
    paths: [{ pattern: "**", owners: ["alice"] }],
    environments: [
      { name: "east", branch: "main", path: "envs/east" },
      { name: "west", branch: "main", path: "envs/west" },
    ],
  });
  const repo = new TestRepo(join(dir, "config"));
  // west may force: force takes fields over from people and controllers, never another environment's object.
  const configFile = writeAgentConfig(dir, {
    trust,
    packs: ["pss-baseline"],
    environments: [
      { name: "east", url: repo.dir, cluster: cluster.admin.kubeconfigPath, namespaces: ["common"] },
      { name: "west", url: repo.dir, cluster: cluster.admin.kubeconfigPath, namespaces: ["common"], force: true },
    ],
  });
  const reconcile = async () => {
    const [east, west] = await reconcileOnce(configFile);
    return { east: east!, west: west! };
  };

  // east first (west's folder is still empty, so west applies nothing): the Namespace and two objects.
  repo.commit(
    {
      "envs/east/namespace.yaml": namespace,
      "envs/east/shared.yaml": configMap("shared", "east"),
      "envs/east/east-a.yaml": configMap("east-a", "east"),
    },
    alice,
  );
  const first = await reconcile();
  assert.equal(first.east.exitCode, 0, JSON.stringify(first.east.verdict.checks.filter((c) => c.status === "fail")));
  assert.equal(first.west.applied, false);
  assert.deepEqual(managers(await live("shared")), ["vigil-east"]);

  // west defines the same ConfigMap, and one of its own.
  repo.commit(
    {
      "envs/west/shared.yaml": configMap("shared", "west"),
      "envs/west/west-a.yaml": configMap("west-a", "west"),
      "envs/west/west-b.yaml": configMap("west-b", "west"),
    },
    alice,
  );
  const second = await reconcile();
  assert.equal(second.east.exitCode, 0);
  assert.equal(second.west.exitCode, 1, "a conflict blocks west");
  const conflict = second.west.verdict.checks.find((c) => c.rule === "conflict")!;
  assert.equal(conflict.subject, "ConfigMap common/shared");
  assert.match(
    conflict.message,
    /^it belongs to another environment: east \(vigil\.dev\/applied-by=east, managed by vigil-east \(Apply\)\); not applied, even with force/,
  );
  const shared = await live("shared");
  assert.equal(shared.metadata.labels["vigil.dev/applied-by"], "east", "still east's");
  assert.equal(shared.data.owner, "east");
  assert.deepEqual(managers(shared), ["vigil-east"], "west's manager took no field of it");
  assert.deepEqual(managers(await live("west-a")), ["vigil-west"]);
  assert.deepEqual(await inventory("east"), ["ConfigMap common/east-a", "ConfigMap common/shared", "Namespace /common"]);
  assert.ok(!(await inventory("west")).includes("ConfigMap common/east-a"), "west's inventory never lists east's own objects");

  // west drops the shared one and west-a: west-a is pruned; east's ConfigMap stays as it was.
  repo.commit({ "envs/west/shared.yaml": null, "envs/west/west-a.yaml": null }, alice);
  const third = await reconcile();
  assert.equal(third.west.exitCode, 0, JSON.stringify(third.west.verdict.checks.filter((c) => c.status === "fail")));
  assert.equal(await live("west-a"), undefined, "pruned");
  assert.equal((await live("shared"))?.data.owner, "east", "not west's to prune");
  assert.ok(await live("east-a"));
  assert.deepEqual(await inventory("west"), ["ConfigMap common/west-b"]);

  // east drops east-a and the Namespace: east-a is pruned; the Namespace stays, since west deploys into it.
  repo.commit({ "envs/east/namespace.yaml": null, "envs/east/east-a.yaml": null }, alice);
  const fourth = await reconcile();
  assert.equal(fourth.east.exitCode, 0, JSON.stringify(fourth.east.verdict.checks.filter((c) => c.status === "fail")));
  assert.equal(await live("east-a"), undefined, "pruned");
  const ns = await get("/api/v1/namespaces/common");
  assert.equal(ns.status.phase, "Active", "not deleted");
  assert.ok(await live("west-b"), "west's objects are untouched");
  const kept = fourth.east.verdict.checks.find((c) => c.rule === "prune" && c.subject === "Namespace common");
  assert.equal(kept?.status, "warn");
  assert.match(kept!.message, /environment west also deploys into namespace "common"/);
  assert.ok(
    (await inventory("east")).includes("Namespace /common"),
    "kept in east's inventory, to prune once west no longer deploys there",
  );
  t.diagnostic(`east: ${actions(fourth.east).join("; ")}`);
});
