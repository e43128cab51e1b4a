// syncSet against a real API server: ordering (Namespaces and CRDs first), a no-change resync without
// writes, one change as one apply, pruning only what this environment applied and still labels, refusals
// before any write, rejections named by the server, and dry runs that write nothing.
import assert from "node:assert/strict";
import { test } from "node:test";
import { syncSet, SyncRefused, type SyncOptions, type SyncResult } from "../src/cluster/index.ts";
import { adminCluster, configMaps, createNamespaces, kubeApi, kubeForFile, manifests } from "./helpers/cluster.ts";
import { requireKube } from "./helpers/kube.ts";

const kube = kubeForFile();

function options(environment: string, namespaces: string[], extra: Partial<SyncOptions> = {}): SyncOptions {
  return {
    environment,
    inventory: { namespace: "vigil-system", name: `inventory-${environment}` },
    allowedNamespaces: namespaces,
    ...extra,
  };
}

const actions = (r: SyncResult) =>
  Object.fromEntries(
    r.objects.map((o) => [`${o.object.kind} ${o.object.namespace ? `${o.object.namespace}/` : ""}${o.object.name}`, o.action]),
  );

async function inventoryOf(environment: string): Promise<any[]> {
  const cm = await kubeApi(kube.cluster, "GET", `/api/v1/namespaces/vigil-system/configmaps/inventory-${environment}`);
  assert.equal(cm.status, 200);
  return JSON.parse(cm.body.data.objects);
}

let systemReady: Promise<void> | undefined;
const withSystem = () => (systemReady ??= createNamespaces(kube.cluster, "vigil-system"));

const widgetCrd = `
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names: { plural: widgets, singular: widget, kind: Widget }
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec:
              type: object
              properties:
                size: { type: integer }
`;

test("first sync: Namespaces and CRDs go first, custom resources after their CRD is Established, in one set listed backwards", async (t) => {
  if (!requireKube(t)) return;
  await withSystem();
  const cluster = await adminCluster(kube.cluster, t);
  // Listed in the worst order: each object before what it needs.
  const set = manifests(`
apiVersion: example.com/v1
kind: Widget
metadata: { name: gear, namespace: first }
spec: { size: 3 }
---
apiVersion: v1
kind: ConfigMap
metadata: { name: settings, namespace: first, labels: { app: demo } }
data: { mode: strict }
---
${widgetCrd}
---
apiVersion: v1
kind: Namespace
metadata: { name: first }
`);
  const result = await syncSet(cluster, set, options("first", ["first"], { allowClusterScoped: true }));
  assert.equal(result.complete, true, JSON.stringify(result.objects));
  assert.deepEqual(actions(result), {
    "Widget first/gear": "create",
    "ConfigMap first/settings": "create",
    "CustomResourceDefinition widgets.example.com": "create",
    "Namespace first": "create",
  });
  assert.equal(result.objects[0]!.object.file, "envs/test/set.yaml");
  assert.equal(result.objects[0]!.object.line, 2);
  const widget = await kubeApi(kube.cluster, "GET", "/apis/example.com/v1/namespaces/first/widgets/gear");
  assert.equal(widget.status, 200);
  assert.equal(widget.body.spec.size, 3);
  const cm = await kubeApi(kube.cluster, "GET", "/api/v1/namespaces/first/configmaps/settings");
  assert.deepEqual(
    cm.body.metadata.labels,
    { app: "demo", "vigil.dev/applied-by": "first" },
    "every object carries the environment's label",
  );
  assert.equal(cm.body.metadata.managedFields.find((f: any) => f.manager === "vigil")?.operation, "Apply");
  const inventory = await inventoryOf("first");
  assert.deepEqual(inventory.map((e) => `${e.kind}/${e.namespace ?? ""}/${e.name}`).sort(), [
    "ConfigMap/first/settings",
    "CustomResourceDefinition//widgets.example.com",
    "Namespace//first",
    "Widget/first/gear",
  ]);
  assert.ok(
    inventory.every((e) => e.desired && e.owned),
    "each entry records the hashes of its apply",
  );
  // Discovery of three group-versions, the inventory read, two inventory writes, four applies, the CRD polled.
  assert.equal(result.requests.byVerb.apply, 6);
  assert.equal(result.requests.writes, 6);
  t.diagnostic(`first sync: ${JSON.stringify(result.requests)} in ${result.durationMs} ms`);

  // A resync with nothing changed: reads only, on this Cluster and on a new one (discovery again).
  for (const c of [cluster, await adminCluster(kube.cluster, t)]) {
    const again = await syncSet(c, set, options("first", ["first"], { allowClusterScoped: true }));
    assert.equal(again.complete, true);
    assert.ok(
      again.objects.every((o) => o.action === "unchanged"),
      JSON.stringify(again.objects),
    );
    assert.equal(again.requests.writes, 0);
    assert.deepEqual(Object.keys(again.requests.byVerb).sort(), c === cluster ? ["get", "list"] : ["get", "list"]);
    t.diagnostic(
      `no-change resync (${c === cluster ? "same" : "new"} Cluster): ${JSON.stringify(again.requests)} in ${again.durationMs} ms`,
    );
  }
});

test("a no-change resync of 100 objects makes no writes and a handful of reads; one changed object is one apply", async (t) => {
  if (!requireKube(t)) return;
  await withSystem();
  const namespaces = ["bulk-a", "bulk-b", "bulk-c", "bulk-d"];
  await createNamespaces(kube.cluster, ...namespaces);
  const cluster = await adminCluster(kube.cluster, t);
  const names = Array.from({ length: 25 }, (_, i) => `cm-${String(i).padStart(2, "0")}`);
  const yaml = namespaces.map((ns) => configMaps(ns, names)).join("\n---\n");
  const first = await syncSet(cluster, manifests(yaml), options("bulk", namespaces));
  assert.equal(first.objects.filter((o) => o.action === "create").length, 100);
  t.diagnostic(`first sync of 100 ConfigMaps: ${JSON.stringify(first.requests)} in ${first.durationMs} ms`);

  const again = await syncSet(cluster, manifests(yaml), options("bulk", namespaces));
  assert.equal(again.objects.filter((o) => o.action === "unchanged").length, 100);
  assert.equal(again.requests.writes, 0);
  assert.deepEqual(again.requests.byVerb, { get: 1, list: 1 }, "the inventory, and one LIST across the four namespaces");
  t.diagnostic(
    `no-change resync of 100: ${JSON.stringify(again.requests)} in ${again.durationMs} ms (${((again.durationMs / first.durationMs) * 100).toFixed(0)}% of the first)`,
  );

  const changed = yaml.replace(/("name":"cm-07","namespace":"bulk-c"\},"data":\{"key":)"value"/, '$1"changed"');
  assert.notEqual(changed, yaml);
  const one = await syncSet(cluster, manifests(changed), options("bulk", namespaces));
  const updated = one.objects.filter((o) => o.action !== "unchanged");
  assert.equal(updated.length, 1);
  assert.equal(updated[0]!.action, "update");
  assert.equal(updated[0]!.object.name, "cm-07");
  assert.deepEqual(updated[0]!.changes, [{ path: ".data.key", from: "value", to: "changed" }]);
  assert.deepEqual(one.requests.byVerb, { get: 1, list: 1, apply: 2 }, "the object's apply and the inventory's new hashes");
  const live = await kubeApi(kube.cluster, "GET", "/api/v1/namespaces/bulk-c/configmaps/cm-07");
  assert.equal(live.body.data.key, "changed");
});

test("an object removed from the set is pruned; one relabelled by someone else, or never applied by this environment, is not", async (t) => {
  if (!requireKube(t)) return;
  await withSystem();
  await createNamespaces(kube.cluster, "prune");
  const cluster = await adminCluster(kube.cluster, t);
  // No prune limit here (it has tests of its own: cluster-ownership).
  const opts = options("prune", ["prune"], { pruneLimit: { count: 50, fraction: 1 } });
  await syncSet(cluster, manifests(configMaps("prune", ["keep", "drop", "taken"])), opts);
  // Someone else's objects in the same namespace: another environment's, an unlabelled one, and one
  // labelled for this environment that Vigil never applied (not in its inventory).
  for (const [name, labels] of [
    ["other-env", { "vigil.dev/applied-by": "elsewhere" }],
    ["unlabelled", {}],
    ["lookalike", { "vigil.dev/applied-by": "prune" }],
  ] as const) {
    assert.equal(
      (await kubeApi(kube.cluster, "POST", "/api/v1/namespaces/prune/configmaps", { metadata: { name, labels }, data: { x: "y" } })).status,
      201,
    );
  }
  // "taken" is moved to another environment by hand: it is no longer this environment's to delete.
  const relabel = await kubeApi(
    kube.cluster,
    "PATCH",
    "/api/v1/namespaces/prune/configmaps/taken?fieldManager=someone",
    { metadata: { labels: { "vigil.dev/applied-by": "elsewhere" } } },
    { contentType: "application/merge-patch+json" },
  );
  assert.equal(relabel.status, 200);

  const result = await syncSet(cluster, manifests(configMaps("prune", ["keep"])), opts);
  assert.equal(result.complete, true);
  assert.deepEqual(actions(result), {
    "ConfigMap prune/keep": "unchanged",
    "ConfigMap prune/drop": "prune",
    "ConfigMap prune/taken": "orphan",
  });
  assert.match(
    result.objects.find((o) => o.object.name === "taken")!.message!,
    /left in place: it no longer carries vigil\.dev\/applied-by=prune/,
  );
  const left = await kubeApi(kube.cluster, "GET", "/api/v1/namespaces/prune/configmaps");
  assert.deepEqual(left.body.items.map((i: any) => i.metadata.name).sort(), ["keep", "lookalike", "other-env", "taken", "unlabelled"]);
  assert.deepEqual(
    (await inventoryOf("prune")).map((e) => e.name),
    ["keep"],
  );
  assert.equal(result.requests.byVerb.delete, 1);
});

test("objects outside the allowed namespaces, cluster-scoped ones, unknown kinds and duplicates are refused before any write", async (t) => {
  if (!requireKube(t)) return;
  await withSystem();
  await createNamespaces(kube.cluster, "fenced");
  const cluster = await adminCluster(kube.cluster, t);
  const set = manifests(
    `
apiVersion: v1
kind: ConfigMap
metadata: { name: fine, namespace: fenced }
---
apiVersion: v1
kind: ConfigMap
metadata: { name: escape, namespace: kube-system }
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: { name: everything }
rules: [{ apiGroups: ["*"], resources: ["*"], verbs: ["*"] }]
---
apiVersion: v1
kind: Namespace
metadata: { name: elsewhere }
---
apiVersion: example.com/v9
kind: Gadget
metadata: { name: g, namespace: fenced }
---
apiVersion: v1
kind: ConfigMap
metadata: { name: nameless-namespace }
---
apiVersion: v1
kind: ConfigMap
metadata: { name: fine, namespace: fenced }
---
apiVersion: v1
kind: ConfigMap
metadata: { name: stolen, namespace: fenced, labels: { vigil.dev/applied-by: prod } }
`,
    "envs/fenced/all.yaml",
  );
  const before = cluster.requests.snapshot();
  const refused = await syncSet(cluster, set, options("fenced", ["fenced"])).then(
    () => assert.fail("expected a refusal"),
    (e) => e,
  );
  assert.ok(refused instanceof SyncRefused, String(refused));
  assert.equal(refused.exitCode, 1);
  assert.deepEqual(
    refused.refusals.map((r: any) => `${r.file}:${r.line}: ${r.object}: ${r.reason}`),
    [
      'envs/fenced/all.yaml:6: ConfigMap kube-system/escape: namespace "kube-system" is not allowed for environment fenced (allowed: fenced)',
      "envs/fenced/all.yaml:10: ClusterRole everything: ClusterRole is cluster-scoped, and environment fenced does not allow cluster-scoped objects other than its namespaces",
      'envs/fenced/all.yaml:15: Namespace elsewhere: namespace "elsewhere" is not allowed for environment fenced (allowed: fenced)',
      "envs/fenced/all.yaml:19: Gadget fenced/g: the cluster does not serve Gadget in example.com/v9, and no CustomResourceDefinition in this set defines it",
      "envs/fenced/all.yaml:23: ConfigMap nameless-namespace: ConfigMap is namespaced: metadata.namespace is required (allowed: fenced)",
      "envs/fenced/all.yaml:27: ConfigMap fenced/fine: the same object is also defined at envs/fenced/all.yaml:2",
      "envs/fenced/all.yaml:31: ConfigMap fenced/stolen: it is labelled vigil.dev/applied-by=prod, but is applied by environment fenced",
    ],
  );
  assert.match(refused.message, /^7 objects refused, nothing was written:\n {2}envs\/fenced\/all\.yaml:6: ConfigMap kube-system\/escape/);
  const made = cluster.requests.since(before);
  assert.equal(made.writes, 0, "nothing written");
  assert.deepEqual(Object.keys(made.byVerb), ["get"], "only discovery was asked");
  assert.equal((await kubeApi(kube.cluster, "GET", "/api/v1/namespaces/fenced/configmaps/fine")).status, 404);
  assert.equal(
    (await kubeApi(kube.cluster, "GET", "/api/v1/namespaces/vigil-system/configmaps/inventory-fenced")).status,
    404,
    "not even the inventory",
  );
});

test("objects the API server rejects are named with its message; the rest apply, and nothing is pruned", async (t) => {
  if (!requireKube(t)) return;
  await withSystem();
  await createNamespaces(kube.cluster, "reject");
  const cluster = await adminCluster(kube.cluster, t);
  const opts = options("reject", ["reject"], { pruneLimit: { count: 50, fraction: 1 } });
  await syncSet(cluster, manifests(configMaps("reject", ["old"])), opts);
  const set = manifests(`
apiVersion: v1
kind: ConfigMap
metadata: { name: good, namespace: reject }
data: { ok: "yes" }
---
apiVersion: v1
kind: ConfigMap
metadata: { name: bad-key, namespace: reject }
data: { "not a key!": "x" }
---
apiVersion: v1
kind: Service
metadata: { name: web, namespace: reject }
spec:
  ports: [{ port: 99999 }]
---
apiVersion: v1
kind: ConfigMap
metadata: { name: typo, namespace: reject }
dta: { ok: "yes" }
`);
  const result = await syncSet(cluster, set, opts);
  assert.equal(result.complete, false);
  assert.deepEqual(actions(result), {
    "ConfigMap reject/good": "create",
    "ConfigMap reject/bad-key": "rejected",
    "Service reject/web": "rejected",
    "ConfigMap reject/typo": "rejected",
  });
  const message = (name: string) => result.objects.find((o) => o.object.name === name)!.message!;
  assert.match(
    message("bad-key"),
    /^422 Invalid: ConfigMap "bad-key" is invalid: data\[not a key!\]: Invalid value: "not a key!": a valid config key must consist of alphanumeric characters/,
  );
  assert.match(
    message("web"),
    /^422 Invalid: Service "web" is invalid: \[spec\.ports\[0\]\.port: Invalid value: 99999: must be between 1 and 65535/,
  );
  assert.match(message("typo"), /\.dta: field not declared in schema/, "unknown fields are refused, not dropped");
  assert.match(result.pruneSkipped!, /3 object\(s\) of the set did not apply: nothing is pruned until the whole set has applied/);
  assert.equal(
    (await kubeApi(kube.cluster, "GET", "/api/v1/namespaces/reject/configmaps/old")).status,
    200,
    "not pruned on a partial apply",
  );
  assert.deepEqual(
    (await inventoryOf("reject")).map((e) => e.name).sort(),
    ["bad-key", "good", "old", "typo", "web"],
    "still knows everything it may have applied",
  );

  // Fixed in Git: the next sync applies the rest and prunes.
  const fixed = await syncSet(cluster, manifests(configMaps("reject", ["good"], { ok: "yes" })), opts);
  assert.equal(fixed.complete, true);
  assert.deepEqual(actions(fixed), {
    "ConfigMap reject/good": "unchanged",
    "ConfigMap reject/old": "prune",
    "ConfigMap reject/bad-key": "prune",
    "ConfigMap reject/typo": "prune",
    "Service reject/web": "prune",
  });
  assert.equal((await kubeApi(kube.cluster, "GET", "/api/v1/namespaces/reject/configmaps/old")).status, 404);
});

test("a dry run plans creates, updates with their changed fields, and prunes, and writes nothing", async (t) => {
  if (!requireKube(t)) return;
  await withSystem();
  const cluster = await adminCluster(kube.cluster, t);
  const opts = options("plan", ["plan", "plan-new"]);
  await syncSet(
    cluster,
    manifests(`apiVersion: v1\nkind: Namespace\nmetadata: { name: plan }\n---\n${configMaps("plan", ["same", "edit", "gone"])}`),
    opts,
  );
  const next = manifests(`
apiVersion: v1
kind: Namespace
metadata: { name: plan }
---
apiVersion: v1
kind: Namespace
metadata: { name: plan-new }
---
${configMaps("plan", ["same"])}
---
${configMaps("plan", ["edit"], { key: "value", added: "yes" })}
---
${configMaps("plan", ["fresh"])}
---
${configMaps("plan-new", ["inside"])}
`);
  const before = cluster.requests.snapshot();
  const plan = await syncSet(cluster, next, { ...opts, dryRun: true });
  assert.equal(plan.dryRun, true);
  assert.deepEqual(actions(plan), {
    "Namespace plan": "unchanged",
    "Namespace plan-new": "create",
    "ConfigMap plan/same": "unchanged",
    "ConfigMap plan/edit": "update",
    "ConfigMap plan/fresh": "create",
    "ConfigMap plan-new/inside": "create",
    "ConfigMap plan/gone": "prune",
  });
  assert.deepEqual(plan.objects.find((o) => o.object.name === "edit")!.changes, [{ path: ".data.added", to: "yes" }]);
  const made = cluster.requests.since(before);
  assert.equal(made.writes, 0);
  assert.ok((made.byVerb.dryRun ?? 0) >= 3, "the server simulated the applies");
  assert.equal((await kubeApi(kube.cluster, "GET", "/api/v1/namespaces/plan/configmaps/fresh")).status, 404);
  assert.equal((await kubeApi(kube.cluster, "GET", "/api/v1/namespaces/plan/configmaps/gone")).status, 200);
  assert.equal((await kubeApi(kube.cluster, "GET", "/api/v1/namespaces/plan-new")).status, 404);
  assert.equal((await kubeApi(kube.cluster, "GET", "/api/v1/namespaces/plan/configmaps/edit")).body.data.added, undefined);
  assert.deepEqual((await inventoryOf("plan")).map((e) => e.name).sort(), ["edit", "gone", "plan", "same"]);
});

test("a custom resource whose CustomResourceDefinition the server rejects is rejected with that reason; prune off keeps removed objects", async (t) => {
  if (!requireKube(t)) return;
  await withSystem();
  await createNamespaces(kube.cluster, "crd-bad");
  const cluster = await adminCluster(kube.cluster, t);
  const opts = options("crd-bad", ["crd-bad"], { allowClusterScoped: true, prune: false });
  await syncSet(cluster, manifests(configMaps("crd-bad", ["earlier"])), opts);
  const result = await syncSet(
    cluster,
    manifests(`
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: { name: sprockets.example.com }
spec:
  group: example.com
  scope: Namespaced
  names: { plural: sprockets, kind: Sprocket }
  versions: [{ name: v1, served: true, storage: true, schema: { openAPIV3Schema: { type: not-a-type } } }]
---
apiVersion: example.com/v1
kind: Sprocket
metadata: { name: s, namespace: crd-bad }
`),
    opts,
  );
  assert.deepEqual(actions(result), { "CustomResourceDefinition sprockets.example.com": "rejected", "Sprocket crd-bad/s": "rejected" });
  assert.match(
    result.objects[0]!.message!,
    /^422 Invalid: CustomResourceDefinition\.apiextensions\.k8s\.io "sprockets\.example\.com" is invalid: .*type: Unsupported value: "not-a-type"/,
  );
  assert.equal(result.objects[1]!.message, "its CustomResourceDefinition sprockets.example.com was rejected");
  assert.match(result.pruneSkipped!, /^prune is off/);
  assert.equal((await kubeApi(kube.cluster, "GET", "/api/v1/namespaces/crd-bad/configmaps/earlier")).status, 200);
});
