// Counting approvals for one revision and environment. Every approval and withdrawal stored for the
// commit is read and judged, and each gets a check saying whether it counted and, if not, why: an
// approval counts only when it verifies with a key the policy trusts for an approver of the environment,
// binds to this exact commit, tree, environment and kind, is neither expired, too old nor withdrawn, and
// comes from someone not yet counted (people are counted, not keys) who authored nothing in the range.
import { check, type Check } from "../core/verdict.ts";
import { parseDuration } from "../core/duration.ts";
import { expandPrincipals } from "../trust/policy.ts";
import type { EnvironmentSpec } from "../api/trust-policy.ts";
import type { Repo } from "../git/repo.ts";
import type { SignatureResult } from "../git/signatures/result.ts";
import type { PolicyContext } from "../revision/policy-chain.ts";
import { formatTime, type ApprovalKind, type Claim, type Revision } from "../api/claims.ts";
import type { ClaimSource } from "./evidence.ts";
import { openEnvelope, verifyPersonSignature, type Opened } from "./envelopes.ts";
import { claimDigest } from "./store.ts";

const GATE = "approvals";
/** Claims dated further ahead than this are refused: clocks differ a little, not by hours. */
export const CLOCK_SKEW_MS = 5 * 60 * 1000;

export interface CountInput {
  repo: Repo;
  /** The policy in force: its keyring verifies signatures, its environment's rule counts them. */
  policy: PolicyContext;
  environment: string;
  target: Revision;
  kind: ApprovalKind;
  /** What is stored under refs/vigil/approvals/<commit>/ (and the audit log's copies of any deleted from there). */
  stored: ClaimSource[];
  /** Identities that authored a commit in the range (each with one such commit), when authors are excluded. */
  authors: Map<string, string>;
  now: Date;
  /**
   * When the audit log first recorded a claim (by its digest): the trusted time its key's validity is
   * judged at. A claim never recorded is judged now; its own approvedAt is a claim, never the clock.
   */
  firstSeen?: (digest: string) => Date | undefined;
}

export interface Count {
  approved: boolean;
  /** One check per approval and withdrawal seen. */
  seen: Check[];
  /** The count in words, and what to do when it falls short, for the caller's own check. */
  summary: string;
}

/** A stored claim as read: who signed it, or why it cannot count at all. */
interface Seen {
  ref: string;
  opened?: Opened;
  signer?: SignatureResult;
  unreadable?: string;
}

export async function countApprovals(input: CountInput): Promise<Count> {
  const env = input.policy.policy.doc.environments.find((e) => e.name === input.environment);
  if (!env?.approvals) {
    const summary = `environment ${input.environment} has no approvals rule in ${input.policy.policy.source}, so nobody may approve a ${input.kind}`;
    return { approved: false, seen: [], summary };
  }
  const seen = await Promise.all(input.stored.map((s) => see(input, s)));
  const withdrawals = seen.filter((s) => s.opened?.claim.type === "withdrawal");
  const { withdrawn, checks } = judgeWithdrawals(withdrawals, input);
  const rule = ruleOf(input, env);
  const counted = new Map<string, string>();
  for (const s of seen.filter((x) => !withdrawals.includes(x))) {
    const problem = approvalProblem(s, input, rule, withdrawn, counted);
    if (problem) {
      checks.push(
        check({
          gate: GATE,
          rule: "approval",
          status: "warn",
          subject: s.ref,
          message: `not counted: ${problem}`,
          code: "approval-not-counted",
        }),
      );
      continue;
    }
    const { identity, key } = s.signer as Extract<SignatureResult, { ok: true }>;
    counted.set(identity, s.ref);
    checks.push(
      check({
        gate: GATE,
        rule: "approval",
        status: "pass",
        subject: s.ref,
        message: `counted: ${identity} (${key}) approved ${describeApproval(s.opened!.claim)}`,
        code: "approval-counted",
      }),
    );
  }
  return summarize(input, rule, [...counted.keys()], checks);
}

async function see(input: CountInput, stored: ClaimSource): Promise<Seen> {
  try {
    const bytes = await stored.read();
    const opened = openEnvelope(bytes, stored.where);
    if (opened.claim.type === "deployment") return { ref: stored.where, unreadable: "is a deployment record, stored where approvals go" };
    const at = input.firstSeen?.(claimDigest(bytes)) ?? input.now;
    return { ref: stored.where, opened, signer: await verifyPersonSignature(opened, input.policy.keyring, at) };
  } catch (e) {
    return { ref: stored.where, unreadable: `cannot be read as a signed approval: ${(e as Error).message}` };
  }
}

interface Rule {
  required: number;
  from: Set<string>;
  /** The rule as written, for messages: "group:platform, carol (vigil.trust.yaml:20)". */
  fromText: string;
  maxAgeMs: number | undefined;
  maxAge: string | undefined;
}

function ruleOf(input: CountInput, env: EnvironmentSpec): Rule {
  const a = env.approvals!;
  const index = input.policy.policy.doc.environments.indexOf(env);
  const where = input.policy.policy.where(["environments", index, "approvals"]);
  return {
    required: a.required,
    from: expandPrincipals(input.policy.policy.doc, a.from),
    fromText: `${a.from.join(", ")} (${where})`,
    maxAgeMs: a.maxAge ? parseDuration(a.maxAge, where) : undefined,
    maxAge: a.maxAge,
  };
}

/** Valid withdrawals: who withdrew, and the latest time they withdrew at. Each withdrawal seen gets a check. */
function judgeWithdrawals(seen: Seen[], input: CountInput): { withdrawn: Map<string, Date>; checks: Check[] } {
  const withdrawn = new Map<string, Date>();
  const checks = seen.map((s) => {
    const claim = s.opened!.claim;
    const problem = !s.signer!.ok ? s.signer!.reason : (bindingProblem(claim, input) ?? futureProblem(claim, input.now));
    if (problem)
      return check({
        gate: GATE,
        rule: "withdrawal",
        status: "warn",
        subject: s.ref,
        message: `ignored: ${problem}`,
        code: "withdrawal-ignored",
      });
    const who = (s.signer as { identity: string }).identity;
    if (!withdrawn.has(who) || withdrawn.get(who)! < claim.at) withdrawn.set(who, claim.at);
    return check({
      gate: GATE,
      rule: "withdrawal",
      status: "pass",
      subject: s.ref,
      message: `${who} withdrew their approvals of ${short(claim.revision.commit)} for ${claim.environment} made up to ${formatTime(claim.at)}`,
      code: "approvals-withdrawn",
    });
  });
  return { withdrawn, checks };
}

/** Why an approval does not count, in the order a person would look: who signed, what for, when, and may they. */
function approvalProblem(
  s: Seen,
  input: CountInput,
  rule: Rule,
  withdrawn: Map<string, Date>,
  counted: Map<string, string>,
): string | null {
  if (s.unreadable) return s.unreadable;
  if (!s.signer!.ok) return s.signer!.reason;
  const claim = s.opened!.claim as Extract<Claim, { type: "approval" }>;
  const who = s.signer!.identity;
  const binding = bindingProblem(claim, input);
  if (binding) return `${who}'s approval ${binding}`;
  if (claim.kind !== input.kind) return `${who}'s approval is a ${claim.kind} approval; this needs a ${input.kind} approval`;
  const late = futureProblem(claim, input.now);
  if (late) return late;
  if (claim.expires && input.now >= claim.expires) return `${who}'s approval expired at ${formatTime(claim.expires)}; approve again`;
  if (rule.maxAgeMs !== undefined && input.now.getTime() - claim.at.getTime() > rule.maxAgeMs) {
    return `${who}'s approval of ${formatTime(claim.at)} is older than the environment's maxAge ${rule.maxAge}; approve again`;
  }
  if (!rule.from.has(who)) return `${who} is not an approver for ${input.environment} (approvals.from: ${rule.fromText})`;
  const authored = input.authors.get(who);
  if (authored)
    return `${who} authored commit ${short(authored)} in the range, and ${input.environment} excludes authors from approving their own changes`;
  const withdrew = withdrawn.get(who);
  if (withdrew && withdrew >= claim.at) return `${who} withdrew it at ${formatTime(withdrew)}`;
  const earlier = counted.get(who);
  if (earlier) return `${who} is already counted (${earlier}): a person counts once, whatever keys they sign with`;
  return null;
}

/** Why a claim is not about this revision and environment: it was made for another, and copied here. */
function bindingProblem(claim: Claim, input: CountInput): string | null {
  const { target } = input;
  if (claim.revision.commit !== target.commit)
    return `is for commit ${short(claim.revision.commit)}, not ${short(target.commit)}: it was copied (replayed) from another commit`;
  if (claim.revision.tree !== target.tree)
    return `names tree ${short(claim.revision.tree)}, but commit ${short(target.commit)} has tree ${short(target.tree)}`;
  if (claim.environment !== input.environment) return `is for environment ${claim.environment}, not ${input.environment}`;
  return null;
}

function futureProblem(claim: Claim, now: Date): string | null {
  return claim.at.getTime() > now.getTime() + CLOCK_SKEW_MS
    ? `is dated ${formatTime(claim.at)}, in the future; check the signer's clock`
    : null;
}

function summarize(input: CountInput, rule: Rule, approvers: string[], seen: Check[]): Count {
  const names = approvers.length ? ` (${approvers.join(", ")})` : "";
  const approved = approvers.length >= rule.required;
  const summary = `${approvers.length} of ${rule.required} required ${input.kind} approvals for ${input.environment}${names}`;
  if (approved) return { approved, summary, seen };
  const missing = rule.required - approvers.length;
  const command = `vigil approve --env ${input.environment} --rev ${input.target.commit}${input.kind === "rollback" ? " --rollback" : ""}`;
  return {
    approved,
    seen,
    summary: `${summary}; ${missing} more needed from ${rule.fromText}: each runs "${command}" and pushes refs/vigil/approvals/*`,
  };
}

function describeApproval(claim: Claim): string {
  const c = claim as Extract<Claim, { type: "approval" }>;
  return `${c.kind} of ${short(c.revision.commit)} to ${c.environment} at ${formatTime(c.at)}${c.expires ? `, expires ${formatTime(c.expires)}` : ""}`;
}

export const short = (id: string) => id.slice(0, 12);
