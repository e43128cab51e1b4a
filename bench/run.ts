// `npm run bench`: every benchmark, one after another; each prints its figures and ratios.
// `npm run bench -- policy [options]` runs only the benchmarks whose file name starts with "policy".
import { spawnSync } from "node:child_process";
import { join } from "node:path";

const all = [
  "revision-gate.ts",
  "git-adversarial.ts",
  "adversarial-inputs.ts",
  "policy-gate.ts",
  "policy-apiserver.ts",
  "policy-dry-run.ts",
  "artifact-gate.ts",
  "agent-sync.ts",
  "agent-webhook.ts",
  "agent-manifests.ts",
  "approvals.ts",
  "audit-log.ts",
  "sbom.ts",
  "vuln.ts",
  "secrets.ts",
  "ci.ts",
  "monitor.ts",
  "console.ts",
  "admission.ts",
];
const [first, ...rest] = process.argv.slice(2);
const named = first !== undefined && !first.startsWith("-");
const benches = named ? all.filter((b) => b.startsWith(first)) : all;
if (benches.length === 0) {
  console.error(`no benchmark named ${first} (benchmarks: ${all.map((b) => b.replace(/\.ts$/, "")).join(", ")})`);
  process.exit(2);
}
const args = named ? rest : process.argv.slice(2);
let failed = false;
for (const b of benches) {
  console.error(`\n=== ${b} ===`);
  const r = spawnSync(process.execPath, [join(import.meta.dirname, b), ...args], { stdio: "inherit" });
  failed ||= r.status !== 0;
}
process.exit(failed ? 1 : 0);
