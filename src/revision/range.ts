// The shape of the range a revision gate checks: which commits lie on the first-parent line of the
// deployed branch, and through which merge on that line every other commit enters it. Trust moves
// forward along that line: a commit is judged by the policy in force where it enters the deployed
// history, not by the policy at the older point its side branch started from.
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { gitEnv, linearRange, type Repo } from "../git/repo.ts";

export interface RangePlan {
  /** The commits to check, parents before children (git's `--topo-order --reverse`). */
  order: string[];
  /** Each commit's parents as git's walk saw them, to compare with the object's own. */
  parents: Map<string, string[]>;
  /** A commit off the first-parent line → the merge on the line that brings it in. */
  entry: Map<string, string>;
  /** A merge on the first-parent line → the commits it brings in (its own side of the history). */
  entrants: Map<string, string[]>;
  /** Whether any commit in the range is a merge (when none is, nothing needs remembering for merges). */
  hasMerges: boolean;
}

/** Plans the range `to ^from` (without `from`: everything `to` reaches). */
export async function planRange(repo: Repo, to: string, from?: string): Promise<RangePlan> {
  const linear = from ? await linearRange(repo, to, from) : null;
  const walked = linear ? linearParents(linear, from!) : await revListParents(repo, to, from);
  return shape(to, walked);
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
 * The first-parent line runs from the target back through first parents while they are in the range.
 * Walking that line oldest first, each merge brings in whatever of the range its other parents reach
 * that no earlier merge brought in: git's "commits in M and not in M^1".
 */
function shape(to: string, { order, parents }: { order: string[]; parents: Map<string, string[]> }): RangePlan {
  const line: string[] = [];
  const onLine = new Set<string>();
  for (let id: string | undefined = to; id !== undefined && parents.has(id) && !onLine.has(id); id = parents.get(id)![0]) {
    line.push(id);
    onLine.add(id);
  }
  const entry = new Map<string, string>();
  const entrants = new Map<string, string[]>();
  let hasMerges = false;
  for (const merge of line.reverse()) {
    const [, ...others] = parents.get(merge)!;
    if (others.length === 0) continue;
    hasMerges = true;
    const brought: string[] = [];
    const stack = [...others];
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
  return { order, parents, entry, entrants, hasMerges };
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
