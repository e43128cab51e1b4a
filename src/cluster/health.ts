// Health of what an environment applied: workloads by their rollout (the checks `kubectl rollout status`
// makes), Jobs by their Complete/Failed conditions, Pods and claims by their phase, anything else with a
// Ready condition by it, and everything else healthy once it exists. The environment is degraded if any
// object is, else progressing if any object is, else healthy.
import type { KubeObject, SourcedObject } from "../manifest/manifests.ts";
import type { Cluster } from "./client.ts";
import { resourcePath } from "./discovery.ts";
import { inPool, listLabelled } from "./live.ts";
import { identity, type ObjectRef } from "./objects.ts";

export type HealthState = "healthy" | "progressing" | "degraded";

export interface ResourceHealth {
  object: ObjectRef;
  state: HealthState;
  /** Why, in a few words: "2 of 3 updated replicas are available". */
  message: string;
}

export interface HealthReport {
  state: HealthState;
  resources: ResourceHealth[];
}

export interface HealthOptions {
  /** With the environment's name, objects are read by a labelled LIST per kind and namespace instead of one GET each. */
  environment?: string;
}

export async function assessHealth(
  cluster: Cluster,
  objects: readonly (SourcedObject | KubeObject)[],
  options: HealthOptions = {},
): Promise<HealthReport> {
  const refs = objects.map((o): ObjectRef => {
    const sourced = "file" in o && "object" in o ? (o as SourcedObject) : undefined;
    const obj = sourced ? sourced.object : (o as KubeObject);
    return {
      apiVersion: obj.apiVersion,
      kind: obj.kind,
      ...(obj.metadata?.namespace && { namespace: obj.metadata.namespace }),
      name: String(obj.metadata?.name),
      ...(sourced && { file: sourced.file, line: sourced.line }),
    };
  });
  const kinds = await cluster.discovery.resolve(refs);
  const wanted = refs.map((ref) => ({ ref, info: kinds.get(`${ref.apiVersion}|${ref.kind}`) }));
  const live = new Map<string, any>();
  if (options.environment !== undefined) {
    const listed = await listLabelled(
      cluster,
      options.environment,
      wanted.flatMap((w) => (w.info ? [{ info: w.info, namespace: w.ref.namespace }] : [])),
    );
    for (const [k, v] of listed) live.set(k, v);
  } else {
    await inPool(wanted, 8, async ({ ref, info }) => {
      if (!info) return;
      const answer = await cluster.call({ verb: "get", method: "GET", path: resourcePath(info, ref.namespace, ref.name) });
      if (answer.status === 200) live.set(identity(ref), answer.body);
    });
  }
  const resources = wanted.map(({ ref, info }): ResourceHealth => {
    if (!info) return { object: ref, state: "degraded", message: `the cluster does not serve ${ref.kind} in ${ref.apiVersion}` };
    const obj = live.get(identity(ref));
    if (!obj) return { object: ref, state: "degraded", message: "does not exist" };
    return { object: ref, ...healthOf(obj) };
  });
  const state: HealthState = resources.some((r) => r.state === "degraded")
    ? "degraded"
    : resources.some((r) => r.state === "progressing")
      ? "progressing"
      : "healthy";
  return { state, resources };
}

type Verdict = { state: HealthState; message: string };
const healthy = (message = "ready"): Verdict => ({ state: "healthy", message });
const progressing = (message: string): Verdict => ({ state: "progressing", message });
const degraded = (message: string): Verdict => ({ state: "degraded", message });

interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
}

/** The health of one live object. */
export function healthOf(obj: any): Verdict {
  if (obj.metadata?.deletionTimestamp) return degraded("is being deleted");
  const group = String(obj.apiVersion ?? "").includes("/") ? String(obj.apiVersion).split("/")[0] : "";
  const kind = `${group}/${obj.kind}`;
  const status = obj.status ?? {};
  const conditions = (status.conditions ?? []) as Condition[];
  const condition = (type: string) => conditions.find((c) => c.type === type);
  switch (kind) {
    case "apps/Deployment":
      return deployment(obj, status, condition);
    case "apps/StatefulSet":
      return statefulSet(obj, status);
    case "apps/DaemonSet":
      return daemonSet(obj, status);
    case "batch/Job": {
      const failed = condition("Failed");
      if (failed?.status === "True") return degraded(`failed: ${failed.reason ?? ""}${failed.message ? ` ${failed.message}` : ""}`.trim());
      if (condition("Complete")?.status === "True") return healthy("complete");
      return progressing(`${status.succeeded ?? 0} succeeded, ${status.active ?? 0} active`);
    }
    case "/Pod": {
      if (status.phase === "Succeeded") return healthy("succeeded");
      if (status.phase === "Failed") return degraded(`failed${status.reason ? `: ${status.reason}` : ""}`);
      if (status.phase === "Running" && condition("Ready")?.status === "True") return healthy();
      return progressing(status.phase === "Running" ? "running, not ready" : `${status.phase ?? "Pending"}`);
    }
    case "/PersistentVolumeClaim":
      if (status.phase === "Bound") return healthy("bound");
      if (status.phase === "Lost") return degraded("lost its volume");
      return progressing(`${status.phase ?? "Pending"}`);
  }
  // Anything with a Ready condition (cert-manager, Flux, Crossplane and most operators write one).
  const ready = condition("Ready");
  if (ready) {
    const stale =
      typeof status.observedGeneration === "number" &&
      typeof obj.metadata?.generation === "number" &&
      status.observedGeneration < obj.metadata.generation;
    if (stale) return progressing("its controller has not observed the latest change yet");
    const why = [ready.reason, ready.message].filter(Boolean).join(": ");
    if (ready.status === "True") return healthy(why || "ready");
    if (ready.status === "False") return degraded(`not ready${why ? `: ${why}` : ""}`);
    return progressing(`readiness unknown${why ? `: ${why}` : ""}`);
  }
  return healthy("exists");
}

function observed(obj: any, status: any): boolean {
  return (status.observedGeneration ?? 0) >= (obj.metadata?.generation ?? 0);
}

function deployment(obj: any, status: any, condition: (type: string) => Condition | undefined): Verdict {
  if (!observed(obj, status)) return progressing("waiting for the rollout to be observed");
  const stuck = condition("Progressing");
  if (stuck?.reason === "ProgressDeadlineExceeded")
    return degraded(`rollout exceeded its progress deadline${stuck.message ? `: ${stuck.message}` : ""}`);
  if (obj.spec?.paused) return progressing("rollout is paused");
  const wanted = obj.spec?.replicas ?? 1;
  const updated = status.updatedReplicas ?? 0;
  if (updated < wanted) return progressing(`${updated} of ${wanted} replicas updated`);
  if ((status.replicas ?? 0) > updated) return progressing(`${(status.replicas ?? 0) - updated} old replicas pending termination`);
  if ((status.availableReplicas ?? 0) < updated)
    return progressing(`${status.availableReplicas ?? 0} of ${updated} updated replicas available`);
  return healthy(`${updated} of ${wanted} replicas updated and available`);
}

function statefulSet(obj: any, status: any): Verdict {
  if (!observed(obj, status)) return progressing("waiting for the rollout to be observed");
  const wanted = obj.spec?.replicas ?? 1;
  const ready = status.readyReplicas ?? 0;
  if (ready < wanted) return progressing(`${ready} of ${wanted} replicas ready`);
  if (obj.spec?.updateStrategy?.type === "OnDelete") return healthy(`${ready} of ${wanted} replicas ready (updated on delete)`);
  const partition = obj.spec?.updateStrategy?.rollingUpdate?.partition;
  if (typeof partition === "number" && partition > 0) {
    const updated = status.updatedReplicas ?? 0;
    if (updated < wanted - partition) return progressing(`${updated} of ${wanted - partition} replicas above the partition updated`);
    return healthy(`partitioned rollout: ${updated} replicas updated`);
  }
  if (status.updateRevision && status.currentRevision !== status.updateRevision)
    return progressing(`${status.updatedReplicas ?? 0} of ${wanted} replicas at the update revision`);
  return healthy(`${ready} of ${wanted} replicas ready`);
}

function daemonSet(obj: any, status: any): Verdict {
  if (!observed(obj, status)) return progressing("waiting for the rollout to be observed");
  const wanted = status.desiredNumberScheduled ?? 0;
  if (obj.spec?.updateStrategy?.type === "OnDelete")
    return healthy(`${status.numberReady ?? 0} of ${wanted} scheduled pods ready (updated on delete)`);
  const updated = status.updatedNumberScheduled ?? 0;
  if (updated < wanted) return progressing(`${updated} of ${wanted} scheduled pods updated`);
  if ((status.numberAvailable ?? 0) < wanted) return progressing(`${status.numberAvailable ?? 0} of ${wanted} updated pods available`);
  return healthy(`${wanted} of ${wanted} pods updated and available`);
}
