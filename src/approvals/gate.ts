// The approval and promotion gate: may a revision the revision gate verified go to this environment? The
// trust policy in force at the revision's tree says how many approvals from whom, and which environment
// it must have run in first; the approvals and that environment's deployment records stored in the
// repository (refs/vigil/) are the evidence, with what the audit log proves when it is given (the
// agent's deployment records and applies, first sightings, and every claim seen, so one deleted from
// the refs blocks: evidence.ts). Opened once per repository; refs are listed once.
import type { KeyObject } from "node:crypto";
import { check, type Check } from "../core/verdict.ts";
import type { EnvironmentSpec } from "../api/trust-policy.ts";
import type { TrustPolicy } from "../trust/policy.ts";
import { TreeWalker } from "../git/changes.ts";
import { isAncestor, linearRange, listRefs, revList, type Repo } from "../git/repo.ts";
import type { TrustedRoot } from "../trust/trusted-root.ts";
import { PolicyChain, type PolicyContext } from "../revision/policy-chain.ts";
import { loadPublicKey } from "../sigstore/keys.ts";
import { rangeAuthors } from "./authors.ts";
import type { Revision } from "../api/claims.ts";
import { countApprovals, short } from "./count.ts";
import { openEnvelope } from "./envelopes.ts";
import { claimsUnder, type ApprovalEvidence, type SeenClaim } from "./evidence.ts";
import { promotionChecks, Records, type RecordSource } from "./promotion.ts";
import { APPROVALS_REFS, DEPLOYMENTS_REFS, RefIndex } from "./store.ts";

const GATE = "approvals";

export interface ApprovalGateOptions {
  trustedRoot?: TrustedRoot;
  /** The audit log's evidence, verified: its deployment records are read beside those under refs/vigil/deployments/. */
  evidence?: ApprovalEvidence;
  /** Told of every claim read from the refs, for the log to record its first sighting. */
  onClaimSeen?: (claim: SeenClaim) => void;
  /**
   * The monitor's say on promoting a revision (its open findings, under the environment's enforcement in
   * the policy in force at the revision): checks added to this gate's, failing when findings block it.
   */
  monitorChecks?: MonitorPromotionChecks;
}

/** The monitor's promotion checks for `commit` into `environment`, under `policy` (the agent supplies them from the inventory). */
export type MonitorPromotionChecks = (policy: TrustPolicy, environment: string, commit: string) => Promise<Check[]>;

export class ApprovalGate {
  private readonly repo: Repo;
  private readonly trees: TreeWalker;
  private readonly chain: PolicyChain;
  private approvals: Promise<RefIndex> | undefined;
  /** Agent keys by their PEM text, parsed once. */
  private readonly agentKeys = new Map<string, KeyObject>();
  /** Records of an environment, read and verified once per agent key. */
  private readonly records = new Map<string, Promise<{ records: Records; deleted: Check[] }>>();
  private readonly options: ApprovalGateOptions;

  private constructor(repo: Repo, trees: TreeWalker, chain: PolicyChain, options: ApprovalGateOptions) {
    this.repo = repo;
    this.trees = trees;
    this.chain = chain;
    this.options = options;
  }

  /** Loads the root policy's keys first: a bad one is an input error before any check is made. */
  static async open(repo: Repo, rootPolicy: TrustPolicy, options: ApprovalGateOptions = {}): Promise<ApprovalGate> {
    const trees = new TreeWalker(repo.objects);
    const gate = new ApprovalGate(repo, trees, await PolicyChain.create(repo, trees, rootPolicy, options.trustedRoot), options);
    rootPolicy.doc.environments.forEach((_, i) => gate.agentKey(rootPolicy, i));
    return gate;
  }

  /** The checks for deploying `commit` to `environment`, after the last deployed revision `from`. */
  async checks(environment: string, commit: string, from: string | undefined, now: Date): Promise<Check[]> {
    const target = { commit, tree: await this.trees.commitTree(commit) };
    let ctx: PolicyContext;
    try {
      ctx = await this.chain.inTree(target.tree);
    } catch (e) {
      return [
        check({
          gate: GATE,
          rule: "trust-policy",
          status: "fail",
          subject: commit,
          message: `the trust policy at ${short(commit)} is invalid: ${(e as Error).message}`,
          code: "trust-policy-invalid",
        }),
      ];
    }
    const env = ctx.policy.doc.environments.find((e) => e.name === environment);
    // Open findings on what runs this revision may block its promotion (monitor.enforcement: block-promotion).
    const monitor = this.options.monitorChecks && from !== commit ? await this.options.monitorChecks(ctx.policy, environment, commit) : [];
    if (!env || (!env.approvals && !env.promotion)) {
      return [
        check({
          gate: GATE,
          rule: "approvals",
          status: "skip",
          subject: commit,
          message: `${ctx.policy.source} asks no approvals and no promotion for ${environment}`,
          code: "not-required",
        }),
        ...monitor,
      ];
    }
    return [
      ...(env.approvals ? await this.approvalChecks(ctx, env, target, from, now) : []),
      ...(env.promotion ? await this.promotionChecks(ctx, env, target, now) : []),
      ...monitor,
    ];
  }

  private async approvalChecks(
    ctx: PolicyContext,
    env: EnvironmentSpec,
    target: Revision,
    from: string | undefined,
    now: Date,
  ): Promise<Check[]> {
    const range = await this.range(target.commit, from);
    if (range === "rollback") {
      return [
        check({
          gate: GATE,
          rule: "approvals",
          status: "skip",
          subject: target.commit,
          message: `moving back from ${short(from!)}: the revision gate's history check counts ${env.name}'s rollback approvals for it`,
          code: "rollback-counted-by-history",
        }),
      ];
    }
    const authors = env.approvals!.excludeAuthors
      ? await rangeAuthors(this.repo, this.trees, this.chain, range)
      : new Map<string, string>();
    this.approvals ??= RefIndex.load(this.repo, APPROVALS_REFS);
    const { evidence, onClaimSeen } = this.options;
    const prefix = `${APPROVALS_REFS}${target.commit}/`;
    const { sources, deleted } = await claimsUnder(
      this.repo,
      (await this.approvals).under(target.commit),
      prefix,
      GATE,
      evidence,
      onClaimSeen,
    );
    const count = await countApprovals({
      repo: this.repo,
      policy: ctx,
      environment: env.name,
      target,
      kind: "deploy",
      stored: sources,
      authors,
      now,
      ...(evidence && { firstSeen: (digest: string) => evidence.firstSeen(digest) }),
    });
    return [
      ...count.seen,
      ...deleted,
      check({
        gate: GATE,
        rule: "approvals",
        status: count.approved ? "pass" : "fail",
        subject: target.commit,
        message: count.summary,
        code: count.approved ? "approvals-met" : "approvals-missing",
      }),
    ];
  }

  /** The commits new to the environment (git's `commit ^from`), or "rollback" when `commit` is behind `from`. */
  private async range(commit: string, from: string | undefined): Promise<"rollback" | Iterable<string> | AsyncIterable<string>> {
    if (!from) return revList(this.repo, commit);
    if (from === commit) return [];
    const line = await linearRange(this.repo, commit, from);
    if (line) return line;
    if (await isAncestor(this.repo, commit, from)) return "rollback";
    return revList(this.repo, commit, from);
  }

  private async promotionChecks(ctx: PolicyContext, env: EnvironmentSpec, target: Revision, now: Date): Promise<Check[]> {
    const { doc, where } = ctx.policy;
    const after = env.promotion!.after;
    const index = doc.environments.findIndex((e) => e.name === after);
    // The policy's own validation refuses a promotion from an environment without an agent key.
    const agent = doc.environments[index]!.agent!;
    let key: KeyObject;
    try {
      key = this.agentKey(ctx.policy, index)!;
    } catch (e) {
      return [
        check({
          gate: "promotion",
          rule: "promotion",
          status: "fail",
          subject: target.commit,
          message: (e as Error).message,
          code: "agent-key-invalid",
        }),
      ];
    }
    const cacheKey = `${after}\n${agent.key}`;
    let records = this.records.get(cacheKey);
    if (!records) {
      records = this.readRecords(after, key);
      this.records.set(cacheKey, records);
    }
    const rule = where(["environments", doc.environments.indexOf(env), "promotion"]);
    let read: { records: Records; deleted: Check[] };
    try {
      read = await records;
    } catch (e) {
      // A source that cannot be read may hold the only record: blocked with the reason, never judged on
      // what happened to be readable.
      return [
        check({
          gate: "promotion",
          rule: "promotion",
          status: "fail",
          subject: target.commit,
          message: `cannot read ${after}'s deployment records: ${(e as Error).message}`,
          code: "deployment-records-unreadable",
        }),
      ];
    }
    return [...read.deleted, ...promotionChecks({ environment: env, target, records: read.records, where: rule, now })];
  }

  /**
   * `environment`'s records under refs/vigil/deployments/ (with the log's copies of any deleted from
   * there), the agent's records in the log, and the log's applies, which end soaks.
   */
  private async readRecords(environment: string, key: KeyObject): Promise<{ records: Records; deleted: Check[] }> {
    const { evidence, onClaimSeen } = this.options;
    const prefix = `${DEPLOYMENTS_REFS}${environment}/`;
    const { sources, deleted } = await claimsUnder(
      this.repo,
      await listRefs(this.repo, prefix),
      prefix,
      "promotion",
      evidence,
      onClaimSeen,
    );
    const logged = evidence?.deploymentRecords(environment) ?? [];
    const all: RecordSource[] = [
      ...sources.map((s) => ({ where: s.where, ...storedUnder(s.where, prefix), open: async () => openEnvelope(await s.read(), s.where) })),
      ...logged.map(({ where, envelope, order }) => ({ where, order, open: async () => openEnvelope(envelope, where) })),
    ];
    return { records: await Records.read(all, environment, key, evidence?.applies(environment) ?? []), deleted };
  }

  /** The public key of environment `index`'s agent, if it names one. Throws KeyError naming where it is written. */
  private agentKey(policy: TrustPolicy, index: number): KeyObject | undefined {
    const pem = policy.doc.environments[index]?.agent?.key;
    if (pem === undefined) return undefined;
    let key = this.agentKeys.get(pem);
    if (!key) this.agentKeys.set(pem, (key = loadPublicKey(pem, policy.where(["environments", index, "agent", "key"]))));
    return key;
  }
}

/** What the agent's chain knows when this gate runs (a subset of its Candidate). */
export interface ApprovalGateInput {
  repo: Repo;
  trust: TrustPolicy;
  env: { name: string };
  /** The commit the revision gate verified. */
  commit?: string;
  /** The last revision applied to the environment. */
  lastApplied?: string;
  trustedRoot?: TrustedRoot;
  /** The audit log's evidence, verified (the agent's). */
  evidence?: ApprovalEvidence;
  /** Told of every claim read from the refs, for the log to record. */
  onClaimSeen?: (claim: SeenClaim) => void;
  /** The monitor's promotion checks, when the agent feeds a monitor. */
  monitorChecks?: MonitorPromotionChecks;
  now?: Date;
}

/** The gate as one step of the agent's chain: runs after the revision gate, on the commit it verified. */
export async function approvalGate(c: ApprovalGateInput): Promise<Check[]> {
  if (!c.commit) throw new Error("the approval gate runs after the revision gate, on the commit it verified");
  const gate = await ApprovalGate.open(c.repo, c.trust, {
    ...(c.trustedRoot && { trustedRoot: c.trustedRoot }),
    ...(c.evidence && { evidence: c.evidence }),
    ...(c.onClaimSeen && { onClaimSeen: c.onClaimSeen }),
    ...(c.monitorChecks && { monitorChecks: c.monitorChecks }),
  });
  return gate.checks(c.env.name, c.commit, c.lastApplied, c.now ?? new Date());
}

/** The tree a ref's name files a record under (refs/vigil/deployments/ENV/TREE/…), for a record read from a ref. */
function storedUnder(where: string, prefix: string): { storedUnder?: string } {
  return where.startsWith(prefix) ? { storedUnder: where.slice(prefix.length).split("/")[0]! } : {};
}
