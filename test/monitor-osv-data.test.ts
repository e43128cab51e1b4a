// Incremental equals full on real advisories: the shared npm OSV export is imported in parts (a first
// half, the rest, then a set of changed and withdrawn ones) over an inventory of components at the
// versions those advisories name, and after each part the monitor's findings are compared with a full
// rescan, and at the end with a monitor that imported everything before judging anything.
import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import { zipEntries } from "../src/vuln/zip.ts";
import { feed, openMonitor, sboms, workloads } from "./helpers/monitor-fixture.ts";
import { requireSharedData, tempDir } from "./helpers/tools.ts";

const NPM = new URL("../../shared/data/osv/npm/all.zip", import.meta.url).pathname;
const IMAGES = 12;

type Raw = {
  id: string;
  modified: string;
  affected?: { package?: { ecosystem?: string; name?: string }; ranges?: { type: string; events: Record<string, string>[] }[] }[];
};

async function advisories(): Promise<Raw[]> {
  const out: Raw[] = [];
  for await (const e of zipEntries(NPM)) if (e.name.endsWith(".json")) out.push(JSON.parse((await e.read()).toString("utf8")));
  return out.sort((a, b) => (a.id < b.id ? -1 : 1));
}

/** npm purls at every version the advisories' ranges name, spread over images round-robin. */
function inventoryOf(list: Raw[]): Record<string, string[]> {
  const purls = new Set<string>();
  for (const a of list) {
    for (const aff of a.affected ?? []) {
      const name = aff.package?.name;
      if (aff.package?.ecosystem !== "npm" || !name) continue;
      for (const r of aff.ranges ?? [])
        for (const ev of r.events)
          for (const v of Object.values(ev)) if (v !== "0" && /^\d/.test(v)) purls.add(`pkg:npm/${name.replace("@", "%40")}@${v}`);
    }
  }
  const images: Record<string, string[]> = {};
  [...purls].forEach((p, i) => (images[`app-${i % IMAGES}:1`] ??= []).push(p));
  return images;
}

test("the npm OSV export imported in parts: after each, the incremental findings equal a full rescan's", async (t) => {
  if (!requireSharedData(t, NPM)) return;
  const dir = tempDir(t);
  const all = await advisories();
  assert.ok(all.length > 100, `the npm export holds ${all.length} advisories`);
  const images = inventoryOf(all);
  const labels = Object.keys(images);
  const f = await openMonitor(dir);
  t.after(() => f.close());
  const spec = Object.fromEntries(labels.map((l, i) => [`app-${i}`, [l]]));
  await f.monitor.recordDeployment("prod", workloads("apps", spec), { revision: "a".repeat(40), verdict: "pass", sbomFor: sboms(images) });
  await f.monitor.recordDeployment("staging", workloads("apps", Object.fromEntries(Object.entries(spec).slice(0, 4))), {
    revision: "b".repeat(40),
    verdict: "pass",
    sbomFor: sboms(images),
  });

  const half = Math.floor(all.length / 2);
  // Changed: a later `modified` and no fixed event (every version from introduced on is affected);
  // withdrawn: a later `modified` and `withdrawn`. Both from the first half, so they replace what is stored.
  const changed = all.slice(0, 40).map((a) => ({
    ...a,
    modified: "2030-01-01T00:00:00Z",
    affected: (a.affected ?? []).map((x) => ({
      ...x,
      ranges: (x.ranges ?? []).map((r) => ({ ...r, events: r.events.filter((e) => !("fixed" in e)) })),
    })),
  }));
  const withdrawn = all.slice(40, 60).map((a) => ({ ...a, modified: "2030-01-01T00:00:00Z", withdrawn: "2030-01-01T00:00:00Z" }));
  const parts = [all.slice(0, half), all.slice(half), [...changed, ...withdrawn]];
  let judgedTotal = 0;
  for (const [i, part] of parts.entries()) {
    const changes = await f.monitor.importAdvisories([feed(join(dir, `part${i}`), part)]);
    judgedTotal += changes.judged;
    assert.deepEqual(f.monitor.openFindings(), await f.monitor.fullRescan(), `after part ${i}`);
  }
  assert.ok(f.monitor.openFindings().length > 100, `${f.monitor.openFindings().length} findings`);

  // The same advisories imported first, then one full judgement of the same inventory.
  const reference = await openMonitor(join(dir, "reference"));
  t.after(() => reference.close());
  for (const [i] of parts.entries()) await reference.monitor.importAdvisories([join(dir, `part${i}`)]);
  await reference.monitor.recordDeployment("prod", workloads("apps", spec), {
    revision: "a".repeat(40),
    verdict: "pass",
    sbomFor: sboms(images),
  });
  await reference.monitor.recordDeployment("staging", workloads("apps", Object.fromEntries(Object.entries(spec).slice(0, 4))), {
    revision: "b".repeat(40),
    verdict: "pass",
    sbomFor: sboms(images),
  });
  assert.deepEqual(f.monitor.openFindings(), reference.monitor.openFindings());
  assert.ok(judgedTotal > 0);
});
