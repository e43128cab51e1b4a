// The in-process object store against git's own cat-file: every object of repositories in every shape git
// stores them (loose, packed with OFS_DELTA or REF_DELTA, several packs at once, SHA-1 and SHA-256) and of
// this repository's own history reads back byte for byte as git reads it; damaged, tampered and hostile
// objects and packs are refused naming what is wrong, within bounded memory.
import { strict as assert } from "node:assert";
import { createHash, randomBytes } from "node:crypto";
import { spawnSync } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { test } from "node:test";
import { deflateSync } from "node:zlib";
import { adler32, inflateExactly } from "../src/git/inflate.ts";
import { ObjectStore } from "../src/git/object-store.ts";
import { ObjectFormatError } from "../src/git/objects.ts";
import { TestRepo, SshSigner, soleOwnerPolicy } from "./helpers/git-fixture.ts";
import { compareEveryObject } from "./helpers/object-compare.ts";
import { requireTools, tempDir, vigil } from "./helpers/tools.ts";

/** A history with the objects a configuration repository holds: edits, a growing file (deltas), binaries, an empty file, a tag, a merge. */
function varied(repo: TestRepo, rounds: number, label: string): void {
  for (let i = 0; i < rounds; i++) {
    const big = Array.from({ length: 2000 + i * 50 }, (_, k) => `line ${k} of a manifest that grows ${k % 7 === 0 ? i : ""}`).join("\n");
    repo.commit(
      {
        [`envs/staging/app-${i % 5}.yaml`]: `replicas: ${i}\n`,
        "envs/prod/big.yaml": big,
        [`bin/blob-${i % 3}`]: createHash("sha512").update(String(i)).digest("binary").repeat(40),
        empty: "",
      },
      null,
      `OPS-${i}: round ${i}`,
    );
  }
  repo.git("tag", "-a", "-m", "release", `v-${label}`);
  repo.git("checkout", "-q", "-b", `side-${label}`, "HEAD~2");
  repo.commit({ [`side-${label}.txt`]: "side\n" }, null, "OPS-1: side");
  repo.git("checkout", "-q", "main");
  repo.git("merge", "-q", "--no-ff", "--no-edit", `side-${label}`);
}

for (const objectFormat of ["sha1", "sha256"] as const) {
  test(`every object reads as git reads it (${objectFormat}): loose, packed with OFS and REF deltas, several packs at once`, async (t) => {
    if (!requireTools(t, ["git"])) return;
    const repo = new TestRepo(tempDir(t), objectFormat);
    const gitDir = join(repo.dir, ".git");
    varied(repo, 12, "a");
    assert.ok((await compareEveryObject(gitDir)) > 50, "loose objects");
    repo.git("repack", "-adf", "--depth=50", "--window=50");
    assert.match(repo.git("verify-pack", "-v", ...packIndexes(repo)), /chain length = [2-9]/, "the pack holds delta chains");
    await compareEveryObject(gitDir);
    repo.git("-c", "repack.useDeltaBaseOffset=false", "repack", "-adf", "--depth=50", "--window=50");
    await compareEveryObject(gitDir);
    varied(repo, 4, "b");
    repo.git("repack", "-d");
    varied(repo, 2, "c");
    assert.equal(packIndexes(repo).length, 2, "two packs");
    assert.ok((await compareEveryObject(gitDir)) > 100, "two packs and loose objects");
  });
}

function packIndexes(repo: TestRepo): string[] {
  const dir = join(repo.dir, ".git", "objects", "pack");
  return readdirSync(dir)
    .filter((n) => n.endsWith(".idx"))
    .map((n) => join(dir, n));
}

test("this repository's own history: every object reads as git reads it", async (t) => {
  if (!requireTools(t, ["git"])) return;
  const gitDir = spawnSync("git", ["-C", resolve(import.meta.dirname, ".."), "rev-parse", "--absolute-git-dir"], {
    encoding: "utf8",
  }).stdout.trim();
  assert.ok((await compareEveryObject(gitDir)) > 1000);
});

test("objects are read as stored: a replace ref does not swap one commit for another", async (t) => {
  if (!requireTools(t, ["git"])) return;
  const repo = new TestRepo(tempDir(t));
  const first = repo.commit({ a: "1" }, null);
  const second = repo.commit({ a: "2" }, null);
  repo.git("replace", first, second);
  const store = new ObjectStore(join(repo.dir, ".git"));
  t.after(() => store.close());
  const read = await store.read(first);
  assert.equal(read!.data.toString(), repo.git("--no-replace-objects", "cat-file", "commit", first) + "\n");
  assert.notEqual(read!.data.toString(), repo.git("cat-file", "commit", second) + "\n");
});

test("what the store does not read itself goes to git: abbreviated ids, <rev>:<path>, and missing objects are null", async (t) => {
  if (!requireTools(t, ["git"])) return;
  const repo = new TestRepo(tempDir(t));
  const commit = repo.commit({ "dir/a": "hello\n" }, null);
  const store = new ObjectStore(join(repo.dir, ".git"));
  t.after(() => store.close());
  assert.equal((await store.read(commit.slice(0, 12)))!.id, commit);
  assert.equal((await store.read(`${commit}:dir/a`))!.data.toString(), "hello\n");
  assert.equal(await store.read("0".repeat(40)), null);
});

// --- damaged and hostile objects ---------------------------------------------------------------------

function refused(pattern: RegExp) {
  return (e: unknown) => e instanceof ObjectFormatError && pattern.test(e.message);
}

function writeLoose(gitDir: string, id: string, file: Buffer): void {
  mkdirSync(join(gitDir, "objects", id.slice(0, 2)), { recursive: true });
  writeFileSync(join(gitDir, "objects", id.slice(0, 2), id.slice(2)), file);
}

test("loose objects: a commit stored under another id, a decompression bomb, a commit over its cap, a bad header, not zlib", async (t) => {
  if (!requireTools(t, ["git"])) return;
  const repo = new TestRepo(tempDir(t));
  const gitDir = join(repo.dir, ".git");
  const a = repo.commit({ a: "1" }, null);
  const b = repo.commit({ a: "2" }, null);
  const store = new ObjectStore(gitDir);
  t.after(() => store.close());

  // b's file swapped in under a's id: the bytes do not hash to the id.
  writeLoose(gitDir, a, readFileSync(join(gitDir, "objects", b.slice(0, 2), b.slice(2))));
  await assert.rejects(
    store.read(a),
    refused(new RegExp(`object ${a} holds a commit whose sha1 is ${b}: the repository is damaged or was tampered with`)),
  );

  // 10 bytes declared, 64 MiB of zeros compressed: inflating stops at the declared size.
  const bomb = "1".repeat(40);
  writeLoose(gitDir, bomb, deflateSync(Buffer.concat([Buffer.from("blob 10\0"), Buffer.alloc(64 << 20)])));
  await assert.rejects(
    store.read(bomb),
    refused(/loose object 1{40} cannot be read: it does not inflate to the 10 bytes its header declares/),
  );

  // A commit that declares 3 MiB is refused from its header, before the rest is inflated.
  const huge = "2".repeat(40);
  writeLoose(gitDir, huge, deflateSync(Buffer.concat([Buffer.from(`commit ${3 << 20}\0`), Buffer.alloc(3 << 20, 0x61)])));
  await assert.rejects(store.read(huge), refused(/commit 2{40} is 3145728 bytes, more than the 2097152 bytes Vigil reads for a commit/));

  const header = "3".repeat(40);
  writeLoose(gitDir, header, deflateSync(Buffer.from("commit 012\0abc")));
  await assert.rejects(store.read(header), refused(/its header is not "<type> <size>"/));
  const notZlib = "4".repeat(40);
  writeLoose(gitDir, notZlib, Buffer.from("plain text, not zlib"));
  await assert.rejects(store.read(notZlib), refused(/it is not zlib data/));
});

test("the revision gate fails a commit stored under another commit's id, naming it (exit 1)", async (t) => {
  if (!requireTools(t, ["git", "ssh-keygen"])) return;
  const dir = tempDir(t);
  const alice = new SshSigner(tempDir(t), "alice");
  const repo = new TestRepo(join(dir, "repo"));
  const gitDir = join(repo.dir, ".git");
  repo.commit({ "envs/staging/a.yaml": "a: 1\n" }, alice);
  const a = repo.commit({ "envs/staging/a.yaml": "a: 2\n" }, alice);
  const b = repo.commit({ "envs/staging/a.yaml": "a: 3\n" }, alice);
  const policy = soleOwnerPolicy(join(dir, "trust.yaml"), alice, "staging");
  assert.equal(vigil(["verify", "commits", "--repo", repo.dir, "--trust", policy]).status, 0);
  writeLoose(gitDir, a, readFileSync(join(gitDir, "objects", b.slice(0, 2), b.slice(2))));
  const r = vigil(["verify", "commits", "--repo", repo.dir, "--trust", policy, "--json"]);
  assert.equal(r.status, 1, r.stderr);
  // Whichever commit reads it first (b, whose parent it is) fails, naming the tampered object.
  const failed = r
    .json()
    .checks.find((c: { rule: string; message: string }) => c.rule === "commit-format" && c.message.includes(`object ${a} holds a commit`));
  assert.ok(failed, r.stdout);
  assert.match(failed.message, /damaged or was tampered with/);
});

/** A pack entry: its header (type, size), an OFS distance or REF base id, and the deflated data. */
function entry(type: number, size: number, data: Buffer, prefix = Buffer.alloc(0), deflated = deflateSync(data)): Buffer {
  const header = [(size > 15 ? 0x80 : 0) | (type << 4) | (size & 15)];
  for (let rest = Math.floor(size / 16); rest > 0; rest = Math.floor(rest / 128)) header.push((rest >= 128 ? 0x80 : 0) | (rest & 127));
  return Buffer.concat([Buffer.from(header), prefix, deflated]);
}

/** A delta: base size, result size, then instructions. */
function delta(baseSize: number, resultSize: number, ...instructions: number[][]): Buffer {
  const varint = (n: number) => {
    const out = [];
    do {
      out.push((n >= 128 ? 0x80 : 0) | (n & 127));
      n = Math.floor(n / 128);
    } while (n > 0);
    return out;
  };
  return Buffer.from([...varint(baseSize), ...varint(resultSize), ...instructions.flat()]);
}

/** Writes a pack and its v2 index (ids as given, in any order) into the repository; returns the offsets. */
function writePack(gitDir: string, entries: { id: string; bytes: (offset: number) => Buffer }[]): void {
  let offset = 12;
  const placed = entries.map((e) => {
    const bytes = e.bytes(offset);
    const at = offset;
    offset += bytes.length;
    return { id: Buffer.from(e.id, "hex"), at, bytes };
  });
  const header = Buffer.alloc(12);
  header.write("PACK", 0, "latin1");
  header.writeUInt32BE(2, 4);
  header.writeUInt32BE(entries.length, 8);
  const body = Buffer.concat([header, ...placed.map((p) => p.bytes)]);
  const pack = Buffer.concat([body, createHash("sha1").update(body).digest()]);
  const sorted = [...placed].sort((x, y) => Buffer.compare(x.id, y.id));
  const fanout = Buffer.alloc(1024);
  for (let b = 0; b < 256; b++) fanout.writeUInt32BE(sorted.filter((p) => p.id[0]! <= b).length, b * 4);
  const offsets = Buffer.alloc(4 * sorted.length);
  sorted.forEach((p, i) => offsets.writeUInt32BE(p.at, i * 4));
  const idxBody = Buffer.concat([
    Buffer.from([0xff, 0x74, 0x4f, 0x63, 0, 0, 0, 2]),
    fanout,
    ...sorted.map((p) => p.id),
    Buffer.alloc(4 * sorted.length),
    offsets,
    pack.subarray(-20),
  ]);
  const name = createHash("sha1").update(pack).digest("hex");
  mkdirSync(join(gitDir, "objects", "pack"), { recursive: true });
  writeFileSync(join(gitDir, "objects", "pack", `pack-${name}.pack`), pack);
  writeFileSync(join(gitDir, "objects", "pack", `pack-${name}.idx`), Buffer.concat([idxBody, createHash("sha1").update(idxBody).digest()]));
}

test("hostile packs: delta cycles, reserved instructions, copies outside the base, bombs, bases outside the pack, results over the cap", async (t) => {
  if (!requireTools(t, ["git"])) return;
  const repo = new TestRepo(tempDir(t));
  const gitDir = join(repo.dir, ".git");
  const commitText = Buffer.from(repo.catCommit(repo.commit({ a: "1" }, null)));
  const baseId = "a0".repeat(20);
  const id = (n: number) => n.toString(16).padStart(2, "0").repeat(20);
  const ofs = (from: number, to: number) => {
    // git's OFS varint of the distance back.
    let distance = from - to;
    const bytes = [distance & 127];
    while ((distance >>= 7)) bytes.unshift(0x80 | (--distance & 127));
    return Buffer.from(bytes);
  };
  let baseAt = 0;
  writePack(gitDir, [
    { id: baseId, bytes: (at) => ((baseAt = at), entry(1, commitText.length, commitText)) },
    // Reserved instruction 0.
    {
      id: id(1),
      bytes: (at) => {
        const d = delta(commitText.length, 4, [0]);
        return entry(6, d.length, d, ofs(at, baseAt));
      },
    },
    // Copies 100 bytes from offset 10,000 of a base that is smaller.
    {
      id: id(2),
      bytes: (at) => {
        const d = delta(commitText.length, 100, [0x93, 0x10, 0x27, 100]);
        return entry(6, d.length, d, ofs(at, baseAt));
      },
    },
    // Builds 3 MiB of commit: over the cap, refused before the result is allocated.
    {
      id: id(3),
      bytes: (at) => {
        const d = delta(commitText.length, 3 << 20, [0x90, 0]);
        return entry(6, d.length, d, ofs(at, baseAt));
      },
    },
    // Two REF_DELTAs, each the other's base.
    {
      id: id(4),
      bytes: () => {
        const d = delta(5, 5, [5, 1, 2, 3, 4, 5]);
        return entry(7, d.length, d, Buffer.from(id(5), "hex"));
      },
    },
    {
      id: id(5),
      bytes: () => {
        const d = delta(5, 5, [5, 1, 2, 3, 4, 5]);
        return entry(7, d.length, d, Buffer.from(id(4), "hex"));
      },
    },
    // An OFS distance reaching before the pack's first entry.
    {
      id: id(6),
      bytes: (at) => {
        const d = delta(1, 1, [1, 0x41]);
        return entry(6, d.length, d, ofs(at, 2));
      },
    },
    // A blob that declares 10 bytes and inflates to 32 MiB.
    { id: id(7), bytes: () => entry(3, 10, Buffer.alloc(0), deflateSync(Buffer.alloc(32 << 20))) },
    // A REF_DELTA whose base is nowhere.
    {
      id: id(8),
      bytes: () => {
        const d = delta(1, 1, [1, 0x41]);
        return entry(7, d.length, d, Buffer.from(id(9), "hex"));
      },
    },
    // Entry type 5 is reserved.
    { id: id(10), bytes: () => entry(5, 1, Buffer.from("x")) },
  ]);
  const store = new ObjectStore(gitDir);
  t.after(() => store.close());
  await assert.rejects(store.read(id(1)), refused(/cannot be read: it holds the reserved delta instruction 0/));
  await assert.rejects(store.read(id(2)), refused(/a copy instruction reaches outside its base or result/));
  await assert.rejects(
    store.read(id(3)),
    refused(new RegExp(`commit ${id(3)} is 3145728 bytes, more than the 2097152 bytes Vigil reads for a commit`)),
  );
  await assert.rejects(store.read(id(4)), refused(/its delta chain is longer than 4096/));
  await assert.rejects(store.read(id(6)), refused(/its base offset points outside the pack/));
  await assert.rejects(store.read(id(7)), refused(/its data does not inflate to its size/));
  await assert.rejects(store.read(id(8)), refused(new RegExp(`its delta base ${id(9)} is not in the repository`)));
  await assert.rejects(store.read(id(10)), refused(/entry type 5 is not a git object type/));
  // The base itself is a commit stored under an id it does not hash to.
  await assert.rejects(store.read(baseId), refused(/damaged or was tampered with/));
});

test("inflating to the declared size: small streams (JavaScript, Adler-32 checked) and large ones (node:zlib) alike", () => {
  const corrupt = () => new Error("corrupt");
  for (const content of [Buffer.alloc(0), Buffer.from("tree 0\0"), Buffer.alloc(1500, 7), randomBytes(5000), Buffer.alloc(100_000, 1)]) {
    const stream = deflateSync(content);
    assert.ok(inflateExactly(stream, 0, content.length, corrupt).equals(content));
    assert.equal(adler32(content), stream.readUInt32BE(stream.length - 4));
    // Declared one byte short or one byte long, or a damaged trailer: refused.
    assert.throws(() => inflateExactly(stream, 0, content.length + 1, corrupt), /corrupt/);
    if (content.length > 0) assert.throws(() => inflateExactly(stream, 0, content.length - 1, corrupt), /corrupt/);
    const damaged = Buffer.from(stream);
    damaged[damaged.length - 1]! ^= 1;
    assert.throws(() => inflateExactly(damaged, 0, content.length, corrupt), /corrupt/);
  }
  // A small stream that expands ~1000-fold is decoded within its bound and refused for its size.
  assert.throws(() => inflateExactly(deflateSync(Buffer.alloc(1 << 20)), 0, 10, corrupt), /corrupt/);
});
