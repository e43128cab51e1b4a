// Reading layers: the tar formats real tools write (GNU tar's gnu, pax and ustar formats: long names,
// long link targets, the ustar name prefix, non-ASCII names, base-256 numbers), strict refusal of
// broken headers, and registry layers read ahead while the layer before is read, with the same result
// and the same failures as without.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { gzipSync } from "node:zlib";
import { Readable } from "node:stream";
import { anonymous, DockerArchive, digestOf, RegistryClient, streamBlobReader, type RegistryRepository } from "../src/oci/index.ts";
import { generateInventory, type Inventory } from "../src/sbom/index.ts";
import { startRegistry } from "./helpers/registry.ts";
import { layoutOf, pushImage } from "./helpers/sbom-layers.ts";
import { writeTree } from "./helpers/sbom-targets.ts";
import { requireTools, run, tempDir, vigil } from "./helpers/tools.ts";

const LOCK = JSON.stringify({ lockfileVersion: 3, packages: { "": { name: "app" }, "node_modules/left-pad": { version: "1.3.0" } } });
const OS_RELEASE = "ID=debian\nVERSION_ID=12\n";
const DEEP = `srv/${"d".repeat(70)}/${"e".repeat(70)}`;

/** A directory as a tar written by GNU tar in the given format. */
function gnuTar(dir: string, format: "gnu" | "pax" | "ustar", out: string): Buffer {
  run("tar", [`--format=${format}`, "--sort=name", "--owner=0", "--group=0", "--numeric-owner", "-C", dir, "-cf", out, "."]);
  return readFileSync(out);
}

const located = (inventory: Inventory) => inventory.components.map((c) => `${c.purl} ${c.locations.map((l) => l.path).join(",")}`);

test("GNU tar's gnu, pax and ustar formats read alike: long names and link targets, the ustar prefix, non-ASCII names", async (t) => {
  if (!requireTools(t, ["tar"])) return;
  const work = tempDir(t);
  for (const format of ["gnu", "pax", "ustar"] as const) {
    const root = join(work, format);
    writeTree(root, {
      [`${DEEP}/app/package-lock.json`]: LOCK, // 160 characters: a long name (gnu, pax) or name and prefix (ustar)
      "opt/café/package-lock.json": LOCK.replace("left-pad", "ünïcode").replace("1.3.0", "2.0.0"),
      "usr/lib/os-release": OS_RELEASE,
      "etc/hostname": "x\n",
    });
    // A link target over 100 characters needs GNU's long link or pax's linkpath; ustar has neither.
    if (format !== "ustar") symlinkSync(`../usr/lib/${"./".repeat(60)}os-release`, join(root, "etc", "os-release"));
    const layer = gnuTar(root, format, join(work, `${format}.tar`));
    const { target } = await layoutOf(join(work, `${format}-image`), [gzipSync(layer)], [layer]);
    const inventory = await generateInventory(target);
    assert.equal(inventory.os?.id, "debian", format);
    assert.deepEqual(
      located(inventory).sort(),
      ["pkg:npm/%C3%BCn%C3%AFcode@2.0.0 /opt/café/package-lock.json", `pkg:npm/left-pad@1.3.0 /${DEEP}/app/package-lock.json`],
      format,
    );
  }
});

test("gzip layers as gzip writes them read alike: a file name in the header, several members in a row, zero padding; a member cut short is refused", async (t) => {
  if (!requireTools(t, ["tar", "gzip"])) return;
  const work = tempDir(t);
  writeTree(join(work, "root"), { "etc/os-release": OS_RELEASE, "app/package-lock.json": LOCK, "data/filler": randomBytes(300 << 10) });
  const tarFile = join(work, "layer.tar");
  const tar = gnuTar(join(work, "root"), "pax", tarFile);
  const half = tar.length >> 1;
  // gzip(1) names the file in the header (FNAME); a stream may be several members one after another.
  const named = run("sh", ["-c", `gzip -c ${tarFile} | base64 -w0`]);
  const members = Buffer.concat([gzipSync(tar.subarray(0, half)), gzipSync(tar.subarray(half))]);
  const cases: [string, Buffer][] = [
    ["named", Buffer.from(named, "base64")],
    ["members", members],
    ["padded", Buffer.concat([gzipSync(tar), Buffer.alloc(4096)])],
  ];
  for (const [what, blob] of cases) {
    const { target } = await layoutOf(join(work, what), [blob], [tar]);
    assert.deepEqual(located(await generateInventory(target)), ["pkg:npm/left-pad@1.3.0 /app/package-lock.json"], what);
  }
  const { target } = await layoutOf(join(work, "cut"), [members.subarray(0, members.length - 4)], [tar]);
  const r = vigil(["sbom", target]);
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, /corrupt gzip stream: unexpected end of file/);
});

/** Rewrites one header of a tar in place, then its checksum. */
function patchHeader(tar: Buffer, headerOffset: number, patch: (header: Buffer) => void): void {
  const header = tar.subarray(headerOffset, headerOffset + 512);
  patch(header);
  header.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of header) sum += b;
  header.write(`${sum.toString(8).padStart(6, "0")}\0 `, 148, "latin1");
}

/** The offset of the header whose name is `name`. */
function headerOf(tar: Buffer, name: string): number {
  for (let at = 0; at < tar.length; at += 512)
    if (tar.toString("latin1", at, at + name.length) === name && tar[at + name.length] === 0) return at;
  throw new Error(`${name} not in the tar`);
}

test("a size in GNU's base-256 form is read; a header whose checksum does not add up is refused naming the layer (exit 2)", async (t) => {
  if (!requireTools(t, ["tar"])) return;
  const work = tempDir(t);
  writeTree(join(work, "root"), { "etc/os-release": OS_RELEASE, "app/package-lock.json": LOCK });
  const tar = gnuTar(join(work, "root"), "gnu", join(work, "layer.tar"));
  // GNU tar writes sizes past 8 GiB as a 0x80 byte and the number in big-endian binary: the same size, that way.
  const base256 = Buffer.from(tar);
  patchHeader(base256, headerOf(base256, "./app/package-lock.json"), (h) => {
    h.fill(0, 124, 136);
    h[124] = 0x80;
    h.writeUInt32BE(LOCK.length, 132);
  });
  const read = await generateInventory((await layoutOf(join(work, "a"), [gzipSync(base256)], [base256])).target);
  assert.deepEqual(located(read), ["pkg:npm/left-pad@1.3.0 /app/package-lock.json"]);

  const corrupt = Buffer.from(tar);
  const at = headerOf(corrupt, "./app/package-lock.json");
  corrupt[at + 1] = 0x41; // the name changes, the checksum does not
  const { target, diffIds } = await layoutOf(join(work, "b"), [gzipSync(corrupt)], [corrupt]);
  const r = vigil(["sbom", target]);
  assert.equal(r.status, 2, r.stderr);
  assert.match(
    r.stderr,
    new RegExp(`layer 1 \\(${diffIds[0]}\\): not a readable layer: not a tar header at byte ${at} \\(checksum does not match\\)`),
  );
});

test("an oversized pax header and a tar that ends inside an entry are refused naming the layer (exit 2)", async (t) => {
  if (!requireTools(t, ["tar"])) return;
  const work = tempDir(t);
  writeTree(join(work, "root"), { "etc/os-release": OS_RELEASE, "app/package-lock.json": LOCK });
  const tar = gnuTar(join(work, "root"), "pax", join(work, "layer.tar"));
  // A pax header claiming 2 MiB of records (more than any real path or link needs).
  const pax = Buffer.from(tar);
  const first = 0;
  patchHeader(pax, first, (h) => {
    h.write("x", 156, "latin1");
    h.write(`${(2 << 20).toString(8).padStart(11, "0")}\0`, 124, "latin1");
  });
  const cases: [string, Buffer, RegExp][] = [
    ["pax", pax, /not a readable layer: a x header of 2097152 bytes at byte 0; refused/],
    [
      "truncated",
      tar.subarray(0, headerOf(tar, "./app/package-lock.json") + 512 + 10),
      /not a readable layer: the archive ends inside an entry/,
    ],
  ];
  for (const [what, layer, message] of cases) {
    const { target } = await layoutOf(join(work, what), [gzipSync(layer)], [layer]);
    const r = vigil(["sbom", target]);
    assert.equal(r.status, 2, `${what}: ${r.stderr}`);
    assert.match(r.stderr, message, what);
  }
});

test("a large local layer is hashed on a second thread from the buffers being read: read when it matches, blocked when tampered (exit 1)", async (t) => {
  if (!requireTools(t, ["tar"])) return;
  const work = tempDir(t);
  // Past the 32 MiB from which the digest is computed on the hash thread.
  writeTree(join(work, "root"), { "etc/os-release": OS_RELEASE, "data/filler": randomBytes(40 << 20), "z/package-lock.json": LOCK });
  const tar = gnuTar(join(work, "root"), "pax", join(work, "layer.tar"));
  const blob = gzipSync(tar, { level: 1 });
  const { target } = await layoutOf(join(work, "image"), [blob], [tar]);
  assert.deepEqual(located(await generateInventory(target)), ["pkg:npm/left-pad@1.3.0 /z/package-lock.json"]);
  const file = join(work, "image", "layout", "blobs", "sha256", digestOf(blob).slice("sha256:".length));
  const tampered = readFileSync(file);
  tampered[tampered.length >> 1]! ^= 0x01;
  writeFileSync(file, tampered);
  const blocked = vigil(["sbom", target]);
  assert.equal(blocked.status, 1, blocked.stderr);
  assert.match(blocked.stderr, new RegExp(`blob oci-layout:.*@${digestOf(blob)}: content does not match its digest`));
});

test("a docker archive's large plain layer is checked against its diff_id as it is read, not hashed twice: read when it matches, blocked when tampered (exit 1)", async (t) => {
  if (!requireTools(t, ["tar", "skopeo"])) return;
  const work = tempDir(t);
  writeTree(join(work, "root"), { "etc/os-release": OS_RELEASE, "data/filler": randomBytes(40 << 20), "z/package-lock.json": LOCK });
  const tar = gnuTar(join(work, "root"), "pax", join(work, "layer.tar"));
  const { target } = await layoutOf(join(work, "image"), [gzipSync(tar, { level: 1 })], [tar]);
  const archive = join(work, "image.tar");
  // skopeo writes docker save's format: each layer a plain tar named by its diff_id.
  run("skopeo", ["--insecure-policy", "copy", target.replace(/^oci-layout:/, "oci:"), `docker-archive:${archive}:team/app:v1`]);
  assert.deepEqual(located(await generateInventory(`docker-archive:${archive}`)), ["pkg:npm/left-pad@1.3.0 /z/package-lock.json"]);
  const layer = (await DockerArchive.open(archive)).image().layers[0]!;
  assert.equal(layer.digest, digestOf(tar));
  const bytes = readFileSync(archive);
  bytes[layer.offset + (layer.size >> 1)]! ^= 0x01;
  writeFileSync(archive, bytes);
  const r = vigil(["sbom", `docker-archive:${archive}`]);
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, new RegExp(`${layer.path}: content does not match its digest: expected ${digestOf(tar)}`));
});

test("a docker archive's large gzip layer (the OCI-shaped form) is hashed and gunzipped to its diff_id when the archive is opened", async (t) => {
  if (!requireTools(t, ["tar"])) return;
  const work = tempDir(t);
  writeTree(join(work, "root"), { "etc/os-release": OS_RELEASE, "data/filler": randomBytes(40 << 20), "z/package-lock.json": LOCK });
  const tar = gnuTar(join(work, "root"), "pax", join(work, "layer.tar"));
  const gz = gzipSync(tar, { level: 1 });
  const archiveOf = (name: string, diffId: string) => {
    const config = Buffer.from(JSON.stringify({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [diffId] } }));
    const blob = (b: Buffer) => `blobs/sha256/${digestOf(b).slice("sha256:".length)}`;
    const dir = join(work, name);
    writeTree(dir, {
      [blob(gz)]: gz,
      [blob(config)]: config,
      "manifest.json": JSON.stringify([{ Config: blob(config), RepoTags: ["app:v1"], Layers: [blob(gz)] }]),
    });
    run("tar", ["-C", dir, "-cf", `${dir}.tar`, "manifest.json", "blobs"]);
    return `${dir}.tar`;
  };
  const good = archiveOf("good", digestOf(tar));
  const layer = (await DockerArchive.open(good)).image().layers[0]!;
  assert.deepEqual([layer.compressed, layer.digest, layer.diffId], [true, digestOf(gz), digestOf(tar)]);
  assert.deepEqual(located(await generateInventory(`docker-archive:${good}`)), ["pkg:npm/left-pad@1.3.0 /z/package-lock.json"]);
  const lying = archiveOf("lying", digestOf(Buffer.from("another layer")));
  await assert.rejects(DockerArchive.open(lying), (e: Error & { exitCode?: number }) => {
    assert.equal(e.exitCode, 1);
    assert.match(
      e.message,
      new RegExp(`does not match the config's diff_id: expected ${digestOf(Buffer.from("another layer"))}, got ${digestOf(tar)}`),
    );
    return true;
  });
});

test("registry layers are read ahead while the one before is read: the same inventory as without, and the same failures", async (t) => {
  if (!requireTools(t, ["tar", "docker-registry"])) return;
  const work = tempDir(t);
  const registry = await startRegistry(t);
  const client = new RegistryClient({ hosts: { [registry.host]: registry.hostOptions }, credentials: anonymous });
  t.after(() => client.close());
  const repository = client.repository(`${registry.host}/team/app`);
  const layerOf = (name: string, files: Record<string, string | Buffer>) => {
    writeTree(join(work, name), files);
    const tar = gnuTar(join(work, name), "pax", join(work, `${name}.tar`));
    return { tar, blob: gzipSync(tar) };
  };
  const base = layerOf("base", {
    "etc/os-release": OS_RELEASE,
    "var/lib/dpkg/status": "Package: ok\nStatus: install ok installed\nVersion: 1\nArchitecture: all\n",
  });
  // Several MiB that do not compress, so that the transfer takes many reads and the read-ahead fills.
  const big = () =>
    layerOf(`big-${randomBytes(4).toString("hex")}`, { "data/filler": randomBytes(6 << 20), "app/package-lock.json": LOCK });
  const python = layerOf("python", { "opt/py/six-1.16.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: six\nVersion: 1.16.0\n" });
  const middle = big();
  await pushImage(repository, "v1", [base.blob, middle.blob, python.blob], [base.tar, middle.tar, python.tar]);

  const inventoryOf = (tag: string, options: { prefetch?: boolean; readAheadBytes?: number }) =>
    generateInventory(`registry:${registry.host}/team/app:${tag}`, { client: () => client, ...options });
  const ahead = await inventoryOf("v1", {});
  assert.deepEqual(ahead.components.map((c) => c.purl).sort(), [
    "pkg:deb/debian/ok@1?arch=all&distro=debian-12",
    "pkg:npm/left-pad@1.3.0",
    "pkg:pypi/six@1.16.0",
  ]);
  assert.deepEqual(await inventoryOf("v1", { prefetch: false }), ahead);
  assert.deepEqual(await inventoryOf("v1", { readAheadBytes: 64 << 10 }), ahead); // the transfer pauses and resumes many times

  // A layer the registry no longer has (deleted after the push), and one larger than its manifest says.
  const gone = big();
  const v2 = await pushImage(repository, "v2", [base.blob, gone.blob, python.blob], [base.tar, gone.tar, python.tar]);
  await deleteBlob(registry.url, repository, v2.layers[1]!.digest);
  const lying = big();
  await pushImage(repository, "v3", [base.blob, lying.blob, python.blob], [base.tar, lying.tar, python.tar], [undefined, 1000]);
  for (const [tag, exitCode, message] of [
    ["v2", 3, new RegExp(`blob ${registry.host}/team/app@${v2.layers[1]!.digest}: .*404`)],
    ["v3", 1, /the registry announces \d+ bytes, more than the 1000 expected/],
  ] as const) {
    for (const options of [{}, { prefetch: false }]) {
      await assert.rejects(inventoryOf(tag, options), (e: Error & { exitCode?: number }) => {
        assert.equal(e.exitCode, exitCode, `${tag} ${JSON.stringify(options)}: ${e.message}`);
        assert.match(e.message, message);
        return true;
      });
    }
  }
});

test("a transfer that arrives a byte at a time still fills each read (the first holds the bytes that say how the layer is compressed)", async () => {
  const blob = gzipSync(randomBytes(6000));
  const reader = streamBlobReader(Readable.from([...blob].map((b) => Buffer.of(b))), 16);
  const into = Buffer.alloc(4096);
  assert.equal(await reader.read(into), 4096);
  assert.deepEqual([...into.subarray(0, 2)], [0x1f, 0x8b]);
  const rest = await reader.read(into);
  assert.equal(rest, blob.length - 4096);
  assert.equal(await reader.read(into), 0);
});

async function deleteBlob(url: string, repository: RegistryRepository, digest: string): Promise<void> {
  const name = repository.location.slice(repository.location.indexOf("/") + 1);
  const res = await fetch(`${url}/v2/${name}/blobs/${digest}`, { method: "DELETE" });
  assert.equal(res.status, 202, await res.text());
}
