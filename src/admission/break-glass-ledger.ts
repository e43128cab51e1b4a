// A break-glass token admits one object once, even when two webhook replicas see it at the same
// instant. Using a token up is the creation of a ConfigMap whose name is the token's id, in the agent's
// namespace: the API server's create is atomic (etcd's compare-and-swap on a key that must not exist),
// so of two replicas racing the same token exactly one creates it and the other is answered 409
// AlreadyExists, which means "used already". Nothing is checked first and written after: the write is
// the check.
import { apiFailure, listItems, type Cluster } from "../cluster/client.ts";
import type { BreakGlassGrant } from "./break-glass.ts";

export const BREAK_GLASS_LABEL = "vigil.dev/break-glass";

/** The ConfigMap that records the token's use; its name is fixed by the token's id (32 hex digits). */
export function usedTokenName(tokenId: string): string {
  return `vigil-break-glass-${tokenId}`;
}

export interface TokenUse {
  object: { kind: string; namespace: string; name: string };
  operation: string;
  user: string;
  uid: string;
}

/**
 * Uses the token up. Throws "was used already" when its record exists (another replica, or an earlier
 * request, used it), and the API server's answer on any other failure: either way the object is refused.
 */
export async function useBreakGlassToken(cluster: Cluster, namespace: string, grant: BreakGlassGrant, use: TokenUse): Promise<void> {
  const { claim } = grant;
  const answer = await cluster.call({
    verb: "create",
    method: "POST",
    path: `/api/v1/namespaces/${namespace}/configmaps`,
    body: {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: {
        name: usedTokenName(claim.id),
        namespace,
        labels: { "app.kubernetes.io/managed-by": "vigil", [BREAK_GLASS_LABEL]: "used" },
      },
      // Who used it and for what: the signed token itself is not kept (it is in the object's annotation).
      data: {
        object: `${use.object.kind} ${use.object.namespace}/${use.object.name}`,
        operation: use.operation,
        user: use.user,
        uid: use.uid,
        signer: grant.signer,
        notAfter: claim.notAfter,
        usedAt: new Date().toISOString(),
      },
    },
  });
  if (answer.status === 409)
    throw new Error(
      `the token ${claim.id} was used already: break-glass admits one object once (ConfigMap ${namespace}/${usedTokenName(claim.id)})`,
    );
  if (answer.status !== 201) throw apiFailure(answer, `recording the use of break-glass token ${claim.id} in ${namespace}`);
}

/**
 * How long a used token's record outlives the token. A replica refuses a token after its notAfter by its
 * own clock; the record must still be there for a replica whose clock is behind, or it would admit the
 * token a second time. The audit log keeps the use for good, so the ConfigMap is only the replay guard.
 */
export const USED_TOKEN_RETENTION_MS = 24 * 3_600_000;

/**
 * Deletes the records of tokens that expired more than USED_TOKEN_RETENTION_MS before `now`, so the
 * namespace does not collect a ConfigMap per break-glass for ever. A record whose notAfter cannot be
 * read is kept (never forget a use that cannot be dated). Several replicas may do this at once: an
 * already deleted record is fine. Returns the names deleted.
 */
export async function forgetExpiredTokens(cluster: Cluster, namespace: string, now: Date): Promise<string[]> {
  const path = `/api/v1/namespaces/${namespace}/configmaps`;
  const forgotten: string[] = [];
  const records: { metadata: { name: string; uid: string }; data?: { notAfter?: string } }[] = await listItems(
    cluster,
    path,
    `${BREAK_GLASS_LABEL}=used`,
    `the used break-glass tokens in ${namespace}`,
  );
  for (const record of records) {
    const notAfter = Date.parse(record.data?.notAfter ?? "");
    if (!record.metadata.name.startsWith(usedTokenName("")) || Number.isNaN(notAfter)) continue;
    if (now.getTime() - notAfter <= USED_TOKEN_RETENTION_MS) continue;
    // The uid precondition: a record made again under this name since the list is not deleted.
    const gone = await cluster.call({
      verb: "delete",
      method: "DELETE",
      path: `${path}/${record.metadata.name}`,
      body: { preconditions: { uid: record.metadata.uid } },
    });
    if (gone.status !== 200 && gone.status !== 202 && gone.status !== 404 && gone.status !== 409)
      throw apiFailure(gone, `deleting the record of expired break-glass token ${record.metadata.name}`);
    if (gone.status !== 404 && gone.status !== 409) forgotten.push(record.metadata.name);
  }
  return forgotten;
}
