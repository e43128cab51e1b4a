// vigil db import: all of the shared OSV data, incremental by `modified`, withdrawn advisories leaving,
// malformed ones skipped and counted with ids, a truncated zip and a killed import leaving the previous
// database whole, a database from a newer schema refused; the same on a real PostgreSQL.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { copyFileSync, mkdirSync, readFileSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { test } from "node:test";
import { requirePostgres, startPostgres } from "./helpers/postgres.ts";
import { fileScope, requireSharedData, tempDir, vigil } from "./helpers/tools.ts";

const scope = fileScope();
const osv = new URL("../../shared/data/osv/", import.meta.url).pathname;
const dir = tempDir(scope, "vigil-vuln-db-");
const db = join(dir, "db");
const cli = new URL("../src/cli/main.ts", import.meta.url).pathname;

const info = (location = db) => vigil(["db", "info", "--db", location, "--json"]).json();
const sbom = join(dir, "sbom.cdx.json");
writeFileSync(
  sbom,
  JSON.stringify({
    bomFormat: "CycloneDX",
    specVersion: "1.5",
    components: [
      { type: "library", name: "x/net", purl: "pkg:golang/golang.org/x/net@v0.17.0" },
      { type: "operating-system-package", name: "openssh", purl: "pkg:deb/ubuntu/openssh@1:8.9p1-3ubuntu0.4?distro=ubuntu-22.04" },
      { type: "library", name: "busybox", purl: "pkg:apk/alpine/busybox@1.36.1-r0?distro=3.21.0" },
    ],
  }),
);
const findings = (location: string) =>
  vigil(["scan", sbom, "--db", location, "--json", "--fail-on", "low"])
    .json()
    .checks.map((c: any) => `${c.rule} ${c.subject} ${c.status}`)
    .sort();

test("imports every shared OSV zip; again, nothing changes", { timeout: 300_000 }, (t) => {
  if (!requireSharedData(t, osv)) return;
  const first = vigil(["db", "import", osv, "--db", db, "--json"]);
  assert.equal(first.status, 0, first.stderr);
  const r = first.json();
  assert.equal(r.malformed.length, 0);
  assert.equal(r.added + r.withdrawn, r.files);
  assert.ok(r.withdrawn > 0, "the Go and PyPI data carry withdrawn advisories");
  assert.deepEqual(Object.keys(r.database.ecosystems).sort(), [
    "AlmaLinux",
    "Alpine",
    "Bitnami",
    "Go",
    "Kubernetes",
    "PyPI",
    "RubyGems",
    "Ubuntu",
    "crates.io",
    "npm",
  ]);
  const again = vigil(["db", "import", osv, "--db", db, "--json"]).json();
  assert.deepEqual([again.added, again.updated, again.unchanged], [0, 0, r.added]);
});

test("incremental by modified; a withdrawn advisory leaves; malformed ones are skipped and named", () => {
  const before = info().advisories;
  const folder = join(dir, "updates");
  mkdirSync(folder);
  const newer = {
    id: "GO-2023-2102",
    modified: "2099-01-01T00:00:00Z",
    aliases: ["CVE-2023-39325"],
    affected: [
      {
        package: { ecosystem: "Go", name: "golang.org/x/net" },
        ranges: [{ type: "SEMVER", events: [{ introduced: "0" }, { fixed: "0.99.0" }] }],
      },
    ],
  };
  writeFileSync(join(folder, "a-newer.json"), JSON.stringify(newer));
  writeFileSync(join(folder, "b-older.json"), JSON.stringify({ ...newer, id: "GO-2022-1144", modified: "2000-01-01T00:00:00Z" }));
  writeFileSync(
    join(folder, "c-withdrawn.json"),
    JSON.stringify({ id: "GO-2024-2687", modified: "2099-01-01T00:00:00Z", withdrawn: "2099-01-01T00:00:00Z" }),
  );
  writeFileSync(
    join(folder, "d-bad.json"),
    JSON.stringify({ id: "BAD-1", modified: "2099-01-01T00:00:00Z", affected: [{ package: { ecosystem: "Go" } }] }),
  );
  writeFileSync(join(folder, "e-notjson.json"), "{ not json");
  const r = vigil(["db", "import", folder, "--db", db]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /1 updated, 1 unchanged, 1 withdrawn, 2 malformed \(skipped\)/);
  assert.match(r.stdout, /skipped BAD-1 from .*d-bad.json: "affected\[0\]\.package" needs a non-empty ecosystem and name/);
  assert.match(r.stdout, /skipped \(no id\) from .*e-notjson.json: not JSON/);
  assert.equal(info().advisories, before - 1);
  const checks = vigil(["scan", sbom, "--db", db, "--json"]).json().checks;
  assert.ok(
    checks.some((c: any) => c.rule === "GO-2023-2102"),
    "the updated range (fixed 0.99.0) now covers 0.17.0",
  );
  assert.ok(!checks.some((c: any) => c.rule === "GO-2024-2687"), "withdrawn");
});

test("a truncated zip is bad input naming it, and the import leaves the database as it was", () => {
  const before = info().advisories;
  const broken = join(dir, "broken.zip");
  copyFileSync(join(osv, "PyPI/all.zip"), broken);
  truncateSync(broken, Math.floor(readFileSync(broken).length / 2));
  const r = vigil(["db", "import", join(osv, "Kubernetes/all.zip"), broken, "--db", db]);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /broken.zip: not a readable zip \(truncated or damaged\)/);
  assert.equal(info().advisories, before);
});

test("an import killed part way leaves the previous database whole", async () => {
  const fresh = join(dir, "killed");
  assert.equal(vigil(["db", "import", join(osv, "Kubernetes/all.zip"), "--db", fresh]).status, 0);
  const before = info(fresh);
  const child = spawn(process.execPath, [cli, "db", "import", osv, "--db", fresh], { stdio: "ignore" });
  await new Promise((resolve) => setTimeout(resolve, 2500));
  child.kill("SIGKILL");
  await new Promise((resolve) => child.on("exit", resolve));
  const after = info(fresh);
  assert.equal(after.advisories, before.advisories);
  assert.deepEqual(after.ecosystems, before.ecosystems);
});

test("a database from a newer schema is refused, never misread", () => {
  const newer = join(dir, "newer");
  assert.equal(vigil(["db", "import", join(osv, "Kubernetes/all.zip"), "--db", newer]).status, 0);
  const raw = new DatabaseSync(join(newer, "osv.sqlite"));
  raw.prepare("UPDATE vigil_osv_meta SET value = '7' WHERE key = 'schema'").run();
  raw.close();
  for (const args of [
    ["scan", sbom, "--db", newer],
    ["db", "import", join(osv, "Kubernetes/all.zip"), "--db", newer],
  ]) {
    const r = vigil(args);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /the database has schema 7, newer than this Vigil reads \(1\): upgrade Vigil, or import into a new database/);
  }
  const notDb = join(dir, "not-a-db");
  mkdirSync(notDb);
  writeFileSync(join(notDb, "osv.sqlite"), "this is not sqlite");
  assert.equal(vigil(["scan", sbom, "--db", notDb]).status, 2);
});

test("PostgreSQL: the same import and the same findings as the embedded store", { timeout: 300_000 }, (t) => {
  const bin = requirePostgres(t);
  if (!bin || !requireSharedData(t, osv)) return;
  const pg = startPostgres(scope, bin);
  const url = pg.database("vulns");
  const zips = ["Go", "Ubuntu", "Alpine"].map((e) => join(osv, e, "all.zip"));
  const local = join(dir, "local");
  const a = vigil(["db", "import", ...zips, "--db", local, "--json"]).json();
  const r = vigil(["db", "import", ...zips, "--db", url, "--json"]);
  assert.equal(r.status, 0, r.stderr);
  const b = r.json();
  assert.deepEqual([b.added, b.withdrawn, b.malformed.length], [a.added, a.withdrawn, 0]);
  assert.deepEqual(info(url).ecosystems, info(local).ecosystems);
  assert.deepEqual(findings(url), findings(local));
  assert.ok(findings(url).length > 3);
  const again = vigil(["db", "import", ...zips, "--db", url, "--json"]).json();
  assert.equal(again.unchanged, a.added);
  const down = vigil(["scan", sbom, "--db", "postgres://vigil@localhost/vulns?host=/nonexistent"]);
  assert.equal(down.status, 3, "an unreachable database is a dependency unavailable");
});

test("PostgreSQL: two agents importing at once queue on the lock; a killed import leaves the database whole", {
  timeout: 300_000,
}, async (t) => {
  const bin = requirePostgres(t);
  if (!bin || !requireSharedData(t, osv)) return;
  const pg = startPostgres(scope, bin);
  const url = pg.database("shared");
  const run = (args: string[]) =>
    new Promise<number>((resolve) =>
      spawn(process.execPath, [cli, ...args], { stdio: "ignore" }).on("exit", (code) => resolve(code ?? -1)),
    );
  const zips = ["Ubuntu", "Alpine", "Kubernetes"].map((e) => join(osv, e, "all.zip"));
  assert.deepEqual(await Promise.all([run(["db", "import", ...zips, "--db", url]), run(["db", "import", ...zips, "--db", url])]), [0, 0]);
  const before = info(url);
  assert.equal(before.advisories, 6 + 3246 + 47);
  // A large import (the largest zips together), killed part way: its transaction never commits.
  const large = ["Bitnami", "AlmaLinux", "Go", "PyPI"].map((e) => join(osv, e, "all.zip"));
  const child = spawn(process.execPath, [cli, "db", "import", ...large, "--db", url], { stdio: "ignore" });
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on("exit", (_code, signal) => resolve(signal)));
  await new Promise((resolve) => setTimeout(resolve, 1500));
  child.kill("SIGKILL");
  assert.equal(await exited, "SIGKILL", "the import was still running when it was killed");
  assert.deepEqual(info(url).ecosystems, before.ecosystems);
});
