// Benchmark (issue 20): continuous security over a large inventory. 2,000 images with 1,000,000
// components in all (500 each, drawn from 100,000 distinct npm package versions, as images share
// packages), 10,000 advisories already stored; then 10,000 new or changed advisories are imported
// through the monitor. Measured: time from the start of the import to the last finding emitted (the
// import's own share and the re-evaluation's), and memory; against a full rescan of the same inventory
// by the same matcher in the same run (the ratio), and against the anchors' schedules (Trivy Operator
// rescans when a report's 24-hour TTL expires; Dependency-Track's portfolio analysis runs daily by
// default). The incremental findings are checked to equal the full rescan's.
//   node bench/monitor.ts [--images 2000] [--per-image 500] [--packages 20000] [--universe 200000] [--advisories 10000]
// --universe: how many package names the advisories are spread over (the deployed 20,000 among them);
// --universe 20000 is the worst case, every advisory about a deployed package.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { isDeepStrictEqual } from "node:util";
import { loadavg } from "node:os";
import { DatabaseSync } from "node:sqlite";
import type { MonitorFinding } from "../src/monitor/findings.ts";
import { openInventory, type FindingsUpdate } from "../src/monitor/inventory.ts";
import type { Sink, StepSeconds } from "../src/monitor/monitor.ts";
import { cyclonedx, digestOf, openMonitor, osv, workloads } from "../test/helpers/monitor-fixture.ts";
import { machine } from "./lib/measure.ts";

const { values } = parseArgs({
  options: {
    images: { type: "string", default: "2000" },
    "per-image": { type: "string", default: "500" },
    packages: { type: "string", default: "20000" },
    universe: { type: "string", default: "200000" },
    advisories: { type: "string", default: "10000" },
  },
});
const IMAGES = Number(values.images);
const PER_IMAGE = Number(values["per-image"]);
const PACKAGES = Number(values.packages);
/** Advisories name packages of this many (the deployed ones among them): most of a feed is about packages nothing here runs. */
const UNIVERSE = Math.max(PACKAGES, Number(values.universe));
const VERSIONS = 5;
const ADVISORIES = Number(values.advisories);
const DAY = 24 * 3600;

/** A small deterministic generator (xorshift32), so every run benchmarks the same inventory. */
function random(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(0)} MiB`;
const purl = (pkg: number, version: number) => `pkg:npm/pkg-${pkg}@1.${version}.0`;

function advisory(n: number, pkg: number, modified: string, rnd: () => number) {
  return osv({
    id: `GHSA-bench-${String(n).padStart(6, "0")}`,
    modified,
    ecosystem: "npm",
    name: `pkg-${pkg}`,
    fixed: `1.${1 + Math.floor(rnd() * VERSIONS)}.0`,
    ...(rnd() < 0.7 && { severity: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N" }),
  });
}

const dir = mkdtempSync(join(tmpdir(), "vigil-bench-monitor-"));
try {
  console.log(`machine: ${machine()}`);
  console.log(`advisories over ${UNIVERSE} package names, ${PACKAGES} of them deployed`);
  const rnd = random(20);
  // The inventory: each image 500 distinct package versions from the pool.
  const images: Record<string, string[]> = {};
  for (let i = 0; i < IMAGES; i++) {
    const chosen = new Set<string>();
    while (chosen.size < PER_IMAGE) chosen.add(purl(Math.floor(rnd() * PACKAGES), Math.floor(rnd() * VERSIONS)));
    images[`app-${i}:1`] = [...chosen];
  }
  const baseline = Array.from({ length: ADVISORIES }, (_, n) => advisory(n, Math.floor(rnd() * UNIVERSE), "2026-11-01T00:00:00Z", rnd));
  writeFileSync(join(dir, "baseline.json"), JSON.stringify(baseline));
  // The import measured: half new advisories, half changed ones (a later `modified`, another fixed version).
  const update = [
    ...Array.from({ length: ADVISORIES / 2 }, (_, n) =>
      advisory(ADVISORIES + n, Math.floor(rnd() * UNIVERSE), "2026-12-01T00:00:00Z", rnd),
    ),
    ...baseline.slice(0, ADVISORIES / 2).map((a, n) => {
      const pkg = Number(/pkg-(\d+)/.exec(JSON.stringify(a))![1]);
      return advisory(n, pkg, "2026-12-01T00:00:00Z", rnd);
    }),
  ];
  writeFileSync(join(dir, "update.json"), JSON.stringify(update));

  let lastEmitted = 0;
  let lastEmittedCpu = process.cpuUsage();
  const timing: Sink = {
    name: "timing",
    emit: async () => {
      lastEmitted = performance.now();
      lastEmittedCpu = process.cpuUsage();
    },
  };
  // The inventory's writes timed apart from the diff and the emits: where a large change's time goes.
  const inventory = await openInventory(join(dir, "inventory"));
  const store = { seconds: 0, durableAt: 0, rows: { opened: 0, changed: 0, closed: 0 } };
  const timedInventory = new Proxy(inventory, {
    get(target, property) {
      const value = Reflect.get(target, property, target);
      if (property !== "updateFindings") return typeof value === "function" ? value.bind(target) : value;
      return async (update: FindingsUpdate) => {
        const started = performance.now();
        await target.updateFindings(update);
        store.durableAt = performance.now();
        store.seconds += (store.durableAt - started) / 1000;
        store.rows.opened += update.opened.length;
        store.rows.changed += update.changed.length;
        store.rows.closed += update.closed.length;
      };
    },
  });
  const f = await openMonitor(dir, { sinks: [timing], inventoryStore: timedInventory });
  await f.monitor.importAdvisories([join(dir, "baseline.json")]);
  const spec = Object.fromEntries(Object.keys(images).map((label, i) => [`app-${i}`, [label]]));
  const byDigest = new Map<string, unknown>();
  for (const [label, purls] of Object.entries(images)) byDigest.set(digestOf(label), cyclonedx(purls));
  const loadStart = performance.now();
  const first = await f.monitor.recordDeployment("prod", workloads("apps", spec), {
    revision: "a".repeat(40),
    verdict: "pass",
    sbomFor: async (image) => byDigest.get(image.digest),
  });
  const loadSeconds = (performance.now() - loadStart) / 1000;
  byDigest.clear();
  // As `vigil monitor` does every refreshInterval: its look at the store after its own imports.
  await f.monitor.refresh();
  console.log(
    `inventory: ${IMAGES} images, ${IMAGES * PER_IMAGE} components (${new Set(Object.values(images).flat()).size} distinct), ${first.opened.length} findings from ${ADVISORIES} stored advisories; recorded and judged in ${loadSeconds.toFixed(1)} s`,
  );

  global.gc?.();
  const rssBefore = process.memoryUsage().rss;
  const loadBefore = loadavg()[0]!;
  store.seconds = 0;
  store.rows = { opened: 0, changed: 0, closed: 0 };
  const cpuStart = process.cpuUsage();
  const start = performance.now();
  const changes = await f.monitor.importAdvisories([join(dir, "update.json")]);
  const cpu = process.cpuUsage(cpuStart);
  const emittedCpu = lastEmittedCpu.user - cpuStart.user + (lastEmittedCpu.system - cpuStart.system);
  const incremental = (lastEmitted - start) / 1000;
  const durable = (store.durableAt - start) / 1000;
  const rssAfter = process.memoryUsage().rss;
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  console.log(
    `\nimport of ${update.length} advisories (${changes.import.added} new, ${changes.import.updated} changed): ${changes.judged} distinct components judged again, ${changes.opened.length} findings opened or changed, ${changes.closed.length} closed`,
  );
  console.log(
    `  start of import to last finding emitted: ${incremental.toFixed(2)} s wall, CPU ${(emittedCpu / 1e6).toFixed(2)} s; to stored in the inventory: ${durable.toFixed(2)} s wall, CPU ${cpuSeconds.toFixed(2)} s (user ${(cpu.user / 1e6).toFixed(2)}, system ${(cpu.system / 1e6).toFixed(2)}); load average ${loadBefore.toFixed(2)} before, ${loadavg()[0]!.toFixed(2)} after`,
  );
  const step = (name: keyof StepSeconds) => `${changes.seconds[name].toFixed(2)} s (CPU ${changes.cpuSeconds[name].toFixed(2)} s)`;
  console.log(
    `  steps, wall (CPU): import into the database ${step("import")}, judging the changed components ${step("judge")}, diff + emit + store ${step("settle")}; of which storing ${store.seconds.toFixed(2)} s wall: ${store.rows.opened} places opened, ${store.rows.changed} findings whose details changed, ${store.rows.closed} closed`,
  );
  console.log(
    `  memory: RSS ${mib(rssBefore)} before, ${mib(rssAfter)} after, peak ${mib(process.resourceUsage().maxRSS * 1024)} (whole process, inventory index included)`,
  );

  const fullCpuStart = process.cpuUsage();
  const fullStart = performance.now();
  const full = await f.monitor.fullRescan();
  const fullSeconds = (performance.now() - fullStart) / 1000;
  const fullCpu = process.cpuUsage(fullCpuStart);
  const byKey = (list: MonitorFinding[]) => [...list].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const same = isDeepStrictEqual(full, f.monitor.openFindings());
  const stored = isDeepStrictEqual(byKey(await f.inventory.findings()), f.monitor.openFindings());
  console.log(
    `full rescan of the same inventory (Vigil's matcher, same store): ${fullSeconds.toFixed(2)} s wall, CPU ${((fullCpu.user + fullCpu.system) / 1e6).toFixed(2)} s, ${full.length} findings; incremental equals full: ${same}; the inventory holds exactly them: ${stored}`,
  );
  // Like for like: the full rescan judges and places every component's findings; the incremental judging does the same for the changed ones.
  console.log(
    `\nratio full rescan / incremental judging: ${(fullSeconds / changes.seconds.judge).toFixed(1)}x; full rescan / import-to-last-finding: ${(fullSeconds / incremental).toFixed(1)}x wall, ${((fullCpu.user + fullCpu.system) / 1e6 / cpuSeconds).toFixed(1)}x CPU (the full rescan figure excludes importing, storing and emitting)`,
  );
  console.log(
    `against a 24-hour rescan schedule (Trivy Operator's report TTL, Dependency-Track's daily analysis): worst-case exposure ${DAY} s vs ${incremental.toFixed(2)} s, ${Math.round(DAY / incremental)}x sooner`,
  );
  // The write path alone, in the same run on the same change: the inventory's delta (narrow place rows
  // for findings opened, one shared detail per component and advisory changed) against the previous
  // layout (one JSON document of the whole finding per finding opened or changed, upserted in one
  // transaction by a prepared statement), each into a fresh file.
  const written = changes.opened;
  const delta = await openInventory(join(dir, "write-delta"));
  const deltaStart = performance.now();
  await delta.updateFindings({ opened: written, changed: [], closed: [] });
  const deltaSeconds = (performance.now() - deltaStart) / 1000;
  await delta.close();
  const wide = new DatabaseSync(join(dir, "write-wide.sqlite"));
  wide.exec(
    "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; CREATE TABLE findings (key TEXT PRIMARY KEY, environment TEXT NOT NULL, since TEXT NOT NULL, doc TEXT NOT NULL);",
  );
  const wideStart = performance.now();
  wide.exec("BEGIN IMMEDIATE");
  const upsert = wide.prepare(
    "INSERT INTO findings (key, environment, since, doc) VALUES (?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET doc = excluded.doc",
  );
  for (const w of written) upsert.run(w.key, w.environment, w.since, JSON.stringify(w));
  wide.exec("COMMIT");
  const wideSeconds = (performance.now() - wideStart) / 1000;
  wide.close();
  console.log(
    `writing the ${written.length} findings as new into a fresh file: places + shared details ${deltaSeconds.toFixed(2)} s, one JSON document per finding ${wideSeconds.toFixed(2)} s (${(wideSeconds / deltaSeconds).toFixed(1)}x)`,
  );
  await f.close();
  if (!same || !stored) process.exitCode = 1;
} finally {
  rmSync(dir, { recursive: true, force: true });
}
