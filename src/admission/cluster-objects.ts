// What the webhook keeps in the cluster, by server-side apply as field manager "vigil-admission":
// - the ValidatingWebhookConfiguration: one webhook per environment (its namespaces, its failure
//   policy) and one for every other namespace, failing closed; the agent's namespace and kube-system
//   (and excludeNamespaces) left out of all of them, since the agent, the webhook itself and the control
//   plane's own Pods must start when the webhook is down (otherwise: deadlock);
// - each environment's policy packs as ValidatingAdmissionPolicies with bindings of its own, limited to
//   its namespaces, so the packs' rules hold for objects that did not come through Vigil too.
import { apiFailure, type Cluster } from "../cluster/client.ts";
import type { KubeObject } from "../manifest/manifests.ts";
import { loadPacks } from "../policy/packs.ts";
import type { AdmissionConfig } from "./config.ts";

const FIELD_MANAGER = "vigil-admission";
export const WEBHOOK_PATH = "/validate";
const NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name";

/** Where Pods and pod templates are: these, and nothing else, are sent to the webhook. */
const RULES = [
  { apiGroups: [""], apiVersions: ["v1"], resources: ["pods", "pods/ephemeralcontainers", "replicationcontrollers", "podtemplates"] },
  { apiGroups: ["apps"], apiVersions: ["v1"], resources: ["deployments", "replicasets", "statefulsets", "daemonsets"] },
  { apiGroups: ["batch"], apiVersions: ["v1"], resources: ["jobs", "cronjobs"] },
].map((r) => ({ ...r, operations: ["CREATE", "UPDATE"], scope: "Namespaced" }));

/** Packs that read other manifests of a set (vigil.objects) run offline only; the API server refuses them. */
const OFFLINE_ONLY_PACKS = new Set(["network-isolation"]);

export function webhookConfiguration(config: AdmissionConfig, caBundle: string): KubeObject {
  const clientConfig = {
    caBundle: Buffer.from(caBundle).toString("base64"),
    ...(config.webhook.url
      ? { url: new URL(WEBHOOK_PATH, config.webhook.url).toString() }
      : {
          service: {
            namespace: config.namespace,
            name: config.webhook.service!.name,
            port: config.webhook.service!.port,
            path: WEBHOOK_PATH,
          },
        }),
  };
  const common = {
    clientConfig,
    rules: RULES,
    sideEffects: "NoneOnDryRun",
    admissionReviewVersions: ["v1"],
    timeoutSeconds: config.webhook.timeoutSeconds,
    matchPolicy: "Equivalent",
  };
  const managed = config.environments.flatMap((e) => e.namespaces);
  return {
    apiVersion: "admissionregistration.k8s.io/v1",
    kind: "ValidatingWebhookConfiguration",
    metadata: {
      name: config.webhook.name,
      labels: { "app.kubernetes.io/managed-by": "vigil" },
      annotations: {
        "vigil.dev/excluded-namespaces": `${config.excluded.join(", ")}: left out so the agent, this webhook and the control plane can start while the webhook is down (no deadlock)`,
      },
    },
    webhooks: [
      ...config.environments.map((e) => ({
        ...common,
        name: `${e.name}.env.admission.vigil.dev`,
        failurePolicy: e.failurePolicy,
        namespaceSelector: { matchExpressions: [{ key: NAMESPACE_NAME_LABEL, operator: "In", values: e.namespaces }] },
      })),
      {
        ...common,
        name: "other-namespaces.admission.vigil.dev",
        failurePolicy: "Fail",
        namespaceSelector: {
          matchExpressions: [{ key: NAMESPACE_NAME_LABEL, operator: "NotIn", values: [...config.excluded, ...managed] }],
        },
      },
    ],
  };
}

/** Each environment's packs: the policies once, and one binding per environment and policy, for its namespaces. */
export function environmentPolicies(config: Pick<AdmissionConfig, "environments">): KubeObject[] {
  const policies = new Map<string, KubeObject>();
  const bindings: KubeObject[] = [];
  for (const env of config.environments) {
    for (const o of packPolicies(env)) {
      if (o.kind === "ValidatingAdmissionPolicy") policies.set(o.metadata!.name!, o);
      else bindings.push(o);
    }
  }
  return [...policies.values(), ...bindings];
}

/**
 * One environment's packs as the cluster should hold them: the packs' ValidatingAdmissionPolicies, and
 * instead of the packs' own cluster-wide bindings, bindings named vigil-ENV-POLICY limited to the
 * environment's namespaces (the agent may install them the same way).
 */
export function packPolicies(env: { name: string; namespaces: readonly string[]; packs: readonly string[] }): KubeObject[] {
  const objects = loadPacks(env.packs.filter((p) => !OFFLINE_ONLY_PACKS.has(p))).map((so) => so.object);
  const bindings = objects
    .filter((o) => o.kind === "ValidatingAdmissionPolicyBinding")
    .map((b) => {
      const spec = b.spec as { policyName: string; validationActions?: string[]; paramRef?: unknown };
      return {
        apiVersion: "admissionregistration.k8s.io/v1",
        kind: "ValidatingAdmissionPolicyBinding",
        metadata: {
          name: `vigil-${env.name}-${spec.policyName}`,
          labels: { "app.kubernetes.io/managed-by": "vigil", "vigil.dev/environment": env.name },
        },
        spec: {
          policyName: spec.policyName,
          validationActions: spec.validationActions ?? ["Deny"],
          ...(spec.paramRef !== undefined && { paramRef: spec.paramRef }),
          matchResources: {
            namespaceSelector: { matchExpressions: [{ key: NAMESPACE_NAME_LABEL, operator: "In", values: [...env.namespaces] }] },
          },
        },
      };
    });
  return [...objects.filter((o) => o.kind === "ValidatingAdmissionPolicy"), ...bindings];
}

const PATHS: Record<string, string> = {
  ValidatingWebhookConfiguration: "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations",
  ValidatingAdmissionPolicy: "/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicies",
  ValidatingAdmissionPolicyBinding: "/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicybindings",
};

/** Server-side apply of cluster-scoped admission objects, forcing Vigil's fields (they are Vigil's to keep). */
export async function applyClusterObjects(cluster: Cluster, objects: readonly KubeObject[]): Promise<void> {
  for (const o of objects) {
    const answer = await cluster.call({
      verb: "apply",
      method: "PATCH",
      path: `${PATHS[o.kind]}/${o.metadata!.name}`,
      query: { fieldManager: FIELD_MANAGER, force: "true" },
      body: JSON.stringify(o),
      contentType: "application/apply-patch+yaml",
    });
    if (answer.status !== 200 && answer.status !== 201) throw apiFailure(answer, `applying ${o.kind} ${o.metadata!.name}`);
  }
}
