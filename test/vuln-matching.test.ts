// Matching by each ecosystem's rules on advisories written here in OSV's published format (Debian,
// Maven, NuGet and others that have no bulk data here), the OSV evaluation of ranges (introduced, fixed,
// last_affected, limit, versions lists, GIT), purls mapped as OSV's tools map them, and "cannot judge"
// results for what cannot be decided, never silence.
import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import { fileScope, requireSharedData, tempDir } from "./helpers/tools.ts";
import { importAdvisories } from "../src/vuln/import.ts";
import { judge, mapPurl } from "../src/vuln/match.ts";
import { parseAdvisory } from "../src/vuln/osv.ts";
import { scanComponents } from "../src/vuln/scan.ts";
import { SqliteStore } from "../src/vuln/sqlite-store.ts";

const scope = fileScope();
const osv = new URL("../../shared/data/osv/", import.meta.url).pathname;

function advisory(id: string, affected: object[], extra: object = {}) {
  return { schema_version: "1.6.0", id, modified: "2024-01-01T00:00:00Z", affected, ...extra };
}
const range = (type: string, ...events: object[]) => ({ type, events });

test("Debian: source packages per release, epochs and tildes (OSV.dev's Debian records)", () => {
  const a = parseAdvisory(
    advisory("DSA-9999-1", [
      {
        package: { ecosystem: "Debian:12", name: "openssl" },
        ranges: [range("ECOSYSTEM", { introduced: "0" }, { fixed: "3.0.11-1~deb12u2" })],
      },
      {
        package: { ecosystem: "Debian:11", name: "openssl" },
        ranges: [range("ECOSYSTEM", { introduced: "0" }, { fixed: "1:1.1.1w-0+deb11u1" })],
      },
    ]),
  );
  assert.equal(judge(a, "Debian:12", "openssl", "3.0.11-1~deb12u1").kind, "affected");
  assert.equal(judge(a, "Debian:12", "openssl", "3.0.11-1~deb12u2").kind, "not-affected");
  assert.equal(judge(a, "Debian:12", "openssl", "3.0.11-1").kind, "not-affected", "3.0.11-1 sorts after ~deb12u2");
  // Debian 11 fixes at epoch 1: every epoch-0 version is below it.
  assert.equal(judge(a, "Debian:11", "openssl", "1.1.1w-0+deb11u1").kind, "affected");
  assert.equal(judge(a, "Debian:11", "openssl", "1:1.1.1w-0+deb11u1").kind, "not-affected");
  // Another release's entry never applies; a purl without a release cannot be judged.
  assert.equal(judge(a, "Debian:13", "openssl", "3.0.0-1").kind, "not-affected");
  assert.equal(judge(a, "Debian", "openssl", "3.0.0-1").kind, "cannot-judge");
  const v = judge(a, "Debian:12", "openssl", "3.0.9-1");
  assert.equal(v.kind === "affected" && v.fixed[0], "3.0.11-1~deb12u2");
});

test("Maven: qualifiers and group:artifact names", () => {
  const a = parseAdvisory(
    advisory("GHSA-jfh8-c2jp-5v3q", [
      {
        package: { ecosystem: "Maven", name: "org.apache.logging.log4j:log4j-core" },
        ranges: [range("ECOSYSTEM", { introduced: "2.0-beta9" }, { fixed: "2.15.0" })],
      },
    ]),
  );
  const m = mapPurl("pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1");
  assert.ok(m.ok);
  assert.equal(m.name, "org.apache.logging.log4j:log4j-core");
  assert.equal(judge(a, m.ecosystem, m.name, m.version).kind, "affected");
  assert.equal(judge(a, "Maven", m.name, "2.0-beta8").kind, "not-affected");
  assert.equal(judge(a, "Maven", m.name, "2.0-rc1").kind, "affected", "rc is after beta");
  assert.equal(judge(a, "Maven", m.name, "2.15.0-SNAPSHOT").kind, "affected", "a snapshot is before its release");
  assert.equal(judge(a, "Maven", m.name, "2.15.0.RELEASE").kind, "not-affected", "release equals the plain version");
});

test("NuGet: case-insensitive names, four-part versions, prerelease labels", () => {
  const a = parseAdvisory(
    advisory("GHSA-5crp-9r3c-p9vr", [
      { package: { ecosystem: "NuGet", name: "Newtonsoft.Json" }, ranges: [range("ECOSYSTEM", { introduced: "0" }, { fixed: "13.0.1" })] },
    ]),
  );
  const m = mapPurl("pkg:nuget/newtonsoft.json@12.0.3");
  assert.ok(m.ok);
  assert.equal(judge(a, m.ecosystem, m.name, m.version).kind, "affected");
  assert.equal(judge(a, "NuGet", "newtonsoft.json", "13.0.1-BETA1").kind, "affected");
  assert.equal(judge(a, "NuGet", "newtonsoft.json", "13.0.1.0").kind, "not-affected");
});

test("SEMVER and ECOSYSTEM ranges: last_affected, several ranges, versions lists, limit", () => {
  const a = parseAdvisory(
    advisory("GHSA-test-0001", [
      {
        package: { ecosystem: "npm", name: "left-pad" },
        ranges: [
          range("SEMVER", { introduced: "1.0.0" }, { last_affected: "1.2.0" }),
          range("SEMVER", { introduced: "2.0.0-0" }, { fixed: "2.1.0" }),
        ],
      },
      { package: { ecosystem: "PyPI", name: "Some_Package" }, versions: ["1.0.post1"] },
      {
        package: { ecosystem: "Go", name: "example.com/mod" },
        ranges: [{ type: "GIT", repo: "https://example.com/mod", events: [{ introduced: "0" }, { fixed: "abc" }] }],
      },
      { package: { ecosystem: "crates.io", name: "lim" }, ranges: [range("SEMVER", { introduced: "0" }, { limit: "2.0.0" })] },
    ]),
  );
  assert.equal(judge(a, "npm", "left-pad", "1.2.0").kind, "affected", "last_affected is included");
  assert.equal(judge(a, "npm", "left-pad", "1.2.1").kind, "not-affected");
  assert.equal(judge(a, "npm", "left-pad", "2.0.0-beta").kind, "affected");
  assert.equal(judge(a, "npm", "left-pad", "2.1.0").kind, "not-affected");
  assert.equal(judge(a, "npm", "left-pad", "0.9.0").kind, "not-affected");
  // PyPI names are compared as PEP 503 normalises them; a versions list is exact.
  assert.equal(judge(a, "PyPI", "some-package", "1.0.post1").kind, "affected");
  assert.equal(judge(a, "PyPI", "some-package", "1.0").kind, "not-affected");
  // A GIT range with no enumerated versions is never "not affected".
  const git = judge(a, "Go", "example.com/mod", "1.0.0");
  assert.equal(git.kind, "cannot-judge");
  assert.match(git.kind === "cannot-judge" ? git.reason : "", /GIT range/);
  assert.equal(judge(a, "crates.io", "lim", "1.9.9").kind, "affected");
  assert.equal(judge(a, "crates.io", "lim", "2.0.0").kind, "not-affected", "limit caps the range");
});

test("unreadable versions and unknown ecosystems are cannot-judge results, with the reason", () => {
  const a = parseAdvisory(
    advisory("OSV-TEST-2", [
      { package: { ecosystem: "npm", name: "x" }, ranges: [range("SEMVER", { introduced: "0" }, { fixed: "1.0.0" })] },
      { package: { ecosystem: "NewEcosystem", name: "y" }, ranges: [range("ECOSYSTEM", { introduced: "0" }, { fixed: "1" })] },
      { package: { ecosystem: "npm", name: "z" }, ranges: [range("SEMVER", { introduced: "0" }, { fixed: "not a version" })] },
    ]),
  );
  const bad = judge(a, "npm", "x", "latest");
  assert.equal(bad.kind, "cannot-judge");
  assert.match(bad.kind === "cannot-judge" ? bad.reason : "", /"latest" is not a SemVer 2.0 version/);
  const eco = judge(a, "NewEcosystem", "y", "0.5");
  assert.match(eco.kind === "cannot-judge" ? eco.reason : "", /no version rules known for ecosystem "NewEcosystem"/);
  const bound = judge(a, "npm", "z", "0.5.0");
  assert.match(bound.kind === "cannot-judge" ? bound.reason : "", /"not a version"/);
});

test("purls map to OSV ecosystems as OSV's tools map them", () => {
  const cases: [string, string, string, string][] = [
    ["pkg:deb/debian/libssl3@3.0.11-1~deb12u2?arch=amd64&distro=debian-12&upstream=openssl", "Debian:12", "openssl", "3.0.11-1~deb12u2"],
    ["pkg:deb/debian/curl@7.88.1-10?distro=bookworm", "Debian:12", "curl", "7.88.1-10"],
    ["pkg:deb/debian/libc6@2.36-9?distro=debian-12.5&upstream=glibc%402.36-9%2Bdeb12u4", "Debian:12", "glibc", "2.36-9+deb12u4"],
    [
      "pkg:deb/ubuntu/openssh-server@1:8.9p1-3ubuntu0.4?distro=ubuntu-22.04&upstream=openssh",
      "Ubuntu:22.04",
      "openssh",
      "1:8.9p1-3ubuntu0.4",
    ],
    ["pkg:apk/alpine/libcrypto3@3.3.1-r0?arch=x86_64&distro=3.20.1&upstream=openssl", "Alpine:v3.20", "openssl", "3.3.1-r0"],
    ["pkg:rpm/almalinux/openssl@3.0.7-24.el9?epoch=1&distro=almalinux-9.3", "AlmaLinux:9", "openssl", "1:3.0.7-24.el9"],
    ["pkg:npm/%40babel/core@7.0.0", "npm", "@babel/core", "7.0.0"],
    ["pkg:golang/github.com/foo/bar@v1.2.3", "Go", "github.com/foo/bar", "v1.2.3"],
    ["pkg:pypi/Django_Rest@3.0", "PyPI", "django-rest", "3.0"],
    ["pkg:composer/symfony/http-kernel@5.4.0", "Packagist", "symfony/http-kernel", "5.4.0"],
    ["pkg:gem/rails@7.0.0", "RubyGems", "rails", "7.0.0"],
    ["pkg:cargo/smallvec@1.0.0", "crates.io", "smallvec", "1.0.0"],
  ];
  for (const [purl, ecosystem, name, version] of cases) {
    assert.deepEqual(mapPurl(purl), { ok: true, ecosystem, name, version }, purl);
  }
  for (const [purl, why] of [
    ["pkg:generic/x@1", /purl type "generic"/],
    ["pkg:deb/debian/x@1.0", /without a Debian release/],
    ["pkg:npm/x", /no version/],
    ["not a purl", /unreadable purl/],
  ] as const) {
    const m = mapPurl(purl);
    assert.equal(m.ok, false);
    assert.match(m.ok ? "" : m.reason, why, purl);
  }
});

test("on the shared data: aliases group duplicates (USN-6859-1 and UBUNTU-CVE-2024-6387), Alpine by origin package, Go pseudo-versions", async (t) => {
  if (!requireSharedData(t, osv)) return;
  const db = tempDir(scope);
  const store = SqliteStore.open(db, { create: true });
  t.after(() => store.close());
  await importAdvisories(store, [join(osv, "Ubuntu/all.zip"), join(osv, "Alpine/all.zip"), join(osv, "Go/all.zip")]);
  const components = [
    "pkg:deb/ubuntu/openssh-server@1:8.9p1-3ubuntu0.4?distro=ubuntu-22.04&upstream=openssh",
    "pkg:deb/ubuntu/openssh-server@1:8.9p1-3ubuntu0.10?distro=ubuntu-22.04&upstream=openssh",
    "pkg:apk/alpine/libcrypto3@3.3.0-r0?distro=3.20.3&upstream=openssl",
    "pkg:apk/alpine/xz@5.6.1-r2?distro=3.21.0",
    "pkg:golang/golang.org/x/crypto@v0.0.0-20200622213623-75b288015ac9",
  ].map((purl) => ({ purl, from: "test" }));
  const result = await scanComponents(store, components);
  const byPurl = (p: string) => result.findings.filter((f) => f.purl === components.find((c) => c.purl.startsWith(p))!.purl);
  const openssh = byPurl("pkg:deb/ubuntu/openssh-server@1:8.9p1-3ubuntu0.4");
  const regresshion = openssh.filter((f) => f.ids.includes("USN-6859-1"));
  assert.equal(regresshion.length, 1, "one finding for the two advisories of the same fix");
  assert.ok(regresshion[0]!.ids.includes("UBUNTU-CVE-2024-6387"));
  assert.deepEqual(regresshion[0]!.fixed.slice(0, 1), ["1:8.9p1-3ubuntu0.10"]);
  assert.equal(byPurl("pkg:deb/ubuntu/openssh-server@1:8.9p1-3ubuntu0.10").filter((f) => f.ids.includes("USN-6859-1")).length, 0);
  assert.ok(byPurl("pkg:apk/alpine/libcrypto3").length > 0, "libcrypto3 is judged as its origin, openssl");
  assert.ok(byPurl("pkg:apk/alpine/libcrypto3").every((f) => f.ecosystem === "Alpine:v3.20"));
  assert.equal(
    byPurl("pkg:apk/alpine/xz").filter((f) => f.ids.includes("CVE-2024-3094")).length,
    0,
    "xz 5.6.1-r2 carries the fix in Alpine",
  );
  assert.ok(
    byPurl("pkg:golang/golang.org/x/crypto").some((f) => f.ids.includes("CVE-2020-29652")),
    "a 2020 pseudo-version is below the 2020-12 fix",
  );
});

test("advisories are read strictly: a wrong field refuses the whole advisory, naming it", () => {
  const cases: [object, RegExp][] = [
    [{ id: "X-1", modified: "yesterday", affected: [] }, /"modified" is not an RFC 3339 time/],
    [{ id: "X-1", modified: "2024-01-01T00:00:00Z", affected: [{ package: { ecosystem: "npm" } }] }, /affected\[0\]\.package/],
    [
      {
        id: "X-1",
        modified: "2024-01-01T00:00:00Z",
        affected: [{ package: { ecosystem: "npm", name: "a" }, ranges: [{ type: "SEMVER", events: [{ introduced: "0", fixed: "1" }] }] }],
      },
      /events\[0\]" must have exactly one/,
    ],
    [{ id: "X-1", modified: "2024-01-01T00:00:00Z", aliases: "CVE-1" }, /"aliases" is not a list of strings/],
    [{ id: "../../etc/passwd", modified: "2024-01-01T00:00:00Z" }, /"id" is missing or not an identifier/],
  ];
  for (const [raw, why] of cases) assert.throws(() => parseAdvisory(raw), why);
});
