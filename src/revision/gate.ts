// The revision gate: may the target revision be deployed? Every commit after the last deployed one is
// checked (signature, path ownership, message rule, trust-policy changes), plus the tag and history.
// Checks stream out in git's walk order, so memory stays flat however long the range is.
import { check, type Check, type CheckCode, type Verdict } from "../core/verdict.ts";
import { compileMessageRule, expandPrincipals, type MessageRule, type TrustPolicy } from "../trust/policy.ts";
import type { EnvironmentSpec } from "../api/trust-policy.ts";
import { InputError } from "../core/errors.ts";
import { TreeWalker } from "../git/changes.ts";
import { parseCommit, parseTag, ObjectFormatError, type Commit, type Tag } from "../git/objects.ts";
import { isAncestor, listRefs, resolveRevision, type Repo, type ResolvedRevision } from "../git/repo.ts";
import type { TrustedRoot } from "../trust/trusted-root.ts";
import { describeSigner, type CallerTimeSource, type SignatureResult } from "../git/signatures/result.ts";
import { verifyGitSignature } from "../git/signatures/verify.ts";
import { PolicyChain, policyDir, type PolicyContext } from "./policy-chain.ts";
import { baseParent, planRange, reachableOnlyFrom, type RangePlan } from "./range.ts";

const GATE = "revision";
/** Commits verified concurrently: enough to keep git and both cores busy, small enough to stay flat. */
const WINDOW = 256;

export interface RevisionGateOptions {
  repo: Repo;
  rootPolicy: TrustPolicy;
  /** Target revision: branch, tag or commit. */
  to: string;
  /** Last deployed revision (exclusive). */
  from?: string;
  environment?: string;
  trustedRoot?: TrustedRoot;
  /** Signature verification; the default runs in-process, a worker pool may stand in. */
  verifySignature?: SignatureVerifier;
  onProgress?: (commitsChecked: number) => void;
  /** The time of verification, for signatures Vigil has no first sighting of; default now. */
  now?: Date;
  /**
   * When Vigil first recorded seeing an object (a commit, a tag or a claim) in its audit log: the trusted
   * time its signature's key validity is judged at when the signature carries no log time of its own.
   * Undefined for an object never recorded; the time of verification is used then.
   */
  firstSeen?: (objectId: string) => Date | undefined;
  /**
   * Judges a move backwards to an ancestor of `from` (the approvals stage counts rollback approvals,
   * src/approvals/rollback.ts). Without it, or without an environment, a rollback fails.
   */
  judgeRollback?: RollbackJudge;
}

/** A rollback's judgement: the approvals seen (one check each), and the count in words. */
export interface RollbackJudgement {
  approved: boolean;
  seen: Check[];
  summary: string;
}

/**
 * Judges a rollback of `environment` to `target`, by `policy`, the trust policy in force at the last
 * deployed revision (when that policy is invalid the gate refuses without asking).
 */
export type RollbackJudge = (
  environment: string,
  target: { commit: string; tree: string },
  policy: PolicyContext,
) => Promise<RollbackJudgement>;

/** A cosign signature blob is small; a larger one is refused before it is read (as a stored claim is). */
const MAX_SIGNATURE_BLOB_BYTES = 64 * 1024;

/** Verifies a git signature at a trusted time (`at`, and where it came from), never a date the signer wrote. */
export type SignatureVerifier = (
  ctx: PolicyContext,
  armored: string,
  payload: Buffer,
  at: Date,
  atSource?: CallerTimeSource,
) => Promise<SignatureResult>;

type CallerTime = { at: Date; source: CallerTimeSource };

const inProcess: SignatureVerifier = (ctx, armored, payload, at, atSource) =>
  verifyGitSignature(ctx.keyring, armored, payload, at, "git", atSource);

export const cosignRefPrefix = "refs/vigil/cosign/";

export interface OpenedGate {
  subject: Verdict["subject"];
  /** The checks, streamed in git's walk order. */
  checks(): AsyncGenerator<Check>;
}

/**
 * Resolves revisions and loads the root policy's keys; every input error surfaces here, before a
 * single check is produced.
 */
export async function openRevisionGate(opts: RevisionGateOptions): Promise<OpenedGate> {
  const env = opts.environment ? findEnvironment(opts.rootPolicy, opts.environment) : undefined;
  const target = await resolveRevision(opts.repo, opts.to);
  const from = opts.from ? (await resolveRevision(opts.repo, opts.from)).commit : undefined;
  const trees = new TreeWalker(opts.repo.objects);
  const chain = await PolicyChain.create(opts.repo, trees, opts.rootPolicy, opts.trustedRoot);
  const subject = { repo: opts.repo.name, revision: target.commit, ...(opts.environment ? { environment: opts.environment } : {}) };
  return { subject, checks: () => revisionChecks(opts, { env, target, from, trees, chain }) };
}

export function findEnvironment(policy: TrustPolicy, name: string): EnvironmentSpec {
  const env = policy.doc.environments.find((e) => e.name === name);
  if (!env) {
    const known = policy.doc.environments.map((e) => e.name).join(", ") || "none";
    throw new InputError(`environment "${name}" is not defined in ${policy.source} (defined: ${known})`);
  }
  return env;
}

interface Prepared {
  env: EnvironmentSpec | undefined;
  target: ResolvedRevision;
  from: string | undefined;
  trees: TreeWalker;
  chain: PolicyChain;
}

async function* revisionChecks(opts: RevisionGateOptions, { env, target, from, trees, chain }: Prepared): AsyncGenerator<Check> {
  const { repo } = opts;
  const verify = opts.verifySignature ?? inProcess;
  const now = opts.now ?? new Date();
  const trustedTime = (id: string): CallerTime => {
    const seen = opts.firstSeen?.(id);
    return seen ? { at: seen, source: "first-seen" } : { at: now, source: "verification" };
  };

  // A tag of a tag: every tag on the way to the commit is signed, or the chain is not trusted.
  for (const tag of target.tags) yield await tagCheck(opts, tag.id, tag.ref, target.commit, trees, chain, verify, trustedTime);
  if (env) yield await branchCheck(repo, env.name, target.commit, trees, chain);
  if (from) {
    const approve =
      opts.environment && opts.judgeRollback
        ? rollbackApprover(opts.judgeRollback, opts.environment, from, target.commit, trees, chain)
        : undefined;
    const history = await historyCheck(repo, from, target.commit, approve);
    yield* history.checks;
    if (history.rollback) return; // nothing new to check: the range is empty
  }

  const plan = await planRange(repo, target.commit, from);
  const deployedTree = from ? await trees.commitTree(from) : null;
  const c: CommitContext = {
    repo,
    trees,
    chain,
    verify,
    plan,
    deployedTree,
    environment: opts.environment,
    trustedTime,
    outcomes: new Map(),
  };
  const inFlight: Promise<Check[]>[] = [];
  let count = 0;
  for (const id of plan.order) {
    const judged = judgeCommit(id, c);
    // Merges are judged against what the commits they bring in were entitled to change.
    if (plan.hasMerges)
      c.outcomes.set(
        id,
        judged.then((j) => j.outcome),
      );
    inFlight.push(judged.then((j) => j.checks));
    if (inFlight.length >= WINDOW) {
      yield* await inFlight.shift()!;
      opts.onProgress?.(++count);
    }
  }
  while (inFlight.length > 0) {
    yield* await inFlight.shift()!;
    opts.onProgress?.(++count);
  }
}

/** Judges the environment's rollback to `to`, by the policy in force at the last deployed revision. */
function rollbackApprover(
  judge: RollbackJudge,
  environment: string,
  from: string,
  to: string,
  trees: TreeWalker,
  chain: PolicyChain,
): () => Promise<RollbackJudgement> {
  return async () => {
    let policy: PolicyContext;
    try {
      policy = await chain.inTree(await trees.commitTree(from));
    } catch (e) {
      return { approved: false, seen: [], summary: `the trust policy at the last deployed revision is invalid: ${(e as Error).message}` };
    }
    return judge(environment, { commit: to, tree: await trees.commitTree(to) }, policy);
  };
}

async function historyCheck(
  repo: Repo,
  from: string,
  to: string,
  approve?: () => Promise<RollbackJudgement>,
): Promise<{ checks: Check[]; rollback?: true }> {
  if (from === to)
    return {
      checks: [
        check({
          gate: GATE,
          rule: "history",
          status: "pass",
          subject: to,
          message: `same revision as last deployed ${short(from)}: nothing new`,
          code: "same-revision",
        }),
      ],
    };
  if (await isAncestor(repo, from, to))
    return {
      checks: [
        check({
          gate: GATE,
          rule: "history",
          status: "pass",
          subject: to,
          message: `descends from last deployed ${short(from)}`,
          code: "descends",
        }),
      ],
    };
  if (await isAncestor(repo, to, from)) {
    const rollback = `rollback: ${short(to)} is an ancestor of the last deployed ${short(from)}`;
    const approval = await approve?.();
    if (approval?.approved)
      return {
        rollback: true,
        checks: [
          ...approval.seen,
          check({
            gate: GATE,
            rule: "history",
            status: "pass",
            subject: to,
            message: `${rollback}, approved: ${approval.summary}`,
            code: "rollback-approved",
          }),
        ],
      };
    const why = approval ? approval.summary : "no environment was given, so none can be counted";
    return {
      rollback: true,
      checks: [
        ...(approval?.seen ?? []),
        check({
          gate: GATE,
          rule: "history",
          status: "fail",
          subject: to,
          message: `${rollback}; moving backwards needs signed rollback approvals: ${why}`,
          code: "rollback",
        }),
      ],
    };
  }
  return {
    checks: [
      check({
        gate: GATE,
        rule: "history",
        status: "fail",
        subject: to,
        message:
          `rewritten history: ${short(to)} does not descend from the last deployed ${short(from)}; ` +
          "find out who rewrote the branch, or deploy a revision built on top of the deployed one",
        code: "history-rewritten",
      }),
    ],
  };
}

/**
 * The environment's branch, as the policy in force at the revision names it (the repository's own
 * policy, or the root): the revision must be on that branch, read as refs/heads/<branch> only.
 */
async function branchCheck(repo: Repo, environment: string, target: string, trees: TreeWalker, chain: PolicyChain): Promise<Check> {
  let ctx: PolicyContext;
  try {
    ctx = await chain.inTree(await trees.commitTree(target));
  } catch (e) {
    return check({
      gate: GATE,
      rule: "branch",
      status: "fail",
      subject: target,
      message: `the trust policy at ${short(target)} is invalid: ${(e as Error).message}`,
      code: "trust-policy-invalid",
    });
  }
  const branch = ctx.policy.doc.environments.find((e) => e.name === environment)?.branch;
  if (!branch)
    return check({
      gate: GATE,
      rule: "branch",
      status: "skip",
      subject: target,
      message: `${ctx.policy.source} names no branch for ${environment}`,
      code: "no-branch-rule",
    });
  const head = await branchHead(repo, branch);
  if (head === target)
    return check({
      gate: GATE,
      rule: "branch",
      status: "pass",
      subject: target,
      message: `the head of ${environment}'s branch ${branch} (${ctx.policy.source})`,
      code: "on-branch",
    });
  if (head && (await isAncestor(repo, target, head)))
    return check({
      gate: GATE,
      rule: "branch",
      status: "pass",
      subject: target,
      message: `on ${environment}'s branch ${branch} (${ctx.policy.source})`,
      code: "on-branch",
    });
  return check({
    gate: GATE,
    rule: "branch",
    status: "fail",
    subject: target,
    message:
      `${short(target)} is not on refs/heads/${branch}, the branch ${ctx.policy.source} gives ${environment}` +
      `${head ? "" : " (no such branch)"}; deploy a revision from that branch, or change the environment's branch in the trust policy`,
    code: "not-on-branch",
  });
}

async function tagCheck(
  opts: RevisionGateOptions,
  tagId: string,
  tagRef: string | undefined,
  commit: string,
  trees: TreeWalker,
  chain: PolicyChain,
  verify: SignatureVerifier,
  trustedTime: (id: string) => CallerTime,
): Promise<Check> {
  const subject = tagRef ?? tagId;
  let tag: Tag;
  try {
    const object = await opts.repo.objects.read(tagId);
    if (!object || object.type !== "tag") throw new ObjectFormatError(`tag object ${tagId} is missing`, tagId);
    tag = parseTag(tagId, object.data);
  } catch (e) {
    return check({
      gate: GATE,
      rule: "tag-signature",
      status: "fail",
      subject,
      message: `tag cannot be read: ${(e as Error).message}`,
      code: "tag-malformed",
    });
  }
  if (tagRef && tagRef !== `refs/tags/${tag.tag}`) {
    return check({
      gate: GATE,
      rule: "tag-signature",
      status: "fail",
      subject,
      message: `tag object says "${tag.tag}" but is stored at ${tagRef}: a signed tag was moved to another name`,
      code: "tag-moved",
    });
  }
  if (!tag.signature)
    return check({
      gate: GATE,
      rule: "tag-signature",
      status: "fail",
      subject,
      message: `tag ${tag.tag} is not signed; sign it with git tag -s`,
      code: "unsigned-tag",
    });
  // Judged by the policy at the commit the chain ends in, whatever each tag names on the way.
  const ctx = await chain.inTree(await trees.commitTree(commit));
  const time = trustedTime(tagId);
  const result = await verify(ctx, tag.signature, tag.payload, time.at, time.source);
  return result.ok
    ? check({
        gate: GATE,
        rule: "tag-signature",
        status: "pass",
        subject,
        message: `tag ${tag.tag} signed by ${describeSigner(result)}`,
        code: "signature-trusted",
      })
    : check({ gate: GATE, rule: "tag-signature", status: "fail", subject, message: `tag ${tag.tag}: ${result.reason}`, code: result.code });
}

interface CommitContext {
  repo: Repo;
  trees: TreeWalker;
  chain: PolicyChain;
  verify: SignatureVerifier;
  plan: RangePlan;
  /** The last deployed revision's tree: verified when it was deployed. */
  deployedTree: string | null;
  environment: string | undefined;
  /** The time a signature's key validity is judged at: the object's first sighting in the audit log, else now. */
  trustedTime: (id: string) => CallerTime;
  /** What each commit already judged was entitled to change, for the merges after it (only when the range has merges). */
  outcomes: Map<string, Promise<Outcome>>;
}

/**
 * The paths a commit changed that its signer was entitled to change, and its tree, to look them up;
 * listed only when a merge asks (a commit whose signer owns every path is judged without its list).
 */
interface Outcome {
  tree: string;
  entitled: () => Promise<Set<string>>;
}

const nothing: Outcome = { tree: "", entitled: async () => new Set() };

async function judgeCommit(id: string, c: CommitContext): Promise<{ checks: Check[]; outcome: Outcome }> {
  try {
    return await commitChecks(id, c);
  } catch (e) {
    if (!(e instanceof ObjectFormatError)) throw e;
    return {
      checks: [
        check({
          gate: GATE,
          rule: "commit-format",
          status: "fail",
          subject: id,
          message: `${e.message}; the repository holds objects git would not write: find out who pushed them`,
          code: "malformed-object",
        }),
      ],
      outcome: nothing,
    };
  }
}

async function commitChecks(id: string, c: CommitContext): Promise<{ checks: Check[]; outcome: Outcome }> {
  const object = c.repo.objects.readNow?.(id) ?? (await c.repo.objects.read(id));
  if (!object || object.type !== "commit") throw new ObjectFormatError(`commit ${id} is missing from the repository`, id);
  const commit = parseCommit(id, object.data);
  const walked = c.plan.parents.get(id) ?? [];
  if (walked.join(" ") !== commit.parents.join(" ")) {
    throw new ObjectFormatError(
      `commit ${id} names parents ${commit.parents.map(short).join(", ") || "none"} but git walks it with ${walked.map(short).join(", ") || "none"} (a replace ref, graft or shallow boundary)`,
      id,
    );
  }
  c.trees.rememberCommit(commit);
  const early = commit.parents.length <= 1 ? changesNow(commit, c) : undefined;
  let ctx: PolicyContext;
  try {
    ctx = await c.chain.inTree(await policyBase(commit, c));
  } catch (e) {
    if (e instanceof ObjectFormatError) throw e;
    return {
      checks: [
        check({
          gate: GATE,
          rule: "trust-policy",
          status: "fail",
          subject: id,
          message: `the trust policy in force where this commit enters the branch (${policyDir}/ of ${short(policyBaseId(commit, c) ?? "")}) is invalid: ${(e as Error).message}`,
          code: "trust-policy-invalid",
        }),
      ],
      outcome: nothing,
    };
  }
  const base = baseParent(c.plan, id, commit.parents);
  const baseTree = base ? await c.trees.commitTree(base) : null;
  const signature = await signatureCheck(commit, ctx, c);
  const rule = messageRule(ctx, c.environment);
  const message = rule ? [messageCheck(commit, rule)] : [];
  if (
    commit.parents.length <= 1 &&
    signature.result?.ok &&
    (await ownsAllAndKeepsPolicy(commit, baseTree, ctx, signature.result.identity, c))
  ) {
    // Nothing to match path by path: the paths are only counted (the trees the commit brings are still
    // read and checked as git fsck --strict does), and listed only if a merge later asks.
    const changed = early ? settled(early) : await c.trees.countChanges(baseTree, commit.tree);
    const changes = lazily(() => c.trees.diff(baseTree, commit.tree).then((paths) => new Set(paths)));
    const owned = check({
      gate: GATE,
      rule: "path-ownership",
      status: "pass",
      subject: commit.id,
      message: changed === 0 ? "changes no paths" : `${changed} path(s), all owned by ${signature.result.identity}`,
      code: "paths-owned",
    });
    return { checks: [signature.check, owned, ...message], outcome: { tree: commit.tree, entitled: changes } };
  }
  const changes = await c.trees.diff(baseTree, commit.tree);
  const owned =
    commit.parents.length > 1
      ? await mergeOwnership(commit, ctx, signature.result, changes, c)
      : ownershipCheck(commit, ctx, signature.result, changes);
  const checks = [signature.check, owned.check, ...message];
  if (changes.some(isPolicyPath)) checks.push(await policyChangeCheck(commit, ctx, signature.result, c));
  return { checks, outcome: { tree: commit.tree, entitled: async () => owned.entitled } };
}

/** How many paths a commit changes on its base, or the error reading its trees gave, found before any wait. */
type Counted = { count: number } | { error: unknown };

/**
 * A commit's new trees read and checked at once, while commits are taken in git's order: each against
 * the tree it replaces, which the commit before has just checked, so only what changed is checked again
 * (commits judged side by side would otherwise read a tree as a base before it was checked against its
 * own). The count, or the error, waits for its turn in commitChecks, so the checks and their order are
 * what they would be without it. Undefined when the trees can only be read by waiting (git's cat-file).
 */
function changesNow(commit: Commit, c: CommitContext): Counted | undefined {
  try {
    const base = baseParent(c.plan, commit.id, commit.parents);
    const baseTree = base ? c.trees.commitTreeNow(base) : null;
    if (baseTree === undefined) return undefined;
    const count = c.trees.countChangesNow(baseTree, commit.tree);
    return count === undefined ? undefined : { count };
  } catch (error) {
    return { error };
  }
}

function settled(counted: Counted): number {
  if ("error" in counted) throw counted.error;
  return counted.count;
}

const lazily = <T>(make: () => Promise<T>): (() => Promise<T>) => {
  let made: Promise<T> | undefined;
  return () => (made ??= make());
};

/**
 * Whether a commit can be judged without listing its paths: its signer owns every path (a "**" rule
 * names them, and so does every more specific rule, so no path is decided otherwise), and the commit's
 * root tree holds exactly the base's `.vigil` entry (same mode and id, or absent from both), so no path
 * under it changed. Proven from the policy's rules and the trees' entries, never assumed.
 */
async function ownsAllAndKeepsPolicy(
  commit: Commit,
  baseTree: string | null,
  ctx: PolicyContext,
  signer: string,
  c: CommitContext,
): Promise<boolean> {
  if (!ownsEveryPath(ctx, signer)) return false;
  if (baseTree === commit.tree) return true;
  const [before, after] = await Promise.all([
    baseTree ? c.trees.rootEntry(baseTree, policyDir) : null,
    c.trees.rootEntry(commit.tree, policyDir),
  ]);
  return before === after;
}

const everyPathOwners = new WeakMap<PolicyContext, Set<string> | null>();
/** The signers who own every path under the policy: those every paths rule names, when one rule is "**". */
function ownsEveryPath(ctx: PolicyContext, signer: string): boolean {
  if (!everyPathOwners.has(ctx)) {
    const { doc } = ctx.policy;
    const rules = doc.paths.map((p) => ({ pattern: p.pattern, owners: expandPrincipals(doc, p.owners) }));
    const all = rules.some((r) => r.pattern === "**")
      ? new Set([...rules[0]!.owners].filter((s) => rules.every((r) => r.owners.has(s))))
      : null;
    everyPathOwners.set(ctx, all);
  }
  return everyPathOwners.get(ctx)?.has(signer) === true;
}

/**
 * Where the policy in force for a commit is read: its parent on the line back to the deployed revision,
 * or, for a commit a merge brings in, that merge's parent on the line, so a side branch never carries an
 * older policy in.
 */
function policyBaseId(commit: Commit, c: CommitContext): string | undefined {
  const entry = c.plan.entry.get(commit.id);
  return entry ? baseParent(c.plan, entry, c.plan.parents.get(entry)!) : baseParent(c.plan, commit.id, commit.parents);
}

async function policyBase(commit: Commit, c: CommitContext): Promise<string | null> {
  const base = policyBaseId(commit, c);
  return base ? c.trees.commitTree(base) : null;
}

const isPolicyPath = (path: string) => path === policyDir || path.startsWith(policyDir + "/");

/** The environment's commit message rule in the policy in force (RE2: linear time), compiled once per policy. */
const messageRules = new WeakMap<PolicyContext, Map<string, MessageRule | null>>();
function messageRule(ctx: PolicyContext, environment: string | undefined): MessageRule | null {
  if (!environment) return null;
  let rules = messageRules.get(ctx);
  if (!rules) messageRules.set(ctx, (rules = new Map()));
  if (!rules.has(environment)) {
    const pattern = ctx.policy.doc.environments.find((e) => e.name === environment)?.commitMessage;
    rules.set(environment, pattern ? compileMessageRule(pattern) : null);
  }
  return rules.get(environment)!;
}

async function signatureCheck(
  commit: Commit,
  ctx: PolicyContext,
  c: CommitContext,
): Promise<{ check: Check; result: SignatureResult | null }> {
  if (!commit.signature) {
    return {
      check: refusedSignature(
        commit,
        `${describeCommit(commit)} is not signed; sign commits (git commit -S) with a key in the trust policy`,
        "unsigned-commit",
      ),
      result: null,
    };
  }
  const time = c.trustedTime(commit.id);
  const result = await c.verify(ctx, commit.signature, commit.payload, time.at, time.source);
  if (!result.ok) return { check: refusedSignature(commit, `${describeCommit(commit)}: ${result.reason}`, result.code), result };
  if (isMergesOnly(ctx, result.identity) && commit.parents.length < 2) {
    return {
      check: refusedSignature(
        commit,
        `${describeCommit(commit)} is signed by ${result.identity}, whose key is trusted only for merge commits; the change needs its author's own signature`,
        "merge-only-key",
      ),
      result: { ok: false, kind: result.kind, reason: "merge-only key", code: "merge-only-key" },
    };
  }
  const what = isMergesOnly(ctx, result.identity) ? "merge signed by forge key" : "signed by";
  return {
    check: check({
      gate: GATE,
      rule: "commit-signature",
      status: "pass",
      subject: commit.id,
      message: `${what} ${describeSigner(result)}`,
      admits: [{ kind: "commit", subject: commit.id, signer: result.identity, key: result.canonicalKey }],
      code: "signature-trusted",
    }),
    result,
  };
}

/** A failing commit-signature check: which commit, why, and what to do. */
function refusedSignature(commit: Commit, message: string, code: CheckCode): Check {
  return check({ gate: GATE, rule: "commit-signature", status: "fail", subject: commit.id, message, code });
}

const isMergesOnly = (ctx: PolicyContext, identity: string) => ctx.policy.doc.signers.find((s) => s.name === identity)?.mergesOnly === true;

type Owned = { check: Check; entitled: Set<string> };

/** A commit no trusted key signed has no owner whose paths could be checked: the signature check failed it. */
const noOwnerToCheck = (commit: Commit): Owned => ({
  check: check({
    gate: GATE,
    rule: "path-ownership",
    status: "skip",
    subject: commit.id,
    message: "no trusted signer, so no owner to check",
    code: "no-trusted-signer",
  }),
  entitled: new Set(),
});

function ownershipCheck(commit: Commit, ctx: PolicyContext, sig: SignatureResult | null, changes: string[]): Owned {
  if (!sig?.ok) return noOwnerToCheck(commit);
  if (changes.length === 0)
    return {
      check: check({
        gate: GATE,
        rule: "path-ownership",
        status: "pass",
        subject: commit.id,
        message: "changes no paths",
        code: "paths-owned",
      }),
      entitled: new Set(),
    };
  const unowned = ctx.ownership.unowned(changes, sig.identity);
  const entitled = new Set(changes);
  for (const u of unowned) entitled.delete(u.path);
  if (unowned.length === 0)
    return {
      check: check({
        gate: GATE,
        rule: "path-ownership",
        status: "pass",
        subject: commit.id,
        message: `${changes.length} path(s), all owned by ${sig.identity}`,
        code: "paths-owned",
      }),
      entitled,
    };
  return { check: unownedCheck(commit, sig.identity, unowned, ""), entitled };
}

function unownedCheck(commit: Commit, signer: string, unowned: { path: string; pattern: string | null }[], what: string): Check {
  const shown = unowned
    .slice(0, 5)
    .map((u) => (u.pattern ? `${u.path} (owned per "${u.pattern}")` : `${u.path} (no paths rule covers it)`));
  const more = unowned.length > 5 ? ` and ${unowned.length - 5} more` : "";
  return check({
    gate: GATE,
    rule: "path-ownership",
    status: "fail",
    subject: commit.id,
    message:
      `${describeCommit(commit)} signed by ${signer} ${what}changes paths ${signer} does not own: ${shown.join(", ")}${more}; ` +
      "have an owner make the change, or change the paths rules in the trust policy",
    code: "path-not-owned",
  });
}

/**
 * A merge is judged by what it changes on its mainline parent (the first, or the one that leads back to
 * the deployed revision), path by path. A path is explained when the
 * merge takes it exactly as one of its other parents holds it, and a commit the merge brings in changed
 * it to that very version and was entitled to (signed, and its signer owned the path). Any other path —
 * an older version taken back (`-s ours`, an old ancestor as a parent), a conflict resolution, new
 * content — must be owned by the merge's own signer; a merges-only key owns none.
 */
async function mergeOwnership(
  commit: Commit,
  ctx: PolicyContext,
  sig: SignatureResult | null,
  changes: string[],
  c: CommitContext,
): Promise<Owned> {
  if (!sig?.ok) return noOwnerToCheck(commit);
  const { byMerged, asDeployed } = await explainedPaths(commit, changes, c);
  const rest = changes.filter((p) => !byMerged.has(p) && !asDeployed.has(p));
  const unowned = isMergesOnly(ctx, sig.identity)
    ? rest.map((path) => ({ path, pattern: ctx.ownership.ruleFor(path)?.pattern ?? null }))
    : ctx.ownership.unowned(rest, sig.identity);
  // Taking the deployed version back is no change to what runs, but it entitles no later merge to it.
  const entitled = new Set(changes.filter((p) => !asDeployed.has(p)));
  for (const u of unowned) entitled.delete(u.path);
  if (unowned.length > 0)
    return { check: unownedCheck(commit, sig.identity, unowned, "(a merge: what it takes from no merged commit) "), entitled };
  const parts = [
    `${byMerged.size} as the merged commits changed them`,
    ...(asDeployed.size ? [`${asDeployed.size} as the last deployed revision holds them`] : []),
    ...(rest.length ? [`${rest.length} owned by ${sig.identity}`] : []),
  ];
  const summary =
    changes.length === 0
      ? "merge changes nothing on its mainline parent"
      : `merge: ${changes.length} path(s) differ from its mainline parent ${short(baseParent(c.plan, commit.id, commit.parents)!)}, ${parts.join(", ")}`;
  return {
    check: check({ gate: GATE, rule: "path-ownership", status: "pass", subject: commit.id, message: summary, code: "paths-owned" }),
    entitled,
  };
}

/**
 * The changed paths a merge takes from another parent exactly as they should be: as an entitled commit
 * it brings in left them, or as the last deployed revision holds them (a side branch catching up with
 * what was verified and deployed).
 */
async function explainedPaths(
  merge: Commit,
  changes: string[],
  c: CommitContext,
): Promise<{ byMerged: Set<string>; asDeployed: Set<string> }> {
  const byMerged = new Set<string>();
  const asDeployed = new Set<string>();
  if (changes.length === 0) return { byMerged, asDeployed };
  const base = baseParent(c.plan, merge.id, merge.parents)!;
  const others = merge.parents.filter((p) => p !== base);
  const brought = c.plan.entrants.get(merge.id) ?? [...reachableOnlyFrom(c.plan, others, base)];
  const outcomes = await Promise.all(brought.flatMap((id) => c.outcomes.get(id) ?? []));
  const otherTrees = await Promise.all(others.map((p) => c.trees.commitTree(p)));
  for (const path of changes) {
    const result = await versionAt(c.trees, merge.tree, path);
    const fromOther = (await Promise.all(otherTrees.map((t) => versionAt(c.trees, t, path)))).includes(result);
    if (!fromOther) continue;
    for (const o of outcomes) {
      if ((await o.entitled()).has(path) && (await versionAt(c.trees, o.tree, path)) === result) {
        byMerged.add(path);
        break;
      }
    }
    if (!byMerged.has(path) && c.deployedTree && (await versionAt(c.trees, c.deployedTree, path)) === result) asDeployed.add(path);
  }
  return { byMerged, asDeployed };
}

/** A path's version in a tree (mode and object id), or "absent". */
async function versionAt(trees: TreeWalker, tree: string, path: string): Promise<string> {
  const entry = await trees.entryAt(tree, path);
  return entry ? `${entry.mode} ${entry.id}` : "absent";
}

function messageCheck(commit: Commit, rule: MessageRule): Check {
  return rule.test(commit.message)
    ? check({
        gate: GATE,
        rule: "commit-message",
        status: "pass",
        subject: commit.id,
        message: "message matches the environment's rule",
        code: "message-matches",
      })
    : check({
        gate: GATE,
        rule: "commit-message",
        status: "fail",
        subject: commit.id,
        message: `${describeCommit(commit)}: message "${firstLine(commit)}" does not match ${rule.source}; reword the commit`,
        code: "message-mismatch",
      });
}

/** A change under .vigil/ needs `admins.threshold` distinct admins of the policy before it. */
async function policyChangeCheck(commit: Commit, ctx: PolicyContext, sig: SignatureResult | null, c: CommitContext): Promise<Check> {
  try {
    await c.chain.inTree(commit.tree);
  } catch (e) {
    return check({
      gate: GATE,
      rule: "trust-policy-change",
      status: "fail",
      subject: commit.id,
      message: `the new trust policy is invalid: ${(e as Error).message}`,
      code: "trust-policy-invalid",
    });
  }
  const admins = ctx.policy.doc.admins;
  if (!admins) {
    return check({
      gate: GATE,
      rule: "trust-policy-change",
      status: "fail",
      subject: commit.id,
      message: `${describeCommit(commit)} changes ${policyDir}, but the policy before it (${ctx.policy.source}) names no admins who may change it`,
      code: "no-policy-admins",
    });
  }
  const allowed = expandPrincipals(ctx.policy.doc, admins.members);
  const signers = new Map<string, string>();
  if (sig?.ok && allowed.has(sig.identity)) signers.set(sig.identity, "commit signature");
  const refused: string[] = [];
  for (const { ref, id } of await listRefs(c.repo, `${cosignRefPrefix}${commit.id}/`)) {
    const blob = await c.repo.objects.read(id, MAX_SIGNATURE_BLOB_BYTES).catch((e: Error) => e);
    if (blob instanceof Error || !blob || blob.type !== "blob") {
      refused.push(
        `${ref}: ${blob instanceof Error ? blob.message : `points at ${blob ? `a ${blob.type}` : "a missing object"}, not a signature`}`,
      );
      continue;
    }
    const time = c.trustedTime(id);
    const r = await c.verify(ctx, blob.data.toString("utf8"), commit.payload, time.at, time.source);
    if (!r.ok) refused.push(`${ref}: ${r.reason}`);
    else if (!allowed.has(r.identity)) refused.push(`${ref}: ${r.identity} is not an admin`);
    else if (!signers.has(r.identity)) signers.set(r.identity, ref);
  }
  const names = [...signers.keys()];
  const detail = refused.length ? `; not counted: ${refused.join("; ")}` : "";
  if (names.length >= admins.threshold) {
    return check({
      gate: GATE,
      rule: "trust-policy-change",
      status: "pass",
      subject: commit.id,
      message: `policy change signed by ${names.length} of ${admins.threshold} required admins (${names.join(", ")})${detail}`,
      code: "policy-change-approved",
    });
  }
  return check({
    gate: GATE,
    rule: "trust-policy-change",
    status: "fail",
    subject: commit.id,
    message:
      `${describeCommit(commit)} changes ${policyDir}/ with ${names.length} of ${admins.threshold} required admin signatures` +
      `${names.length ? ` (${names.join(", ")})` : ""}${detail}; other admins co-sign it with "vigil cosign --rev ${commit.id}"`,
    code: "policy-change-underapproved",
  });
}

/** The commit refs/heads/<branch> points at (never a tag or another ref of that name), or null. */
async function branchHead(repo: Repo, branch: string): Promise<string | null> {
  const ref = `refs/heads/${branch}`;
  return (await listRefs(repo, ref)).find((r) => r.ref === ref)?.id ?? null;
}

const short = (id: string) => id.slice(0, 12);
const firstLine = (c: Commit) => c.message.split("\n")[0]!.slice(0, 72);
function describeCommit(c: Commit): string {
  return `commit ${short(c.id)} ("${firstLine(c)}", by ${c.author.name} <${c.author.email}>)`;
}
