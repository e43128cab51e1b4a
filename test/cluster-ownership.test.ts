// Issue 15 §2, §5, §6 on a real API server: nothing taken over silently (an object someone else made is
// a conflict naming its manager until a person adopts it; adopted and shared objects are never pruned),
// the prune limit, an object the environment's account may not write does not wedge the rest, a
// Secret's drift reported by keys and hashes only, and names the API server would reject refused as
// bad input before any request.
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  ADOPT_ANNOTATION,
  formatChanges,
  syncSet,
  SyncRefused,
  type Refusal,
  type SyncOptions,
  type SyncResult,
} from "../src/cluster/index.ts";
import { connectCluster } from "../src/cluster/index.ts";
import { ExitCode } from "../src/core/errors.ts";
import { adminCluster, configMaps, createNamespaces, kubeApi, kubeForFile, manifests } from "./helpers/cluster.ts";
import { requireKube } from "./helpers/kube.ts";

const kube = kubeForFile();

function options(environment: string, namespaces: string[], extra: Partial<SyncOptions> = {}): SyncOptions {
  return {
    environment,
    inventory: { namespace: "vigil-system", name: `inventory-${environment}` },
    allowedNamespaces: namespaces,
    fieldManager: `vigil-${environment}`,
    ...extra,
  };
}

const byName = (r: SyncResult) =>
  Object.fromEntries(r.objects.map((o) => [`${o.object.kind} ${o.object.namespace ? `${o.object.namespace}/` : ""}${o.object.name}`, o]));

async function inventoryOf(environment: string): Promise<any[]> {
  const cm = await kubeApi(kube.cluster, "GET", `/api/v1/namespaces/vigil-system/configmaps/inventory-${environment}`);
  return cm.status === 200 ? JSON.parse(cm.body.data.objects) : [];
}

let systemReady: Promise<void> | undefined;
const withSystem = () => (systemReady ??= createNamespaces(kube.cluster, "vigil-system"));

test("an object someone else made is a conflict naming its manager, left untouched and unclaimed; adopted on purpose by annotation, recorded, and never pruned", async (t) => {
  if (!requireKube(t)) return;
  await withSystem();
  await createNamespaces(kube.cluster, "own-a");
  // A person's ConfigMap, with the very values the environment's manifest has: no field conflict, so
  // server-side apply alone would have shared it silently.
  const made = await kubeApi(kube.cluster, "POST", "/api/v1/namespaces/own-a/configmaps?fieldManager=kubectl-create", {
    metadata: { name: "platform" },
    data: { key: "value" },
  });
  assert.equal(made.status, 201);
  const cluster = await adminCluster(kube.cluster, t);
  const set = manifests(configMaps("own-a", ["platform", "app"]));

  const first = await syncSet(cluster, set, options("own", ["own-a"]));
  const platform = byName(first)["ConfigMap own-a/platform"]!;
  assert.equal(platform.action, "conflict");
  assert.deepEqual(platform.managers, ["kubectl-create (Update)"]);
  assert.match(platform.message!, /not created by environment own: managed by kubectl-create \(Update\).*vigil\.dev\/adopt=own/);
  assert.equal(byName(first)["ConfigMap own-a/app"]!.action, "create");
  assert.equal(first.complete, false);
  const live = await kubeApi(kube.cluster, "GET", "/api/v1/namespaces/own-a/configmaps/platform");
  assert.equal(live.body.metadata.labels?.["vigil.dev/applied-by"], undefined, "not written to");
  assert.deepEqual(
    (await inventoryOf("own")).map((e) => e.name),
    ["app"],
    "not claimed in the inventory",
  );

  // An annotation for another environment adopts nothing.
  await kubeApi(
    kube.cluster,
    "PATCH",
    "/api/v1/namespaces/own-a/configmaps/platform",
    { metadata: { annotations: { [ADOPT_ANNOTATION]: "someone-else" } } },
    { contentType: "application/merge-patch+json" },
  );
  assert.equal(byName(await syncSet(cluster, set, options("own", ["own-a"])))["ConfigMap own-a/platform"]!.action, "conflict");

  await kubeApi(
    kube.cluster,
    "PATCH",
    "/api/v1/namespaces/own-a/configmaps/platform",
    { metadata: { annotations: { [ADOPT_ANNOTATION]: "own" } } },
    { contentType: "application/merge-patch+json" },
  );
  const adopted = await syncSet(cluster, set, options("own", ["own-a"]));
  assert.equal(byName(adopted)["ConfigMap own-a/platform"]!.adopted, true);
  assert.equal(adopted.complete, true);
  assert.deepEqual((await inventoryOf("own")).find((e) => e.name === "platform")?.adopted, true);

  // Removed from the set: the environment it was adopted by leaves it in place; what it made, it prunes.
  const removed = await syncSet(cluster, manifests(configMaps("own-a", ["other"])), options("own", ["own-a"]));
  assert.equal(byName(removed)["ConfigMap own-a/platform"]!.action, "orphan");
  assert.match(byName(removed)["ConfigMap own-a/platform"]!.message!, /adopted it and did not create it/);
  assert.equal(byName(removed)["ConfigMap own-a/app"]!.action, "prune");
  assert.equal((await kubeApi(kube.cluster, "GET", "/api/v1/namespaces/own-a/configmaps/platform")).status, 200);
});

test("a Namespace a person created, and another environment's object, are conflicts: never adopted by force, never pruned", async (t) => {
  if (!requireKube(t)) return;
  await withSystem();
  await createNamespaces(kube.cluster, "shared-ns");
  const cluster = await adminCluster(kube.cluster, t);
  const ns = await syncSet(
    cluster,
    manifests("apiVersion: v1\nkind: Namespace\nmetadata: { name: shared-ns }\n"),
    options("taker", ["shared-ns"], { force: true }),
  );
  assert.equal(byName(ns)["Namespace shared-ns"]!.action, "conflict");
  assert.match(byName(ns)["Namespace shared-ns"]!.message!, /not created by environment taker/);
  // The other environment's ConfigMap.
  await syncSet(cluster, manifests(configMaps("shared-ns", ["theirs"])), options("owner", ["shared-ns"]));
  const taken = await syncSet(
    cluster,
    manifests(configMaps("shared-ns", ["theirs"], { key: "changed" })),
    options("taker", ["shared-ns"], { force: true }),
  );
  assert.equal(byName(taken)["ConfigMap shared-ns/theirs"]!.action, "conflict");
  assert.match(
    byName(taken)["ConfigMap shared-ns/theirs"]!.message!,
    /belongs to another environment: owner .*vigil-owner \(Apply\).*even with force/,
  );
  assert.equal((await kubeApi(kube.cluster, "GET", "/api/v1/namespaces/shared-ns/configmaps/theirs")).body.data.key, "value");
  assert.equal((await kubeApi(kube.cluster, "GET", "/api/v1/namespaces/shared-ns")).status, 200);
});

test("prune limit: deleting past the count or the fraction stops before any delete and says why; a person's flag allows it once", async (t) => {
  if (!requireKube(t)) return;
  await withSystem();
  await createNamespaces(kube.cluster, "limit-a");
  const cluster = await adminCluster(kube.cluster, t);
  const names = Array.from({ length: 8 }, (_, i) => `cm-${i}`);
  await syncSet(cluster, manifests(configMaps("limit-a", names)), options("limit", ["limit-a"]));
  const limit = { pruneLimit: { count: 2, fraction: 0.5 } };
  // An emptied-out revision (a bad merge, a wrong path) would delete 7 of 8: past 2 objects and past half.
  const blocked = await syncSet(cluster, manifests(configMaps("limit-a", ["cm-0"])), options("limit", ["limit-a"], limit));
  assert.match(
    blocked.pruneBlocked!,
    /prune limit: 7 of 8 objects would be deleted, more than both 2 objects and 50% of the inventory; nothing was deleted.*--allow-mass-prune/,
  );
  assert.equal(
    (await kubeApi(kube.cluster, "GET", "/api/v1/namespaces/limit-a/configmaps?labelSelector=vigil.dev/applied-by=limit")).body.items
      .length,
    8,
  );
  // 3 of 8 is past the count but within the fraction: allowed. So is the default (10) for a small environment.
  assert.equal(
    (await syncSet(cluster, manifests(configMaps("limit-a", names.slice(0, 5))), options("limit", ["limit-a"], { ...limit, dryRun: true })))
      .pruneBlocked,
    undefined,
  );
  assert.equal(
    (await syncSet(cluster, manifests(configMaps("limit-a", ["cm-0"])), options("limit", ["limit-a"], { dryRun: true }))).pruneBlocked,
    undefined,
  );
  const allowed = await syncSet(
    cluster,
    manifests(configMaps("limit-a", ["cm-0"])),
    options("limit", ["limit-a"], { ...limit, allowMassPrune: true }),
  );
  assert.equal(allowed.pruneBlocked, undefined);
  assert.equal(allowed.objects.filter((o) => o.action === "prune").length, 7);
});

test("an object the environment's account may not write is reported and dropped from the inventory; the rest applies and prunes", async (t) => {
  if (!requireKube(t)) return;
  await withSystem();
  await createNamespaces(kube.cluster, "rbac-a");
  // A deployer that may manage ConfigMaps in rbac-a, and nothing else (no Secrets).
  await kubeApi(kube.cluster, "POST", "/apis/rbac.authorization.k8s.io/v1/namespaces/rbac-a/roles", {
    metadata: { name: "cm" },
    rules: [{ apiGroups: [""], resources: ["configmaps"], verbs: ["get", "list", "create", "update", "patch", "delete"] }],
  });
  await kubeApi(kube.cluster, "POST", "/apis/rbac.authorization.k8s.io/v1/namespaces/rbac-a/rolebindings", {
    metadata: { name: "cm" },
    roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "cm" },
    subjects: [{ kind: "User", name: "cm-deployer" }],
  });
  const admin = await adminCluster(kube.cluster, t);
  const deployer = await connectCluster({ kubeconfig: kube.cluster.user("cm-deployer").kubeconfigPath });
  t.after(() => deployer.close());
  const opts = options("wedge", ["rbac-a"], { inventoryCluster: admin });
  await syncSet(deployer, manifests(configMaps("rbac-a", ["old"])), opts);
  const set = manifests(
    `${configMaps("rbac-a", ["new"])}\n---\napiVersion: v1\nkind: Secret\nmetadata: { name: creds, namespace: rbac-a }\nstringData: { token: x }\n`,
  );
  const result = await syncSet(deployer, set, opts);
  const secret = byName(result)["Secret rbac-a/creds"]!;
  assert.equal(secret.action, "forbidden");
  assert.match(secret.message!, /may not (read|write) it/);
  assert.equal(byName(result)["ConfigMap rbac-a/new"]!.action, "create");
  assert.equal(byName(result)["ConfigMap rbac-a/old"]!.action, "prune", "the rest of the revision still reconciles, pruning included");
  assert.deepEqual(
    (await inventoryOf("wedge")).map((e) => `${e.kind}/${e.name}`),
    ["ConfigMap/new"],
  );
});

test("drift in a Secret is reported by key and hash, never by value", async (t) => {
  if (!requireKube(t)) return;
  await withSystem();
  await createNamespaces(kube.cluster, "secret-a");
  const cluster = await adminCluster(kube.cluster, t);
  const set = manifests(
    `apiVersion: v1\nkind: Secret\nmetadata: { name: db, namespace: secret-a }\ndata: { password: ${Buffer.from("planted-secret-1").toString("base64")} }\n`,
  );
  await syncSet(cluster, set, options("sec", ["secret-a"], { drift: "report" }));
  const replaced = Buffer.from("planted-secret-2").toString("base64");
  await kubeApi(
    kube.cluster,
    "PATCH",
    "/api/v1/namespaces/secret-a/secrets/db?fieldManager=intruder",
    { data: { password: replaced } },
    { contentType: "application/merge-patch+json" },
  );
  const result = await syncSet(cluster, set, options("sec", ["secret-a"], { drift: "report" }));
  const drift = byName(result)["Secret secret-a/db"]!;
  assert.equal(drift.action, "drift");
  const text = JSON.stringify(result) + formatChanges(drift.changes ?? []).join("\n");
  assert.match(text, /\.data\.password/);
  assert.match(text, /sha256:[0-9a-f]{16}/);
  for (const planted of ["planted-secret-1", "planted-secret-2", replaced, Buffer.from("planted-secret-1").toString("base64")])
    assert.ok(!text.includes(planted), `${planted} in the result`);
});

test("names the API server would reject are bad input (exit 2) naming the file, before any request", async (t) => {
  if (!requireKube(t)) return;
  const cluster = await adminCluster(kube.cluster, t);
  const before = cluster.requests.snapshot();
  const set = manifests(
    `apiVersion: v1
kind: ConfigMap
metadata: { name: "..", namespace: a }
---
apiVersion: v1
kind: ConfigMap
metadata: { name: "x/../../secrets", namespace: a }
---
apiVersion: v1
kind: Service
metadata: { name: 1-api, namespace: a }
---
apiVersion: v1
kind: ConfigMap
metadata: { name: Upper, namespace: a }
---
apiVersion: v1
kind: ConfigMap
metadata: { name: ok, namespace: "a%2f.." }
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: { name: "system:fine" }
`,
    "envs/bad/names.yaml",
  );
  const refused = await syncSet(cluster, set, options("names", ["a"], { allowClusterScoped: true })).then(
    () => undefined,
    (e) => e,
  );
  assert.ok(refused instanceof SyncRefused);
  assert.equal(refused.exitCode, ExitCode.badInput);
  assert.equal(refused.refusals.length, 5, "the RBAC path segment name is valid");
  assert.ok(refused.refusals.every((r: Refusal) => r.rule === "name" && r.file === "envs/bad/names.yaml"));
  assert.match(refused.message, /names\.yaml:1: ConfigMap a\/\.\.: metadata\.name "\.\." may not be "\." or "\.\."/);
  assert.match(refused.message, /may not contain "\/" or "%"/);
  assert.match(refused.message, /DNS-1035 label/);
  assert.match(refused.message, /metadata\.namespace "a%2f\.\." is not a DNS-1123 label/);
  assert.equal(cluster.requests.since(before).total, 0, "no request at all");
});

test("an inventory whose hashes were rewritten to hide an edit: without a key the edit passes for unchanged; with the inventory's MAC it is found and put back", async (t) => {
  if (!requireKube(t)) return;
  await withSystem();
  await createNamespaces(kube.cluster, "mac-a", "mac-b");
  const cluster = await adminCluster(kube.cluster, t);
  const { ownedHash } = await import("../src/cluster/fields.ts");
  const key = Buffer.from("a key only the agent holds, 32 bytes or so");
  /** Someone who may write the object and ConfigMaps in vigil-system: edits the value as Vigil's manager, then rewrites the recorded hash to match. */
  const hideEdit = async (environment: string, ns: string) => {
    const edited = await kubeApi(
      kube.cluster,
      "PATCH",
      `/api/v1/namespaces/${ns}/configmaps/app?fieldManager=vigil-${environment}&force=true`,
      {
        apiVersion: "v1",
        kind: "ConfigMap",
        metadata: { name: "app", namespace: ns, labels: { "vigil.dev/applied-by": environment } },
        data: { key: "attacker" },
      },
      { contentType: "application/apply-patch+yaml" },
    );
    assert.equal(edited.status, 200);
    const cm = await kubeApi(kube.cluster, "GET", `/api/v1/namespaces/vigil-system/configmaps/inventory-${environment}`);
    const entries = JSON.parse(cm.body.data.objects).map((e: any) =>
      e.name === "app" ? { ...e, owned: ownedHash(edited.body, `vigil-${environment}`) } : e,
    );
    const objects = `[\n${entries.map((e: unknown) => JSON.stringify(e)).join(",\n")}\n]\n`;
    assert.equal(
      (
        await kubeApi(
          kube.cluster,
          "PATCH",
          `/api/v1/namespaces/vigil-system/configmaps/inventory-${environment}`,
          { data: { objects } },
          { contentType: "application/merge-patch+json" },
        )
      ).status,
      200,
    );
  };
  const value = async (ns: string) => (await kubeApi(kube.cluster, "GET", `/api/v1/namespaces/${ns}/configmaps/app`)).body.data.key;

  // The attack works on an inventory kept without a key: the sync writes nothing.
  await syncSet(cluster, manifests(configMaps("mac-a", ["app"])), options("nomac", ["mac-a"]));
  await hideEdit("nomac", "mac-a");
  const fooled = await syncSet(cluster, manifests(configMaps("mac-a", ["app"])), options("nomac", ["mac-a"]));
  assert.equal(byName(fooled)["ConfigMap mac-a/app"]!.action, "unchanged");
  assert.equal(await value("mac-a"), "attacker");

  // With the key: the MAC does not verify, the hashes are not trusted, the object is applied again.
  await syncSet(cluster, manifests(configMaps("mac-b", ["app"])), options("mac", ["mac-b"], { inventoryKey: key }));
  assert.equal(
    (await syncSet(cluster, manifests(configMaps("mac-b", ["app"])), options("mac", ["mac-b"], { inventoryKey: key }))).inventoryUntrusted,
    undefined,
    "its own MAC verifies",
  );
  await hideEdit("mac", "mac-b");
  const caught = await syncSet(cluster, manifests(configMaps("mac-b", ["app"])), options("mac", ["mac-b"], { inventoryKey: key }));
  assert.match(caught.inventoryUntrusted!, /has a MAC that does not verify: it was written outside the agent/);
  assert.equal(byName(caught)["ConfigMap mac-b/app"]!.action, "update");
  assert.equal(await value("mac-b"), "value", "put back as Git has it");
  assert.equal(
    (await syncSet(cluster, manifests(configMaps("mac-b", ["app"])), options("mac", ["mac-b"], { inventoryKey: key }))).inventoryUntrusted,
    undefined,
    "MAC written again",
  );
});
