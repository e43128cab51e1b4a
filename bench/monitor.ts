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
import type { Sink } from "../src/monitor/monitor.ts";
import { cyclonedx, openMonitor, osv, workloads } from "../test/helpers/monitor-fixture.ts";
import { machine } from "./lib/measure.ts";
import { openInventory, type InventoryStore } from "../src/monitor/inventory.ts";
import { DatabaseSync } from "node:sqlite";

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
  const timing: Sink = { name: "timing", emit: async () => void (lastEmitted = performance.now()) };
  // The inventory's writes timed apart from the diff and the emits: where a large change's time goes.
  const inventory = await openInventory(join(dir, "inventory"));
  let storeSeconds = 0;
  const timedInventory = new Proxy(inventory, {
    get(target, property) {
      const value = Reflect.get(target, property, target);
      if (property !== "updateFindings") return typeof value === "function" ? value.bind(target) : value;
      return async (...args: Parameters<InventoryStore["updateFindings"]>) => {
        const started = performance.now();
        await target.updateFindings(...args);
        storeSeconds += (performance.now() - started) / 1000;
      };
    },
  });
  const f = await openMonitor(dir, { sinks: [timing], inventoryStore: timedInventory });
  await f.monitor.importAdvisories([join(dir, "baseline.json")]);
  const spec = Object.fromEntries(Object.keys(images).map((label, i) => [`app-${i}`, [label]]));
  const byDigest = new Map<string, unknown>();
  const { digestOf } = await import("../test/helpers/monitor-fixture.ts");
  for (const [label, purls] of Object.entries(images)) byDigest.set(digestOf(label), cyclonedx(purls));
  const loadStart = performance.now();
  const first = await f.monitor.recordDeployment("prod", workloads("apps", spec), {
    revision: "a".repeat(40),
    verdict: "pass",
    sbomFor: async (image) => byDigest.get(image.digest),
  });
  const loadSeconds = (performance.now() - loadStart) / 1000;
  byDigest.clear();
  console.log(
    `inventory: ${IMAGES} images, ${IMAGES * PER_IMAGE} components (${new Set(Object.values(images).flat()).size} distinct), ${first.opened.length} findings from ${ADVISORIES} stored advisories; recorded and judged in ${loadSeconds.toFixed(1)} s`,
  );

  global.gc?.();
  const rssBefore = process.memoryUsage().rss;
  const start = performance.now();
  storeSeconds = 0;
  const changes = await f.monitor.importAdvisories([join(dir, "update.json")]);
  const incremental = (lastEmitted - start) / 1000;
  const rssAfter = process.memoryUsage().rss;
  console.log(
    `\nimport of ${update.length} advisories (${changes.import.added} new, ${changes.import.updated} changed): ${changes.judged} distinct components judged again, ${changes.opened.length} findings opened or changed, ${changes.closed.length} closed`,
  );
  console.log(
    `  start of import to last finding emitted: ${incremental.toFixed(2)} s (import into the database ${changes.seconds.import.toFixed(2)} s, judging the changed components ${changes.seconds.judge.toFixed(2)} s, diff + store in the inventory + emit ${changes.seconds.settle.toFixed(2)} s, of which storing ${storeSeconds.toFixed(2)} s: ${Math.round((storeSeconds / Math.max(1, changes.opened.length + changes.closed.length)) * 1e6)} µs per finding written)`,
  );
  console.log(
    `  memory: RSS ${mib(rssBefore)} before, ${mib(rssAfter)} after, peak ${mib(process.resourceUsage().maxRSS * 1024)} (whole process, inventory index included)`,
  );

  const fullStart = performance.now();
  const full = await f.monitor.fullRescan();
  const fullSeconds = (performance.now() - fullStart) / 1000;
  const same = isDeepStrictEqual(full, f.monitor.openFindings());
  console.log(
    `full rescan of the same inventory (Vigil's matcher, same store): ${fullSeconds.toFixed(2)} s, ${full.length} findings; incremental equals full: ${same}`,
  );
  // Like for like: the full rescan judges and places every component's findings; the incremental judging does the same for the changed ones.
  console.log(
    `\nratio full rescan / incremental judging: ${(fullSeconds / changes.seconds.judge).toFixed(1)}x; full rescan / import-to-last-finding: ${(fullSeconds / incremental).toFixed(1)}x (the full rescan figure excludes storing and emitting)`,
  );
  console.log(
    `against a 24-hour rescan schedule (Trivy Operator's report TTL, Dependency-Track's daily analysis): worst-case exposure ${DAY} s vs ${incremental.toFixed(2)} s, ${Math.round(DAY / incremental)}x sooner`,
  );
  // The write path alone, in the same run on the same findings: the inventory's batched writes (one
  // transaction, multi-row statements prepared once per size) against one prepared single-row statement
  // per finding in one transaction (how the inventory wrote them before), each into a fresh inventory.
  const written = changes.opened;
  const batched = await openInventory(join(dir, "write-batched"));
  const batchedStart = performance.now();
  await batched.updateFindings(written, []);
  const batchedSeconds = (performance.now() - batchedStart) / 1000;
  await batched.close();
  const single = new DatabaseSync(join(dir, "write-single.sqlite"));
  single.exec(
    "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; CREATE TABLE vigil_monitor_findings (key TEXT PRIMARY KEY, environment TEXT NOT NULL, since TEXT NOT NULL, doc TEXT NOT NULL);",
  );
  const singleStart = performance.now();
  single.exec("BEGIN IMMEDIATE");
  const upsert = single.prepare(
    "INSERT INTO vigil_monitor_findings (key, environment, since, doc) VALUES (?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET doc = excluded.doc",
  );
  for (const w of written) upsert.run(w.key, w.environment, w.since, JSON.stringify(w));
  single.exec("COMMIT");
  const singleSeconds = (performance.now() - singleStart) / 1000;
  single.close();
  console.log(
    `writing the ${written.length} findings alone into a fresh inventory: batched ${batchedSeconds.toFixed(2)} s, single-row statements ${singleSeconds.toFixed(2)} s (${(singleSeconds / batchedSeconds).toFixed(1)}x)`,
  );
  await f.close();
  if (!same) process.exitCode = 1;
} finally {
  rmSync(dir, { recursive: true, force: true });
}
