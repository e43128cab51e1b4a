// What names the monitor in configuration files: the agent's `monitor` block (the inventory it feeds,
// relative paths from the file's folder, URLs left alone, unknown fields refused naming line and field),
// and the monitor's leaderElection and refreshInterval (bad values exit 2 naming file, line and field).
import { strict as assert } from "node:assert";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { parseAgentConfig } from "../src/agent/config.ts";
import { InputError } from "../src/core/errors.ts";
import { tempDir, vigil } from "./helpers/tools.ts";

const agent = (monitor: string) => `apiVersion: vigil.dev/v1alpha1
kind: AgentConfig
trustPolicy: trust.yaml
${monitor}
environments:
  - name: prod
    source: { url: https://git.example.com/config.git }
    cluster: { inCluster: true }
    namespaces: [shop]
`;

test("the agent's monitor block: paths from the file's folder, a PostgreSQL URL as given; unknown or missing fields refused naming the line", () => {
  assert.deepEqual(parseAgentConfig(agent("monitor: { inventory: inventory }"), "/etc/vigil/agent.yaml").doc.monitor, {
    inventory: "/etc/vigil/inventory",
  });
  assert.deepEqual(
    parseAgentConfig(agent("monitor: { inventory: postgres://vigil@db.example.com/inventory }"), "/etc/vigil/agent.yaml").doc.monitor,
    { inventory: "postgres://vigil@db.example.com/inventory" },
  );
  assert.equal(parseAgentConfig(agent(""), "/etc/vigil/agent.yaml").doc.monitor, undefined, "no monitor block, nothing fed");
  assert.throws(
    () => parseAgentConfig(agent("monitor: { inventory: inventory, interval: 5s }"), "agent.yaml"),
    (e: Error) => e instanceof InputError && /agent\.yaml:4/.test(e.message) && /interval/.test(e.message),
  );
  assert.throws(
    () => parseAgentConfig(agent("monitor: {}"), "agent.yaml"),
    (e: Error) => e instanceof InputError && /agent\.yaml:4/.test(e.message) && /inventory/.test(e.message),
  );
});

test("vigil monitor: leaderElection needs exactly one of kubeconfig and inCluster, a lease of at least 2s; refreshInterval is a duration (exit 2, naming the line)", (t) => {
  const dir = tempDir(t);
  const config = join(dir, "monitor.yaml");
  const cases: [string, RegExp][] = [
    ["leaderElection: { namespace: vigil-system }", /monitor\.yaml:5.*kubeconfig or inCluster/],
    ["leaderElection: { namespace: vigil-system, kubeconfig: k, inCluster: true }", /monitor\.yaml:5.*kubeconfig or inCluster/],
    ["leaderElection: { namespace: vigil-system, inCluster: true, leaseDuration: 1s }", /monitor\.yaml:5.*shorter than 2s/],
    ["leaderElection: { namespace: Not_A_Name, inCluster: true }", /monitor\.yaml:5.*namespace/],
    ["refreshInterval: soon", /monitor\.yaml:5.*refreshInterval/],
  ];
  for (const [line, message] of cases) {
    writeFileSync(
      config,
      ["apiVersion: vigil.dev/v1alpha1", "kind: MonitorConfig", "inventory: inventory", "database: vulndb", line, ""].join("\n"),
    );
    const run = vigil(["monitor", "--config", config, "--once"]);
    assert.equal(run.status, 2, `${line}: ${run.stderr}`);
    assert.match(run.stderr, message, line);
  }
});
