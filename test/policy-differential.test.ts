// The policy gate against the real API server, side by side: the same manifests go to kube-apiserver
// v1.37 (a server-side dry run, with Pod Security admission on a labelled namespace and Vigil's pack
// policies installed as ValidatingAdmissionPolicies in another) and through `policyChecks`, and the two
// must agree on the decision; where the API server denies through a policy or its schema, Vigil's check
// must carry the same message and reason. Differences Vigil keeps on purpose are in docs/policy-gate.md.
// Policies themselves are compared too: each expression of the type-check cases is created in the API
// server inside a policy and compiled by Vigil, and both refuse it with the same reason, or accept it.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { Check } from "../src/core/verdict.ts";
import { InputError } from "../src/core/errors.ts";
import { compilePolicy } from "../src/policy/vap.ts";
import { policyChecks } from "../src/policy/gate.ts";
import { parseManifests, type KubeObject, type SourcedObject } from "../src/manifest/manifests.ts";
import { loadPacks } from "../src/policy/packs.ts";
import { kubeApi, kubeForFile } from "./helpers/cluster.ts";
import { requireKube } from "./helpers/kube.ts";

const kube = kubeForFile();
const VAP = "/apis/admissionregistration.k8s.io/v1";

const namespaces = `apiVersion: v1
kind: Namespace
metadata:
  name: psa
  labels: { pod-security.kubernetes.io/enforce: restricted, pod-security.kubernetes.io/enforce-version: v1.37 }
---
apiVersion: v1
kind: Namespace
metadata: { name: vap }`;

// Policies of the test's own, beside the packs: defaults, params, messages and namespace labels.
const customPolicies = `apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: { name: services-tcp-only }
spec:
  matchConstraints: { resourceRules: [{ apiGroups: [""], apiVersions: [v1], operations: [CREATE], resources: [services] }] }
  validations:
    - expression: "object.spec.ports.all(p, p.protocol == 'TCP')"
      messageExpression: "'port ' + string(object.spec.ports.filter(p, p.protocol != 'TCP')[0].port) + ' is ' + object.spec.ports.filter(p, p.protocol != 'TCP')[0].protocol + ': only TCP'"
      reason: Forbidden
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: { name: configmaps-no-password }
spec:
  matchConstraints: { resourceRules: [{ apiGroups: [""], apiVersions: [v1], operations: [CREATE], resources: [configmaps] }] }
  validations:
    - expression: "!has(object.data) || !('password' in object.data)"
      message: "   a ConfigMap must not hold a password   "
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: { name: configmaps-scale }
spec:
  matchConstraints: { resourceRules: [{ apiGroups: [""], apiVersions: [v1], operations: [CREATE], resources: [configmaps] }] }
  validations:
    - expression: "!has(object.data) || !('scale' in object.data)"
      messageExpression: "'scale ' + string(double(object.data.scale) * 1000000.0) + ' and ' + string(double(object.data.scale) / 100000.0) + ' are not allowed'"
      reason: Forbidden
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: { name: configmaps-evaluation-errors }
spec:
  matchConstraints: { resourceRules: [{ apiGroups: [""], apiVersions: [v1], operations: [CREATE], resources: [configmaps] }] }
  validations:
    - expression: "!has(object.data) || !('probe-key' in object.data) || object.data.missing == 'x'"
    - expression: "!has(object.data) || !('probe-index' in object.data) || object.data['probe-index'].split(',')[3] == 'x'"
    - expression: "!has(object.data) || !('probe-division' in object.data) || 10 / (size(object.data['probe-division']) - 1) == 0"
    - expression: "!has(object.data) || !('probe-int' in object.data) || int(object.data['probe-int']) > 0"
    - expression: "!has(object.data) || !('probe-overflow' in object.data) || 9223372036854775807 + size(object.data['probe-overflow']) > 0"
    - expression: "!has(object.data) || !('probe-regex' in object.data) || object.metadata.name.matches(object.data['probe-regex'])"
    - expression: "!has(object.data) || !('probe-quantity' in object.data) || quantity(object.data['probe-quantity']).isInteger()"
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: { name: labels-by-params }
spec:
  paramKind: { apiVersion: v1, kind: ConfigMap }
  matchConstraints: { resourceRules: [{ apiGroups: [""], apiVersions: [v1], operations: [CREATE], resources: [pods] }] }
  validations:
    - expression: "params != null || !has(object.metadata.labels) || !('forbidden' in object.metadata.labels)"
      message: "without params, the label forbidden is not allowed"
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: { name: labels-by-params }
spec:
  policyName: labels-by-params
  validationActions: [Deny]
  matchResources: { namespaceSelector: { matchLabels: { kubernetes.io/metadata.name: vap } } }`;

/** A binding per policy for the namespaces named (the packs' own bindings cover every namespace). */
function bindingsFor(policies: readonly KubeObject[], namespacesIn: string[]): KubeObject[] {
  return policies.map((p) => ({
    apiVersion: "admissionregistration.k8s.io/v1",
    kind: "ValidatingAdmissionPolicyBinding",
    metadata: { name: `${p.metadata!.name}-binding` },
    spec: {
      policyName: p.metadata!.name,
      validationActions: ["Deny"],
      matchResources: {
        namespaceSelector: { matchExpressions: [{ key: "kubernetes.io/metadata.name", operator: "In", values: namespacesIn }] },
      },
    },
  }));
}

const packPolicies = loadPacks(["pss-restricted"])
  .map((so) => so.object)
  .filter((o) => o.kind === "ValidatingAdmissionPolicy");
const custom = parseManifests(customPolicies, "custom.yaml").map((so) => so.object);
const unbound = [
  ...packPolicies,
  ...custom.filter((o) => o.kind === "ValidatingAdmissionPolicy" && o.metadata!.name !== "labels-by-params"),
];
// In the cluster the packs guard namespace vap (PodSecurity admission guards psa); Vigil runs them on both.
const clusterPolicies = [...unbound, ...bindingsFor(unbound, ["vap"]), ...custom.filter((o) => !unbound.includes(o))];
const vigilPolicies = [...unbound, ...bindingsFor(unbound, ["psa", "vap"]), ...custom.filter((o) => !unbound.includes(o))];

/** A container that meets the restricted level; `fields` adds container fields, `security` securityContext fields. */
const container = (fields = "", security = "seccompProfile: { type: RuntimeDefault }") =>
  `{ name: app, image: registry.example.com/app:1${fields ? `, ${fields}` : ""}, securityContext: { runAsNonRoot: true, allowPrivilegeEscalation: false, capabilities: { drop: [ALL] }${security ? `, ${security}` : ""} } }`;
const pod = (ns: string, name: string, spec: string, labels = "") => `apiVersion: v1
kind: Pod
metadata: { name: ${name}, namespace: ${ns}${labels} }
spec:
${spec}`;
const restrictedPod = (ns: string, name: string, more = "", c = container()) => pod(ns, name, `  containers: [${c}]\n${more}`);

interface Case {
  name: string;
  yaml: string;
  /** Compare messages too (the API server denies through a policy of the set or its schema). */
  messages: boolean;
}

const cases: Case[] = [
  // Pod Security admission (decisions).
  { name: "restricted pod under PSA", yaml: restrictedPod("psa", "ok"), messages: false },
  { name: "host network under PSA", yaml: restrictedPod("psa", "host-net", "  hostNetwork: true"), messages: false },
  {
    name: "volume naming no source (emptyDir) under PSA",
    yaml: restrictedPod("psa", "bare-volume", "  volumes: [{ name: scratch }]"),
    messages: false,
  },
  {
    name: "v1.37 safe sysctl under PSA",
    yaml: restrictedPod("psa", "sysctl", "  securityContext: { sysctls: [{ name: net.ipv4.tcp_notsent_lowat, value: '16384' }] }"),
    messages: false,
  },
  {
    name: "unsafe sysctl under PSA",
    yaml: restrictedPod("psa", "unsafe-sysctl", "  securityContext: { sysctls: [{ name: kernel.msgmax, value: '65536' }] }"),
    messages: false,
  },
  {
    name: "host port under PSA",
    yaml: restrictedPod("psa", "host-port", "", container("ports: [{ containerPort: 80, hostPort: 80 }]")),
    messages: false,
  },
  { name: "run as root under PSA", yaml: restrictedPod("psa", "root", "  securityContext: { runAsUser: 0 }"), messages: false },
  { name: "seccomp unset under PSA", yaml: restrictedPod("psa", "no-seccomp", "", container("", "")), messages: false },
  {
    name: "added capability under PSA",
    yaml: restrictedPod(
      "psa",
      "cap",
      "",
      container("", "seccompProfile: { type: RuntimeDefault }").replace("drop: [ALL]", "drop: [ALL], add: [NET_ADMIN]"),
    ),
    messages: false,
  },
  // The packs installed as ValidatingAdmissionPolicies (decisions and messages).
  { name: "restricted pod under the packs", yaml: restrictedPod("vap", "ok"), messages: true },
  { name: "host network under the packs", yaml: restrictedPod("vap", "host-net", "  hostNetwork: true"), messages: true },
  {
    name: "host path under the packs",
    yaml: restrictedPod("vap", "host-path", "  volumes: [{ name: root, hostPath: { path: / } }]"),
    messages: true,
  },
  {
    name: "volume naming no source under the packs",
    yaml: restrictedPod("vap", "bare-volume", "  volumes: [{ name: scratch }]"),
    messages: true,
  },
  { name: "seccomp unset under the packs", yaml: restrictedPod("vap", "no-seccomp", "", container("", "")), messages: true },
  {
    name: "v1.37 safe sysctl under the packs",
    yaml: restrictedPod("vap", "sysctl", "  securityContext: { sysctls: [{ name: net.ipv4.tcp_slow_start_after_idle, value: '0' }] }"),
    messages: true,
  },
  // Defaults, params, messages, namespace labels.
  {
    name: "service port without protocol (TCP by default)",
    yaml: "apiVersion: v1\nkind: Service\nmetadata: { name: web, namespace: vap }\nspec: { ports: [{ port: 80 }] }",
    messages: true,
  },
  {
    name: "UDP service port",
    yaml: "apiVersion: v1\nkind: Service\nmetadata: { name: dns, namespace: vap }\nspec: { ports: [{ port: 53, protocol: UDP }] }",
    messages: true,
  },
  {
    name: "static message, trimmed, reason Invalid",
    yaml: "apiVersion: v1\nkind: ConfigMap\nmetadata: { name: creds, namespace: vap }\ndata: { password: hunter2 }",
    messages: true,
  },
  {
    name: "numbers in a message as CEL's string() writes them",
    yaml: "apiVersion: v1\nkind: ConfigMap\nmetadata: { name: scaled, namespace: vap }\ndata: { scale: '1.5' }",
    messages: true,
  },
  {
    name: "params null without paramRef, binding by namespace name label",
    yaml: restrictedPod("vap", "labelled", "", container()).replace("namespace: vap", "namespace: vap, labels: { forbidden: 'yes' }"),
    messages: true,
  },
  {
    name: "the same label outside the namespace the label selects",
    yaml: "apiVersion: v1\nkind: ConfigMap\nmetadata: { name: labelled, namespace: psa, labels: { forbidden: 'yes' } }",
    messages: true,
  },
  // Evaluation errors (failurePolicy Fail): the API server's words for each.
  {
    name: "no such key",
    yaml: "apiVersion: v1\nkind: ConfigMap\nmetadata: { name: e-key, namespace: vap }\ndata: { probe-key: '1' }",
    messages: true,
  },
  {
    name: "index out of range",
    yaml: "apiVersion: v1\nkind: ConfigMap\nmetadata: { name: e-index, namespace: vap }\ndata: { probe-index: 'a,b' }",
    messages: true,
  },
  {
    name: "division by zero",
    yaml: "apiVersion: v1\nkind: ConfigMap\nmetadata: { name: e-division, namespace: vap }\ndata: { probe-division: 'a' }",
    messages: true,
  },
  {
    name: "string to int",
    yaml: "apiVersion: v1\nkind: ConfigMap\nmetadata: { name: e-int, namespace: vap }\ndata: { probe-int: 'abc' }",
    messages: true,
  },
  {
    name: "int overflow",
    yaml: "apiVersion: v1\nkind: ConfigMap\nmetadata: { name: e-overflow, namespace: vap }\ndata: { probe-overflow: 'a' }",
    messages: true,
  },
  {
    name: "invalid regex",
    yaml: "apiVersion: v1\nkind: ConfigMap\nmetadata: { name: e-regex, namespace: vap }\ndata: { probe-regex: 'a(b' }",
    messages: true,
  },
  {
    name: "invalid quantity",
    yaml: "apiVersion: v1\nkind: ConfigMap\nmetadata: { name: e-quantity, namespace: vap }\ndata: { probe-quantity: '1.2.3' }",
    messages: true,
  },
  // The schema (decisions and messages).
  {
    name: "unsupported seccomp profile type",
    yaml: restrictedPod("vap", "bad-enum", "", container("", "seccompProfile: { type: Unconfinedd }")),
    messages: true,
  },
  {
    name: "container without a name",
    yaml: pod("vap", "no-name", "  containers: [{ image: registry.example.com/app:1 }]"),
    messages: true,
  },
  { name: "unsupported pull policy", yaml: restrictedPod("vap", "bad-pull", "", container("imagePullPolicy: Sometimes")), messages: true },
  // The API server's rules across fields, beyond the schema.
  {
    name: "two service ports without names",
    yaml: "apiVersion: v1\nkind: Service\nmetadata: { name: two-unnamed, namespace: vap }\nspec: { ports: [{ port: 80 }, { port: 443 }] }",
    messages: true,
  },
  {
    name: "repeated service port name",
    yaml: "apiVersion: v1\nkind: Service\nmetadata: { name: dup-names, namespace: vap }\nspec: { ports: [{ name: web, port: 80 }, { name: web, port: 443 }] }",
    messages: true,
  },
  {
    name: "repeated service port",
    yaml: "apiVersion: v1\nkind: Service\nmetadata: { name: dup-port, namespace: vap }\nspec: { ports: [{ name: a, port: 80 }, { name: b, port: 80 }] }",
    messages: true,
  },
  {
    name: "one unnamed service port",
    yaml: "apiVersion: v1\nkind: Service\nmetadata: { name: one-port, namespace: vap }\nspec: { ports: [{ port: 80 }] }",
    messages: true,
  },
  { name: "repeated container name", yaml: restrictedPod("vap", "dup-containers", "", `${container()}, ${container()}`), messages: true },
  {
    name: "init container named as a container",
    yaml: restrictedPod("vap", "dup-init", `  initContainers: [${container()}]`),
    messages: true,
  },
  {
    name: "container name not a DNS label",
    yaml: restrictedPod("vap", "bad-container-name", "", container().replace("name: app", "name: App_1")),
    messages: true,
  },
  {
    name: "repeated volume name",
    yaml: restrictedPod("vap", "dup-volumes", "  volumes: [{ name: v, emptyDir: {} }, { name: v, emptyDir: {} }]"),
    messages: true,
  },
  {
    name: "volume with two sources",
    yaml: restrictedPod("vap", "two-sources", "  volumes: [{ name: v, emptyDir: {}, configMap: { name: x } }]"),
    messages: true,
  },
  {
    name: "mount of a missing volume",
    yaml: restrictedPod("vap", "missing-volume", "", container("volumeMounts: [{ name: data, mountPath: /data }]")),
    messages: true,
  },
  {
    name: "two mounts on one path",
    yaml: restrictedPod(
      "vap",
      "dup-mount",
      "  volumes: [{ name: v, emptyDir: {} }, { name: w, emptyDir: {} }]",
      container("volumeMounts: [{ name: v, mountPath: /d }, { name: w, mountPath: /d }]"),
    ),
    messages: true,
  },
  {
    name: "repeated container port name",
    yaml: restrictedPod(
      "vap",
      "dup-port-names",
      "",
      container("ports: [{ name: http, containerPort: 80 }, { name: http, containerPort: 81 }]"),
    ),
    messages: true,
  },
  {
    name: "repeated container port (allowed)",
    yaml: restrictedPod("vap", "dup-ports", "", container("ports: [{ containerPort: 80 }, { containerPort: 80 }]")),
    messages: true,
  },
  {
    name: "container port out of range",
    yaml: restrictedPod("vap", "bad-port", "", container("ports: [{ containerPort: 70000 }]")),
    messages: true,
  },
  {
    name: "request above its limit",
    yaml: restrictedPod("vap", "over-limit", "", container("resources: { requests: { cpu: '2' }, limits: { cpu: '1' } }")),
    messages: true,
  },
  { name: "pod name not a DNS subdomain", yaml: restrictedPod("vap", "Bad_Name"), messages: true },
  {
    name: "config key with a space",
    yaml: "apiVersion: v1\nkind: ConfigMap\nmetadata: { name: bad-key, namespace: vap }\ndata: { 'a b': c }",
    messages: true,
  },
  {
    name: "selector that does not match the template",
    yaml:
      "apiVersion: apps/v1\nkind: Deployment\nmetadata: { name: selector-mismatch, namespace: vap }\nspec: { selector: { matchLabels: { app: a } }, template: { metadata: { labels: { app: b } }, spec: { containers: [" +
      container() +
      "] } } }",
    messages: true,
  },
  {
    name: "job that restarts always",
    yaml:
      "apiVersion: batch/v1\nkind: Job\nmetadata: { name: job-always, namespace: vap }\nspec: { template: { spec: { restartPolicy: Always, containers: [" +
      container() +
      "] } } }",
    messages: true,
  },
  { name: "wrong type", yaml: restrictedPod("vap", "bad-type", "  hostNetwork: 'yes'"), messages: false },
  {
    name: "Secret data that is not base64",
    yaml: "apiVersion: v1\nkind: Secret\nmetadata: { name: clear, namespace: vap }\ndata: { password: hunter2 }",
    messages: false,
  },
  {
    name: "Secret data in base64",
    yaml: "apiVersion: v1\nkind: Secret\nmetadata: { name: encoded, namespace: vap }\ndata: { password: aHVudGVyMg== }",
    messages: false,
  },
];

const resourcePath = (o: KubeObject) => {
  const ns = o.metadata?.namespace;
  const plural: Record<string, string> = {
    Pod: "api/v1/pods",
    Service: "api/v1/services",
    ConfigMap: "api/v1/configmaps",
    Secret: "api/v1/secrets",
    Deployment: "apis/apps/v1/deployments",
    Job: "apis/batch/v1/jobs",
  };
  const [prefix, resource] = [plural[o.kind]!.split("/").slice(0, -1).join("/"), plural[o.kind]!.split("/").at(-1)];
  return `/${prefix}/namespaces/${ns}/${resource}`;
};

async function setUp(): Promise<void> {
  for (const ns of parseManifests(namespaces, "ns.yaml")) {
    const created = await kubeApi(kube.cluster, "POST", "/api/v1/namespaces", ns.object);
    assert.equal(created.status, 201, JSON.stringify(created.body));
    // No controller-manager runs: create the service account the ServiceAccount admission plugin wants.
    const sa = await kubeApi(kube.cluster, "POST", `/api/v1/namespaces/${ns.object.metadata!.name}/serviceaccounts`, {
      metadata: { name: "default" },
    });
    assert.equal(sa.status, 201, JSON.stringify(sa.body));
  }
  for (const o of clusterPolicies) {
    const path = o.kind === "ValidatingAdmissionPolicy" ? `${VAP}/validatingadmissionpolicies` : `${VAP}/validatingadmissionpolicybindings`;
    const created = await kubeApi(kube.cluster, "POST", path, o);
    assert.equal(created.status, 201, `${o.kind} ${o.metadata!.name}: ${JSON.stringify(created.body)}`);
  }
  // Policies take effect once the API server's informers have them: wait for the last binding to deny.
  const probe = parseManifests(cases.find((c) => c.name === "static message, trimmed, reason Invalid")!.yaml, "probe.yaml")[0]!.object;
  for (const deadline = Date.now() + 30_000; ; await new Promise((r) => setTimeout(r, 200))) {
    const answer = await kubeApi(kube.cluster, "POST", `${resourcePath(probe)}?dryRun=All`, probe);
    if (answer.status !== 201) break;
    if (Date.now() > deadline) throw new Error("the policies never took effect");
  }
}

/** Vigil's reading of a failing check: the message as the API server would word it, and the reason. */
function denial(c: Check): { message: string; reason: string; binding: string } {
  const m = /^(.*) \(reason (\w+); binding ([^)]+)\)$/s.exec(c.message);
  return m ? { message: m[1]!, reason: m[2]!, binding: m[3]! } : { message: c.message, reason: "", binding: "" };
}

test("vigil policy check and the API server agree, case by case", async (t) => {
  if (!requireKube(t)) return;
  await setUp();
  const nsObjects = parseManifests(namespaces, "namespaces.yaml");
  const disagreements: string[] = [];
  let messagesCompared = 0;
  for (const c of cases) {
    const manifest: SourcedObject = parseManifests(c.yaml, `${c.name}.yaml`)[0]!;
    const api = await kubeApi(kube.cluster, "POST", `${resourcePath(manifest.object)}?dryRun=All&fieldValidation=Strict`, manifest.object);
    const apiAllowed = api.status === 201;
    const checks = policyChecks({
      policies: parseManifests(vigilPolicies.map((o) => JSON.stringify(o)).join("\n---\n"), "policies.yaml"),
      manifests: [...nsObjects, manifest],
    }).filter((x) => x.subject.startsWith(`${manifest.object.kind}/`));
    const failing = checks.filter((x) => x.status === "fail");
    const vigilAllowed = failing.length === 0;
    if (apiAllowed !== vigilAllowed) {
      disagreements.push(
        `${c.name}: API server ${apiAllowed ? "allows" : `denies (${api.body.message})`}, Vigil ${vigilAllowed ? "allows" : `blocks (${failing.map((f) => f.message).join(" | ")})`}`,
      );
      continue;
    }
    if (apiAllowed || !c.messages) continue;
    const apiMessage = String(api.body.message);
    messagesCompared++;
    const explained = failing.some((f) => {
      if (f.rule === "schema") {
        const problems = f.message
          .replace(/ \(Kubernetes v[\d.]+ schema\)$/, "")
          .replace(/^the API server would reject it: /, "")
          .split("; ");
        return problems.every((p) => apiMessage.includes(p)) && api.body.reason === "Invalid";
      }
      const { message, reason, binding } = denial(f);
      return (
        apiMessage.endsWith(`ValidatingAdmissionPolicy '${f.rule}' with binding '${binding}' denied request: ${message}`) &&
        api.body.reason === reason
      );
    });
    if (!explained)
      disagreements.push(
        `${c.name}: the API server says ${api.body.reason}: ${apiMessage}; Vigil: ${failing.map((f) => `${f.rule}: ${f.message}`).join(" | ")}`,
      );
  }
  t.diagnostic(`${cases.length} cases compared, ${messagesCompared} denials compared by message and reason`);
  assert.deepEqual(disagreements, []);
  assert.ok(messagesCompared >= 8, "denials through policies and the schema were compared by message");
});

// The API server's type check at creation (src/policy/cel/typecheck.ts): each expression is created in
// the API server inside a policy and compiled by Vigil; both must accept it, or both refuse it with the
// same reason at the same line and column. Accepted cases matter as much as refused ones: the check
// must never refuse what the cluster takes. The old forms of the four pack policies the API server
// refused are here too (the first cases).
interface TypeCase {
  expression: string;
  variables?: [string, string][];
  params?: boolean;
  field?: "validation" | "matchCondition" | "messageExpression" | "auditAnnotation";
}
const typeCases: TypeCase[] = [
  { expression: "[{'who': 'pod', 'type': has(object.spec.type) ? object.spec.type : ''}].size() == 0" },
  { expression: "[{'who': 'pod', 'type': has(object.spec.type) ? string(object.spec.type) : ''}].size() == 0" },
  {
    expression: "variables.containers.map(c, {'name': c.name, 'hosts': ['a', 'b'].filter(h, h != '').join(', ')}).size() >= 0",
    variables: [["containers", "has(object.spec.containers) ? object.spec.containers : []"]],
  },
  {
    expression: "variables.containers.map(c, {'name': string(c.name), 'hosts': ['a'].join(', ')}).size() >= 0",
    variables: [["containers", "has(object.spec.containers) ? object.spec.containers : []"]],
  },
  {
    expression: "variables.containers.map(c, {'name': c.name, 'image': has(c.image) ? c.image : ''}).size() >= 0",
    variables: [["containers", "has(object.spec.containers) ? object.spec.containers : []"]],
  },
  { expression: "{'a': object.metadata.name, 'b': object.metadata.namespace}.size() == 2" },
  { expression: "{'a': 'x', 'b': object.metadata.name}.size() == 2" },
  { expression: "[dyn('x'), 1].size() == 2" },
  { expression: "[object.metadata.name, 'x' + object.metadata.name].size() == 2" },
  { expression: "object.spec.replicas" },
  { expression: "1" },
  { expression: "1.startsWith('a')" },
  { expression: "'a'.startsWith(1)" },
  { expression: "1 == 'a'" },
  { expression: "1 == 1.0" },
  { expression: "1 < 1.0" },
  { expression: "params.x == 1" },
  { expression: "params.x == 1", params: true },
  { expression: "request.foo == 1" },
  { expression: "request.userInfo.username == 'a'" },
  { expression: "request.userInfo.username == 1" },
  { expression: "namespaceObject.metadata.labels['a'] == 'b'" },
  { expression: "namespaceObject.metadata.labelz == 'b'" },
  { expression: "namespaceObject.metadata.name.size() > 1" },
  { expression: "variables.a == 1", variables: [["a", "'x'"]] },
  { expression: "variables.b == 1", variables: [["a", "'x'"]] },
  { expression: "variables.a.startsWith('x')", variables: [["a", "object.metadata.name"]] },
  { expression: "variables.a.startsWith('x')", variables: [["a", "[1]"]] },
  { expression: "authorizer.group('').resource('pods').check('get').allowed()" },
  { expression: "authorizer.foo()" },
  { expression: "'a'.b" },
  { expression: "size(1) > 0" },
  { expression: "[1,2].all(x, x > 'a')" },
  { expression: "object.spec.containers.all(c, c.image.startsWith(1))" },
  { expression: "'abc'", field: "messageExpression" },
  { expression: "1", field: "messageExpression" },
  { expression: "object.metadata.name", field: "messageExpression" },
  { expression: "object.metadata.name", field: "auditAnnotation" },
  { expression: "1", field: "auditAnnotation" },
  { expression: "null", field: "auditAnnotation" },
  { expression: "object.x", field: "matchCondition" },
  { expression: "'a' + 1 == 'b'" },
  { expression: "quantity('1').isLessThan(1)" },
  { expression: "quantity('1').isLessThan(quantity('2'))" },
  { expression: "'a'.matches(1)" },
  { expression: "object.spec.containers.map(c, c.name).size() > 0 && [1].map(x, x + 'a').size() > 0" },
  {
    expression:
      "object.spec.containers.all(c1, object.spec.containers.all(c2, object.spec.containers.all(c3, object.spec.containers.all(c4, c1.name == c4.name))))",
  },
  { expression: "!1" },
  { expression: "1 ? true : false" },
  { expression: "true ? 1 : 'a'" },
  { expression: "(true ? 1 : 'a') == 1" },
  {
    expression: "int('1') == 1 && duration('1s') > duration('0s') && timestamp('2020-01-01T00:00:00Z') < timestamp('2021-01-01T00:00:00Z')",
  },
  { expression: "{'a': 1}.a == 1" },
  { expression: "{'a': 1}.a == 'x'" },
  { expression: "[1, 2][0] == 'x'" },
  { expression: "{1: 'a'}['x'] == 'a'" },
  { expression: "[1] + ['a'] == []" },
  { expression: "1 in ['a']" },
  { expression: "'a' in {'a': 1}" },
  { expression: "1 in {'a': 1}" },
  { expression: "variables.a == 'x'", field: "matchCondition" },
  { expression: "object.x.foo(1) == 1" },
  { expression: "object.spec.containers.all(c, 1)" },
  { expression: "object.spec.containers.exists(c, c)" },
  { expression: "true ? null : 'a' == 'a'" },
  { expression: "(true ? object.x : 'a') == 1" },
  { expression: "(true ? 1 : object.x) == 'a'" },
  { expression: "object.?spec.?replicas.orValue(1) > 0" },
  { expression: "1 && true" },
  { expression: "[1, 'a'].size() == 2" },
  { expression: "[[1], ['a']].size() == 2" },
  { expression: "{'a': [1], 'b': {'c': 1}}.size() == 2" },
  { expression: "[1, null].size() == 2" },
  { expression: "[null, 1].size() == 2" },
  { expression: "'x'.size() == 1u" },
  { expression: "'abc'.substring(1) == 1" },
  { expression: "'abc'.split(',').size() == 'a'" },
  { expression: "[1,2].map(x, x * 2).exists(y, y == 'a')" },
  { expression: "{'a': 1}.all(k, k == 1)" },
  { expression: "request.userInfo.groups.exists(g, g == 1)" },
  { expression: "namespaceObject.metadata.labels.exists(k, namespaceObject.metadata.labels[k] == 1)" },
  { expression: "variables.a.size() > 0", variables: [["a", "request.userInfo"]] },
  { expression: "variables.a.username == 'x'", variables: [["a", "request.userInfo"]] },
  { expression: "variables.a.isLessThan(quantity('1'))", variables: [["a", "quantity('2')"]] },
  { expression: "duration('1s') + 1 == duration('2s')" },
  { expression: "int('1') == '1'" },
  { expression: "string(1) == 1" },
  { expression: "type(1) == int" },
  { expression: "object.metadata.name.matches('a') && 'a'.lowerAscii().upperAscii() == 'A'" },
  { expression: "'a'.lowerAscii(1) == 'a'" },
  { expression: "ip('1.2.3.4').family() == 'x'" },
  { expression: "cidr('1.2.3.0/24').containsIP('1.2.3.4')" },
  { expression: "url('https://a').getHost() == 1" },
  { expression: "[1,2].sum() == 'x'" },
  { expression: "authorizer.group('').resource('pods').check('get').allowed() == 1" },
  { expression: "authorizer.requestResource.check('get').allowed()" },
  { expression: "has(object.spec) && has(request.name)" },
  { expression: "has(request.foo)" },
  { expression: "1 + 1u == 2" },
  { expression: "-'a' == 'a'" },
  { expression: "[1][0u] == 1" },
  { expression: "[1][1.0] == 1" },
  { expression: "'abc'[0] == 'a'" },
  { expression: "object.spec.containers.filter(c, c.name).size() > 0" },
  { expression: "cel.bind(x, 1, x == 'a')" },
  { expression: "'%s'.format([1]) == 'a'" },
  { expression: "{'a': 1}['a'] == 1 && {'a': 1}.?a.orValue(2) == 1" },
  { expression: "object.spec.containers.all(i, c, c.name == i)" },
  { expression: "[1].all(i, v, i == 'a')" },
  { expression: "authorizer.group('').resource('pods').check('get').allowed()", field: "messageExpression" },
  { expression: "params.x == 'a'", field: "messageExpression" },
  { expression: "'a' == null" },
  { expression: "request.namespace == null" },
  { expression: "true ? 'a' : null == 'a'" },
  { expression: "object.x == null" },
  { expression: "null == null" },
  { expression: "authorizer.group('').resource('pods').check('get') == 1" },
  { expression: "authorizer.path('/x').check('get').allowed()" },
  { expression: "authorizer.serviceAccount('ns', 'sa').resource('pods').check('get').allowed()" },
  { expression: "authorizer.group('').resource('pods').namespace('a').name('b').subresource('c').check('get').reason() == ''" },
  { expression: "[1, 2].exists_one(x, x == 1)" },
  { expression: "object.spec.containers.exists_one(c, c.name)" },
  { expression: "'abc'.indexOf('b') == 1 && [1,2].indexOf(2) == 1" },
  { expression: "[1,2].min() == 'a'" },
  { expression: "['a'].join(1) == 'a'" },
  { expression: "object.metadata.labels.all(k, k.startsWith('a'))" },
  { expression: "sets.contains([1], [1])" },
  { expression: "isSorted([1])" },
  { expression: "[1].isSorted()" },
  { expression: "format.dns1123Label().validate('a').hasValue()" },
  { expression: "'a'.size() + 1.0 > 0.0" },
  { expression: "object.metadata.name + 1 == 'a'" },
  { expression: "variables.x.size() > 0", variables: [["x", "object.spec.containers.map(c, c.name)"]] },
  { expression: "variables.x.exists(n, n == 1)", variables: [["x", "['a'].map(c, c)"]] },
  { expression: "variables.x == 1", variables: [["x", "{'a': 1}"]] },
  { expression: "variables.x['a'] == 'b'", variables: [["x", "{'a': 1}"]] },
  { expression: "has(variables.x)", variables: [["x", "1"]] },
  { expression: "has(object.x) ? object.x : false" },
  { expression: "string(object.x)", field: "messageExpression" },
  { expression: "'a' + object.x", field: "messageExpression" },
  { expression: "quantity('1').add(1).isGreaterThan(quantity('0'))" },
  { expression: "duration('1h') > duration('1m') && timestamp('2020-01-01T00:00:00Z').getFullYear() == 2020" },
  { expression: "[1,2].map(x, x > 0, x * 2).size() == 2" },
  { expression: "{'a': 1}.map(k, k).size() == 1" },
  { expression: "[[1]].all(l, l.all(x, x == 'a'))" },
  { expression: "params.x.y.z == 1 && params.a.startsWith('b')", params: true },
  { expression: "oldObject == null" },
  { expression: "request.userInfo.extra['a'].exists(x, x == 1)" },
  { expression: "namespaceObject.metadata.creationTimestamp > timestamp('2020-01-01T00:00:00Z')" },
  { expression: "namespaceObject.status.conditions.exists(c, c.type == 'a')" },
  { expression: "namespaceObject.spec.finalizers.size() == 'a'" },
  { expression: "request.dryRun == 'a'" },
  { expression: "request.options.x == 1" },
  { expression: "1 < 'a'" },
  { expression: "'a' < 'b' && 1u < 2 && 1.0 <= 2u" },
  { expression: "object.spec.containers.filter(c, c.name == 'x').map(c, c.image).all(i, i.endsWith(':v1'))" },
  { expression: "{'a': 1}.all(k, v, k == 'a' && v > 0)" },
  { expression: "{'a': 1}.exists(k, v, v == 'x')" },
  { expression: "['a'].transformList(i, v, v + i).size() == 1" },
  { expression: "['a'].transformList(i, v, i + 1).size() == 1" },
  { expression: "{'a': 1}.transformMap(k, v, v + 1).size() == 1" },
  { expression: "object.spec.containers.all(i, c, i >= 0 && c.name != '')" },
  // Patterns of real policies (and library calls on the wrong receiver).
  {
    expression: "object.spec.replicas > 50 ? 'Deployment spec.replicas set to ' + string(object.spec.replicas) : null",
    field: "auditAnnotation",
  },
  { expression: "true ? 'a' : null", field: "auditAnnotation" },
  { expression: "'a' == null" },
  { expression: "(true ? 'a' : null) == 'a'" },
  {
    expression:
      "object.spec.template.spec.containers.all(c, !has(c.securityContext) || !has(c.securityContext.privileged) || c.securityContext.privileged == false)",
  },
  { expression: "size(object.metadata.name) <= 63 && object.metadata.name.size() < 64" },
  { expression: "'app' in object.metadata.labels" },
  { expression: "object.metadata.?labels.?app.orValue('') != ''" },
  { expression: "params.spec.allowed.exists(r, object.spec.image.startsWith(r))", params: true },
  { expression: "request.operation == 'CREATE' && request.userInfo.username in ['admin']" },
  { expression: "'replicas ' + string(object.spec.replicas) + ' too many'", field: "messageExpression" },
  { expression: "object.spec.replicas > params.maxReplicas", params: true },
  { expression: "int(object.spec.replicas) <= 5 && duration(object.spec.timeout) < duration('1h')" },
  { expression: "object.spec.containers.map(c, c.image).filter(i, !i.contains('@')).size() == 0" },
  { expression: "has(object.metadata.annotations) && object.metadata.annotations.exists(k, k.startsWith('x'))" },
  { expression: "namespaceObject.metadata.labels.?env.orValue('') == 'prod'" },
  { expression: "variables.all.all(c, c.name != '')", variables: [["all", "object.spec.containers + object.spec.initContainers"]] },
  { expression: "variables.v.size() > 0", variables: [["v", "has(object.spec.x) ? object.spec.x : []"]] },
  { expression: "quantity(object.spec.containers[0].resources.limits.memory).compareTo(quantity('1Gi')) <= 0" },
  { expression: "isQuantity(object.x) && quantity(object.x).isLessThan(quantity('1'))" },
  {
    expression:
      "url(object.spec.url).getScheme() == 'https' && ip(object.spec.clusterIP).family() == 4 && cidr('10.0.0.0/8').containsIP(object.spec.clusterIP)",
  },
  { expression: "[1, 2, 3].sum() == 6 && ['a','b'].join(',') == 'a,b' && 'a,b'.split(',').size() == 2" },
  { expression: "object.metadata.name.matches('^[a-z]+$') && object.metadata.name.find('[0-9]+') != ''" },
  { expression: "sets.contains(['a'], ['a']) && format.dns1123Label().validate(object.metadata.name).hasValue() == false" },
  { expression: "object.spec.replicas % 2 == 0 && double(object.spec.replicas) / 2.0 > 1.0" },
  { expression: "type(object.spec.replicas) == int && object.spec.x == null && !(object.kind in ['Pod'])" },
  { expression: "object.spec.?replicas.hasValue() && optional.of(1).value() == 1" },
  { expression: "[object.metadata.name].all(n, n != '') && {'a': object.spec.x}.a == 1" },
  { expression: "object.spec.containers.exists_one(c, c.name == 'main')" },
  { expression: "object.spec.containers.all(c, c.ports.all(p, p.containerPort < 1024 ? c.securityContext.runAsUser == 0 : true))" },
  { expression: "request.resource.resource == 'pods'", field: "matchCondition" },
  {
    expression: "authorizer.group('apps').resource('deployments').namespace(object.metadata.namespace).check('update').allowed()",
    field: "matchCondition",
  },
  { expression: "object.spec.containers.map(c, {'n': c.name}).size() > 0" },
  { expression: "object.spec.containers.map(c, [c.name, c.image]).size() > 0" },
  { expression: "[object.spec.a, object.spec.b].exists(x, x == 1)" },
  { expression: "object.metadata.labels.filter(k, k.startsWith('a')).size() == 0" },
  { expression: "lists.range(3).size() == 3" },
  { expression: "[3,1].sort() == [1,3] && [1,1].distinct().size() == 1" },
  { expression: "'abc'.reverse() == 'cba'" },
  { expression: "math.greatest(1, 2) == 2" },
  { expression: "object.spec.replicas >= 0.5" },
  { expression: "object.spec.replicas == 1u" },
  { expression: "timestamp(object.metadata.creationTimestamp).getFullYear() > 2000" },
  { expression: "object.spec.containers.all(c, c.image.split(':').size() == 2 ? c.image.split(':')[1] != 'latest' : false)" },
  { expression: "{'a': 1, 'b': 'x'}.size() == 2" },
  { expression: "dyn({'a': 1, 'b': 'x'}).size() == 2" },
  { expression: "[1, dyn('x')].size() == 2" },
  { expression: "{'a': dyn(1), 'b': dyn('x')}.size() == 2" },
  { expression: "object.spec.x.all(k, v, v != '')" },
  { expression: "image('nginx:1').containsDigest() == false" },
  { expression: "'abc'.reverse() == 'cba'" },
  { expression: "[3,1].sort() == [1,3] && [1,1].distinct().size() == 1 && [1].reverse() == [1]" },
  { expression: "object.spec.x.reverse().size() > 0" },
  { expression: "[1].reverse() == ['a']" },
  { expression: "1.sort() == 1" },
  // Libraries the v1.37 environment declares: the lists extension's sortBy, semver, optional first/last, authorizer selectors.
  { expression: "[3,1].sortBy(x, -x) == [3,1]" },
  { expression: "[3,1].sortBy(x, -x) == 'a'" },
  { expression: "object.spec.containers.sortBy(c, c.name).map(c, c.name).size() > 0" },
  { expression: "[1].sortBy(x, {'a': x}).size() == 1" },
  { expression: "[1].sortBy(x, [x]).size() == 1" },
  { expression: "'a'.sortBy(x, x) == 'a'" },
  { expression: "{'a': 1}.sortBy(x, x).size() == 1" },
  { expression: "[1].sortBy(1, 1) == [1]" },
  { expression: "semver('1.2.3').major() == 1 && semver('v1.2', true).minor() == 2 && isSemver('1.0.0', true)" },
  { expression: "semver('1.2.3').major() == 'a'" },
  { expression: "semver(1) == semver('1.0.0')" },
  { expression: "semver('1.0.0').isLessThan(semver('1.0.1')) && semver('1.0.0').compareTo(semver('1.0.0')) == 0" },
  { expression: "semver('1.0.0').isLessThan(quantity('1'))" },
  { expression: "string(semver('1.0.0')) == '1.0.0'" },
  { expression: "[1].last().hasValue() && [1].first().value() == 1" },
  { expression: "[1, 2].first() == 1" },
  { expression: "authorizer.group('').resource('pods').fieldSelector('a=b').labelSelector('c=d').check('list').allowed()" },
  { expression: "[1].flatten() == [1]" },
  { expression: "[[1]].flatten() == [1]" },
  { expression: "[{'a':1}].sort().size() == 1" },
  { expression: "[1,2].slice(0, 'a') == [1]" },
  { expression: "[1, 2].first().value() == 1" },
  { expression: "[1, 2].first().value() == 'a'" },
  { expression: "[1, 2].first().orValue(0) == 1" },
  { expression: "[1, 2].first().orValue('a') == 1" },
  { expression: "[1].first().hasValue() == 1" },
  { expression: "'a'.hasValue()" },
  { expression: "[1].last().or(optional.of(2)).value() == 2" },
  { expression: "[1].first() == optional.of(1)" },
  { expression: "object.spec.x.first().hasValue()" },
  { expression: "[[1]].first().value().size() == 1" },
  { expression: "object.?spec.?x.orValue('a').size() > 0 && object.spec.?y.hasValue()" },
  // Kubernetes' lists v1 (includes) is introduced at 1.37, beyond the 1.36 a new policy is compiled for.
  { expression: "[1, 2].includes(1)" },
  { expression: "quantity('1').mul(2) == quantity('2')" },
  { expression: "string([1]) == 'a'" },
  { expression: "string(quantity('1')) == '1'" },
  { expression: "string(ip('1.2.3.4')) == '1.2.3.4' && string(cidr('10.0.0.0/8')) != ''" },
];

/** Refusals the API server makes that Vigil's check does not (yet); none now. */
const knownMisses = new Set<string>();

function typeCasePolicy(c: TypeCase, i: number) {
  const field = c.field ?? "validation";
  const spec: Record<string, unknown> = {
    matchConstraints: { resourceRules: [{ apiGroups: [""], apiVersions: ["v1"], operations: ["CREATE"], resources: ["pods"] }] },
    validations: [
      field === "validation"
        ? { expression: c.expression }
        : field === "messageExpression"
          ? { expression: "true", messageExpression: c.expression }
          : { expression: "true" },
    ],
    ...(c.variables && { variables: c.variables.map(([name, expression]) => ({ name, expression })) }),
    ...(c.params && { paramKind: { apiVersion: "v1", kind: "ConfigMap" } }),
    ...(field === "matchCondition" && { matchConditions: [{ name: "m", expression: c.expression }] }),
  };
  if (field === "auditAnnotation") {
    delete spec.validations;
    spec.auditAnnotations = [{ key: "k", valueExpression: c.expression }];
  }
  return { apiVersion: "admissionregistration.k8s.io/v1", kind: "ValidatingAdmissionPolicy", metadata: { name: `typecheck-${i}` }, spec };
}

/** The reason and position of a refusal: cel-go's first error line, or the result-type sentence. */
function apiReason(message: string): { reason: string; at?: string } {
  const compiled = /<input>:(\d+):(\d+): ([^\n]*)/.exec(message);
  if (compiled) return { reason: compiled[3]!, at: `${compiled[1]}:${compiled[2]}` };
  return { reason: /(must evaluate [^\n]*)/.exec(message)?.[1] ?? message };
}

function vigilReason(message: string): { reason: string; at?: string } {
  const m = /does not compile(?: at line (\d+), column (\d+))?: ([^\n]*)/.exec(message);
  if (!m) return { reason: message };
  return { reason: m[3]!, ...(m[1] && { at: `${m[1]}:${m[2]}` }) };
}

test("type check at creation: Vigil refuses what the API server refuses, with its reason and position, and accepts the rest", async (t) => {
  if (!requireKube(t)) return;
  const disagreements: string[] = [];
  const missed: string[] = [];
  let refused = 0;
  for (const [i, c] of typeCases.entries()) {
    const policy = typeCasePolicy(c, i);
    const api = await kubeApi(kube.cluster, "POST", `${VAP}/validatingadmissionpolicies?dryRun=All`, policy);
    assert.ok(api.status === 201 || api.status === 422, `${c.expression}: API server answered ${api.status}`);
    let vigilError: string | undefined;
    try {
      compilePolicy({ object: policy as never, file: "typecheck.yaml", line: 1 });
    } catch (e) {
      if (!(e instanceof InputError)) throw e;
      assert.equal(e.exitCode, 2);
      vigilError = e.message;
    }
    if (api.status === 422) refused++;
    if (api.status === 201 && vigilError === undefined) continue;
    if (api.status === 422 && vigilError === undefined && knownMisses.has(c.expression)) {
      missed.push(c.expression);
      continue;
    }
    const theirs = api.status === 422 ? apiReason(api.body.message) : undefined;
    const ours = vigilError === undefined ? undefined : vigilReason(vigilError);
    const same = theirs && ours && ours.reason.startsWith(theirs.reason) && ours.at === theirs.at;
    if (!same)
      disagreements.push(
        `${c.expression}: API server ${theirs ? `refuses at ${theirs.at ?? "-"}: ${theirs.reason}` : "accepts"}; Vigil ${ours ? `refuses at ${ours.at ?? "-"}: ${ours.reason}` : "accepts"}`,
      );
  }
  assert.deepEqual(disagreements, []);
  assert.deepEqual(missed, [...knownMisses], "a known miss is now caught: take it off the list");
  assert.ok(refused >= 80, `${refused} of the cases were refused: the comparison must cover refusals`);
});

test("the API server makes no cost estimate at creation: an expression with nested comprehensions is created, and Vigil accepts it too", async (t) => {
  if (!requireKube(t)) return;
  const expression =
    "object.spec.containers.all(a, object.spec.containers.all(b, object.spec.containers.all(c, object.spec.containers.all(d, a.name == d.name || b.name != c.name))))";
  const policy = typeCasePolicy({ expression }, 9999);
  const api = await kubeApi(kube.cluster, "POST", `${VAP}/validatingadmissionpolicies?dryRun=All`, policy);
  assert.equal(api.status, 201, JSON.stringify(api.body));
  compilePolicy({ object: policy as never, file: "cost.yaml", line: 1 });
});
