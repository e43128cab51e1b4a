// The shape of the range a revision gate checks: which commits lie on the first-parent line of the
// deployed branch, and through which merge on that line every other commit enters it. Trust moves
// forward along that line: a commit is judged by the policy in force where it enters the deployed
// history, not by the policy at the older point its side branch started from.
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { gitEnv } from "../git/env.ts";
import { linearRange, type Repo } from "../git/repo.ts";

export interface RangePlan {
  /** The commits to check, parents before children (git's `--topo-order --reverse`). */
  order: string[];
  /** Each commit's parents as git's walk saw them, to compare with the object's own. */
  parents: Map<string, string[]>;
  /** A commit off the first-parent line → the merge on the line that brings it in. */
  entry: Map<string, string>;
  /** A merge on the first-parent line → the commits it brings in (its own side of the history). */
  entrants: Map<string, string[]>;
  /**
   * A commit on the line whose line parent is not its first parent: the parent that leads back to the
   * last deployed revision, which a merge made the other way round (`git merge -s ours` on an older
   * branch, then a fast-forward) holds as a later parent.
   */
  lineParent: Map<string, string>;
  /** Whether any commit in the range is a merge (when none is, nothing needs remembering for merges). */
  hasMerges: boolean;
}

/** Plans the range `to ^from` (without `from`: everything `to` reaches). */
export async function planRange(repo: Repo, to: string, from?: string): Promise<RangePlan> {
  const linear = from ? await linearRange(repo, to, from) : null;
  const walked = linear ? linearParents(linear, from!) : await revListParents(repo, to, from);
  return shape(to, walked, from);
}

function linearParents(line: string[], from: string): { order: string[]; parents: Map<string, string[]> } {
  const parents = new Map<string, string[]>();
  line.forEach((id, i) => parents.set(id, [i === 0 ? from : line[i - 1]!]));
  return { order: line, parents };
}

async function revListParents(repo: Repo, to: string, from?: string): Promise<{ order: string[]; parents: Map<string, string[]> }> {
  const args = ["--git-dir", repo.gitDir, "rev-list", "--topo-order", "--reverse", "--parents", to, ...(from ? [`^${from}`] : []), "--"];
  const proc = spawn("git", args, { env: gitEnv, stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  proc.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  const closed = new Promise<number | null>((res) => proc.on("close", res));
  const order: string[] = [];
  const parents = new Map<string, string[]>();
  for await (const line of createInterface({ input: proc.stdout })) {
    if (!line) continue;
    const [id, ...ps] = line.split(" ");
    order.push(id!);
    parents.set(id!, ps);
  }
  const code = await closed;
  if (code !== 0) throw new Error(`git rev-list failed: ${stderr.trim()}`);
  return { order, parents };
}

/**
 * The line runs from the target back to the last deployed revision through first parents, taking
 * another parent only where the first does not lead back to it; without a deployed revision, through
 * first parents alone. Walking that line oldest first, each merge brings in whatever of the range its
 * other parents reach that no earlier merge brought in: git's "commits in M and not in M^1".
 */
function shape(to: string, { order, parents }: { order: string[]; parents: Map<string, string[]> }, from?: string): RangePlan {
  const leadsBack = from ? leadingBack(order, parents, from) : null;
  const line: string[] = [];
  const onLine = new Set<string>();
  const lineParent = new Map<string, string>();
  for (let id: string | undefined = to; id !== undefined && parents.has(id) && !onLine.has(id); ) {
    line.push(id);
    onLine.add(id);
    const ps: string[] = parents.get(id)!;
    const next: string | undefined = leadsBack ? ps.find((p) => p === from || leadsBack.has(p)) : ps[0];
    if (next !== undefined && next !== ps[0]) lineParent.set(id, next);
    id = next;
  }
  const entry = new Map<string, string>();
  const entrants = new Map<string, string[]>();
  let hasMerges = false;
  for (const merge of line.reverse()) {
    const ps = parents.get(merge)!;
    if (ps.length < 2) continue;
    hasMerges = true;
    const base = lineParent.get(merge) ?? ps[0];
    const brought: string[] = [];
    const stack = ps.filter((p) => p !== base);
    while (stack.length > 0) {
      const id = stack.pop()!;
      if (!parents.has(id) || onLine.has(id) || entry.has(id)) continue;
      entry.set(id, merge);
      brought.push(id);
      stack.push(...parents.get(id)!);
    }
    entrants.set(merge, brought);
  }
  hasMerges ||= entry.size > 0;
  return { order, parents, entry, entrants, lineParent, hasMerges };
}

/** The commits of the range from which `from` is reachable (parents come first in `order`). */
function leadingBack(order: string[], parents: Map<string, string[]>, from: string): Set<string> {
  const leads = new Set<string>();
  for (const id of order) if (parents.get(id)!.some((p) => p === from || leads.has(p))) leads.add(id);
  return leads;
}

/** The parent a commit is judged against: the one on the line back to the deployed revision, else the first. */
export function baseParent(plan: RangePlan, id: string, parents: readonly string[]): string | undefined {
  return plan.lineParent.get(id) ?? parents[0];
}

/**
 * The commits of the range that `heads` reach and `base` does not: what a merge off the first-parent
 * line takes from its other sides. Bounded by the range, which is already in memory.
 */
export function reachableOnlyFrom(plan: RangePlan, heads: readonly string[], base: string): Set<string> {
  const fromBase = reach(plan, [base], new Set());
  return reach(plan, heads, fromBase);
}

function reach(plan: RangePlan, starts: readonly string[], exclude: Set<string>): Set<string> {
  const seen = new Set<string>();
  const stack = [...starts];
  while (stack.length > 0) {
    const id = stack.pop()!;
    if (seen.has(id) || exclude.has(id) || !plan.parents.has(id)) continue;
    seen.add(id);
    stack.push(...plan.parents.get(id)!);
  }
  return seen;
}
