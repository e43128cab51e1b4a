// The API server's validation beyond the OpenAPI schema: rules across fields that refuse an object the
// schema alone accepts (k8s.io/kubernetes pkg/apis/*/validation), in the API server's words, so a
// revision the cluster cannot take is blocked offline. Only rules whose outcome does not depend on the
// cluster's configuration are here (not, e.g., `privileged`, which --allow-privileged decides).
// test/policy-differential.test.ts compares each with the real API server.
import type { KubeObject } from "../manifest/manifests.ts";
import { isBuiltInKind } from "../manifest/resources.ts";
import { formatFieldPath, podSpecPathOf, valueAt, type FieldPath } from "../manifest/workloads.ts";
import { parseQuantity } from "./cel/quantity.ts";

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const CONFIG_KEY = /^[-._a-zA-Z0-9]+$/;

const labelMessage =
  "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const subdomainMessage =
  "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const dns1035Message =
  "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";
const configKeyMessage =
  "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')";

/** How the API server checks metadata.name, for the kinds checked here. */
const nameRules: Record<string, { pattern: RegExp; max: number; message: string }> = {
  "v1 Service": { pattern: DNS1035_LABEL, max: 63, message: dns1035Message },
  "v1 Namespace": { pattern: DNS1123_LABEL, max: 63, message: labelMessage },
  ...Object.fromEntries(
    [
      "v1 Pod",
      "v1 ConfigMap",
      "v1 Secret",
      "v1 ServiceAccount",
      "apps/v1 Deployment",
      "apps/v1 ReplicaSet",
      "apps/v1 DaemonSet",
      "batch/v1 Job",
    ].map((k) => [k, { pattern: DNS1123_SUBDOMAIN, max: 253, message: subdomainMessage }]),
  ),
};

const workloadsWithSelector = new Set(["apps/v1 Deployment", "apps/v1 ReplicaSet", "apps/v1 StatefulSet", "apps/v1 DaemonSet"]);

/** The problems the API server's own validation finds in a built-in object, in its words. */
export function validationProblems(o: KubeObject): string[] {
  if (!isBuiltInKind(o)) return [];
  const key = `${o.apiVersion} ${o.kind}`;
  const problems: string[] = [];
  const name = o.metadata?.name;
  const rule = nameRules[key];
  if (rule && typeof name === "string" && name !== "" && (!rule.pattern.test(name) || name.length > rule.max)) {
    problems.push(
      `metadata.name: Invalid value: ${JSON.stringify(name)}: ${rule.pattern.test(name) ? `must be no more than ${rule.max} characters` : rule.message}`,
    );
  }
  if (key === "v1 Service") problems.push(...servicePorts(valueAt(o, ["spec", "ports"])));
  if (key === "v1 ConfigMap" || key === "v1 Secret") problems.push(...configKeys(o));
  if (workloadsWithSelector.has(key)) problems.push(...selectorMatchesTemplate(o));
  const specPath = podSpecPathOf(o);
  const spec = specPath && valueAt(o, specPath);
  if (specPath && isRecord(spec)) problems.push(...podSpec(spec, specPath));
  if (key === "batch/v1 Job") problems.push(...jobRestartPolicy(o));
  return problems;
}

/** Several ports need names, and names and port/protocol pairs are unique (ValidateService). */
function servicePorts(ports: unknown): string[] {
  if (!Array.isArray(ports)) return [];
  const problems: string[] = [];
  const names = new Set<string>();
  const pairs = new Set<string>();
  ports.forEach((p, i) => {
    if (!isRecord(p)) return;
    const at = `spec.ports[${i}]`;
    const name = typeof p.name === "string" ? p.name : "";
    if (ports.length > 1 && name === "") problems.push(`${at}.name: Required value`);
    else if (name !== "" && !DNS1123_LABEL.test(name)) problems.push(`${at}.name: Invalid value: ${JSON.stringify(name)}: ${labelMessage}`);
    else if (name !== "" && names.has(name)) problems.push(`${at}.name: Duplicate value: ${JSON.stringify(name)}`);
    names.add(name);
    const pair = `${String(p.port)}/${typeof p.protocol === "string" ? p.protocol : "TCP"}`;
    if (pairs.has(pair)) problems.push(`${at}: Duplicate value`);
    pairs.add(pair);
  });
  return problems;
}

function configKeys(o: KubeObject): string[] {
  const problems: string[] = [];
  for (const field of ["data", "binaryData", "stringData"]) {
    const data = o[field];
    if (!isRecord(data)) continue;
    for (const k of Object.keys(data)) {
      if (!CONFIG_KEY.test(k)) problems.push(`${field}[${k}]: Invalid value: ${JSON.stringify(k)}: ${configKeyMessage}`);
    }
  }
  return problems;
}

/** A workload's template labels must satisfy its selector's matchLabels and matchExpressions. */
function selectorMatchesTemplate(o: KubeObject): string[] {
  const selector = valueAt(o, ["spec", "selector"]);
  const labels = valueAt(o, ["spec", "template", "metadata", "labels"]);
  if (!isRecord(selector)) return [];
  const have = isRecord(labels) ? labels : {};
  const matchLabels = isRecord(selector.matchLabels) ? selector.matchLabels : {};
  const expressions = Array.isArray(selector.matchExpressions) ? selector.matchExpressions.filter(isRecord) : [];
  const labelsMatch = Object.entries(matchLabels).every(([k, v]) => have[k] === v);
  const expressionsMatch = expressions.every((e) => {
    const values = Array.isArray(e.values) ? e.values : [];
    const key = String(e.key);
    switch (e.operator) {
      case "In":
        return key in have && values.includes(have[key]);
      case "NotIn":
        return !(key in have) || !values.includes(have[key]);
      case "Exists":
        return key in have;
      case "DoesNotExist":
        return !(key in have);
      default:
        return true; // an unknown operator is the schema's and the selector validation's to refuse
    }
  });
  if (labelsMatch && expressionsMatch) return [];
  return [`spec.template.metadata.labels: Invalid value: ${sortedJson(have)}: \`selector\` does not match template \`labels\``];
}

/** The labels as the API server prints them: JSON with keys in order. */
function sortedJson(m: Record<string, unknown>): string {
  return JSON.stringify(
    Object.fromEntries(
      Object.keys(m)
        .sort()
        .map((k) => [k, m[k]]),
    ),
  );
}

function jobRestartPolicy(o: KubeObject): string[] {
  const policy = valueAt(o, ["spec", "template", "spec", "restartPolicy"]);
  if (policy === "OnFailure" || policy === "Never") return [];
  return [`spec.template.spec.restartPolicy: Required value: valid values: "OnFailure", "Never"`];
}

/** Container and volume rules of a pod spec (ValidatePodSpec). */
function podSpec(spec: Record<string, unknown>, specPath: FieldPath): string[] {
  const problems: string[] = [];
  const at = (...rest: FieldPath) => formatFieldPath([...specPath, ...rest]);
  const volumes = Array.isArray(spec.volumes) ? spec.volumes : [];
  const volumeNames = new Set<string>();
  volumes.forEach((v, i) => {
    if (!isRecord(v) || typeof v.name !== "string") return;
    if (!DNS1123_LABEL.test(v.name))
      problems.push(`${at("volumes", i, "name")}: Invalid value: ${JSON.stringify(v.name)}: ${labelMessage}`);
    else if (volumeNames.has(v.name)) problems.push(`${at("volumes", i, "name")}: Duplicate value: ${JSON.stringify(v.name)}`);
    volumeNames.add(v.name);
    const sources = Object.keys(v).filter((k) => k !== "name");
    if (sources.length > 1) problems.push(`${at("volumes", i, sources[1]!)}: Forbidden: may not specify more than 1 volume type`);
  });
  // Containers first, then init and ephemeral containers: a repeated name is reported where it repeats.
  const containerNames = new Set<string>();
  for (const list of ["containers", "initContainers", "ephemeralContainers"] as const) {
    const containers = spec[list];
    if (!Array.isArray(containers)) continue;
    containers.forEach((c, i) => {
      if (!isRecord(c)) return;
      if (typeof c.name === "string" && c.name !== "") {
        if (!DNS1123_LABEL.test(c.name)) problems.push(`${at(list, i, "name")}: Invalid value: ${JSON.stringify(c.name)}: ${labelMessage}`);
        else if (containerNames.has(c.name)) problems.push(`${at(list, i, "name")}: Duplicate value: ${JSON.stringify(c.name)}`);
        containerNames.add(c.name);
      }
      if (c.image === "") problems.push(`${at(list, i, "image")}: Required value`);
      problems.push(...containerRules(c, (...rest) => at(list, i, ...rest), volumeNames));
    });
  }
  return problems;
}

function containerRules(c: Record<string, unknown>, at: (...rest: FieldPath) => string, volumeNames: ReadonlySet<string>): string[] {
  const problems: string[] = [];
  const ports = Array.isArray(c.ports) ? c.ports : [];
  const portNames = new Set<string>();
  ports.forEach((p, i) => {
    if (!isRecord(p)) return;
    if (typeof p.containerPort === "number" && (p.containerPort < 1 || p.containerPort > 65535))
      problems.push(`${at("ports", i, "containerPort")}: Invalid value: ${p.containerPort}: must be between 1 and 65535, inclusive`);
    if (typeof p.hostPort === "number" && p.hostPort !== 0 && (p.hostPort < 1 || p.hostPort > 65535))
      problems.push(`${at("ports", i, "hostPort")}: Invalid value: ${p.hostPort}: must be between 1 and 65535, inclusive`);
    if (typeof p.name === "string" && p.name !== "") {
      if (portNames.has(p.name)) problems.push(`${at("ports", i, "name")}: Duplicate value: ${JSON.stringify(p.name)}`);
      portNames.add(p.name);
    }
  });
  const mounts = Array.isArray(c.volumeMounts) ? c.volumeMounts : [];
  const mountPaths = new Set<string>();
  mounts.forEach((m, i) => {
    if (!isRecord(m)) return;
    if (typeof m.name === "string" && !volumeNames.has(m.name))
      problems.push(`${at("volumeMounts", i, "name")}: Not found: ${JSON.stringify(m.name)}`);
    if (typeof m.mountPath === "string") {
      if (mountPaths.has(m.mountPath))
        problems.push(`${at("volumeMounts", i, "mountPath")}: Invalid value: ${JSON.stringify(m.mountPath)}: must be unique`);
      mountPaths.add(m.mountPath);
    }
  });
  problems.push(...requestsWithinLimits(c, at));
  return problems;
}

/** A request above its limit (cpu, memory, …) is refused. */
function requestsWithinLimits(c: Record<string, unknown>, at: (...rest: FieldPath) => string): string[] {
  const resources = isRecord(c.resources) ? c.resources : {};
  const requests = isRecord(resources.requests) ? resources.requests : {};
  const limits = isRecord(resources.limits) ? resources.limits : {};
  const problems: string[] = [];
  for (const [resource, request] of Object.entries(requests)) {
    const limit = limits[resource];
    if (limit === undefined) continue;
    let over: boolean;
    try {
      over = parseQuantity(String(request)) > parseQuantity(String(limit));
    } catch {
      continue; // not a quantity: the schema check says so
    }
    if (over)
      problems.push(
        `${at("resources", "requests")}: Invalid value: ${JSON.stringify(String(request))}: must be less than or equal to ${resource} limit of ${String(limit)}`,
      );
  }
  return problems;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}
