// The images a set of manifests would run, and the same manifests pinned to the digests that were
// verified, so the cluster runs exactly what the artifact gate checked. Every kind that carries a pod
// (Pod, the workload controllers, Job, CronJob) and every container list (containers, initContainers,
// ephemeralContainers) is covered: an image the gate did not see would be an image nobody verified.
import { InputError } from "../core/errors.ts";
import { parseReference, type ImageReference } from "../oci/reference.ts";
import { describeObject, type SourcedObject } from "../policy/manifests.ts";

/** Where a kind keeps its pod spec. */
const podSpecPaths: Record<string, readonly string[]> = {
  Pod: ["spec"],
  Deployment: ["spec", "template", "spec"],
  StatefulSet: ["spec", "template", "spec"],
  DaemonSet: ["spec", "template", "spec"],
  ReplicaSet: ["spec", "template", "spec"],
  ReplicationController: ["spec", "template", "spec"],
  Job: ["spec", "template", "spec"],
  CronJob: ["spec", "jobTemplate", "spec", "template", "spec"],
};
const containerLists = ["initContainers", "containers", "ephemeralContainers"] as const;

export interface ImageUse {
  /** The image as written in the manifest. */
  image: string;
  reference: ImageReference;
  /** The resource and container, for messages: "Deployment/shop/web container app". */
  where: string;
  /** The manifest it is in (file and line for messages). */
  source: SourcedObject;
  /** Path of the `image` field inside the object. */
  path: (string | number)[];
}

/** Every image the manifests would run, in manifest order. Throws InputError for an image that is
 *  missing or not a valid reference: it could not be verified, so it must not pass. */
export function imageUses(manifests: readonly SourcedObject[]): ImageUse[] {
  const uses: ImageUse[] = [];
  for (const so of manifests) {
    const specPath = podSpecPaths[so.object.kind];
    if (!specPath) continue;
    const spec = at(so.object, specPath);
    if (spec === undefined) continue;
    for (const list of containerLists) {
      const containers = (spec as Record<string, unknown>)[list];
      if (containers === undefined) continue;
      if (!Array.isArray(containers)) throw new InputError(`${so.file}:${so.line}: ${describeObject(so.object)}: ${[...specPath, list].join(".")} must be a list`);
      containers.forEach((c: { name?: unknown; image?: unknown }, i) => {
        const where = `${describeObject(so.object)} ${list === "containers" ? "container" : list.replace(/s$/, "").replace(/C/, " c")} ${String(c?.name ?? i)}`;
        if (typeof c?.image !== "string" || c.image === "") throw new InputError(`${so.file}:${so.line}: ${where} has no image`);
        let reference: ImageReference;
        try {
          reference = parseReference(c.image);
        } catch (e) {
          throw new InputError(`${so.file}:${so.line}: ${where}: ${(e as Error).message}`);
        }
        uses.push({ image: c.image, reference, where, source: so, path: [...specPath, list, i, "image"] });
      });
    }
  }
  return uses;
}

/**
 * The manifests with every image pinned to the digest it was verified at (`digests`: image as written
 * → digest). The originals are left as they are (objects read once are shared, e.g. by the policy
 * gate); an image without a digest in `digests` is a programming error, never silently left unpinned.
 */
export function pinImages(manifests: readonly SourcedObject[], digests: ReadonlyMap<string, string>): SourcedObject[] {
  const bySource = new Map<SourcedObject, ImageUse[]>();
  for (const use of imageUses(manifests)) (bySource.get(use.source) ?? bySource.set(use.source, []).get(use.source)!).push(use);
  return manifests.map((so) => {
    const uses = bySource.get(so);
    if (!uses) return so;
    const object = structuredClone(so.object);
    for (const use of uses) {
      const digest = digests.get(use.image);
      if (!digest) throw new Error(`no verified digest for ${use.image} (${use.where})`);
      setAt(object, use.path, pinned(use, digest));
    }
    return { ...so, object };
  });
}

/** The image as written with the digest added; one that already names a digest must name this one. */
function pinned(use: ImageUse, digest: string): string {
  if (use.reference.digest) {
    if (use.reference.digest !== digest) throw new Error(`${use.where}: ${use.image} was verified at ${digest}`);
    return use.image;
  }
  return `${use.image}@${digest}`;
}

function at(object: unknown, path: readonly (string | number)[]): unknown {
  let value = object;
  for (const key of path) {
    if (value === null || typeof value !== "object") return undefined;
    value = (value as Record<string | number, unknown>)[key];
  }
  return value;
}

function setAt(object: unknown, path: readonly (string | number)[], value: unknown): void {
  const parent = at(object, path.slice(0, -1)) as Record<string | number, unknown>;
  parent[path.at(-1)!] = value;
}
