// vigil scan end to end through the CLI: the verdict's checks (gate vulnerability, rule = advisory id,
// subject = purl), --fail-on, exit codes, SARIF and CycloneDX VEX output, SPDX and lockfile inputs,
// OpenVEX and CycloneDX VEX suppressing findings that stay visible, signed VEX required and verified,
// and bad input refused with exit 2 naming the file.
import assert from "node:assert/strict";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { fileScope, requireSharedData, tempDir, vigil } from "./helpers/tools.ts";
import { cyclonedxValidator } from "../src/sbom/schema.ts";
import { applicableStatement, loadVex } from "../src/vuln/vex.ts";

const scope = fileScope();
const dir = tempDir(scope, "vigil-vuln-scan-");
const db = join(dir, "db");
const vexData = new URL("../../shared/data/vex/", import.meta.url).pathname;

/** Advisories written in OSV's format: an Alpine one from secdb (no severity), a GHSA-style npm one with a CVSS vector. */
const advisories = [
  {
    id: "ALPINE-CVE-2023-2650",
    modified: "2024-01-01T00:00:00Z",
    upstream: ["CVE-2023-2650"],
    affected: [
      {
        package: { ecosystem: "Alpine:v3.18", name: "openssl" },
        ranges: [{ type: "ECOSYSTEM", events: [{ introduced: "0" }, { fixed: "3.1.1-r0" }] }],
      },
    ],
  },
  {
    id: "GHSA-p6mc-m468-83gw",
    modified: "2024-01-01T00:00:00Z",
    aliases: ["CVE-2020-8203"],
    summary: "Prototype pollution in lodash",
    severity: [{ type: "CVSS_V3", score: "CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:N/I:H/A:H" }],
    affected: [
      { package: { ecosystem: "npm", name: "lodash" }, ranges: [{ type: "SEMVER", events: [{ introduced: "0" }, { fixed: "4.17.19" }] }] },
    ],
  },
  {
    id: "GHSA-low-test",
    modified: "2024-01-01T00:00:00Z",
    aliases: ["CVE-2099-0001"],
    severity: [{ type: "CVSS_V3", score: "CVSS:3.1/AV:L/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N" }],
    affected: [
      { package: { ecosystem: "npm", name: "lodash" }, ranges: [{ type: "SEMVER", events: [{ introduced: "0" }, { fixed: "4.17.21" }] }] },
    ],
  },
];
writeFileSync(join(dir, "advisories.json"), JSON.stringify(advisories));

const sbom = (components: object[]) => JSON.stringify({ bomFormat: "CycloneDX", specVersion: "1.6", version: 1, components });
const SBOM = join(dir, "app.cdx.json");
writeFileSync(
  SBOM,
  sbom([
    { type: "library", name: "lodash", version: "4.17.15", purl: "pkg:npm/lodash@4.17.15", "bom-ref": "lodash" },
    {
      type: "library",
      name: "libssl3",
      version: "3.0.8-r3",
      purl: "pkg:apk/alpine/libssl3@3.0.8-r3?arch=x86_64&distro=3.18.2&upstream=openssl",
    },
    { type: "library", name: "left-pad", version: "1.3.0", purl: "pkg:npm/left-pad@1.3.0" },
  ]),
);

test("db import then scan: one check per finding, with the fix and the source; exit 1 at --fail-on", () => {
  const imported = vigil(["db", "import", join(dir, "advisories.json"), "--db", db, "--json"]);
  assert.equal(imported.status, 0, imported.stderr);
  assert.equal(imported.json().added, 3);
  const r = vigil(["scan", SBOM, "--db", db, "--json"]);
  assert.equal(r.status, 1, r.stderr);
  const verdict = r.json();
  assert.equal(verdict.verdict, "fail");
  const lodash = verdict.checks.find((c: any) => c.rule === "GHSA-p6mc-m468-83gw");
  assert.deepEqual(
    { gate: lodash.gate, status: lodash.status, subject: lodash.subject },
    { gate: "vulnerability", status: "fail", subject: "pkg:npm/lodash@4.17.15" },
  );
  assert.match(lodash.message, /HIGH 7.4 in lodash 4.17.15 \(also CVE-2020-8203\)/);
  assert.match(lodash.message, /fixed in 4.17.19/);
  assert.match(lodash.message, /source: .*advisories.json; severity: CVSS_V3 base score of severity\[0\]/);
  const low = verdict.checks.find((c: any) => c.rule === "GHSA-low-test");
  assert.equal(low.status, "warn", "below --fail-on high it warns");
  const alpine = verdict.checks.find((c: any) => c.rule === "ALPINE-CVE-2023-2650");
  assert.equal(alpine.status, "fail", "no severity at all is unknown, which reaches every threshold");
  assert.match(
    alpine.message,
    /UNKNOWN \(no severity figure: it fails at any threshold unless unknownSeverity is warn\) in openssl 3.0.8-r3/,
  );
  assert.ok(!verdict.checks.some((c: any) => c.subject.includes("left-pad") && c.rule !== "scan"));
  const summary = verdict.checks.at(-1);
  assert.equal(summary.rule, "scan");
  assert.match(summary.message, /^3 components: 2 findings at or above high/);
});

test("--unknown-severity warn: a finding without any severity figure warns at every threshold; fail (the default) fails at critical too; other values are bad input", () => {
  const byDefault = vigil(["scan", SBOM, "--db", db, "--json", "--fail-on", "critical"]);
  assert.equal(byDefault.status, 1, "an unknown severity may be critical: by default it fails even --fail-on critical");
  assert.equal(byDefault.json().checks.find((c: any) => c.rule === "ALPINE-CVE-2023-2650").status, "fail");
  const warned = vigil(["scan", SBOM, "--db", db, "--json", "--fail-on", "critical", "--unknown-severity", "warn"]);
  assert.equal(warned.status, 0, "at critical only the unknown one would fail, and it now warns");
  const verdict = warned.json();
  assert.equal(verdict.subject.unknownSeverity, "warn");
  const alpine = verdict.checks.find((c: any) => c.rule === "ALPINE-CVE-2023-2650");
  assert.equal(alpine.status, "warn");
  assert.match(alpine.message, /UNKNOWN \(no severity figure: a warning because unknownSeverity is warn\)/);
  const high = vigil(["scan", SBOM, "--db", db, "--json", "--unknown-severity", "warn"]);
  assert.equal(high.status, 1, "a known HIGH still fails at --fail-on high");
  assert.equal(high.json().checks.find((c: any) => c.rule === "GHSA-p6mc-m468-83gw").status, "fail");
  const bad = vigil(["scan", SBOM, "--db", db, "--unknown-severity", "ignore"]);
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--unknown-severity must be fail or warn \(got "ignore"\)/);
});

test("--fail-on low fails the low one too; critical leaves the high one a warning", () => {
  const low = vigil(["scan", SBOM, "--db", db, "--json", "--fail-on", "low"]).json();
  assert.equal(low.checks.find((c: any) => c.rule === "GHSA-low-test").status, "fail");
  const critical = vigil(["scan", SBOM, "--db", db, "--json", "--fail-on", "critical"]).json();
  assert.equal(critical.checks.find((c: any) => c.rule === "GHSA-p6mc-m468-83gw").status, "warn");
  const clean = join(dir, "clean.cdx.json");
  writeFileSync(clean, sbom([{ type: "library", name: "lodash", version: "4.17.21", purl: "pkg:npm/lodash@4.17.21" }]));
  const r = vigil(["scan", clean, "--db", db]);
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /verdict: PASS/);
});

test("OpenVEX (go-vex's v0.2.0 example) suppresses the Alpine finding, which stays visible as skip", (t) => {
  if (!requireSharedData(t, vexData)) return;
  const r = vigil(["scan", SBOM, "--db", db, "--json", "--vex", join(vexData, "go-vex-testdata/v0.2.0.json")]);
  const alpine = r.json().checks.find((c: any) => c.rule === "ALPINE-CVE-2023-2650");
  assert.equal(alpine.status, "skip");
  assert.match(alpine.message, /suppressed by VEX .*v0.2.0.json#statements\[1\]: fixed/);
});

test("CycloneDX VEX: not_affected with a justification, matched by bom-ref", () => {
  const vex = join(dir, "vex.cdx.json");
  writeFileSync(
    vex,
    JSON.stringify({
      bomFormat: "CycloneDX",
      specVersion: "1.6",
      vulnerabilities: [
        {
          id: "CVE-2020-8203",
          analysis: { state: "not_affected", justification: "code_not_reachable", detail: "zipObjectDeep is never called" },
          affects: [{ ref: "lodash" }],
        },
      ],
    }),
  );
  const r = vigil(["scan", SBOM, "--db", db, "--json", "--vex", vex, "--fail-on", "critical"]);
  const lodash = r.json().checks.find((c: any) => c.rule === "GHSA-p6mc-m468-83gw");
  assert.equal(lodash.status, "skip");
  assert.match(lodash.message, /not_affected \(code_not_reachable: zipObjectDeep is never called\)/);
});

test("Node.js's own OpenVEX: fixed releases and not_affected statements for every version", (t) => {
  if (!requireSharedData(t, vexData)) return;
  const statements = loadVex(join(vexData, "node.openvex.json"));
  assert.equal(statements.length, 183);
  assert.equal(
    applicableStatement(statements, ["CVE-2024-27980"], "pkg:nodejs/node@18.20.2")?.status,
    "fixed",
    "v18.20.2 in the VEX is 18.20.2 in an SBOM",
  );
  assert.equal(applicableStatement(statements, ["CVE-2024-27980"], "pkg:nodejs/node@18.20.1"), undefined);
  const na = statements.find((s) => s.status === "not_affected")!;
  assert.equal(applicableStatement(statements, na.vulnerabilities, "pkg:nodejs/node@20.1.0")?.status, "not_affected");
  const old = loadVex(join(vexData, "go-vex-testdata/v001-1.vex.json"));
  assert.ok(old.length > 0, "v0.0.1 documents are read in compatibility mode");
});

test("a VEX can be required to be signed: verified with the key, refused when unsigned or changed", () => {
  const env = { COSIGN_PASSWORD: "vex-test" };
  assert.equal(vigil(["generate-key-pair", "--output-key-prefix", "vex"], { cwd: dir, env }).status, 0);
  const vex = join(dir, "signed.openvex.json");
  writeFileSync(
    vex,
    JSON.stringify({
      "@context": "https://openvex.dev/ns/v0.2.0",
      "@id": "https://example.com/vex/1",
      author: "security@example.com",
      timestamp: "2024-01-01T00:00:00Z",
      version: 1,
      statements: [
        {
          vulnerability: { name: "CVE-2020-8203" },
          products: [{ "@id": "pkg:npm/lodash@4.17.15" }],
          status: "not_affected",
          justification: "vulnerable_code_not_in_execute_path",
        },
      ],
    }),
  );
  const signed = vigil(["sign", "blob", vex, "--key", join(dir, "vex.key"), "--bundle", `${vex}.sigstore.json`], { env });
  assert.equal(signed.status, 0, signed.stderr);
  const args = [
    "scan",
    SBOM,
    "--db",
    db,
    "--json",
    "--fail-on",
    "critical",
    "--vex",
    vex,
    "--vex-key",
    join(dir, "vex.pub"),
    "--vex-insecure-ignore-tlog",
  ];
  const ok = vigil(args).json();
  assert.equal(ok.checks.find((c: any) => c.rule === "vex-signature").status, "pass");
  assert.equal(ok.checks.find((c: any) => c.rule === "GHSA-p6mc-m468-83gw").status, "skip");
  // Changed after signing: the signature no longer verifies, nothing is suppressed, the scan fails.
  writeFileSync(vex, readFileSync(vex, "utf8").replace("not_in_execute_path", "not_present"));
  const changed = vigil(args);
  assert.equal(changed.status, 1);
  const checks = changed.json().checks;
  assert.equal(checks.find((c: any) => c.rule === "vex-signature").status, "fail");
  assert.equal(checks.find((c: any) => c.rule === "GHSA-p6mc-m468-83gw").status, "warn");
  const unsigned = join(dir, "unsigned.openvex.json");
  writeFileSync(unsigned, readFileSync(vex));
  const missing = vigil([...args.slice(0, 8), unsigned, ...args.slice(9)]);
  assert.equal(missing.status, 1);
  assert.match(missing.json().checks.find((c: any) => c.rule === "vex-signature").message, /has no signature/);
});

test("SARIF and CycloneDX VEX output", () => {
  const sarif = JSON.parse(vigil(["scan", SBOM, "--db", db, "-o", "sarif"]).stdout);
  assert.equal(sarif.version, "2.1.0");
  assert.ok(sarif.runs[0].results.some((r: any) => r.ruleId === "GHSA-p6mc-m468-83gw" && r.level === "error"));
  const cdx = JSON.parse(vigil(["scan", SBOM, "--db", db, "-o", "cyclonedx-vex"]).stdout);
  assert.equal(cdx.specVersion, "1.6");
  const v = cdx.vulnerabilities.find((x: any) => x.id === "GHSA-p6mc-m468-83gw");
  assert.deepEqual(v.ratings[0], {
    score: 7.4,
    severity: "high",
    method: "CVSSv31",
    vector: "CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:N/I:H/A:H",
    justification: "CVSS_V3 base score of severity[0]",
  });
  assert.deepEqual(v.affects, [{ ref: "lodash", versions: [{ version: "4.17.15", status: "affected" }] }]);
  const validate = cyclonedxValidator("1.6");
  assert.ok(validate(cdx), JSON.stringify(validate.errors?.slice(0, 3)));
  const suppressed = JSON.parse(
    vigil(["scan", SBOM, "--db", db, "-o", "cyclonedx-vex", "--vex", join(vexData, "go-vex-testdata/v0.2.0.json")]).stdout,
  );
  assert.equal(suppressed.vulnerabilities.find((x: any) => x.id === "ALPINE-CVE-2023-2650").analysis.state, "resolved");
  assert.ok(validate(suppressed), JSON.stringify(validate.errors?.slice(0, 3)));
});

test("lockfiles: Gemfile.lock's GEM specs, Cargo.lock, requirements.txt, composer.lock, go.mod", () => {
  const project = tempDir(scope);
  writeFileSync(
    join(project, "Gemfile.lock"),
    "GIT\n  remote: https://example.com/x.git\n  specs:\n    fromgit (9.9.9)\n\nGEM\n  remote: https://rubygems.org/\n  specs:\n    rack (2.2.3)\n    nokogiri (1.13.0-x86_64-linux)\n      racc (~> 1.4)\n\nPLATFORMS\n  ruby\n",
  );
  writeFileSync(
    join(project, "Cargo.lock"),
    'version = 3\n\n[[package]]\nname = "smallvec"\nversion = "1.6.0"\nsource = "registry+https://github.com/rust-lang/crates.io-index"\n',
  );
  writeFileSync(join(project, "requirements.txt"), "Django==3.2.0 ; python_version > '3'\n# comment\nrequests>=2\n");
  writeFileSync(join(project, "composer.lock"), JSON.stringify({ packages: [{ name: "symfony/http-kernel", version: "v5.4.0" }] }));
  writeFileSync(join(project, "go.mod"), "module x\n\ngo 1.21\n\nrequire golang.org/x/net v0.7.0\n");
  const subjects = vigil(["scan", project, "--db", db, "--json", "--fail-on", "low"])
    .json()
    .checks.map((c: any) => c.subject);
  const scanned = Number(/^(\d+) components/.exec(vigil(["scan", project, "--db", db, "--json"]).json().checks.at(-1).message)![1]);
  assert.equal(scanned, 6, subjects.join(" "));
});

test("SPDX 2.3 and lockfiles are read; a folder is searched for them", () => {
  const spdx = join(dir, "app.spdx.json");
  writeFileSync(
    spdx,
    JSON.stringify({
      spdxVersion: "SPDX-2.3",
      SPDXID: "SPDXRef-DOCUMENT",
      packages: [
        {
          SPDXID: "SPDXRef-lodash",
          name: "lodash",
          externalRefs: [{ referenceCategory: "PACKAGE-MANAGER", referenceType: "purl", referenceLocator: "pkg:npm/lodash@4.17.15" }],
        },
      ],
    }),
  );
  assert.ok(
    vigil(["scan", spdx, "--db", db, "--json"])
      .json()
      .checks.some((c: any) => c.rule === "GHSA-p6mc-m468-83gw"),
  );
  const project = tempDir(scope);
  writeFileSync(
    join(project, "package-lock.json"),
    JSON.stringify({ lockfileVersion: 3, packages: { "": { name: "app" }, "node_modules/lodash": { version: "4.17.18" } } }),
  );
  const r = vigil(["scan", project, "--db", db, "--json"]);
  const found = r.json().checks.find((c: any) => c.rule === "GHSA-p6mc-m468-83gw");
  assert.equal(found.subject, "pkg:npm/lodash@4.17.18");
});

test("a root filesystem (dir:) is scanned through vigil sbom's generator; Alpine packages by their origin", () => {
  const root = tempDir(scope);
  mkdirSync(join(root, "etc"));
  mkdirSync(join(root, "lib/apk/db"), { recursive: true });
  writeFileSync(join(root, "etc/os-release"), 'NAME="Alpine Linux"\nID=alpine\nVERSION_ID=3.18.2\n');
  writeFileSync(
    join(root, "lib/apk/db/installed"),
    "P:libssl3\nV:3.0.8-r3\nA:x86_64\no:openssl\n\nP:musl\nV:1.2.4-r1\nA:x86_64\no:musl\n\n",
  );
  const r = vigil(["scan", `dir:${root}`, "--db", db, "--json"]);
  assert.equal(r.status, 1, r.stderr);
  const finding = r.json().checks.find((c: any) => c.rule === "ALPINE-CVE-2023-2650");
  assert.match(finding.subject, /^pkg:apk\/alpine\/libssl3@3.0.8-r3\?/);
  assert.match(finding.message, /in openssl 3.0.8-r3.*fixed in 3.1.1-r0/);
});

test("bad input: exit 2 naming the file or option; a missing database is named with how to make it", () => {
  const cases: [string[], RegExp][] = [
    [["scan", join(dir, "advisories.json"), "--db", db], /neither CycloneDX \(bomFormat\) nor SPDX/],
    [["scan", SBOM, "--db", db, "--fail-on", "severe"], /--fail-on must be one of low, medium, high, critical/],
    [["scan", SBOM, "--db", join(dir, "nowhere")], /no vulnerability database here .*vigil db import/],
    [["scan", join(dir, "nope.json"), "--db", db], /nope.json: no such file/],
    [["scan", SBOM, "--db", db, "-o", "xml"], /-o must be one of/],
    [["scan", SBOM, "--db", db, "--vex", join(dir, "advisories.json")], /advisories.json: not a JSON object/],
  ];
  for (const [args, why] of cases) {
    const r = vigil(args);
    assert.equal(r.status, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, why);
  }
  const old = join(dir, "old.cdx.json");
  writeFileSync(old, JSON.stringify({ bomFormat: "CycloneDX", specVersion: "1.2", components: [] }));
  const r = vigil(["scan", old, "--db", db]);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /old.cdx.json: specVersion "1.2": Vigil reads CycloneDX 1.4, 1.5 and 1.6/);
  const nested = join(dir, "nested.cdx.json");
  writeFileSync(nested, sbom([{ type: "library", name: "x", components: [{ type: "library", purl: 7 }] }]));
  assert.match(vigil(["scan", nested, "--db", db]).stderr, /components\[0\]\.components\[0\]\.purl is not a string/);
});

test("control characters an SBOM or advisory writes never reach the terminal", () => {
  const hostile = join(dir, "hostile.cdx.json");
  writeFileSync(
    hostile,
    sbom([
      { type: "library", name: "x", purl: "pkg:generic/evil\u001b[2J@1.0" },
      { type: "library", name: "lodash", purl: "pkg:npm/lodash@4.17.15?x=\u001b]0;pwned\u0007" },
    ]),
  );
  const r = vigil(["scan", hostile, "--db", db]);
  assert.equal(r.status, 1, r.stderr);
  assert.ok(!/[\u001b\u0007]/.test(r.stdout), "no escape or bell in the table");
  assert.match(r.stdout, /GHSA-p6mc-m468-83gw/);
});

test("an SBOM of 100,000 components is scanned in bounded time and memory", () => {
  const big = join(dir, "big.cdx.json");
  const components = Array.from({ length: 100_000 }, (_, i) => ({
    type: "library",
    name: `pkg-${i}`,
    version: "1.0.0",
    purl: `pkg:npm/pkg-${i}@1.0.0`,
  }));
  components.push({ type: "library", name: "lodash", version: "4.17.15", purl: "pkg:npm/lodash@4.17.15" });
  writeFileSync(big, sbom(components));
  const started = performance.now();
  const r = vigil(["scan", big, "--db", db, "--json"]);
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.json().checks.at(-1).message, /^100001 components/);
  assert.ok(performance.now() - started < 120_000);
});
