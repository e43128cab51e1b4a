// Side by side with osv-scanner (pinned in scripts/setup.ts), offline, over the same OSV zips and the same
// SBOM and go.mod made from them: every finding osv-scanner makes, Vigil makes; every finding only Vigil
// makes is explained (osv-scanner's GIT-range defect, gitRangeFirst; PyPI names compared as written, spelledOtherwise); agreement at least 99% once that
// defect is accounted for. docs/vulnerabilities.md lists the figures.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { test } from "node:test";
import { importAdvisories } from "../src/vuln/import.ts";
import { readInputFile } from "../src/vuln/inputs.ts";
import { scanComponents } from "../src/vuln/scan.ts";
import { SqliteStore } from "../src/vuln/sqlite-store.ts";
import { lookupKey } from "../src/vuln/store.ts";
import { fileScope, requireSharedData, requireTools, tempDir } from "./helpers/tools.ts";
import {
  compare,
  gitRangeFirst,
  spelledOtherwise,
  osvScannerArgs,
  osvScannerDatabase,
  osvScannerFindings,
  vigilFindings,
  writeCorpus,
} from "./helpers/vuln-corpus.ts";

const scope = fileScope();
const osv = new URL("../../shared/data/osv/", import.meta.url).pathname;

test("osv-scanner and Vigil agree on the same zips, SBOM and go.mod; every difference is explained", { timeout: 600_000 }, async (t) => {
  if (!requireSharedData(t, osv) || !requireTools(t, ["osv-scanner"])) return;
  const dir = tempDir(scope, "vigil-vs-osv-");
  const corpus = await writeCorpus(osv, dir, 2000);
  const store = SqliteStore.open(join(dir, "db"), { create: true });
  t.after(() => store.close());
  await importAdvisories(store, [osv]);
  const inputs = [readInputFile(corpus.sbom), readInputFile(corpus.goMod)];
  const result = await scanComponents(
    store,
    inputs.flatMap((i) => i.components),
  );
  const mine = vigilFindings(result.findings);
  let output: string;
  try {
    output = execFileSync("osv-scanner", osvScannerArgs(corpus), {
      env: { ...process.env, OSV_SCALIBR_LOCAL_DB_CACHE_DIRECTORY: await osvScannerDatabase(osv, join(dir, "osv-db")) },
      maxBuffer: 1 << 30,
      stdio: ["ignore", "pipe", "ignore"],
    }).toString();
  } catch (e) {
    output = (e as { stdout: Buffer }).stdout.toString(); // exit 1: vulnerabilities found
  }
  const c = compare(mine, osvScannerFindings(output));
  assert.ok(c.osvScanner > 1000, `osv-scanner found ${c.osvScanner}`);
  assert.deepEqual(c.onlyOsvScanner.slice(0, 20), [], "every finding osv-scanner makes, Vigil makes");
  const unexplained: string[] = [];
  for (const key of c.onlyVigil) {
    const [base, name, version, id] = key.split(" ") as [string, string, string, string];
    const stored = (await store.lookup([{ base, name }])).get(lookupKey(base, name)) ?? [];
    const advisory = stored.find((s) => s.advisory.id === id)?.advisory;
    if (!advisory || !(gitRangeFirst(advisory, name, version) || spelledOtherwise(advisory, name))) unexplained.push(key);
  }
  assert.deepEqual(unexplained.slice(0, 20), [], `${unexplained.length} differences without a known reason`);
  const explained = (c.both + c.onlyVigil.length - unexplained.length) / (c.both + c.onlyVigil.length + c.onlyOsvScanner.length);
  assert.ok(explained >= 0.99, `agreement once explained: ${explained}`);
  t.diagnostic(
    `corpus ${corpus.components} components; Vigil ${c.vigil}, osv-scanner ${c.osvScanner}, both ${c.both}; raw agreement ${(c.agreement * 100).toFixed(2)}%; only Vigil ${c.onlyVigil.length} (osv-scanner's GIT-range defect or PyPI name spelling); cannot judge ${result.findings.filter((f) => f.kind === "cannot-judge").length}`,
  );
});
