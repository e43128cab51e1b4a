// Shared helpers for benchmarks: timing commands, the machine's description, medians.
import { spawnSync } from "node:child_process";
import { cpus, totalmem } from "node:os";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";

export function machine(): string {
  const cpu = cpus()[0]?.model ?? "unknown CPU";
  return `${cpus().length} × ${cpu}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node.js ${process.version}, ${new Date().toISOString().slice(0, 10)}`;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

export interface Timed {
  seconds: number;
  stdout: string;
  status: number;
  /** Peak resident memory in KiB, for node processes run with report-rss.ts. */
  maxRssKiB?: number;
}

/** Runs a command once, timing the whole process as a user would experience it. */
export function timeCommand(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): Timed {
  const dir = mkdtempSync(join(tmpdir(), "vigil-bench-"));
  const rssFile = join(dir, "rss");
  const start = process.hrtime.bigint();
  const r = spawnSync(cmd, args, {
    cwd: opts.cwd,
    env: { ...process.env, ...opts.env, BENCH_RSS_FILE: rssFile },
    encoding: "utf8",
    maxBuffer: 1 << 30,
  });
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  let maxRssKiB: number | undefined;
  try {
    maxRssKiB = Number(readFileSync(rssFile, "utf8"));
  } catch {
    // Not a node process with the preload: no memory figure.
  }
  rmSync(dir, { recursive: true, force: true });
  return { seconds, stdout: r.stdout, status: r.status ?? -1, ...(maxRssKiB ? { maxRssKiB } : {}) };
}

/** Runs a command under GNU time, for its user+system CPU and peak RSS (any program alike, not only node). */
export function timed(cmd: string, args: string[], cpus?: string) {
  const dir = mkdtempSync(join(tmpdir(), "vigil-bench-time-"));
  const usage = join(dir, "usage");
  const pinned = cpus ? ["taskset", "-c", cpus] : [];
  const r = timeCommand("/usr/bin/time", ["-f", "%U %S %M", "-o", usage, ...pinned, cmd, ...args]);
  const [user, system, rssKiB] = readFileSync(usage, "utf8").trim().split("\n").at(-1)!.split(" ").map(Number) as [number, number, number];
  rmSync(dir, { recursive: true, force: true });
  return { ...r, cpuSeconds: user + system, maxRssMiB: rssKiB / 1024 };
}
