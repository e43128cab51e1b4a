// vigil sbom's usage and exit codes: bad usage and missing targets are bad input (2), an unreachable
// registry is an unavailable dependency (3); a JAR known only by its MANIFEST.MF (made by the JDK's jar
// tool) is named by it; progress is shown on a terminal only.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { gzipSync } from "node:zlib";
import { freePort } from "./helpers/registry.ts";
import { layoutOf } from "./helpers/sbom-layers.ts";
import { writeTree } from "./helpers/sbom-targets.ts";
import { requireTools, run, tempDir, vigil } from "./helpers/tools.ts";

test("usage errors and missing targets exit 2 naming what is wrong", (t) => {
  const none = vigil(["sbom"]);
  assert.equal(none.status, 2);
  assert.match(none.stderr, /give one TARGET/);
  const format = vigil(["sbom", tempDir(t), "-o", "xml"]);
  assert.equal(format.status, 2);
  assert.match(format.stderr, /-o: unknown format "xml"/);
  const missing = vigil(["sbom", "./no/such/dir"]);
  assert.equal(missing.status, 2);
  assert.match(missing.stderr, /no\/such\/dir: no such file or directory/);
  const notLayout = vigil(["sbom", `oci-layout:${tempDir(t)}`]);
  assert.equal(notLayout.status, 2);
  assert.match(notLayout.stderr, /not an OCI image layout/);
  const help = vigil(["sbom", "--help"]);
  assert.equal(help.status, 0);
  assert.match(help.stdout, /docker-archive:FILE/);
});

test("an unreachable registry exits 3", async () => {
  const port = await freePort();
  const r = vigil(["sbom", `registry:127.0.0.1:${port}/team/app:v1`, "--allow-http-registry"]);
  assert.equal(r.status, 3, r.stderr);
});

test("a JAR without pom.properties is named by its MANIFEST.MF and file name", (t) => {
  if (!requireTools(t, ["jar"])) return;
  const dir = tempDir(t);
  mkdirSync(join(dir, "content", "org", "example"), { recursive: true });
  writeFileSync(join(dir, "content", "org", "example", "README.txt"), "x\n");
  writeFileSync(
    join(dir, "manifest.txt"),
    "Implementation-Title: widget\nImplementation-Version: 2.5.1\nImplementation-Vendor-Id: org.example\n",
  );
  mkdirSync(join(dir, "root", "opt"), { recursive: true });
  run("jar", [
    "--create",
    "--file",
    join(dir, "root", "opt", "widget-2.5.1.jar"),
    "--manifest",
    join(dir, "manifest.txt"),
    "-C",
    join(dir, "content"),
    ".",
  ]);
  const r = vigil(["sbom", `dir:${join(dir, "root")}`, "-o", "cyclonedx-json"]);
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(
    r.json().components.map((c: { purl: string }) => c.purl),
    ["pkg:maven/org.example/widget@2.5.1"],
  );
  // A file named group.artifact-version.jar, with an OSGi manifest.
  writeFileSync(join(dir, "osgi.txt"), "Bundle-SymbolicName: org.mortbay.jasper.apache-el\nBundle-Version: 10.0.27\n");
  run("jar", [
    "--create",
    "--file",
    join(dir, "root", "opt", "org.mortbay.jasper.apache-el-10.0.27.jar"),
    "--manifest",
    join(dir, "osgi.txt"),
    "-C",
    join(dir, "content"),
    ".",
  ]);
  const both = vigil(["sbom", `dir:${join(dir, "root")}`, "-o", "cyclonedx-json"]);
  assert.deepEqual(
    both
      .json()
      .components.map((c: { purl: string }) => c.purl)
      .sort(),
    ["pkg:maven/org.example/widget@2.5.1", "pkg:maven/org.mortbay.jasper/apache-el@10.0.27"],
  );
});

test("a multi-platform index: --platform picks the manifest, and a platform it lacks is bad input naming those it has", async (t) => {
  const { OciLayout } = await import("../src/oci/index.ts");
  const { alpineRoot, distrolessRoot, ociImage } = await import("./helpers/sbom-targets.ts");
  if (!requireTools(t, ["apt-get", "dpkg-deb"])) return;
  const dir = tempDir(t);
  const amd = await ociImage(join(dir, "layout"), "amd64", [alpineRoot().root], dir);
  const arm = await ociImage(join(dir, "layout"), "arm64", [distrolessRoot().root], dir);
  const layout = await OciLayout.open(join(dir, "layout"));
  const descriptor = async (digest: string) => (await layout.getManifest(digest)).descriptor;
  const index = {
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.index.v1+json",
    manifests: [
      { ...(await descriptor(amd.digest)), platform: { os: "linux", architecture: "amd64" } },
      { ...(await descriptor(arm.digest)), platform: { os: "linux", architecture: "arm64", variant: "v8" } },
    ],
  };
  await layout.putManifest(Buffer.from(JSON.stringify(index)), { tag: "multi" });
  const arm64 = vigil(["sbom", `oci-layout:${join(dir, "layout")}:multi`, "--platform", "linux/arm64", "-o", "cyclonedx-json"]);
  assert.equal(arm64.status, 0, arm64.stderr);
  assert.ok(arm64.json().components.some((c: { purl?: string }) => c.purl?.startsWith("pkg:deb/debian/libc6@")));
  const amd64 = vigil(["sbom", `oci-layout:${join(dir, "layout")}:multi`, "--platform", "linux/amd64", "-o", "cyclonedx-json"]);
  const amdPurls = amd64
    .json()
    .components.map((c: { purl?: string }) => c.purl)
    .filter(Boolean) as string[];
  assert.ok(amdPurls.length > 0 && amdPurls.every((p) => p.startsWith("pkg:apk/")), amdPurls.join(" "));
  const none = vigil(["sbom", `oci-layout:${join(dir, "layout")}:multi`, "--platform", "linux/s390x"]);
  assert.equal(none.status, 2);
  assert.match(none.stderr, /the index has no manifest for linux\/s390x \(it has linux\/amd64, linux\/arm64\)/);
});

test("progress goes to a terminal only: the layers, and the bytes of a large layer as it is read", async (t) => {
  if (!requireTools(t, ["script", "tar"])) return;
  const dir = tempDir(t);
  writeTree(join(dir, "root"), { "etc/os-release": "ID=debian\nVERSION_ID=12\n", "data/filler": randomBytes(40 << 20) });
  const tar = join(dir, "layer.tar");
  run("tar", ["-C", join(dir, "root"), "-cf", tar, "."]);
  const layer = readFileSync(tar);
  const { target } = await layoutOf(dir, [gzipSync(layer, { level: 1 })], [layer]);
  const bin = join(import.meta.dirname, "..", "bin", "vigil");
  // script(1) gives the command a terminal; what it wrote there comes back on script's stdout.
  const screen = run("script", ["-qec", `${bin} sbom ${target} --output ${join(dir, "out.txt")}`, "/dev/null"]);
  assert.match(screen, /reading layers 0\/1: 16\.0 MiB of 40\.\d MiB…/);
  assert.match(screen, /reading layers 1\/1…/);
  const piped = vigil(["sbom", target]);
  assert.equal(piped.status, 0, piped.stderr);
  assert.doesNotMatch(piped.stderr, /reading layers/);
});
