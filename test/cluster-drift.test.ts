// Drift and conflicts against a real API server: another user's edit of a field Vigil applied is reported
// (report) or put back (restore), naming the field and who changed it; another field manager's fields are
// reported as a conflict and taken only with force; and an impersonated service account applies exactly
// what its RBAC allows.
import assert from "node:assert/strict";
import { test } from "node:test";
import { connectCluster, syncSet, type SyncOptions } from "../src/cluster/index.ts";
import { adminCluster, createNamespaces, kubeApi, kubeForFile, manifests } from "./helpers/cluster.ts";
import { requireKube } from "./helpers/kube.ts";

const kube = kubeForFile();
let systemReady: Promise<void> | undefined;
const withSystem = () => (systemReady ??= createNamespaces(kube.cluster, "vigil-system"));

function options(environment: string, extra: Partial<SyncOptions> = {}): SyncOptions {
  return {
    environment,
    inventory: { namespace: "vigil-system", name: `inventory-${environment}` },
    allowedNamespaces: [environment],
    ...extra,
  };
}

const app = (ns: string, data: Record<string, string> = { mode: "strict", level: "3" }) =>
  manifests(JSON.stringify({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "app", namespace: ns }, data }));

/** A second user, bob, who may edit ConfigMaps in `ns` (as kubectl edit would, an update with its own field manager). */
async function bobEdits(ns: string, data: Record<string, string>): Promise<void> {
  const bob = kube.cluster.user(`bob-${ns}`);
  await kubeApi(kube.cluster, "POST", `/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/roles`, {
    metadata: { name: "edit-configmaps" },
    rules: [{ apiGroups: [""], resources: ["configmaps"], verbs: ["get", "patch", "update"] }],
  });
  await kubeApi(kube.cluster, "POST", `/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/rolebindings`, {
    metadata: { name: "bob" },
    roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "edit-configmaps" },
    subjects: [{ apiGroup: "rbac.authorization.k8s.io", kind: "User", name: bob.name }],
  });
  const edit = await kubeApi(
    kube.cluster,
    "PATCH",
    `/api/v1/namespaces/${ns}/configmaps/app?fieldManager=kubectl-edit`,
    { data },
    { contentType: "application/merge-patch+json", dispatcher: bob.dispatcher },
  );
  assert.equal(edit.status, 200, JSON.stringify(edit.body));
}

const live = async (ns: string) => (await kubeApi(kube.cluster, "GET", `/api/v1/namespaces/${ns}/configmaps/app`)).body;

test("drift in report mode: another user's edit is reported with the field and its new owner, and nothing is written", async (t) => {
  if (!requireKube(t)) return;
  await withSystem();
  await createNamespaces(kube.cluster, "drift-report");
  const cluster = await adminCluster(kube.cluster, t);
  const opts = options("drift-report", { drift: "report" });
  await syncSet(cluster, app("drift-report"), opts);
  await bobEdits("drift-report", { mode: "lax" });

  for (let round = 1; round <= 2; round++) {
    const result = await syncSet(cluster, app("drift-report"), opts);
    const [outcome] = result.objects;
    assert.equal(outcome!.action, "drift");
    assert.equal(outcome!.restored, false);
    assert.deepEqual(outcome!.conflicts, [{ manager: "kubectl-edit", field: ".data.mode" }]);
    assert.equal(outcome!.message, 'changed outside Git: .data.mode now owned by "kubectl-edit"; reported, not restored (drift: report)');
    assert.equal(result.complete, true, "reported drift is what report mode asks for");
    assert.equal(result.requests.writes, 0);
    assert.deepEqual(outcome!.changes, [{ path: ".data.mode", from: "lax", to: "strict" }], "what restoring would change");
    assert.equal(result.requests.byVerb.dryRun, 2, "the server simulated the apply to name the fields, then forced to show the values");
    assert.equal((await live("drift-report")).data.mode, "lax", `round ${round}: left as bob made it`);
  }
});

test("drift in restore mode: the field is taken back from the user who changed it, and the next sync writes nothing", async (t) => {
  if (!requireKube(t)) return;
  await withSystem();
  await createNamespaces(kube.cluster, "drift-restore");
  const cluster = await adminCluster(kube.cluster, t);
  const opts = options("drift-restore");
  await syncSet(cluster, app("drift-restore"), opts);
  await bobEdits("drift-restore", { mode: "lax", extra: "bob's own key" });

  const result = await syncSet(cluster, app("drift-restore"), opts);
  const [outcome] = result.objects;
  assert.equal(outcome!.action, "drift");
  assert.equal(outcome!.restored, true);
  assert.deepEqual(outcome!.conflicts, [{ manager: "kubectl-edit", field: ".data.mode" }]);
  assert.equal(outcome!.message, 'changed outside Git: .data.mode now owned by "kubectl-edit"; restored');
  assert.deepEqual(outcome!.changes, [{ path: ".data.mode", from: "lax", to: "strict" }]);
  assert.equal(result.complete, true);
  const restored = await live("drift-restore");
  assert.deepEqual(
    restored.data,
    { mode: "strict", level: "3", extra: "bob's own key" },
    "Vigil's field back; a key Vigil never set is not Vigil's to remove",
  );
  const vigil = restored.metadata.managedFields.find((f: any) => f.manager === "vigil");
  assert.ok(vigil.fieldsV1["f:data"]["f:mode"], "vigil owns data.mode again");

  const quiet = await syncSet(cluster, app("drift-restore"), opts);
  assert.equal(quiet.objects[0]!.action, "unchanged");
  assert.equal(quiet.requests.writes, 0);

  // Deleted behind Vigil's back: created again.
  assert.equal((await kubeApi(kube.cluster, "DELETE", "/api/v1/namespaces/drift-restore/configmaps/app")).status, 200);
  const recreated = await syncSet(cluster, app("drift-restore"), opts);
  assert.equal(recreated.objects[0]!.action, "drift");
  assert.equal(
    recreated.objects[0]!.message,
    "not found with label vigil.dev/applied-by=drift-restore: deleted or relabelled outside Git; restored",
  );
  assert.equal((await live("drift-restore")).data.mode, "strict");
});

test("drift that keeps the field's owner (another writer using Vigil's field manager name) is found by the values", async (t) => {
  if (!requireKube(t)) return;
  await withSystem();
  await createNamespaces(kube.cluster, "drift-value");
  const cluster = await adminCluster(kube.cluster, t);
  const opts = options("drift-value");
  await syncSet(cluster, app("drift-value"), opts);
  const impostor = await kubeApi(
    kube.cluster,
    "PATCH",
    "/api/v1/namespaces/drift-value/configmaps/app?fieldManager=vigil",
    {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: "app", namespace: "drift-value", labels: { "vigil.dev/applied-by": "drift-value" } },
      data: { mode: "changed", level: "3" },
    },
    { contentType: "application/apply-patch+yaml" },
  );
  assert.equal(impostor.status, 200);
  const result = await syncSet(cluster, app("drift-value"), opts);
  assert.equal(result.objects[0]!.action, "drift");
  assert.equal(result.objects[0]!.restored, true);
  assert.deepEqual(result.objects[0]!.changes, [{ path: ".data.mode", from: "changed", to: "strict" }]);
  assert.equal((await live("drift-value")).data.mode, "strict");
});

test("a conflict with another field manager is reported, not forced; with force the fields are taken over; an adoption takes them over once", async (t) => {
  if (!requireKube(t)) return;
  await withSystem();
  await createNamespaces(kube.cluster, "conflict");
  const cluster = await adminCluster(kube.cluster, t);
  // Another tool applied the object first and owns data.mode.
  const helm = await kubeApi(
    kube.cluster,
    "PATCH",
    "/api/v1/namespaces/conflict/configmaps/app?fieldManager=helm",
    { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "app", namespace: "conflict" }, data: { mode: "helm-says" } },
    { contentType: "application/apply-patch+yaml" },
  );
  assert.equal(helm.status, 201);
  // Someone else's object: Vigil touches it only once a person adopts it for the environment (cluster-ownership tests the refusal).
  await kubeApi(
    kube.cluster,
    "PATCH",
    "/api/v1/namespaces/conflict/configmaps/app",
    { metadata: { annotations: { "vigil.dev/adopt": "conflict" } } },
    { contentType: "application/merge-patch+json" },
  );

  // The adoption is the person's consent: the first apply after it takes helm's fields over, once.
  const adopted = await syncSet(cluster, app("conflict"), options("conflict"));
  assert.equal(adopted.objects[0]!.action, "update");
  assert.equal(adopted.complete, true);
  assert.equal((await live("conflict")).data.mode, "strict");
  // Later helm applies a field of its own, and Git then sets the same field: a conflict, reported and not forced.
  const helmsOwn = await kubeApi(
    kube.cluster,
    "PATCH",
    "/api/v1/namespaces/conflict/configmaps/app?fieldManager=helm",
    { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "app", namespace: "conflict" }, data: { extra: "helm-says" } },
    { contentType: "application/apply-patch+yaml" },
  );
  assert.equal(helmsOwn.status, 200);
  const withExtra = () => app("conflict", { mode: "strict", level: "3", extra: "vigil-says" });

  const reported = await syncSet(cluster, withExtra(), options("conflict"));
  const [outcome] = reported.objects;
  assert.equal(outcome!.action, "conflict");
  assert.deepEqual(outcome!.conflicts, [{ manager: "helm", field: ".data.extra" }]);
  assert.equal(outcome!.message, '"helm" owns .data.extra: not applied (set force to take these fields over)');
  assert.equal(reported.complete, false);
  assert.equal((await live("conflict")).data.extra, "helm-says");

  const forced = await syncSet(cluster, withExtra(), options("conflict", { force: true }));
  assert.equal(forced.objects[0]!.action, "update");
  assert.equal(forced.complete, true);
  const after = await live("conflict");
  assert.deepEqual(after.data, { mode: "strict", level: "3", extra: "vigil-says" });
  assert.equal(
    after.metadata.managedFields.find((f: any) => f.manager === "helm"),
    undefined,
    "helm owned data.mode, then data.extra: both Vigil's now",
  );
});

test("impersonating a service account: what its RBAC allows is applied, the rest is rejected with the server's reason", async (t) => {
  if (!requireKube(t)) return;
  await withSystem();
  await createNamespaces(kube.cluster, "imp");
  const admin = (method: "POST", path: string, body: unknown) => kubeApi(kube.cluster, method, path, body);
  assert.equal((await admin("POST", "/api/v1/namespaces/imp/serviceaccounts", { metadata: { name: "deployer" } })).status, 201);
  for (const ns of ["imp", "vigil-system"]) {
    await admin("POST", `/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/roles`, {
      metadata: { name: "deployer" },
      rules: [{ apiGroups: [""], resources: ["configmaps"], verbs: ["get", "list", "create", "patch", "delete"] }],
    });
    await admin("POST", `/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/rolebindings`, {
      metadata: { name: "deployer" },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "deployer" },
      subjects: [{ kind: "ServiceAccount", name: "deployer", namespace: "imp" }],
    });
  }
  const cluster = await connectCluster({
    kubeconfig: kube.cluster.admin.kubeconfigPath,
    impersonate: "system:serviceaccount:imp:deployer",
  });
  t.after(() => cluster.close());
  const set = manifests(`
apiVersion: v1
kind: ConfigMap
metadata: { name: allowed, namespace: imp }
data: { a: "1" }
---
apiVersion: v1
kind: Secret
metadata: { name: not-allowed, namespace: imp }
stringData: { password: hunter2 }
`);
  const result = await syncSet(cluster, set, options("imp"));
  assert.equal(result.objects[0]!.action, "create");
  // Reported and left out of the inventory's claims, never a wedge (issue 15 §2): it may not even read it.
  assert.equal(result.objects[1]!.action, "forbidden");
  assert.match(result.objects[1]!.message!, /may not read it/);
  const cm = await kubeApi(kube.cluster, "GET", "/api/v1/namespaces/imp/configmaps/allowed");
  assert.equal(cm.body.metadata.managedFields[0].manager, "vigil");
  assert.equal((await kubeApi(kube.cluster, "GET", "/api/v1/namespaces/imp/secrets/not-allowed")).status, 404);
});
