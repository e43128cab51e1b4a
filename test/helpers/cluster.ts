// Support for the tests of src/cluster: one real API server per test file (started in before(), stopped
// in after()), raw requests as the admin or another user to set up and inspect the cluster behind
// Vigil's back, and manifests parsed the way the agent parses them.
import { after, before } from "node:test";
import { request, type Dispatcher } from "undici";
import { connectCluster, type Cluster, type ConnectOptions } from "../../src/cluster/index.ts";
import { parseManifests, type SourcedObject } from "../../src/manifest/manifests.ts";
import { missingKubeBinaries, startKubeApiServer, type KubeCluster } from "./kube.ts";

/**
 * Starts one API server for the whole file. Its value is read inside tests (after before() ran); without
 * the binaries it stays undefined and each test's requireKube() fails it in CI or skips it.
 */
export function kubeForFile(): { readonly cluster: KubeCluster } {
  const cleanups: (() => unknown)[] = [];
  const holder: { cluster?: KubeCluster } = {};
  before(async () => {
    if (missingKubeBinaries().length === 0) holder.cluster = await startKubeApiServer({ after: (fn) => void cleanups.push(fn) });
  });
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });
  return {
    get cluster() {
      if (!holder.cluster) throw new Error("the test API server did not start");
      return holder.cluster;
    },
  };
}

export interface Answer {
  status: number;
  body: any;
}

/** One request as `dispatcher`'s identity (the admin's unless given); JSON in and out. */
export async function kubeApi(
  kube: KubeCluster,
  method: Dispatcher.HttpMethod,
  path: string,
  body?: unknown,
  opts: { contentType?: string; dispatcher?: Dispatcher } = {},
): Promise<Answer> {
  const res = await request(`${kube.url}${path}`, {
    method,
    dispatcher: opts.dispatcher ?? kube.admin.dispatcher,
    headers: { accept: "application/json", ...(body !== undefined && { "content-type": opts.contentType ?? "application/json" }) },
    ...(body !== undefined && { body: typeof body === "string" ? body : JSON.stringify(body) }),
  });
  const text = await res.body.text();
  return { status: res.statusCode, body: text.startsWith("{") ? JSON.parse(text) : text };
}

/** Creates namespaces as the admin (Vigil's sets then only need to be allowed in them). */
export async function createNamespaces(kube: KubeCluster, ...names: string[]): Promise<void> {
  for (const name of names) {
    const answer = await kubeApi(kube, "POST", "/api/v1/namespaces", { metadata: { name } });
    if (answer.status !== 201) throw new Error(`creating namespace ${name}: ${answer.status} ${JSON.stringify(answer.body)}`);
  }
}

/** Manifests as the agent reads them, from YAML text named as a file. */
export function manifests(yaml: string, file = "envs/test/set.yaml"): SourcedObject[] {
  return parseManifests(yaml, file);
}

/** A Cluster as the admin, closed when the file's tests end. */
export async function adminCluster(
  kube: KubeCluster,
  t: { after(fn: () => unknown): void },
  options: Omit<ConnectOptions, "kubeconfig"> = {},
): Promise<Cluster> {
  const cluster = await connectCluster({ kubeconfig: kube.admin.kubeconfigPath, ...options });
  t.after(() => cluster.close());
  return cluster;
}

/** ConfigMaps as YAML documents, for sets of many similar objects. */
export function configMaps(namespace: string, names: string[], data: Record<string, string> = { key: "value" }): string {
  return names.map((name) => JSON.stringify({ apiVersion: "v1", kind: "ConfigMap", metadata: { name, namespace }, data })).join("\n---\n");
}
