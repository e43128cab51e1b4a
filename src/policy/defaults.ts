// What the API server adds to an object before admission sees it: a policy in a cluster evaluates the
// defaulted object, so the gate must too, or a policy would pass offline and deny in the cluster (a
// Service port without a protocol is TCP; a volume that names no source is an emptyDir). These are the
// defaults of Kubernetes v1.37 (pkg/apis/core/v1/defaults.go, apps/v1, batch/v1) that a policy can
// observe in the fields it commonly reads; the object as written is kept for messages and pinning.
import type { KubeObject } from "./manifests.ts";
import { podSpecPathOf, valueAt } from "./workloads.ts";

type Json = Record<string, unknown>;

/** The object as admission would see it on create: a defaulted copy, or the object itself when the
 *  API server adds nothing to its kind. */
export function admittedObject(o: KubeObject): KubeObject {
  const specPath = podSpecPathOf(o);
  const defaulter = kindDefaults[`${o.apiVersion} ${o.kind}`];
  if (!specPath && !defaulter) return o;
  const copy = structuredClone(o);
  defaulter?.(copy);
  const spec = specPath && valueAt(copy, specPath);
  if (isRecord(spec)) defaultPodSpec(spec);
  return copy;
}

const kindDefaults: Record<string, (o: KubeObject) => void> = {
  "v1 Namespace": (o) => {
    // The API server sets this label on every named Namespace, overwriting any value written.
    const name = o.metadata?.name;
    if (!name) return;
    o.metadata!.labels = { ...(o.metadata!.labels ?? {}), "kubernetes.io/metadata.name": name };
  },
  "v1 Service": (o) => {
    const spec = record(o, "spec");
    spec.type ??= "ClusterIP";
    spec.sessionAffinity ??= "None";
    for (const port of records(spec.ports)) port.protocol ??= "TCP";
    if (["ClusterIP", "NodePort", "LoadBalancer"].includes(spec.type as string)) spec.internalTrafficPolicy ??= "Cluster";
    if (spec.type === "NodePort" || spec.type === "LoadBalancer") spec.externalTrafficPolicy ??= "Cluster";
  },
  "v1 Secret": (o) => {
    o.type ??= "Opaque";
  },
  "apps/v1 Deployment": (o) => {
    const spec = record(o, "spec");
    spec.replicas ??= 1;
    spec.revisionHistoryLimit ??= 10;
    spec.progressDeadlineSeconds ??= 600;
    const strategy = record(spec, "strategy");
    strategy.type ??= "RollingUpdate";
    if (strategy.type === "RollingUpdate") {
      const rolling = record(strategy, "rollingUpdate");
      rolling.maxUnavailable ??= "25%";
      rolling.maxSurge ??= "25%";
    }
  },
  "apps/v1 StatefulSet": (o) => {
    const spec = record(o, "spec");
    spec.replicas ??= 1;
    spec.podManagementPolicy ??= "OrderedReady";
    spec.revisionHistoryLimit ??= 10;
    const strategy = record(spec, "updateStrategy");
    strategy.type ??= "RollingUpdate";
  },
  "apps/v1 DaemonSet": (o) => {
    const spec = record(o, "spec");
    spec.revisionHistoryLimit ??= 10;
    const strategy = record(spec, "updateStrategy");
    strategy.type ??= "RollingUpdate";
  },
  "apps/v1 ReplicaSet": (o) => {
    record(o, "spec").replicas ??= 1;
  },
  "v1 ReplicationController": (o) => {
    record(o, "spec").replicas ??= 1;
  },
  "batch/v1 Job": (o) => {
    const spec = record(o, "spec");
    if (spec.completions === undefined && spec.parallelism === undefined) spec.completions = 1;
    spec.parallelism ??= 1;
    spec.backoffLimit ??= 6;
    spec.completionMode ??= "NonIndexed";
    spec.suspend ??= false;
  },
  "batch/v1 CronJob": (o) => {
    const spec = record(o, "spec");
    spec.concurrencyPolicy ??= "Allow";
    spec.suspend ??= false;
    spec.successfulJobsHistoryLimit ??= 3;
    spec.failedJobsHistoryLimit ??= 1;
  },
};

function defaultPodSpec(spec: Json): void {
  spec.dnsPolicy ??= "ClusterFirst";
  spec.restartPolicy ??= "Always";
  spec.securityContext ??= {};
  spec.terminationGracePeriodSeconds ??= 30;
  spec.schedulerName ??= "default-scheduler";
  for (const volume of records(spec.volumes)) defaultVolume(volume);
  for (const list of ["initContainers", "containers", "ephemeralContainers"]) for (const c of records(spec[list])) defaultContainer(c);
}

/** Every field of a volume that is not its name is its source; with none, it is an emptyDir. */
function defaultVolume(volume: Json): void {
  const sources = Object.keys(volume).filter((k) => k !== "name");
  if (sources.length === 0) volume.emptyDir = {};
  for (const key of ["secret", "configMap", "downwardAPI", "projected"]) if (isRecord(volume[key])) (volume[key] as Json).defaultMode ??= 420;
}

function defaultContainer(c: Json): void {
  if (typeof c.image === "string") c.imagePullPolicy ??= pullPolicyFor(c.image);
  c.terminationMessagePath ??= "/dev/termination-log";
  c.terminationMessagePolicy ??= "File";
  for (const port of records(c.ports)) port.protocol ??= "TCP";
}

/** Always for `:latest` or no tag (and no digest), IfNotPresent otherwise, as the API server decides. */
function pullPolicyFor(image: string): string {
  if (image.includes("@")) return "IfNotPresent";
  const lastSlash = image.lastIndexOf("/");
  const colon = image.indexOf(":", lastSlash + 1);
  const tag = colon < 0 ? "latest" : image.slice(colon + 1);
  return tag === "latest" ? "Always" : "IfNotPresent";
}

/** A mapping field of `o`, created empty when absent (a field written as something else is left alone
 *  and a throwaway mapping returned, so a malformed object is not made valid by defaulting). */
function record(o: Json, key: string): Json {
  if (o[key] === undefined) o[key] = {};
  return isRecord(o[key]) ? (o[key] as Json) : {};
}

function records(value: unknown): Json[] {
  return Array.isArray(value) ? value.filter(isRecord) : [];
}

function isRecord(value: unknown): value is Json {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}
