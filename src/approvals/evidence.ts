// Claims under refs/vigil/ can be deleted by anyone who may push there, and a deleted withdrawal, or a
// deleted record of the deploy that ended a soak, would open a gate. So what gates rely on comes from
// an append-only source too: the audit log, which records every claim the agent saw (docs/approvals.md,
// "Evidence that cannot be deleted"). A claim the log recorded that is gone from the refs blocks, naming
// the entry that recorded it, and keeps counting from the log's copy meanwhile.
import { check, type Check } from "../core/verdict.ts";
import type { Repo } from "../git/repo.ts";
import { openEnvelope } from "./envelopes.ts";
import { claimDigest, readStoredBytes, type StoredRef } from "./store.ts";

/** What the audit log, verified, proves (src/audit/evidence.ts's Evidence). */
export interface ApprovalEvidence {
  /** The log, for messages. */
  where: string;
  /** When the log first recorded a commit id or a claim digest. */
  firstSeen(id: string): Date | undefined;
  claimsUnder(prefix: string): { where: string; ref: string; digest: string; envelope: Buffer }[];
  /** An environment's deployment records the agent signed into the log; `order` is the entry's index. */
  deploymentRecords(environment: string): { where: string; envelope: Buffer; order: number }[];
  /** Each apply to an environment of a tree other than the one before it, in log order. */
  applies(environment: string): { where: string; tree: string; at: Date; order: number }[];
}

/** A claim read from a ref, for the log to record on first sight. */
export interface SeenClaim {
  ref: string;
  digest: string;
  envelope: string;
}

/** A claim to judge: from a ref, or the log's copy of one deleted from the refs. */
export interface ClaimSource {
  where: string;
  /** The log entry's index, for a claim read from the log (orders claims of the same second). */
  order?: number;
  read(): Promise<Buffer>;
}

export interface ClaimsFound {
  sources: ClaimSource[];
  /** One failing check per claim the log recorded under the prefix that the refs no longer hold. */
  deleted: Check[];
}

/**
 * The claims stored under `prefix` (`refs` lists them), each reported to `seen`; then every claim the log
 * recorded under `prefix` that is gone from the refs, read from the log, with a failing check of `gate`.
 */
export async function claimsUnder(
  repo: Repo,
  refs: readonly StoredRef[],
  prefix: string,
  gate: string,
  evidence?: ApprovalEvidence,
  seen?: (claim: SeenClaim) => void,
): Promise<ClaimsFound> {
  const present = new Set<string>();
  const sources = await Promise.all(
    refs.map(async (stored): Promise<ClaimSource> => {
      let bytes: Buffer;
      try {
        bytes = await readStoredBytes(repo, stored);
      } catch (e) {
        return { where: stored.ref, read: () => Promise.reject(e) };
      }
      const digest = claimDigest(bytes);
      present.add(digest);
      seen?.({ ref: stored.ref, digest, envelope: bytes.toString("utf8") });
      return { where: stored.ref, read: async () => bytes };
    }),
  );
  const deleted: Check[] = [];
  for (const recorded of evidence?.claimsUnder(prefix) ?? []) {
    if (present.has(recorded.digest)) continue;
    sources.push({ where: `${recorded.ref} (deleted; ${recorded.where})`, read: async () => recorded.envelope });
    deleted.push(
      check({
        gate,
        rule: "claim-deleted",
        status: "fail",
        subject: recorded.ref,
        message: `the ${kindOf(recorded.envelope, recorded.ref)} recorded in ${recorded.where} (${evidence!.where}) is no longer in ${recorded.ref}: someone deleted it; it still counts from the log's copy, but find out who deleted it and push it back (git push origin '${recorded.ref}') before this releases`,
        code: "claim-deleted",
      }),
    );
  }
  return { sources, deleted };
}

function kindOf(envelope: Buffer, where: string): string {
  try {
    const type = openEnvelope(envelope, where).claim.type;
    return type === "deployment" ? "deployment record" : type;
  } catch {
    return "claim";
  }
}
