// What the cluster's own admission needs before the agent writes a verified set, done once per
// reconcile just before the set's first write (its server-side dry run, else its apply):
// - the digests the gates verified go to the monitor's inventory, so the admission webhook admits the
//   agent's dry run and apply by what they run, as anyone's (src/admission/verified.ts);
// - with `admissionPolicies: true`, the environment's policy packs become the API server's own
//   ValidatingAdmissionPolicies with bindings limited to the environment's namespaces, so the same rules
//   hold for objects that never came through Vigil. The bindings carry the PolicyExceptions in force
//   for objects of this set, so the set the policy gate passed is admitted; packs the environment no
//   longer has are deleted (only objects labelled as Vigil's), and so is a policy no binding of Vigil's
//   uses any more. The check this returns is in the reconcile's verdict, hence in the audit log.
// The agent is the one installer (the webhook installs none): it knows each revision's packs and exceptions.
import { createHash } from "node:crypto";
import {
  applyClusterObjects,
  deleteClusterObject,
  ENVIRONMENT_LABEL,
  listClusterObjects,
  packPolicies,
  VIGIL_LABEL,
} from "../admission/cluster-objects.ts";
import type { PackExclusion } from "../admission/cluster-objects.ts";
import type { VerifiedImage } from "../admission/verified.ts";
import type { Cluster } from "../cluster/client.ts";
import { check, type Check } from "../core/verdict.ts";
import { UnavailableError, VigilError } from "../core/errors.ts";
import { redactCredentials } from "../core/redact.ts";
import type { KubeObject, SourcedObject } from "../manifest/manifests.ts";
import { splitApiVersion } from "../manifest/resources.ts";
import { findException, parseException } from "../policy/exceptions.ts";
import { imageUses } from "../artifact/images.ts";
import type { Candidate } from "./gates.ts";
import type { ReconcileOptions } from "./reconcile.ts";
import type { KindDeclaration } from "../manifest/workloads.ts";

/** The agent's field manager, as for everything it applies. */
const FIELD_MANAGER = "vigil";

export interface AdmissionPreparation {
  environment: { name: string; namespaces: readonly string[] };
  revision: string;
  /** The set about to be written, images pinned. */
  objects: readonly SourcedObject[];
  /** Where the trust policy says kinds Kubernetes does not define keep their images (the artifact gate read them there). */
  kinds?: readonly KindDeclaration[];
  /** Record the verified digests in the monitor's inventory (when the agent feeds one). */
  recordVerified?: (environment: string, revision: string, images: readonly VerifiedImage[]) => Promise<void>;
  /** Install the packs as admission policies (admissionPolicies: true): as the agent itself, on the environment's cluster. */
  policies?: {
    cluster: Cluster;
    /** The environment's packs; none when the trust policy turned its policy gate off. */
    packs: readonly string[];
    /** The PolicyExceptions the policy gate used. */
    exceptions: readonly SourcedObject[];
  };
  /** Throws when this replica may no longer write (its Lease). */
  fence?: () => void;
  now?: Date;
}

/** Both steps; a failure is a failing check (the set is then not written), an unreachable dependency is thrown (exit 3). */
export async function prepareAdmission(p: AdmissionPreparation): Promise<Check[]> {
  const checks: Check[] = [];
  const name = p.environment.name;
  try {
    if (p.recordVerified) {
      p.fence?.();
      // Only digests: with the artifact gate off (the trust policy's choice) an image may be unpinned, and is then not verified.
      const images = imageUses(p.objects, p.kinds).flatMap((u) =>
        u.reference.digest ? [{ image: u.image, digest: u.reference.digest }] : [],
      );
      await p.recordVerified(name, p.revision, images);
    }
    if (p.policies) checks.push(await oneAtATime(() => installPolicies(p, p.policies!)));
  } catch (e) {
    if (!(e instanceof VigilError) || e instanceof UnavailableError) throw e;
    checks.push(
      check({
        gate: "admission",
        rule: "policies",
        status: "fail",
        subject: name,
        message: `the cluster's admission could not be prepared for ${name}, so nothing was written: ${redactCredentials(e.message)}`,
        code: "admission-not-prepared",
      }),
    );
  }
  return checks;
}

/**
 * Environments reconcile concurrently, and their policies are shared: one environment deleting a policy
 * no binding uses must not race another that has applied it but not yet its binding (which would then
 * bind nothing until its next reconcile). Installs run one after another in this process; only the
 * leader reconciles, so no other replica runs one at the same time.
 */
let installing: Promise<unknown> = Promise.resolve();
function oneAtATime<T>(install: () => Promise<T>): Promise<T> {
  const next = installing.then(install, install);
  installing = next.catch(() => {});
  return next;
}

async function installPolicies(p: AdmissionPreparation, policies: NonNullable<AdmissionPreparation["policies"]>): Promise<Check> {
  const env = p.environment;
  const cluster = policies.cluster;
  const found = await excludedObjects(cluster, p.objects, policies.exceptions, env.namespaces, p.now ?? new Date());
  const wanted = packPolicies({ ...env, packs: policies.packs }, found);
  const exclusions = found.filter((e) => wanted.some((o) => o.kind === "ValidatingAdmissionPolicy" && o.metadata?.name === e.policy));
  const held = {
    policies: await listClusterObjects(cluster, "ValidatingAdmissionPolicy", VIGIL_LABEL),
    bindings: await listClusterObjects(cluster, "ValidatingAdmissionPolicyBinding", VIGIL_LABEL),
  };
  // A list's items carry no kind: each takes its list's.
  const stale = notAsApplied(cluster, wanted, [
    ...held.policies.map((o) => ({ ...o, kind: "ValidatingAdmissionPolicy" })),
    ...held.bindings.map((o) => ({ ...o, kind: "ValidatingAdmissionPolicyBinding" })),
  ]);
  p.fence?.();
  remember(cluster, stale, await applyClusterObjects(cluster, stale, FIELD_MANAGER));
  const removed = await removeUnwanted(cluster, env.name, new Set(wanted.map((o) => o.metadata!.name!)), held);
  const bindings = wanted.filter((o) => o.kind === "ValidatingAdmissionPolicyBinding").length;
  return check({
    gate: "admission",
    rule: "policies",
    status: "pass",
    subject: env.name,
    message:
      `${bindings} ValidatingAdmissionPolicy binding(s) of ${policies.packs.length === 0 ? "no pack" : `pack(s) ${policies.packs.join(", ")}`} ` +
      `bound to namespace(s) ${env.namespaces.join(", ")}` +
      (exclusions.length > 0 ? `; ${exclusions.length} object(s) excepted by PolicyExceptions in force` : "") +
      `; ${stale.length} of ${wanted.length} object(s) applied, the others as this agent last applied them` +
      (removed.length > 0 ? `; removed: ${removed.join(", ")}` : ""),
    code: "admission-policies-bound",
  });
}

/**
 * What this agent last applied to each cluster: per object, a hash of what it sent, and the uid and
 * generation the API server answered with. Every reconcile would otherwise apply ~30 policies and
 * bindings again. An object is applied again when what is wanted changed, or when the cluster's copy is
 * not the one applied: gone, labelled otherwise (then not listed), recreated (a new uid) or its spec
 * edited by anyone (the API server raises the generation on every spec change). A restarted or new
 * leader starts with nothing remembered, so it applies everything once.
 */
const lastApplied = new WeakMap<Cluster, Map<string, { hash: string; uid: string; generation: number }>>();

const objectKey = (o: KubeObject) => `${o.kind}/${o.metadata?.name}`;
const contentHash = (o: KubeObject) => createHash("sha256").update(JSON.stringify(o)).digest("hex");

function notAsApplied(cluster: Cluster, wanted: readonly KubeObject[], held: readonly KubeObject[]): KubeObject[] {
  const applied = lastApplied.get(cluster);
  if (!applied) return [...wanted];
  const inCluster = new Map(held.map((o) => [objectKey(o), o]));
  return wanted.filter((o) => {
    const last = applied.get(objectKey(o));
    const now = inCluster.get(objectKey(o));
    return !last || !now || last.hash !== contentHash(o) || now.metadata?.uid !== last.uid || now.metadata?.generation !== last.generation;
  });
}

function remember(cluster: Cluster, sent: readonly KubeObject[], answers: readonly KubeObject[]): void {
  const applied = lastApplied.get(cluster) ?? new Map();
  lastApplied.set(cluster, applied);
  sent.forEach((o, i) => {
    const { uid, generation } = answers[i]?.metadata ?? {};
    if (typeof uid === "string" && typeof generation === "number") applied.set(objectKey(o), { hash: contentHash(o), uid, generation });
    else applied.delete(objectKey(o));
  });
}

/**
 * The objects of the set a PolicyException in force exempts, per policy of the packs, as the policy gate
 * judged them. Only objects of the set: an object made outside Vigil whose name an exception's pattern
 * would match is judged without it (an exception is granted to what is in Git, reviewed with it).
 */
async function excludedObjects(
  cluster: Cluster,
  objects: readonly SourcedObject[],
  exceptionSources: readonly SourcedObject[],
  namespaces: readonly string[],
  now: Date,
): Promise<PackExclusion[]> {
  const exceptions = exceptionSources.map(parseException);
  if (exceptions.length === 0) return [];
  const policies = [...new Set(exceptions.flatMap((e) => e.policies))];
  const out: PackExclusion[] = [];
  for (const { object } of objects) {
    const namespace = object.metadata?.namespace;
    const name = object.metadata?.name;
    if (!namespace || !name || !namespaces.includes(namespace)) continue;
    for (const policy of policies) {
      const found = findException(exceptions, policy, object, now);
      if (!found || found.expired) continue;
      const info = await cluster.discovery.lookup(object.apiVersion, object.kind);
      out.push({ policy, namespace, name, group: info?.group ?? splitApiVersion(object.apiVersion).group, resource: info?.resource ?? "" });
    }
  }
  // A kind the server does not serve cannot be created there either: nothing to except.
  return out.filter((e) => e.resource !== "");
}

/**
 * Deletes the environment's bindings that are not wanted any more, then Vigil's policies no binding of
 * Vigil's uses. `held` was listed before this install's applies; installs run one at a time, so only
 * those applies (all of them wanted, so kept) changed Vigil's objects since.
 */
async function removeUnwanted(
  cluster: Cluster,
  environment: string,
  wanted: ReadonlySet<string>,
  held: { policies: readonly KubeObject[]; bindings: readonly KubeObject[] },
): Promise<string[]> {
  const removed: string[] = [];
  const kept: KubeObject[] = [];
  for (const b of held.bindings) {
    const name = b.metadata!.name!;
    if (b.metadata?.labels?.[ENVIRONMENT_LABEL] !== environment || wanted.has(name)) {
      kept.push(b);
      continue;
    }
    await deleteClusterObject(cluster, "ValidatingAdmissionPolicyBinding", name);
    removed.push(`binding ${name}`);
  }
  const used = new Set(kept.map((b) => (b.spec as { policyName?: string } | undefined)?.policyName));
  for (const policy of held.policies) {
    const name = policy.metadata!.name!;
    if (used.has(name) || wanted.has(name)) continue;
    await deleteClusterObject(cluster, "ValidatingAdmissionPolicy", name);
    removed.push(`policy ${name}`);
  }
  return removed;
}

/**
 * prepareAdmission for one reconcile's candidate, run at most once: by its dry run, else (the dry run
 * off for the environment) before its apply. Nothing to do in a dry run of the agent (--dry-run).
 */
export function beforeFirstWrite(candidate: Candidate, options: ReconcileOptions): () => Promise<Check[]> {
  let done = false;
  return async () => {
    if (done || options.dryRun || !candidate.objects || !candidate.commit) return [];
    done = true;
    const env = candidate.env;
    const monitor = options.monitor;
    return prepareAdmission({
      environment: env,
      revision: candidate.commit,
      objects: candidate.objects,
      kinds: candidate.trust.doc.kinds,
      ...(monitor && { recordVerified: monitor.verified }),
      ...(options.config.doc.admissionPolicies && {
        policies: {
          cluster: options.clusters.agent(env.name),
          // The policy gate's packs, when it ran (the trust policy may turn it off: then no pack is bound).
          packs: candidate.policyExceptions ? candidate.policy.packs : [],
          exceptions: candidate.policyExceptions ?? [],
        },
      }),
      ...(options.fence && { fence: options.fence }),
    });
  };
}
