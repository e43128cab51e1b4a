// The registry client against a real registry: Debian's docker-registry (distribution v2.8) on loopback,
// and skopeo reading what we pushed and pushing what we read.
import assert from "node:assert/strict";
import { test, type TestContext } from "node:test";
import { ExitCode } from "../src/core/errors.ts";
import { digestOf } from "../src/oci/digest.ts";
import { anonymous } from "../src/oci/docker-config.ts";
import { RegistryError } from "../src/oci/errors.ts";
import { isIndex, MediaType } from "../src/oci/manifest.ts";
import { RegistryClient, type RegistryRepository } from "../src/oci/registry.ts";
import { referrersTag } from "../src/oci/store.ts";
import { pushTestImage, startRegistry, type TestRegistry } from "./helpers/registry.ts";
import { requireTools, run } from "./helpers/tools.ts";

async function setup(
  t: TestContext,
  repository = "team/app",
): Promise<{ registry: TestRegistry; client: RegistryClient; repo: RegistryRepository } | undefined> {
  if (!requireTools(t, ["docker-registry"])) return undefined;
  const registry = await startRegistry(t);
  const client = new RegistryClient({ hosts: { [registry.host]: registry.hostOptions }, credentials: anonymous });
  t.after(() => client.close());
  return { registry, client, repo: client.repository(`${registry.host}/${repository}`) };
}

const EMPTY_CONFIG = Buffer.from("{}");

/** An OCI 1.1 artifact manifest (empty config, one blob) that refers to `subject`. */
async function pushReferrer(
  repo: RegistryRepository,
  subject: { mediaType: string; digest: string; size: number },
  artifactType: string,
  content: string,
) {
  const blob = await repo.putBlob(Buffer.from(content));
  const config = await repo.putBlob(EMPTY_CONFIG);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.ociManifest,
      artifactType,
      config: { mediaType: MediaType.ociEmpty, ...config },
      layers: [{ mediaType: "application/octet-stream", ...blob }],
      subject,
      annotations: { "org.opencontainers.image.created": "2026-01-01T00:00:00Z", note: content },
    }),
  );
  return { manifest, descriptor: await repo.putManifest(manifest) };
}

test("an OCI image pushed through the client reads back by tag and by digest, every byte verified", async (t) => {
  const s = await setup(t);
  if (!s) return;
  const image = await pushTestImage(s.repo, { tag: "v1", layers: 3 });
  assert.equal(image.descriptor.digest, digestOf(image.manifest));

  const byTag = await s.repo.getManifest("v1");
  assert.deepEqual(byTag.descriptor, { mediaType: MediaType.ociManifest, digest: image.descriptor.digest, size: image.manifest.length });
  assert.deepEqual(byTag.bytes, image.manifest);
  const byDigest = await s.repo.getManifest(image.descriptor.digest);
  assert.ok(!isIndex(byDigest.manifest));
  if (isIndex(byDigest.manifest)) return;
  assert.equal(byDigest.manifest.layers.length, 3);

  assert.deepEqual(await s.repo.getBlob(byDigest.manifest.config.digest, { size: byDigest.manifest.config.size }), image.config);
  for (const [i, layer] of byDigest.manifest.layers.entries()) {
    assert.deepEqual(await s.repo.getBlob(layer.digest, { size: layer.size }), image.layers[i]);
    assert.equal(await s.repo.headBlob(layer.digest), layer.size);
  }
  assert.deepEqual(await s.repo.resolve("v1"), byTag.descriptor);
  assert.deepEqual(await s.client.resolve(`${s.registry.host}/team/app:v1`), byTag.descriptor);
  assert.deepEqual(await s.client.resolve(`${s.registry.host}/team/app@${image.descriptor.digest}`), byTag.descriptor);
  assert.deepEqual(await s.repo.tags(), ["v1"]);
});

test("a Docker schema 2 image, an untagged manifest and an index pushed by tag", async (t) => {
  const s = await setup(t);
  if (!s) return;
  const amd64 = await pushTestImage(s.repo, { format: "docker" });
  const arm64 = await pushTestImage(s.repo, { format: "docker" });
  assert.equal((await s.repo.getManifest(amd64.descriptor.digest)).descriptor.mediaType, MediaType.dockerManifest);
  assert.deepEqual(await s.repo.tags(), [], "a manifest put by digest has no tag");

  const list = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.dockerManifestList,
      manifests: [
        { ...amd64.descriptor, platform: { architecture: "amd64", os: "linux" } },
        { ...arm64.descriptor, platform: { architecture: "arm64", os: "linux", variant: "v8" } },
      ],
    }),
  );
  const listed = await s.repo.putManifest(list, { tag: "multi" });
  const fetched = await s.repo.getManifest("multi");
  assert.equal(fetched.descriptor.digest, listed.digest);
  assert.ok(isIndex(fetched.manifest));
  if (!isIndex(fetched.manifest)) return;
  assert.deepEqual(
    fetched.manifest.manifests.map((d) => d.platform?.architecture),
    ["amd64", "arm64"],
  );
  assert.deepEqual(await s.repo.tags(), ["multi"]);
});

test("what is missing is a 404 RegistryError (exit 3) with the registry's error code", async (t) => {
  const s = await setup(t);
  if (!s) return;
  await pushTestImage(s.repo, { tag: "v1" });
  const missing = `sha256:${"0".repeat(64)}`;
  await assert.rejects(
    s.repo.getManifest("v2"),
    (e: Error) =>
      e instanceof RegistryError &&
      e.status === 404 &&
      e.code === "MANIFEST_UNKNOWN" &&
      e.exitCode === ExitCode.unavailable &&
      e.message.includes(`${s.registry.host}/team/app:v2`),
  );
  await assert.rejects(s.repo.resolve("v2"), (e: Error) => e instanceof RegistryError && e.status === 404);
  assert.equal(await s.repo.headManifest("v2"), undefined);
  assert.equal(await s.repo.headManifest(missing), undefined);
  await assert.rejects(
    s.repo.getBlob(missing),
    (e: Error) => e instanceof RegistryError && e.status === 404 && e.code === "BLOB_UNKNOWN" && e.message.includes(`@${missing}`),
  );
  assert.equal(await s.repo.headBlob(missing), undefined);
  await assert.rejects(
    s.client.repository(`${s.registry.host}/nobody/here`).getManifest("latest"),
    (e: Error) => e instanceof RegistryError && e.status === 404,
  );
});

test("a layer streams from the registry and is verified as it ends", async (t) => {
  const s = await setup(t);
  if (!s) return;
  const image = await pushTestImage(s.repo, { layers: 1, layerSize: 3 << 20 });
  const manifest = (await s.repo.getManifest(image.descriptor.digest)).manifest;
  assert.ok(!isIndex(manifest));
  if (isIndex(manifest)) return;
  const layer = manifest.layers[0]!;
  const chunks: Buffer[] = [];
  for await (const chunk of await s.repo.openBlob(layer.digest, { size: layer.size })) chunks.push(chunk as Buffer);
  assert.deepEqual(Buffer.concat(chunks), image.layers[0]);
});

test("referrers on a registry without the referrers API: the client keeps the sha256-<hex> tag index", async (t) => {
  const s = await setup(t);
  if (!s) return;
  const image = await pushTestImage(s.repo, { tag: "v1" });
  assert.deepEqual(await s.repo.referrers(image.descriptor.digest), [], "no referrers yet: the API's 404, then no tag");

  const signature = await pushReferrer(s.repo, image.descriptor, "application/vnd.dev.sigstore.bundle.v0.3+json", "signature");
  const sbom = await pushReferrer(s.repo, image.descriptor, "application/vnd.cyclonedx+json", "sbom");
  await s.repo.putManifest(signature.manifest); // pushed twice: still listed once

  const all = await s.repo.referrers(image.descriptor.digest);
  assert.deepEqual(
    all.map((d) => d.digest),
    [signature.descriptor.digest, sbom.descriptor.digest],
  );
  assert.deepEqual(all[0], {
    mediaType: MediaType.ociManifest,
    digest: signature.descriptor.digest,
    size: signature.manifest.length,
    artifactType: "application/vnd.dev.sigstore.bundle.v0.3+json",
    annotations: { "org.opencontainers.image.created": "2026-01-01T00:00:00Z", note: "signature" },
  });
  const sboms = await s.repo.referrers(image.descriptor.digest, { artifactType: "application/vnd.cyclonedx+json" });
  assert.deepEqual(
    sboms.map((d) => d.digest),
    [sbom.descriptor.digest],
  );

  const tag = referrersTag(image.descriptor.digest);
  assert.deepEqual((await s.repo.tags()).sort(), [tag, "v1"].sort());
  const index = await s.repo.getManifest(tag);
  assert.equal(index.descriptor.mediaType, MediaType.ociIndex);
  // The referrer itself, fetched by digest, names the image as its subject.
  const referrer = await s.repo.getManifest(all[0]!.digest);
  assert.equal(referrer.manifest.subject?.digest, image.descriptor.digest);
});

test("concurrent referrer pushes through one client all land in the tag index", async (t) => {
  const s = await setup(t);
  if (!s) return;
  const image = await pushTestImage(s.repo);
  const pushed = await Promise.all(
    Array.from({ length: 8 }, (_, i) => pushReferrer(s.repo, image.descriptor, "application/vnd.example.note", `note ${i}`)),
  );
  const listed = await s.repo.referrers(image.descriptor.digest);
  assert.deepEqual(new Set(listed.map((d) => d.digest)), new Set(pushed.map((p) => p.descriptor.digest)));
});

test("skopeo reads what Vigil pushed, and Vigil verifies what skopeo copied", async (t) => {
  if (!requireTools(t, ["skopeo"])) return;
  const s = await setup(t);
  if (!s) return;
  const image = await pushTestImage(s.repo, { tag: "v1" });
  const raw = run("skopeo", ["--insecure-policy", "inspect", "--raw", "--tls-verify=false", `docker://${s.registry.host}/team/app:v1`]);
  assert.equal(raw, image.manifest.toString());
  run("skopeo", [
    "--insecure-policy",
    "copy",
    "--src-tls-verify=false",
    "--dest-tls-verify=false",
    `docker://${s.registry.host}/team/app:v1`,
    `docker://${s.registry.host}/mirror/app:copied`,
  ]);
  const copied = await s.client.repository(`${s.registry.host}/mirror/app`).getManifest("copied");
  assert.equal(copied.descriptor.digest, image.descriptor.digest);
});

test("200 images resolved and fetched concurrently over kept-alive connections", async (t) => {
  const s = await setup(t);
  if (!s) return;
  const images = 200;
  const pushed: string[] = [];
  for (let batch = 0; batch < images; batch += 20) {
    const digests = await Promise.all(
      Array.from({ length: 20 }, async (_, i) => {
        const repo = s.client.repository(`${s.registry.host}/fleet/app-${batch + i}`);
        return (await pushTestImage(repo, { tag: "prod", layers: 1, layerSize: 256 })).descriptor.digest;
      }),
    );
    pushed.push(...digests);
  }
  const started = performance.now();
  const verified = await Promise.all(
    pushed.map(async (digest, i) => {
      const repo = s.client.repository(`${s.registry.host}/fleet/app-${i}`);
      const resolved = await repo.resolve("prod");
      const { manifest } = await repo.getManifest(resolved.digest);
      if (isIndex(manifest)) throw new Error("unexpected index");
      await repo.getBlob(manifest.config.digest, { size: manifest.config.size });
      await repo.referrers(resolved.digest);
      return resolved.digest === digest;
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  assert.equal(verified.filter(Boolean).length, images);
  t.diagnostic(`${images} images: tag resolved, manifest and config fetched and verified, referrers looked up, in ${seconds.toFixed(2)} s`);
  assert.ok(seconds < 30, `took ${seconds}s`);
});
