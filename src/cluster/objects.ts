// How an object is named: its identity in the cluster (group, kind, namespace, name; the version is
// only how we speak to it), and how a person reads it in a message, with the file and line it came from.
import { describeRef } from "../manifest/manifests.ts";
import { splitApiVersion } from "../manifest/resources.ts";

/**
 * The label every object an environment applies carries, with the environment's name as its value: the
 * agent's ownership mark. It is not the policy packs' production marker (vigil.dev/environment:
 * production on a Namespace), so that a set may mark its namespace production without claiming an
 * environment, and an environment's name never decides whether the packs treat it as production.
 */
export const ENVIRONMENT_LABEL = "vigil.dev/applied-by";

export interface ObjectRef {
  apiVersion: string;
  kind: string;
  namespace?: string;
  name: string;
  /** Where the manifest is, for objects from files. */
  file?: string;
  line?: number;
}

/** One key per object in the cluster: apps/v1 and apps/v1beta1 Deployments of one name are the same object. */
export function identity(ref: { apiVersion: string; kind: string; namespace?: string | undefined; name: string }): string {
  return `${splitApiVersion(ref.apiVersion).group}|${ref.kind}|${ref.namespace ?? ""}|${ref.name}`;
}

/** "envs/prod/app.yaml:12: ConfigMap team-a/settings" */
export function locateObject(ref: ObjectRef): string {
  return ref.file ? `${ref.file}:${ref.line ?? 1}: ${describeRef(ref)}` : describeRef(ref);
}

/** A Kubernetes name or label value rule, for the names Vigil itself chooses or is given. */
export function isLabelValue(value: string): boolean {
  return value.length <= 63 && /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/.test(value);
}
