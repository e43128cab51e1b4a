// Docker archives (`docker save` format): written by skopeo from a real registry and read by Vigil;
// the newer OCI-shaped form with compressed layers and symlinks; and every kind of corruption refused
// with a clear error instead of a crash.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test, type TestContext } from "node:test";
import { gunzipSync, gzipSync } from "node:zlib";
import * as tar from "tar-stream";
import { InputError } from "../src/core/errors.ts";
import { DockerArchive } from "../src/oci/docker-archive.ts";
import { anonymous } from "../src/oci/docker-config.ts";
import { OciContentError } from "../src/oci/errors.ts";
import { RegistryClient } from "../src/oci/registry.ts";
import { pushTestImage, randomLayer, startRegistry, type TestImage } from "./helpers/registry.ts";
import { requireTools, run, tempDir } from "./helpers/tools.ts";

const sha256 = (b: Buffer) => `sha256:${createHash("sha256").update(b).digest("hex")}`;

type Files = [name: string, content: Buffer | { symlink: string }][];

async function writeTar(file: string, files: Files): Promise<string> {
  const pack = tar.pack();
  for (const [name, content] of files) {
    if (Buffer.isBuffer(content)) pack.entry({ name }, content);
    else pack.entry({ name, type: "symlink", linkname: content.symlink });
  }
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const c of pack) chunks.push(Buffer.from(c as Uint8Array));
  writeFileSync(file, Buffer.concat(chunks));
  return file;
}

async function readTar(file: string): Promise<Files> {
  const extract = tar.extract();
  extract.end(readFileSync(file));
  const files: Files = [];
  for await (const entry of extract) {
    const chunks: Buffer[] = [];
    for await (const c of entry as unknown as AsyncIterable<Uint8Array>) chunks.push(Buffer.from(c));
    files.push([entry.header.name, entry.header.type === "symlink" ? { symlink: entry.header.linkname! } : Buffer.concat(chunks)]);
  }
  return files;
}

/** A docker save archive of an image pushed to a real registry, written by skopeo. */
async function savedImage(t: TestContext): Promise<{ file: string; image: TestImage } | undefined> {
  if (!requireTools(t, ["docker-registry", "skopeo"])) return undefined;
  const registry = await startRegistry(t);
  const client = new RegistryClient({ hosts: { [registry.host]: registry.hostOptions }, credentials: anonymous });
  t.after(() => client.close());
  const image = await pushTestImage(client.repository(`${registry.host}/team/app`), { tag: "v1", layers: 2, layerSize: 4096 });
  const file = join(tempDir(t, "vigil-archive-"), "app.tar");
  run("skopeo", [
    "--insecure-policy",
    "copy",
    "--src-tls-verify=false",
    `docker://${registry.host}/team/app:v1`,
    `docker-archive:${file}:team/app:v1`,
  ]);
  return { file, image };
}

async function readLayer(archive: DockerArchive, index: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of archive.openLayer(archive.image().layers[index]!)) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

test("a docker save archive from skopeo opens: tags, the config as image ID, layers matching their diff_ids", async (t) => {
  const saved = await savedImage(t);
  if (!saved) return;
  const archive = await DockerArchive.open(saved.file);
  assert.equal(archive.images.length, 1);
  const image = archive.image("team/app:v1");
  assert.equal(archive.image("docker.io/team/app:v1"), image);
  assert.deepEqual(image.config, saved.image.config);
  assert.equal(image.configDigest, sha256(saved.image.config));
  const diffIds = JSON.parse(saved.image.config.toString()).rootfs.diff_ids;
  assert.deepEqual(
    image.layers.map((l) => l.diffId),
    diffIds,
  );
  for (const [i, layer] of saved.image.layers.entries()) assert.deepEqual(await readLayer(archive, i), gunzipSync(layer), `layer ${i}`);
  assert.throws(
    () => archive.image("team/app:v2"),
    (e: Error) => e instanceof InputError && /no image tagged team\/app:v2 \(it has docker.io\/team\/app:v1\)/.test(e.message),
  );
});

test("the OCI-shaped archive newer docker writes: blobs/sha256 paths, gzipped layers, a symlinked repeat", async (t) => {
  const dir = tempDir(t, "vigil-archive-");
  const layers = [await randomLayer(2048), await randomLayer(100)];
  const config = Buffer.from(
    JSON.stringify({
      architecture: "amd64",
      os: "linux",
      rootfs: { type: "layers", diff_ids: [layers[0]!.diffId, layers[1]!.diffId, layers[0]!.diffId] },
    }),
  );
  const blob = (b: Buffer) => `blobs/sha256/${sha256(b).slice(7)}`;
  const file = await writeTar(join(dir, "oci.tar"), [
    ["oci-layout", Buffer.from('{"imageLayoutVersion":"1.0.0"}')],
    [blob(layers[0]!.blob), layers[0]!.blob],
    [blob(layers[1]!.blob), layers[1]!.blob],
    ["repeat/layer.tar", { symlink: `../${blob(layers[0]!.blob)}` }],
    [blob(config), config],
    [
      "manifest.json",
      Buffer.from(
        JSON.stringify([
          { Config: blob(config), RepoTags: ["app:v1"], Layers: [blob(layers[0]!.blob), `./${blob(layers[1]!.blob)}`, "repeat/layer.tar"] },
        ]),
      ),
    ],
  ]);
  const archive = await DockerArchive.open(file);
  const image = archive.image("docker.io/library/app:v1");
  assert.deepEqual(
    image.layers.map((l) => [l.compressed, l.digest, l.diffId]),
    [
      [true, sha256(layers[0]!.blob), layers[0]!.diffId],
      [true, sha256(layers[1]!.blob), layers[1]!.diffId],
      [true, sha256(layers[0]!.blob), layers[0]!.diffId],
    ],
  );
  assert.equal(image.layers[2]!.path, blob(layers[0]!.blob));
  assert.deepEqual(await readLayer(archive, 1), layers[1]!.blob);
});

test("corrupt archives are refused with a clear error, never a crash", async (t) => {
  const saved = await savedImage(t);
  if (!saved) return;
  const dir = tempDir(t, "vigil-corrupt-");
  const files = await readTar(saved.file);
  const manifest = JSON.parse((files.find(([n]) => n === "manifest.json")![1] as Buffer).toString());
  const variant = (name: string, change: (files: Files) => Files) => writeTar(join(dir, name), change(files.map(([n, c]) => [n, c])));
  const withManifest =
    (m: unknown) =>
    (fs: Files): Files =>
      fs.map(([n, c]) => [n, n === "manifest.json" ? Buffer.from(JSON.stringify(m)) : c]);
  const good = readFileSync(saved.file);

  const cases: [string, string | Promise<string>, (e: Error) => boolean][] = [
    [
      "truncated",
      (writeFileSync(join(dir, "cut.tar"), good.subarray(0, 3000)), join(dir, "cut.tar")),
      (e) => e instanceof InputError && /corrupt docker archive/.test(e.message),
    ],
    [
      "not a tar",
      (writeFileSync(join(dir, "noise.tar"), Buffer.alloc(4096, 7)), join(dir, "noise.tar")),
      (e) => e instanceof InputError && /corrupt docker archive/.test(e.message),
    ],
    [
      "gzipped",
      (writeFileSync(join(dir, "app.tar.gz"), gzipSync(good)), join(dir, "app.tar.gz")),
      (e) => e instanceof InputError && /gzip-compressed archive; decompress it first/.test(e.message),
    ],
    ["missing file", join(dir, "absent.tar"), (e) => e instanceof InputError && /cannot read the docker archive: ENOENT/.test(e.message)],
    [
      "no manifest.json",
      variant("no-manifest.tar", (fs) => fs.filter(([n]) => n !== "manifest.json")),
      (e) => e instanceof InputError && /has no manifest.json/.test(e.message),
    ],
    [
      "manifest.json not JSON",
      variant("bad-json.tar", (fs) => fs.map(([n, c]) => [n, n === "manifest.json" ? Buffer.from("[{") : c])),
      (e) => e instanceof InputError && /manifest.json: not valid JSON/.test(e.message),
    ],
    [
      "manifest.json wrong shape",
      variant("shape.tar", withManifest([{ Config: 5, Layers: [] }])),
      (e) => e instanceof InputError && /manifest.json: 0.Config/.test(e.message),
    ],
    ["no image", variant("empty.tar", withManifest([])), (e) => e instanceof InputError && /lists no image/.test(e.message)],
    [
      "path outside",
      variant("escape.tar", withManifest([{ ...manifest[0], Layers: ["../../etc/passwd", ...manifest[0].Layers.slice(1)] }])),
      (e) => e instanceof InputError && /"..\/..\/etc\/passwd" points outside the archive/.test(e.message),
    ],
    [
      "layer missing",
      variant("missing.tar", (fs) => fs.filter(([n]) => n !== manifest[0].Layers[1])),
      (e) => e instanceof InputError && e.message.includes(`Layers[1]: "${manifest[0].Layers[1]}" is not in the archive`),
    ],
    [
      "layer count",
      variant("count.tar", withManifest([{ ...manifest[0], Layers: manifest[0].Layers.slice(1) }])),
      (e) => e instanceof OciContentError && /the config lists 2 layers \(rootfs.diff_ids\), manifest.json 1/.test(e.message),
    ],
    [
      "duplicate entry",
      variant("dup.tar", (fs) => [...fs, ["manifest.json", Buffer.from("[]")]]),
      (e) => e instanceof InputError && /"manifest.json" appears twice/.test(e.message),
    ],
    [
      "symlink loop",
      variant("loop.tar", (fs) => [
        ...withManifest([{ ...manifest[0], Layers: ["a/layer.tar", manifest[0].Layers[1]] }])(fs),
        ["a/layer.tar", { symlink: "../b/layer.tar" }],
        ["b/layer.tar", { symlink: "../a/layer.tar" }],
      ]),
      (e) => e instanceof InputError && /chain of more than 16 symlinks/.test(e.message),
    ],
    [
      "tampered config",
      variant("config.tar", (fs) =>
        fs.map(([n, c]) => [n, n === manifest[0].Config ? Buffer.from((c as Buffer).toString().replace("amd64", "arm64")) : c]),
      ),
      (e) => e instanceof OciContentError && new RegExp(`config ${manifest[0].Config}: content does not match its digest`).test(e.message),
    ],
    [
      "tampered layer",
      variant("layer.tar", (fs) =>
        fs.map(([n, c]) => {
          if (n !== manifest[0].Layers[0]) return [n, c];
          const flipped = Buffer.from(c as Buffer);
          flipped[600] = flipped[600]! ^ 0xff;
          return [n, flipped];
        }),
      ),
      (e) => e instanceof OciContentError && e.message.includes(`layer ${manifest[0].Layers[0]}: content does not match its digest`),
    ],
    [
      "wrong layer under a legacy name",
      variant("legacy.tar", (fs) => [
        ...withManifest([{ ...manifest[0], Layers: ["legacy/layer.tar", manifest[0].Layers[1]] }])(fs),
        ["legacy/layer.tar", fs.find(([n]) => n === manifest[0].Layers[1])![1]],
      ]),
      (e) =>
        e instanceof OciContentError &&
        /layer 1 \(legacy\/layer.tar\) does not match the config's diff_id: expected sha256:[a-f0-9]{64}, got sha256:/.test(e.message),
    ],
  ];
  for (const [name, file, check] of cases) {
    await assert.rejects(DockerArchive.open(await file), (e: Error) => check(e) && e.message.includes(dir), name);
  }
});
