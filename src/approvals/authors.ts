// Who authored the commits of a range, for an approvals rule with excludeAuthors. The author field of a
// commit is free text anyone can write, so the identity its signature verifies as counts first; the
// author's e-mail counts too, where it is a signer's identity (allowed_signers principals and Sigstore
// identities are e-mail addresses), since excluding one more person never lets anything through.
import type { TreeWalker } from "../git/changes.ts";
import { parseCommit } from "../git/objects.ts";
import type { Repo } from "../git/repo.ts";
import { verifyGitSignature } from "../git/signatures/verify.ts";
import type { PolicyChain } from "../revision/policy-chain.ts";

/** Identity → a commit of the range it authored. */
export async function rangeAuthors(
  repo: Repo,
  trees: TreeWalker,
  chain: PolicyChain,
  commits: AsyncIterable<string> | Iterable<string>,
): Promise<Map<string, string>> {
  const authors = new Map<string, string>();
  for await (const id of commits) {
    const object = await repo.objects.read(id);
    if (object?.type !== "commit") throw new Error(`commit ${id} is missing from the repository`);
    const commit = parseCommit(id, object.data);
    const ctx = await chain.inTree(commit.parents[0] ? await trees.commitTree(commit.parents[0]) : null);
    const add = (identity: string) => authors.has(identity) || authors.set(identity, id);
    add(commit.author.email);
    for (const s of ctx.keyring.sigstore) if (s.identity === commit.author.email) add(s.signer);
    if (commit.signature) {
      const result = await verifyGitSignature(ctx.keyring, commit.signature, commit.payload, new Date(commit.committer.time * 1000));
      if (result.ok) add(result.identity);
    }
  }
  return authors;
}
