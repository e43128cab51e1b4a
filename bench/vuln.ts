// Benchmark (issue 19): import all of ../shared/data/osv into the embedded store, then scan a
// 5,000-component SBOM (plus a go.mod) made from those advisories with `vigil scan` and with osv-scanner
// offline over the same zips, in the same run: wall time, CPU and peak memory of each, and the ratio;
// twice, with boundary versions and with published versions (see writeCorpus).
// Target: Vigil's scan in at most half of osv-scanner's time. Then the agent's case: the same components
// judged reconcile after reconcile, the database opened for each (as before) or kept open with what it
// read (src/vuln/kept-store.ts), in this process.
//   node bench/vuln.ts [--components 5000] [--runs 3]
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { goBin } from "../scripts/setup.ts";
import { readInputFile } from "../src/vuln/inputs.ts";
import { scanComponents } from "../src/vuln/scan.ts";
import { closeKeptStores, openKeptStore, scanRemembered } from "../src/vuln/kept-store.ts";
import { openStore } from "../src/vuln/pg-store.ts";
import { SqliteStore } from "../src/vuln/sqlite-store.ts";
import { lookupKey, type AdvisoryStore } from "../src/vuln/store.ts";
import {
  compare,
  gitRangeFirst,
  osvScannerArgs,
  osvScannerDatabase,
  osvScannerFindings,
  spelledOtherwise,
  vigilFindings,
  writeCorpus,
} from "../test/helpers/vuln-corpus.ts";
import { machine, median, timed } from "./lib/measure.ts";

const { values } = parseArgs({ options: { components: { type: "string", default: "5000" }, runs: { type: "string", default: "3" } } });
const root = resolve(import.meta.dirname, "..");
const osv = resolve(root, "..", "shared", "data", "osv");
const dir = mkdtempSync(join(tmpdir(), "vigil-bench-vuln-"));
const cli = join(root, "src", "cli", "main.ts");
const runs = Number(values.runs);

try {
  console.log(`machine: ${machine()}`);
  const db = join(dir, "db");
  const imported = timed(process.execPath, [cli, "db", "import", osv, "--db", db, "--json"]);
  if (imported.status !== 0) throw new Error(`import failed: ${imported.stdout}`);
  const result = JSON.parse(imported.stdout) as { added: number; files: number };
  console.log(
    `import: ${result.files} files, ${result.added} advisories in ${imported.seconds.toFixed(1)} s (CPU ${imported.cpuSeconds.toFixed(1)} s, peak ${imported.maxRssMiB.toFixed(0)} MiB)`,
  );

  const osvDb = await osvScannerDatabase(osv, join(dir, "osv-db"));
  process.env.OSV_SCALIBR_LOCAL_DB_CACHE_DIRECTORY = osvDb;
  for (const mode of ["boundaries", "published"] as const) {
    const corpus = await writeCorpus(osv, dir, Number(values.components), mode);
    console.log(`\ncorpus (${mode} versions): ${corpus.components} components (SBOM + go.mod)`);
    await scanBoth(db, corpus);
    await reconciles(db, corpus);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}

/** Both scanners on one corpus, alternately, `runs` times each; then their findings compared. */
async function scanBoth(db: string, corpus: Awaited<ReturnType<typeof writeCorpus>>): Promise<void> {
  const osvScanner = join(goBin, "osv-scanner");
  const vigil = [],
    peer = [];
  for (let i = 0; i < runs; i++) {
    vigil.push(timed(process.execPath, [cli, "scan", corpus.sbom, corpus.goMod, "--db", db, "--json"]));
    peer.push(timed(osvScanner, osvScannerArgs(corpus)));
  }
  const row = (name: string, xs: ReturnType<typeof timed>[]) => {
    const s = median(xs.map((x) => x.seconds));
    console.log(
      `${name.padEnd(12)} median ${s.toFixed(2)} s over ${xs.length} runs (CPU ${median(xs.map((x) => x.cpuSeconds)).toFixed(2)} s, peak ${median(xs.map((x) => x.maxRssMiB)).toFixed(0)} MiB)`,
    );
    return s;
  };
  const v = row("vigil scan", vigil);
  const o = row("osv-scanner", peer);
  console.log(`ratio: Vigil takes ${(v / o).toFixed(3)} of osv-scanner's time (target at most 0.5): ${v / o <= 0.5 ? "met" : "NOT met"}`);
  await agreement(db, corpus, peer.at(-1)!.stdout);
}

/** The findings of both on the corpus, compared, every difference sorted by its reason. */
async function agreement(db: string, corpus: Awaited<ReturnType<typeof writeCorpus>>, osvOutput: string): Promise<void> {
  const store = SqliteStore.open(db);
  const result = await scanComponents(
    store,
    [readInputFile(corpus.sbom), readInputFile(corpus.goMod)].flatMap((i) => i.components),
  );
  const c = compare(vigilFindings(result.findings), osvScannerFindings(osvOutput));
  const reasons = new Map<string, string[]>();
  for (const key of c.onlyVigil) {
    const [base, name, version, id] = key.split(" ") as [string, string, string, string];
    const advisory = ((await store.lookup([{ base, name }])).get(lookupKey(base, name)) ?? []).find((s) => s.advisory.id === id)?.advisory;
    const reason =
      advisory && gitRangeFirst(advisory, name, version)
        ? "GIT range listed first"
        : advisory && spelledOtherwise(advisory, name)
          ? "PyPI name spelled otherwise"
          : "unexplained";
    reasons.set(reason, [...(reasons.get(reason) ?? []), key]);
  }
  await store.close();
  console.log(
    `agreement: Vigil ${c.vigil}, osv-scanner ${c.osvScanner}, both ${c.both}: ${(c.agreement * 100).toFixed(2)}% of all findings; only osv-scanner ${c.onlyOsvScanner.length}; only Vigil ${c.onlyVigil.length}`,
  );
  for (const [reason, keys] of reasons) console.log(`  only Vigil, ${reason}: ${keys.length} (e.g. ${keys.slice(0, 3).join("; ")})`);
  for (const key of c.onlyOsvScanner.slice(0, 20)) console.log(`  only osv-scanner: ${key}`);
  console.log(`cannot judge (Vigil): ${result.findings.filter((f) => f.kind === "cannot-judge").length}`);
}

/**
 * The agent's vulnerability step over the same components, 10 reconciles each way, alternately, in ms per
 * reconcile: the database opened for each (as before); kept open with the advisories it read; and the
 * image's findings remembered (the same SBOM against the same import: an unchanged revision).
 */
async function reconciles(db: string, corpus: Awaited<ReturnType<typeof writeCorpus>>): Promise<void> {
  const inputs = [readInputFile(corpus.sbom), readInputFile(corpus.goMod)];
  const components = inputs.flatMap((i) => i.components);
  const sbom = { document: inputs.map((i) => i.components), components, withoutPurl: [] };
  const once = async (open: (location: string) => Promise<AdvisoryStore>, scan: (store: AdvisoryStore) => Promise<unknown>) => {
    const started = performance.now();
    const store = await open(db);
    await scan(store);
    await store.close();
    return performance.now() - started;
  };
  const everything = (store: AdvisoryStore) => scanComponents(store, components);
  const remembered = (store: AdvisoryStore) => scanRemembered(store, sbom, []);
  const fresh: number[] = [],
    kept: number[] = [],
    same: number[] = [];
  await once(openKeptStore, remembered); // the first reconcile of a kept store reads as a fresh one does
  for (let i = 0; i < 10; i++) {
    fresh.push(await once(openStore, everything));
    kept.push(await once(openKeptStore, everything));
    same.push(await once(openKeptStore, remembered));
  }
  await closeKeptStores();
  console.log(
    `agent reconcile (${components.length} components, median of 10): database opened per reconcile ${median(fresh).toFixed(0)} ms; kept open ${median(kept).toFixed(0)} ms (${(median(fresh) / median(kept)).toFixed(1)}x); kept, findings remembered for an unchanged SBOM and import ${median(same).toFixed(1)} ms (${(median(fresh) / median(same)).toFixed(0)}x)`,
  );
}
