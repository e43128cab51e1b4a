// The findings only Vigil makes against osv-scanner are osv-scanner's defects, shown by experiment rather
// than by reading: PyPI advisories from the shared data whose first range is a GIT range, at a version their
// ECOSYSTEM range makes affected but spelled otherwise than their `versions` list (1.2 and 1.2.0 are one
// PEP 440 version), and advisories naming a package otherwise than PEP 503 normalizes it. osv-scanner
// (pinned in scripts/setup.ts, offline) misses every one of them with the advisories as published and finds
// every one once the ranges are reordered (GIT last) and the names normalized, which changes nothing the
// OSV schema gives meaning to; Vigil finds every one as published.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { zipSync } from "fflate";
import { importAdvisories } from "../src/vuln/import.ts";
import { readInputFile } from "../src/vuln/inputs.ts";
import { scanComponents } from "../src/vuln/scan.ts";
import { SqliteStore } from "../src/vuln/sqlite-store.ts";
import { zipEntries } from "../src/vuln/zip.ts";
import { fileScope, requireSharedData, requireTools, tempDir } from "./helpers/tools.ts";
import { osvScannerFindings, vigilFindings } from "./helpers/vuln-corpus.ts";

const scope = fileScope();
const osv = new URL("../../shared/data/osv/", import.meta.url).pathname;

interface Raw {
  id: string;
  withdrawn?: string;
  affected?: {
    package?: { ecosystem?: string; name?: string };
    ranges?: { type: string; events: Record<string, string>[] }[];
    versions?: string[];
  }[];
}
interface Case {
  advisory: Raw;
  name: string;
  version: string;
}

const pep503 = (name: string) => name.toLowerCase().replace(/[-_.]+/g, "-");

/** The same PEP 440 version with one more release number: "1.2" is "1.2.0". */
const respelled = (version: string) => (/^\d+(?:\.\d+)?$/.test(version) ? `${version}.0` : undefined);

async function cases(limit: number): Promise<{ gitFirst: Case[]; spelled: Case[] }> {
  const gitFirst: Case[] = [];
  const spelled: Case[] = [];
  for await (const entry of zipEntries(join(osv, "PyPI", "all.zip"))) {
    const advisory = JSON.parse((await entry.read()).toString("utf8")) as Raw;
    if (advisory.withdrawn) continue;
    for (const a of advisory.affected ?? []) {
      const name = a.package?.name;
      if (a.package?.ecosystem !== "PyPI" || !name) continue;
      const ecosystemRange = a.ranges?.find((r) => r.type === "ECOSYSTEM");
      const introduced = ecosystemRange?.events.map((e) => e.introduced).find((v) => v !== undefined && v !== "0");
      const version = introduced && respelled(introduced);
      if (
        gitFirst.length < limit &&
        a.ranges?.[0]?.type === "GIT" &&
        version &&
        !(a.versions ?? []).includes(version) &&
        pep503(name) === name
      ) {
        gitFirst.push({ advisory, name, version });
        break;
      }
      const listed = a.versions?.[0];
      if (spelled.length < limit && pep503(name) !== name && listed) {
        spelled.push({ advisory, name: pep503(name), version: listed });
        break;
      }
    }
    if (gitFirst.length >= limit && spelled.length >= limit) break;
  }
  return { gitFirst, spelled };
}

/** The advisory with each entry's GIT ranges last and its PyPI names as PEP 503 normalizes them. */
function reordered(advisory: Raw): Raw {
  return {
    ...advisory,
    affected: (advisory.affected ?? []).map((a) => ({
      ...a,
      ...(a.package?.name && { package: { ...a.package, name: pep503(a.package.name) } }),
      ...(a.ranges && { ranges: [...a.ranges.filter((r) => r.type !== "GIT"), ...a.ranges.filter((r) => r.type === "GIT")] }),
    })),
  };
}

/** osv-scanner's offline database folder holding only these advisories, as OSV's PyPI all.zip lays them out. */
function osvScannerDb(dir: string, advisories: Raw[]): string {
  mkdirSync(join(dir, "osv-scalibr", "PyPI"), { recursive: true });
  writeFileSync(
    join(dir, "osv-scalibr", "PyPI", "all.zip"),
    zipSync(Object.fromEntries(advisories.map((a) => [`${a.id}.json`, Buffer.from(JSON.stringify(a))]))),
  );
  return dir;
}

function osvScanner(db: string, sbom: string): Set<string> {
  let output: string;
  try {
    output = execFileSync("osv-scanner", ["scan", "--offline", "--offline-vulnerabilities", "-L", sbom, "--format", "json"], {
      env: { ...process.env, OSV_SCALIBR_LOCAL_DB_CACHE_DIRECTORY: db },
      maxBuffer: 1 << 28,
      stdio: ["ignore", "pipe", "ignore"],
    }).toString();
  } catch (e) {
    output = (e as { stdout: Buffer }).stdout.toString(); // exit 1: vulnerabilities found
  }
  return osvScannerFindings(output);
}

test("osv-scanner misses GIT-first and otherwise-spelled PyPI advisories only because of the order and the spelling; Vigil finds them as published", {
  timeout: 300_000,
}, async (t) => {
  if (!requireSharedData(t, osv) || !requireTools(t, ["osv-scanner"])) return;
  const dir = tempDir(scope, "vigil-osv-defects-");
  const { gitFirst, spelled } = await cases(25);
  assert.ok(gitFirst.length >= 10 && spelled.length >= 1, `cases: ${gitFirst.length} GIT-first, ${spelled.length} spelled otherwise`);
  const all = [...gitFirst, ...spelled];
  const key = (c: Case) => `PyPI ${c.name} ${c.version} ${c.advisory.id}`;
  const sbom = join(dir, "cases.cdx.json");
  writeFileSync(
    sbom,
    JSON.stringify({
      bomFormat: "CycloneDX",
      specVersion: "1.5",
      version: 1,
      components: all.map((c) => ({ type: "library", name: c.name, version: c.version, purl: `pkg:pypi/${c.name}@${c.version}` })),
    }),
  );
  const advisories = [...new Map(all.map((c) => [c.advisory.id, c.advisory])).values()];

  const published = osvScanner(osvScannerDb(join(dir, "published"), advisories), sbom);
  const fixed = osvScanner(osvScannerDb(join(dir, "reordered"), advisories.map(reordered)), sbom);
  assert.deepEqual(all.filter((c) => published.has(key(c))).map(key), [], "osv-scanner misses each as published");
  assert.deepEqual(
    all.filter((c) => !fixed.has(key(c))).map(key),
    [],
    "osv-scanner finds each once GIT ranges come last and names are normalized",
  );

  const file = join(dir, "advisories.json");
  writeFileSync(file, JSON.stringify(advisories));
  const store = SqliteStore.open(join(dir, "db"), { create: true });
  t.after(() => store.close());
  await importAdvisories(store, [file]);
  const mine = vigilFindings((await scanComponents(store, readInputFile(sbom).components)).findings);
  assert.deepEqual(all.filter((c) => !mine.has(key(c))).map(key), [], "Vigil finds each as published");
  t.diagnostic(
    `${gitFirst.length} GIT-first and ${spelled.length} otherwise-spelled advisories: osv-scanner finds ${all.filter((c) => published.has(key(c))).length} as published, ${all.filter((c) => fixed.has(key(c))).length} reordered; Vigil ${all.filter((c) => mine.has(key(c))).length}`,
  );
});
