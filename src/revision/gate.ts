// The revision gate: may the target revision be deployed? Every commit after the last deployed one is
// checked (signature, path ownership, message rule, trust-policy changes), plus the tag and history.
// Checks stream out in git's walk order, so memory stays flat however long the range is.
import { check, type Check, type Verdict } from "../core/verdict.ts";
import { expandPrincipals, type EnvironmentSpec, type TrustPolicy } from "../core/trust-policy.ts";
import { InputError } from "../core/errors.ts";
import { TreeWalker } from "../git/changes.ts";
import { parseCommit, parseTag, ObjectFormatError, type Commit } from "../git/objects.ts";
import { isAncestor, linearRange, listRefs, resolveRevision, revList, type Repo, type ResolvedRevision } from "../git/repo.ts";
import type { TrustedRoot } from "../git/signatures/x509.ts";
import type { SignatureResult } from "../git/signatures/result.ts";
import { verifyGitSignature } from "./keyring.ts";
import { PolicyChain, policyDir, type PolicyContext } from "./policy-chain.ts";
import { rollbackApprovals } from "../approvals/rollback.ts";
import type { Count } from "../approvals/count.ts";

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
  /** The time approvals are judged at (a rollback's); default now. */
  now?: Date;
  /**
   * When Vigil first recorded seeing an object (a commit, a tag or a claim) in its audit log: the trusted
   * time its signature's key validity is judged at when the signature carries no log time of its own.
   * Undefined for an object never recorded; the time of verification is used then.
   */
  firstSeen?: (objectId: string) => Date | undefined;
}

export type SignatureVerifier = (ctx: PolicyContext, armored: string, payload: Buffer, at: Date) => Promise<SignatureResult>;

const inProcess: SignatureVerifier = (ctx, armored, payload, at) => verifyGitSignature(ctx.keyring, armored, payload, at);

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

  if (target.tag) yield await tagCheck(opts, target.tag, target.tagRef, trees, chain, verify);
  if (from) {
    const approve = opts.environment ? rollbackApprover(opts, opts.environment, from, target.commit, trees, chain) : undefined;
    const history = await historyCheck(repo, from, target.commit, approve);
    yield* history.checks;
    if (history.rollback) return; // nothing new to check: the range is empty
  }

  const messageRule = env?.commitMessage ? new RegExp(env.commitMessage, "u") : undefined;
  const inFlight: Promise<Check[]>[] = [];
  let count = 0;
  const range = from ? ((await linearRange(repo, target.commit, from)) ?? revList(repo, target.commit, from)) : revList(repo, target.commit);
  for await (const id of range) {
    inFlight.push(commitChecks(id, { repo, trees, chain, verify, messageRule }));
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

/** Counts the environment's rollback approvals of `to`, by the policy in force at the last deployed revision. */
function rollbackApprover(opts: RevisionGateOptions, environment: string, from: string, to: string, trees: TreeWalker, chain: PolicyChain): () => Promise<Count> {
  return async () => {
    let policy: PolicyContext;
    try {
      policy = await chain.inTree(await trees.commitTree(from));
    } catch (e) {
      return { approved: false, seen: [], summary: `the trust policy at the last deployed revision is invalid: ${(e as Error).message}` };
    }
    return rollbackApprovals(opts.repo, policy, environment, { commit: to, tree: await trees.commitTree(to) }, opts.now ?? new Date());
  };
}

async function historyCheck(repo: Repo, from: string, to: string, approve?: () => Promise<Count>): Promise<{ checks: Check[]; rollback?: true }> {
  if (from === to) return { checks: [check(GATE, "history", "pass", to, `same revision as last deployed ${short(from)}: nothing new`)] };
  if (await isAncestor(repo, from, to)) return { checks: [check(GATE, "history", "pass", to, `descends from last deployed ${short(from)}`)] };
  if (await isAncestor(repo, to, from)) {
    const rollback = `rollback: ${short(to)} is an ancestor of the last deployed ${short(from)}`;
    const approval = await approve?.();
    if (approval?.approved) return { rollback: true, checks: [...approval.seen, check(GATE, "history", "pass", to, `${rollback}, approved: ${approval.summary}`)] };
    const why = approval ? approval.summary : "no environment was given, so none can be counted";
    return { rollback: true, checks: [...(approval?.seen ?? []), check(GATE, "history", "fail", to, `${rollback}; moving backwards needs signed rollback approvals: ${why}`)] };
  }
  return { checks: [check(GATE, "history", "fail", to,
    `rewritten history: ${short(to)} does not descend from the last deployed ${short(from)}; ` +
      "find out who rewrote the branch, or deploy a revision built on top of the deployed one")] };
}

async function tagCheck(
  opts: RevisionGateOptions, tagId: string, tagRef: string | undefined, trees: TreeWalker, chain: PolicyChain, verify: SignatureVerifier,
): Promise<Check> {
  const object = await opts.repo.objects.read(tagId);
  const tag = parseTag(tagId, object!.data);
  const subject = tagRef ?? tagId;
  if (tagRef && tagRef !== `refs/tags/${tag.tag}`) {
    return check(GATE, "tag-signature", "fail", subject,
      `tag object says "${tag.tag}" but is stored at ${tagRef}: a signed tag was moved to another name`);
  }
  if (!tag.signature) return check(GATE, "tag-signature", "fail", subject, `tag ${tag.tag} is not signed; sign it with git tag -s`);
  const commitTree = await trees.commitTree(tag.object);
  const ctx = await chain.inTree(commitTree);
  const result = await verify(ctx, tag.signature, tag.payload, new Date((tag.tagger?.time ?? 0) * 1000));
  return result.ok
    ? check(GATE, "tag-signature", "pass", subject, `tag ${tag.tag} signed by ${result.identity} (${result.key})`)
    : check(GATE, "tag-signature", "fail", subject, `tag ${tag.tag}: ${result.reason}`);
}

interface CommitContext {
  repo: Repo;
  trees: TreeWalker;
  chain: PolicyChain;
  verify: SignatureVerifier;
  messageRule: RegExp | undefined;
}

async function commitChecks(id: string, c: CommitContext): Promise<Check[]> {
  const object = await c.repo.objects.read(id);
  let commit: Commit;
  try {
    if (!object || object.type !== "commit") throw new ObjectFormatError("commit object is missing");
    commit = parseCommit(id, object.data);
  } catch (e) {
    return [check(GATE, "commit-format", "fail", id, `commit cannot be read: ${(e as Error).message}`)];
  }
  c.trees.rememberCommit(commit);
  const parentTree = commit.parents[0] ? await c.trees.commitTree(commit.parents[0]) : null;
  let ctx: PolicyContext;
  try {
    ctx = await c.chain.inTree(parentTree);
  } catch (e) {
    return [check(GATE, "trust-policy", "fail", id,
      `the trust policy in force for this commit (${policyDir}/ of its parent) is invalid: ${(e as Error).message}`)];
  }
  const [signature, changes] = await Promise.all([signatureCheck(commit, ctx, c.verify), c.trees.commitChanges(commit)]);
  const checks = [signature.check, ownershipCheck(commit, ctx, signature.result, changes)];
  if (c.messageRule) checks.push(messageCheck(commit, c.messageRule));
  if (changes.some((p) => p.startsWith(policyDir + "/"))) checks.push(await policyChangeCheck(commit, ctx, signature.result, c));
  return checks;
}

async function signatureCheck(commit: Commit, ctx: PolicyContext, verify: SignatureVerifier): Promise<{ check: Check; result: SignatureResult | null }> {
  if (!commit.signature) {
    return { check: check(GATE, "commit-signature", "fail", commit.id, `${describeCommit(commit)} is not signed; sign commits (git commit -S) with a key in the trust policy`), result: null };
  }
  const result = await verify(ctx, commit.signature, commit.payload, new Date(commit.committer.time * 1000));
  if (!result.ok) return { check: check(GATE, "commit-signature", "fail", commit.id, `${describeCommit(commit)}: ${result.reason}`), result };
  const signer = ctx.policy.doc.signers.find((s) => s.name === result.identity);
  if (signer?.mergesOnly && commit.parents.length < 2) {
    return {
      check: check(GATE, "commit-signature", "fail", commit.id,
        `${describeCommit(commit)} is signed by ${result.identity}, whose key is trusted only for merge commits; the change needs its author's own signature`),
      result: { ok: false, kind: result.kind, reason: "merge-only key" },
    };
  }
  const what = signer?.mergesOnly ? "merge signed by forge key" : "signed by";
  return { check: check(GATE, "commit-signature", "pass", commit.id, `${what} ${result.identity} (${result.key})`), result };
}

function ownershipCheck(commit: Commit, ctx: PolicyContext, sig: SignatureResult | null, changes: string[]): Check {
  if (!sig?.ok) return check(GATE, "path-ownership", "skip", commit.id, "no trusted signer, so no owner to check");
  if (changes.length === 0) return check(GATE, "path-ownership", "pass", commit.id, "changes no paths");
  const unowned = ctx.ownership.unowned(changes, sig.identity);
  if (unowned.length === 0) return check(GATE, "path-ownership", "pass", commit.id, `${changes.length} path(s), all owned by ${sig.identity}`);
  const shown = unowned.slice(0, 5).map((u) => (u.pattern ? `${u.path} (owned per "${u.pattern}")` : `${u.path} (no paths rule covers it)`));
  const more = unowned.length > 5 ? ` and ${unowned.length - 5} more` : "";
  return check(GATE, "path-ownership", "fail", commit.id,
    `${describeCommit(commit)} signed by ${sig.identity} changes paths ${sig.identity} does not own: ${shown.join(", ")}${more}; ` +
      "have an owner make the change, or change the paths rules in the trust policy");
}

function messageCheck(commit: Commit, rule: RegExp): Check {
  return rule.test(commit.message)
    ? check(GATE, "commit-message", "pass", commit.id, "message matches the environment's rule")
    : check(GATE, "commit-message", "fail", commit.id,
        `${describeCommit(commit)}: message "${firstLine(commit)}" does not match ${rule.source}; reword the commit`);
}

/** A change under .vigil/ needs `admins.threshold` distinct admins of the policy before it. */
async function policyChangeCheck(commit: Commit, ctx: PolicyContext, sig: SignatureResult | null, c: CommitContext): Promise<Check> {
  try {
    await c.chain.inTree(commit.tree);
  } catch (e) {
    return check(GATE, "trust-policy-change", "fail", commit.id, `the new trust policy is invalid: ${(e as Error).message}`);
  }
  const admins = ctx.policy.doc.admins;
  if (!admins) {
    return check(GATE, "trust-policy-change", "fail", commit.id,
      `${describeCommit(commit)} changes ${policyDir}/, but the policy before it (${ctx.policy.source}) names no admins who may change it`);
  }
  const allowed = expandPrincipals(ctx.policy.doc, admins.members);
  const signers = new Map<string, string>();
  if (sig?.ok && allowed.has(sig.identity)) signers.set(sig.identity, "commit signature");
  const refused: string[] = [];
  for (const { ref, id } of await listRefs(c.repo, `${cosignRefPrefix}${commit.id}/`)) {
    const blob = await c.repo.objects.read(id);
    if (!blob || blob.type !== "blob") continue;
    const r = await c.verify(ctx, blob.data.toString("utf8"), commit.payload, new Date(commit.committer.time * 1000));
    if (!r.ok) refused.push(`${ref}: ${r.reason}`);
    else if (!allowed.has(r.identity)) refused.push(`${ref}: ${r.identity} is not an admin`);
    else if (!signers.has(r.identity)) signers.set(r.identity, ref);
  }
  const names = [...signers.keys()];
  const detail = refused.length ? `; not counted: ${refused.join("; ")}` : "";
  if (names.length >= admins.threshold) {
    return check(GATE, "trust-policy-change", "pass", commit.id, `policy change signed by ${names.length} of ${admins.threshold} required admins (${names.join(", ")})${detail}`);
  }
  return check(GATE, "trust-policy-change", "fail", commit.id,
    `${describeCommit(commit)} changes ${policyDir}/ with ${names.length} of ${admins.threshold} required admin signatures` +
      `${names.length ? ` (${names.join(", ")})` : ""}${detail}; other admins co-sign it with "vigil cosign --rev ${commit.id}"`);
}

const short = (id: string) => id.slice(0, 12);
const firstLine = (c: Commit) => c.message.split("\n")[0]!.slice(0, 72);
function describeCommit(c: Commit): string {
  return `commit ${short(c.id)} ("${firstLine(c)}", by ${c.author.name} <${c.author.email}>)`;
}
