// What the agent's tests and benchmarks share: an API server with the agent's namespace, an agent
// configuration file written from a few fields, and one reconcile as `vigil agent --once` runs it.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { startAgent } from "../../src/agent/agent.ts";
import type { ReconcileResult } from "../../src/agent/reconcile.ts";
import { connectCluster, type Cluster } from "../../src/cluster/index.ts";
import { startKubeApiServer, type After, type KubeCluster } from "./kube.ts";

/** A real API server, an admin connection to it, and the agent's namespace (unless null). */
export async function agentTestCluster(
  scope: After,
  agentNamespace: string | null = "vigil-system",
): Promise<{ cluster: KubeCluster; admin: Cluster }> {
  const cluster = await startKubeApiServer(scope);
  const admin = await connectCluster({ kubeconfig: cluster.admin.kubeconfigPath });
  scope.after(() => admin.close());
  if (agentNamespace) await createNamespace(admin, agentNamespace);
  return { cluster, admin };
}

export async function createNamespace(admin: Cluster, name: string): Promise<void> {
  await admin.call({
    verb: "create",
    method: "POST",
    path: "/api/v1/namespaces",
    body: { apiVersion: "v1", kind: "Namespace", metadata: { name } },
  });
}

export interface AgentEnvironment {
  name: string;
  /** The repository's URL or path. */
  url: string;
  /** A kubeconfig file, or the in-cluster service account. */
  cluster: string | "inCluster";
  namespaces: string[];
  interval?: string;
  serviceAccount?: string;
  gates?: string[];
  force?: boolean;
  /** Further fields of the environment, as YAML lines indented by four spaces (vulnerability…). */
  extra?: string;
}

export interface AgentConfigFields {
  trust: string;
  /** The agent's own namespace (default vigil-system). */
  namespace?: string;
  packs: string[];
  /** Top-level lines of YAML before `environments:` (webhook, audit, insecureRegistries…). */
  extra?: string;
  environments: AgentEnvironment[];
}

/** Writes DIR/agent.yaml (its cache in DIR/cache) and returns its path. */
export function writeAgentConfig(dir: string, fields: AgentConfigFields): string {
  const file = join(dir, "agent.yaml");
  writeFileSync(
    file,
    `apiVersion: vigil.dev/v1alpha1
kind: AgentConfig
trustPolicy: ${fields.trust}
namespace: ${fields.namespace ?? "vigil-system"}
cacheDir: ${join(dir, "cache")}
policy: { packs: [${fields.packs.join(", ")}] }
${fields.extra ?? ""}environments:
${fields.environments.map(environmentYaml).join("")}`,
  );
  return file;
}

function environmentYaml(e: AgentEnvironment): string {
  const optional = (key: string, value: string | undefined) => (value === undefined ? "" : `    ${key}: ${value}\n`);
  return `  - name: ${e.name}
    source: { url: "${e.url}" }
    cluster: ${e.cluster === "inCluster" ? "{ inCluster: true }" : `{ kubeconfig: ${e.cluster} }`}
    namespaces: [${e.namespaces.join(", ")}]
${optional("interval", e.interval)}${optional("serviceAccount", e.serviceAccount)}${optional("gates", e.gates && `[${e.gates.join(", ")}]`)}${optional("force", e.force ? "true" : undefined)}${e.extra ?? ""}`;
}

/** One reconcile of every environment in the configuration, as `vigil agent --once` does. */
export async function reconcileOnce(configFile: string, dryRun = false): Promise<ReconcileResult[]> {
  const agent = await startAgent({ configFile, dryRun, onResult: () => {} });
  try {
    return await agent.reconcileAll();
  } finally {
    await agent.stop();
  }
}
