// What a deployment writes into the inventory, whoever records it: the agent after an apply (it only
// records; the monitor judges), or a monitor's own recordDeployment. Per environment, its workloads with
// the images pinned by digest, the revision, verdict and admissions; per new digest, the SBOM's
// components (read once per digest); the manifests as applied. Drift replaces manifests with the live
// objects. Each write raises the inventory's generation, which running monitors watch.
import { imageUses } from "../artifact/images.ts";
import { InputError } from "../core/errors.ts";
import type { SourcedObject } from "../manifest/manifests.ts";
import type { GateImage } from "../vuln/gate.ts";
import { readSbomDocument } from "../vuln/inputs.ts";
import { findingKey } from "./findings.ts";
import type { InventoryStore } from "./inventory.ts";
import type { DeployedWorkload } from "../api/inventory.ts";
import type { Admission } from "./trust.ts";
import type { KindDeclaration } from "../manifest/workloads.ts";

export interface Deployment {
  revision: string;
  verdict: "pass" | "fail";
  /** The image's SBOM (attested, else generated), asked once per digest the inventory does not hold. */
  sbomFor(image: GateImage): Promise<unknown>;
  /** The keys that admitted the commits the gates verified and the pinned digests. */
  admissions?: Admission[];
  /** Where the trust policy says kinds Kubernetes does not define keep their images (the artifact gate read them there). */
  kinds?: readonly KindDeclaration[];
}

export interface Recorded {
  workloads: DeployedWorkload[];
  /** Whether the environment's workloads, or its manifests, differ from what the inventory held. */
  workloadsChanged: boolean;
  manifestsChanged: boolean;
}

/**
 * The environment now runs exactly these objects. Images must be pinned (the artifact gate pinned them):
 * an unpinned one is refused before anything is written. An unchanged environment writes nothing.
 */
export async function recordDeployment(
  inventory: InventoryStore,
  environment: string,
  objects: readonly SourcedObject[],
  deployment: Deployment,
  now: string,
): Promise<Recorded> {
  const previous = new Map((await inventory.workloads()).filter((w) => w.environment === environment).map((w) => [w.workload, w]));
  // The gates verify only the commits new since the last applied revision: the ones before were
  // admitted by earlier deployments and are still in the history, so their admissions carry over.
  const admissions = uniqueAdmissions([
    ...[...previous.values()].flatMap((w) => (w.admissions ?? []).filter((a) => a.kind === "commit")),
    ...(deployment.admissions ?? []),
  ]);
  const workloads = new Map<string, DeployedWorkload>();
  const uses = imageUses(objects, deployment.kinds);
  for (const use of uses) {
    if (!use.reference.digest)
      throw new InputError(`${use.where}: ${use.image} is not pinned to a digest; the monitor records only what the artifact gate pinned`);
  }
  for (const use of uses) {
    const digest = use.reference.digest!;
    const o = use.source.object;
    const name = `${o.kind} ${o.metadata?.namespace ? `${o.metadata.namespace}/` : ""}${o.metadata?.name ?? ""}`;
    const w = workloads.get(name) ?? {
      environment,
      workload: name,
      images: [],
      revision: deployment.revision,
      verdict: deployment.verdict,
      deployedAt: now,
      admissions: [],
    };
    if (!w.images.some((i) => i.digest === digest)) w.images.push({ image: use.image, digest });
    // What admitted this workload: the revision's commits and its own images' signatures.
    w.admissions = admissions.filter((a) => a.kind === "commit" || w.images.some((i) => i.digest === a.subject));
    workloads.set(name, w);
    if (!(await inventory.hasComponents(digest))) {
      const sbom = await deployment.sbomFor({ image: use.image, digest });
      await inventory.putComponents(digest, sbom === undefined ? [] : readSbomDocument(sbom, `the SBOM of ${use.image}`).components);
    }
  }
  // A workload deployed again unchanged keeps the time it was first deployed.
  for (const [name, w] of workloads) {
    const before = previous.get(name);
    if (before && JSON.stringify({ ...before, deployedAt: "" }) === JSON.stringify({ ...w, deployedAt: "" }))
      w.deployedAt = before.deployedAt;
  }
  const manifestsChanged = JSON.stringify(await inventory.manifests(environment)) !== JSON.stringify(objects);
  if (manifestsChanged) await inventory.putManifests(environment, objects);
  const list = [...workloads.values()];
  const workloadsChanged = previous.size === 0 || snapshotOf(list) !== snapshotOf([...previous.values()]);
  if (workloadsChanged) await inventory.replaceEnvironment(environment, list);
  return { workloads: list, workloadsChanged, manifestsChanged };
}

/** Drift: the live objects replace what was applied under their names, in the environment's manifests. */
export async function recordDrift(inventory: InventoryStore, environment: string, live: readonly SourcedObject[]): Promise<void> {
  const id = (o: SourcedObject) =>
    `${o.object.apiVersion} ${o.object.kind} ${o.object.metadata?.namespace ?? ""} ${o.object.metadata?.name ?? ""}`;
  const replaced = new Set(live.map(id));
  await inventory.putManifests(environment, [...(await inventory.manifests(environment)).filter((o) => !replaced.has(id(o))), ...live]);
}

/** An environment's workloads in one comparable form, whatever order they were listed in. */
export const snapshotOf = (workloads: readonly DeployedWorkload[]) =>
  JSON.stringify([...workloads].sort((a, b) => (a.workload < b.workload ? -1 : a.workload > b.workload ? 1 : 0)));

/** Admissions without repeats (the same subject admitted by the same key under the same signer). */
function uniqueAdmissions(list: Admission[]): Admission[] {
  const seen = new Map<string, Admission>();
  for (const a of list) seen.set(findingKey(a.kind, a.subject, a.signer, a.key), a);
  return [...seen.values()];
}
