// `npm run bench`: every benchmark, one after another; each prints its figures and ratios.
import { spawnSync } from "node:child_process";
import { join } from "node:path";

const benches = ["revision-gate.ts"];
let failed = false;
for (const b of benches) {
  console.error(`\n=== ${b} ===`);
  const r = spawnSync(process.execPath, [join(import.meta.dirname, b), ...process.argv.slice(2)], { stdio: "inherit" });
  failed ||= r.status !== 0;
}
process.exit(failed ? 1 : 0);
