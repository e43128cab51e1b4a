// The monitor against a real API server: Pods whose container statuses report a digest Vigil did not
// deploy to the environment are findings (and stop being findings when the Pod goes), and findings
// reach the workloads as Kubernetes Events, one per workload and change.
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { eventsSink, runningContainers } from "../src/monitor/cluster.ts";
import { adminCluster, createNamespaces, kubeApi, kubeForFile } from "./helpers/cluster.ts";
import { requireKube } from "./helpers/kube.ts";
import { digestOf, feed, openMonitor, osv, sboms, workloads } from "./helpers/monitor-fixture.ts";
import { tempDir, vigil } from "./helpers/tools.ts";

const kube = kubeForFile();

/** A Pod as a kubelet would report it running: created, then its status written through the status subresource. */
async function runningPod(namespace: string, name: string, image: string, digest: string): Promise<void> {
  const created = await kubeApi(kube.cluster, "POST", `/api/v1/namespaces/${namespace}/pods`, {
    metadata: { name, namespace },
    spec: { automountServiceAccountToken: false, containers: [{ name: "app", image }] },
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const status = {
    phase: "Running",
    containerStatuses: [
      {
        name: "app",
        image,
        imageID: `${image.split("@")[0]}@${digest}`,
        ready: true,
        restartCount: 0,
        state: { running: { startedAt: "2026-12-01T00:00:00Z" } },
      },
    ],
  };
  const patched = await kubeApi(
    kube.cluster,
    "PATCH",
    `/api/v1/namespaces/${namespace}/pods/${name}/status`,
    { status },
    { contentType: "application/merge-patch+json" },
  );
  assert.equal(patched.status, 200, JSON.stringify(patched.body));
}

test("a Pod running a digest Vigil did not deploy is a finding, recorded as an Event; the deployed one is not", async (t) => {
  if (!requireKube(t)) return;
  const dir = tempDir(t);
  await createNamespaces(kube.cluster, "shop");
  // No controller manager here: the namespace's default ServiceAccount, which Pods are admitted with, is made by hand.
  assert.equal(
    (await kubeApi(kube.cluster, "POST", "/api/v1/namespaces/shop/serviceaccounts", { metadata: { name: "default" } })).status,
    201,
  );
  const cluster = await adminCluster(kube.cluster, t);
  const f = await openMonitor(dir, { sinks: [eventsSink(cluster)] });
  t.after(() => f.close());
  await f.monitor.recordDeployment("prod", workloads("shop", { web: ["web:1"] }), {
    revision: "a".repeat(40),
    verdict: "pass",
    sbomFor: sboms({ "web:1": ["pkg:npm/lodash@4.17.20"] }),
  });

  await runningPod("shop", "web-1", `registry.example.com/team/web:1@${digestOf("web:1")}`, digestOf("web:1"));
  await runningPod("shop", "miner", "registry.example.com/other/miner:latest", digestOf("miner"));
  const running = await runningContainers(cluster, ["shop"]);
  assert.equal(running.length, 2);
  const found = await f.monitor.checkRunning("prod", running);
  assert.deepEqual(
    found.opened.map((x) => `${x.workload} ${x.subject}`),
    [`Pod shop/miner registry.example.com/other/miner:latest@${digestOf("miner")}`],
  );
  assert.match(found.opened[0]!.action, /which Vigil did not deploy to prod/);

  // An advisory finding on the deployed workload goes out as an Event too.
  await f.monitor.importAdvisories([
    feed(join(dir, "feed"), [
      osv({ id: "GHSA-lodash-0001", modified: "2026-11-01T00:00:00Z", ecosystem: "npm", name: "lodash", fixed: "4.17.21" }),
    ]),
  ]);
  const events = (await kubeApi(kube.cluster, "GET", "/api/v1/namespaces/shop/events")).body.items as any[];
  const byObject = events.map((e) => `${e.type} ${e.reason} ${e.involvedObject.kind}/${e.involvedObject.name}`).sort();
  assert.deepEqual(byObject, ["Warning ImageNotDeployed Pod/miner", "Warning VulnerabilityFound Deployment/web"]);
  assert.match(
    events.find((e) => e.reason === "VulnerabilityFound").message,
    /^1 finding opened \(advisories\): GHSA-lodash-0001 \(unknown\) in pkg:npm\/lodash@4\.17\.20/,
  );

  const deleted = await kubeApi(kube.cluster, "DELETE", "/api/v1/namespaces/shop/pods/miner?gracePeriodSeconds=0");
  assert.equal(deleted.status, 200);
  const gone = await f.monitor.checkRunning("prod", await runningContainers(cluster, ["shop"]));
  assert.equal(gone.closed.length, 1);
  assert.deepEqual(
    f.monitor.openFindings().map((x) => x.type),
    ["advisory"],
  );
});

test("vigil monitor --once with a cluster: its Pods are checked and its Events written; an unreachable API server exits 3", async (t) => {
  if (!requireKube(t)) return;
  const dir = tempDir(t);
  await createNamespaces(kube.cluster, "cli");
  assert.equal(
    (await kubeApi(kube.cluster, "POST", "/api/v1/namespaces/cli/serviceaccounts", { metadata: { name: "default" } })).status,
    201,
  );
  const f = await openMonitor(dir);
  await f.monitor.recordDeployment("prod", workloads("cli", { web: ["web:2"] }), {
    revision: "a".repeat(40),
    verdict: "pass",
    sbomFor: sboms({ "web:2": [] }),
  });
  await f.close();
  await runningPod("cli", "stray", "registry.example.com/other/tool:1", digestOf("tool"));
  const config = join(dir, "monitor.yaml");
  const write = (kubeconfig: string) =>
    writeFileSync(
      config,
      [
        "apiVersion: vigil.dev/v1alpha1",
        "kind: MonitorConfig",
        "inventory: inventory",
        "database: vulndb",
        "clusters:",
        `  - { environment: prod, kubeconfig: ${JSON.stringify(kubeconfig)}, namespaces: [cli] }`,
        "",
      ].join("\n"),
    );
  write(kube.cluster.admin.kubeconfigPath);
  const once = vigil(["monitor", "--config", config, "--once"]);
  assert.equal(once.status, 1, once.stderr);
  const pods = once.stdout
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l))
    .find((l) => l.trigger === "pods of prod");
  assert.deepEqual(
    pods.opened.map((x: any) => x.workload),
    ["Pod cli/stray"],
  );
  const events = (await kubeApi(kube.cluster, "GET", "/api/v1/namespaces/cli/events")).body.items as any[];
  assert.deepEqual(
    events.map((e) => `${e.reason} ${e.involvedObject.name}`),
    ["ImageNotDeployed stray"],
  );

  const unreachable = join(dir, "unreachable.kubeconfig");
  writeFileSync(
    unreachable,
    readFileSync(kube.cluster.admin.kubeconfigPath, "utf8").replace(/https:\/\/127\.0\.0\.1:\d+/, "https://127.0.0.1:9"),
  );
  write(unreachable);
  const down = vigil(["monitor", "--config", config, "--once"]);
  assert.equal(down.status, 3, down.stderr);
});
