// Which REST resource a manifest's kind is, as the API server's discovery would say: admission rules
// match resources ("deployments"), not kinds. Built-in kinds are listed here; custom kinds come from
// the CustomResourceDefinitions in the same set.
import type { KubeObject } from "./manifests.ts";

export interface ResourceType {
  group: string;
  version: string;
  kind: string;
  resource: string;
  namespaced: boolean;
}

// "group/version kind resource N|C" (N namespaced, C cluster-scoped); "" is the core group.
const builtIn = `
/v1 Pod pods N
/v1 Service services N
/v1 ConfigMap configmaps N
/v1 Secret secrets N
/v1 ServiceAccount serviceaccounts N
/v1 PersistentVolumeClaim persistentvolumeclaims N
/v1 PersistentVolume persistentvolumes C
/v1 Namespace namespaces C
/v1 Node nodes C
/v1 ReplicationController replicationcontrollers N
/v1 LimitRange limitranges N
/v1 ResourceQuota resourcequotas N
/v1 Endpoints endpoints N
/v1 Event events N
/v1 PodTemplate podtemplates N
apps/v1 Deployment deployments N
apps/v1 StatefulSet statefulsets N
apps/v1 DaemonSet daemonsets N
apps/v1 ReplicaSet replicasets N
apps/v1 ControllerRevision controllerrevisions N
batch/v1 Job jobs N
batch/v1 CronJob cronjobs N
autoscaling/v2 HorizontalPodAutoscaler horizontalpodautoscalers N
autoscaling/v1 HorizontalPodAutoscaler horizontalpodautoscalers N
policy/v1 PodDisruptionBudget poddisruptionbudgets N
networking.k8s.io/v1 NetworkPolicy networkpolicies N
networking.k8s.io/v1 Ingress ingresses N
networking.k8s.io/v1 IngressClass ingressclasses C
rbac.authorization.k8s.io/v1 Role roles N
rbac.authorization.k8s.io/v1 RoleBinding rolebindings N
rbac.authorization.k8s.io/v1 ClusterRole clusterroles C
rbac.authorization.k8s.io/v1 ClusterRoleBinding clusterrolebindings C
storage.k8s.io/v1 StorageClass storageclasses C
storage.k8s.io/v1 CSIDriver csidrivers C
storage.k8s.io/v1 VolumeAttachment volumeattachments C
scheduling.k8s.io/v1 PriorityClass priorityclasses C
node.k8s.io/v1 RuntimeClass runtimeclasses C
coordination.k8s.io/v1 Lease leases N
discovery.k8s.io/v1 EndpointSlice endpointslices N
apiextensions.k8s.io/v1 CustomResourceDefinition customresourcedefinitions C
admissionregistration.k8s.io/v1 ValidatingAdmissionPolicy validatingadmissionpolicies C
admissionregistration.k8s.io/v1 ValidatingAdmissionPolicyBinding validatingadmissionpolicybindings C
admissionregistration.k8s.io/v1 ValidatingWebhookConfiguration validatingwebhookconfigurations C
admissionregistration.k8s.io/v1 MutatingWebhookConfiguration mutatingwebhookconfigurations C
certificates.k8s.io/v1 CertificateSigningRequest certificatesigningrequests C
flowcontrol.apiserver.k8s.io/v1 FlowSchema flowschemas C
flowcontrol.apiserver.k8s.io/v1 PriorityLevelConfiguration prioritylevelconfigurations C
`;

function parseTable(): Map<string, ResourceType> {
  const table = new Map<string, ResourceType>();
  for (const line of builtIn.trim().split("\n")) {
    const [gv, kind, resource, scope] = line.split(" ") as [string, string, string, string];
    const [group, version] = gv.split("/") as [string, string];
    table.set(`${group}/${version}/${kind}`, { group, version, kind, resource, namespaced: scope === "N" });
  }
  return table;
}

const builtInTypesByKey = parseTable();

export function splitApiVersion(apiVersion: string): { group: string; version: string } {
  const slash = apiVersion.indexOf("/");
  return slash < 0 ? { group: "", version: apiVersion } : { group: apiVersion.slice(0, slash), version: apiVersion.slice(slash + 1) };
}

/** Resolves kinds to resources: built-in ones, and those that CRDs in `objects` define. */
export class ResourceTypes {
  private readonly custom = new Map<string, ResourceType>();

  constructor(objects: readonly KubeObject[]) {
    for (const o of objects) if (o.kind === "CustomResourceDefinition") this.addCrd(o);
  }

  private addCrd(crd: KubeObject): void {
    const spec = crd.spec as
      | { group?: string; names?: { kind?: string; plural?: string }; scope?: string; versions?: { name?: string }[] }
      | undefined;
    if (!spec?.group || !spec.names?.kind || !spec.names.plural) return;
    for (const v of spec.versions ?? []) {
      if (!v.name) continue;
      this.custom.set(`${spec.group}/${v.name}/${spec.names.kind}`, {
        group: spec.group,
        version: v.name,
        kind: spec.names.kind,
        resource: spec.names.plural,
        namespaced: spec.scope !== "Cluster",
      });
    }
  }

  /** The resource type of an object, or undefined when neither Kubernetes nor a CRD in the set defines it. */
  of(o: KubeObject): ResourceType | undefined {
    const { group, version } = splitApiVersion(o.apiVersion);
    const key = `${group}/${version}/${o.kind}`;
    return builtInTypesByKey.get(key) ?? this.custom.get(key);
  }
}

/** Whether Kubernetes itself defines the object's kind (at its apiVersion). */
export function isBuiltInKind(o: KubeObject): boolean {
  const { group, version } = splitApiVersion(o.apiVersion);
  return builtInTypesByKey.has(`${group}/${version}/${o.kind}`);
}

/** Every built-in type the table lists (for generating the pinned schema). */
export function builtInTypes(): ResourceType[] {
  return [...builtInTypesByKey.values()];
}
