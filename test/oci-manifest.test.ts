// Manifests are parsed strictly: known media types only, the declared type must agree with the body,
// a manifest may not pose as an index (or the reverse), and every descriptor must be well formed.
import assert from "node:assert/strict";
import { test } from "node:test";
import { digestOf } from "../src/oci/digest.ts";
import { OciContentError } from "../src/oci/errors.ts";
import { isIndex, MediaType, parseManifest } from "../src/oci/manifest.ts";

const config = { mediaType: MediaType.ociConfig, digest: digestOf(Buffer.from("{}")), size: 2 };
const layer = { mediaType: MediaType.ociLayerGzip, digest: `sha256:${"1".repeat(64)}`, size: 10 };
const bytes = (o: unknown) => Buffer.from(JSON.stringify(o));
const ociManifest = { schemaVersion: 2, mediaType: MediaType.ociManifest, config, layers: [layer] };

function refused(body: unknown, declared: string | undefined, message: RegExp) {
  assert.throws(
    () => parseManifest(bytes(body), declared, "manifest reg/app:v1"),
    (e: Error) => e instanceof OciContentError && e.message.startsWith("manifest reg/app:v1: ") && message.test(e.message),
    message.source,
  );
}

test("the four supported types parse, and tell manifests from indexes", () => {
  const m = parseManifest(bytes(ociManifest), MediaType.ociManifest, "m");
  assert.ok(!isIndex(m));
  assert.equal(m.mediaType, MediaType.ociManifest);
  const docker = parseManifest(
    bytes({ ...ociManifest, mediaType: MediaType.dockerManifest, config: { ...config, mediaType: MediaType.dockerConfig } }),
    `${MediaType.dockerManifest}; charset=utf-8`,
    "m",
  );
  assert.equal(docker.mediaType, MediaType.dockerManifest);
  const platform = { architecture: "arm64", os: "linux", variant: "v8" };
  const index = parseManifest(
    bytes({
      schemaVersion: 2,
      mediaType: MediaType.ociIndex,
      manifests: [{ mediaType: MediaType.ociManifest, digest: layer.digest, size: 5, platform }],
    }),
    undefined,
    "i",
  );
  assert.ok(isIndex(index));
  assert.deepEqual(index.manifests[0]!.platform, platform);
  const list = parseManifest(
    bytes({ schemaVersion: 2, mediaType: MediaType.dockerManifestList, manifests: [] }),
    MediaType.dockerManifestList,
    "l",
  );
  assert.ok(isIndex(list));
});

test("an OCI manifest without mediaType takes the declared one; unknown fields are ignored", () => {
  const { mediaType: _, ...bare } = ociManifest;
  const m = parseManifest(bytes({ ...bare, futureField: { x: 1 } }), MediaType.ociManifest, "m");
  assert.equal(m.mediaType, MediaType.ociManifest);
  assert.ok(!("futureField" in m));
  refused(bare, undefined, /no mediaType and none was declared/);
});

test("an artifact manifest keeps its artifactType and subject", () => {
  const subject = { mediaType: MediaType.ociManifest, digest: `sha256:${"2".repeat(64)}`, size: 99 };
  const m = parseManifest(
    bytes({ ...ociManifest, artifactType: "application/vnd.dev.sigstore.bundle.v0.3+json", subject }),
    undefined,
    "m",
  );
  assert.equal(m.artifactType, "application/vnd.dev.sigstore.bundle.v0.3+json");
  assert.deepEqual(m.subject, subject);
});

test("mismatched, unknown and deprecated media types are refused", () => {
  refused(
    ociManifest,
    MediaType.dockerManifest,
    /declared media type application\/vnd.docker.distribution.manifest.v2\+json does not match the manifest's own mediaType application\/vnd.oci.image.manifest.v1\+json/,
  );
  refused(
    { ...ociManifest, mediaType: "application/vnd.example.thing+json" },
    undefined,
    /unsupported manifest media type application\/vnd.example.thing\+json/,
  );
  refused({ ...ociManifest, mediaType: undefined }, "text/html", /unsupported manifest media type text\/html/);
  refused(
    { schemaVersion: 1, name: "x", fsLayers: [] },
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
    /Docker schema 1 manifests .* are not supported/,
  );
  refused({ ...ociManifest, mediaType: undefined }, MediaType.dockerManifest, /must name its own mediaType/);
  refused({ ...ociManifest, mediaType: 42 }, undefined, /"mediaType" must be a string/);
});

test("a manifest posing as an index, or an index as a manifest, is refused", () => {
  refused({ ...ociManifest, manifests: [] }, undefined, /an image manifest .* must not have "manifests"/);
  refused(
    { schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [], layers: [] },
    undefined,
    /an index .* must not have "config" or "layers"/,
  );
  refused({ schemaVersion: 2, mediaType: MediaType.ociIndex }, undefined, /invalid application\/vnd.oci.image.index.v1\+json: manifests/);
});

test("malformed bodies and descriptors are refused with the field named", () => {
  assert.throws(() => parseManifest(Buffer.from("{not json"), undefined, "m"), /manifest is not valid JSON/);
  assert.throws(() => parseManifest(Buffer.from("[1]"), undefined, "m"), /not a JSON object/);
  refused({ ...ociManifest, schemaVersion: 3 }, undefined, /schemaVersion must be 2/);
  refused(
    { ...ociManifest, layers: [{ ...layer, digest: "sha256:xyz" }] },
    undefined,
    /layers\.0\.digest must be a sha256 or sha512 digest/,
  );
  refused({ ...ociManifest, layers: [{ ...layer, digest: `md5:${"a".repeat(32)}` }] }, undefined, /layers\.0\.digest/);
  refused({ ...ociManifest, layers: [{ ...layer, size: -1 }] }, undefined, /layers\.0\.size must not be negative/);
  refused({ ...ociManifest, layers: [{ ...layer, size: 1.5 }] }, undefined, /layers\.0\.size must be an integer/);
  refused({ ...ociManifest, config: { ...config, mediaType: "not a type" } }, undefined, /config\.mediaType must be a media type/);
  refused({ ...ociManifest, annotations: { a: 1 } }, undefined, /annotations\.a/);
});

test("embedded data must be exactly the content its descriptor names", () => {
  const data = Buffer.from("{}").toString("base64");
  parseManifest(bytes({ ...ociManifest, config: { ...config, data } }), undefined, "m");
  refused(
    { ...ociManifest, config: { ...config, data: Buffer.from("[]").toString("base64") } },
    undefined,
    /embedded data: content does not match its digest/,
  );
  refused(
    { ...ociManifest, config: { ...config, data: Buffer.from("{} ").toString("base64") } },
    undefined,
    /embedded data of .* is 3 bytes, its descriptor says 2/,
  );
});
