// Where claims live: one blob per claim, each under its own ref in refs/vigil/, so every signer writes a
// ref of their own and nothing ever conflicts or needs merging. Plain `git push` and `git fetch` with the
// refspec refs/vigil/*:refs/vigil/* carry them. The ref's name is an index, never evidence: what a claim
// is about is read from its signed content.
import { createHash } from "node:crypto";
import { listRefs, writeBlobRef, type Repo } from "../git/repo.ts";
import { refuse } from "../sigstore/failure.ts";
import type { Claim } from "../api/claims.ts";
import { openEnvelope, type Opened } from "./envelopes.ts";

/** refs/vigil/approvals/<commit>/<id>: approvals and withdrawals of that commit. */
export const APPROVALS_REFS = "refs/vigil/approvals/";
/** refs/vigil/deployments/<environment>/<tree>/<id>: that environment's deployment records. */
export const DEPLOYMENTS_REFS = "refs/vigil/deployments/";

export interface StoredRef {
  ref: string;
  id: string;
}

/** Stores a signed claim (its envelope as serializeEnvelope wrote it) in a local repository; returns its ref. */
export async function storeEnvelope(gitDir: string, claim: Claim, bytes: string): Promise<{ ref: string; blob: string }> {
  const name = createHash("sha256").update(bytes).digest("hex").slice(0, 16);
  const ref =
    claim.type === "deployment"
      ? `${DEPLOYMENTS_REFS}${claim.environment}/${claim.revision.tree}/${name}`
      : `${APPROVALS_REFS}${claim.revision.commit}/${name}`;
  return { ref, blob: await writeBlobRef(gitDir, ref, bytes) };
}

/** Every ref under a prefix, listed once (one git process) and grouped by the name that follows the prefix. */
export class RefIndex {
  private readonly groups = new Map<string, StoredRef[]>();

  private constructor(refs: StoredRef[], prefix: string) {
    for (const r of refs) {
      const key = r.ref.slice(prefix.length).split("/")[0]!;
      const group = this.groups.get(key);
      if (group) group.push(r);
      else this.groups.set(key, [r]);
    }
  }

  static async load(repo: Repo, prefix: string): Promise<RefIndex> {
    return new RefIndex(await listRefs(repo, prefix), prefix);
  }

  /** The refs under prefix/<key>/, in name order. */
  under(key: string): StoredRef[] {
    return this.groups.get(key) ?? [];
  }
}

/** Reads and opens the claim a ref points at. Throws saying why it cannot be read (a tampered or broken ref). */
export async function readStored(repo: Repo, stored: StoredRef): Promise<Opened> {
  return openEnvelope(await readStoredBytes(repo, stored), stored.ref);
}

/** A signed claim is a few kilobytes; anything larger under refs/vigil/ is refused unread. */
export const MAX_CLAIM_BYTES = 64 * 1024;

/** The bytes of the blob a ref points at. Throws saying why they cannot be read. */
export async function readStoredBytes(repo: Repo, stored: StoredRef): Promise<Buffer> {
  const object = await repo.objects.read(stored.id, MAX_CLAIM_BYTES).catch((e: Error) => refuse("format", e.message));
  if (!object) refuse("format", `points at ${stored.id}, which is missing from the repository`);
  if (object.type !== "blob") refuse("format", `points at a ${object.type}, not a stored claim`);
  return object.data;
}

/** A claim's identity in the audit log: the digest of its envelope's bytes as stored. */
export function claimDigest(bytes: Buffer): string {
  return `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
}
