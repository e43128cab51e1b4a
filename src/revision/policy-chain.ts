// The trust policy in force for each commit: the `.vigil/trust.yaml` in its first parent's tree, or the
// root policy given out of band when the repository has none. Changing it takes the admins of the
// version before (a chain of trust from the root, as TUF's root metadata works).
import { posix } from "node:path";
import { Lru } from "../core/lru.ts";
import { MAX_TRUST_POLICY_BYTES, parseTrustPolicy, type TrustPolicy } from "../trust/policy.ts";
import type { TreeWalker } from "../git/changes.ts";
import { isTreeMode, type TreeEntry } from "../git/objects.ts";
import type { Repo } from "../git/repo.ts";
import type { TrustedRoot } from "../trust/trusted-root.ts";
import { buildKeyring, type Keyring } from "../trust/keyring.ts";
import { Ownership } from "./ownership.ts";

export const policyDir = ".vigil";
export const repoPolicyPath = `${policyDir}/trust.yaml`;

export interface PolicyContext {
  policy: TrustPolicy;
  keyring: Keyring;
  ownership: Ownership;
  /** A stable key for this exact policy (its blob ids), for caches and workers. */
  key: string;
}

export class PolicyChain {
  private readonly cache = new Lru<string, Promise<PolicyContext>>(64);
  private readonly root: PolicyContext;
  private readonly repo: Repo;
  private readonly trees: TreeWalker;
  private readonly trustedRoot: TrustedRoot | undefined;

  private constructor(repo: Repo, trees: TreeWalker, root: PolicyContext, trustedRoot?: TrustedRoot) {
    this.repo = repo;
    this.trees = trees;
    this.trustedRoot = trustedRoot;
    this.root = root;
  }

  /** Builds the root policy's keyring first: a bad key in it is an input error before any output. */
  static async create(repo: Repo, trees: TreeWalker, rootPolicy: TrustPolicy, trustedRoot?: TrustedRoot): Promise<PolicyChain> {
    return new PolicyChain(repo, trees, await context(rootPolicy, "root", trustedRoot), trustedRoot);
  }

  /**
   * The policy in force for changes on top of the tree `treeId` (null: before the first commit). Throws
   * when the tree's `.vigil` is not a plain directory of plain files.
   */
  async inTree(treeId: string | null): Promise<PolicyContext> {
    const dir = treeId ? await this.trees.entryAt(treeId, policyDir) : null;
    if (!dir) return this.root;
    // Keyed by the .vigil directory: every file a repository policy may use lives in it.
    let p = this.cache.get(`${dir.mode} ${dir.id}`);
    if (!p) {
      p = this.load(dir);
      this.cache.set(`${dir.mode} ${dir.id}`, p);
    }
    return p;
  }

  private async load(dir: TreeEntry): Promise<PolicyContext> {
    await this.refuseLinks(dir, policyDir);
    const blob = await this.trees.blobAt(dir.id, "trust.yaml");
    return blob ? this.loadFromTree(dir.id, blob) : this.root;
  }

  /**
   * What git reads as the policy must be what a checkout holds: a submodule (gitlink) or symbolic link at
   * or under .vigil names an object the diff sees as one path and a checkout never writes as a file, so it
   * could carry a policy in that no admin signed for. Anything but directories and regular files is refused.
   */
  private async refuseLinks(entry: TreeEntry, path: string): Promise<void> {
    if (entry.mode === "100644" || entry.mode === "100755") return;
    if (!isTreeMode(entry.mode)) {
      const kind =
        entry.mode === "160000" ? "a submodule (gitlink)" : entry.mode === "120000" ? "a symbolic link" : `an entry of mode ${entry.mode}`;
      throw new Error(`${path} is ${kind}; ${policyDir} must be a directory of regular files`);
    }
    for (const child of await this.trees.entries(entry.id)) await this.refuseLinks(child, `${path}/${child.name}`);
  }

  private async loadFromTree(dirTree: string, blob: string): Promise<PolicyContext> {
    const text = await this.readBlob(blob);
    const source = `${repoPolicyPath}@${blob.slice(0, 12)}`;
    const policy = await parseTrustPolicy(text, source, async (rel) => {
      const path = posix.normalize(rel);
      const id = path.startsWith("../") || path.startsWith("/") ? null : await this.trees.blobAt(dirTree, path);
      if (!id) throw Object.assign(new Error(`${policyDir}/${path} is not in the repository's ${policyDir} directory`), { code: "ENOENT" });
      return this.readBlob(id);
    });
    return context(policy, dirTree, this.trustedRoot);
  }

  private async readBlob(id: string): Promise<string> {
    // A policy (or its allowed_signers file) is refused unread past the cap a policy file has.
    const o = await this.repo.objects.read(id, MAX_TRUST_POLICY_BYTES);
    if (!o || o.type !== "blob") throw new Error(`blob ${id} is missing from the repository`);
    return o.data.toString("utf8");
  }
}

async function context(policy: TrustPolicy, key: string, trustedRoot: TrustedRoot | undefined): Promise<PolicyContext> {
  return { policy, keyring: await buildKeyring(policy, trustedRoot), ownership: new Ownership(policy.doc), key };
}
