// A manifest the API server would reject never reaches admission, so the policy gate rejects it first:
// built-in kinds are validated offline against Kubernetes' OpenAPI schema, pinned at the version the
// tests' API server runs (schema/kubernetes-v1.37.json, made by scripts/policy-schema.ts), plus the
// enumerations the API server's validation enforces (which the published schema does not list).
// Unknown fields are what the API server drops when it decodes an object: policies do not see them.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { KubeObject } from "../manifest/manifests.ts";
import { formatFieldPath, type FieldPath } from "../manifest/workloads.ts";

/** As scripts/policy-schema.ts writes them: "s" string, "y" base64 bytes, "i" integer, "n" number, "b"
 *  boolean, "ios" int or string, "q" quantity, "any", "#Name" a definition, { a } a list, { m } a map. */
type FieldType = string | { a: FieldType } | { m: FieldType };
interface Definition {
  p: Record<string, FieldType>;
  r?: string[];
  u?: 1;
}
interface PinnedSchema {
  version: string;
  kinds: Record<string, string>;
  definitions: Record<string, Definition>;
}

let pinned: PinnedSchema | undefined;
const schema = (): PinnedSchema =>
  (pinned ??= JSON.parse(readFileSync(join(import.meta.dirname, "schema", "kubernetes-v1.37.json"), "utf8")) as PinnedSchema);

/** Kubernetes version of the pinned schema. */
export const schemaVersion = (): string => schema().version;

/**
 * Values the API server's validation accepts for enumerated fields (definition → field → values), from
 * Kubernetes v1.37's validation code; a value outside them is "Unsupported value".
 */
const enums: Record<string, Record<string, readonly string[]>> = {
  "io.k8s.api.core.v1.SeccompProfile": { type: ["Localhost", "RuntimeDefault", "Unconfined"] },
  "io.k8s.api.core.v1.AppArmorProfile": { type: ["Localhost", "RuntimeDefault", "Unconfined"] },
  "io.k8s.api.core.v1.Container": {
    imagePullPolicy: ["Always", "IfNotPresent", "Never"],
    terminationMessagePolicy: ["File", "FallbackToLogsOnError"],
  },
  "io.k8s.api.core.v1.EphemeralContainer": {
    imagePullPolicy: ["Always", "IfNotPresent", "Never"],
    terminationMessagePolicy: ["File", "FallbackToLogsOnError"],
  },
  "io.k8s.api.core.v1.PodSpec": {
    restartPolicy: ["Always", "OnFailure", "Never"],
    dnsPolicy: ["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"],
  },
  "io.k8s.api.core.v1.ContainerPort": { protocol: ["SCTP", "TCP", "UDP"] },
  "io.k8s.api.core.v1.ServicePort": { protocol: ["SCTP", "TCP", "UDP"] },
  "io.k8s.api.core.v1.ServiceSpec": {
    type: ["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"],
    sessionAffinity: ["ClientIP", "None"],
  },
  "io.k8s.api.core.v1.SecurityContext": { procMount: ["Default", "Unmasked"] },
  "io.k8s.api.core.v1.PodOS": { name: ["linux", "windows"] },
  "io.k8s.api.apps.v1.DeploymentStrategy": { type: ["Recreate", "RollingUpdate"] },
  "io.k8s.api.batch.v1.CronJobSpec": { concurrencyPolicy: ["Allow", "Forbid", "Replace"] },
  "io.k8s.api.networking.v1.NetworkPolicyPort": { protocol: ["SCTP", "TCP", "UDP"] },
};

export interface SchemaResult {
  /** Why the API server would reject the object: "spec.replicas: Invalid value: …". */
  problems: string[];
  /** Fields the API server drops (not in the schema), by path. */
  unknown: string[];
  /** The object without its unknown fields (the object itself when it has none). */
  object: KubeObject;
}

/** Validates a built-in kind against the pinned schema; undefined for a kind it does not describe. */
export function validateObject(o: KubeObject): SchemaResult | undefined {
  const root = schema().kinds[`${o.apiVersion} ${o.kind}`];
  if (!root) return undefined;
  const result: SchemaResult = { problems: [], unknown: [], object: o };
  check(o, `#${root}`, [], result);
  // Most manifests have no unknown field: the copy without them is made only for those that do.
  if (result.unknown.length > 0) result.object = withoutFields(o, new Set(result.unknown)) as KubeObject;
  return result;
}

/** A copy of `value` without the fields at `paths` (formatted as formatFieldPath writes them). */
function withoutFields(value: unknown, paths: ReadonlySet<string>, path: FieldPath = []): unknown {
  if (Array.isArray(value)) return value.map((item, i) => withoutFields(item, paths, [...path, i]));
  if (!isRecord(value)) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    const at = [...path, k];
    if (!paths.has(formatFieldPath(at))) out[k] = withoutFields(v, paths, at);
  }
  return out;
}

/**
 * Checks `value` against `type`, adding to `result` what the API server would refuse or drop. `path` is
 * one array pushed and popped along the walk: a path string is made only for a problem.
 */
function check(value: unknown, type: FieldType, path: FieldPath, result: SchemaResult): void {
  if (value === null) return; // null is "unset" to the API server's decoder
  if (typeof type === "object") {
    if ("a" in type) {
      if (!Array.isArray(value)) return mismatch(value, "must be a list", path, result);
      for (let i = 0; i < value.length; i++) within(path, i, () => check(value[i], type.a, path, result));
      return;
    }
    if (!isRecord(value)) return mismatch(value, "must be a map", path, result);
    for (const k of Object.keys(value)) within(path, k, () => check(value[k], type.m, path, result));
    return;
  }
  switch (type) {
    case "any":
      return;
    case "s":
      return typeof value === "string" ? undefined : mismatch(value, "must be a string", path, result);
    case "y": {
      if (typeof value !== "string") return mismatch(value, "must be a base64 string", path, result);
      const problem = base64Problem(value);
      return problem ? mismatch(value, `must be base64 (${problem})`, path, result) : undefined;
    }
    case "b":
      return typeof value === "boolean" ? undefined : mismatch(value, "must be a boolean", path, result);
    case "i":
      return Number.isInteger(value) ? undefined : mismatch(value, "must be an integer", path, result);
    case "n":
      return typeof value === "number" ? undefined : mismatch(value, "must be a number", path, result);
    case "ios":
      return typeof value === "string" || Number.isInteger(value)
        ? undefined
        : mismatch(value, "must be an integer or a string", path, result);
    case "q":
      return typeof value === "string" || typeof value === "number"
        ? undefined
        : mismatch(value, "must be a quantity (a string or a number)", path, result);
  }
  checkDefinition(value, type.slice(1), path, result);
}

function within(path: FieldPath, key: string | number, f: () => void): void {
  path.push(key);
  f();
  path.pop();
}

function checkDefinition(value: unknown, name: string, path: FieldPath, result: SchemaResult): void {
  const definition = schema().definitions[name];
  if (!definition) return;
  if (!isRecord(value)) return mismatch(value, "must be an object", path, result);
  for (const field of definition.r ?? []) {
    if (value[field] === undefined || value[field] === null) result.problems.push(`${formatFieldPath([...path, field])}: Required value`);
  }
  const allowed = enums[name];
  for (const field of Object.keys(value)) {
    const fieldValue = value[field];
    const fieldType = definition.p[field];
    if (!fieldType) {
      if (!definition.u) result.unknown.push(formatFieldPath([...path, field]));
      continue;
    }
    const values = allowed?.[field];
    if (values && typeof fieldValue === "string" && !values.includes(fieldValue)) {
      result.problems.push(
        `${formatFieldPath([...path, field])}: Unsupported value: ${JSON.stringify(fieldValue)}: supported values: ${values.map((v) => JSON.stringify(v)).join(", ")}`,
      );
    }
    within(path, field, () => check(fieldValue, fieldType, path, result));
  }
}

/** Why the API server's decoder (Go's standard base64, padded; line breaks ignored) refuses `text`, if it does. */
function base64Problem(text: string): string | undefined {
  const compact = text.replace(/[\r\n]/g, "");
  const bad = compact.search(/[^A-Za-z0-9+/=]/);
  if (bad >= 0) return `illegal base64 data at input byte ${bad}`;
  if (!/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(compact))
    return "illegal base64 data: wrong length or padding";
  return undefined;
}

function mismatch(value: unknown, expected: string, path: FieldPath, result: SchemaResult): void {
  // A value that should have been base64 is usually a secret written in clear: never repeated.
  const shown = expected.startsWith("must be base64")
    ? "(value withheld)"
    : typeof value === "string"
      ? JSON.stringify(value)
      : Array.isArray(value)
        ? "a list"
        : isRecord(value)
          ? "a map"
          : String(value);
  result.problems.push(`${formatFieldPath(path) || "(object)"}: Invalid value: ${shown}: ${expected}`);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}
