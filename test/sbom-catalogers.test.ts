// Every cataloger on real artefacts, against the truth of the package manager that installed them
// (test/helpers/sbom-targets.ts builds them once into .cache/sbom-targets), and on the documented
// formats of those whose tools cannot run here (apk, Composer, NuGet, Gemfile.lock; installed gems come
// from Debian's ruby-* packages, a poetry.lock from poetry, a Pipfile.lock from pipenv).
import assert from "node:assert/strict";
import { cpSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { test } from "node:test";
import { generateInventory, type Inventory } from "../src/sbom/index.ts";
import { keyOf, score } from "./helpers/sbom-compare.ts";
import * as targets from "./helpers/sbom-targets.ts";
import { writeTree } from "./helpers/sbom-targets.ts";
import { requireTools, run, tempDir } from "./helpers/tools.ts";

const keys = (inventory: Inventory) => new Set(inventory.components.map(keyOf));

function assertMatches(inventory: Inventory, truth: Set<string>): void {
  const s = score(keys(inventory), truth);
  assert.deepEqual({ missing: s.missing, extra: s.extra }, { missing: [], extra: [] });
}

test("dpkg: a Debian root unpacked from Debian's .debs matches dpkg-query, with release, arch, source and licenses", async (t) => {
  if (!requireTools(t, ["apt-get", "dpkg-deb", "dpkg-query"])) return;
  const { root, truth } = targets.debianRoot();
  const inventory = await generateInventory(`dir:${root}`);
  assertMatches(inventory, truth);
  // base-files' /etc/os-release is a symlink to ../usr/lib/os-release: resolved inside the root.
  assert.equal(inventory.os?.id, "debian");
  assert.equal(inventory.os?.versionId, "12");
  const ssl = inventory.components.find((c) => c.name === "libssl3")!;
  assert.match(ssl.purl, /^pkg:deb\/debian\/libssl3@[^?]+\?arch=amd64&distro=debian-12&upstream=openssl(%40|@)/);
  assert.equal(ssl.source?.name, "openssl");
  assert.deepEqual(ssl.locations, [{ path: "/var/lib/dpkg/status" }]);
  assert.ok(inventory.components.find((c) => c.name === "zlib1g")!.licenses?.includes("Zlib"));
  assert.equal(inventory.warnings.length, 0, inventory.warnings.join("\n"));
});

test("dpkg: distroless status.d files, one package each", async (t) => {
  if (!requireTools(t, ["apt-get", "dpkg-deb", "dpkg-query"])) return;
  const { root, truth } = targets.distrolessRoot();
  const inventory = await generateInventory(`dir:${root}`);
  assertMatches(inventory, truth);
  assert.equal(inventory.components.find((c) => c.name === "bash")!.locations[0]!.path, "/var/lib/dpkg/status.d/bash");
});

test("dpkg: only installed packages (config-files and not-installed entries are not on disk)", async (t) => {
  const root = writeTree(tempDir(t), {
    "etc/os-release": "ID=debian\nVERSION_ID=12\n",
    "var/lib/dpkg/status": [
      "Package: kept\nStatus: install ok installed\nVersion: 1.0-1\nArchitecture: all\n",
      "Package: removed\nStatus: deinstall ok config-files\nVersion: 2.0-1\nArchitecture: all\n",
      "Package: half\nStatus: install reinstreq half-installed\nVersion: 3.0-1\nArchitecture: all\n",
    ].join("\n"),
  });
  const inventory = await generateInventory(`dir:${root}`);
  assert.deepEqual([...keys(inventory)], ["deb:kept@1.0-1"]);
});

test("apk: the installed database (written from apk-tools' format: .apk files are not reachable here)", async () => {
  const { root, truth } = targets.alpineRoot();
  const inventory = await generateInventory(`dir:${root}`);
  assertMatches(inventory, truth);
  const musl = inventory.components.find((c) => c.name === "musl")!;
  assert.equal(musl.purl, "pkg:apk/alpine/musl@1.2.5-r0?arch=x86_64&distro=3.20.1");
  assert.deepEqual(inventory.components.find((c) => c.name === "libssl3")!.source, { name: "openssl", version: "3.3.1-r3" });
  assert.deepEqual(inventory.components.find((c) => c.name === "ca-certificates-bundle")!.licenses, ["MPL-2.0 AND MIT"]);
});

/** An RPM header blob as rpm writes it into its database: index entries (tag, type, offset, count), then the data. */
function rpmHeader(tags: [number, string | number][]): Buffer {
  const entries: Buffer[] = [];
  const data: Buffer[] = [];
  let offset = 0;
  for (const [tag, value] of tags) {
    let bytes: Buffer;
    let type: number;
    if (typeof value === "number") {
      const pad = (4 - (offset % 4)) % 4;
      data.push(Buffer.alloc(pad));
      offset += pad;
      bytes = Buffer.alloc(4);
      bytes.writeUInt32BE(value);
      type = 4;
    } else {
      bytes = Buffer.from(value + "\0");
      type = 6;
    }
    const e = Buffer.alloc(16);
    e.writeUInt32BE(tag, 0);
    e.writeUInt32BE(type, 4);
    e.writeUInt32BE(offset, 8);
    e.writeUInt32BE(1, 12);
    entries.push(e);
    data.push(bytes);
    offset += bytes.length;
  }
  const head = Buffer.alloc(8);
  head.writeUInt32BE(entries.length, 0);
  head.writeUInt32BE(offset, 4);
  return Buffer.concat([head, ...entries, ...data]);
}

test("rpm: the SQLite rpmdb (Packages table of header blobs), gpg-pubkey entries left out", async (t) => {
  const root = tempDir(t);
  writeTree(root, { "etc/os-release": 'ID="rocky"\nVERSION_ID="9.4"\n' });
  mkdirSync(join(root, "var", "lib", "rpm"), { recursive: true });
  const db = new DatabaseSync(join(root, "var", "lib", "rpm", "rpmdb.sqlite"));
  db.exec("CREATE TABLE Packages (hnum INTEGER PRIMARY KEY AUTOINCREMENT, blob BLOB NOT NULL)");
  const insert = db.prepare("INSERT INTO Packages (blob) VALUES (?)");
  insert.run(
    rpmHeader([
      [1000, "openssl-libs"],
      [1001, "3.0.7"],
      [1002, "27.el9"],
      [1003, 1],
      [1014, "Apache-2.0"],
      [1022, "x86_64"],
      [1044, "openssl-3.0.7-27.el9.src.rpm"],
    ]),
  );
  insert.run(
    rpmHeader([
      [1000, "bash"],
      [1001, "5.1.8"],
      [1002, "9.el9"],
      [1014, "GPLv3+"],
      [1022, "x86_64"],
      [1044, "bash-5.1.8-9.el9.src.rpm"],
    ]),
  );
  insert.run(
    rpmHeader([
      [1000, "gpg-pubkey"],
      [1001, "350d275d"],
      [1002, "6279464b"],
    ]),
  );
  db.close();
  const inventory = await generateInventory(`dir:${root}`);
  assert.deepEqual([...keys(inventory)].sort(), ["rpm:bash@5.1.8-9.el9", "rpm:openssl-libs@1:3.0.7-27.el9"]);
  const ssl = inventory.components.find((c) => c.name === "openssl-libs")!;
  assert.equal(
    ssl.purl,
    "pkg:rpm/rocky/openssl-libs@3.0.7-27.el9?arch=x86_64&distro=rocky-9.4&epoch=1&upstream=openssl-3.0.7-27.el9.src.rpm",
  );
  assert.deepEqual(ssl.source, { name: "openssl", version: "3.0.7-27.el9" });
});

test("rpm: packages built by rpmbuild and recorded by rpm (--justdb) in its SQLite rpmdb match rpm -qa", async (t) => {
  if (!requireTools(t, ["rpm", "rpmbuild"])) return;
  const { root, truth } = targets.rpmRoot();
  const inventory = await generateInventory(`dir:${root}`);
  assertMatches(inventory, truth);
  const libs = inventory.components.find((c) => c.name === "vigil-fixture-libs")!;
  assert.equal(
    libs.purl,
    "pkg:rpm/rocky/vigil-fixture-libs@3.0.7-27.el9?arch=noarch&distro=rocky-9.4&epoch=1&upstream=vigil-fixture-libs-3.0.7-27.el9.src.rpm",
  );
  assert.deepEqual(libs.source, { name: "vigil-fixture-libs", version: "3.0.7-27.el9" });
  assert.deepEqual(libs.licenses, ["Apache-2.0"]);
});

test("rpm: the same headers in a Berkeley DB hash Packages file written by Berkeley DB's db_load", async (t) => {
  if (!requireTools(t, ["rpm", "rpmbuild", "db_load"])) return;
  const { root, truth } = targets.rpmBerkeleyRoot();
  const inventory = await generateInventory(`dir:${root}`);
  assertMatches(inventory, truth);
  assert.equal(inventory.components[0]!.locations[0]!.path, "/var/lib/rpm/Packages");
});

test("npm: an npm install tree (node_modules and package-lock v3) matches npm ls --all", async (t) => {
  if (!requireTools(t, ["npm"])) return;
  const { root, truth } = targets.npmProject();
  const inventory = await generateInventory(`dir:${root}`);
  assertMatches(inventory, truth);
  const is = inventory.components.find((c) => c.name === "@sindresorhus/is")!;
  assert.equal(is.purl, "pkg:npm/%40sindresorhus/is@7.0.1");
  // Found in node_modules and in the lock: one component, both locations.
  assert.deepEqual(is.locations.map((l) => l.path).sort(), ["/app/node_modules/@sindresorhus/is/package.json", "/app/package-lock.json"]);
  assert.ok(inventory.components.find((c) => c.name === "express")!.licenses?.includes("MIT"));
});

test("npm: package-lock alone, v3 and v1 (npm's own v2 lock without its packages section)", async (t) => {
  if (!requireTools(t, ["npm"])) return;
  const { root, truth } = targets.npmProject();
  const v3 = tempDir(t);
  cpSync(join(root, "app", "package-lock.json"), join(v3, "package-lock.json"));
  assertMatches(await generateInventory(`dir:${v3}`), truth);
  const v2 = tempDir(t);
  cpSync(join(root, "app", "package.json"), join(v2, "package.json"));
  cpSync(join(root, "app", "package-lock.json"), join(v2, "package-lock.json"));
  run(
    "npm",
    ["install", "--package-lock-only", "--lockfile-version", "2", "--prefer-offline", "--no-audit", "--no-fund", "--ignore-scripts"],
    { cwd: v2 },
  );
  const lock = JSON.parse(readFileSync(join(v2, "package-lock.json"), "utf8"));
  assert.equal(lock.lockfileVersion, 2);
  delete lock.packages;
  lock.lockfileVersion = 1;
  writeFileSync(join(v2, "package-lock.json"), JSON.stringify(lock));
  assertMatches(await generateInventory(`dir:${v2}`), truth);
});

test("npm: yarn.lock from yarn 1 and yarn 4, pnpm-lock.yaml from pnpm 9, each alone, match what each installed", async (t) => {
  if (!requireTools(t, ["npm", "pip"])) return;
  for (const [tool, target] of [
    ["yarn 1", targets.yarnClassicProject()],
    ["yarn 4", targets.yarnBerryProject()],
    ["pnpm 9", targets.pnpmProject()],
  ] as const) {
    const s = score(keys(await generateInventory(`dir:${target.lockOnly}`)), target.truth);
    assert.deepEqual({ tool, missing: s.missing, extra: s.extra }, { tool, missing: [], extra: [] });
  }
});

test("python: uv.lock from uv matches uv export (the project itself left out)", async (t) => {
  if (!requireTools(t, ["pip"])) return;
  const { lockOnly, truth } = targets.uvProject();
  assertMatches(await generateInventory(`dir:${lockOnly}`), truth);
});

test("python: poetry.lock from poetry matches poetry show; Pipfile.lock from pipenv matches pipenv requirements", async (t) => {
  if (!requireTools(t, ["pip", "python3"])) return;
  for (const { lockOnly, truth } of [targets.poetryProject(), targets.pipenvProject()]) {
    assert.ok(truth.has("pypi:requests@2.32.3"), [...truth].join(", "));
    assertMatches(await generateInventory(`dir:${lockOnly}`), truth);
  }
});

test("npm: yarn.lock v1 and berry, pnpm-lock v9 (written in each tool's format)", async (t) => {
  const root = writeTree(tempDir(t), {
    "v1/yarn.lock":
      '# yarn lockfile v1\n\n\n"@babel/code-frame@^7.0.0", "@babel/code-frame@^7.22.13":\n  version "7.23.5"\n  resolved "https://registry.yarnpkg.com/@babel/code-frame/-/code-frame-7.23.5.tgz#abc"\n  integrity sha512-x\n  dependencies:\n    chalk "^2.4.2"\n\nchalk@^2.4.2:\n  version "2.4.2"\n  resolved "https://registry.yarnpkg.com/chalk/-/chalk-2.4.2.tgz#def"\n',
    "berry/yarn.lock":
      '__metadata:\n  version: 8\n  cacheKey: 10c0\n\n"app@workspace:.":\n  version: 0.0.0-use.local\n  resolution: "app@workspace:."\n  languageName: unknown\n  linkType: soft\n\n"lodash@npm:^4.17.21":\n  version: 4.17.21\n  resolution: "lodash@npm:4.17.21"\n  checksum: 10c0/abc\n  languageName: node\n  linkType: hard\n\n"@types/node@npm:^20.0.0, @types/node@npm:^20.1.0":\n  version: 20.11.5\n  resolution: "@types/node@npm:20.11.5"\n  languageName: node\n  linkType: hard\n',
    "pnpm/pnpm-lock.yaml":
      "lockfileVersion: '9.0'\n\nimporters:\n  .:\n    dependencies:\n      react-dom:\n        specifier: ^18.2.0\n        version: 18.2.0(react@18.2.0)\n\npackages:\n  loose-envify@1.4.0:\n    resolution: {integrity: sha512-x}\n  react-dom@18.2.0:\n    resolution: {integrity: sha512-y}\n  react@18.2.0:\n    resolution: {integrity: sha512-z}\n  '@babel/runtime@7.24.0':\n    resolution: {integrity: sha512-w}\n",
    "pnpm6/pnpm-lock.yaml":
      "lockfileVersion: '6.0'\n\npackages:\n  /js-tokens@4.0.0:\n    resolution: {integrity: sha512-x}\n    dev: false\n  /@types/react@18.2.0(csstype@3.1.3):\n    resolution: {integrity: sha512-x}\n    dev: true\n",
  });
  const found = keys(await generateInventory(`dir:${root}`));
  for (const k of [
    "npm:@babel/code-frame@7.23.5",
    "npm:chalk@2.4.2",
    "npm:lodash@4.17.21",
    "npm:@types/node@20.11.5",
    "npm:loose-envify@1.4.0",
    "npm:react-dom@18.2.0",
    "npm:react@18.2.0",
    "npm:@babel/runtime@7.24.0",
    "npm:js-tokens@4.0.0",
    "npm:@types/react@18.2.0",
  ]) {
    assert.ok(found.has(k), k);
  }
  assert.equal(found.size, 10, [...found].join(" "));
});

test("python: pip install --target matches pip list; requirements pins from pip freeze", async (t) => {
  if (!requireTools(t, ["pip"])) return;
  const { root, truth } = targets.pythonTree();
  const inventory = await generateInventory(`dir:${root}`);
  assertMatches(inventory, truth);
  assert.equal(inventory.components.find((c) => c.name === "requests")!.purl, "pkg:pypi/requests@2.32.3");
  const pins = tempDir(t);
  writeFileSync(
    join(pins, "requirements.txt"),
    run("pip", ["freeze", "--disable-pip-version-check", "--path", join(root, "opt", "py")]) +
      "# a comment\nflask>=2 # a range: no version\n-r other.txt\n",
  );
  assertMatches(await generateInventory(`dir:${pins}`), truth);
});

test("python: poetry.lock, Pipfile.lock, uv.lock and egg-info (in each tool's format)", async (t) => {
  const root = writeTree(tempDir(t), {
    "a/poetry.lock":
      '[[package]]\nname = "Django"\nversion = "4.2.11"\ndescription = ""\noptional = false\npython-versions = ">=3.8"\nfiles = []\n\n[[package]]\nname = "pytest"\nversion = "8.0.0"\ndescription = ""\noptional = false\npython-versions = ">=3.8"\ngroups = ["dev"]\nfiles = []\n\n[metadata]\nlock-version = "2.1"\n',
    "b/Pipfile.lock": JSON.stringify({
      _meta: { hash: { sha256: "x" } },
      default: { "zope.interface": { version: "==6.2" } },
      develop: { black: { version: "==24.2.0" } },
    }),
    "c/uv.lock":
      'version = 1\nrequires-python = ">=3.12"\n\n[[package]]\nname = "app"\nversion = "0.1.0"\nsource = { editable = "." }\n\n[[package]]\nname = "anyio"\nversion = "4.4.0"\nsource = { registry = "https://pypi.org/simple" }\n',
    "d/site-packages/Markdown-3.6.egg-info/PKG-INFO":
      "Metadata-Version: 2.1\nName: Markdown\nVersion: 3.6\nLicense: BSD-3-Clause\n\nlong description\n",
    "e/dev-requirements.txt": "pytest==8.0.0\n",
    "d/site-packages/simplejson-3.19.2.egg-info":
      "Metadata-Version: 1.1\nName: simplejson\nVersion: 3.19.2\nClassifier: License :: OSI Approved :: MIT License\n",
  });
  const inventory = await generateInventory(`dir:${root}`);
  assert.deepEqual([...keys(inventory)].sort(), [
    "pypi:anyio@4.4.0",
    "pypi:black@24.2.0",
    "pypi:django@4.2.11",
    "pypi:markdown@3.6",
    "pypi:pytest@8.0.0",
    "pypi:simplejson@3.19.2",
    "pypi:zope-interface@6.2",
  ]);
  assert.equal(inventory.components.find((c) => c.name === "pytest")!.scope, "optional");
  assert.deepEqual(inventory.components.find((c) => c.name === "simplejson")!.licenses, ["MIT License"]);
});

test("go: a binary built from real modules matches go version -m; go.mod requires with replacements", async (t) => {
  if (!requireTools(t, ["go"])) return;
  const { root, truth } = targets.goBinary();
  const inventory = await generateInventory(`dir:${root}`);
  assertMatches(inventory, truth);
  assert.equal(inventory.components.find((c) => c.name === "github.com/google/uuid")!.purl, "pkg:golang/github.com/google/uuid@v1.6.0");
  const mod = writeTree(tempDir(t), {
    "go.mod":
      "module example.com/x\n\ngo 1.22\n\nrequire (\n\tgithub.com/a/b v1.2.3 // indirect\n\tgithub.com/c/d v0.1.0\n)\n\nrequire golang.org/x/net v0.30.0\n\nreplace github.com/c/d => github.com/e/f v0.2.0\nreplace golang.org/x/net => ../net\n",
  });
  assert.deepEqual([...keys(await generateInventory(`dir:${mod}`))].sort(), [
    "golang:github.com/a/b@v1.2.3",
    "golang:github.com/e/f@v0.2.0",
  ]);
});

test("go: a dependency replaced by a local directory keeps its module path, built from (devel); never a crash", async (t) => {
  if (!requireTools(t, ["go"])) return;
  const dir = writeTree(tempDir(t), {
    "lib/go.mod": "module example.com/lib\n\ngo 1.22\n",
    "lib/lib.go": 'package lib\n\nfunc Hello() string { return "hi" }\n',
    "app/go.mod": "module example.com/app\n\ngo 1.22\n\nrequire example.com/lib v0.0.0\n\nreplace example.com/lib => ../lib/\n",
    "app/main.go": 'package main\n\nimport "example.com/lib"\n\nfunc main() { println(lib.Hello()) }\n',
  });
  mkdirSync(join(dir, "root", "bin"), { recursive: true });
  run("go", ["build", "-trimpath", "-o", join(dir, "root", "bin", "app"), "."], {
    cwd: join(dir, "app"),
    env: { CGO_ENABLED: "0", GOFLAGS: "-mod=mod", GOPROXY: "off" },
  });
  assert.match(run("go", ["version", "-m", join(dir, "root", "bin", "app")]), /=>\s+\.\.\/lib\//);
  const inventory = await generateInventory(`dir:${join(dir, "root")}`);
  assert.ok(keys(inventory).has("golang:example.com/lib@(devel)"), [...keys(inventory)].join(" "));
  assert.deepEqual(inventory.warnings, []);
});

test("java: JARs from Maven Central, alone and inside a WAR, by pom.properties", async (t) => {
  if (!requireTools(t, ["mvn", "jar"])) return;
  const { root, truth } = targets.javaArchives();
  const inventory = await generateInventory(`dir:${root}`);
  assertMatches(inventory, truth);
  const slf4j = inventory.components.find((c) => c.name === "slf4j-api")!;
  assert.equal(slf4j.purl, "pkg:maven/org.slf4j/slf4j-api@2.0.16");
  assert.equal(slf4j.locations[0]!.path, "/opt/app/fixture.war:WEB-INF/lib/slf4j-api-2.0.16.jar");
});

test("rust: Cargo.lock matches cargo metadata; cargo-auditable data in a binary", async (t) => {
  if (!requireTools(t, ["cargo", "objcopy"])) return;
  const { root, truth } = targets.cargoProject();
  const inventory = await generateInventory(`dir:${root}`);
  assertMatches(inventory, truth);
  const hex = inventory.components.find((c) => c.name === "hex")!;
  assert.deepEqual(hex.locations.map((l) => l.path).sort(), ["/srv/fixture/Cargo.lock", "/usr/bin/fixture"]);
  assert.equal(hex.purl, "pkg:cargo/hex@0.4.3");
});

test("ruby: the gemspecs Debian's ruby-* packages install (RubyGems' specifications directory) match dpkg's packages", async (t) => {
  if (!requireTools(t, ["apt-get", "dpkg-deb"])) return;
  const { root, truth } = targets.rubyGemsRoot();
  const inventory = await generateInventory(`dir:${root}`);
  assertMatches(inventory, truth);
  const rack = inventory.components.find((c) => c.name === "rack")!;
  assert.deepEqual(rack.licenses, ["MIT"]);
  assert.match(rack.locations[0]!.path, /^\/usr\/share\/rubygems-integration\/all\/specifications\/rack-[\d.]+\.gemspec$/);
});

test("ruby, php, .NET: gemspecs and Gemfile.lock, composer.lock and installed.json, deps.json (in each tool's format)", async (t) => {
  const root = writeTree(tempDir(t), {
    "usr/local/bundle/specifications/rack-3.0.9.gemspec":
      '# -*- encoding: utf-8 -*-\nGem::Specification.new do |s|\n  s.name = "rack".freeze\n  s.version = "3.0.9".freeze\n  s.licenses = ["MIT".freeze]\nend\n',
    "srv/Gemfile.lock":
      "GEM\n  remote: https://rubygems.org/\n  specs:\n    nokogiri (1.16.2-x86_64-linux)\n      racc (~> 1.4)\n    racc (1.7.3)\n\nPLATFORMS\n  x86_64-linux\n\nDEPENDENCIES\n  nokogiri\n\nBUNDLED WITH\n   2.5.6\n",
    "var/www/composer.lock": JSON.stringify({
      packages: [{ name: "monolog/monolog", version: "3.5.0", license: ["MIT"] }],
      "packages-dev": [{ name: "phpunit/phpunit", version: "10.5.10", license: ["BSD-3-Clause"] }],
    }),
    "var/www/vendor/composer/installed.json": JSON.stringify({ packages: [{ name: "psr/log", version: "3.0.0" }] }),
    "app/App.deps.json": JSON.stringify({
      runtimeTarget: { name: ".NETCoreApp,Version=v8.0" },
      libraries: {
        "App/1.0.0": { type: "project" },
        "Newtonsoft.Json/13.0.3": { type: "package", sha512: "x" },
        "Serilog/3.1.1": { type: "package" },
      },
    }),
  });
  const inventory = await generateInventory(`dir:${root}`);
  assert.deepEqual([...keys(inventory)].sort(), [
    "composer:monolog/monolog@3.5.0",
    "composer:phpunit/phpunit@10.5.10",
    "composer:psr/log@3.0.0",
    "gem:nokogiri@1.16.2",
    "gem:racc@1.7.3",
    "gem:rack@3.0.9",
    "nuget:Newtonsoft.Json@13.0.3",
    "nuget:Serilog@3.1.1",
  ]);
  assert.equal(inventory.components.find((c) => c.name === "monolog/monolog")!.purl, "pkg:composer/monolog/monolog@3.5.0");
});
