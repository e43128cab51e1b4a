// The images a set of manifests would run, and the same manifests pinned to the digests that were
// verified, so the cluster runs exactly what the artifact gate checked. Images are found where
// src/manifest/workloads.ts finds them (the policy gate reads pod specs from the same place): built-in
// pod kinds, pod specs and container lists inside any other kind, image volumes, and the paths the trust
// policy declares for a kind. An image the gate did not see would be an image nobody verified.
import { InputError } from "../core/errors.ts";
import { parseReference, type ImageReference } from "../oci/reference.ts";
import { describeObject, type SourcedObject } from "../manifest/manifests.ts";
import { isBuiltInKind } from "../manifest/resources.ts";
import {
  declarationFor,
  imageFieldsOf,
  parseFieldPattern,
  unreadImageLikeFields,
  valueAt,
  type KindDeclaration,
} from "../manifest/workloads.ts";

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

/** Every image the manifests would run, in manifest order: in pod specs and container lists wherever
 *  they are (src/manifest/workloads.ts), image volumes, and the paths the trust policy declares for a
 *  kind. Throws InputError for an image that is missing or not a valid reference: it could not be
 *  verified, so it must not pass. */
export function imageUses(manifests: readonly SourcedObject[], declarations: readonly KindDeclaration[] = []): ImageUse[] {
  const uses: ImageUse[] = [];
  for (const so of manifests) {
    for (const field of imageFieldsOf(so.object, declarationFor(so.object, declarations))) {
      const where = `${describeObject(so.object)} ${field.where}`;
      if (field.problem) throw new InputError(`${so.file}:${so.line}: ${where}: ${field.problem}, as the trust policy's kinds says`);
      if (typeof field.value !== "string" || field.value === "") throw new InputError(`${so.file}:${so.line}: ${where} has no image`);
      let reference: ImageReference;
      try {
        reference = parseReference(field.value);
      } catch (e) {
        throw new InputError(`${so.file}:${so.line}: ${where}: ${(e as Error).message}`);
      }
      uses.push({ image: field.value, reference, where, source: so, path: field.path });
    }
  }
  return uses;
}

/** A manifest of a kind Kubernetes does not define that the trust policy has not declared: its images
 *  could be in a shape the finder cannot read, so the gate blocks it. */
export interface UndeclaredKind {
  source: SourcedObject;
  group: string;
  /** Fields named like images that no known shape covers ("spec.baseImage"). */
  suspicious: string[];
}

/** The manifests whose kinds neither Kubernetes nor the trust policy's `kinds` describe. */
export function undeclaredKinds(manifests: readonly SourcedObject[], declarations: readonly KindDeclaration[]): UndeclaredKind[] {
  return manifests.flatMap((so) => {
    if (isBuiltInKind(so.object) || declarationFor(so.object, declarations)) return [];
    const group = so.object.apiVersion.includes("/") ? so.object.apiVersion.slice(0, so.object.apiVersion.indexOf("/")) : "";
    return [{ source: so, group, suspicious: unreadImageLikeFields(so.object, imageFieldsOf(so.object)) }];
  });
}

/** Checks a declaration's paths parse; `where` names the field of the trust policy for the message. */
export function checkDeclarations(declarations: readonly KindDeclaration[], where: (i: number, j: number) => string): void {
  declarations.forEach((d, i) =>
    (d.images ?? []).forEach((p, j) => {
      try {
        parseFieldPattern(p);
      } catch (e) {
        throw new InputError(`${where(i, j)}: ${(e as Error).message}`);
      }
    }),
  );
}

/**
 * The manifests with every image pinned to the digest it was verified at (`digests`: image as written
 * → digest). The originals are left as they are (objects read once are shared, e.g. by the policy
 * gate); an image without a digest in `digests` is a programming error, never silently left unpinned.
 */
export function pinImages(
  manifests: readonly SourcedObject[],
  digests: ReadonlyMap<string, string>,
  declarations: readonly KindDeclaration[] = [],
): SourcedObject[] {
  const bySource = new Map<SourcedObject, ImageUse[]>();
  for (const use of imageUses(manifests, declarations))
    (bySource.get(use.source) ?? bySource.set(use.source, []).get(use.source)!).push(use);
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

function setAt(object: unknown, path: readonly (string | number)[], value: unknown): void {
  const parent = valueAt(object, path.slice(0, -1)) as Record<string | number, unknown>;
  parent[path.at(-1)!] = value;
}
