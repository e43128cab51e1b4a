// The VEX trigger: a statement added suppresses the findings it names (kept, with its justification,
// and vigil findings exits 0 when every open one is suppressed); withdrawn, they are findings again.
// Only the components the statements name are judged again, and the result equals a full rescan's.
import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import { parseVex } from "../src/vuln/vex.ts";
import { feed, openMonitor, osv, sboms, workloads } from "./helpers/monitor-fixture.ts";
import { tempDir, vigil } from "./helpers/tools.ts";

const vex = (products: string[]) =>
  parseVex(
    JSON.stringify({
      "@context": "https://openvex.dev/ns/v0.2.0",
      "@id": "https://example.com/vex/1",
      author: "security@example.com",
      timestamp: "2026-12-01T00:00:00Z",
      version: 1,
      statements: [
        {
          vulnerability: { name: "GHSA-lodash-0001" },
          products,
          status: "not_affected",
          justification: "vulnerable_code_not_in_execute_path",
        },
      ],
    }),
    "vex.openvex.json",
  );

test("a VEX statement suppresses the findings it names with its justification, and removing it reopens them", async (t) => {
  const dir = tempDir(t);
  const f = await openMonitor(dir);
  t.after(() => f.close());
  const images = { "web:1": ["pkg:npm/lodash@4.17.20", "pkg:npm/minimist@1.2.0"], "api:1": ["pkg:npm/lodash@4.17.19"] };
  await f.monitor.recordDeployment("prod", workloads("shop", { web: ["web:1"], api: ["api:1"] }), {
    revision: "a".repeat(40),
    verdict: "pass",
    sbomFor: sboms(images),
  });
  await f.monitor.importAdvisories([
    feed(join(dir, "feed"), [
      osv({ id: "GHSA-lodash-0001", modified: "2026-11-01T00:00:00Z", ecosystem: "npm", name: "lodash", fixed: "4.17.21" }),
      osv({ id: "GHSA-minimist-0001", modified: "2026-11-01T00:00:00Z", ecosystem: "npm", name: "minimist", fixed: "1.2.6" }),
    ]),
  ]);
  assert.equal(f.monitor.openFindings().length, 3);

  const suppressed = await f.monitor.setVex(vex(["pkg:npm/lodash@4.17.20"]));
  assert.equal(suppressed.judged, 2, "only the components whose findings the statement names (both lodash versions)");
  assert.deepEqual(
    suppressed.opened.map((x) => [x.subject, x.suppressed]),
    [["pkg:npm/lodash@4.17.20", { status: "not_affected", justification: "vulnerable_code_not_in_execute_path" }]],
  );
  const lodash19 = f.monitor.openFindings().find((x) => x.subject === "pkg:npm/lodash@4.17.19");
  assert.equal(lodash19?.suppressed, undefined, "a statement about one version does not suppress another");
  assert.deepEqual(f.monitor.openFindings(), await f.monitor.fullRescan());

  const table = vigil(["findings", "--inventory", join(dir, "inventory")]);
  assert.equal(table.status, 1, "unsuppressed findings remain");
  assert.match(table.stdout, /suppressed \(VEX not_affected: vulnerable_code_not_in_execute_path\)/);

  const reopened = await f.monitor.setVex([]);
  assert.equal(reopened.opened.length, 1);
  assert.equal(reopened.opened[0]!.suppressed, undefined);
  assert.deepEqual(f.monitor.openFindings(), await f.monitor.fullRescan());
});
