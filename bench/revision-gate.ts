// Benchmark (issue 2): verify N SSH-signed commits with Vigil; in the same run, git log
// --show-signature over the same range (gpg.ssh.allowedSignersFile set), and the raw Ed25519
// verification rate of Node.js on this machine, on one core and on all cores. Reported as ratios.
//   node bench/revision-gate.ts [--commits 10000] [--git-commits N] [--runs 3]
import { generateKeyPairSync, sign, verify } from "node:crypto";
import { availableParallelism } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { Worker } from "node:worker_threads";
import { writeFileSync } from "node:fs";
import { signedHistory } from "./lib/signed-history.ts";
import { machine, median, timeCommand } from "./lib/measure.ts";

const { values } = parseArgs({
  options: { commits: { type: "string", default: "10000" }, "git-commits": { type: "string" }, runs: { type: "string", default: "3" } },
});
const commits = Number(values.commits);
const gitCommits = Number(values["git-commits"] ?? commits);
const runs = Number(values.runs);
const root = resolve(import.meta.dirname, "..");
const cache = join(root, ".cache", "bench");
const cli = join(root, "src", "cli", "main.ts");
const preload = join(root, "bench", "lib", "report-rss.ts");

/** Verifications per second of one thread, over a message the size of SSHSIG's signed data. */
function rawVerifyRate(n: number): number {
  const { publicKey, privateKey } = generateKeyPairSync("ed25519");
  const message = Buffer.alloc(98, 7);
  const signature = sign(null, message, privateKey);
  const start = performance.now();
  for (let i = 0; i < n; i++) if (!verify(null, message, publicKey, signature)) throw new Error("raw verify failed");
  return n / ((performance.now() - start) / 1000);
}

/** The same loop on every core at once: the machine's physical limit for this work. */
async function rawVerifyRateAllCores(n: number): Promise<number> {
  const threads = availableParallelism();
  const per = Math.ceil(n / threads);
  const start = performance.now();
  await Promise.all(
    Array.from({ length: threads }, () => new Promise<void>((res, rej) => {
      const w = new Worker(`
        const { generateKeyPairSync, sign, verify } = require("node:crypto");
        const { parentPort, workerData } = require("node:worker_threads");
        const { publicKey, privateKey } = generateKeyPairSync("ed25519");
        const m = Buffer.alloc(98, 7); const s = sign(null, m, privateKey);
        parentPort.postMessage("ready");
        parentPort.once("message", () => { for (let i = 0; i < workerData; i++) verify(null, m, publicKey, s); parentPort.postMessage("done"); });
      `, { eval: true, workerData: per });
      w.on("message", (m) => (m === "ready" ? w.postMessage("go") : (w.terminate(), res())));
      w.on("error", rej);
    })),
  );
  return (per * threads) / ((performance.now() - start) / 1000);
}

function trustPolicyFor(history: ReturnType<typeof signedHistory>): string {
  const file = join(history.dir, "..", `trust-${history.commits}.yaml`);
  writeFileSync(file, `apiVersion: vigil.dev/v1alpha1\nkind: TrustPolicy\nallowedSigners: ${history.allowedSigners}\n` +
    `paths: [{ pattern: "**", owners: ["bench@example.com"] }]\n`);
  return file;
}

function vigilRun(history: ReturnType<typeof signedHistory>, trust: string) {
  const r = timeCommand(process.execPath, ["--import", preload, cli, "verify", "commits", "--repo", history.dir, "--trust", trust, "--json"]);
  const verdict = JSON.parse(r.stdout);
  const signed = verdict.checks.filter((c: { rule: string; status: string }) => c.rule === "commit-signature" && c.status === "pass").length;
  if (r.status !== 0 || signed !== history.commits) throw new Error(`vigil did not pass all ${history.commits} commits (exit ${r.status}, ${signed} signatures passed)`);
  return r;
}

function gitRun(history: ReturnType<typeof signedHistory>, n: number) {
  const r = timeCommand("git", ["-C", history.dir, "-c", `gpg.ssh.allowedSignersFile=${history.allowedSigners}`, "log", "--show-signature", `-${n}`]);
  const good = r.stdout.match(/^Good "git" signature/gm)?.length ?? 0;
  if (good !== n) throw new Error(`git verified ${good} of ${n} signatures: the synthetic history is not what git accepts`);
  return r;
}

console.error(`building or reusing signed histories under ${cache}…`);
const small = signedHistory(cache, Math.max(1, Math.floor(commits / 10)));
const history = signedHistory(cache, commits);

console.error("raw Ed25519 rate…");
const rawOne = rawVerifyRate(Math.min(commits, 20_000));
const rawAll = await rawVerifyRateAllCores(Math.min(commits, 20_000) * availableParallelism());

console.error(`vigil verify commits, ${runs} runs…`);
const trust = trustPolicyFor(history);
const vigilRuns = Array.from({ length: runs }, () => vigilRun(history, trust));
const vigilSeconds = median(vigilRuns.map((r) => r.seconds));
const smallRun = vigilRun(small, trustPolicyFor(small));

console.error("live heap along the walk…");
const heapWalk = timeCommand(process.execPath, ["--expose-gc", join(root, "bench", "lib", "heap-walk.ts"), history.dir, trust, String(Math.max(1, commits / 5))]);
const heapSamples: { checks: number; heapMiB: number }[] = JSON.parse(heapWalk.stdout);

console.error(`git log --show-signature over ${gitCommits} commits…`);
const gitRunResult = gitRun(history, gitCommits);
const gitPerCommit = gitRunResult.seconds / gitCommits;

const vigilPerCommit = vigilSeconds / commits;
const result = {
  machine: machine(),
  commits,
  vigil: { seconds: vigilSeconds, commitsPerSecond: commits / vigilSeconds, maxRssMiB: Math.max(...vigilRuns.map((r) => r.maxRssKiB ?? 0)) / 1024 },
  vigilSmall: { commits: small.commits, seconds: smallRun.seconds, maxRssMiB: (smallRun.maxRssKiB ?? 0) / 1024 },
  liveHeapAlongTheWalk: heapSamples,
  git: { commits: gitCommits, seconds: gitRunResult.seconds, msPerCommit: gitPerCommit * 1000 },
  rawEd25519PerSecond: { oneCore: rawOne, allCores: rawAll, cores: availableParallelism() },
  ratios: {
    vigilFasterThanGit: gitPerCommit / vigilPerCommit,
    vigilTimeOverRawAllCores: vigilSeconds / (commits / rawAll),
    vigilTimeOverRawOneCore: vigilSeconds / (commits / rawOne),
  },
};
console.log(JSON.stringify(result, null, 2));
const f = (x: number, d = 2) => x.toFixed(d);
console.error(`
| measure | value |
|---|---|
| Vigil, ${commits} commits (median of ${runs}, whole CLI process) | ${f(vigilSeconds)} s (${f(commits / vigilSeconds, 0)} commits/s), peak RSS ${f(result.vigil.maxRssMiB, 0)} MiB |
| Vigil, ${small.commits} commits | ${f(smallRun.seconds)} s, peak RSS ${f(result.vigilSmall.maxRssMiB, 0)} MiB |
| live heap after GC along the walk (checks: MiB) | ${heapSamples.map((h) => `${h.checks}: ${h.heapMiB}`).join(", ")} |
| git log --show-signature, ${gitCommits} commits | ${f(gitRunResult.seconds)} s (${f(gitPerCommit * 1000)} ms/commit) |
| raw Ed25519 verify, Node.js, 1 core / ${availableParallelism()} cores | ${f(rawOne, 0)}/s / ${f(rawAll, 0)}/s |
| **Vigil vs git** | **${f(result.ratios.vigilFasterThanGit, 0)}x faster** (target ≥ 100x) |
| **Vigil time / raw limit, all cores** | **${f(result.ratios.vigilTimeOverRawAllCores)}x** (target ≤ 1.5x) |
| Vigil time / raw limit, one core | ${f(result.ratios.vigilTimeOverRawOneCore)}x |
`);
