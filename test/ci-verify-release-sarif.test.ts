// vigil verify release -o sarif, the pre-merge check for code scanning: a release that passes gives a
// SARIF 2.1.0 log with no results (exit 0); a commit by an untrusted key gives an error result for its
// rule, located (at the trust policy when the check names no file, since code scanning shows only located
// results), with exit 1; an unknown format is exit 2.
import assert from "node:assert/strict";
import { test } from "node:test";
import { approvalsFixture } from "./helpers/approvals-fixture.ts";
import { requireTools, vigil } from "./helpers/tools.ts";

const tools = ["git", "ssh-keygen"];

test("verify release -o sarif: no results when the release passes, an error result per failing check when it does not", (t) => {
  if (!requireTools(t, tools)) return;
  const f = approvalsFixture(t);
  const good = f.repo.commit({ "envs/staging/app.yaml": "kind: ConfigMap\n" }, f.alice);
  const release = (rev: string, ...more: string[]) =>
    vigil(["verify", "release", "--repo", f.repo.dir, "--trust", f.trust, "--env", "staging", "--rev", rev, ...more]);

  const passing = release(good, "-o", "sarif");
  assert.equal(passing.status, 0, passing.stderr);
  const clean = JSON.parse(passing.stdout);
  assert.equal(clean.version, "2.1.0");
  assert.equal(clean.runs[0].tool.driver.name, "vigil");
  assert.deepEqual(clean.runs[0].results, []);

  const bad = f.repo.commit({ "envs/staging/app.yaml": "kind: Secret\n" }, f.mallory);
  const failing = release(bad, "--output", "sarif");
  assert.equal(failing.status, 1, failing.stderr);
  const log = JSON.parse(failing.stdout);
  const results = log.runs[0].results as {
    ruleId: string;
    level: string;
    message: { text: string };
    properties: { gate: string; code: string };
    locations: { physicalLocation: { artifactLocation: { uri: string }; region: { startLine: number } } }[];
  }[];
  const signature = results.find((r) => r.ruleId === "commit-signature");
  assert.ok(signature, JSON.stringify(results));
  assert.equal(signature.level, "error");
  assert.deepEqual(signature.properties, { gate: "revision", code: "untrusted-key" }, "the reason as a code, as in --json");
  assert.ok(signature.message.text.startsWith(bad));
  assert.equal(signature.locations[0]!.physicalLocation.artifactLocation.uri, f.trust);
  assert.equal(signature.locations[0]!.physicalLocation.region.startLine, 1);
  assert.ok(log.runs[0].tool.driver.rules.some((r: { id: string }) => r.id === "commit-signature"));
  // The same verdict as --json: SARIF lists exactly its failing and warning checks.
  const json = release(bad, "--json").json();
  assert.equal(results.length, json.checks.filter((c: { status: string }) => c.status === "fail" || c.status === "warn").length);

  const unknown = release(good, "-o", "xml");
  assert.equal(unknown.status, 2);
  assert.match(unknown.stderr, /-o must be table, json or sarif, not "xml"/);
});
