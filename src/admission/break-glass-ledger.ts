// A break-glass token admits one object once, even when two webhook replicas see it at the same
// instant. Using a token up is the creation of a ConfigMap whose name is the token's id, in the agent's
// namespace: the API server's create is atomic (etcd's compare-and-swap on a key that must not exist),
// so of two replicas racing the same token exactly one creates it and the other is answered 409
// AlreadyExists, which means "used already". Nothing is checked first and written after: the write is
// the check.
import { apiFailure, type Cluster } from "../cluster/client.ts";
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
