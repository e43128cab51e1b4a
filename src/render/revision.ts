// Rendering an environment's folder at a verified commit, for the agent. A plain folder is read
// straight from git's object store: the commit's own blobs, parsed in memory, with the same rules and
// the same order as renderDirectory on an export of the tree, without writing the tree to disk first.
// (Writing a 1,000-file tree to a temporary folder took 0.25–0.9 s on the benchmark's machine, most of
// a one-file change's reconcile: file creation, not git.) A folder with a kustomization is exported
// and built by kustomize, which reads files: written from the commit's blobs as they are, never
// through git archive or a checkout, so no .gitattributes rule of the revision (export-subst,
// export-ignore, filters, eol, ident) changes a byte of what is rendered.
import { basename, isAbsolute, posix } from "node:path";
import { InputError, UnavailableError } from "../core/errors.ts";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { listTree, type ExportedTree, type TreeFile } from "../git/export-tree.ts";
import type { Repo } from "../git/repo.ts";
import { checkManifestFileSize, isManifestFile, type SourcedObject } from "../manifest/manifests.ts";
import { parseManifestsByDocument } from "./documents.ts";
import { KUSTOMIZATION_FILE_NAMES } from "./kustomization.ts";
import { renderDirectory, type RenderOptions } from "./render.ts";

export interface RenderedRevision {
  objects: SourcedObject[];
  /** The exported tree, when kustomize needed one: remove() it when done. */
  tree?: ExportedTree;
}

export async function renderRevision(repo: Repo, commit: string, path: string, options: RenderOptions = {}): Promise<RenderedRevision> {
  const files = await listTree(repo.gitDir, commit);
  const folder = folderOf(path);
  const prefix = folder === "" ? "" : `${folder}/`;
  const below = files.filter((f) => f.path.startsWith(prefix));
  if (below.length === 0) {
    // git keeps no empty folders: a folder with no file in it does not exist.
    throw new InputError(files.some((f) => f.path === folder) ? `${path}: not a folder` : `${path}: no such folder in the revision`);
  }
  if (below.some((f) => (KUSTOMIZATION_FILE_NAMES as readonly string[]).includes(f.path.slice(prefix.length)))) {
    const tree = await writeTree(repo, commit, files);
    try {
      return { objects: await renderDirectory(tree.dir, path, options), tree };
    } catch (e) {
      tree.remove();
      throw e;
    }
  }
  const manifests = below
    .filter((f) => {
      const parts = f.path.slice(prefix.length).split("/");
      return !parts.some((p) => p.startsWith(".")) && isManifestFile(parts.at(-1)!);
    })
    .sort((a, b) => compareAsListed(a.path.slice(prefix.length), b.path.slice(prefix.length)));
  for (const f of manifests) {
    if ((KUSTOMIZATION_FILE_NAMES as readonly string[]).includes(basename(f.path))) {
      throw new InputError(
        `${f.path}: a kustomization below ${path}, which has none of its own: Vigil builds a kustomization only at the environment's path. Add one at ${folder || "."} that lists this folder under resources, or point the environment at this folder`,
      );
    }
    checkManifestFileSize(f.path, f.size);
  }
  // One file's bytes and text at a time (a few read ahead, within READ_AHEAD_BYTES), parsed a document
  // at a time: what is held besides the objects is bounded by the largest file, not the whole set.
  const objects: SourcedObject[] = [];
  for await (const [f, blob] of blobsInOrder(repo, commit, manifests)) {
    for (const o of parseManifestsByDocument(blob.toString("utf8"), f.path)) objects.push(o);
  }
  return { objects };
}

/** How many bytes of blobs may be read ahead of the one being parsed (at least one blob is). */
const READ_AHEAD_BYTES = 8 * 1024 * 1024;

/** The files' blobs in order, reading ahead while the bytes in flight stay under READ_AHEAD_BYTES. */
async function* blobsInOrder(repo: Repo, commit: string, files: readonly TreeFile[]): AsyncGenerator<[TreeFile, Buffer]> {
  const pending: { file: TreeFile; blob: Promise<Buffer> }[] = [];
  let next = 0;
  let inFlight = 0;
  while (next < files.length || pending.length > 0) {
    while (next < files.length && (pending.length === 0 || inFlight + files[next]!.size <= READ_AHEAD_BYTES)) {
      const file = files[next++]!;
      inFlight += file.size;
      const blob = readBlob(repo, commit, file);
      // Awaited in order below; a failure ahead of that is not an unhandled rejection meanwhile.
      blob.catch(() => {});
      pending.push({ file, blob });
    }
    const { file, blob } = pending.shift()!;
    inFlight -= file.size;
    yield [file, await blob];
  }
}

/** The environment's folder as a path inside the tree ("" for the root); one that leaves it is refused. */
function folderOf(path: string): string {
  if (isAbsolute(path)) throw new InputError(`${path}: the environment's path must be relative to the repository's root`);
  const normal = posix.normalize(path.replaceAll("\\", "/")).replace(/\/+$/, "");
  if (normal === ".." || normal.startsWith("../")) throw new InputError(`${path}: leaves the revision's root`);
  return normal === "." ? "" : normal;
}

/**
 * The order manifestFilesUnder takes files in: folder by folder, each folder's entries sorted by name
 * with localeCompare, depth first; so paths compare by their first differing component.
 */
function compareAsListed(a: string, b: string): number {
  const x = a.split("/");
  const y = b.split("/");
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    if (x[i] !== y[i]) return x[i]!.localeCompare(y[i]!);
  }
  return x.length - y.length;
}

/**
 * The commit's files in a new temporary folder, each its blob's bytes. listTree refused links,
 * submodules and trees over the export limits, and gives paths inside the tree ("a/b.yaml").
 */
async function writeTree(repo: Repo, commit: string, files: readonly TreeFile[]): Promise<ExportedTree> {
  const dir = mkdtempSync(join(tmpdir(), "vigil-tree-"));
  const remove = () => rmSync(dir, { recursive: true, force: true });
  try {
    for (const f of files) {
      if (f.path.split("/").some((part) => part === "" || part === "." || part === ".."))
        throw new InputError(`${commit}: the tree holds a path outside its root (${f.path})`);
      const target = join(dir, f.path);
      mkdirSync(dirname(target), { recursive: true });
      writeFileSync(target, await readBlob(repo, commit, f), { flag: "wx" });
    }
  } catch (e) {
    remove();
    throw e;
  }
  return { dir, remove };
}

async function readBlob(repo: Repo, commit: string, file: TreeFile): Promise<Buffer> {
  const object = await repo.objects.read(file.id);
  if (object?.type !== "blob")
    throw new UnavailableError(
      `cannot read ${file.path} of ${commit} from the repository: ${object ? `a ${object.type}, not a blob` : "missing"}`,
    );
  return object.data;
}
