// The release verdict: every gate that needs no cluster, for one environment, as one verdict. The revision
// gate (with the environment's rules, and rollback approvals when moving back), then approvals and
// promotion. Both always run, so a blocked verdict shows everything that stands in the way at once.
import type { Check } from "../core/verdict.ts";
import type { TrustPolicy } from "../core/trust-policy.ts";
import { resolveRevision, type Repo } from "../git/repo.ts";
import type { TrustedRoot } from "../git/signatures/x509.ts";
import { openRevisionGate, type OpenedGate, type SignatureVerifier } from "../revision/gate.ts";
import { ApprovalGate } from "./gate.ts";

export interface ReleaseOptions {
  repo: Repo;
  rootPolicy: TrustPolicy;
  environment: string;
  /** The revision to release: branch, tag or commit. */
  rev: string;
  /** The last revision deployed to the environment. */
  from?: string;
  trustedRoot?: TrustedRoot;
  verifySignature?: SignatureVerifier;
  /** The time approvals, expiries and soaks are judged at; default now. */
  now?: Date;
  /** An approval gate already opened on this repository, to verify many revisions with one listing of refs. */
  approvals?: ApprovalGate;
}

export async function openRelease(opts: ReleaseOptions): Promise<OpenedGate> {
  const now = opts.now ?? new Date();
  const revision = await openRevisionGate({
    repo: opts.repo, rootPolicy: opts.rootPolicy, to: opts.rev, environment: opts.environment, now,
    ...(opts.from && { from: opts.from }),
    ...(opts.trustedRoot && { trustedRoot: opts.trustedRoot }),
    ...(opts.verifySignature && { verifySignature: opts.verifySignature }),
  });
  const from = opts.from ? (await resolveRevision(opts.repo, opts.from)).commit : undefined;
  const approvals = opts.approvals ?? (await ApprovalGate.open(opts.repo, opts.rootPolicy, { ...(opts.trustedRoot && { trustedRoot: opts.trustedRoot }) }));
  return {
    subject: revision.subject,
    async *checks(): AsyncGenerator<Check> {
      yield* revision.checks();
      yield* await approvals.checks(opts.environment, revision.subject.revision!, from, now);
    },
  };
}
