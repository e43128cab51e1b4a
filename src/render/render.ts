// Render: an environment's folder in a checked-out revision becomes the objects to check and apply.
// A folder with a kustomization file is built by the pinned kustomize after every kustomization it
// reaches has been checked (kustomization.ts); any other folder is read as plain manifests. Nothing
// outside the revision's root is read either way.
import { realpathSync, statSync } from "node:fs";
import { basename, isAbsolute, join, relative, sep } from "node:path";
import { InputError } from "../core/errors.ts";
import { loadManifests, manifestFilesUnder, type SourcedObject } from "../manifest/manifests.ts";
import {
  checkKustomizationTree,
  displayPath,
  isInside,
  KUSTOMIZATION_FILE_NAMES,
  kustomizationFileIn,
  makeBoundary,
  type Boundary,
} from "./kustomization.ts";
import { kustomizeBuild } from "./kustomize.ts";
import { kustomizeBinary } from "./kustomize-release.ts";

export interface RenderOptions {
  /** The kustomize binary; by default $VIGIL_KUSTOMIZE, else /usr/local/bin/kustomize (kustomize-release.ts). */
  kustomize?: string;
  /** How long kustomize may run (default 60 s). */
  timeoutMs?: number;
  /** How much YAML kustomize may print (default 64 MiB). */
  maxOutputBytes?: number;
  /** How much memory kustomize may take (default 512 MiB). */
  memoryLimitBytes?: number;
}

const DEFAULT_TIMEOUT_MS = 60_000;
const DEFAULT_MAX_OUTPUT_BYTES = 64 * 1024 * 1024;
/** Go's runtime alone needs some 100 MiB of data segment; kustomize on a large overlay a few hundred. */
const DEFAULT_MEMORY_LIMIT_BYTES = 512 * 1024 * 1024;

/**
 * The objects of the folder `path` (relative, "." for the whole tree) in the checked-out revision at
 * `root`, each with the file it came from, named relative to `root` ("envs/prod/app.yaml"), and the
 * line where known. Nothing outside `root` is read, through "..", a symbolic link or a kustomize base.
 * Refusals and kustomize failures are InputError (exit 2) naming the file, line and field; a missing
 * or wrong kustomize binary is UnavailableError (exit 3).
 */
export async function renderDirectory(root: string, path: string, options: RenderOptions = {}): Promise<SourcedObject[]> {
  const boundary = makeBoundary(root);
  try {
    const dirReal = environmentFolder(boundary, path);
    if (kustomizationFileIn(dirReal, path) === undefined) return plainManifests(boundary, path);
    const top = checkKustomizationTree(dirReal, boundary);
    return await kustomizeBuild(top, dirReal, boundary, {
      binary: kustomizeBinary(options.kustomize),
      timeoutMs: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      maxOutputBytes: options.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES,
      memoryLimitBytes: options.memoryLimitBytes ?? DEFAULT_MEMORY_LIMIT_BYTES,
    });
  } catch (e) {
    // Files are named as the repository names them, not by where this checkout happens to be.
    if (e instanceof InputError) e.message = e.message.replaceAll(boundary.realRoot + sep, "");
    throw e;
  }
}

function environmentFolder(boundary: Boundary, path: string): string {
  if (isAbsolute(path)) throw new InputError(`${path}: the environment's path must be relative to the repository's root`);
  let real: string;
  try {
    real = realpathSync(join(boundary.realRoot, path));
  } catch {
    throw new InputError(`${path}: no such folder in the revision`);
  }
  if (!isInside(boundary.realRoot, real)) throw new InputError(`${path}: leaves the revision's root`);
  if (!statSync(real).isDirectory()) throw new InputError(`${path}: not a folder`);
  return real;
}

/** Plain manifests: every YAML and JSON file under the folder, none of them outside the revision. */
function plainManifests(boundary: Boundary, path: string): SourcedObject[] {
  const files = manifestFilesUnder([join(boundary.realRoot, path)]);
  const name = (file: string) => relative(boundary.realRoot, file).split(sep).join("/");
  for (const file of files) {
    const real = realpathSync(file);
    if (!isInside(boundary.realRoot, real))
      throw new InputError(
        `${name(file)}: a symbolic link out of the revision (to ${real}); only the signed revision's files are rendered`,
      );
    if ((KUSTOMIZATION_FILE_NAMES as readonly string[]).includes(basename(file))) {
      throw new InputError(
        `${name(file)}: a kustomization below ${path}, which has none of its own: Vigil builds a kustomization only at the environment's path. Add one at ${displayPath(boundary, realpathSync(join(boundary.realRoot, path)))} that lists this folder under resources, or point the environment at this folder`,
      );
    }
  }
  return loadManifests(files).map((s) => ({ ...s, file: name(s.file) }));
}
