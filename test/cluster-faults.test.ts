// The API server going away while a set is applied (this file's cluster is stopped and started, so it
// has one of its own): requests are retried with backoff, a short outage is ridden out, a long one ends
// the sync with exit 3 naming the server, nothing is pruned on the partial apply, and the next sync
// completes the set from the inventory written before the first apply.
import assert from "node:assert/strict";
import { test } from "node:test";
import { syncSet, type SyncOptions } from "../src/cluster/index.ts";
import { UnavailableError } from "../src/core/errors.ts";
import { adminCluster, configMaps, createNamespaces, kubeApi, kubeForFile, manifests } from "./helpers/cluster.ts";
import { requireKube } from "./helpers/kube.ts";

const kube = kubeForFile();

function options(environment: string): SyncOptions {
  return { environment, inventory: { namespace: "vigil-system", name: `inventory-${environment}` }, allowedNamespaces: [environment] };
}

const names = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}-${String(i).padStart(3, "0")}`);

test("the API server stopped mid-sync: exit 3 naming it, nothing pruned; after it returns the next sync completes the set and prunes", async (t) => {
  if (!requireKube(t)) return;
  await createNamespaces(kube.cluster, "vigil-system", "outage");
  const cluster = await adminCluster(kube.cluster, t, { retry: { attempts: 3, deadlineMs: 2_000 } });
  const opts = options("outage");
  await syncSet(cluster, manifests(configMaps("outage", ["old", "keep"])), opts);

  const next = manifests(configMaps("outage", ["keep", ...names("new", 300)]));
  let stopped: Promise<void> | undefined;
  const watch = setInterval(() => {
    if (!stopped && (cluster.requests.byVerb.apply ?? 0) >= 40) stopped = kube.cluster.stopApiServer();
  }, 1);
  const started = Date.now();
  const failure = await syncSet(cluster, next, opts).then(
    () => assert.fail("expected the sync to fail"),
    (e) => e,
  );
  clearInterval(watch);
  assert.ok(stopped, "the API server was stopped while objects were being applied");
  await stopped;
  assert.ok(failure instanceof UnavailableError, String(failure));
  assert.equal(failure.exitCode, 3);
  assert.match(
    failure.message,
    new RegExp(
      `^cannot reach the Kubernetes API server ${kube.cluster.url.replace(/[.]/g, "\\.")} \\(PATCH /api/v1/namespaces/outage/configmaps/new-\\d+\\): \\S+ \\(3 attempts over \\d\\.\\d s\\)$`,
    ),
  );
  t.diagnostic(`failed after ${Date.now() - started} ms: ${failure.message}`);

  await kube.cluster.startApiServer();
  const listed = await kubeApi(kube.cluster, "GET", "/api/v1/namespaces/outage/configmaps");
  const present = new Set(listed.body.items.map((i: any) => i.metadata.name));
  assert.ok(present.has("old"), "nothing was pruned on the partial apply");
  assert.ok(present.size < 302, `the set was only partly applied (${present.size - 2} of 300 new objects)`);
  const inventory = JSON.parse(
    (await kubeApi(kube.cluster, "GET", "/api/v1/namespaces/vigil-system/configmaps/inventory-outage")).body.data.objects,
  );
  assert.equal(inventory.length, 302, "the inventory already listed every object the sync might create, and the old one");

  const resumed = await syncSet(cluster, next, opts);
  assert.equal(resumed.complete, true);
  const count = (action: string) => resumed.objects.filter((o) => o.action === action).length;
  // Objects written before the outage are found unchanged (the same resourceVersion comes back); the rest are created.
  assert.equal(count("create"), 302 - present.size);
  assert.equal(count("unchanged"), present.size - 1);
  assert.deepEqual(
    resumed.objects.filter((o) => o.action === "prune").map((o) => o.object.name),
    ["old"],
  );
  const after = await kubeApi(kube.cluster, "GET", "/api/v1/namespaces/outage/configmaps");
  assert.equal(after.body.items.length, 301);
});

test("a short outage is ridden out by the retries: the sync completes by itself", async (t) => {
  if (!requireKube(t)) return;
  await createNamespaces(kube.cluster, "blip");
  const cluster = await adminCluster(kube.cluster, t, { retry: { attempts: 10, deadlineMs: 30_000 } });
  await kube.cluster.stopApiServer();
  const sync = syncSet(cluster, manifests(configMaps("blip", names("cm", 20))), options("blip"));
  await new Promise((r) => setTimeout(r, 300));
  await kube.cluster.startApiServer();
  const result = await sync;
  assert.equal(result.complete, true);
  assert.equal(result.objects.filter((o) => o.action === "create").length, 20);
  assert.ok(result.requests.total > 20 + 3, `retried requests are counted: ${JSON.stringify(result.requests)}`);
});
