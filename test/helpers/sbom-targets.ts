// Real targets for the SBOM tests and benchmark, each with the truth its own package manager gives:
// a Debian root from .debs downloaded from Debian (truth: dpkg-query on the status file written from
// their control files), an npm tree (npm install; truth: npm ls --all --json), a Python tree (pip
// install --target; truth: pip list --path), a Go binary built from real modules (truth: go version
// -m), JARs from Maven Central (truth: the coordinates fetched), a Cargo project (truth: cargo
// metadata). Alpine .apk files cannot be fetched here, so its installed database is written from the
// apk-tools format. Built once into .cache/sbom-targets and reused.
import { execFileSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { deflateSync } from "node:zlib";
import { DatabaseSync } from "node:sqlite";
import { OciLayout } from "../../src/oci/index.ts";
import { digestOf } from "../../src/oci/digest.ts";
import { createGzip } from "node:zlib";
import { pipeline } from "node:stream/promises";
import { createReadStream, createWriteStream } from "node:fs";
import { run } from "./tools.ts";

export const CACHE = join(import.meta.dirname, "..", "..", ".cache", "sbom-targets");

export interface Target {
  root: string;
  /** "ecosystem:name@version" of every package the package manager says is there. */
  truth: Set<string>;
}

export const key = (ecosystem: string, name: string, version: string) => `${ecosystem}:${name}@${version}`;

/**
 * A target built once: into a directory of this process's own, renamed into place when complete, so
 * test files running at the same time never see (or build over) each other's half-built target.
 */
function cached(name: string, build: (dir: string) => void): string {
  const dir = join(CACHE, name);
  if (existsSync(join(dir, ".done"))) return dir;
  const mine = `${dir}.building-${process.pid}`;
  rmSync(mine, { recursive: true, force: true });
  mkdirSync(mine, { recursive: true });
  build(mine);
  writeFileSync(join(mine, ".done"), "");
  if (existsSync(join(dir, ".done"))) {
    rmSync(mine, { recursive: true, force: true });
    return dir;
  }
  rmSync(dir, { recursive: true, force: true }); // an incomplete one from an interrupted run
  try {
    renameSync(mine, dir);
  } catch (e) {
    // Another test file finished the same target first: use it.
    if (!existsSync(join(dir, ".done"))) throw e;
    rmSync(mine, { recursive: true, force: true });
  }
  return dir;
}

// ---------------------------------------------------------------------------------------------------
// Debian

export const DEBIAN_PACKAGES = [
  "base-files",
  "libc6",
  "libgcc-s1",
  "gcc-12-base",
  "zlib1g",
  "libssl3",
  "openssl",
  "ca-certificates",
  "tzdata",
  "libzstd1",
  "liblzma5",
  "libbz2-1.0",
  "debianutils",
  "bash",
  "libtinfo6",
  "coreutils",
  "libacl1",
  "libattr1",
  "libselinux1",
  "libgmp10",
  "libpcre2-8-0",
  "sed",
  "grep",
  "libcrypt1",
  "libstdc++6",
  "libffi8",
  "libsqlite3-0",
];

/** Ruby gems as Debian packages them (gem2deb): each ruby-NAME .deb installs RubyGems' specification of gem NAME. */
export const DEBIAN_RUBY_PACKAGES = ["ruby-rack", "ruby-rack-protection", "ruby-tilt", "ruby-mustermann"];

/**
 * The gems of Debian's ruby-* packages, unpacked with dpkg-deb (their gemspecs under
 * /usr/share/rubygems-integration/all/specifications). Truth from dpkg: each package's name without
 * "ruby-" (Debian's Ruby policy names a gem's package so) at the upstream part of its version.
 */
export function rubyGemsRoot(): Target {
  const dir = cached("ruby", (dir) => {
    const debs = join(dir, "debs");
    mkdirSync(debs);
    run("apt-get", ["download", ...DEBIAN_RUBY_PACKAGES], { cwd: debs });
    for (const deb of readdirSync(debs)) run("dpkg-deb", ["-x", join(debs, deb), join(dir, "root")]);
  });
  const truth = new Set<string>();
  for (const deb of readdirSync(join(dir, "debs"))) {
    const [name, version] = run("dpkg-deb", ["-f", join(dir, "debs", deb), "Package", "Version"])
      .trim()
      .split("\n")
      .map((line) => line.slice(line.indexOf(":") + 2));
    const upstream = version!
      .replace(/^\d+:/, "")
      .replace(/-[^-]+$/, "")
      .replace(/\+(dfsg|ds)\d*$/, "");
    truth.add(key("gem", name!.replace(/^ruby-/, ""), upstream));
  }
  return { root: join(dir, "root"), truth };
}

/** .debs unpacked with dpkg-deb, and a status file of their control paragraphs, as dpkg writes it. */
export function debianRoot(): Target {
  const dir = cached("debian", (dir) => {
    const debs = join(dir, "debs");
    mkdirSync(debs);
    run("apt-get", ["download", ...DEBIAN_PACKAGES], { cwd: debs });
    const root = join(dir, "root");
    mkdirSync(join(root, "var", "lib", "dpkg", "info"), { recursive: true });
    const paragraphs: string[] = [];
    for (const deb of readdirSync(debs).sort()) {
      run("dpkg-deb", ["-x", join(debs, deb), root]);
      const control = run("dpkg-deb", ["-f", join(debs, deb)]).trimEnd();
      // dpkg puts Status after Package.
      paragraphs.push(control.replace(/^(Package: .*)$/m, "$1\nStatus: install ok installed"));
    }
    writeFileSync(join(root, "var", "lib", "dpkg", "status"), paragraphs.join("\n\n") + "\n");
  });
  const root = join(dir, "root");
  return { root, truth: dpkgTruth(root) };
}

export function dpkgTruth(root: string): Set<string> {
  const out = run("dpkg-query", [
    `--admindir=${join(root, "var", "lib", "dpkg")}`,
    "-W",
    "-f",
    "${db:Status-Abbrev} ${Package} ${Version}\\n",
  ]);
  return new Set(
    out
      .split("\n")
      .filter((l) => l.startsWith("ii"))
      .map((l) => {
        const [, name, version] = l.trim().split(/\s+/);
        return key("deb", name!, version!);
      }),
  );
}

/** A distroless-style root: the same packages, one status.d file each and no status file. */
export function distrolessRoot(): Target {
  const debian = debianRoot();
  const dir = cached("distroless", (dir) => {
    const statusD = join(dir, "root", "var", "lib", "dpkg", "status.d");
    mkdirSync(statusD, { recursive: true });
    mkdirSync(join(dir, "root", "etc"), { recursive: true });
    copyFileSync(join(debian.root, "usr", "lib", "os-release"), join(dir, "root", "etc", "os-release"));
    const status = readFileSync(join(debian.root, "var", "lib", "dpkg", "status"), "utf8");
    for (const paragraph of status.split("\n\n").filter((p) => p.trim())) {
      const name = /^Package: (.+)$/m.exec(paragraph)![1]!;
      writeFileSync(join(statusD, name), paragraph.replace(/^Status: .*\n/m, "") + "\n");
    }
  });
  return { root: join(dir, "root"), truth: debian.truth };
}

// ---------------------------------------------------------------------------------------------------
// Alpine: lib/apk/db/installed written from the format apk-tools documents (apk packages themselves
// are not reachable from here).

export const ALPINE_PACKAGES = [
  { P: "musl", V: "1.2.5-r0", A: "x86_64", L: "MIT", o: "musl" },
  { P: "busybox", V: "1.36.1-r29", A: "x86_64", L: "GPL-2.0-only", o: "busybox" },
  { P: "busybox-binsh", V: "1.36.1-r29", A: "x86_64", L: "GPL-2.0-only", o: "busybox" },
  { P: "alpine-baselayout-data", V: "3.6.5-r0", A: "x86_64", L: "GPL-2.0-only", o: "alpine-baselayout" },
  { P: "libcrypto3", V: "3.3.1-r3", A: "x86_64", L: "Apache-2.0", o: "openssl" },
  { P: "libssl3", V: "3.3.1-r3", A: "x86_64", L: "Apache-2.0", o: "openssl" },
  { P: "ca-certificates-bundle", V: "20240705-r0", A: "x86_64", L: "MPL-2.0 AND MIT", o: "ca-certificates" },
  { P: "zlib", V: "1.3.1-r1", A: "x86_64", L: "Zlib", o: "zlib" },
  { P: "apk-tools", V: "2.14.4-r0", A: "x86_64", L: "GPL-2.0-only", o: "apk-tools" },
  { P: "scanelf", V: "1.3.7-r2", A: "x86_64", L: "GPL-2.0-only", o: "pax-utils" },
];

export function alpineInstalled(packages = ALPINE_PACKAGES): string {
  return (
    packages
      .map((p) =>
        [
          `C:Q1${digestOf(Buffer.from(p.P)).slice(7, 34)}=`,
          `P:${p.P}`,
          `V:${p.V}`,
          `A:${p.A}`,
          "S:1000",
          "I:4096",
          `T:${p.P} package`,
          "U:https://alpinelinux.org",
          `L:${p.L}`,
          `o:${p.o}`,
          "m:Natanael Copa <ncopa@alpinelinux.org>",
          "t:1718000000",
          "c:0123456789abcdef0123456789abcdef01234567",
          "F:usr",
          `R:${p.P}.txt`,
          "a:0:0:644",
          "Z:Q1AAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        ].join("\n"),
      )
      .join("\n\n") + "\n\n"
  );
}

export function alpineRoot(): Target {
  const dir = cached("alpine", (dir) => {
    const root = join(dir, "root");
    mkdirSync(join(root, "lib", "apk", "db"), { recursive: true });
    mkdirSync(join(root, "etc"), { recursive: true });
    writeFileSync(join(root, "lib", "apk", "db", "installed"), alpineInstalled());
    writeFileSync(join(root, "etc", "os-release"), 'NAME="Alpine Linux"\nID=alpine\nVERSION_ID=3.20.1\nPRETTY_NAME="Alpine Linux v3.20"\n');
    writeFileSync(join(root, "etc", "alpine-release"), "3.20.1\n");
  });
  return { root: join(dir, "root"), truth: new Set(ALPINE_PACKAGES.map((p) => key("apk", p.P, p.V))) };
}

// ---------------------------------------------------------------------------------------------------
// npm

export function npmProject(): Target {
  const dir = cached("npm", (dir) => {
    const app = join(dir, "root", "app");
    mkdirSync(app, { recursive: true });
    writeFileSync(join(app, "package.json"), JSON.stringify({ name: "sbom-fixture", version: "1.0.0", private: true }));
    run(
      "npm",
      [
        "install",
        "--no-audit",
        "--no-fund",
        "--ignore-scripts",
        "--save-exact",
        "express@4.21.2",
        "@sindresorhus/is@7.0.1",
        "lodash@4.17.21",
        "semver@7.6.3",
      ],
      { cwd: app },
    );
    run("npm", ["install", "--no-audit", "--no-fund", "--ignore-scripts", "--save-dev", "--save-exact", "ms@2.1.3"], { cwd: app });
    writeFileSync(join(dir, "npm-ls.json"), run("npm", ["ls", "--all", "--json"], { cwd: app }));
  });
  return { root: join(dir, "root"), truth: npmTruth(JSON.parse(readFileSync(join(dir, "npm-ls.json"), "utf8"))) };
}

export function npmTruth(tree: { dependencies?: Record<string, { version?: string; dependencies?: unknown }> }): Set<string> {
  const out = new Set<string>();
  const walk = (deps: Record<string, { version?: string; dependencies?: unknown }> | undefined) => {
    for (const [name, d] of Object.entries(deps ?? {})) {
      if (d.version) out.add(key("npm", name, d.version));
      walk(d.dependencies as typeof deps);
    }
  };
  walk(tree.dependencies);
  return out;
}

// ---------------------------------------------------------------------------------------------------
// Python

export function pythonTree(): Target {
  const dir = cached("python", (dir) => {
    const target = join(dir, "root", "opt", "py");
    run("pip", [
      "install",
      "--quiet",
      "--no-compile",
      "--disable-pip-version-check",
      "--target",
      target,
      "requests==2.32.3",
      "python-dateutil==2.9.0.post0",
      "PyYAML==6.0.2",
      "attrs==24.2.0",
    ]);
    writeFileSync(join(dir, "pip-list.json"), run("pip", ["list", "--disable-pip-version-check", "--path", target, "--format", "json"]));
  });
  const list = JSON.parse(readFileSync(join(dir, "pip-list.json"), "utf8")) as { name: string; version: string }[];
  return { root: join(dir, "root"), truth: new Set(list.map((p) => key("pypi", p.name.toLowerCase().replace(/[-_.]+/g, "-"), p.version))) };
}

// ---------------------------------------------------------------------------------------------------
// Go

export function goBinary(): Target {
  const dir = cached("go", (dir) => {
    const src = join(dir, "src");
    mkdirSync(src);
    writeFileSync(
      join(src, "main.go"),
      'package main\n\nimport (\n\t"fmt"\n\n\t"github.com/google/uuid"\n\t"golang.org/x/text/language"\n\t"github.com/spf13/pflag"\n)\n\nfunc main() {\n\tpflag.Parse()\n\tfmt.Println(uuid.NewString(), language.English)\n}\n',
    );
    run("go", ["mod", "init", "example.com/sbomfixture"], { cwd: src });
    run("go", ["get", "github.com/google/uuid@v1.6.0", "golang.org/x/text@v0.21.0", "github.com/spf13/pflag@v1.0.5"], { cwd: src });
    mkdirSync(join(dir, "root", "usr", "local", "bin"), { recursive: true });
    run("go", ["build", "-trimpath", "-o", join(dir, "root", "usr", "local", "bin", "fixture"), "."], {
      cwd: src,
      env: { CGO_ENABLED: "0" },
    });
    writeFileSync(join(dir, "go-version-m.txt"), run("go", ["version", "-m", join(dir, "root", "usr", "local", "bin", "fixture")]));
  });
  return { root: join(dir, "root"), truth: goTruth(readFileSync(join(dir, "go-version-m.txt"), "utf8")) };
}

/** `go version -m`: "FILE: go1.x", then "\tmod\tpath\tversion…" and "\tdep\tpath\tversion…" lines. */
export function goTruth(text: string): Set<string> {
  const out = new Set<string>();
  // The toolchain line "FILE: go1.x.y": the standard library, versioned as OSV versions it (no "go").
  const go = /: go(\d[^\s]*)/.exec(text)?.[1];
  if (go) out.add(key("golang", "stdlib", go));
  for (const line of text.split("\n")) {
    const [, kind, path, version] = line.split("\t");
    if ((kind === "mod" || kind === "dep") && path && version) out.add(key("golang", path, version));
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------
// Java

export const MAVEN_ARTIFACTS = [
  "org.apache.commons:commons-lang3:3.17.0",
  "org.slf4j:slf4j-api:2.0.16",
  "com.fasterxml.jackson.core:jackson-core:2.18.2",
  "commons-io:commons-io:2.18.0",
];

export function javaArchives(): Target {
  const dir = cached("java", (dir) => {
    const repo = join(dir, "m2");
    const lib = join(dir, "war", "WEB-INF", "lib");
    mkdirSync(lib, { recursive: true });
    for (const artifact of MAVEN_ARTIFACTS) {
      run("mvn", ["-q", "-B", `-Dmaven.repo.local=${repo}`, "dependency:get", `-Dartifact=${artifact}`, "-Dtransitive=false"]);
      const [group, name, version] = artifact.split(":");
      copyFileSync(join(repo, ...group!.split("."), name!, version!, `${name}-${version}.jar`), join(lib, `${name}-${version}.jar`));
    }
    const apps = join(dir, "root", "opt", "app");
    mkdirSync(apps, { recursive: true });
    // One JAR as it is, the others inside a WAR (WEB-INF/lib), as an application server would see them.
    copyFileSync(join(lib, "commons-lang3-3.17.0.jar"), join(apps, "commons-lang3-3.17.0.jar"));
    rmSync(join(lib, "commons-lang3-3.17.0.jar"));
    writeFileSync(join(dir, "war", "index.html"), "<p>fixture</p>\n");
    run("jar", ["--create", "--file", join(apps, "fixture.war"), "-C", join(dir, "war"), "."]);
  });
  return {
    root: join(dir, "root"),
    truth: new Set(MAVEN_ARTIFACTS.map((a) => a.split(":")).map(([g, n, v]) => key("maven", `${g}/${n}`, v!))),
  };
}

// ---------------------------------------------------------------------------------------------------
// Rust

export function cargoProject(): Target {
  const dir = cached("cargo", (dir) => {
    const src = join(dir, "src");
    run("cargo", ["new", "--quiet", "--name", "fixture", src]);
    run("cargo", ["add", "--quiet", "itoa@=1.0.11", "memchr@=2.7.4", "hex@=0.4.3"], { cwd: src });
    run("cargo", ["generate-lockfile", "--quiet"], { cwd: src });
    writeFileSync(join(dir, "metadata.json"), run("cargo", ["metadata", "--format-version", "1", "--locked"], { cwd: src }));
    run("cargo", ["build", "--quiet", "--release", "--locked"], { cwd: src });
    const root = join(dir, "root");
    mkdirSync(join(root, "srv", "fixture"), { recursive: true });
    mkdirSync(join(root, "usr", "bin"), { recursive: true });
    copyFileSync(join(src, "Cargo.lock"), join(root, "srv", "fixture", "Cargo.lock"));
    // cargo-auditable's section, from the same metadata: zlib-compressed JSON of the packages built.
    const metadata = JSON.parse(readFileSync(join(dir, "metadata.json"), "utf8")) as {
      packages: { name: string; version: string; source: string | null }[];
    };
    const audit = {
      packages: metadata.packages.map((p) => ({
        name: p.name,
        version: p.version,
        source: p.source ? "crates.io" : "local",
        ...(p.source ? {} : { root: true }),
      })),
    };
    writeFileSync(join(dir, "dep-v0"), deflateSync(JSON.stringify(audit)));
    run("objcopy", [
      "--add-section",
      `.dep-v0=${join(dir, "dep-v0")}`,
      join(src, "target", "release", "fixture"),
      join(root, "usr", "bin", "fixture"),
    ]);
  });
  const metadata = JSON.parse(readFileSync(join(dir, "metadata.json"), "utf8")) as {
    packages: { name: string; version: string; source: string | null }[];
  };
  return { root: join(dir, "root"), truth: new Set(metadata.packages.filter((p) => p.source).map((p) => key("cargo", p.name, p.version))) };
}

// ---------------------------------------------------------------------------------------------------
// Images: directories as layers (tar, gzip), in an OCI layout; a docker archive and a registry copy by skopeo.

export async function layerTar(dir: string, out: string, gzipLevel?: number): Promise<void> {
  const tarFile = `${out}.tar`;
  execFileSync("tar", ["--sort=name", "--owner=0", "--group=0", "--numeric-owner", "-C", dir, "-cf", tarFile, "."]);
  await pipeline(createReadStream(tarFile), createGzip({ level: gzipLevel }), createWriteStream(out));
}

/** An OCI layout at `layoutDir` tagged `tag`, one layer per directory (in order); gzip's default level unless told. */
export async function ociImage(
  layoutDir: string,
  tag: string,
  layerDirs: string[],
  work: string,
  gzipLevel?: number,
): Promise<{ digest: string; diffIds: string[] }> {
  const layout = await OciLayout.create(layoutDir);
  const layers = [];
  const diffIds: string[] = [];
  for (const [i, d] of layerDirs.entries()) {
    const gz = join(work, `layer-${i}.tar.gz`);
    await layerTar(d, gz, gzipLevel);
    diffIds.push(digestOf(readFileSync(`${gz}.tar`)));
    const blob = await layout.putBlob(readFileSync(gz));
    layers.push({ mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", ...blob });
  }
  const config = Buffer.from(
    JSON.stringify({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: diffIds }, config: {} }),
  );
  const configBlob = await layout.putBlob(config);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      config: { mediaType: "application/vnd.oci.image.config.v1+json", ...configBlob },
      layers,
    }),
  );
  const descriptor = await layout.putManifest(manifest, { tag });
  return { digest: descriptor.digest, diffIds };
}

/** A directory tree with the given files, and symlinks given as "->target". */
export function writeTree(root: string, files: Record<string, string | Buffer>): string {
  for (const [path, content] of Object.entries(files)) {
    const full = join(root, path);
    mkdirSync(join(full, ".."), { recursive: true });
    if (typeof content === "string" && content.startsWith("->")) symlinkSync(content.slice(2), full);
    else writeFileSync(full, content);
  }
  return root;
}

// ---------------------------------------------------------------------------------------------------
// RPM: packages built with rpmbuild and recorded by rpm itself (--justdb) in its SQLite database.

export const RPM_PACKAGES = [
  { name: "vigil-fixture-libs", version: "3.0.7", release: "27.el9", epoch: 1, license: "Apache-2.0" },
  { name: "vigil-fixture-tool", version: "5.1.8", release: "9.el9", license: "GPL-3.0-or-later" },
  { name: "vigil-fixture-data", version: "2024a", release: "1.el9", license: "Public Domain" },
];

export function rpmRoot(): Target {
  const dir = cached("rpm", (dir) => {
    mkdirSync(join(dir, "SPECS"), { recursive: true });
    for (const p of RPM_PACKAGES) {
      writeFileSync(
        join(dir, "SPECS", `${p.name}.spec`),
        [
          `Name: ${p.name}`,
          `Version: ${p.version}`,
          `Release: ${p.release}`,
          ...(p.epoch ? [`Epoch: ${p.epoch}`] : []),
          "Summary: fixture",
          `License: ${p.license}`,
          "BuildArch: noarch",
          "%description",
          "fixture",
          "%files",
          "",
        ].join("\n"),
      );
      run("rpmbuild", ["--define", `_topdir ${dir}`, "-bb", join(dir, "SPECS", `${p.name}.spec`)]);
    }
    const db = join(dir, "root", "var", "lib", "rpm");
    mkdirSync(db, { recursive: true });
    mkdirSync(join(dir, "root", "etc"), { recursive: true });
    writeFileSync(join(dir, "root", "etc", "os-release"), 'NAME="Rocky Linux"\nID="rocky"\nVERSION_ID="9.4"\n');
    run("rpm", ["--dbpath", db, "--initdb"]);
    const rpms = readdirSync(join(dir, "RPMS", "noarch")).map((f) => join(dir, "RPMS", "noarch", f));
    run("rpm", ["--dbpath", db, "-i", "--nodeps", "--justdb", ...rpms]);
    writeFileSync(
      join(dir, "rpm-qa.txt"),
      run("rpm", ["--dbpath", db, "-qa", "--qf", "%{NAME} %|EPOCH?{%{EPOCH}:}:{}|%{VERSION}-%{RELEASE}\\n"]),
    );
  });
  const lines = readFileSync(join(dir, "rpm-qa.txt"), "utf8").split("\n").filter(Boolean);
  return { root: join(dir, "root"), truth: new Set(lines.map((l) => l.split(" ")).map(([n, v]) => key("rpm", n!, v!))) };
}

/**
 * The same packages in the Berkeley DB hash format older rpm releases use (/var/lib/rpm/Packages):
 * rpm's own header blobs, taken from its SQLite database, stored by Berkeley DB's db_load under their
 * header numbers, as rpm's BDB backend keys them.
 */
export function rpmBerkeleyRoot(): Target {
  const sqlite = rpmRoot();
  const dir = cached("rpm-bdb", (dir) => {
    const db = new DatabaseSync(join(sqlite.root, "var", "lib", "rpm", "rpmdb.sqlite"), { readOnly: true });
    const rows = db.prepare("SELECT hnum, blob FROM Packages").all() as { hnum: number; blob: Uint8Array }[];
    db.close();
    const escape = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex").replace(/../g, "\\$&");
    const key = (n: number) => {
      const b = Buffer.alloc(4);
      b.writeUInt32LE(n);
      return b;
    };
    writeFileSync(join(dir, "input.txt"), rows.map((r) => `${escape(key(r.hnum))}\n${escape(r.blob)}\n`).join(""));
    mkdirSync(join(dir, "root", "var", "lib", "rpm"), { recursive: true });
    mkdirSync(join(dir, "root", "etc"), { recursive: true });
    copyFileSync(join(sqlite.root, "etc", "os-release"), join(dir, "root", "etc", "os-release"));
    run("db_load", ["-T", "-t", "hash", "-f", join(dir, "input.txt"), join(dir, "root", "var", "lib", "rpm", "Packages")]);
  });
  return { root: join(dir, "root"), truth: sqlite.truth };
}

// ---------------------------------------------------------------------------------------------------
// Lock files written by the package managers themselves: yarn 1, yarn 4 (berry) and pnpm, installed
// from the npm registry and pointed at it; uv from PyPI. Truth: each one's own listing of what it
// installed (npm ls reads yarn's node_modules; pnpm list; uv export).

const JS_DEPENDENCIES = { express: "4.21.2", "@babel/code-frame": "7.26.2", debug: "4.3.7" };
const NPM_REGISTRY = "https://registry.npmjs.org/";

function lockTools(): string {
  return cached("lock-tools", (dir) => {
    run("npm", [
      "install",
      "--no-audit",
      "--no-fund",
      "--ignore-scripts",
      "--prefix",
      dir,
      "yarn@1.22.22",
      "pnpm@9.15.9",
      "@yarnpkg/cli-dist@4.18.1",
    ]);
    run("pip", ["install", "--quiet", "--disable-pip-version-check", "--target", join(dir, "uv"), "uv==0.5.11"]);
  });
}

export interface LockTarget extends Target {
  /** The lock file alone, in a directory of its own. */
  lockOnly: string;
}

function jsProject(dir: string, extra: Record<string, unknown> = {}): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, "package.json"),
    JSON.stringify({ name: "lock-fixture", version: "1.0.0", private: true, dependencies: JS_DEPENDENCIES, ...extra }),
  );
}

function lockOnly(dir: string, project: string, file: string): string {
  const only = join(dir, "lock-only");
  mkdirSync(only, { recursive: true });
  copyFileSync(join(project, file), join(only, file));
  return only;
}

export function yarnClassicProject(): LockTarget {
  const tools = lockTools();
  const dir = cached("yarn1", (dir) => {
    const project = join(dir, "project");
    jsProject(project);
    // yarn 1 by its own script: @yarnpkg/cli-dist installs a "yarn" in .bin too.
    run(
      process.execPath,
      [
        join(tools, "node_modules", "yarn", "bin", "yarn.js"),
        "install",
        "--ignore-scripts",
        "--non-interactive",
        "--registry",
        NPM_REGISTRY,
      ],
      { cwd: project },
    );
    writeFileSync(join(dir, "npm-ls.json"), run("npm", ["ls", "--all", "--json"], { cwd: project }));
    lockOnly(dir, project, "yarn.lock");
  });
  return {
    root: join(dir, "project"),
    lockOnly: join(dir, "lock-only"),
    truth: npmTruth(JSON.parse(readFileSync(join(dir, "npm-ls.json"), "utf8"))),
  };
}

export function yarnBerryProject(): LockTarget {
  const tools = lockTools();
  const dir = cached("yarn4", (dir) => {
    const project = join(dir, "project");
    jsProject(project, { packageManager: "yarn@4.18.1" });
    writeFileSync(
      join(project, ".yarnrc.yml"),
      `npmRegistryServer: "${NPM_REGISTRY.slice(0, -1)}"\nenableTelemetry: false\nnodeLinker: node-modules\n`,
    );
    writeFileSync(join(project, "yarn.lock"), "");
    // Yarn makes installs immutable when CI=true, and this one writes the lockfile the test reads.
    run(process.execPath, [join(tools, "node_modules", "@yarnpkg", "cli-dist", "bin", "yarn.js"), "install", "--mode=skip-build"], {
      cwd: project,
      env: { YARN_IGNORE_PATH: "1", COREPACK_ENABLE_STRICT: "0", YARN_ENABLE_IMMUTABLE_INSTALLS: "false" },
    });
    writeFileSync(join(dir, "npm-ls.json"), run("npm", ["ls", "--all", "--json"], { cwd: project }));
    lockOnly(dir, project, "yarn.lock");
  });
  return {
    root: join(dir, "project"),
    lockOnly: join(dir, "lock-only"),
    truth: npmTruth(JSON.parse(readFileSync(join(dir, "npm-ls.json"), "utf8"))),
  };
}

export function pnpmProject(): LockTarget {
  const tools = lockTools();
  const dir = cached("pnpm", (dir) => {
    const project = join(dir, "project");
    jsProject(project);
    const pnpm = join(tools, "node_modules", ".bin", "pnpm");
    run(pnpm, ["install", "--ignore-scripts", "--registry", NPM_REGISTRY], { cwd: project });
    writeFileSync(join(dir, "pnpm-list.json"), run(pnpm, ["list", "--depth", "Infinity", "--json"], { cwd: project }));
    lockOnly(dir, project, "pnpm-lock.yaml");
  });
  const [listing] = JSON.parse(readFileSync(join(dir, "pnpm-list.json"), "utf8")) as {
    dependencies?: Record<string, { version?: string; dependencies?: unknown }>;
  }[];
  return { root: join(dir, "project"), lockOnly: join(dir, "lock-only"), truth: npmTruth(listing ?? {}) };
}

export function uvProject(): LockTarget {
  const tools = lockTools();
  const dir = cached("uv", (dir) => {
    const project = join(dir, "project");
    mkdirSync(project, { recursive: true });
    writeFileSync(
      join(project, "pyproject.toml"),
      '[project]\nname = "lock-fixture"\nversion = "0.1.0"\nrequires-python = ">=3.9"\ndependencies = ["requests==2.32.3", "attrs==24.2.0"]\n',
    );
    const uv = join(tools, "uv", "bin", "uv");
    run(uv, ["lock", "--quiet"], { cwd: project, env: { UV_NO_CACHE: "1" } });
    writeFileSync(
      join(dir, "export.txt"),
      run(uv, ["export", "--frozen", "--no-hashes", "--no-emit-project", "--quiet"], { cwd: project }),
    );
    lockOnly(dir, project, "uv.lock");
  });
  const pins = readFileSync(join(dir, "export.txt"), "utf8")
    .split("\n")
    .map((l) => /^([A-Za-z0-9._-]+)==([^\s;]+)/.exec(l))
    .filter((m): m is RegExpExecArray => m !== null);
  return {
    root: join(dir, "project"),
    lockOnly: join(dir, "lock-only"),
    truth: new Set(pins.map((m) => key("pypi", m[1]!.toLowerCase().replace(/[-_.]+/g, "-"), m[2]!))),
  };
}

/** poetry (from PyPI, pinned) locks a project; truth: `poetry show`, which lists what the lock pins. */
export function poetryProject(): LockTarget {
  const dir = cached("poetry", (dir) => {
    run("pip", ["install", "--quiet", "--disable-pip-version-check", "--target", join(dir, "tool"), "poetry==2.5.1"]);
    const project = join(dir, "project");
    mkdirSync(project, { recursive: true });
    writeFileSync(
      join(project, "pyproject.toml"),
      '[project]\nname = "poetry-fixture"\nversion = "0.1.0"\nrequires-python = ">=3.9"\ndependencies = ["requests==2.32.3", "attrs==24.2.0"]\n\n[tool.poetry]\npackage-mode = false\n',
    );
    const env = { PYTHONPATH: join(dir, "tool"), POETRY_CACHE_DIR: join(dir, "cache") };
    run("python3", ["-m", "poetry", "lock", "--no-interaction"], { cwd: project, env });
    writeFileSync(join(dir, "show.txt"), run("python3", ["-m", "poetry", "show", "--no-ansi"], { cwd: project, env }));
    rmSync(join(dir, "cache"), { recursive: true, force: true });
    lockOnly(dir, project, "poetry.lock");
  });
  // "name  (!) version  summary": "(!)" marks a package locked but not installed.
  const shown = readFileSync(join(dir, "show.txt"), "utf8")
    .split("\n")
    .map((l) => /^(\S+)\s+(?:\(!\)\s+)?(\S+)/.exec(l))
    .filter((m): m is RegExpExecArray => m !== null);
  return {
    root: join(dir, "project"),
    lockOnly: join(dir, "lock-only"),
    truth: new Set(shown.map((m) => key("pypi", m[1]!.toLowerCase().replace(/[-_.]+/g, "-"), m[2]!))),
  };
}

/** pipenv (from PyPI, pinned) locks a Pipfile; truth: `pipenv requirements`, the pins of that lock. */
export function pipenvProject(): LockTarget {
  const dir = cached("pipenv", (dir) => {
    run("pip", ["install", "--quiet", "--disable-pip-version-check", "--target", join(dir, "tool"), "pipenv==2026.10.3"]);
    const project = join(dir, "project");
    mkdirSync(project, { recursive: true });
    writeFileSync(join(project, "Pipfile"), '[packages]\nrequests = "==2.32.3"\nattrs = "==24.2.0"\n');
    // The virtualenv pipenv makes to lock in, and its cache, stay in this folder and are removed.
    const env = { PYTHONPATH: join(dir, "tool"), WORKON_HOME: join(dir, "venvs"), PIPENV_CACHE_DIR: join(dir, "cache") };
    run("python3", ["-m", "pipenv", "lock"], { cwd: project, env });
    writeFileSync(join(dir, "requirements.txt"), run("python3", ["-m", "pipenv", "requirements"], { cwd: project, env }));
    for (const scratch of ["venvs", "cache"]) rmSync(join(dir, scratch), { recursive: true, force: true });
    lockOnly(dir, project, "Pipfile.lock");
  });
  const pins = readFileSync(join(dir, "requirements.txt"), "utf8")
    .split("\n")
    .map((l) => /^([A-Za-z0-9._-]+)==([^\s;]+)/.exec(l))
    .filter((m): m is RegExpExecArray => m !== null);
  return {
    root: join(dir, "project"),
    lockOnly: join(dir, "lock-only"),
    truth: new Set(pins.map((m) => key("pypi", m[1]!.toLowerCase().replace(/[-_.]+/g, "-"), m[2]!))),
  };
}
