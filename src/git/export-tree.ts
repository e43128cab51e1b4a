// Writing a verified commit's tree into a fresh folder, for rendering: exactly that commit's files, from
// git's object store (never a working tree someone could have changed), and nothing that could reach
// outside the folder: a symbolic link in the tree is refused, since following it would read the
// agent's own files into the manifests; submodules are refused, since their content is not verified.
import { spawn } from "node:child_process";
import { gitEnv } from "./env.ts";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, normalize, sep } from "node:path";
import { extract } from "tar-stream";
import { InputError, UnavailableError } from "../core/errors.ts";
import { git } from "./repo.ts";

/** Limits on what one revision may unpack to. */
export const EXPORT_LIMITS = { bytes: 512 << 20, files: 100_000 };

export interface ExportedTree {
  /** The folder holding the commit's tree. */
  dir: string;
  remove(): void;
}

/** Exports `commit`'s whole tree (the root, so overlays can reach their bases) into a new temporary folder. */
export async function exportTree(gitDir: string, commit: string, limits = EXPORT_LIMITS): Promise<ExportedTree> {
  if (!/^[0-9a-f]{40}([0-9a-f]{24})?$/.test(commit)) throw new InputError(`export of ${commit}: a full commit id is required`);
  const dir = mkdtempSync(join(tmpdir(), "vigil-tree-"));
  const remove = () => rmSync(dir, { recursive: true, force: true });
  try {
    await listTree(gitDir, commit, limits);
    await unpack(gitDir, commit, dir, limits);
  } catch (e) {
    remove();
    throw e;
  }
  return { dir, remove };
}

/** A file of a commit's tree, as git lists it. */
export interface TreeFile {
  /** The blob's id. */
  id: string;
  /** From the tree's root, "/"-separated. */
  path: string;
  size: number;
  executable: boolean;
}

/**
 * Every file of `commit`'s tree, checked as an export checks it: a submodule (which git archive would
 * leave out without a word) or a symbolic link anywhere is refused, and so is a tree over the limits.
 */
export async function listTree(gitDir: string, commit: string, limits = EXPORT_LIMITS): Promise<TreeFile[]> {
  if (!/^[0-9a-f]{40}([0-9a-f]{24})?$/.test(commit)) throw new InputError(`listing ${commit}: a full commit id is required`);
  const listing = await git(gitDir, ["ls-tree", "-r", "-l", "-z", "--full-tree", commit]).catch((e: { stderr?: string }) => {
    throw unreadable(commit, e.stderr ?? String(e));
  });
  const files: TreeFile[] = [];
  let bytes = 0;
  for (const entry of listing.split("\0")) {
    if (entry === "") continue;
    const m = /^(\d{6}) (\w+) ([0-9a-f]+) +(-|\d+)\t(.+)$/s.exec(entry);
    if (!m) throw unreadable(commit, `unexpected tree entry ${JSON.stringify(entry.slice(0, 200))}`);
    const [, mode, , id, size, path] = m as unknown as [string, string, string, string, string, string];
    if (mode === "160000")
      throw new InputError(`${commit}: ${path} is a submodule; its content is not part of the verified revision, so it is refused`);
    if (mode === "120000")
      throw new InputError(`${commit}: ${path} is a symbolic link; links are refused, since they could read files outside the revision`);
    if (mode !== "100644" && mode !== "100755") throw unreadable(commit, `${path} has mode ${mode}`);
    bytes += Number(size);
    files.push({ id, path, size: Number(size), executable: mode === "100755" });
    if (files.length > limits.files || bytes > limits.bytes)
      throw new InputError(`${commit}: the tree is larger than the ${limits.files} files / ${limits.bytes >> 20} MiB a revision may hold`);
  }
  return files;
}

function unpack(gitDir: string, commit: string, dir: string, limits: typeof EXPORT_LIMITS): Promise<void> {
  const git = spawn("git", ["--git-dir", gitDir, "archive", "--format=tar", commit], { stdio: ["ignore", "pipe", "pipe"], env: gitEnv });
  let stderr = "";
  git.stderr.on("data", (d: Buffer) => (stderr += d));
  const tar = extract();
  let bytes = 0;
  let files = 0;
  let refused: Error | undefined;
  tar.on("entry", (header, stream, next) => {
    const fail = (e: Error) => {
      refused ??= e;
      stream.resume();
      next();
    };
    const path = safePath(header.name);
    if (path === undefined) return fail(new InputError(`${commit}: the tree holds a path outside its root (${header.name})`));
    if (header.type === "directory") {
      mkdirSync(join(dir, path), { recursive: true });
      stream.resume();
      return next();
    }
    if (header.type === "symlink")
      return fail(
        new InputError(`${commit}: ${path} is a symbolic link; links are refused, since they could read files outside the revision`),
      );
    if (header.type !== "file")
      return fail(new InputError(`${commit}: ${path} is a ${header.type} entry, not a file; only files and folders are deployed`));
    files += 1;
    bytes += header.size ?? 0;
    if (files > limits.files || bytes > limits.bytes)
      return fail(
        new InputError(`${commit}: the tree is larger than the ${limits.files} files / ${limits.bytes >> 20} MiB a revision may hold`),
      );
    const chunks: Buffer[] = [];
    stream.on("data", (c) => chunks.push(c as Buffer));
    stream.on("end", () => {
      const target = join(dir, path);
      mkdirSync(dirname(target), { recursive: true });
      writeFileSync(target, Buffer.concat(chunks), { mode: header.mode !== undefined && header.mode & 0o111 ? 0o755 : 0o644 });
      next();
    });
  });
  git.stdout.pipe(tar);
  const exited = new Promise<number | null>((done) => git.on("close", done));
  const extracted = new Promise<void>((done, failed) => {
    tar.on("finish", done);
    tar.on("error", failed);
  });
  return Promise.all([exited, extracted]).then(([code]) => {
    if (code !== 0) throw unreadable(commit, stderr || `git archive exited ${code}`);
    if (refused) throw refused;
  });
}

function unreadable(commit: string, gitMessage: string): UnavailableError {
  return new UnavailableError(`cannot read the tree of ${commit} from the repository: ${gitMessage.trim().split("\n").at(-1)}`);
}

/** A tar entry's path made relative and normal, or undefined if it would land outside the folder. */
function safePath(name: string): string | undefined {
  const path = normalize(name).replace(/\/+$/, "");
  if (path === "" || path === ".") return ".";
  if (path.startsWith("/") || path === ".." || path.startsWith(`..${sep}`)) return undefined;
  return path;
}
