// Benchmark (issue 5, the agent's apply): N resources across 20 namespaces (ConfigMaps, Secrets,
// Deployments, from a folder of YAML files) on a real kube-apiserver. Measured in one run, each tool on
// a fresh API server of its own:
//   - kubectl apply --server-side -R -f FOLDER (kubectl v1.37.2, built by setup), its requests counted
//     from its -v=6 log;
//   - Vigil's apply stage (src/cluster syncSet) on the same objects: the first sync, a no-change resync
//     (target: no writes, under 10% of the first sync), and a sync after one file changed;
//   - the no-change resync by kubectl too, for comparison.
// Reported: wall time, API requests (and writes), and the ratios.
//   node bench/agent-sync.ts [--resources 1000] [--namespaces 20]
import { spawnSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { connectCluster, syncSet } from "../src/cluster/index.ts";
import { loadManifests } from "../src/manifest/manifests.ts";
import { kubectlBinary, startKubeApiServer, type KubeCluster } from "../test/helpers/kube.ts";
import { tempDir } from "../test/helpers/tools.ts";
import { machine } from "./lib/measure.ts";

const { values } = parseArgs({
  options: { resources: { type: "string", default: "1000" }, namespaces: { type: "string", default: "20" } },
});
const total = Number(values.resources);
const namespaceCount = Number(values.namespaces);
const cleanups: (() => unknown)[] = [];
const scope = { after: (fn: () => unknown) => void cleanups.push(fn) };

/** The folder: one file per namespace (the Namespace) and one per object, kinds in rotation. */
function writeSet(dir: string, marker = "v1"): { namespaces: string[]; oneFile: string } {
  const namespaces = Array.from({ length: namespaceCount }, (_, i) => `bench-${String(i).padStart(2, "0")}`);
  for (const ns of namespaces) {
    mkdirSync(join(dir, ns), { recursive: true });
    writeFileSync(join(dir, ns, "namespace.yaml"), `apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ${ns}\n`);
  }
  let written = namespaceCount;
  for (let i = 0; written < total; i++, written++) {
    const ns = namespaces[i % namespaceCount]!;
    const name = `obj-${String(Math.floor(i / namespaceCount)).padStart(3, "0")}`;
    writeFileSync(join(dir, ns, `${name}.yaml`), objectYaml(i % 3, ns, name, marker));
  }
  return { namespaces, oneFile: join(dir, namespaces[0]!, "obj-000.yaml") };
}

function objectYaml(kind: number, ns: string, name: string, marker: string): string {
  if (kind === 0)
    return `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\n  namespace: ${ns}\ndata:\n  version: ${marker}\n  mode: strict\n`;
  // Not Services: on this API server without controllers, creating more than about 170 of them hangs
  // (504 after 34 s) in the ClusterIP allocator, for kubectl as for Vigil.
  if (kind === 1)
    return `apiVersion: v1\nkind: Secret\nmetadata:\n  name: ${name}\n  namespace: ${ns}\ntype: Opaque\nstringData:\n  token: not-a-real-${name}\n`;
  return `apiVersion: apps/v1
kind: Deployment
metadata:
  name: ${name}
  namespace: ${ns}
spec:
  replicas: 2
  selector: { matchLabels: { app: ${name} } }
  template:
    metadata: { labels: { app: ${name} } }
    spec:
      containers:
        - name: app
          image: registry.example.com/shop/${name}@sha256:${"a".repeat(64)}
          resources: { requests: { cpu: 100m, memory: 64Mi } }
`;
}

interface Measure {
  seconds: number;
  requests: number;
  writes: number;
}

/** kubectl apply --server-side of the folder; requests counted from its -v=6 request log. */
function kubectl(cluster: KubeCluster, dir: string): Measure {
  const start = performance.now();
  const r = spawnSync(
    kubectlBinary,
    ["--kubeconfig", cluster.admin.kubeconfigPath, "apply", "--server-side", "--field-manager", "kubectl-bench", "-R", "-f", dir, "-v=6"],
    { encoding: "utf8", maxBuffer: 1 << 30 },
  );
  const seconds = (performance.now() - start) / 1000;
  if (r.status !== 0)
    throw new Error(
      `kubectl apply failed: ${r.stderr
        .split("\n")
        .filter((l) => !l.includes("round_trippers"))
        .slice(-5)
        .join("\n")}`,
    );
  const requests = r.stderr
    .split("\n")
    .filter((l) => /"Response" verb="/.test(l) || /\b(GET|PATCH|POST|PUT|DELETE) https:\/\/\S+ \d{3}/.test(l));
  const writes = requests.filter((l) => /verb="(PATCH|POST|PUT|DELETE)"|\b(PATCH|POST|PUT|DELETE) https/.test(l));
  return { seconds, requests: requests.length, writes: writes.length };
}

async function vigilSync(cluster: KubeCluster, dir: string): Promise<Measure> {
  const objects = loadManifests([dir]);
  const client = await connectCluster({ kubeconfig: cluster.admin.kubeconfigPath });
  try {
    const namespaces = [...new Set(objects.map((o) => o.object.metadata?.namespace ?? o.object.metadata?.name ?? ""))];
    const start = performance.now();
    const result = await syncSet(client, objects, {
      environment: "bench",
      inventory: { namespace: "default", name: "vigil-inventory-bench" },
      allowedNamespaces: namespaces,
    });
    const seconds = (performance.now() - start) / 1000;
    const failed = result.objects.filter((o) => !["create", "update", "unchanged"].includes(o.action));
    if (failed.length > 0) throw new Error(`Vigil's sync left ${failed.length} objects ${failed[0]!.action}: ${failed[0]!.message ?? ""}`);
    return { seconds, requests: result.requests.total, writes: result.requests.writes };
  } finally {
    await client.close();
  }
}

const fmt = (m: Measure) => `${m.seconds.toFixed(2)} s, ${m.requests} requests (${m.writes} writes)`;

try {
  const dir = tempDir(scope, "vigil-bench-agent-");
  const set = writeSet(dir);
  console.error(`${total} resources in ${namespaceCount} namespaces; starting an API server for kubectl…`);
  const forKubectl = await startKubeApiServer(scope);
  const kubectlFirst = kubectl(forKubectl, dir);
  const kubectlAgain = kubectl(forKubectl, dir);
  await forKubectl.stop();
  console.error("starting an API server for Vigil…");
  const forVigil = await startKubeApiServer(scope);
  const first = await vigilSync(forVigil, dir);
  const resync = await vigilSync(forVigil, dir);
  writeFileSync(set.oneFile, objectYaml(0, set.namespaces[0]!, "obj-000", "v2"));
  const oneChange = await vigilSync(forVigil, dir);
  const result = {
    machine: machine(),
    resources: total,
    namespaces: namespaceCount,
    kubectl: { first: kubectlFirst, resync: kubectlAgain },
    vigil: { first, resync, oneFileChanged: oneChange },
    ratios: {
      kubectlFirstOverVigilFirst: kubectlFirst.seconds / first.seconds,
      vigilResyncOverVigilFirst: resync.seconds / first.seconds,
      kubectlResyncOverVigilResync: kubectlAgain.seconds / resync.seconds,
    },
  };
  console.log(JSON.stringify(result, null, 2));
  console.log(`
| measure (${total} resources, ${namespaceCount} namespaces, real kube-apiserver v1.37.2 on loopback) | value |
|---|---|
| kubectl apply --server-side -R -f, first sync | ${fmt(kubectlFirst)} |
| Vigil syncSet, first sync | ${fmt(first)} |
| **first sync: kubectl time / Vigil time** | **${result.ratios.kubectlFirstOverVigilFirst.toFixed(2)}x** (target ≥ 1: Vigil no slower) |
| kubectl, the same folder again | ${fmt(kubectlAgain)} |
| Vigil, no-change resync | ${fmt(resync)} — **${(result.ratios.vigilResyncOverVigilFirst * 100).toFixed(1)}%** of the first sync (target < 10%, no writes) |
| Vigil, one file changed | ${fmt(oneChange)} |
`);
} finally {
  for (const fn of cleanups.reverse()) await fn();
}
