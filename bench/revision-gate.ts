// Benchmark (issues 2 and 25): verify N SSH-signed commits with Vigil; in the same run, git log
// --show-signature over the same range (gpg.ssh.allowedSignersFile set), and the raw Ed25519
// verification rate of Node.js on this machine, on one core and on all cores. Reported as ratios, by
// wall time (the targets) and by CPU time (user + system, threads and child processes included), which
// moves less when other work shares the machine; the load average is printed beside them.
//   node bench/revision-gate.ts [--commits 10000] [--git-commits 1000] [--runs 3]
// git's time is per commit (it starts ssh-keygen for each), so it runs over the newest 1,000 commits by
// default: the whole benchmark then takes under a minute on an idle machine (with all 10,000, over three).
import { generateKeyPairSync, sign, verify } from "node:crypto";
import { availableParallelism, loadavg } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { Worker } from "node:worker_threads";
import { writeFileSync } from "node:fs";
import { signedHistory } from "./lib/signed-history.ts";
import { machine, median, timeCommand, timed } from "./lib/measure.ts";

const { values } = parseArgs({
  options: { commits: { type: "string", default: "10000" }, "git-commits": { type: "string" }, runs: { type: "string", default: "3" } },
});
const commits = Number(values.commits);
const gitCommits = Math.min(commits, Number(values["git-commits"] ?? 1000));
const runs = Number(values.runs);
const root = resolve(import.meta.dirname, "..");
const cache = join(root, ".cache", "bench");
const cli = join(root, "src", "cli", "main.ts");

/**
 * Verifications per second of one thread, over a message the size of SSHSIG's signed data: per second
 * of wall time, and per second of CPU time (what the loop costs however loaded the machine is).
 */
function rawVerifyRate(n: number): { wall: number; cpu: number } {
  const { publicKey, privateKey } = generateKeyPairSync("ed25519");
  const message = Buffer.alloc(98, 7);
  const signature = sign(null, message, privateKey);
  const start = performance.now();
  const cpuStart = process.cpuUsage();
  for (let i = 0; i < n; i++) if (!verify(null, message, publicKey, signature)) throw new Error("raw verify failed");
  const cpu = process.cpuUsage(cpuStart);
  return { wall: n / ((performance.now() - start) / 1000), cpu: n / ((cpu.user + cpu.system) / 1e6) };
}

/** The same loop on every core at once: the machine's physical limit for this work. */
async function rawVerifyRateAllCores(n: number): Promise<number> {
  const threads = availableParallelism();
  const per = Math.ceil(n / threads);
  const start = performance.now();
  await Promise.all(
    Array.from(
      { length: threads },
      () =>
        new Promise<void>((res, rej) => {
          const w = new Worker(
            `
        const { generateKeyPairSync, sign, verify } = require("node:crypto");
        const { parentPort, workerData } = require("node:worker_threads");
        const { publicKey, privateKey } = generateKeyPairSync("ed25519");
        const m = Buffer.alloc(98, 7); const s = sign(null, m, privateKey);
        parentPort.postMessage("ready");
        parentPort.once("message", () => { for (let i = 0; i < workerData; i++) verify(null, m, publicKey, s); parentPort.postMessage("done"); });
      `,
            { eval: true, workerData: per },
          );
          w.on("message", (m) => (m === "ready" ? w.postMessage("go") : (w.terminate(), res())));
          w.on("error", rej);
        }),
    ),
  );
  return (per * threads) / ((performance.now() - start) / 1000);
}

function trustPolicyFor(history: ReturnType<typeof signedHistory>): string {
  const file = join(history.dir, "..", `trust-${history.commits}.yaml`);
  writeFileSync(
    file,
    `apiVersion: vigil.dev/v1alpha1\nkind: TrustPolicy\nallowedSigners: ${history.allowedSigners}\n` +
      `paths: [{ pattern: "**", owners: ["bench@example.com"] }]\n`,
  );
  return file;
}

function vigilRun(history: ReturnType<typeof signedHistory>, trust: string) {
  const r = timed(process.execPath, [cli, "verify", "commits", "--repo", history.dir, "--trust", trust, "--json"]);
  const verdict = JSON.parse(r.stdout);
  const signed = verdict.checks.filter(
    (c: { rule: string; status: string }) => c.rule === "commit-signature" && c.status === "pass",
  ).length;
  if (r.status !== 0 || signed !== history.commits)
    throw new Error(`vigil did not pass all ${history.commits} commits (exit ${r.status}, ${signed} signatures passed)`);
  return r;
}

function gitRun(history: ReturnType<typeof signedHistory>, n: number) {
  const r = timed("git", [
    "-C",
    history.dir,
    "-c",
    `gpg.ssh.allowedSignersFile=${history.allowedSigners}`,
    "log",
    "--show-signature",
    `-${n}`,
  ]);
  const good = r.stdout.match(/^Good "git" signature/gm)?.length ?? 0;
  if (good !== n) throw new Error(`git verified ${good} of ${n} signatures: the synthetic history is not what git accepts`);
  return r;
}

const loadBefore = loadavg()[0]!;
console.error(`building or reusing signed histories under ${cache}…`);
const small = signedHistory(cache, Math.max(1, Math.floor(commits / 10)));
const history = signedHistory(cache, commits);

console.error("raw Ed25519 rate…");
const rawOneMeasured = rawVerifyRate(Math.min(commits, 20_000));
const rawOne = rawOneMeasured.wall;
const rawAll = await rawVerifyRateAllCores(Math.min(commits, 20_000) * availableParallelism());

console.error(`vigil verify commits, ${runs} runs…`);
const trust = trustPolicyFor(history);
const vigilRuns = Array.from({ length: runs }, () => vigilRun(history, trust));
const vigilSeconds = median(vigilRuns.map((r) => r.seconds));
const vigilCpu = median(vigilRuns.map((r) => r.cpuSeconds));
const smallRun = vigilRun(small, trustPolicyFor(small));

console.error("live heap along the walk…");
const heapWalk = timeCommand(process.execPath, [
  "--expose-gc",
  join(root, "bench", "lib", "heap-walk.ts"),
  history.dir,
  trust,
  String(Math.max(1, commits / 5)),
]);
const heapSamples: { checks: number; heapMiB: number }[] = JSON.parse(heapWalk.stdout);

console.error(`git log --show-signature over ${gitCommits} commits…`);
const gitRunResult = gitRun(history, gitCommits);
const gitPerCommit = gitRunResult.seconds / gitCommits;

const vigilPerCommit = vigilSeconds / commits;
const cores = availableParallelism();
const result = {
  machine: machine(),
  loadAverage: { before: loadBefore, after: loadavg()[0]! },
  commits,
  vigil: {
    seconds: vigilSeconds,
    cpuSeconds: vigilCpu,
    commitsPerSecond: commits / vigilSeconds,
    maxRssMiB: Math.max(...vigilRuns.map((r) => r.maxRssMiB)),
  },
  vigilSmall: { commits: small.commits, seconds: smallRun.seconds, maxRssMiB: smallRun.maxRssMiB },
  liveHeapAlongTheWalk: heapSamples,
  git: { commits: gitCommits, seconds: gitRunResult.seconds, cpuSeconds: gitRunResult.cpuSeconds, msPerCommit: gitPerCommit * 1000 },
  rawEd25519PerSecond: { oneCore: rawOne, oneCorePerCpuSecond: rawOneMeasured.cpu, allCores: rawAll, cores },
  ratios: {
    vigilFasterThanGit: gitPerCommit / vigilPerCommit,
    vigilFasterThanGitByCpu: gitRunResult.cpuSeconds / gitCommits / (vigilCpu / commits),
    vigilTimeOverRawAllCores: vigilSeconds / (commits / rawAll),
    vigilTimeOverRawOneCore: vigilSeconds / (commits / rawOne),
    /** The same target by CPU: Vigil's CPU-seconds against the raw verifications' CPU-seconds. */
    vigilCpuOverRawCpu: vigilCpu / (commits / rawOneMeasured.cpu),
  },
};
console.log(JSON.stringify(result, null, 2));
const f = (x: number, d = 2) => x.toFixed(d);
console.error(`
| measure | value |
|---|---|
| load average (1 min) before / after | ${f(result.loadAverage.before, 1)} / ${f(result.loadAverage.after, 1)} on ${cores} cores |
| Vigil, ${commits} commits (median of ${runs}, whole CLI process) | ${f(vigilSeconds)} s wall (${f(commits / vigilSeconds, 0)} commits/s), ${f(vigilCpu)} s CPU, peak RSS ${f(result.vigil.maxRssMiB, 0)} MiB |
| Vigil, ${small.commits} commits | ${f(smallRun.seconds)} s, peak RSS ${f(result.vigilSmall.maxRssMiB, 0)} MiB |
| live heap after GC along the walk (checks: MiB) | ${heapSamples.map((h) => `${h.checks}: ${h.heapMiB}`).join(", ")} |
| git log --show-signature, ${gitCommits} commits | ${f(gitRunResult.seconds)} s wall (${f(gitPerCommit * 1000)} ms/commit), ${f(gitRunResult.cpuSeconds)} s CPU |
| raw Ed25519 verify, Node.js, 1 core / ${availableParallelism()} cores | ${f(rawOne, 0)}/s / ${f(rawAll, 0)}/s (wall); ${f(rawOneMeasured.cpu, 0)} per CPU-second |
| **Vigil vs git** | **${f(result.ratios.vigilFasterThanGit, 0)}x faster** by wall time (target ≥ 100x); ${f(result.ratios.vigilFasterThanGitByCpu, 0)}x by CPU |
| **Vigil time / raw limit, all cores** | **${f(result.ratios.vigilTimeOverRawAllCores)}x** (target ≤ 1.5x) |
| Vigil time / raw limit, one core | ${f(result.ratios.vigilTimeOverRawOneCore)}x |
| Vigil CPU / raw verifications' CPU | ${f(result.ratios.vigilCpuOverRawCpu)}x (1.0x: nothing but Ed25519) |
`);
