// vigil monitor and vigil findings as users run them: the configuration checked strictly (exit 2 naming
// file, line and field), --once judging the inventory and importing the feeds (exit 1 with open
// findings), and vigil findings' table, --json, --env and --since.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { feed, openMonitor, osv, sboms, workloads } from "./helpers/monitor-fixture.ts";
import { tempDir, vigil } from "./helpers/tools.ts";

const images = { "web:1": ["pkg:npm/lodash@4.17.20"], "api:1": ["pkg:npm/minimist@1.2.0"] };

async function setUp(dir: string): Promise<string> {
  const f = await openMonitor(dir);
  await f.monitor.recordDeployment("staging", workloads("shop", { web: ["web:1"], api: ["api:1"] }), {
    revision: "a".repeat(40),
    verdict: "pass",
    sbomFor: sboms(images),
  });
  await f.monitor.recordDeployment("prod", workloads("shop", { web: ["web:1"] }), {
    revision: "b".repeat(40),
    verdict: "pass",
    sbomFor: sboms(images),
  });
  await f.close();
  feed(join(dir, "feed"), [
    osv({
      id: "GHSA-lodash-0001",
      modified: "2026-11-01T00:00:00Z",
      ecosystem: "npm",
      name: "lodash",
      fixed: "4.17.21",
      severity: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
    }),
    osv({ id: "GHSA-minimist-0001", modified: "2026-11-01T00:00:00Z", ecosystem: "npm", name: "minimist", fixed: "1.2.6" }),
  ]);
  const config = join(dir, "monitor.yaml");
  writeFileSync(
    config,
    ["apiVersion: vigil.dev/v1alpha1", "kind: MonitorConfig", "inventory: inventory", "database: vulndb", "feeds: [feed]", ""].join("\n"),
  );
  return config;
}

test("vigil monitor --once imports the feeds, prints what opened, and exits 1 with open findings; vigil findings lists them", async (t) => {
  const dir = tempDir(t);
  const config = await setUp(dir);
  const once = vigil(["monitor", "--config", config, "--once"]);
  assert.equal(once.status, 1, once.stderr);
  const lines = once.stdout
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l));
  assert.deepEqual(
    lines.map((l) => l.trigger),
    ["start", "advisories"],
  );
  assert.equal(lines[1].opened.length, 3);

  const listed = vigil(["findings", "--config", config, "--json"]);
  assert.equal(listed.status, 1);
  assert.deepEqual(
    listed.json().findings.map((f: any) => `${f.environment} ${f.workload} ${f.advisory} ${f.severity}`),
    [
      "prod Deployment shop/web GHSA-lodash-0001 critical",
      "staging Deployment shop/api GHSA-minimist-0001 unknown",
      "staging Deployment shop/web GHSA-lodash-0001 critical",
    ],
  );
  const prod = vigil(["findings", "--inventory", join(dir, "inventory"), "--env", "prod"]);
  assert.equal(prod.status, 1);
  assert.match(prod.stdout, /^ENVIRONMENT\s+WORKLOAD\s+IMAGE\s+SUBJECT\s+RULE\s+SEVERITY\s+FIXED\s+SINCE\s+ACTION/);
  assert.match(
    prod.stdout,
    /prod\s+Deployment shop\/web\s+registry\.example\.com\/team\/web:1@sha256:\S+\s+pkg:npm\/lodash@4\.17\.20\s+GHSA-lodash-0001\s+critical\s+4\.17\.21/,
  );
  assert.match(prod.stdout, /1 open finding\n$/);

  const future = vigil(["findings", "--config", config, "--since", "2999-01-01T00:00:00Z"]);
  assert.equal(future.status, 0);
  assert.equal(future.stdout, "no open findings\n");

  const again = vigil(["monitor", "--config", config, "--once"]);
  assert.equal(again.status, 1);
  assert.deepEqual(
    again.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l).opened.length),
    [0, 0],
    "nothing new on a second run",
  );
});

test("bad input exits 2 naming the file, line and field", async (t) => {
  const dir = tempDir(t);
  const config = join(dir, "monitor.yaml");
  writeFileSync(
    config,
    [
      "apiVersion: vigil.dev/v1alpha1",
      "kind: MonitorConfig",
      "inventory: inventory",
      "database: vulndb",
      "feedz: [feed]",
      "clusters:",
      "  - environment: prod",
      "    interval: soon",
      "",
    ].join("\n"),
  );
  const bad = vigil(["monitor", "--config", config, "--once"]);
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /monitor\.yaml:5.*unknown field "feedz"/);
  assert.match(bad.stderr, /monitor\.yaml:8.*interval: must be a duration/);

  mkdirSync(join(dir, "feed"));
  writeFileSync(
    config,
    [
      "apiVersion: vigil.dev/v1alpha1",
      "kind: MonitorConfig",
      "inventory: inventory",
      "database: vulndb",
      "feeds: [feed, no-such-feed]",
      "",
    ].join("\n"),
  );
  const noFeed = vigil(["monitor", "--config", config, "--once"]);
  assert.equal(noFeed.status, 2);
  assert.match(noFeed.stderr, /monitor\.yaml:5.*no-such-feed does not exist/);

  const missing = vigil(["monitor"]);
  assert.equal(missing.status, 2);
  assert.match(missing.stderr, /--config is required/);

  const noInventory = vigil(["findings"]);
  assert.equal(noInventory.status, 2);
  const since = vigil(["findings", "--inventory", join(dir, "inv"), "--since", "last week"]);
  assert.equal(since.status, 2);
  assert.match(since.stderr, /--since: "last week" is not an RFC 3339 UTC time/);

  for (const words of [["monitor"], ["findings"]]) {
    const help = vigil([...words, "--help"]);
    assert.equal(help.status, 0);
    assert.match(help.stdout, /usage: vigil /);
  }
});

test("vigil monitor watches its feed folder: an advisory written there is a finding on the next line; SIGTERM stops it (exit 0)", async (t) => {
  const dir = tempDir(t);
  const config = await setUp(dir);
  const child = spawn(process.execPath, [new URL("../src/cli/main.ts", import.meta.url).pathname, "monitor", "--config", config], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  t.after(() => child.kill("SIGKILL"));
  const lines: any[] = [];
  let stderr = "";
  child.stderr.on("data", (d) => (stderr += d));
  const waitFor = (n: number) =>
    new Promise<void>((resolve, reject) => {
      let buffered = "";
      const timer = setTimeout(
        () =>
          reject(
            new Error(
              `timed out waiting for line ${n}: ${JSON.stringify(lines.map((l) => l.trigger))} ${buffered.slice(0, 300)} ${stderr}`,
            ),
          ),
        30_000,
      );
      const onData = (d: Buffer) => {
        buffered += d.toString();
        for (let i; (i = buffered.indexOf("\n")) >= 0; buffered = buffered.slice(i + 1)) lines.push(JSON.parse(buffered.slice(0, i)));
        if (lines.length >= n) {
          clearTimeout(timer);
          child.stdout.off("data", onData);
          resolve();
        }
      };
      child.stdout.on("data", onData);
    });
  await waitFor(2);
  feed(join(dir, "feed"), [
    osv({ id: "GHSA-lodash-0002", modified: "2026-12-01T00:00:00Z", ecosystem: "npm", name: "lodash", fixed: "4.18.0" }),
  ]);
  await waitFor(3);
  assert.deepEqual(lines[2].opened.map((f: any) => `${f.environment} ${f.rule}`).sort(), [
    "prod GHSA-lodash-0002",
    "staging GHSA-lodash-0002",
  ]);
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  child.kill("SIGTERM");
  assert.equal(await exited, 0, stderr);
});
