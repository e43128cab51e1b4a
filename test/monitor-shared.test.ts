// Monitors and other processes sharing one inventory and advisory database. Two `vigil monitor`
// processes elect one leader on a Lease of a real API server: only the leader emits findings, each
// finding once; when it stops, the other takes over without emitting them again. A running monitor
// notices a `vigil db import` run by another process, and a deployment recorded by another process (the
// agent), and its findings then equal a full rescan's.
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test, type TestContext } from "node:test";
import { isDeepStrictEqual } from "node:util";
import { agentTestCluster } from "./helpers/agent.ts";
import { requireKube } from "./helpers/kube.ts";
import { feed, openMonitor, osv, sboms, workloads } from "./helpers/monitor-fixture.ts";
import { tempDir, vigil } from "./helpers/tools.ts";

const images = { "web:1": ["pkg:npm/lodash@4.17.20"], "api:1": ["pkg:npm/minimist@1.2.0"] };
const cli = new URL("../src/cli/main.ts", import.meta.url).pathname;

/** A `vigil monitor` process: its JSON lines as they come, its stderr, and a wait for a condition on them. */
class MonitorProcess {
  readonly lines: any[] = [];
  stderr = "";
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;
  #waiters: (() => void)[] = [];

  constructor(t: TestContext, config: string) {
    this.child = spawn(process.execPath, [cli, "monitor", "--config", config], { stdio: ["ignore", "pipe", "pipe"] });
    t.after(() => this.child.kill("SIGKILL"));
    this.exited = new Promise((resolve) => this.child.on("exit", (code) => resolve(code)));
    let buffered = "";
    this.child.stdout!.on("data", (d: Buffer) => {
      buffered += d.toString();
      for (let i; (i = buffered.indexOf("\n")) >= 0; buffered = buffered.slice(i + 1)) this.lines.push(JSON.parse(buffered.slice(0, i)));
      this.#wake();
    });
    this.child.stderr!.on("data", (d: Buffer) => {
      this.stderr += d;
      this.#wake();
    });
  }

  #wake(): void {
    for (const w of this.#waiters.splice(0)) w();
  }

  /** Resolves when `condition` holds; fails after 30 s saying what was seen. */
  async until(condition: () => boolean | Promise<boolean>, what: string): Promise<void> {
    const deadline = Date.now() + 30_000;
    while (!(await condition())) {
      if (Date.now() > deadline)
        throw new Error(`timed out waiting for ${what}: ${JSON.stringify(this.lines.map((l) => l.trigger))} ${this.stderr}`);
      await new Promise<void>((resolve) => {
        this.#waiters.push(resolve);
        setTimeout(resolve, 200);
      });
    }
  }

  /** Every finding this process emitted as opened, as "environment rule". */
  opened(): string[] {
    return this.lines.flatMap((l) => l.opened.map((f: any) => `${f.environment} ${f.rule}`));
  }
}

async function inventoryWithDeployments(dir: string): Promise<void> {
  const f = await openMonitor(dir);
  await f.monitor.recordDeployment("prod", workloads("shop", { web: ["web:1"], api: ["api:1"] }), {
    revision: "a".repeat(40),
    verdict: "pass",
    sbomFor: sboms(images),
  });
  await f.close();
}

test("two monitors on one inventory: only the Lease holder emits, each finding once; the other takes over when it stops", async (t) => {
  if (!requireKube(t)) return;
  const { cluster } = await agentTestCluster(t, "vigil-system");
  const dir = tempDir(t);
  await inventoryWithDeployments(dir);
  const feedDir = join(dir, "feed");
  mkdirSync(feedDir);
  const config = join(dir, "monitor.yaml");
  writeFileSync(
    config,
    [
      "apiVersion: vigil.dev/v1alpha1",
      "kind: MonitorConfig",
      "inventory: inventory",
      "database: vulndb",
      "feeds: [feed]",
      `leaderElection: { namespace: vigil-system, kubeconfig: ${cluster.admin.kubeconfigPath}, leaseDuration: 3s }`,
      "refreshInterval: 1s",
      "",
    ].join("\n"),
  );

  const first = new MonitorProcess(t, config);
  await first.until(() => /holds the Lease/.test(first.stderr) && first.lines.length >= 2, "the first monitor to lead and start");
  const second = new MonitorProcess(t, config);
  await second.until(() => /waiting for the Lease/.test(second.stderr), "the second monitor to wait");

  feed(feedDir, [osv({ id: "GHSA-lodash-0001", modified: "2026-11-01T00:00:00Z", ecosystem: "npm", name: "lodash", fixed: "4.17.21" })]);
  await first.until(() => first.opened().includes("prod GHSA-lodash-0001"), "the leader's finding");
  assert.deepEqual(second.lines, [], "the waiting monitor emits nothing");

  first.child.kill("SIGTERM");
  assert.equal(await first.exited, 0, first.stderr);
  await second.until(
    () => /holds the Lease/.test(second.stderr) && second.lines.some((l) => l.trigger === "advisories"),
    "the second monitor to take over",
  );
  feed(feedDir, [osv({ id: "GHSA-minimist-0001", modified: "2026-11-01T00:00:00Z", ecosystem: "npm", name: "minimist", fixed: "1.2.6" })]);
  await second.until(() => second.opened().includes("prod GHSA-minimist-0001"), "the new leader's finding");
  const all = [...first.opened(), ...second.opened()].sort();
  assert.deepEqual(all, ["prod GHSA-lodash-0001", "prod GHSA-minimist-0001"], "each finding emitted once, by whichever monitor led");
  second.child.kill("SIGTERM");
  assert.equal(await second.exited, 0, second.stderr);
});

test("a running monitor notices a vigil db import run by another process and a deployment recorded elsewhere; its findings equal a full rescan", async (t) => {
  const dir = tempDir(t);
  await inventoryWithDeployments(dir);
  const config = join(dir, "monitor.yaml");
  writeFileSync(
    config,
    ["apiVersion: vigil.dev/v1alpha1", "kind: MonitorConfig", "inventory: inventory", "database: vulndb", "refreshInterval: 1s", ""].join(
      "\n",
    ),
  );
  const running = new MonitorProcess(t, config);
  await running.until(() => running.lines.length >= 1, "the monitor to start");

  const elsewhere = feed(join(dir, "elsewhere"), [
    osv({ id: "GHSA-lodash-0001", modified: "2026-11-01T00:00:00Z", ecosystem: "npm", name: "lodash", fixed: "4.17.21" }),
    osv({ id: "GHSA-minimist-0001", modified: "2026-11-01T00:00:00Z", ecosystem: "npm", name: "minimist", fixed: "1.2.6" }),
  ]);
  const imported = vigil(["db", "import", elsewhere, "--db", join(dir, "vulndb")]);
  assert.equal(imported.status, 0, imported.stderr);
  await running.until(
    () => running.lines.some((l) => l.trigger === "advisories imported elsewhere" && l.opened.length > 0),
    "the import to be noticed",
  );
  assert.deepEqual(running.opened().sort(), ["prod GHSA-lodash-0001", "prod GHSA-minimist-0001"]);

  // The agent (another process) records a deployment that no longer runs lodash.
  const agent = await openMonitor(dir);
  await agent.monitor.recordDeployment("prod", workloads("shop", { api: ["api:1"] }), {
    revision: "b".repeat(40),
    verdict: "pass",
    sbomFor: sboms(images),
  });
  await running.until(
    () => running.lines.some((l) => /recorded elsewhere/.test(l.trigger) && l.closed.length > 0),
    "the deployment to be noticed",
  );
  const keys = (list: { key: string; type: string }[]) =>
    list
      .filter((f) => f.type === "advisory")
      .map((f) => f.key)
      .sort();
  // The line is printed as soon as the change is known; the inventory stores it right after.
  const full = keys(await agent.monitor.fullRescan());
  await running.until(async () => isDeepStrictEqual(keys(await agent.inventory.findings()), full), "what is stored to equal a full rescan");
  assert.deepEqual(keys(await agent.inventory.findings()).length, 1, "minimist still runs in api");
  await agent.close();
  running.child.kill("SIGTERM");
  assert.equal(await running.exited, 0, running.stderr);
});
