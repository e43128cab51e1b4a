// Opening a repository read-only: a local path as it is, a URL fetched into a private cache.
// The git CLI is used for the object store and the walk; nothing here ever writes a remote.
import { execFile, execFileSync, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync } from "node:fs";
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { promisify } from "node:util";
import { InputError, UnavailableError } from "../core/errors.ts";
import { isLoopbackHost } from "../oci/reference.ts";
import type { ObjectReader } from "./cat-file.ts";
import { ObjectStore, type ObjectLayout } from "./object-store.ts";
import { gitEnv } from "./env.ts";
import { parseCommit, parseTag } from "./objects.ts";
import { readInputText } from "../core/input-file.ts";
import { redactCredentials } from "../core/redact.ts";

const exec = promisify(execFile);

/** Refs Vigil reads besides branches and tags: co-signatures, approvals, deployment records. */
export const vigilRefs = "refs/vigil/*";

export interface Repo {
  /** As the user named it (path or URL), for messages: credentials in a URL are blanked. */
  name: string;
  gitDir: string;
  objects: ObjectReader;
  close(): void;
}

/**
 * The environment every git Vigil runs gets. GIT_NO_REPLACE_OBJECTS: whoever can write the repository's
 * refs/replace/ must not be able to make git show other objects than the ids name, since the gate
 * verifies what it reads.
 */

export async function git(gitDir: string, args: string[]): Promise<string> {
  const { stdout } = await exec("git", ["--git-dir", gitDir, ...args], { env: gitEnv, maxBuffer: 64 * 1024 * 1024 });
  return stdout;
}

export function isRemote(location: string): boolean {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(location) || /^[^/\s]+@[^/\s:]+:/.test(location);
}

/** A read-only credential for fetching: a token for HTTPS, or an SSH deploy key and its host's known key. */
export type ReadCredential = { tokenFile: string } | { sshKeyFile: string; knownHostsFile?: string };

export interface OpenOptions {
  /** Where fetched repositories are kept; default ~/.cache/vigil/repos. */
  cacheDir?: string;
  credential?: ReadCredential;
}

export async function openRepo(location: string, options: OpenOptions = {}): Promise<Repo> {
  const cacheDir = options.cacheDir ?? defaultCacheDir();
  if (options.credential && "tokenFile" in options.credential) refusePlainHttpToken(location);
  const { gitDir, layout } = isRemote(location)
    ? { gitDir: await fetchRemote(location, cacheDir, credentialEnv(options.credential)), layout: undefined }
    : await localGitDir(location);
  const objects = new ObjectStore(gitDir, {}, layout);
  return { name: redactCredentials(location), gitDir, objects, close: () => objects.close() };
}

function defaultCacheDir(): string {
  return join(process.env.XDG_CACHE_HOME ?? join(homedir(), ".cache"), "vigil", "repos");
}

/** The git directory at `path`, and its object format and objects directory, from one git process. */
async function localGitDir(path: string): Promise<{ gitDir: string; layout: ObjectLayout }> {
  if (!existsSync(path)) throw new InputError(`${path}: no such directory (give a git repository path or URL)`);
  let lines: string[];
  try {
    const { stdout } = await exec("git", ["-C", path, "rev-parse", "--absolute-git-dir", "--show-object-format", "--git-path", "objects"], {
      env: gitEnv,
    });
    lines = stdout.trim().split("\n");
  } catch {
    throw new InputError(`${path}: not a git repository`);
  }
  const [gitDir, format, objectsDir] = lines;
  // --git-path is relative to the directory git ran in (unless absolute).
  return { gitDir: gitDir!, layout: { format: format!, objectsDir: resolve(path, objectsDir!) } };
}

/** Mirrors branches, tags and Vigil's refs into a bare cache repository; read-only towards the remote. */
async function fetchRemote(url: string, cacheDir: string, env: NodeJS.ProcessEnv): Promise<string> {
  const gitDir = resolve(cacheDir, createHash("sha256").update(url).digest("hex").slice(0, 32) + ".git");
  if (!existsSync(gitDir)) {
    mkdirSync(gitDir, { recursive: true });
    await exec("git", ["init", "--quiet", "--bare", gitDir], { env: gitEnv });
  }
  const refspecs = ["+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*", `+${vigilRefs}:${vigilRefs}`];
  try {
    await exec("git", ["--git-dir", gitDir, "fetch", "--quiet", "--prune", "--no-write-fetch-head", "--", url, ...refspecs], {
      env,
      timeout: 120_000,
    });
    await followRemoteHead(gitDir, url, env);
  } catch (e) {
    const detail = ((e as { stderr?: string }).stderr ?? String(e)).trim().split("\n").at(-1);
    throw new UnavailableError(
      redactCredentials(`cannot fetch ${url}: ${detail}; check the URL, the network and the read-only credential`),
    );
  }
  return gitDir;
}

/**
 * git's environment for a fetch with a credential. The token goes in through GIT_CONFIG_* variables, never
 * on a command line another process could read, as HTTP Basic with the user "x-access-token" (what
 * GitHub, GitLab and Gitea all accept for a token). An SSH key is used alone, in batch mode, and the
 * host must already be known: with a known_hosts file, only the keys in it.
 */
function credentialEnv(credential: ReadCredential | undefined): NodeJS.ProcessEnv {
  if (!credential) return gitEnv;
  if ("tokenFile" in credential) {
    const token = readSecret(credential.tokenFile, "token");
    const basic = Buffer.from(`x-access-token:${token}`).toString("base64");
    return { ...gitEnv, GIT_CONFIG_COUNT: "1", GIT_CONFIG_KEY_0: "http.extraHeader", GIT_CONFIG_VALUE_0: `Authorization: Basic ${basic}` };
  }
  readSecret(credential.sshKeyFile, "SSH key");
  const quote = (p: string) => `'${p.replaceAll("'", "'\\''")}'`;
  const known = credential.knownHostsFile ? ` -o UserKnownHostsFile=${quote(credential.knownHostsFile)}` : "";
  return {
    ...gitEnv,
    GIT_SSH_COMMAND: `ssh -i ${quote(credential.sshKeyFile)} -o IdentitiesOnly=yes -o BatchMode=yes -o StrictHostKeyChecking=yes${known}`,
  };
}

/** A token sent over plain HTTP can be read on the way: only to loopback, as with registries. */
function refusePlainHttpToken(url: string): void {
  if (!/^http:\/\//i.test(url)) return;
  const host = new URL(url).hostname.replace(/^\[|\]$/g, "");
  if (!isLoopbackHost(host)) throw new InputError(`${redactCredentials(url)}: a token is never sent over plain HTTP; use an https:// URL`);
}

function readSecret(file: string, what: string): string {
  const text = readInputText(file, `the ${what}`).trim();
  if (text === "") throw new InputError(`${file}: the ${what} file is empty`);
  return text;
}

/** HEAD of the cache follows the remote's HEAD, so "HEAD" means what it means there. */
async function followRemoteHead(gitDir: string, url: string, env: NodeJS.ProcessEnv): Promise<void> {
  const { stdout } = await exec("git", ["ls-remote", "--symref", "--", url, "HEAD"], { env, timeout: 60_000 });
  const branch = /^ref: (refs\/heads\/\S+)\tHEAD$/m.exec(stdout)?.[1];
  if (branch) await git(gitDir, ["symbolic-ref", "HEAD", branch]);
}

/** An environment's branch as a full ref name, which git never reads as a tag or a commit; HEAD without one. */
export function branchRef(branch: string | undefined): string {
  return branch === undefined ? "HEAD" : `refs/heads/${branch}`;
}

/** An annotated tag on the way from a name to its commit; `ref` is where the outermost one is stored. */
export interface ResolvedTag {
  id: string;
  ref?: string;
}

export interface ResolvedRevision {
  commit: string;
  /** Every tag object from the one named to the commit, outermost first: each one's signature counts. */
  tags: ResolvedTag[];
  /** The outermost tag (tags[0]), kept until every caller reads `tags`. */
  tag?: string;
  tagRef?: string;
}

/** A tag of a tag of a tag…: a longer chain than this is refused rather than followed. */
export const MAX_TAG_CHAIN = 8;

/** Resolves a branch, tag or commit as git does; annotated tags are returned too, since their signatures count. */
export async function resolveRevision(repo: Repo, rev: string): Promise<ResolvedRevision> {
  if (rev.startsWith("-") || /[\s\0]/.test(rev)) throw new InputError(`invalid revision "${rev}"`);
  // A full commit id (what the agent deploys by) is read in-process; git, too, takes a full id before a ref of that name.
  if (/^([0-9a-f]{40}|[0-9a-f]{64})$/.test(rev) && (await repo.objects.read(rev))?.type === "commit") return { commit: rev, tags: [] };
  // The object and the full name it has, asked of git at once (two processes side by side).
  const [object, fullName] = await Promise.allSettled([
    git(repo.gitDir, ["rev-parse", "--verify", "--quiet", `${rev}^{object}`]),
    git(repo.gitDir, ["rev-parse", "--symbolic-full-name", rev]),
  ]);
  if (object.status === "rejected") throw new InputError(`revision "${rev}" does not exist in ${repo.name}`);
  const id = object.value.trim();
  const ref = fullName.status === "fulfilled" ? fullName.value.trim() : "";
  return peelToCommit(repo, rev, id, ref.startsWith("refs/tags/") ? ref : undefined);
}

/**
 * An environment's branch: exactly refs/heads/<branch>. A tag, a remote-tracking ref or a commit id that
 * happens to be spelled like the branch must not stand in for it.
 */
export async function resolveBranch(repo: Repo, branch: string): Promise<ResolvedRevision> {
  const ref = `refs/heads/${branch}`;
  if (branch.startsWith("-") || /[\s\0]/.test(branch)) throw new InputError(`invalid branch name "${branch}"`);
  try {
    await git(repo.gitDir, ["check-ref-format", ref]);
  } catch {
    throw new InputError(`invalid branch name "${branch}"`);
  }
  let id: string;
  try {
    id = (await git(repo.gitDir, ["rev-parse", "--verify", "--quiet", ref])).trim();
  } catch {
    throw new InputError(`branch "${branch}" (${ref}) does not exist in ${repo.name}`);
  }
  return peelToCommit(repo, ref, id, undefined);
}

/** Follows tag objects to the commit they name, reading each one; a tag of a tree or a blob is not a revision. */
async function peelToCommit(repo: Repo, rev: string, id: string, tagRef: string | undefined): Promise<ResolvedRevision> {
  const tags: ResolvedTag[] = [];
  for (let current = id; ; ) {
    const object = await repo.objects.read(current);
    if (object?.type === "commit") return withOutermostTag(current, tags);
    if (object?.type !== "tag") {
      const via = tags.length > 0 ? `a tag of a ${object?.type ?? "missing object"}` : `a ${object?.type ?? "missing object"}`;
      throw new InputError(`revision "${rev}" is ${via}, not a commit`);
    }
    if (tags.length === MAX_TAG_CHAIN)
      throw new InputError(`revision "${rev}" is a chain of more than ${MAX_TAG_CHAIN} tags; tag the commit itself`);
    tags.push(tags.length === 0 && tagRef ? { id: current, ref: tagRef } : { id: current });
    const target = readTagTarget(rev, current, object.data);
    const actual = (await repo.objects.read(target.id))?.type;
    if (actual && actual !== target.type) {
      throw new InputError(`revision "${rev}": tag object ${current} says it tags a ${target.type} but ${target.id} is a ${actual}`);
    }
    current = target.id;
  }
}

function readTagTarget(rev: string, id: string, data: Buffer): { id: string; type: string } {
  try {
    const tag = parseTag(id, data);
    return { id: tag.object, type: tag.type };
  } catch (e) {
    throw new InputError(`revision "${rev}": tag object ${id} cannot be read: ${(e as Error).message}`);
  }
}

function withOutermostTag(commit: string, tags: ResolvedTag[]): ResolvedRevision {
  const outer = tags[0];
  if (!outer) return { commit, tags };
  return { commit, tags, tag: outer.id, ...(outer.ref ? { tagRef: outer.ref } : {}) };
}

export async function isAncestor(repo: Repo, ancestor: string, descendant: string): Promise<boolean> {
  if (await linearRange(repo, descendant, ancestor)) return true;
  try {
    await git(repo.gitDir, ["merge-base", "--is-ancestor", ancestor, descendant]);
    return true;
  } catch (e) {
    if ((e as { code?: number }).code === 1) return false;
    throw e;
  }
}

/**
 * Commits reachable from `to` and not from `from`, parents before children: the order a person reads
 * history in, and each parent's tree is then already known when its child is compared with it.
 */
export async function* revList(repo: Repo, to: string, from?: string): AsyncGenerator<string> {
  const args = ["--git-dir", repo.gitDir, "rev-list", "--topo-order", "--reverse", to, ...(from ? [`^${from}`] : []), "--"];
  const proc = spawn("git", args, { env: gitEnv, stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  proc.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  const closed = new Promise<number | null>((res) => proc.on("close", res));
  try {
    for await (const line of createInterface({ input: proc.stdout })) if (line) yield line;
    const code = await closed;
    if (code !== 0) throw new Error(`git rev-list failed: ${stderr.trim()}`);
  } finally {
    proc.kill();
  }
}

/**
 * The commits after `from` up to `to`, oldest first, read in-process when they form a straight line (each
 * has exactly one parent), the common case of deploying a few commits more; null when the history
 * branches between them or `from` is not within `limit` commits, and the caller asks git. When not null it
 * is exactly git's `to ^from`: with one parent each, all that `to` reaches besides them, `from` reaches.
 */
export async function linearRange(repo: Repo, to: string, from: string, limit = 64): Promise<string[] | null> {
  const line: string[] = [];
  for (let id = to; line.length <= limit; ) {
    if (id === from) return line.reverse();
    const object = await repo.objects.read(id);
    if (object?.type !== "commit") return null;
    let parents: string[];
    try {
      parents = parseCommit(id, object.data).parents;
    } catch {
      return null; // a malformed commit is git's to report, and the gate's
    }
    if (parents.length !== 1) return null;
    line.push(id);
    id = parents[0]!;
  }
  return null;
}

/** Refs under a prefix, with the objects they point at. */
export async function listRefs(repo: Repo, prefix: string): Promise<{ ref: string; id: string }[]> {
  const out = await git(repo.gitDir, ["for-each-ref", "--format=%(objectname) %(refname)", prefix]);
  return out
    .split("\n")
    .filter(Boolean)
    .map((l) => {
      const sp = l.indexOf(" ");
      return { id: l.slice(0, sp), ref: l.slice(sp + 1) };
    });
}

/**
 * Stores `content` as a blob and points `ref` at it: how Vigil keeps co-signatures, approvals and
 * deployment records. Only for a local repository the caller may write; the remote gets it by git push.
 */
export async function writeBlobRef(gitDir: string, ref: string, content: string | Buffer): Promise<string> {
  const id = execFileSync("git", ["--git-dir", gitDir, "hash-object", "-w", "--stdin"], { input: content, env: gitEnv }).toString().trim();
  await git(gitDir, ["update-ref", ref, id]);
  return id;
}
