// A test registry (docker-registry on loopback) kept by a process of its own, so that a benchmark that
// waits on its measured commands synchronously cannot stall it: the registry's log pipe is drained here,
// never blocked behind a spawnSync. Prints {host, hostOptions} as one JSON line; stops when stdin closes.
import { startRegistry } from "../../test/helpers/registry.ts";

const cleanups: (() => unknown)[] = [];
const registry = await startRegistry({ after: (fn: () => unknown) => void cleanups.push(fn) });
process.stdout.write(`${JSON.stringify({ host: registry.host, hostOptions: registry.hostOptions })}\n`);
process.stdin.resume();
process.stdin.on("end", async () => {
  for (const fn of cleanups.reverse()) await fn();
  process.exit(0);
});
