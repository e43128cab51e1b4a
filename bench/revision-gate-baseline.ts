// The revision gate against an earlier revision of Vigil itself, on the same cached signed history, in
// one run: did a change make the gate slower? Runs alternate between the two trees so other load on the
// machine falls on both alike; CPU time (user + system, worker threads included) is reported beside
// wall time, since it moves less with load.
//   node bench/revision-gate-baseline.ts --baseline REV [--commits 10000] [--runs 5]
// The history is bench/revision-gate.ts's (built once under .cache/bench/). Not in `npm run bench`: it needs a revision to compare with.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { signedHistory } from "./lib/signed-history.ts";

const { values } = parseArgs({
  options: { baseline: { type: "string" }, commits: { type: "string", default: "10000" }, runs: { type: "string", default: "5" } },
});
if (!values.baseline) {
  console.error("usage: node bench/revision-gate-baseline.ts --baseline REV [--commits N] [--runs N]");
  process.exit(2);
}
const root = resolve(import.meta.dirname, "..");
const history = signedHistory(join(root, ".cache", "bench"), Number(values.commits));
const trust = join(history.dir, "..", `trust-${history.commits}.yaml`);
if (!existsSync(trust)) throw new Error(`${trust} is missing: run bench/revision-gate.ts once to write it`);

const worktree = mkdtempSync(join(tmpdir(), "vigil-baseline-"));
execFileSync("git", ["-C", root, "worktree", "add", "--detach", "--quiet", worktree, values.baseline]);
symlinkSync(join(root, "node_modules"), join(worktree, "node_modules"));

interface Run {
  cpu: number;
  wall: number;
}
function runGate(tree: string): Run {
  const r = spawnSync(
    "/usr/bin/time",
    [
      "-f",
      "%U %S %e",
      process.execPath,
      join(tree, "src", "cli", "main.ts"),
      "verify",
      "commits",
      "--repo",
      history.dir,
      "--trust",
      trust,
      "--json",
    ],
    { encoding: "utf8", maxBuffer: 1 << 30 },
  );
  if (r.status !== 0) throw new Error(`${tree}: vigil exited ${r.status}: ${r.stderr.slice(-500)}`);
  const [user, sys, wall] = r.stderr.trim().split("\n").at(-1)!.split(" ").map(Number);
  return { cpu: user! + sys!, wall: wall! };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
try {
  const before: Run[] = [];
  const after: Run[] = [];
  for (let i = 0; i < Number(values.runs); i++) {
    before.push(runGate(worktree));
    after.push(runGate(root));
    console.error(`run ${i + 1}: baseline ${before.at(-1)!.cpu.toFixed(2)} s CPU, now ${after.at(-1)!.cpu.toFixed(2)} s CPU`);
  }
  const cpu = [median(before.map((r) => r.cpu)), median(after.map((r) => r.cpu))];
  const wall = [median(before.map((r) => r.wall)), median(after.map((r) => r.wall))];
  console.log(`| tree | CPU, median of ${values.runs} | wall, median of ${values.runs} |
|---|---|---|
| baseline ${values.baseline} | ${cpu[0]!.toFixed(2)} s | ${wall[0]!.toFixed(2)} s |
| now | ${cpu[1]!.toFixed(2)} s | ${wall[1]!.toFixed(2)} s |
| **now / baseline** | **${(cpu[1]! / cpu[0]!).toFixed(2)}x** | ${(wall[1]! / wall[0]!).toFixed(2)}x |`);
} finally {
  execFileSync("git", ["-C", root, "worktree", "remove", "--force", worktree]);
  rmSync(worktree, { recursive: true, force: true });
}
