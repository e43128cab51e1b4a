// Where an object keeps its pod specs and images: one place for the policy gate and the artifact gate,
// so an image one gate sees is an image the other sees too. Built-in kinds have known paths. Every
// object is also searched for the shapes Kubernetes and its ecosystem use (a pod spec, a container list,
// a container-like object with an `image`, an image volume), so Argo Rollouts, Knative Services, Argo
// Workflows and any CRD that embeds them are found wherever they appear. A kind Kubernetes does not
// define may still keep images in a shape of its own; such a kind is "undeclared" until the trust policy
// says where its images are, or that it has none (see `KindDeclaration`).
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
  /** It carries no images beyond those found in the shapes above. */
  carriesNoImages?: boolean;
}

export interface ImageField {
  /** The value as written (may be a non-string: the caller refuses it). */
  value: unknown;
  path: FieldPath;
  /** For messages: "container app", "init container setup", "volume models (image)", "spec.steps[0].image". */
  where: string;
}

/** The pod spec path of a built-in kind, or undefined. */
export function podSpecPathOf(o: KubeObject): FieldPath | undefined {
  return isBuiltInKind(o) ? builtInPodSpecPaths[o.kind] : undefined;
}

/**
 * Every pod spec in an object: the built-in kind's, and any object elsewhere that has a `containers`
 * list (a pod template in a CRD), outermost first.
 */
export function podSpecsOf(o: KubeObject): { path: FieldPath; spec: Record<string, unknown> }[] {
  const found: { path: FieldPath; spec: Record<string, unknown> }[] = [];
  walkSearched(o, (value, path) => {
    if (!isRecord(value) || !Array.isArray(value.containers)) return;
    found.push({ path, spec: value });
    return "skip";
  });
  return found;
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
