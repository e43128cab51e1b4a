// Promotion: the tree being deployed must have been deployed, and healthy, in the earlier environment
// for at least the soak time. The evidence is that environment's deployment records, each signed by its
// agent's key. A record says "tree T was deployed at D and healthy from H"; the tree stayed there until
// another tree was deployed after it, or until now, and that window must be at least the soak. Another
// tree is deployed by a later record of it, or — in the audit log — by the agent's apply of it, whether
// or not that deploy ever became healthy or got a record; within one second the log's order decides.
import type { KeyObject } from "node:crypto";
import { check, type Check } from "../core/verdict.ts";
import { parseDuration } from "../core/duration.ts";
import type { EnvironmentSpec } from "../api/trust-policy.ts";
import { describeKey } from "../sigstore/keys.ts";
import { formatTime, type Claim, type Revision } from "../api/claims.ts";
import { CLOCK_SKEW_MS, short } from "./count.ts";
import { verifyAgentSignature, type Opened } from "./envelopes.ts";

const GATE = "promotion";
type Deployment = Extract<Claim, { type: "deployment" }>;

/**
 * Where a deployment record comes from: a ref in the repository (`vigil record deployment`, pushed by
 * people), or an entry of the audit log (the agent's own, since it never writes Git). Either way only
 * the signature by the environment's agent key makes it count: the source is transport, never trust.
 */
export interface RecordSource {
  /** Names the record in checks: its ref, or "audit log entry N". */
  where: string;
  /** The tree a ref's name files it under (refs/vigil/deployments/ENV/TREE/…): an index, never evidence. */
  storedUnder?: string;
  /** The audit log entry's index, for a record read from the log. */
  order?: number;
  open(): Promise<Opened>;
}

/** A record as read: its claim when the environment's agent signed it for that environment. */
export interface RecordSeen {
  where: string;
  storedUnder?: string;
  /** The tree the record names, read before its signature is checked: only to show it beside that tree. */
  claimedTree?: string;
  record?: Deployment;
  order?: number;
  problem?: string;
}

/** Another tree starting to run in the environment: a later deployment record, or an apply in the log. */
export interface Replacement {
  tree: string;
  at: Date;
  /** The audit log entry's index, when the event comes from the log. */
  order?: number;
  where: string;
}

/** An environment's records, read and verified once, indexed for many revisions' questions. */
export class Records {
  private readonly byTree = new Map<string, RecordSeen[]>();
  /** Every verified record's deploy and every apply of the log, by time then log order. */
  private readonly timeline: Replacement[];

  constructor(all: RecordSeen[], applies: readonly Replacement[] = []) {
    for (const r of all) {
      // Shown for the tree it is stored under, and for the tree it says it is about.
      const trees = new Set([r.storedUnder, r.claimedTree, r.record?.revision.tree].filter((t) => t !== undefined));
      for (const tree of trees) {
        const list = this.byTree.get(tree);
        if (list) list.push(r);
        else this.byTree.set(tree, [r]);
      }
    }
    const deploys = all.flatMap((r) =>
      r.record
        ? [{ tree: r.record.revision.tree, at: r.record.deployedAt, where: r.where, ...(r.order !== undefined && { order: r.order }) }]
        : [],
    );
    this.timeline = [...deploys, ...applies].sort(byTimeThenOrder);
  }

  /** Reads and verifies every record of `environment`, whatever its source, against its agent's key. */
  static async read(
    sources: readonly RecordSource[],
    environment: string,
    key: KeyObject,
    applies: readonly Replacement[] = [],
  ): Promise<Records> {
    const seen = await Promise.all(
      sources.map(async ({ where, storedUnder, order, open }): Promise<RecordSeen> => {
        const at = { where, ...(storedUnder && { storedUnder }), ...(order !== undefined && { order }) };
        let opened: Opened;
        try {
          opened = await open();
        } catch (e) {
          return { ...at, problem: `is not a deployment record signed by ${environment}'s agent: ${(e as Error).message}` };
        }
        const claimed = { ...at, claimedTree: opened.claim.revision.tree };
        if (opened.claim.type !== "deployment") return { ...claimed, problem: `is an ${opened.claim.type}, not a deployment record` };
        try {
          verifyAgentSignature(opened, key, `${environment}'s agent key ${describeKey(key)}`);
        } catch (e) {
          return { ...claimed, problem: `is not a deployment record signed by ${environment}'s agent: ${(e as Error).message}` };
        }
        if (opened.claim.environment !== environment)
          return { ...claimed, problem: `records a deployment to ${opened.claim.environment}, not ${environment}` };
        return { ...claimed, record: opened.claim };
      }),
    );
    return new Records(seen, applies);
  }

  /** The records stored under `tree`'s name or about it. */
  about(tree: string): RecordSeen[] {
    return this.byTree.get(tree) ?? [];
  }

  /**
   * What ended the run of `tree` that `record` saw healthy: the first deploy or apply of another tree
   * after the record's healthy time. Within that second only the log can order events: one the log put
   * after the record counts, one it put before does not, and without a log order it counts (fail closed).
   */
  replacementAfter(seen: RecordSeen & { record: Deployment }, tree: string): Replacement | undefined {
    const from = seen.record.at.getTime();
    const sameSecondAfter = (e: Replacement) => seen.order === undefined || e.order === undefined || e.order > seen.order;
    return this.timeline.find((e) => e.tree !== tree && (e.at.getTime() > from || (e.at.getTime() === from && sameSecondAfter(e))));
  }
}

function byTimeThenOrder(a: Replacement, b: Replacement): number {
  return a.at.getTime() - b.at.getTime() || (a.order ?? -1) - (b.order ?? -1);
}

export interface PromotionInput {
  /** The environment being deployed to, whose `promotion` rule applies. */
  environment: EnvironmentSpec;
  target: Revision;
  /** The earlier environment's records. */
  records: Records;
  /** Where the rule is written, for messages. */
  where: string;
  now: Date;
}

export function promotionChecks(input: PromotionInput): Check[] {
  const { after, soak = "0s" } = input.environment.promotion!;
  const soakMs = parseDuration(soak, input.where);
  const { target, now } = input;
  const seen = input.records.about(target.tree);
  const checks = seen.map((r) => recordCheck(r, target));
  const valid = seen.filter((r): r is RecordSeen & { record: Deployment } => r.record?.revision.tree === target.tree);
  const windows = valid.map((r) => soakWindow(r, input.records, now));
  const best = windows.sort((a, b) => b.ms - a.ms)[0];
  const subject = target.commit;
  const tree = `tree ${short(target.tree)} of ${short(target.commit)}`;
  if (!best) {
    return [
      ...checks,
      check({
        gate: GATE,
        rule: "promotion",
        status: "fail",
        subject,
        message: `${tree} has no deployment record signed by ${after}'s agent: ${input.environment.name} takes only what ran in ${after} first (${input.where}); deploy it to ${after}, let it soak, then promote`,
        code: "not-deployed-before",
      }),
    ];
  }
  if (best.ms >= soakMs) {
    return [
      ...checks,
      check({
        gate: GATE,
        rule: "promotion",
        status: "pass",
        subject,
        message: `${tree} ran healthy in ${after} from ${formatTime(best.from)} for ${formatDuration(best.ms)} (soak ${soak})`,
        code: "soaked",
      }),
    ];
  }
  const why = best.replacedBy
    ? `ran healthy in ${after} only from ${formatTime(best.from)} until ${replacedTree(best.replacedBy.tree)} replaced it at ${formatTime(best.replacedBy.at)} (${formatDuration(best.ms)}; ${best.replacedBy.where}), less than the ${soak} soak; deploy it to ${after} again and let it soak`
    : `has run healthy in ${after} since ${formatTime(best.from)}: the ${soak} soak is not over until ${formatTime(new Date(best.from.getTime() + soakMs))}`;
  return [...checks, check({ gate: GATE, rule: "promotion", status: "fail", subject, message: `${tree} ${why}`, code: "soak-incomplete" })];
}

function recordCheck(r: RecordSeen, target: Revision): Check {
  if (!r.record)
    return check({
      gate: GATE,
      rule: "deployment-record",
      status: "warn",
      subject: r.where,
      message: `not counted: ${r.problem}`,
      code: "record-not-counted",
    });
  if (r.record.revision.tree !== target.tree) {
    return check({
      gate: GATE,
      rule: "deployment-record",
      status: "warn",
      subject: r.where,
      message: `not counted: it records tree ${short(r.record.revision.tree)}, not ${short(target.tree)}: it was stored under another tree's name`,
      code: "record-tree-mismatch",
    });
  }
  const { revision, environment, deployedAt, at } = r.record;
  return check({
    gate: GATE,
    rule: "deployment-record",
    status: "pass",
    subject: r.where,
    message: `${environment}'s agent deployed ${short(revision.commit)} (tree ${short(revision.tree)}) at ${formatTime(deployedAt)}, healthy from ${formatTime(at)}`,
    code: "record-counted",
  });
}

interface SoakWindow {
  from: Date;
  ms: number;
  replacedBy?: Replacement;
}

/** How long the tree ran from this record's healthy time: until another tree was deployed after it, or now. */
function soakWindow(seen: RecordSeen & { record: Deployment }, records: Records, now: Date): SoakWindow {
  const { record } = seen;
  if (record.at.getTime() > now.getTime() + CLOCK_SKEW_MS) return { from: record.at, ms: 0 };
  const next = records.replacementAfter(seen, record.revision.tree);
  const replacedBy = next && next.at <= now ? next : undefined;
  const end = replacedBy ? replacedBy.at : now;
  return { from: record.at, ms: Math.max(0, end.getTime() - record.at.getTime()), ...(replacedBy && { replacedBy }) };
}

/** A tree, or a commit when an old apply record named no tree. */
function replacedTree(tree: string): string {
  return tree.startsWith("commit:") ? `the tree of commit ${short(tree.slice("commit:".length))}` : `tree ${short(tree)}`;
}

/** 3723000 → "1h2m3s". */
export function formatDuration(ms: number): string {
  const s = Math.floor(ms / 1000);
  const parts = [
    [Math.floor(s / 86400), "d"],
    [Math.floor(s / 3600) % 24, "h"],
    [Math.floor(s / 60) % 60, "m"],
    [s % 60, "s"],
  ] as const;
  return (
    parts
      .filter(([n]) => n > 0)
      .map(([n, u]) => `${n}${u}`)
      .join("") || "0s"
  );
}
