// Preloaded into a measured process (node --import): writes its peak resident memory, worker threads
// included, to the file named by BENCH_RSS_FILE when it exits.
import { writeFileSync } from "node:fs";

const file = process.env.BENCH_RSS_FILE;
if (file) process.on("exit", () => writeFileSync(file, String(process.resourceUsage().maxRSS)));
