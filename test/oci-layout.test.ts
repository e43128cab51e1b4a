// OCI image layout directories: written by Vigil and pushed by skopeo, written by skopeo and read by
// Vigil, with referrers, tags, and every corruption refused.
import assert from "node:assert/strict";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test, type TestContext } from "node:test";
import { InputError } from "../src/core/errors.ts";
import { digestHex, digestOf } from "../src/oci/digest.ts";
import { anonymous } from "../src/oci/docker-config.ts";
import { OciContentError } from "../src/oci/errors.ts";
import { OciLayout, REF_NAME } from "../src/oci/layout.ts";
import { isIndex, MediaType } from "../src/oci/manifest.ts";
import { RegistryClient } from "../src/oci/registry.ts";
import { pushTestImage, startRegistry } from "./helpers/registry.ts";
import { requireTools, run, tempDir } from "./helpers/tools.ts";

async function newLayout(t: TestContext): Promise<OciLayout> {
  return OciLayout.create(join(tempDir(t, "vigil-layout-"), "image"));
}

test("a layout written by Vigil reads back: tags, manifests, blobs, all verified", async (t) => {
  const layout = await newLayout(t);
  assert.deepEqual(JSON.parse(readFileSync(join(layout.dir, "oci-layout"), "utf8")), { imageLayoutVersion: "1.0.0" });
  const image = await pushTestImage(layout, { tag: "v1", layers: 2 });
  const again = await OciLayout.open(layout.dir);
  const resolved = await again.resolve("v1");
  assert.equal(resolved.digest, image.descriptor.digest);
  assert.equal(resolved.annotations?.[REF_NAME], "v1");
  const { manifest, bytes } = await again.getManifest("v1");
  assert.deepEqual(bytes, image.manifest);
  assert.ok(!isIndex(manifest));
  if (isIndex(manifest)) return;
  assert.deepEqual(await again.getBlob(manifest.config.digest), image.config);
  const chunks: Buffer[] = [];
  for await (const c of await again.openBlob(manifest.layers[0]!.digest, { size: manifest.layers[0]!.size })) chunks.push(c as Buffer);
  assert.deepEqual(Buffer.concat(chunks), image.layers[0]);
  assert.deepEqual(await again.tags(), ["v1"]);

  // Re-tagging moves the tag; the old manifest stays reachable by digest.
  const next = await pushTestImage(again, { tag: "v1" });
  assert.equal((await again.resolve("v1")).digest, next.descriptor.digest);
  assert.deepEqual(await again.tags(), ["v1"]);
  assert.equal((await again.getManifest(image.descriptor.digest)).descriptor.digest, image.descriptor.digest);
});

test("referrers in a layout: manifests listed in index.json whose subject is the image", async (t) => {
  const layout = await newLayout(t);
  const image = await pushTestImage(layout, { tag: "v1" });
  const config = await layout.putBlob(Buffer.from("{}"));
  const signature = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.ociManifest,
      artifactType: "application/vnd.dev.sigstore.bundle.v0.3+json",
      config: { mediaType: MediaType.ociEmpty, ...config },
      layers: [{ mediaType: "application/vnd.dev.sigstore.bundle.v0.3+json", ...(await layout.putBlob(Buffer.from("bundle"))) }],
      subject: image.descriptor,
    }),
  );
  const descriptor = await layout.putManifest(signature);
  await layout.putManifest(signature); // listed once
  assert.deepEqual(await layout.referrers(image.descriptor.digest), [
    { ...descriptor, artifactType: "application/vnd.dev.sigstore.bundle.v0.3+json" },
  ]);
  assert.deepEqual(await layout.referrers(image.descriptor.digest, { artifactType: "application/spdx+json" }), []);
  assert.deepEqual(await layout.referrers(descriptor.digest), []);
  assert.equal((await layout.index()).manifests.length, 2);
});

test("skopeo pushes a layout Vigil wrote; Vigil reads a layout skopeo wrote", async (t) => {
  if (!requireTools(t, ["docker-registry", "skopeo"])) return;
  const registry = await startRegistry(t);
  const client = new RegistryClient({ hosts: { [registry.host]: registry.hostOptions }, credentials: anonymous });
  t.after(() => client.close());

  const layout = await newLayout(t);
  const image = await pushTestImage(layout, { tag: "v1" });
  run("skopeo", [
    "--insecure-policy",
    "copy",
    "--dest-tls-verify=false",
    `oci:${layout.dir}:v1`,
    `docker://${registry.host}/from-layout:v1`,
  ]);
  assert.equal(
    (await client.resolve(`${registry.host}/from-layout:v1`)).digest,
    image.descriptor.digest,
    "skopeo copied the exact manifest",
  );

  const pushed = await pushTestImage(client.repository(`${registry.host}/team/app`), { tag: "v2", format: "docker" });
  const dir = join(tempDir(t, "vigil-skopeo-layout-"), "out");
  run("skopeo", ["--insecure-policy", "copy", "--src-tls-verify=false", `docker://${registry.host}/team/app:v2`, `oci:${dir}:v2`]);
  const written = await OciLayout.open(dir);
  const { manifest } = await written.getManifest("v2");
  assert.ok(!isIndex(manifest));
  if (isIndex(manifest)) return;
  // skopeo converts Docker schema 2 to OCI on the way into a layout; the config and layers are the same bytes.
  assert.equal(manifest.mediaType, MediaType.ociManifest);
  assert.deepEqual(await written.getBlob(manifest.config.digest), pushed.config);
  assert.deepEqual(await Promise.all(manifest.layers.map((l) => written.getBlob(l.digest))), pushed.layers);
});

test("a corrupt or incomplete layout is refused, naming the file or blob", async (t) => {
  const layout = await newLayout(t);
  const image = await pushTestImage(layout, { tag: "v1" });
  const blobFile = (digest: string) => join(layout.dir, "blobs", "sha256", digestHex(digest));
  const manifest = JSON.parse(image.manifest.toString());

  writeFileSync(blobFile(manifest.config.digest), "tampered");
  await assert.rejects(
    layout.getBlob(manifest.config.digest),
    (e: Error) =>
      e instanceof OciContentError &&
      e.message.includes(`blob oci-layout:${layout.dir}@${manifest.config.digest}: content does not match its digest`),
  );
  writeFileSync(blobFile(image.descriptor.digest), image.manifest.toString().replace("2", "3"));
  await assert.rejects(layout.getManifest("v1"), (e: Error) => e instanceof OciContentError && e.message.includes(image.descriptor.digest));

  const missing = digestOf(Buffer.from("never written"));
  await assert.rejects(layout.getBlob(missing), (e: Error) => e instanceof OciContentError && /missing from the layout/.test(e.message));
  await assert.rejects(layout.resolve("v9"), (e: Error) => e instanceof InputError && /no manifest is tagged "v9"/.test(e.message));
  await assert.rejects(layout.getBlob("sha256:../../etc/passwd"), InputError);
  await assert.rejects(layout.putManifest(image.manifest, { tag: "bad tag" }), /invalid tag "bad tag"/);

  const notALayout = tempDir(t);
  await assert.rejects(
    OciLayout.open(notALayout),
    (e: Error) => e instanceof InputError && e.message.includes(`${notALayout}: not an OCI image layout`),
  );
  const wrongVersion = join(tempDir(t), "v2");
  mkdirSync(wrongVersion);
  writeFileSync(join(wrongVersion, "oci-layout"), JSON.stringify({ imageLayoutVersion: "2.0.0" }));
  await assert.rejects(OciLayout.open(wrongVersion), /imageLayoutVersion "2.0.0" is not supported/);
  writeFileSync(join(wrongVersion, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
  writeFileSync(
    join(wrongVersion, "index.json"),
    JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: MediaType.ociManifest, digest: "sha256:short", size: 1 }] }),
  );
  await assert.rejects(
    OciLayout.open(wrongVersion),
    (e: Error) => e instanceof OciContentError && /index\.json: invalid .*manifests\.0\.digest/.test(e.message),
  );
});
