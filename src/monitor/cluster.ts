// The monitor and the cluster: what Pods actually run (the image digests their container statuses
// report), compared with the inventory, and Kubernetes Events for findings. A digest a Pod runs that
// Vigil did not deploy to that environment is a finding: something reached the cluster by another path.
import { apiFailure, type Cluster } from "../cluster/client.ts";
import { recordEvent } from "../cluster/status.ts";
import { findingKey, type MonitorFinding } from "./findings.ts";
import type { DeployedWorkload } from "../api/inventory.ts";
import type { Sink } from "./monitor.ts";

export interface RunningContainer {
  namespace: string;
  pod: string;
  container: string;
  image: string;
  digest: string;
}

const DIGEST = /sha256:[0-9a-f]{64}$/;
const PAGE = "500";
/** A cluster larger than this many Pods per namespace list is read in pages; this caps the pages read. */
const MAX_PAGES = 1000;

/** Containers that run (their status reports an image ID), in these namespaces or in all of them. */
export async function runningContainers(cluster: Cluster, namespaces?: string[]): Promise<RunningContainer[]> {
  const out: RunningContainer[] = [];
  for (const path of namespaces ? namespaces.map((ns) => `/api/v1/namespaces/${encodeURIComponent(ns)}/pods`) : ["/api/v1/pods"]) {
    let next: string | undefined;
    let pages = 0;
    do {
      const answer = await cluster.call({ verb: "list", method: "GET", path, query: { limit: PAGE, continue: next } });
      if (answer.status !== 200) throw apiFailure(answer, `listing Pods (${path})`);
      for (const pod of answer.body.items ?? []) out.push(...containersOf(pod));
      next = answer.body.metadata?.continue || undefined;
    } while (next && ++pages < MAX_PAGES);
  }
  return out;
}

function containersOf(pod: any): RunningContainer[] {
  const statuses = [
    ...(pod.status?.initContainerStatuses ?? []),
    ...(pod.status?.containerStatuses ?? []),
    ...(pod.status?.ephemeralContainerStatuses ?? []),
  ];
  return statuses.flatMap((s: any) => {
    // imageID is what the runtime resolved ("docker-pullable://repo@sha256:…", "repo@sha256:…"); without it the container has not started.
    const digest = typeof s.imageID === "string" ? DIGEST.exec(s.imageID)?.[0] : undefined;
    return digest
      ? [
          {
            namespace: String(pod.metadata?.namespace),
            pod: String(pod.metadata?.name),
            container: String(s.name),
            image: String(s.image ?? ""),
            digest,
          },
        ]
      : [];
  });
}

/** Running digests the environment's inventory does not hold. */
export function notDeployed(
  environment: string,
  running: RunningContainer[],
  workloads: DeployedWorkload[],
  since: string,
): MonitorFinding[] {
  const deployed = new Set(workloads.filter((w) => w.environment === environment).flatMap((w) => w.images.map((i) => i.digest)));
  return running
    .filter((c) => !deployed.has(c.digest))
    .map((c) => ({
      key: findingKey(environment, `Pod ${c.namespace}/${c.pod}`, c.digest, c.container),
      type: "not-deployed" as const,
      subject: `${c.image.split("@")[0]}@${c.digest}`,
      rule: "not-deployed",
      environment,
      workload: `Pod ${c.namespace}/${c.pod}`,
      image: c.image,
      digest: c.digest,
      severity: "high" as const,
      since,
      action: `container ${c.container} of Pod ${c.namespace}/${c.pod} runs ${c.image.split("@")[0]}@${c.digest}, which Vigil did not deploy to ${environment}: find who created it (the API server's audit log), delete it, and deploy through the config repository`,
    }))
    .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

/** Events per workload and change, at most this many findings named in one (the rest counted). */
const NAMED = 5;

/**
 * Kubernetes Events on the workloads concerned: one Warning per workload and change summing up what
 * opened (a feed of 10,000 advisories must not become 10,000 Events), one Normal for what closed.
 */
export function eventsSink(cluster: Cluster, environment?: string, apiVersionOf: (kind: string) => string = defaultApiVersion): Sink {
  // Repository findings name refs, not cluster objects: they go to the other sinks.
  const ours = (f: MonitorFinding) => f.type !== "repository" && (environment === undefined || f.environment === environment);
  return {
    name: "Kubernetes Events",
    async emit(changes) {
      for (const [state, list] of [
        ["opened", changes.opened],
        ["closed", changes.closed],
      ] as const) {
        for (const group of byWorkload(list.filter(ours))) {
          const [kind, ref] = splitWorkload(group[0]!.workload);
          const [namespace, name] = ref.includes("/") ? (ref.split("/", 2) as [string, string]) : [undefined, ref];
          const named = group
            .slice(0, NAMED)
            .map((f) => `${f.rule} (${f.severity}) in ${f.subject}`)
            .join("; ");
          const more = group.length > NAMED ? ` and ${group.length - NAMED} more (vigil findings --env ${group[0]!.environment})` : "";
          await recordEvent(cluster, {
            namespace: namespace ?? "default",
            involvedObject: { apiVersion: apiVersionOf(kind), kind, name, ...(namespace && { namespace }) },
            reason: state === "opened" ? reasonFor(group[0]!) : "FindingsResolved",
            type: state === "opened" ? "Warning" : "Normal",
            message: `${group.length} finding${group.length === 1 ? "" : "s"} ${state} (${changes.trigger}): ${named}${more}`,
          });
        }
      }
    },
  };
}

function reasonFor(f: MonitorFinding): string {
  return f.type === "advisory"
    ? "VulnerabilityFound"
    : f.type === "untrusted-key"
      ? "UntrustedKey"
      : f.type === "policy"
        ? "PolicyViolation"
        : "ImageNotDeployed";
}

function byWorkload(list: MonitorFinding[]): MonitorFinding[][] {
  const groups = new Map<string, MonitorFinding[]>();
  for (const f of list) {
    const key = `${f.environment}\u0000${f.workload}\u0000${f.type}`;
    groups.set(key, [...(groups.get(key) ?? []), f]);
  }
  return [...groups.values()];
}

function splitWorkload(workload: string): [string, string] {
  const space = workload.indexOf(" ");
  return [workload.slice(0, space), workload.slice(space + 1)];
}

const API_VERSIONS: Record<string, string> = {
  Pod: "v1",
  Deployment: "apps/v1",
  StatefulSet: "apps/v1",
  DaemonSet: "apps/v1",
  ReplicaSet: "apps/v1",
  Job: "batch/v1",
  CronJob: "batch/v1",
};
const defaultApiVersion = (kind: string) => API_VERSIONS[kind] ?? "v1";
