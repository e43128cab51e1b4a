// Policy exceptions kept in the repository: which policies, which resources, why, and until when.
// An expired exception stops applying by itself; every exception that is used shows in the verdict.
import * as v from "valibot";
import { InputError } from "../core/errors.ts";
import picomatch from "picomatch";
import type { KubeObject, SourcedObject } from "../manifest/manifests.ts";

const resourceRef = v.strictObject({
  kind: v.pipe(v.string(), v.minLength(1)),
  namespace: v.optional(v.string()),
  name: v.optional(v.string()),
});

const exceptionSchema = v.object({
  apiVersion: v.literal("vigil.dev/v1alpha1"),
  kind: v.literal("PolicyException"),
  metadata: v.object({ name: v.pipe(v.string(), v.minLength(1)) }),
  spec: v.strictObject({
    policies: v.pipe(v.array(v.pipe(v.string(), v.minLength(1))), v.minLength(1, "name at least one policy")),
    resources: v.pipe(v.array(resourceRef), v.minLength(1, "name at least one resource")),
    justification: v.pipe(v.string(), v.trim(), v.minLength(10, "say why, in at least 10 characters")),
    expires: v.pipe(v.string(), v.isoTimestamp("must be an RFC 3339 time such as 2027-01-31T00:00:00Z")),
  }),
});

export interface PolicyException {
  name: string;
  where: string;
  policies: string[];
  resources: { kind: string; namespace: (s: string) => boolean; name: (s: string) => boolean }[];
  justification: string;
  expires: Date;
}

export const isException = (o: KubeObject) => o.apiVersion === "vigil.dev/v1alpha1" && o.kind === "PolicyException";

export function parseException(so: SourcedObject): PolicyException {
  const where = `${so.file}:${so.line}`;
  const r = v.safeParse(exceptionSchema, so.object);
  if (!r.success) {
    const issue = r.issues[0];
    const path = (issue.path ?? []).map((p) => String(p.key)).join(".");
    throw new InputError(`${where}: invalid PolicyException: ${path ? `${path}: ` : ""}${issue.message}`);
  }
  const { metadata, spec } = r.output;
  const glob = (pattern: string | undefined) => (pattern === undefined ? () => true : picomatch(pattern, { dot: true }));
  return {
    name: metadata.name,
    where,
    policies: spec.policies,
    resources: spec.resources.map((res) => ({ kind: res.kind, namespace: glob(res.namespace), name: glob(res.name) })),
    justification: spec.justification,
    expires: new Date(spec.expires),
  };
}

/** The exception (if any, and not expired at `now`) that covers `policy` for `object`. */
export function findException(
  list: readonly PolicyException[],
  policy: string,
  object: KubeObject,
  now: Date,
): { exception: PolicyException; expired: boolean } | undefined {
  const ns = object.metadata?.namespace ?? "";
  const name = object.metadata?.name ?? "";
  const covering = list.filter(
    (e) => e.policies.includes(policy) && e.resources.some((r) => r.kind === object.kind && r.namespace(ns) && r.name(name)),
  );
  const live = covering.find((e) => e.expires > now);
  if (live) return { exception: live, expired: false };
  return covering[0] ? { exception: covering[0], expired: true } : undefined;
}
