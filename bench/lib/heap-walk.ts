// Walks a history through the revision gate in-process and prints the live heap (after a forced GC)
// every `every` checks, as JSON: flat figures mean the history is streamed, not held.
//   node --expose-gc bench/lib/heap-walk.ts REPO TRUST [EVERY]
import { loadTrustPolicyFile } from "../../src/trust/policy.ts";
import { openRepo } from "../../src/git/repo.ts";
import { openRevisionGate } from "../../src/revision/gate.ts";

const [repoPath, trustFile, everyArg] = process.argv.slice(2);
const every = Number(everyArg ?? 2000);
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc || !repoPath || !trustFile) throw new Error("usage: node --expose-gc heap-walk.ts REPO TRUST [EVERY]");
const repo = await openRepo(repoPath);
const gate = await openRevisionGate({ repo, rootPolicy: await loadTrustPolicyFile(trustFile), to: "HEAD" });
const samples: { checks: number; heapMiB: number }[] = [];
let checks = 0;
for await (const _ of gate.checks()) {
  if (++checks % every === 0) {
    gc();
    samples.push({ checks, heapMiB: Math.round((process.memoryUsage().heapUsed / 2 ** 20) * 10) / 10 });
  }
}
repo.close();
console.log(JSON.stringify(samples));
