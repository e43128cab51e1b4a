// vigil sbom's usage and exit codes: bad usage and missing targets are bad input (2), an unreachable
// registry is an unavailable dependency (3); a JAR known only by its MANIFEST.MF (made by the JDK's jar
// tool) is named by it.
import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { freePort } from "./helpers/registry.ts";
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
  writeFileSync(join(dir, "manifest.txt"), "Implementation-Title: widget\nImplementation-Version: 2.5.1\nImplementation-Vendor-Id: org.example\n");
  mkdirSync(join(dir, "root", "opt"), { recursive: true });
  run("jar", ["--create", "--file", join(dir, "root", "opt", "widget-2.5.1.jar"), "--manifest", join(dir, "manifest.txt"), "-C", join(dir, "content"), "."]);
  const r = vigil(["sbom", `dir:${join(dir, "root")}`, "-o", "cyclonedx-json"]);
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(r.json().components.map((c: { purl: string }) => c.purl), ["pkg:maven/org.example/widget@2.5.1"]);
});
