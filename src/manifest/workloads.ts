// Where an object keeps its pod specs and images: one place for the policy gate and the artifact gate,
// so an image one gate sees is an image the other sees too. Built-in kinds have known paths. Every
// object is also searched for the shapes Kubernetes and its ecosystem use (a pod spec, a container list,
// a container-like object with an `image`, an image volume), so Argo Rollouts, Knative Services, Argo
// Workflows and any CRD that embeds them are found wherever they appear. A kind Kubernetes does not
// define may still keep images in a shape of its own; such a kind is "undeclared" until the trust policy
// says where its images are, or that it has none (see `KindDeclaration`). A declaration may also name
// where the kind keeps pod specs, lists of containers and single containers (an Argo Workflows
// template's `container`, Tekton's `steps`): their images are verified and their containers judged by
// the pod policies as a PodTemplate's.
import type { KubeObject } from "./manifests.ts";
import { isBuiltInKind, splitApiVersion } from "./resources.ts";

export type FieldPath = (string | number)[];

/** Where the built-in kinds keep their pod spec. */
const builtInPodSpecPaths: Record<string, FieldPath> = {
  Pod: ["spec"],
  PodTemplate: ["template", "spec"],
  Deployment: ["spec", "template", "spec"],
  StatefulSet: ["spec", "template", "spec"],
  DaemonSet: ["spec", "template", "spec"],
  ReplicaSet: ["spec", "template", "spec"],
  ReplicationController: ["spec", "template", "spec"],
  Job: ["spec", "template", "spec"],
  CronJob: ["spec", "jobTemplate", "spec", "template", "spec"],
};

export const containerLists = ["initContainers", "containers", "ephemeralContainers"] as const;

/** What the trust policy says about a kind Kubernetes does not define. */
export interface KindDeclaration {
  /** API group ("" for the core group) and kind. */
  group: string;
  kind: string;
  /** Paths of its image fields: dotted names, `[*]` for every element of a list, `[N]` for one. */
  images?: readonly string[];
  /** Paths of its pod specs (a mapping with `containers`, `initContainers`…, as in a PodSpec). */
  podSpecs?: readonly string[];
  /** Paths of its lists of containers (Tekton's `spec.steps`). */
  containerLists?: readonly string[];
  /** Paths of its single containers (an Argo Workflows template's `container` or `script`). */
  containers?: readonly string[];
  /** It carries no images beyond those found in the shapes above. */
  carriesNoImages?: boolean;
}

export interface ImageField {
  /** The value as written (may be a non-string: the caller refuses it). */
  value: unknown;
  /** Why a declared place holds no readable container (the caller refuses it). */
  problem?: string;
  path: FieldPath;
  /** For messages: "container app", "init container setup", "volume models (image)", "spec.steps[0].image". */
  where: string;
}

/** The pod spec path of a built-in kind, or undefined. */
export function podSpecPathOf(o: KubeObject): FieldPath | undefined {
  return isBuiltInKind(o) ? builtInPodSpecPaths[o.kind] : undefined;
}

/** A pod spec found in an object; `declared` when the trust policy named a container list or a single
 *  container there and the spec is made of it (`{containers: [...]}`, with no pod-level settings). */
export interface FoundPodSpec {
  path: FieldPath;
  spec: Record<string, unknown>;
  declared?: "containerList" | "container";
}

/**
 * Every pod spec in an object: the built-in kind's, any object elsewhere that has a `containers` list
 * (a pod template in a CRD), outermost first, then the pod specs, container lists and single containers
 * its kind's declaration names that are not inside one already found.
 */
export function podSpecsOf(o: KubeObject, declaration?: KindDeclaration): FoundPodSpec[] {
  const found: FoundPodSpec[] = [];
  walkSearched(o, (value, path) => {
    if (!isRecord(value) || !Array.isArray(value.containers)) return;
    found.push({ path, spec: value });
    return "skip";
  });
  const covered = (path: FieldPath) => found.some((f) => isPrefix(f.path, path));
  for (const { path, value, as } of declaredPlaces(o, declaration)) {
    if (covered(path)) continue;
    if (as === "podSpecs" && isRecord(value)) found.push({ path, spec: value });
    else if (as === "containerLists" && Array.isArray(value))
      found.push({ path, spec: { containers: value.map((c, i) => named(c, [...path, i])) }, declared: "containerList" });
    else if (as === "containers" && isRecord(value))
      found.push({ path, spec: { containers: [named(value, path)] }, declared: "container" });
  }
  return found;
}

/** A declared container as a pod's: one without a name (an Argo template's `container`) is named by
 *  its field path, since a pod's containers always have names and policies rely on them. */
function named(container: unknown, path: FieldPath): unknown {
  if (!isRecord(container) || typeof container.name === "string") return container;
  return { ...container, name: formatFieldPath(path) };
}

type PlaceField = "podSpecs" | "containerLists" | "containers";
const placeFields: readonly PlaceField[] = ["podSpecs", "containerLists", "containers"];

/** The values at the paths a declaration names for pod specs, container lists and containers. */
function declaredPlaces(o: KubeObject, declaration?: KindDeclaration): { path: FieldPath; value: unknown; as: PlaceField }[] {
  if (!declaration) return [];
  return placeFields.flatMap((as) =>
    (declaration[as] ?? []).flatMap((pattern) =>
      expandPath(o, parseFieldPattern(pattern)).map((path) => ({ path, value: valueAt(o, path), as })),
    ),
  );
}

/** What is wrong with a declaration's paths (each must parse), by field and index. */
export function kindPathProblems(declaration: KindDeclaration): { field: string; index: number; message: string }[] {
  return (["images", ...placeFields] as const).flatMap((field) =>
    (declaration[field] ?? []).flatMap((pattern, index) => {
      try {
        parseFieldPattern(pattern);
        return [];
      } catch (e) {
        return [{ field, index, message: (e as Error).message }];
      }
    }),
  );
}

/** The image fields of the containers at the places a declaration names; a place that holds no
 *  container of the declared shape is a problem, never skipped: its images could not be read. */
function declaredContainerImages(o: KubeObject, declaration?: KindDeclaration): ImageField[] {
  const fields: ImageField[] = [];
  for (const { path, value, as } of declaredPlaces(o, declaration)) {
    const at = formatFieldPath(path);
    const containers: [Record<string, unknown> | undefined, FieldPath][] =
      as === "containers"
        ? [[isRecord(value) ? value : undefined, path]]
        : as === "containerLists" && Array.isArray(value)
          ? value.map((c, i) => [isRecord(c) ? c : undefined, [...path, i]])
          : [];
    if (as === "podSpecs" && !isRecord(value))
      fields.push({ value: undefined, path, where: at, problem: "declared as a pod spec, it is not a mapping" });
    if (as === "containerLists" && !Array.isArray(value))
      fields.push({ value: undefined, path, where: at, problem: "declared as a container list, it is not a list" });
    for (const [container, containerPath] of containers) {
      const name = typeof container?.name === "string" ? ` ${container.name}` : "";
      const where = `container${name} (${formatFieldPath(containerPath)})`;
      if (!container)
        fields.push({ value: undefined, path: containerPath, where, problem: "declared as a container, it is not a mapping" });
      else fields.push({ value: container.image, path: [...containerPath, "image"], where });
    }
  }
  return fields;
}

/**
 * Every image field in an object: `image` of every container-like object (a mapping with an `image`
 * key inside a container list, or a single `container`/`script`-like mapping holding a string image),
 * `image.reference` of image volumes, and the paths a declaration names. Containers of a known
 * container list without an image are returned with value undefined, so the caller refuses them.
 */
export function imageFieldsOf(o: KubeObject, declaration?: KindDeclaration): ImageField[] {
  const fields = new Map<string, ImageField>();
  const add = (field: ImageField) => fields.set(JSON.stringify(field.path), field);
  walkSearched(o, (value, path) => {
    if (!isRecord(value)) return;
    const parentKey = path.at(-2);
    const inContainerList =
      typeof parentKey === "string" && (containerLists as readonly string[]).includes(parentKey) && typeof path.at(-1) === "number";
    if (inContainerList) {
      add({ value: value.image, path: [...path, "image"], where: containerWhere(parentKey, value, path.at(-1) as number) });
      return;
    }
    if (typeof value.image === "string") add({ value: value.image, path: [...path, "image"], where: formatFieldPath([...path, "image"]) });
    if (isRecord(value.image) && "reference" in value.image) {
      const volume = typeof value.name === "string" ? `volume ${value.name}` : formatFieldPath(path);
      add({ value: value.image.reference, path: [...path, "image", "reference"], where: `${volume} (image)` });
    }
  });
  for (const field of declaredContainerImages(o, declaration)) add(field);
  for (const pattern of declaration?.images ?? []) {
    for (const path of expandPath(o, parseFieldPattern(pattern))) {
      if (!fields.has(JSON.stringify(path))) add({ value: valueAt(o, path), path, where: formatFieldPath(path) });
    }
  }
  return [...fields.values()];
}

/** Keys that name image settings, not images. */
const notImageKeys = new Set(["imagePullPolicy", "imagePullSecrets"]);

/**
 * Fields of an object whose names say "image" but that are not in a shape the finder reads (e.g.
 * `spec.baseImage`, `spec.images[0].ref` under an `images` key, `image: {repository, tag}`), and that no
 * declaration covers: where an undeclared kind may hide an image.
 */
export function unreadImageLikeFields(o: KubeObject, read: readonly ImageField[]): string[] {
  const readPaths = read.map((f) => f.path);
  const found: string[] = [];
  walkSearched(o, (_value, path) => {
    const key = path.at(-1);
    if (typeof key !== "string" || !/image/i.test(key) || notImageKeys.has(key)) return "continue";
    if (readPaths.some((p) => isPrefix(path, p))) return "continue";
    found.push(formatFieldPath(path));
    return "skip";
  });
  return found;
}

/** The declaration for an object's kind, if the trust policy has one. */
export function declarationFor(o: KubeObject, declarations: readonly KindDeclaration[]): KindDeclaration | undefined {
  const { group } = splitApiVersion(o.apiVersion);
  return declarations.find((d) => d.group === group && d.kind === o.kind);
}

/** A path pattern as the trust policy writes it: `spec.templates[*].container.image`. */
export type FieldPattern = (string | number | "*")[];
const patternToken = /^(?:[A-Za-z_$][\w$-]*|\[(?:\*|\d+)\])/;

/** Parses a field pattern; throws an Error saying what is wrong (the caller names file and field). */
export function parseFieldPattern(text: string): FieldPattern {
  const parts: FieldPattern = [];
  let rest = text;
  while (rest !== "") {
    if (parts.length > 0 && rest.startsWith(".")) rest = rest.slice(1);
    const m = patternToken.exec(rest);
    if (!m) throw new Error(`"${text}" is not a field path like spec.template.containers[*].image (at "${rest}")`);
    const token = m[0];
    parts.push(token === "[*]" ? "*" : token.startsWith("[") ? Number(token.slice(1, -1)) : token);
    rest = rest.slice(token.length);
  }
  if (parts.length === 0) throw new Error("an empty field path");
  return parts;
}

function expandPath(o: unknown, pattern: FieldPattern, prefix: FieldPath = []): FieldPath[] {
  if (pattern.length === 0) return [prefix];
  const [head, ...rest] = pattern as [FieldPattern[number], ...FieldPattern];
  if (head === "*") return Array.isArray(o) ? o.flatMap((item, i) => expandPath(item, rest, [...prefix, i])) : [];
  if (o === null || typeof o !== "object") return [];
  const next = (o as Record<string | number, unknown>)[head];
  if (next === undefined) return [];
  return expandPath(next, rest, [...prefix, head]);
}

export function valueAt(object: unknown, path: readonly (string | number)[]): unknown {
  let value = object;
  for (const key of path) {
    if (value === null || typeof value !== "object") return undefined;
    value = (value as Record<string | number, unknown>)[key];
  }
  return value;
}

export function formatFieldPath(path: readonly (string | number)[]): string {
  return path.map((p, i) => (typeof p === "number" ? `[${p}]` : `${i === 0 ? "" : "."}${p}`)).join("");
}

function containerWhere(list: string, c: Record<string, unknown>, index: number): string {
  const label = list === "containers" ? "container" : list === "initContainers" ? "init container" : "ephemeral container";
  return `${label} ${String(c.name ?? index)}`;
}

/**
 * Walks where images may be: a built-in kind's pod spec only (its schema is known, so an `image` key
 * elsewhere, e.g. in a ConfigMap's data, is not one), and the whole of any other kind except its
 * metadata and status (the API server ignores a status written in a manifest).
 */
function walkSearched(o: KubeObject, visit: (value: unknown, path: FieldPath) => "skip" | "continue" | void): void {
  if (isBuiltInKind(o)) {
    const specPath = builtInPodSpecPaths[o.kind];
    if (specPath) walk(valueAt(o, specPath), specPath, visit);
    return;
  }
  for (const [k, v] of Object.entries(o)) if (k !== "metadata" && k !== "status") walk(v, [k], visit);
}

/** Depth-first over every value; the visitor may return "skip" to not descend into a value. Depth is
 *  bounded by the manifest parser (the API server's limits), so recursion is safe. */
function walk(value: unknown, path: FieldPath, visit: (value: unknown, path: FieldPath) => "skip" | "continue" | void): void {
  if (visit(value, path) === "skip") return;
  if (Array.isArray(value)) value.forEach((item, i) => walk(item, [...path, i], visit));
  else if (isRecord(value)) for (const [k, v] of Object.entries(value)) walk(v, [...path, k], visit);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

function isPrefix(prefix: FieldPath, path: FieldPath): boolean {
  return prefix.length <= path.length && prefix.every((p, i) => p === path[i]);
}
