// Reading kustomizations before kustomize does: every kustomization reachable from an environment's
// folder is checked, and anything that would run code, fetch from outside the signed revision, or read
// outside its boundary is refused with its reason. kustomize is only run on a tree that passed.
import { existsSync, lstatSync, readFileSync, realpathSync, statSync } from "node:fs";
import { isAbsolute, join, relative, resolve, sep } from "node:path";
import { parseAllDocuments } from "yaml";
import { InputError } from "../core/errors.ts";
import { documentToPlain, formatPath, locate, parseYamlSource, toPlain, type YamlSource } from "../core/yaml-source.ts";
import { parseManifests, type KubeObject } from "../manifest/manifests.ts";

/** The names kustomize looks for in a folder, in its order. */
export const KUSTOMIZATION_FILE_NAMES = ["kustomization.yaml", "kustomization.yml", "Kustomization"] as const;

/**
 * The builtin plugins of kustomize v5.8.2 (api v0.21.2) that run no code of their own: kustomize
 * statically links them and selects them by `apiVersion: builtin` and kind. HelmChartInflationGenerator
 * is builtin too, but runs the helm program, so it is left out.
 */
const SAFE_BUILTIN_PLUGINS = new Set([
  "AnnotationsTransformer",
  "ConfigMapGenerator",
  "HashTransformer",
  "IAMPolicyGenerator",
  "ImageTagTransformer",
  "LabelTransformer",
  "NamespaceTransformer",
  "PatchJson6902Transformer",
  "PatchStrategicMergeTransformer",
  "PatchTransformer",
  "PrefixSuffixTransformer",
  "PrefixTransformer",
  "SuffixTransformer",
  "ReplacementTransformer",
  "ReplicaCountTransformer",
  "SecretGenerator",
  "ValueAddTransformer",
]);

/** Annotations that make a plugin config a KRM function (an exec program or a container). */
const FUNCTION_ANNOTATIONS = ["config.kubernetes.io/function", "config.k8s.io/function"];

/** Fields of a kustomization that hold no path, URL or plugin: nothing to check but their presence. */
const PLAIN_FIELDS = new Set([
  "apiVersion",
  "kind",
  "metadata",
  "namePrefix",
  "nameSuffix",
  "namespace",
  "commonLabels",
  "labels",
  "commonAnnotations",
  "images",
  "imageTags",
  "replicas",
  "vars",
  "sortOptions",
  "buildMetadata",
  "generatorOptions",
]);

/** Keys inside a builtin plugin's config that name files it reads. */
const PLUGIN_FILE_KEYS = new Set(["path", "paths", "files", "envs", "env"]);

/** A kustomization file that passed the checks, with its content. */
export interface CheckedKustomization {
  /** Its real path on disk. */
  file: string;
  /** Its path as the caller names it (under the root they gave). */
  display: string;
  content: Record<string, unknown>;
}

/** The revision's boundary: the caller's name for it, and its real path (symlinks resolved). */
export interface Boundary {
  root: string;
  realRoot: string;
}

/** The checkout of the revision, which nothing rendered may leave. */
export function makeBoundary(root: string): Boundary {
  let realRoot: string;
  try {
    realRoot = realpathSync(root);
  } catch {
    throw new InputError(`${root}: no such directory (the revision's root)`);
  }
  if (!statSync(realRoot).isDirectory()) throw new InputError(`${root}: not a directory (the revision's root)`);
  return { root, realRoot };
}

/** A real path inside the boundary as the repository names it: relative to the root, with "/". */
export function displayPath(b: Boundary, real: string): string {
  return relative(b.realRoot, real).split(sep).join("/") || ".";
}

export function isInside(dir: string, path: string): boolean {
  return path === dir || path.startsWith(dir.endsWith(sep) ? dir : dir + sep);
}

/** The kustomization file in a folder, if any; two of them is an error, as it is to kustomize. */
export function kustomizationFileIn(dir: string, display = dir): string | undefined {
  const found = KUSTOMIZATION_FILE_NAMES.filter((name) => existsSync(join(dir, name)));
  if (found.length > 1) throw new InputError(`${display}: more than one kustomization file (${found.join(", ")}); keep one`);
  return found[0] === undefined ? undefined : join(dir, found[0]);
}

/**
 * Checks the kustomization in `dirReal` and every kustomization it reaches, depth first. Returns the
 * top one. Throws InputError naming the file, line and field of the first thing refused.
 */
export function checkKustomizationTree(dirReal: string, boundary: Boundary): CheckedKustomization {
  return new Walk(boundary).kustomization(dirReal, "the environment's folder");
}

class Walk {
  private readonly seen = new Set<string>();
  private readonly b: Boundary;
  constructor(boundary: Boundary) {
    this.b = boundary;
  }

  kustomization(dirReal: string, reachedFrom: string): CheckedKustomization {
    const fileReal = kustomizationFileIn(dirReal, displayPath(this.b, dirReal));
    if (!fileReal)
      throw new InputError(
        `${displayPath(this.b, dirReal)}: has no kustomization file (${KUSTOMIZATION_FILE_NAMES.join(", ")}), but ${reachedFrom} lists it as a kustomization`,
      );
    const display = displayPath(this.b, fileReal);
    // A kustomization file that is a link out of its folder is not read at all (kustomize refuses it
    // too): its text could be anything on the machine, and an error message would quote it.
    let linked: string;
    try {
      linked = realpathSync(fileReal);
    } catch {
      throw new InputError(`${display}: a symbolic link that leads nowhere`);
    }
    if (!isInside(dirReal, linked))
      throw new InputError(`${display}: a symbolic link out of its folder; a kustomization file must be in the folder it describes`);
    const src = parseYamlSource(readText(fileReal, display), display);
    const content = toPlain(src) ?? {};
    if (typeof content !== "object" || Array.isArray(content)) throw new InputError(`${display}: a kustomization must be a mapping`);
    const checked = { file: fileReal, display, content: content as Record<string, unknown> };
    // A base reached twice (a diamond) is checked once; kustomize itself reports real cycles.
    if (this.seen.has(dirReal)) return checked;
    this.seen.add(dirReal);
    const k = new KustomizationFile(this, this.b, src, dirReal);
    for (const [field, value] of Object.entries(checked.content)) k.field(field, value);
    return checked;
  }
}

/** The checks of one kustomization file's fields. */
class KustomizationFile {
  private readonly walk: Walk;
  private readonly b: Boundary;
  private readonly src: YamlSource;
  /** The kustomization's folder, real path: kustomize's root for the files it names. */
  private readonly dir: string;
  constructor(walk: Walk, boundary: Boundary, src: YamlSource, dir: string) {
    this.walk = walk;
    this.b = boundary;
    this.src = src;
    this.dir = dir;
  }

  private refuse(path: PropertyKey[], why: string): never {
    throw new InputError(`${locate(this.src, path)}: ${why}`);
  }

  field(field: string, value: unknown): void {
    if (value === null || value === undefined || PLAIN_FIELDS.has(field)) return;
    switch (field) {
      case "resources":
      case "bases":
        return this.list(field, value).forEach((entry, i) => this.resource([field, i], entry, false));
      case "components":
        return this.list(field, value).forEach((entry, i) => this.resource([field, i], entry, true));
      case "crds":
      case "configurations":
        return this.list(field, value).forEach((entry, i) => this.file([field, i], entry));
      case "openapi":
        if (typeof value !== "object" || Array.isArray(value)) this.refuse([field], "must be a mapping (path or version)");
        if ("path" in value) this.file([field, "path"], (value as { path: unknown }).path);
        return;
      case "patchesStrategicMerge":
        return this.list(field, value).forEach((entry, i) => {
          if (!isInlineYaml(entry)) this.existingFile([field, i], entry, "a strategic merge patch");
        });
      case "patches":
      case "patchesJson6902":
      case "replacements":
        return this.list(field, value).forEach((entry, i) => {
          if (typeof entry === "object" && entry !== null && "path" in entry)
            this.file([field, i, "path"], (entry as { path: unknown }).path);
        });
      case "configMapGenerator":
      case "secretGenerator":
        return this.list(field, value).forEach((entry, i) => this.generatorArgs([field, i], entry));
      case "generators":
      case "transformers":
      case "validators":
        return this.list(field, value).forEach((entry, i) => this.plugins([field, i], entry));
      case "helmCharts":
      case "helmGlobals":
      case "helmChartInflationGenerator":
        return this.refuse(
          [field],
          `Helm charts are not rendered: inflating a chart runs the helm program and its templates, and a chart is fetched from outside the signed revision. Render the chart in CI and commit its output (helm template), or use plain manifests`,
        );
      default:
        return this.refuse(
          [field],
          `unknown field "${field}": kustomize v5.8.2 has no such field, and Vigil checks every field before it runs kustomize`,
        );
    }
  }

  private list(field: string, value: unknown): unknown[] {
    if (!Array.isArray(value)) this.refuse([field], "must be a list");
    return value;
  }

  /** A resource, base or component: a file in this folder, or a kustomization folder in the revision. */
  private resource(path: PropertyKey[], entry: unknown, component: boolean): void {
    if (typeof entry !== "string" || entry === "") this.refuse(path, "must be a path");
    const remote = remoteReason(entry, true);
    if (remote)
      this.refuse(
        path,
        `"${entry}" is ${remote}: a remote base would bypass the signed revision. Vendor it into the repository (a copy at a pinned version, reviewed and signed like the rest) and refer to it by a relative path`,
      );
    if (isAbsolute(entry)) this.refuse(path, `"${entry}" is an absolute path: name files and folders relative to the kustomization`);
    const target = resolve(this.dir, entry);
    let real: string;
    try {
      real = realpathSync(target);
    } catch {
      this.refuse(
        path,
        `"${entry}" is not in the revision (${displayPath(this.b, target)} does not exist); kustomize would try to fetch it as a remote Git base, which Vigil refuses: a remote base would bypass the signed revision`,
      );
    }
    if (!isInside(this.b.realRoot, real))
      this.refuse(path, `"${entry}" leaves the revision's root: everything rendered must come from the signed revision`);
    if (statSync(real).isDirectory()) {
      this.walk.kustomization(real, `${locate(this.src, path)}`);
      return;
    }
    if (component) this.refuse(path, `"${entry}" is a file: a component must be a folder with a kustomization file (kind: Component)`);
    if (!isInside(this.dir, real))
      this.refuse(
        path,
        `"${entry}" is outside the kustomization's folder: kustomize's root-only load restriction forbids files from elsewhere; move it under ${displayPath(this.b, this.dir)}, or make its folder a kustomization and list the folder`,
      );
  }

  /** A file kustomize reads for this kustomization (a patch, a generator's input, CRD schemas, …). */
  private file(path: PropertyKey[], entry: unknown): void {
    if (typeof entry !== "string" || entry === "") this.refuse(path, "must be a path");
    const remote = remoteReason(entry, false);
    if (remote)
      this.refuse(
        path,
        `"${entry}" is ${remote}: kustomize would download it, bypassing the signed revision; commit the file and refer to it by a relative path`,
      );
    if (isAbsolute(entry)) this.refuse(path, `"${entry}" is an absolute path: name files relative to the kustomization`);
    const target = resolve(this.dir, entry);
    if (!existsSync(target) && !isSymlink(target)) return; // kustomize names the missing file itself
    let real: string;
    try {
      real = realpathSync(target);
    } catch {
      this.refuse(path, `"${entry}" is a symbolic link that leads nowhere`);
    }
    if (!isInside(this.dir, real))
      this.refuse(
        path,
        `"${entry}" is outside the kustomization's folder (${displayPath(this.b, this.dir)}): kustomize's root-only load restriction forbids it, and a file outside the revision is not signed`,
      );
  }

  /**
   * An entry that is inline YAML or a file, as kustomize decides: it tries the text as YAML first. Text
   * Vigil's YAML parser does not read as objects must then be a file in the revision: were kustomize's
   * parser to read it as objects where Vigil's does not, they would go unchecked, so it is refused.
   */
  private existingFile(path: PropertyKey[], entry: unknown, what: string): void {
    this.file(path, entry);
    if (!existsSync(resolve(this.dir, entry as string)))
      this.refuse(path, `neither ${what} written inline that Vigil can read (YAML objects) nor a file in the revision`);
  }

  /** configMapGenerator and secretGenerator entries: `files` ("key=path" or "path"), `envs`, `env`. */
  private generatorArgs(path: PropertyKey[], entry: unknown): void {
    if (typeof entry !== "object" || entry === null || Array.isArray(entry)) this.refuse(path, "must be a mapping");
    const args = entry as Record<string, unknown>;
    for (const key of ["files", "envs"]) {
      if (args[key] === undefined) continue;
      if (!Array.isArray(args[key])) this.refuse([...path, key], "must be a list");
      args[key].forEach((source, j) => this.file([...path, key, j], key === "files" ? fileSourcePath(source) : source));
    }
    if (args.env !== undefined) this.file([...path, "env"], args.env);
  }

  /** An entry of generators, transformers or validators: inline plugin configs or a file of them. */
  private plugins(path: PropertyKey[], entry: unknown): void {
    if (typeof entry !== "string" || entry === "") this.refuse(path, "must be a plugin config (inline YAML) or the path of a file of them");
    let configs: KubeObject[];
    if (isInlineYaml(entry)) {
      configs = parseAllDocuments(entry)
        .map((d) => documentToPlain(d, `${formatPath(path)} (inline)`) as KubeObject)
        .filter((o) => o !== null);
    } else {
      this.existingFile(path, entry, "plugin configs");
      const target = resolve(this.dir, entry);
      if (statSync(target).isDirectory())
        this.refuse(path, `"${entry}" is a folder: Vigil accepts plugin configs inline or in files, not generated by a kustomization`);
      configs = parseManifests(readText(target, entry), displayPath(this.b, realpathSync(target))).map((s) => s.object);
    }
    configs.forEach((config) => this.pluginConfig(path, config));
  }

  private pluginConfig(path: PropertyKey[], config: KubeObject): void {
    if (typeof config !== "object" || config === null || Array.isArray(config))
      this.refuse(path, "a plugin config must be a mapping with apiVersion and kind");
    const what = `${config.apiVersion ?? "(no apiVersion)"} ${config.kind ?? "(no kind)"}`;
    const annotations = config.metadata?.annotations ?? {};
    const fn = FUNCTION_ANNOTATIONS.find((a) => a in annotations);
    if (fn)
      this.refuse(
        path,
        `${what} has the ${fn} annotation: a KRM function runs a program or a container; Vigil renders only with kustomize's builtin plugins, which run no code`,
      );
    if (config.apiVersion !== "builtin")
      this.refuse(
        path,
        `${what} is not a builtin plugin (apiVersion: builtin): kustomize would look it up as an external plugin, which runs code; Vigil renders only with builtin plugins`,
      );
    if (config.kind === "HelmChartInflationGenerator")
      this.refuse(path, `builtin HelmChartInflationGenerator runs the helm program: render the chart in CI and commit its output`);
    if (!SAFE_BUILTIN_PLUGINS.has(String(config.kind)))
      this.refuse(
        path,
        `builtin ${config.kind} is not one of kustomize v5.8.2's builtin plugins (${[...SAFE_BUILTIN_PLUGINS].join(", ")})`,
      );
    // Their file fields go through kustomize's loader like the kustomization's own: same rules.
    forEachFileReference(config, (value, keys) => this.file([...path, ...keys], value));
  }
}

/** Why a reference is remote, or undefined. Resources may also be Git bases (`git@host:…`, `github.com/…`). */
function remoteReason(ref: string, gitBases: boolean): string | undefined {
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(ref);
  if (scheme) return `a URL (${scheme[1]}://)`;
  if (gitBases && /^[\w.-]+@[\w.-]+:/.test(ref)) return "a remote Git repository (scp-style address)";
  return undefined;
}

/** The path of a generator's `files` entry: "key=path" or "path". */
function fileSourcePath(source: unknown): unknown {
  if (typeof source !== "string") return source;
  const eq = source.indexOf("=");
  return eq === -1 ? source : source.slice(eq + 1);
}

/** kustomize treats an entry as inline YAML when it parses as objects; a path parses as a plain string. */
function isInlineYaml(entry: unknown): boolean {
  if (typeof entry !== "string" || remoteReason(entry.trim(), false)) return false;
  try {
    const docs = parseAllDocuments(entry);
    return (
      docs.every((d) => d.errors.length === 0) &&
      docs.some((d) => {
        const v = documentToPlain(d, "inline YAML");
        return typeof v === "object" && v !== null;
      })
    );
  } catch (e) {
    if (e instanceof InputError) throw e; // an alias bomb is refused, not taken for a path
    return false;
  }
}

function forEachFileReference(value: unknown, visit: (file: unknown, keys: PropertyKey[]) => void, keys: PropertyKey[] = []): void {
  if (Array.isArray(value)) return value.forEach((v, i) => forEachFileReference(v, visit, [...keys, i]));
  if (typeof value !== "object" || value === null) return;
  for (const [k, v] of Object.entries(value)) {
    if (PLUGIN_FILE_KEYS.has(k)) {
      const list = Array.isArray(v) ? v : [v];
      list.forEach((f, i) => visit(k === "files" ? fileSourcePath(f) : f, Array.isArray(v) ? [...keys, k, i] : [...keys, k]));
    } else forEachFileReference(v, visit, [...keys, k]);
  }
}

function isSymlink(path: string): boolean {
  try {
    return lstatSync(path).isSymbolicLink();
  } catch {
    return false;
  }
}

function readText(file: string, display: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch (e) {
    throw new InputError(`${display}: cannot read: ${(e as NodeJS.ErrnoException).code ?? e}`);
  }
}
