// Images: the real targets packed as layers (with whiteouts, an opaque directory and a rewritten dpkg
// status) into an OCI layout, copied by skopeo into a docker archive and a real registry, and read
// back through each source with the same result; each component credited to the layer that
// introduced it. Outputs validated against the official CycloneDX 1.6 and SPDX 2.3 schemas.
import assert from "node:assert/strict";
import { readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { before, test } from "node:test";
import { zstdCompressSync } from "node:zlib";
import { Ajv } from "ajv";
import addFormatsModule from "ajv-formats";
import { OciLayout } from "../src/oci/index.ts";
import { digestOf } from "../src/oci/digest.ts";
import { generateInventory, readSbom, readSbomFile, toCycloneDx, toSpdx, type Inventory } from "../src/sbom/index.ts";
import { spdxValidator } from "../src/sbom/schema.ts";
import { startRegistry } from "./helpers/registry.ts";
import { keyOf } from "./helpers/sbom-compare.ts";
import * as targets from "./helpers/sbom-targets.ts";
import { fileScope, hasTool, requireTools, run, tempDir, vigil } from "./helpers/tools.ts";

const scope = fileScope();
const CASES = join(import.meta.dirname, "..", "..", "shared", "data", "sbom", "cyclonedx-cases");
const addFormats = (addFormatsModule as unknown as { default: (a: Ajv) => void }).default;

let work: string;
let layout: string;
let image: { digest: string; diffIds: string[] };
let expected: Set<string>;

const keys = (inventory: Inventory) => new Set(inventory.components.map(keyOf));
const canBuild = () => hasTool("apt-get") && hasTool("npm") && hasTool("pip") && hasTool("go");

before(async () => {
  if (!canBuild()) return;
  work = tempDir(scope, "vigil-sbom-image-");
  const debian = targets.debianRoot();
  const npm = targets.npmProject();
  const python = targets.pythonTree();
  const go = targets.goBinary();
  // Layer 5: lodash and the lock whited out, /opt/py made opaque with one new package, and dpkg's
  // status rewritten with one more package (the others keep layer 1 as theirs).
  const top = targets.writeTree(join(work, "top"), {
    "app/node_modules/.wh.lodash": "",
    "app/.wh.package-lock.json": "",
    "opt/py/.wh..wh..opq": "",
    "opt/py/newpkg-1.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: newpkg\nVersion: 1.0\n",
    "var/lib/dpkg/status":
      readFileSync(join(debian.root, "var/lib/dpkg/status"), "utf8") +
      "\nPackage: extra-tool\nStatus: install ok installed\nVersion: 9.9-1\nArchitecture: amd64\n",
  });
  layout = join(work, "layout");
  image = await targets.ociImage(layout, "v1", [debian.root, npm.root, python.root, go.root, top], work);
  expected = new Set([
    ...debian.truth,
    "deb:extra-tool@9.9-1",
    ...[...npm.truth].filter((k) => k !== "npm:lodash@4.17.21"),
    "pypi:newpkg@1.0",
    ...go.truth,
  ]);
});

function assertImage(inventory: Inventory): void {
  const found = keys(inventory);
  assert.deepEqual(
    { missing: [...expected].filter((k) => !found.has(k)), extra: [...found].filter((k) => !expected.has(k)) },
    { missing: [], extra: [] },
  );
  const layerOf = (name: string) => inventory.components.find((c) => c.name === name)!.locations[0]!.layer;
  assert.equal(layerOf("libc6"), image.diffIds[0]);
  assert.equal(layerOf("extra-tool"), image.diffIds[4]);
  assert.equal(layerOf("express"), image.diffIds[1]);
  assert.equal(layerOf("github.com/google/uuid"), image.diffIds[3]);
  assert.equal(layerOf("newpkg"), image.diffIds[4]);
  assert.equal(inventory.os?.id, "debian");
}

test("an OCI layout: layers streamed in order, whiteouts and opaque directories applied, each component credited to its layer", async (t) => {
  if (!requireTools(t, ["apt-get", "npm", "pip", "go"])) return;
  const inventory = await generateInventory(`oci-layout:${layout}:v1`);
  assert.equal(inventory.target.digest, image.digest);
  assert.deepEqual(inventory.target.layers, image.diffIds);
  assertImage(inventory);
});

test("a docker archive and a registry copy (both by skopeo) give the same inventory", async (t) => {
  if (!requireTools(t, ["apt-get", "npm", "pip", "go", "skopeo", "docker-registry"])) return;
  const archive = join(work, "image.tar");
  run("skopeo", ["--insecure-policy", "copy", `oci:${layout}:v1`, `docker-archive:${archive}:team/app:v1`]);
  assertImage(await generateInventory(`docker-archive:${archive}`));
  const registry = await startRegistry(t);
  run("skopeo", ["--insecure-policy", "copy", "--dest-tls-verify=false", `oci:${layout}:v1`, `docker://${registry.host}/team/app:v1`]);
  const r = vigil(["sbom", `registry:${registry.host}/team/app:v1`, "--allow-http-registry", "-o", "cyclonedx-json"]);
  assert.equal(r.status, 0, r.stderr);
  const bom = r.json();
  assert.ok(officialCycloneDx16()(bom), JSON.stringify(officialCycloneDx16().errors?.[0]));
  const read = readSbom(bom, "stdout");
  assertImage({ ...read, os: read.os! });
});

test("CycloneDX 1.6 and SPDX 2.3 output validate against the official schemas and read back to the same components", async (t) => {
  if (!requireTools(t, ["apt-get", "npm", "pip", "go"])) return;
  const inventory = await generateInventory(`oci-layout:${layout}:v1`);
  const bom = JSON.parse(toCycloneDx(inventory, "0.1.0")) as { specVersion: string };
  const validate = officialCycloneDx16();
  assert.ok(validate(bom), JSON.stringify(validate.errors?.[0]));
  assert.equal(bom.specVersion, "1.6");
  const back = readSbom(bom, "bom");
  assert.deepEqual(
    back.components.map((c) => [c.purl, c.locations, c.source]),
    inventory.components.map((c) => [c.purl, c.locations, c.source]),
  );
  const spdx = JSON.parse(toSpdx(inventory, "0.1.0"));
  const validateSpdx = spdxValidator();
  assert.ok(validateSpdx(spdx), JSON.stringify(validateSpdx.errors?.[0]));
  assert.deepEqual(new Set(readSbom(spdx, "spdx").components.map((c) => c.purl)), new Set(inventory.components.map((c) => c.purl)));
  // The CLI writes the same formats to a file, and a table by default.
  const out = join(work, "sbom.spdx.json");
  const r = vigil(["sbom", `oci-layout:${layout}:v1`, "-o", "spdx-json", "--output", out]);
  assert.equal(r.status, 0, r.stderr);
  assert.ok(validateSpdx(JSON.parse(readFileSync(out, "utf8"))));
  const table = vigil(["sbom", `${layout}:v1`]);
  assert.equal(table.status, 0, table.stderr);
  assert.match(table.stdout, /^libssl3\s+3\.0\.\S+\s+deb\s+\/var\/lib\/dpkg\/status/m);
});

test("a zstd-compressed layer reads like a gzip one", async (t) => {
  const dir = tempDir(t);
  const root = targets.writeTree(join(dir, "root"), {
    "lib/apk/db/installed": targets.alpineInstalled(),
    "etc/os-release": "ID=alpine\nVERSION_ID=3.20.1\n",
  });
  const tarFile = join(dir, "layer.tar");
  run("tar", ["-C", root, "-cf", tarFile, "."]);
  const store = await OciLayout.create(join(dir, "layout"));
  const tarBytes = readFileSync(tarFile);
  const layer = await store.putBlob(zstdCompressSync(tarBytes));
  const config = await store.putBlob(
    Buffer.from(JSON.stringify({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [digestOf(tarBytes)] } })),
  );
  await store.putManifest(
    Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: "application/vnd.oci.image.manifest.v1+json",
        config: { mediaType: "application/vnd.oci.image.config.v1+json", ...config },
        layers: [{ mediaType: "application/vnd.oci.image.layer.v1.tar+zstd", ...layer }],
      }),
    ),
    { tag: "z" },
  );
  const inventory = await generateInventory(`oci-layout:${join(dir, "layout")}:z`);
  assert.equal(inventory.components.length, targets.ALPINE_PACKAGES.length);
  assert.equal(inventory.components[0]!.locations[0]!.layer, digestOf(tarBytes));
});

test("input SBOMs: the CycloneDX 1.6 and 1.7 schema cases are accepted or refused as their names say, refusals naming the field (exit 2)", async (t) => {
  if (!existsShared(t)) return;
  for (const version of ["1.6", "1.7"]) {
    for (const name of readdirSync(join(CASES, version)).filter((n) => n.endsWith(".json"))) {
      const file = join(CASES, version, name);
      if (name.startsWith("valid-")) assert.doesNotThrow(() => readSbomFile(file), name);
      else
        assert.throws(
          () => readSbomFile(file),
          (e: Error & { exitCode?: number }) => e.exitCode === 2 && e.message.includes(file) && /: .+: /.test(e.message),
          name,
        );
    }
  }
  const r = vigil(["sbom", `sbom:${join(CASES, "1.6", "invalid-hash-sha256-1.6.json")}`]);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /not valid CycloneDX 1\.6: components\[0\]\.hashes\[2\]\.content: must match pattern/);
  const ok = vigil(["sbom", join(CASES, "1.6", "valid-bom-1.6.json"), "-o", "cyclonedx-json"]);
  assert.equal(ok.status, 0, ok.stderr);
});

test("input SBOMs: SPDX 2.3 documents are validated (a package without downloadLocation is refused naming it)", (t) => {
  const dir = tempDir(t);
  const good = {
    spdxVersion: "SPDX-2.3",
    dataLicense: "CC0-1.0",
    SPDXID: "SPDXRef-DOCUMENT",
    name: "x",
    documentNamespace: "https://example.com/x",
    creationInfo: { created: "2024-01-01T00:00:00Z", creators: ["Tool: x"] },
    packages: [
      {
        SPDXID: "SPDXRef-p",
        name: "lodash",
        versionInfo: "4.17.21",
        downloadLocation: "NOASSERTION",
        externalRefs: [{ referenceCategory: "PACKAGE-MANAGER", referenceType: "purl", referenceLocator: "pkg:npm/lodash@4.17.21" }],
      },
    ],
  };
  writeFileSync(join(dir, "good.json"), JSON.stringify(good));
  assert.deepEqual(
    readSbomFile(join(dir, "good.json")).components.map((c) => c.purl),
    ["pkg:npm/lodash@4.17.21"],
  );
  const { downloadLocation: _, ...withoutLocation } = good.packages[0]!;
  const bad = { ...good, packages: [withoutLocation] };
  writeFileSync(join(dir, "bad.json"), JSON.stringify(bad));
  const r = vigil(["sbom", join(dir, "bad.json")]);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /bad\.json: not valid SPDX 2\.3: packages\[0\]: must have required property 'downloadLocation'/);
});

function existsShared(t: { skip(m: string): void }): boolean {
  try {
    readdirSync(CASES);
    return true;
  } catch {
    if (process.env.CI === "true") throw new Error(`the shared test data is missing (${CASES})`);
    t.skip("shared data missing");
    return false;
  }
}

/** The official CycloneDX 1.6 schema from the shared test data (with the schemas it references). */
function officialCycloneDx16() {
  const ajv = new Ajv({ strict: false, validateSchema: false });
  addFormats(ajv);
  ajv.addFormat("idn-email", true).addFormat("iri-reference", true);
  for (const name of ["spdx.schema.json", "jsf-0.82.schema.json", "cryptography-defs.schema.json"])
    ajv.addSchema(JSON.parse(readFileSync(join(CASES, "schema", name), "utf8")));
  return ajv.compile(JSON.parse(readFileSync(join(CASES, "schema", "bom-1.6.schema.json"), "utf8")));
}
