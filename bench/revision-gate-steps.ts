// The revision gate at several revisions of Vigil on the same cached signed history, in one run: what
// each step of a change did (issue 25: objects read in-process, the tree diff skipped when it cannot
// matter, verification in the main thread and one worker). Runs rotate through the trees so other load
// on the machine falls on all alike; CPU time (user + system, worker threads included) is reported
// beside wall time, since it moves less with load, and the load average is printed with them.
//   node bench/revision-gate-steps.ts --revs REV[,REV…] [--commits 10000] [--runs 5] [--workers N]
// The working tree is always the last column. Not in `npm run bench`: it needs revisions to compare.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { median } from "./lib/measure.ts";
import { signedHistory } from "./lib/signed-history.ts";

const { values } = parseArgs({
  options: {
    revs: { type: "string" },
    commits: { type: "string", default: "10000" },
    runs: { type: "string", default: "5" },
    workers: { type: "string" },
  },
});
if (!values.revs) {
  console.error("usage: node bench/revision-gate-steps.ts --revs REV[,REV…] [--commits N] [--runs N] [--workers N]");
  process.exit(2);
}
const root = resolve(import.meta.dirname, "..");
const history = signedHistory(join(root, ".cache", "bench"), Number(values.commits));
const trust = join(history.dir, "..", `trust-${history.commits}.yaml`);
if (!existsSync(trust)) throw new Error(`${trust} is missing: run bench/revision-gate.ts once to write it`);

interface Tree {
  label: string;
  dir: string;
  temporary: boolean;
}
const trees: Tree[] = values.revs.split(",").map((rev) => {
  const dir = mkdtempSync(join(tmpdir(), "vigil-step-"));
  execFileSync("git", ["-C", root, "worktree", "add", "--detach", "--quiet", dir, rev]);
  symlinkSync(join(root, "node_modules"), join(dir, "node_modules"));
  return { label: rev, dir, temporary: true };
});
trees.push({ label: "working tree", dir: root, temporary: false });

interface Run {
  cpu: number;
  wall: number;
}
function runGate(tree: string): Run {
  const workers = values.workers ? ["--workers", values.workers] : [];
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
      ...workers,
    ],
    { encoding: "utf8", maxBuffer: 1 << 30 },
  );
  if (r.status !== 0) throw new Error(`${tree}: vigil exited ${r.status}: ${r.stderr.slice(-500)}`);
  const [user, sys, wall] = r.stderr.trim().split("\n").at(-1)!.split(" ").map(Number);
  return { cpu: user! + sys!, wall: wall! };
}

try {
  const runs = trees.map(() => [] as Run[]);
  const loads: number[] = [];
  for (let i = 0; i < Number(values.runs); i++) {
    trees.forEach((tree, k) => runs[k]!.push(runGate(tree.dir)));
    loads.push(loadavg()[0]!);
    console.error(
      `run ${i + 1}: ${trees.map((t, k) => `${t.label} ${runs[k]!.at(-1)!.cpu.toFixed(2)} s CPU`).join(", ")} (load ${loads.at(-1)!.toFixed(1)})`,
    );
  }
  const first = median(runs[0]!.map((r) => r.cpu));
  // Other load only adds time, so the least of a tree's runs is shown beside the median.
  const least = (xs: number[]) => Math.min(...xs);
  const firstLeast = least(runs[0]!.map((r) => r.cpu));
  console.log(`| tree | CPU, median of ${values.runs} | CPU, least | wall, median | wall, least | CPU / ${trees[0]!.label} (median, least) |
|---|---|---|---|---|---|
${trees
  .map((t, k) => {
    const cpus = runs[k]!.map((r) => r.cpu);
    const walls = runs[k]!.map((r) => r.wall);
    const cpu = median(cpus);
    return `| ${t.label} | ${cpu.toFixed(2)} s | ${least(cpus).toFixed(2)} s | ${median(walls).toFixed(2)} s | ${least(walls).toFixed(2)} s | ${(cpu / first).toFixed(2)}x, ${(least(cpus) / firstLeast).toFixed(2)}x |`;
  })
  .join("\n")}

load average (1 min) during the runs: ${Math.min(...loads).toFixed(1)}–${Math.max(...loads).toFixed(1)}${values.workers ? `; --workers ${values.workers}` : ""}`);
} finally {
  for (const t of trees.filter((t) => t.temporary)) {
    execFileSync("git", ["-C", root, "worktree", "remove", "--force", t.dir]);
    rmSync(t.dir, { recursive: true, force: true });
  }
}
