// Every ordering line of the shared vectors (osv-scalibr's semantic/testdata) holds, in both
// directions, for each ecosystem's scheme; plus each scheme's own edge cases and refusals.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { requireSharedData } from "./helpers/tools.ts";
import { compareVersions, schemeFor, VersionError } from "../src/vuln/versions/index.ts";

const dir = new URL("../../shared/data/versions/", import.meta.url).pathname;

const files: [string, string][] = [
  ["semver-versions.txt", "npm"],
  ["semver-versions.txt", "Go"],
  ["semver-versions.txt", "crates.io"],
  ["semver-versions.txt", "Hex"],
  ["pypi-versions.txt", "PyPI"],
  ["pypi-versions-generated.txt", "PyPI"],
  ["maven-versions.txt", "Maven"],
  ["maven-versions-generated.txt", "Maven"],
  ["rubygems-versions.txt", "RubyGems"],
  ["rubygems-versions-generated.txt", "RubyGems"],
  ["nuget-versions.txt", "NuGet"],
  ["packagist-versions.txt", "Packagist"],
  ["packagist-versions-generated.txt", "Packagist"],
  ["pub-versions.txt", "Pub"],
  ["debian-versions.txt", "Debian"],
  ["debian-versions-generated.txt", "Debian"],
  ["alpine-versions.txt", "Alpine"],
  ["alpine-versions-generated.txt", "Alpine"],
  ["redhat-versions.txt", "Red Hat"],
  ["cran-versions.txt", "CRAN"],
  ["cran-versions-generated.txt", "CRAN"],
  ["hackage-versions.txt", "Hackage"],
];

for (const [file, ecosystem] of files) {
  test(`${file} holds for ${ecosystem}, both ways`, (t) => {
    if (!requireSharedData(t, dir + file)) return;
    const failures: string[] = [];
    let count = 0;
    for (const [i, line] of readFileSync(dir + file, "utf8")
      .split("\n")
      .entries()) {
      if (line === "" || line.startsWith("# ") || line.startsWith("// ") || line === "#" || line === "//") continue;
      const m = /^(\S+) ([<=>]) (\S+)$/.exec(line);
      assert.ok(m, `${file}:${i + 1}: unreadable line ${JSON.stringify(line)}`);
      const [, a, op, b] = m;
      const want = op === "<" ? -1 : op === ">" ? 1 : 0;
      count++;
      try {
        const got = Math.sign(compareVersions(ecosystem, a!, b!));
        const mirror = Math.sign(compareVersions(ecosystem, b!, a!));
        if (got !== want || mirror !== -want) failures.push(`${file}:${i + 1}: ${line} (got ${got}, mirror ${mirror})`);
      } catch (e) {
        failures.push(`${file}:${i + 1}: ${line}: ${(e as Error).message}`);
      }
    }
    assert.ok(count > 0);
    assert.deepEqual(failures.slice(0, 20), [], `${failures.length} of ${count} lines fail`);
  });
}

test("Go pseudo-versions and +incompatible order as SemVer says", () => {
  assert.ok(compareVersions("Go", "0.0.0-20200101000000-abcdef123456", "0.0.0-20210101000000-abcdef123456") < 0);
  assert.ok(compareVersions("Go", "1.2.4-0.20200101000000-abcdef123456", "1.2.4") < 0);
  assert.ok(compareVersions("Go", "1.2.3", "1.2.4-0.20200101000000-abcdef123456") < 0);
  assert.equal(compareVersions("Go", "2.0.0+incompatible", "2.0.0"), 0);
  assert.ok(compareVersions("Go", "v2.1.0+incompatible", "2.0.9") > 0);
});

test("Debian: epochs and tildes", () => {
  assert.ok(compareVersions("Debian:12", "1:1.0", "2.0") > 0);
  assert.ok(compareVersions("Debian:12", "1.0~rc1", "1.0") < 0);
  assert.ok(compareVersions("Debian:12", "1.0~~", "1.0~") < 0);
  assert.ok(compareVersions("Ubuntu:22.04:LTS", "1:8.9p1-3ubuntu0.10", "1:8.9p1-3ubuntu0.4") > 0);
});

test("RPM: epochs, tilde and caret", () => {
  assert.ok(compareVersions("AlmaLinux:8", "1:1.0-1.el8", "2.0-1.el8") > 0);
  assert.ok(compareVersions("AlmaLinux:8", "1.0~rc1-1", "1.0-1") < 0);
  assert.ok(compareVersions("AlmaLinux:8", "1.0^git1-1", "1.0-1") > 0);
  assert.ok(compareVersions("AlmaLinux:8", "1.0^git1", "1.0.1") < 0);
});

test("unparsable versions are refused with the reason, never ordered", () => {
  for (const [eco, v] of [
    ["npm", "not-a-version"],
    ["Debian:12", "a1.0"],
    ["Debian:12", "x:1.0"],
    ["NuGet", "1.2.3.4.5"],
    ["CRAN", "1.a"],
    ["npm", ""],
    ["npm", "1".repeat(300)],
    ["Alpine:v3.20", "1.0 beta"],
  ] as const) {
    assert.throws(() => compareVersions(eco, v, "1.0.0"), VersionError, `${eco} ${v}`);
  }
  assert.equal(schemeFor("NotAnEcosystem"), undefined);
  assert.equal(schemeFor("constructor"), undefined);
});
