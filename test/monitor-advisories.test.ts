// The monitor's advisory trigger: an import judges again only the deployed components the changed
// advisories name, and what it finds is exactly what a full rescan of the same inventory finds.
import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import { openAuditLog } from "../src/audit/index.ts";
import { auditSink } from "../src/monitor/sinks.ts";
import type { FindingChanges, Sink } from "../src/monitor/monitor.ts";
import { makeLogKey } from "./helpers/audit.ts";
import { digestOf, feed, FIXED_TIME, openMonitor, osv, sboms, workloads } from "./helpers/monitor-fixture.ts";
import { tempDir } from "./helpers/tools.ts";

const HIGH = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N";

const images = {
  "web:1": ["pkg:npm/lodash@4.17.20", "pkg:npm/express@4.18.0"],
  "worker:1": ["pkg:npm/lodash@4.17.21", "pkg:npm/left-pad@1.0.0"],
};

async function deployed(dir: string, sinks: Sink[] = []) {
  const f = await openMonitor(dir, { sinks });
  await f.monitor.recordDeployment("staging", workloads("shop", { web: ["web:1"], worker: ["worker:1"] }), {
    revision: "a".repeat(40),
    verdict: "pass",
    sbomFor: sboms(images),
  });
  await f.monitor.recordDeployment("prod", workloads("shop", { web: ["web:1"] }), {
    revision: "b".repeat(40),
    verdict: "pass",
    sbomFor: sboms(images),
  });
  return f;
}

const where = (c: FindingChanges) => c.opened.map((f) => `${f.environment} ${f.workload} ${f.purl} ${f.advisory}`).sort();

test("a new advisory opens findings where its package runs, judging only that package; equal to a full rescan", async (t) => {
  const dir = tempDir(t);
  const f = await deployed(dir);
  t.after(() => f.close());
  const changes = await f.monitor.importAdvisories([
    feed(join(dir, "feed1"), [
      osv({ id: "GHSA-lodash-0001", modified: "2026-11-01T00:00:00Z", ecosystem: "npm", name: "lodash", fixed: "4.17.21", severity: HIGH }),
    ]),
  ]);
  assert.deepEqual(where(changes), [
    "prod Deployment shop/web pkg:npm/lodash@4.17.20 GHSA-lodash-0001",
    "staging Deployment shop/web pkg:npm/lodash@4.17.20 GHSA-lodash-0001",
  ]);
  assert.equal(changes.judged, 2, "only lodash's two versions are judged again, not express or left-pad");
  const finding = changes.opened[0]!;
  assert.equal(finding.severity, "high");
  assert.deepEqual(finding.fixed, ["4.17.21"]);
  assert.equal(finding.since, "2026-12-01T10:00:00Z");
  assert.equal(finding.action, "upgrade lodash to 4.17.21 in the image and deploy its new digest");
  assert.match(finding.image, /^registry\.example\.com\/team\/web:1@sha256:/);
  assert.deepEqual(f.monitor.openFindings(), await f.monitor.fullRescan());
});

test("a changed advisory updates and widens its findings, a withdrawn one closes them; each equal to a full rescan", async (t) => {
  const dir = tempDir(t);
  const f = await deployed(dir);
  t.after(() => f.close());
  await f.monitor.importAdvisories([
    feed(join(dir, "feed1"), [
      osv({ id: "GHSA-lodash-0001", modified: "2026-11-01T00:00:00Z", ecosystem: "npm", name: "lodash", fixed: "4.17.21", severity: HIGH }),
    ]),
  ]);

  const widened = await f.monitor.importAdvisories([
    feed(join(dir, "feed2"), [
      osv({ id: "GHSA-lodash-0001", modified: "2026-11-02T00:00:00Z", ecosystem: "npm", name: "lodash", fixed: "4.17.22", severity: HIGH }),
    ]),
  ]);
  assert.equal(widened.import.updated, 1);
  assert.ok(
    where(widened).includes("staging Deployment shop/worker pkg:npm/lodash@4.17.21 GHSA-lodash-0001"),
    "the worker's lodash is now affected",
  );
  assert.ok(
    widened.opened.every((x) => x.fixed?.[0] === "4.17.22"),
    "the fixed version follows the advisory",
  );
  assert.deepEqual(f.monitor.openFindings(), await f.monitor.fullRescan());

  const older = await f.monitor.importAdvisories([
    feed(join(dir, "feed-old"), [
      osv({ id: "GHSA-lodash-0001", modified: "2026-10-01T00:00:00Z", ecosystem: "npm", name: "lodash", fixed: "4.17.0" }),
    ]),
  ]);
  assert.equal(older.import.unchanged, 1, "an older copy of an advisory changes nothing");
  assert.equal(older.judged, 0);
  assert.deepEqual(older.opened, []);

  const withdrawn = await f.monitor.importAdvisories([
    feed(join(dir, "feed3"), [
      osv({
        id: "GHSA-lodash-0001",
        modified: "2026-11-03T00:00:00Z",
        ecosystem: "npm",
        name: "lodash",
        fixed: "4.17.22",
        withdrawn: "2026-11-03T00:00:00Z",
      }),
    ]),
  ]);
  assert.equal(withdrawn.closed.length, 3);
  assert.deepEqual(f.monitor.openFindings(), []);
  assert.deepEqual(f.monitor.openFindings(), await f.monitor.fullRescan());
});

test("an advisory whose package moved closes the old package's findings and opens the new one's", async (t) => {
  const dir = tempDir(t);
  const f = await deployed(dir);
  t.after(() => f.close());
  await f.monitor.importAdvisories([
    feed(join(dir, "feed1"), [osv({ id: "GHSA-moved-0001", modified: "2026-11-01T00:00:00Z", ecosystem: "npm", name: "express" })]),
  ]);
  assert.equal(f.monitor.openFindings().length, 2);
  const moved = await f.monitor.importAdvisories([
    feed(join(dir, "feed2"), [osv({ id: "GHSA-moved-0001", modified: "2026-11-02T00:00:00Z", ecosystem: "npm", name: "left-pad" })]),
  ]);
  assert.deepEqual(
    moved.closed.map((x) => x.purl),
    ["pkg:npm/express@4.18.0", "pkg:npm/express@4.18.0"],
  );
  assert.deepEqual(where(moved), ["staging Deployment shop/worker pkg:npm/left-pad@1.0.0 GHSA-moved-0001"]);
  assert.deepEqual(f.monitor.openFindings(), await f.monitor.fullRescan());
});

test("advisories for packages nothing runs, and malformed ones, judge nothing and open nothing", async (t) => {
  const dir = tempDir(t);
  const f = await deployed(dir);
  t.after(() => f.close());
  const changes = await f.monitor.importAdvisories([
    feed(join(dir, "feed"), [
      osv({ id: "GHSA-other-0001", modified: "2026-11-01T00:00:00Z", ecosystem: "npm", name: "not-deployed" }),
      osv({ id: "PYSEC-0001", modified: "2026-11-01T00:00:00Z", ecosystem: "PyPI", name: "lodash" }),
      { id: "GHSA-bad-0001", modified: "yesterday", affected: [] },
    ]),
  ]);
  assert.equal(changes.import.added, 2);
  assert.equal(changes.import.malformed.length, 1);
  assert.equal(changes.judged, 0);
  assert.deepEqual(changes.opened, []);
});

test("findings keep their first-seen time across a restart and are recorded in the audit log", async (t) => {
  const dir = tempDir(t);
  const key = makeLogKey(dir);
  const log = await openAuditLog(join(dir, "audit"), { signingKeyFile: key.file });
  t.after(() => log.close());
  const f = await deployed(dir, [auditSink(log, () => FIXED_TIME)]);
  await f.monitor.importAdvisories([
    feed(join(dir, "feed1"), [
      osv({ id: "GHSA-lodash-0001", modified: "2026-11-01T00:00:00Z", ecosystem: "npm", name: "lodash", fixed: "4.17.21", severity: HIGH }),
    ]),
  ]);
  await f.close();

  const later = await openMonitor(dir, { now: () => new Date("2026-12-02T00:00:00Z") });
  t.after(() => later.close());
  const restart = await later.monitor.start();
  assert.deepEqual(restart.opened, [], "a restart finds the same findings and opens none");
  assert.ok((await later.inventory.findings()).every((x) => x.since === "2026-12-01T10:00:00Z"));

  const records = [];
  for await (const e of log.entries()) records.push(e.record);
  const found = records.filter((r) => r.kind === "finding");
  assert.equal(found.length, 2);
  assert.equal(found[0]!.environment, "prod");
  assert.deepEqual(
    { rule: found[0]!.payload.rule, severity: found[0]!.payload.severity, advisory: found[0]!.payload.advisory },
    { rule: "advisory", severity: "high", advisory: "GHSA-lodash-0001" },
  );
  assert.match(
    found[0]!.payload.subject,
    /^Deployment shop\/web registry\.example\.com\/team\/web:1@sha256:[0-9a-f]{64} pkg:npm\/lodash@4\.17\.20$/,
  );
});

test("an image the artifact gate did not pin is refused, and the inventory is left as it was", async (t) => {
  const dir = tempDir(t);
  const f = await deployed(dir);
  t.after(() => f.close());
  const unpinned = workloads("shop", { web: ["web:1"] });
  (unpinned[0]!.object as any).spec.template.spec.containers[0].image = "registry.example.com/team/web:1";
  await assert.rejects(
    f.monitor.recordDeployment("prod", unpinned, { revision: "c".repeat(40), verdict: "pass", sbomFor: sboms(images) }),
    /not pinned to a digest/,
  );
  assert.equal((await f.inventory.workloads()).filter((w) => w.environment === "prod")[0]!.revision, "b".repeat(40));
});

test("a deployment judges only components new to the inventory; what left the environment closes; equal to a full rescan", async (t) => {
  const dir = tempDir(t);
  const f = await deployed(dir);
  t.after(() => f.close());
  await f.monitor.importAdvisories([
    feed(join(dir, "feed1"), [
      osv({ id: "GHSA-lodash-0001", modified: "2026-11-01T00:00:00Z", ecosystem: "npm", name: "lodash", fixed: "4.17.22", severity: HIGH }),
      osv({ id: "GHSA-qs-0001", modified: "2026-11-01T00:00:00Z", ecosystem: "npm", name: "qs", fixed: "6.0.0" }),
    ]),
  ]);
  assert.equal(f.monitor.openFindings().length, 3);
  const more = { ...images, "web:2": ["pkg:npm/lodash@4.17.20", "pkg:npm/qs@5.0.0"] };
  const redeployed = await f.monitor.recordDeployment("staging", workloads("shop", { web: ["web:2"] }), {
    revision: "c".repeat(40),
    verdict: "pass",
    sbomFor: sboms(more),
  });
  assert.equal(redeployed.judged, 1, "only qs@5.0.0 is new; lodash@4.17.20 still runs in prod and keeps its findings");
  assert.deepEqual(
    redeployed.closed.map((x) => `${x.environment} ${x.workload} ${x.digest === digestOf("worker:1") ? "worker:1" : "web:1"}`).sort(),
    ["staging Deployment shop/web web:1", "staging Deployment shop/worker worker:1"],
  );
  assert.deepEqual(where(redeployed), [
    "staging Deployment shop/web pkg:npm/lodash@4.17.20 GHSA-lodash-0001",
    "staging Deployment shop/web pkg:npm/qs@5.0.0 GHSA-qs-0001",
  ]);
  assert.deepEqual(f.monitor.openFindings(), await f.monitor.fullRescan());
  assert.equal(
    (await f.monitor.recordDeployment("prod", [], { revision: "d".repeat(40), verdict: "pass", sbomFor: sboms({}) })).closed.length,
    1,
    "prod runs nothing now",
  );
  assert.deepEqual(f.monitor.openFindings(), await f.monitor.fullRescan());
});
