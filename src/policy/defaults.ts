// What the API server adds to an object before admission sees it: a policy in a cluster evaluates the
// defaulted object, so the gate must too, or a policy would pass offline and deny in the cluster (a
// Service port without a protocol is TCP; a volume that names no source is an emptyDir). These are the
// defaults of Kubernetes v1.37 (pkg/apis/core/v1/defaults.go, apps/v1, batch/v1) that a policy can
// observe in the fields it commonly reads; the object as written is kept for messages and pinning.
import type { KubeObject } from "../manifest/manifests.ts";
import { podSpecPathOf } from "../manifest/workloads.ts";

type Json = Record<string, unknown>;

/** The object as admission would see it on create: a defaulted copy, or the object itself when the
 *  API server adds nothing to its kind. */
export function admittedObject(o: KubeObject): KubeObject {
  const specPath = podSpecPathOf(o);
  const defaulter = kindDefaults[`${o.apiVersion} ${o.kind}`];
  if (!specPath && !defaulter) return o;
  // Copy on write: every mapping or list a default is written into is copied first (record() and
  // copied()), so the object as written, shared with messages and the artifact gate, never changes.
  const copy = { ...o };
  defaulter?.(copy);
  if (specPath) {
    let at: Json = copy;
    for (const key of specPath) {
      if (!isRecord(at[key as string])) return copy;
      at = record(at, key as string);
    }
    defaultPodSpec(at);
  }
  return copy;
}

const kindDefaults: Record<string, (o: KubeObject) => void> = {
  "v1 Namespace": (o) => {
    // The API server sets this label on every named Namespace, overwriting any value written.
    const name = o.metadata?.name;
    if (!name) return;
    o.metadata = { ...o.metadata, labels: { ...(o.metadata!.labels ?? {}), "kubernetes.io/metadata.name": name } };
  },
  "v1 Service": (o) => {
    const spec = record(o, "spec");
    spec.type ??= "ClusterIP";
    spec.sessionAffinity ??= "None";
    for (const port of copied(spec, "ports")) port.protocol ??= "TCP";
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
  for (const volume of copied(spec, "volumes")) defaultVolume(volume);
  for (const list of ["initContainers", "containers", "ephemeralContainers"]) for (const c of copied(spec, list)) defaultContainer(c);
}

/** Every field of a volume that is not its name is its source; with none, it is an emptyDir. */
function defaultVolume(volume: Json): void {
  const sources = Object.keys(volume).filter((k) => k !== "name");
  if (sources.length === 0) volume.emptyDir = {};
  for (const key of ["secret", "configMap", "downwardAPI", "projected"]) if (isRecord(volume[key])) record(volume, key).defaultMode ??= 420;
}

function defaultContainer(c: Json): void {
  if (typeof c.image === "string") c.imagePullPolicy ??= pullPolicyFor(c.image);
  c.terminationMessagePath ??= "/dev/termination-log";
  c.terminationMessagePolicy ??= "File";
  for (const port of copied(c, "ports")) port.protocol ??= "TCP";
}

/** Always for `:latest` or no tag (and no digest), IfNotPresent otherwise, as the API server decides. */
function pullPolicyFor(image: string): string {
  if (image.includes("@")) return "IfNotPresent";
  const lastSlash = image.lastIndexOf("/");
  const colon = image.indexOf(":", lastSlash + 1);
  const tag = colon < 0 ? "latest" : image.slice(colon + 1);
  return tag === "latest" ? "Always" : "IfNotPresent";
}

/** A mapping field of `o`, copied so it may be written (created empty when absent; a field written as
 *  something else is left alone and a throwaway mapping returned, so defaulting never makes a
 *  malformed object valid). */
function record(o: Json, key: string): Json {
  if (o[key] === undefined) o[key] = {};
  if (!isRecord(o[key])) return {};
  const copy = { ...(o[key] as Json) };
  o[key] = copy;
  return copy;
}

/** The mappings of a list field of `o`, the list and each mapping copied so they may be written. */
function copied(o: Json, key: string): Json[] {
  const list = o[key];
  if (!Array.isArray(list)) return [];
  const copies = list.map((item) => (isRecord(item) ? { ...item } : item));
  o[key] = copies;
  return copies.filter(isRecord);
}

function isRecord(value: unknown): value is Json {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}
