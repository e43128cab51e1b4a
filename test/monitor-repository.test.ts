// Unusual activity in the configuration repository, on a real signed repository: commits by a signer the
// trust policy does not know, a trust-policy change proposed on a branch, a tag named as an environment's
// branch, a refs/vigil/ ref deleted, and a force-push that leaves the deployed revision unreachable (closed
// again when it is reachable). A first look only records the refs.
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { loadTrustPolicyFile } from "../src/trust/policy.ts";
import { openRepo } from "../src/git/repo.ts";
import { SshSigner, soleOwnerPolicy, TestRepo } from "./helpers/git-fixture.ts";
import { openMonitor, sboms, workloads } from "./helpers/monitor-fixture.ts";
import { requireTools, tempDir, vigil } from "./helpers/tools.ts";

test("repository activity: unknown signers, trust-policy proposals, protected names, refs/vigil deletions and force-pushes", async (t) => {
  if (!requireTools(t, ["git", "ssh-keygen"])) return;
  const dir = tempDir(t);
  const alice = new SshSigner(dir, "alice");
  const mallory = new SshSigner(dir, "mallory");
  const policy = await loadTrustPolicyFile(soleOwnerPolicy(join(dir, "trust.yaml"), alice, "prod"));
  const repo = new TestRepo(join(dir, "config"));
  const first = repo.commit({ "envs/prod/app.yaml": "a: 1\n" }, alice);
  const deployed = repo.commit({ "envs/prod/app.yaml": "a: 2\n" }, alice);
  repo.git("update-ref", "refs/vigil/approvals/prod/1", deployed);
  const opened = await openRepo(join(dir, "config"));
  t.after(() => opened.close());
  const f = await openMonitor(dir);
  t.after(() => f.close());
  await f.monitor.recordDeployment("prod", workloads("shop", { web: ["web:1"] }), {
    revision: deployed,
    verdict: "pass",
    sbomFor: sboms({}),
  });

  assert.deepEqual((await f.monitor.checkRepository(opened, policy)).opened, [], "a first look records the refs");

  repo.git("checkout", "-q", "-b", "feature");
  const unknown = repo.commit({ "envs/prod/app.yaml": "a: 3\n" }, mallory);
  const proposal = repo.commit({ ".vigil/trust.yaml": "apiVersion: vigil.dev/v1alpha1\n" }, alice);
  repo.git("checkout", "-q", "main");
  repo.git("tag", "main", first);
  repo.git("update-ref", "-d", "refs/vigil/approvals/prod/1");
  const activity = await f.monitor.checkRepository(opened, policy);
  assert.deepEqual(activity.opened.map((x) => `${x.rule} ${x.workload} ${x.subject}`).sort(), [
    `protected-name-created refs/tags/main ${first}`,
    `trust-policy-proposed refs/heads/feature ${proposal}`,
    `unknown-signer refs/heads/feature ${unknown}`,
    `vigil-ref-deleted refs/vigil/approvals/prod/1 ${deployed}`,
  ]);
  assert.ok(activity.opened.every((x) => x.type === "repository"));
  assert.deepEqual((await f.monitor.checkRepository(opened, policy)).opened, [], "nothing new: nothing reported again");

  repo.git("update-ref", "refs/heads/main", first);
  const forced = await f.monitor.checkRepository(opened, policy);
  assert.deepEqual(
    forced.opened.map((x) => `${x.environment} ${x.rule} ${x.subject}`),
    [`prod revision-unreachable ${deployed}`],
  );
  assert.match(forced.opened[0]!.action, /no longer reachable from main \(now [0-9a-f]{40}\): history was rewritten/);

  repo.git("update-ref", "refs/heads/main", deployed);
  const restored = await f.monitor.checkRepository(opened, policy);
  assert.deepEqual(
    restored.closed.map((x) => x.rule),
    ["revision-unreachable"],
  );
  assert.equal(f.monitor.openFindings().filter((x) => x.type === "repository").length, 4, "events stay open until someone closes them");
});

test("vigil monitor --once looks at the repository: the second run reports what changed since the first", async (t) => {
  if (!requireTools(t, ["git", "ssh-keygen"])) return;
  const dir = tempDir(t);
  const alice = new SshSigner(dir, "alice");
  const mallory = new SshSigner(dir, "mallory");
  soleOwnerPolicy(join(dir, "trust.yaml"), alice, "prod");
  const repo = new TestRepo(join(dir, "config"));
  repo.commit({ "envs/prod/app.yaml": "a: 1\n" }, alice);
  const config = join(dir, "monitor.yaml");
  writeFileSync(
    config,
    [
      "apiVersion: vigil.dev/v1alpha1",
      "kind: MonitorConfig",
      "inventory: inventory",
      "database: vulndb",
      "trustPolicy: trust.yaml",
      "repository: { location: config }",
      "",
    ].join("\n"),
  );
  assert.equal(vigil(["monitor", "--config", config, "--once"]).status, 0);
  const pushed = repo.commit({ "envs/prod/app.yaml": "a: 2\n" }, mallory);
  const second = vigil(["monitor", "--config", config, "--once"]);
  assert.equal(second.status, 1, second.stderr);
  const line = second.stdout
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l))
    .find((l) => l.trigger.startsWith("repository"));
  assert.deepEqual(
    line.opened.map((x: any) => `${x.rule} ${x.subject}`),
    [`unknown-signer ${pushed}`],
  );

  writeFileSync(
    config,
    [
      "apiVersion: vigil.dev/v1alpha1",
      "kind: MonitorConfig",
      "inventory: inventory",
      "database: vulndb",
      "repository: { location: config }",
      "",
    ].join("\n"),
  );
  const noPolicy = vigil(["monitor", "--config", config, "--once"]);
  assert.equal(noPolicy.status, 2);
  assert.match(noPolicy.stderr, /monitor\.yaml:5 repository: watching the repository needs trustPolicy/);
});
