// The policy gate: every manifest against every bound ValidatingAdmissionPolicy (packs and the team's
// own), with exceptions applied. Unknown kinds are reported, never passed silently.
import { InputError } from "../core/errors.ts";
import { check, type Check, type CheckCode } from "../core/verdict.ts";
import { findException, isException, parseException, type PolicyException } from "./exceptions.ts";
import { withManifestSet } from "./cel/manifest-set.ts";
import { admittedObject } from "./defaults.ts";
import { schemaVersion, validateObject } from "./schema.ts";
import { validationProblems } from "./validation.ts";
import { describeObject, type KubeObject, type SourcedObject } from "../manifest/manifests.ts";
import { isBuiltInKind, ResourceTypes } from "../manifest/resources.ts";
import { declarationFor, formatFieldPath, podSpecsOf, type KindDeclaration } from "../manifest/workloads.ts";
import { GATE, compileBinding, compilePolicy, evaluateBinding, type CompiledBinding, type CompiledPolicy, type Target } from "./vap.ts";

const VAP_API = "admissionregistration.k8s.io/v1";
export const isPolicy = (o: KubeObject) => o.apiVersion === VAP_API && o.kind === "ValidatingAdmissionPolicy";
export const isBinding = (o: KubeObject) => o.apiVersion === VAP_API && o.kind === "ValidatingAdmissionPolicyBinding";

export interface PolicyGateInput {
  /** The rendered manifests to check. Policies, bindings and exceptions among them are used as such. */
  manifests: readonly SourcedObject[];
  /** Policies, bindings and their params from packs and policy folders. */
  policies: readonly SourcedObject[];
  exceptions?: readonly SourcedObject[];
  /** The trust policy's `kinds`: the pod specs, container lists and containers of custom kinds, judged
   *  as PodTemplates like the pod specs found without them. */
  kinds?: readonly KindDeclaration[];
  now?: Date;
}

interface Prepared {
  policies: Map<string, CompiledPolicy>;
  bindings: CompiledBinding[];
  exceptions: PolicyException[];
}

/** Compiles every policy and binding up front: a broken one is an input error before any check. */
function prepare(input: PolicyGateInput): Prepared {
  const all = [...input.policies, ...input.manifests];
  const policies = new Map<string, CompiledPolicy>();
  for (const so of all.filter((s) => isPolicy(s.object))) {
    const p = compilePolicy(so);
    const earlier = policies.get(p.name);
    if (earlier) throw new InputError(`${p.where}: a policy named ${p.name} is already defined at ${earlier.where}`);
    policies.set(p.name, p);
  }
  const bindings = all.filter((s) => isBinding(s.object)).map(compileBinding);
  for (const b of bindings) {
    if (!policies.has(b.policyName))
      throw new InputError(`${b.where}: binds policy "${b.policyName}", which is not defined in the manifests, packs or policy folders`);
  }
  const exceptions = [...(input.exceptions ?? []), ...input.manifests].filter((s) => isException(s.object)).map(parseException);
  return { policies, bindings, exceptions };
}

/** The manifests to evaluate, by position in `input.manifests`: a worker's share (parallel.ts). */
export interface Share {
  from: number;
  to: number;
}

/** Every check of every manifest in `share` (all by default), in manifest order. The whole set is
 *  still what namespaces, params and vigil.objects are looked up in. */
export function policyChecks(input: PolicyGateInput, share: Share = { from: 0, to: input.manifests.length }): Check[] {
  const prepared = prepare(input);
  const everything = [...input.policies, ...input.manifests];
  const types = new ResourceTypes(everything.map((s) => s.object));
  const namespaces = new Map(
    input.manifests
      .filter((s) => s.object.apiVersion === "v1" && s.object.kind === "Namespace")
      .map((s) => [s.object.metadata?.name ?? "", admittedObject(s.object)]),
  );
  const now = input.now ?? new Date();
  const checks: Check[] = [];
  // Vigil's offline-only CEL functions (vigil.objects) answer from the manifests being checked.
  withManifestSet(
    input.manifests.map((s) => s.object),
    () => {
      for (const so of input.manifests.slice(share.from, share.to)) {
        const o = so.object;
        if (isPolicy(o) || isBinding(o) || isException(o)) continue;
        const type = types.of(o);
        // Pod templates inside kinds Kubernetes does not define (Argo Rollouts, Knative Services, any CRD
        // with a pod spec): every policy for PodTemplates judges each of them, so the packs hold there too.
        for (const template of embeddedPodTemplates(o, declarationFor(o, input.kinds ?? []))) {
          const derivedType = types.of(template.object)!;
          const derived: Target = {
            so: { ...so, object: admittedObject(template.object) },
            subject: template.subject,
            type: derivedType,
            namespace: namespaceObject(namespaces, o.metadata?.namespace ?? "default"),
          };
          for (const binding of prepared.bindings) {
            const policy = prepared.policies.get(binding.policyName)!;
            checks.push(
              ...applyExceptions(
                evaluateBinding(policy, binding, derived, { types, objects: everything }),
                policy.name,
                o,
                prepared.exceptions,
                now,
              ),
            );
          }
        }
        if (!type) {
          checks.push({
            ...check({
              gate: GATE,
              rule: "known-kind",
              status: "fail",
              subject: describeObject(o),
              message: `unknown kind ${o.kind} in ${o.apiVersion}: no built-in type or CustomResourceDefinition in the set defines it; add its CRD to the manifests`,
              code: "unknown-kind",
            }),
            location: { file: so.file, line: so.line },
          });
          continue;
        }
        // The API server rejects an object its schema does not allow before any policy sees it, and
        // drops fields the schema does not have (schema.ts). The policies are still evaluated, so one
        // run says everything that must change. A SOPS-encrypted manifest is decrypted before it is
        // applied: its `sops` metadata is kept for the policies that recognise it.
        const validated = isSopsEncrypted(o) ? undefined : validateObject(o);
        // Then the API server's own rules across fields (validation.ts), which the schema cannot say.
        const problems = validated ? [...validated.problems, ...validationProblems(o)] : [];
        if (problems.length > 0) {
          checks.push(
            schemaCheck(
              so,
              "fail",
              "schema-invalid",
              `the API server would reject it: ${problems.slice(0, 10).join("; ")}${problems.length > 10 ? `; and ${problems.length - 10} more` : ""} (Kubernetes ${schemaVersion()} schema)`,
            ),
          );
        }
        if (validated && validated.unknown.length > 0) {
          checks.push(
            schemaCheck(
              so,
              "warn",
              "unknown-fields",
              `unknown fields ${validated.unknown.slice(0, 10).join(", ")}: the API server drops them, so no policy here or in the cluster sees them (kubectl apply refuses them with its default --validate=strict); remove them or fix their spelling`,
            ),
          );
        }
        // Policies see the object as the API server admits it: with its defaults (defaults.ts).
        const admitted = { ...so, object: admittedObject(validated?.object ?? o) };
        const target: Target = {
          so: admitted,
          subject: describeObject(o),
          type,
          namespace: type.namespaced ? namespaceObject(namespaces, o.metadata?.namespace ?? "default") : null,
        };
        const before = checks.length;
        for (const binding of prepared.bindings) {
          const policy = prepared.policies.get(binding.policyName)!;
          const result = evaluateBinding(policy, binding, target, { types, objects: everything });
          checks.push(...applyExceptions(result, policy.name, o, prepared.exceptions, now));
        }
        // Said, not silently passed: no policy looked at this resource.
        if (checks.length === before)
          checks.push({
            ...check({
              gate: GATE,
              rule: "coverage",
              status: "skip",
              subject: describeObject(o),
              message: "no policy applies to this resource",
              code: "no-policy-applies",
            }),
            location: { file: so.file, line: so.line },
          });
      }
    },
  );
  return checks;
}

/**
 * Each pod spec inside an object of a kind Kubernetes does not define, as the PodTemplate a policy for
 * pod templates sees: the owner's name, namespace and labels, the template's own metadata when the spec
 * sits beside one (`spec.template: {metadata, spec}`), and the spec. Its subject names the owner and
 * the field, e.g. `Rollout/shop/web spec.template.spec`. The container lists and single containers the
 * trust policy declares for the kind are judged as a pod spec holding only them: pod-level settings the
 * kind keeps elsewhere are not seen, so a control met only there fails (stricter, never more lenient).
 */
function embeddedPodTemplates(o: KubeObject, declaration: KindDeclaration | undefined): { object: KubeObject; subject: string }[] {
  if (isBuiltInKind(o)) return [];
  return podSpecsOf(o, declaration).map(({ path, spec, declared }) => {
    const parent = path.length > 0 && !declared ? podSpecParent(o, path) : undefined;
    const templateMetadata = parent && typeof parent.metadata === "object" && parent.metadata !== null ? parent.metadata : {};
    const { name, namespace, labels, annotations } = o.metadata ?? {};
    const object: KubeObject = {
      apiVersion: "v1",
      kind: "PodTemplate",
      metadata: {
        ...(name !== undefined && { name }),
        ...(namespace !== undefined && { namespace }),
        ...(labels !== undefined && { labels }),
        ...(annotations !== undefined && { annotations }),
      },
      template: { metadata: templateMetadata, spec },
    };
    return { object, subject: `${describeObject(o)} ${formatFieldPath(path)}` };
  });
}

/** The mapping that holds the pod spec at `path`. */
function podSpecParent(o: KubeObject, path: readonly (string | number)[]): Record<string, unknown> | undefined {
  let value: unknown = o;
  for (const key of path.slice(0, -1))
    value = value !== null && typeof value === "object" ? (value as Record<string | number, unknown>)[key] : undefined;
  return value !== null && typeof value === "object" && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}

/** SOPS's own marker: a top-level `sops` mapping with its MAC. */
function isSopsEncrypted(o: KubeObject): boolean {
  const sops = o.sops as { mac?: unknown } | undefined;
  return typeof sops === "object" && sops !== null && typeof sops.mac === "string";
}

function schemaCheck(so: SourcedObject, status: "fail" | "warn", code: CheckCode, message: string): Check {
  return {
    ...check({ gate: GATE, rule: "schema", status, subject: describeObject(so.object), message, code }),
    location: { file: so.file, line: so.line },
  };
}

/** The Namespace from the set, or what the API server would have: its name label and nothing else. */
function namespaceObject(namespaces: Map<string, KubeObject>, name: string): KubeObject {
  return (
    namespaces.get(name) ?? { apiVersion: "v1", kind: "Namespace", metadata: { name, labels: { "kubernetes.io/metadata.name": name } } }
  );
}

function applyExceptions(checks: Check[], policy: string, object: KubeObject, exceptions: readonly PolicyException[], now: Date): Check[] {
  if (!checks.some((c) => c.status === "fail" || c.status === "warn")) return checks;
  const found = findException(exceptions, policy, object, now);
  if (!found) return checks;
  const { exception, expired } = found;
  if (expired) {
    return checks.map((c) =>
      c.status === "fail"
        ? {
            ...c,
            message: `${c.message}; exception ${exception.name} (${exception.where}) expired ${exception.expires.toISOString()}: renew it or fix the resource`,
          }
        : c,
    );
  }
  return checks.map((c) =>
    c.status === "fail" || c.status === "warn"
      ? {
          ...c,
          status: "skip" as const,
          code: "policy-excepted" as const,
          message: `excepted by ${exception.name} (${exception.where}) until ${exception.expires.toISOString()}: ${exception.justification} [was: ${c.message}]`,
        }
      : c,
  );
}
