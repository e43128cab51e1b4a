// The release verdict: every gate that needs no cluster, for one environment, as one verdict. The revision
// gate (with the environment's rules, and rollback approvals when moving back), then approvals and
// promotion. Both always run, so a blocked verdict shows everything that stands in the way at once.
import { check, type Check } from "../core/verdict.ts";
import type { TrustPolicy } from "../trust/policy.ts";
import { resolveRevision, type Repo } from "../git/repo.ts";
import type { TrustedRoot } from "../trust/trusted-root.ts";
import { openRevisionGate, type OpenedGate, type SignatureVerifier } from "../revision/gate.ts";
import type { ApprovalEvidence } from "./evidence.ts";
import { ApprovalGate } from "./gate.ts";
import { rollbackJudge } from "./rollback.ts";
import { TreeWalker } from "../git/changes.ts";
import { PolicyChain } from "../revision/policy-chain.ts";
import { secretChecks } from "../secrets/checks.ts";

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
  /**
   * The agent's audit log, verified (vigil verify release --log): first sightings, claims seen, the
   * agent's deployment records and applies — the evidence the agent decides on, so the verdict is its.
   */
  evidence?: ApprovalEvidence;
  /** Scan the commits the revision gate checks for secrets they add (default on). */
  secrets?: boolean;
}

export async function openRelease(opts: ReleaseOptions): Promise<OpenedGate> {
  const now = opts.now ?? new Date();
  const revision = await openRevisionGate({
    repo: opts.repo,
    rootPolicy: opts.rootPolicy,
    to: opts.rev,
    environment: opts.environment,
    now,
    ...(opts.from && { from: opts.from }),
    ...(opts.trustedRoot && { trustedRoot: opts.trustedRoot }),
    ...(opts.verifySignature && { verifySignature: opts.verifySignature }),
    ...(opts.evidence && { firstSeen: (id: string) => opts.evidence!.firstSeen(id) }),
    judgeRollback: rollbackJudge(opts.repo, now, opts.evidence),
  });
  const from = opts.from ? (await resolveRevision(opts.repo, opts.from)).commit : undefined;
  const approvals =
    opts.approvals ??
    (await ApprovalGate.open(opts.repo, opts.rootPolicy, {
      ...(opts.trustedRoot && { trustedRoot: opts.trustedRoot }),
      ...(opts.evidence && { evidence: opts.evidence }),
    }));
  return {
    subject: revision.subject,
    async *checks(): AsyncGenerator<Check> {
      yield* revision.checks();
      if (opts.secrets !== false) yield* await addedSecrets(opts, revision.subject.revision!, from);
      const made = await approvals.checks(opts.environment, revision.subject.revision!, from, now);
      yield* made;
      if (!opts.evidence && made.some((c) => c.status !== "skip")) yield withoutLog(opts.environment);
    },
  };
}

/**
 * The secrets gate: what the range adds, judged with the allowlist of the policy in force at the
 * revision (a repository policy's secrets.allow changes only with its admins' threshold).
 */
async function addedSecrets(opts: ReleaseOptions, commit: string, from: string | undefined): Promise<Check[]> {
  const trees = new TreeWalker(opts.repo.objects);
  const chain = await PolicyChain.create(opts.repo, trees, opts.rootPolicy, opts.trustedRoot);
  let policy: TrustPolicy;
  try {
    policy = (await chain.inTree(await trees.commitTree(commit))).policy;
  } catch (e) {
    return [
      check({
        gate: "secrets",
        rule: "allowlist",
        status: "fail",
        subject: commit,
        message: `the trust policy at ${commit.slice(0, 12)} cannot be read for its secrets allowlist: ${(e as Error).message}`,
        code: "trust-policy-invalid",
      }),
    ];
  }
  return secretChecks(opts.repo, { to: commit, ...(from ? { from } : {}) }, policy);
}

/**
 * Approvals, withdrawals and deployment records under refs/vigil/ can be deleted by anyone who may push
 * there; only the audit log, which recorded them, shows that one is gone. Without it the verdict is on
 * what the refs hold now: said, not hidden (a warning, so a check before the agent has run still works).
 */
function withoutLog(environment: string): Check {
  return check({
    gate: "approvals",
    rule: "evidence",
    status: "warn",
    subject: environment,
    message:
      "judged on the claims refs/vigil/ holds now: a withdrawal or deployment record deleted from there cannot be detected without the agent's audit log; pass --log (and --checkpoint) for the verdict the agent reaches",
    code: "evidence-unlogged",
  });
}
