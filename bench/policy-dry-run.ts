// Benchmark (issue 16): what the agent's server-side dry run of a whole revision before its first write
// (src/cluster/dry-run.ts, the second line behind the policy gate's offline checks) costs, on the
// agent-sync benchmark's shape: N resources (ConfigMaps, Secrets, Deployments) in 20 namespaces, on a
// real kube-apiserver. Each way runs on a fresh API server of its own whose namespaces exist already
// (so the dry run judges every object rather than deferring those of namespaces it would create):
//   - without: syncSet (the first sync), then a no-change resync;
//   - with: dryRunChecks then syncSet, for the first sync and for the resync.
// Reported: wall time and API requests of each, and the ratios with / without.
//   node bench/policy-dry-run.ts [--resources 1000] [--namespaces 20]
import { parseArgs } from "node:util";
import { connectCluster, syncSet, type Cluster } from "../src/cluster/index.ts";
import { dryRunChecks } from "../src/cluster/dry-run.ts";
import { parseManifests, type SourcedObject } from "../src/manifest/manifests.ts";
import { startKubeApiServer, type KubeCluster } from "../test/helpers/kube.ts";
import { machine } from "./lib/measure.ts";

const { values } = parseArgs({
  options: { resources: { type: "string", default: "1000" }, namespaces: { type: "string", default: "20" } },
});
const total = Number(values.resources);
const namespaceCount = Number(values.namespaces);
const cleanups: (() => unknown)[] = [];
const scope = { after: (fn: () => unknown) => void cleanups.push(fn) };

const namespaces = Array.from({ length: namespaceCount }, (_, i) => `dry-${String(i).padStart(2, "0")}`);

function resourceYaml(i: number): string {
  const ns = namespaces[i % namespaceCount]!;
  const name = `obj-${String(Math.floor(i / namespaceCount)).padStart(3, "0")}`;
  switch (i % 3) {
    case 0:
      return `apiVersion: v1\nkind: ConfigMap\nmetadata: { name: ${name}, namespace: ${ns} }\ndata: { mode: strict }`;
    case 1:
      return `apiVersion: v1\nkind: Secret\nmetadata: { name: ${name}, namespace: ${ns} }\ntype: Opaque\nstringData: { token: not-a-real-${name} }`;
    default:
      return `apiVersion: apps/v1
kind: Deployment
metadata: { name: ${name}, namespace: ${ns} }
spec:
  replicas: 2
  selector: { matchLabels: { app: ${name} } }
  template:
    metadata: { labels: { app: ${name} } }
    spec:
      containers: [{ name: app, image: "registry.example.com/shop/${name}@sha256:${"a".repeat(64)}", resources: { requests: { cpu: 100m, memory: 64Mi } } }]`;
  }
}

const namespaceSet = parseManifests(
  namespaces.map((n) => `apiVersion: v1\nkind: Namespace\nmetadata: { name: ${n} }`).join("\n---\n"),
  "namespaces.yaml",
);
const resources = parseManifests(
  Array.from({ length: total - namespaceCount }, (_, i) => resourceYaml(i)).join("\n---\n"),
  "resources.yaml",
);
const objects: SourcedObject[] = [...namespaceSet, ...resources];
const options = { environment: "bench", inventory: { namespace: "default", name: "vigil-inventory-bench" }, allowedNamespaces: namespaces };

interface Measure {
  seconds: number;
  requests: number;
}

async function sync(client: Cluster, withDryRun: boolean): Promise<Measure> {
  const start = performance.now();
  let requests = 0;
  if (withDryRun) {
    const checks = await dryRunChecks(client, objects, options);
    const failed = checks.filter((c) => c.status !== "pass");
    if (failed.length > 0) throw new Error(`the dry run refused: ${failed[0]!.message}`);
  }
  const result = await syncSet(client, objects, options);
  requests += result.requests.total;
  const bad = result.objects.filter((o) => !["create", "update", "unchanged"].includes(o.action));
  if (bad.length > 0) throw new Error(`the sync left ${bad.length} objects ${bad[0]!.action}: ${bad[0]!.message ?? ""}`);
  return { seconds: (performance.now() - start) / 1000, requests };
}

async function run(withDryRun: boolean): Promise<{ first: Measure; resync: Measure }> {
  const kube: KubeCluster = await startKubeApiServer(scope);
  const client = await connectCluster({ kubeconfig: kube.admin.kubeconfigPath });
  try {
    await syncSet(client, namespaceSet, { ...options, inventory: { namespace: "default", name: "vigil-inventory-namespaces" } });
    const first = await sync(client, withDryRun);
    const resync = await sync(client, withDryRun);
    return { first, resync };
  } finally {
    await client.close();
    await kube.stop();
  }
}

try {
  console.error(`${total} resources in ${namespaceCount} namespaces: without the dry run…`);
  const without = await run(false);
  console.error("with the dry run…");
  const withDry = await run(true);
  const ratios = { first: withDry.first.seconds / without.first.seconds, resync: withDry.resync.seconds / without.resync.seconds };
  console.log(
    JSON.stringify({ machine: machine(), resources: total, namespaces: namespaceCount, without, with: withDry, ratios }, null, 2),
  );
  const fmt = (m: Measure) => `${m.seconds.toFixed(2)} s (${m.requests} sync requests)`;
  console.log(`
| measure (${total} resources, ${namespaceCount} namespaces, real kube-apiserver v1.37.2 on loopback) | value |
|---|---|
| first sync, no dry run | ${fmt(without.first)} |
| first sync after a dry run of the whole set | ${fmt(withDry.first)} — **${ratios.first.toFixed(2)}x** |
| no-change resync, no dry run | ${fmt(without.resync)} |
| no-change resync after a dry run | ${fmt(withDry.resync)} — **${ratios.resync.toFixed(2)}x** |
`);
} finally {
  for (const fn of cleanups.reverse()) await fn();
}
