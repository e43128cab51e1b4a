// Hostile and broken input: every refusal names the layer and path (exit 2), content that does not
// match its digest blocks (exit 1), and bounded work whatever an attacker wrote: decompression and tar
// bombs, huge files, link loops and links out of the root, corrupt streams, malformed databases.
import assert from "node:assert/strict";
import { symlinkSync, mkdirSync, writeFileSync, readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { deflateRawSync, gzipSync, zstdCompressSync } from "node:zlib";
import * as tar from "tar-stream";
import { generateInventory } from "../src/sbom/index.ts";
import { layoutOf } from "./helpers/sbom-layers.ts";
import { writeTree } from "./helpers/sbom-targets.ts";
import { tempDir, vigil } from "./helpers/tools.ts";

type Entry = {
  name: string;
  type?: "file" | "symlink" | "link" | "directory";
  linkname?: string;
  content?: string | Buffer;
  mode?: number;
};

async function tarOf(entries: Entry[]): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const done = (async () => {
    for await (const c of pack as unknown as AsyncIterable<Buffer>) chunks.push(c);
  })();
  for (const e of entries) {
    const content = typeof e.content === "string" ? Buffer.from(e.content) : (e.content ?? Buffer.alloc(0));
    const header = {
      name: e.name,
      type: e.type ?? "file",
      mode: e.mode ?? 0o644,
      ...(e.linkname !== undefined && { linkname: e.linkname }),
    } as const;
    if (e.type === undefined || e.type === "file") pack.entry({ ...header, size: content.length }, content);
    else pack.entry(header);
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

async function imageOf(dir: string, ...layers: Entry[][]): Promise<{ target: string; diffIds: string[] }> {
  const tars = await Promise.all(layers.map(tarOf));
  return layoutOf(
    dir,
    tars.map((t) => gzipSync(t)),
    tars,
  );
}

const OS = { name: "etc/os-release", content: "ID=debian\nVERSION_ID=12\n" };
const STATUS = { name: "var/lib/dpkg/status", content: "Package: ok\nStatus: install ok installed\nVersion: 1\nArchitecture: all\n" };

test("an entry climbing out of the root (../) or absolute is refused naming the layer and the entry (exit 2)", async (t) => {
  for (const name of ["../../etc/cron.d/evil", "usr/../../etc/passwd", "/etc/shadow"]) {
    const { target, diffIds } = await imageOf(tempDir(t), [OS], [{ name, content: "x" }]);
    const r = vigil(["sbom", target]);
    assert.equal(r.status, 2, `${name}: ${r.stderr}`);
    assert.ok(
      r.stderr.includes(`layer 2 (${diffIds[1]})`) && r.stderr.includes(JSON.stringify(name)) && r.stderr.includes("outside the root"),
      r.stderr,
    );
  }
});

test("a hard link to nothing earlier, or out of the root, is refused naming the layer and path (exit 2)", async (t) => {
  for (const linkname of ["usr/bin/not-there", "../../etc/passwd"]) {
    const { target } = await imageOf(tempDir(t), [OS, { name: "app/package-lock.json", type: "link", linkname }]);
    const r = vigil(["sbom", target]);
    assert.equal(r.status, 2, r.stderr);
    assert.match(
      r.stderr,
      /layer 1 \(sha256:[0-9a-f]{64}\): hard link \/app\/package-lock\.json points (to \/usr\/bin\/not-there, which no earlier entry wrote|outside the root)/,
    );
  }
  // A hard link to a wanted file of the same layer is that file.
  const { target } = await imageOf(tempDir(t), [
    OS,
    STATUS,
    { name: "var/lib/dpkg/status.d/ok", type: "link", linkname: "var/lib/dpkg/status" },
  ]);
  const inventory = await generateInventory(target);
  assert.deepEqual(
    inventory.components.map((c) => c.locations.map((l) => l.path)),
    [["/var/lib/dpkg/status", "/var/lib/dpkg/status.d/ok"]],
  );
});

test("a symlink loop is a warning naming the link and its layer, not a hang or a crash", async (t) => {
  const { target } = await imageOf(tempDir(t), [
    { name: "etc/os-release", type: "symlink", linkname: "os-release2" },
    { name: "etc/os-release2", type: "symlink", linkname: "/etc/os-release" },
    { name: "usr/lib/os-release", type: "symlink", linkname: "../../usr/lib/os-release" },
    STATUS,
  ]);
  const r = vigil(["sbom", target, "-o", "cyclonedx-json"]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /warning: \/etc\/os-release(2)? \(layer sha256:[0-9a-f]{64}\): symlink loop/);
  assert.equal(r.json().components.length, 1);
});

test("links out of a directory target are resolved inside it: the host's files are never read", async (t) => {
  const root = tempDir(t);
  mkdirSync(join(root, "etc"));
  mkdirSync(join(root, "var", "lib", "dpkg"), { recursive: true });
  symlinkSync("/etc/os-release", join(root, "etc", "os-release"));
  symlinkSync("../../../../../../../var/lib/dpkg/status", join(root, "var", "lib", "dpkg", "status"));
  symlinkSync("/usr/lib/node_modules", join(root, "node_modules"));
  const inventory = await generateInventory(`dir:${root}`);
  assert.equal(inventory.os, undefined);
  assert.deepEqual(inventory.components, []);
});

test("corrupt, truncated or foreign layer streams are refused naming the layer (exit 2)", async (t) => {
  const good = await tarOf([OS, STATUS]);
  const gz = gzipSync(good);
  const cases: [string, Buffer, RegExp][] = [
    ["corrupt gzip", Buffer.concat([gz.subarray(0, 20), Buffer.alloc(200, 0x55)]), /corrupt gzip stream/],
    ["truncated gzip", gz.subarray(0, gz.length - 40), /layer 1 \(sha256:[0-9a-f]{64}\): (corrupt gzip stream|not a readable layer)/],
    ["corrupt zstd", Buffer.concat([zstdCompressSync(good).subarray(0, 12), Buffer.alloc(100, 0x33)]), /corrupt zstd stream/],
    ["not a tar", Buffer.from("this is not a tar archive at all ".repeat(40)), /layer 1 \(sha256:[0-9a-f]{64}\): not a readable layer/],
  ];
  for (const [what, blob, message] of cases) {
    const { target } = await layoutOf(tempDir(t), [blob], [good]);
    const r = vigil(["sbom", target]);
    assert.equal(r.status, 2, `${what}: ${r.stderr}`);
    assert.match(r.stderr, message, what);
  }
});

test("a layer blob that does not match its digest blocks (exit 1)", async (t) => {
  const dir = tempDir(t);
  const { target } = await imageOf(dir, [OS, STATUS]);
  const blobs = join(dir, "layout", "blobs", "sha256");
  const layer = readdirSync(blobs).find((f) => readFileSync(join(blobs, f))[0] === 0x1f)!;
  const bytes = readFileSync(join(blobs, layer));
  bytes[bytes.length - 5] = bytes[bytes.length - 5]! ^ 0xff;
  writeFileSync(join(blobs, layer), bytes);
  const r = vigil(["sbom", target]);
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /does not match|digest/);
});

test("decompression and tar bombs stop at the limits with the layer named; time and memory stay bounded", async (t) => {
  // 256 MiB of zeros in one file: a quarter of a MiB compressed.
  const zeros = Buffer.alloc(256 << 20);
  const bombTar = await tarOf([OS, { name: "zeros", content: zeros }]);
  const bomb = await layoutOf(tempDir(t), [gzipSync(bombTar, { level: 9 })], [bombTar]);
  await assert.rejects(
    generateInventory(bomb.target, { limits: { maxLayerBytes: 32 << 20 } }),
    (e: Error & { exitCode?: number }) =>
      e.exitCode === 2 &&
      e.message.includes(bomb.diffIds[0]!) &&
      /decompresses to more than 32\.0 MiB; refused as a decompression bomb/.test(e.message),
  );
  const many = await imageOf(
    tempDir(t),
    Array.from({ length: 500 }, (_, i) => ({ name: `f/${i}`, content: "" })),
  );
  await assert.rejects(generateInventory(many.target, { limits: { maxEntries: 100 } }), /more than 100 entries; refused as a tar bomb/);
});

test("a wanted file over the size limit is skipped with a warning naming its layer and path; the rest is read", async (t) => {
  const lock = JSON.stringify({ lockfileVersion: 3, packages: { "node_modules/a": { version: "1.0.0" } }, pad: "x".repeat(2 << 20) });
  const { target, diffIds } = await imageOf(tempDir(t), [OS, STATUS, { name: "app/package-lock.json", content: lock }]);
  const inventory = await generateInventory(target, { limits: { maxFileBytes: 1 << 20 } });
  assert.deepEqual(
    inventory.components.map((c) => c.name),
    ["ok"],
  );
  assert.deepEqual(inventory.warnings, [
    `layer 1 (${diffIds[0]}): /app/package-lock.json: 2.0 MiB, over the 1.0 MiB limit for files read; skipped`,
  ]);
});

test("malformed package databases and manifests: warnings naming layer and path, never a crash", async (t) => {
  const garbage = Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919) % 256));
  const { target, diffIds } = await imageOf(tempDir(t), [
    OS,
    { name: "var/lib/dpkg/status", content: garbage },
    { name: "lib/apk/db/installed", content: garbage },
    { name: "var/lib/rpm/rpmdb.sqlite", content: garbage },
    { name: "var/lib/rpm/Packages", content: garbage },
    { name: "app/package-lock.json", content: "{ not json" },
    { name: "app/yarn.lock", content: "__metadata:\n  version: [\n" },
    { name: "srv/Cargo.lock", content: "[[package]\nname=" },
    {
      name: "usr/local/bin/tool",
      content: Buffer.concat([
        Buffer.from("\x7fELF\x02\x01\x01", "latin1"),
        Buffer.alloc(2000),
        Buffer.from("\xff Go buildinf:", "latin1"),
        Buffer.from([8, 2]),
        Buffer.alloc(16),
        Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f]),
      ]),
      mode: 0o755,
    },
  ]);
  const inventory = await generateInventory(target);
  assert.deepEqual(inventory.components, []);
  const layer = `layer ${diffIds[0]}: `;
  for (const path of [
    "/var/lib/rpm/rpmdb.sqlite",
    "/var/lib/rpm/Packages",
    "/app/package-lock.json",
    "/app/yarn.lock",
    "/srv/Cargo.lock",
  ]) {
    assert.ok(
      inventory.warnings.some((w) => w.startsWith(`${layer}${path}: `)),
      `${path}: ${inventory.warnings.join("\n")}`,
    );
  }
});

/** A zip with one stored or deflated entry, as the JAR format is. */
function zip(entries: { name: string; data: Buffer; declaredSize?: number; deflate?: boolean }[]): Buffer {
  const locals: Buffer[] = [];
  const central: Buffer[] = [];
  let offset = 0;
  for (const e of entries) {
    const data = e.deflate ? deflateRawSync(e.data) : e.data;
    const name = Buffer.from(e.name);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(e.deflate ? 8 : 0, 8);
    local.writeUInt32LE(data.length, 18);
    local.writeUInt32LE(e.declaredSize ?? e.data.length, 22);
    local.writeUInt16LE(name.length, 26);
    const c = Buffer.alloc(46);
    c.writeUInt32LE(0x02014b50, 0);
    c.writeUInt16LE(e.deflate ? 8 : 0, 10);
    c.writeUInt32LE(data.length, 20);
    c.writeUInt32LE(e.declaredSize ?? e.data.length, 24);
    c.writeUInt16LE(name.length, 28);
    c.writeUInt32LE(offset, 42);
    locals.push(local, name, data);
    central.push(c, name);
    offset += 30 + name.length + data.length;
  }
  const cd = Buffer.concat(central);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(cd.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, cd, end]);
}

test("Java archives: a zip bomb entry and nesting past the depth limit are warnings; the rest is read", async (t) => {
  const pom = (a: string) => ({
    name: `META-INF/maven/org.example/${a}/pom.properties`,
    data: Buffer.from(`groupId=org.example\nartifactId=${a}\nversion=1.0\n`),
  });
  const bomb = {
    name: "META-INF/maven/org.example/bomb/pom.properties",
    data: Buffer.alloc(200 << 20, 0x41),
    declaredSize: 10,
    deflate: true,
  };
  let nested = zip([pom("deepest")]);
  for (let i = 0; i < 6; i++) nested = zip([pom(`level${i}`), { name: `lib/inner${i}.jar`, data: nested }]);
  const root = writeTree(tempDir(t), { "opt/app.jar": zip([pom("app"), bomb, { name: "lib/nested.jar", data: nested }]) });
  const inventory = await generateInventory(`dir:${root}`);
  const names = inventory.components.map((c) => c.name);
  assert.ok(names.includes("app") && names.includes("level5") && !names.includes("deepest"), names.join(" "));
  assert.ok(
    inventory.warnings.some((w) => w.startsWith("/opt/app.jar: /opt/app.jar:META-INF/maven/org.example/bomb/pom.properties: ")),
    inventory.warnings.join("\n"),
  );
  assert.ok(
    inventory.warnings.some((w) => /nested more than 4 deep/.test(w)),
    inventory.warnings.join("\n"),
  );
});
