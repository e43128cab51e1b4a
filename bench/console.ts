// Benchmark (issue 23): the console's page loads in Debian's Chromium with 1,000 resources in an
// environment and 100,000 entries in the audit log. For each page, a full load (document, scripts, API
// calls, rendering) until its content is on screen, median of --runs; the API call behind it alone; the
// console's start (the log verified from its first entry to the latest checkpoint, and indexed). The
// target is 1 s per page; no peer runs here (Argo CD's UI needs a container engine and a cluster of its
// own), so figures are given as a ratio to that target.
//   node bench/console.ts [--resources 1000] [--entries 100000] [--runs 5] [--dir PATH]
import { existsSync, mkdirSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { Agent, fetch } from "undici";
import { loadConsoleConfig } from "../src/console/config.ts";
import { startConsole } from "../src/console/server.ts";
import { CHROMIUM, openChromium } from "../test/helpers/browser.ts";
import { makeConsoleFixture } from "../test/helpers/console-fixture.ts";
import { machine, median } from "./lib/measure.ts";

const { values } = parseArgs({
  options: {
    resources: { type: "string", default: "1000" },
    entries: { type: "string", default: "100000" },
    runs: { type: "string", default: "5" },
    dir: { type: "string" },
  },
});
const resources = Number(values.resources);
const entries = Number(values.entries);
const runs = Number(values.runs);
const dir = values.dir ?? join(resolve(import.meta.dirname, ".."), ".cache", "bench", "console");
const FIXTURE_ENTRIES = 9;

rmSync(dir, { recursive: true, force: true });
mkdirSync(dir, { recursive: true });
const cleanups: (() => unknown)[] = [];
const scope = { after: (fn: () => unknown) => void cleanups.push(fn) };
try {
  console.log(`machine: ${machine()}`);
  let t0 = performance.now();
  const world = await makeConsoleFixture(dir, { resources, filler: Math.max(0, entries - FIXTURE_ENTRIES) });
  console.log(
    `world: ${resources} resources per environment, ${entries} log entries, written in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
  );

  t0 = performance.now();
  const running = await startConsole(loadConsoleConfig(world.configFile));
  cleanups.push(() => running.close());
  console.log(
    `console start (verify ${entries} entries against the latest checkpoint, index them): ${((performance.now() - t0) / 1000).toFixed(2)} s`,
  );

  const dispatcher = new Agent({ connect: { ca: running.certificate } });
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: run node scripts/setup.ts`);
  const context = await openChromium(scope);
  const page = await context.newPage();
  await page.goto(running.url);
  await page.getByLabel(/Bearer token/).fill(world.tokens.auditor);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("heading", { name: "Environments" }).waitFor();

  const pages: { name: string; hash: string; api: string; ready: string }[] = [
    { name: "environments", hash: "#/", api: "environments", ready: "section.card dl" },
    {
      name: `environment (${resources} resources)`,
      hash: "#/env/prod",
      api: "environments/prod",
      ready: `#resources tbody tr:nth-child(${Math.min(resources, 200)})`,
    },
    {
      name: "why is this running (explain)",
      hash: `#/explain?env=prod&target=${encodeURIComponent("Deployment/shop/web")}`,
      api: `explain?env=prod&target=${encodeURIComponent("Deployment/shop/web")}`,
      ready: "[data-proof=verified]",
    },
    { name: "entry with proof", hash: "#/entry/5", api: "entries/5", ready: "[data-proof=verified]" },
    { name: "findings", hash: "#/findings", api: "findings", ready: "svg.plot" },
    { name: "approvals", hash: "#/approvals", api: "approvals", ready: "main pre" },
    { name: `audit log (newest of ${entries})`, hash: "#/audit", api: "audit/search", ready: "main table tbody tr" },
    {
      name: "audit search (person, whole log)",
      hash: "#/audit?person=carol",
      api: "audit/search?person=carol",
      ready: "main table tbody tr",
    },
  ];
  const rows: string[] = [];
  for (const p of pages) {
    const loads: number[] = [];
    const calls: number[] = [];
    for (let i = 0; i < runs; i++) {
      await page.goto("about:blank");
      const start = performance.now();
      await page.goto(running.url + p.hash);
      await page.locator(p.ready).first().waitFor({ timeout: 60_000 });
      loads.push(performance.now() - start);
      const c = performance.now();
      const r = await fetch(new URL(`/api/v1/${p.api}`, running.url), {
        dispatcher,
        headers: { authorization: `Bearer ${world.tokens.auditor}` },
      });
      await r.arrayBuffer();
      calls.push(performance.now() - c);
    }
    const load = median(loads);
    rows.push(`| ${p.name} | ${load.toFixed(0)} | ${median(calls).toFixed(0)} | ${(load / 1000).toFixed(2)} |`);
  }
  if (resources > 200) {
    // What the environment page defers: the rest of its rows, drawn when asked for.
    const draws: number[] = [];
    for (let i = 0; i < runs; i++) {
      await page.goto("about:blank");
      await page.goto(`${running.url}#/env/prod`);
      await page.getByRole("button", { name: `Show all ${resources}` }).waitFor();
      const start = performance.now();
      await page.getByRole("button", { name: `Show all ${resources}` }).click();
      await page.locator(`#resources tbody tr:nth-child(${resources})`).waitFor();
      draws.push(performance.now() - start);
    }
    rows.push(
      `| environment: Show all ${resources} (drawing the other ${resources - 200} rows) | ${median(draws).toFixed(0)} | – | ${(median(draws) / 1000).toFixed(2)} |`,
    );
  }
  console.log(`\npage loads in Chromium ${(await context.browser()?.version()) ?? ""} (median of ${runs}):\n`);
  console.log("| page | full load, ms | its API call, ms | ratio to the 1 s target |");
  console.log("|---|---|---|---|");
  for (const r of rows) console.log(r);
} finally {
  for (const c of cleanups.reverse()) await c();
}
