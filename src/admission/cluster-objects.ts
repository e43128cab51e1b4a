// What the webhook keeps in the cluster, by server-side apply as field manager "vigil-admission":
// - the ValidatingWebhookConfiguration: one webhook per environment (its namespaces, its failure
//   policy) and one for every other namespace, failing closed; the agent's namespace and kube-system
//   (and excludeNamespaces) left out of all of them, since the agent, the webhook itself and the control
//   plane's own Pods must start when the webhook is down (otherwise: deadlock);
// and what the agent keeps there (src/agent/admission-policies.ts), by server-side apply as its own
// field manager: each environment's policy packs as ValidatingAdmissionPolicies with bindings of its
// own, limited to its namespaces, so the packs' rules hold for objects that did not come through Vigil.
import { apiFailure, listItems, type Cluster } from "../cluster/client.ts";
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

/** Objects of the set a PolicyException in force exempts from a policy, in one of the environment's namespaces. */
export interface PackExclusion {
  policy: string;
  namespace: string;
  /** The API server's resource for the object's kind: group and plural (apps, deployments). */
  group: string;
  resource: string;
  name: string;
}

/**
 * One environment's packs as the cluster should hold them: the packs' ValidatingAdmissionPolicies, and
 * instead of the packs' own cluster-wide bindings, bindings named vigil-ENV-POLICY limited to the
 * environment's namespaces, with the pack's validation actions. Exclusions (the set's objects a
 * PolicyException exempts) become the binding's excludeResourceRules; since those rules cannot name a
 * namespace, namespaces whose exclusions differ get a binding each (vigil-ENV-POLICY--NAMESPACE).
 * The namespaces are selected by kubernetes.io/metadata.name, which the API server sets on every
 * namespace and nobody can change: a label of our own could be taken off a namespace to escape.
 */
export function packPolicies(
  env: { name: string; namespaces: readonly string[]; packs: readonly string[] },
  exclusions: readonly PackExclusion[] = [],
): KubeObject[] {
  const objects = loadPacks(env.packs.filter((p) => !OFFLINE_ONLY_PACKS.has(p))).map((so) => so.object);
  const policies = objects
    .filter((o) => o.kind === "ValidatingAdmissionPolicy")
    .map((o) => ({ ...o, metadata: { ...o.metadata, labels: { ...o.metadata?.labels, ...VIGIL_LABEL } } }));
  const bindings = objects
    .filter((o) => o.kind === "ValidatingAdmissionPolicyBinding")
    .flatMap((b) => {
      const spec = b.spec as { policyName: string; validationActions?: string[]; paramRef?: unknown };
      return namespaceGroups(env.namespaces, spec.policyName, exclusions).map(({ namespaces, rules, suffix }) => ({
        apiVersion: "admissionregistration.k8s.io/v1",
        kind: "ValidatingAdmissionPolicyBinding",
        metadata: {
          name: `vigil-${env.name}-${spec.policyName}${suffix}`,
          labels: { ...VIGIL_LABEL, [ENVIRONMENT_LABEL]: env.name },
        },
        spec: {
          policyName: spec.policyName,
          validationActions: spec.validationActions ?? ["Deny"],
          ...(spec.paramRef !== undefined && { paramRef: spec.paramRef }),
          matchResources: {
            namespaceSelector: { matchExpressions: [{ key: NAMESPACE_NAME_LABEL, operator: "In", values: namespaces }] },
            ...(rules.length > 0 && { excludeResourceRules: rules }),
          },
        },
      }));
    });
  return [...policies, ...bindings];
}

export const VIGIL_LABEL = { "app.kubernetes.io/managed-by": "vigil" } as const;
export const ENVIRONMENT_LABEL = "vigil.dev/environment";

/** The environment's namespaces grouped by the objects a policy's exceptions exempt there: one binding per group. */
function namespaceGroups(
  namespaces: readonly string[],
  policy: string,
  exclusions: readonly PackExclusion[],
): { namespaces: string[]; rules: object[]; suffix: string }[] {
  const groups = new Map<string, { namespaces: string[]; rules: object[] }>();
  for (const ns of namespaces) {
    const rules = exclusions
      .filter((e) => e.policy === policy && e.namespace === ns)
      .map((e) => ({ apiGroups: [e.group], apiVersions: ["*"], resources: [e.resource], resourceNames: [e.name], operations: ["*"] }))
      .sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));
    const key = JSON.stringify(rules);
    const group = groups.get(key) ?? { namespaces: [], rules };
    group.namespaces.push(ns);
    groups.set(key, group);
  }
  const list = [...groups.values()];
  return list.map((g) => ({ ...g, suffix: list.length === 1 ? "" : `--${g.namespaces[0]}` }));
}

const PATHS = {
  ValidatingWebhookConfiguration: "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations",
  ValidatingAdmissionPolicy: "/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicies",
  ValidatingAdmissionPolicyBinding: "/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicybindings",
} as const;

/** Server-side apply of cluster-scoped admission objects, forcing Vigil's fields (they are Vigil's to keep); the objects as the API server holds them after. */
export async function applyClusterObjects(
  cluster: Cluster,
  objects: readonly KubeObject[],
  fieldManager = FIELD_MANAGER,
): Promise<KubeObject[]> {
  const applied: KubeObject[] = [];
  for (const o of objects) {
    const answer = await cluster.call({
      verb: "apply",
      method: "PATCH",
      path: `${PATHS[o.kind as keyof typeof PATHS]}/${o.metadata!.name}`,
      query: { fieldManager, force: "true" },
      body: JSON.stringify(o),
      contentType: "application/apply-patch+yaml",
    });
    if (answer.status !== 200 && answer.status !== 201) throw apiFailure(answer, `applying ${o.kind} ${o.metadata!.name}`);
    applied.push(answer.body as KubeObject);
  }
  return applied;
}

/** The cluster-scoped admission objects of `kind` carrying every label of `labels`. */
export async function listClusterObjects(
  cluster: Cluster,
  kind: "ValidatingAdmissionPolicy" | "ValidatingAdmissionPolicyBinding",
  labels: Record<string, string>,
): Promise<KubeObject[]> {
  const labelSelector = Object.entries(labels)
    .map(([k, v]) => `${k}=${v}`)
    .join(",");
  return listItems(cluster, PATHS[kind], labelSelector, `${kind}s labelled ${labelSelector}`);
}

/** Deletes a cluster-scoped admission object; one already gone is fine. */
export async function deleteClusterObject(cluster: Cluster, kind: keyof typeof PATHS, name: string): Promise<void> {
  const answer = await cluster.call({ verb: "delete", method: "DELETE", path: `${PATHS[kind]}/${name}` });
  if (answer.status !== 200 && answer.status !== 202 && answer.status !== 404) throw apiFailure(answer, `deleting ${kind} ${name}`);
}
