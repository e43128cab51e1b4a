// Benchmark (issue 14 §8): the worst objects an attacker can push, read by Vigil and by git. Vigil's
// object reading must stay linear: a 40 MiB commit message (refused by the cap, and read whole with
// the cap lifted), a 40 MiB blob, a tree of 100,000 entries, and trees nested as deep as allowed.
//   node bench/git-adversarial.ts [--runs 3]
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { CatFile } from "../src/git/cat-file.ts";
import { MAX_TREE_DEPTH, TreeWalker } from "../src/git/changes.ts";
import { indexTree } from "../src/git/objects.ts";
import { writeObject } from "./lib/signed-history.ts";
import { machine, median, timeCommand } from "./lib/measure.ts";

const { values } = parseArgs({ options: { runs: { type: "string", default: "3" } } });
const runs = Number(values.runs);

const dir = mkdtempSync(join(tmpdir(), "vigil-bench-adversarial-"));
const gitDir = join(dir, ".git");
execFileSync("git", ["init", "-q", dir]);

const hex = (id: Buffer) => id.toString("hex");
const blob = writeObject(gitDir, "blob", Buffer.from("x\n"));
const person = "Mallory <m@example.com> 1700000000 +0000";
const emptyTree = writeObject(gitDir, "tree", Buffer.alloc(0));
const commitWith = (message: Buffer) =>
  hex(
    writeObject(
      gitDir,
      "commit",
      Buffer.concat([Buffer.from(`tree ${hex(emptyTree)}\nauthor ${person}\ncommitter ${person}\n\n`), message]),
    ),
  );
const treeEntry = (mode: string, name: string, id: Buffer) => Buffer.concat([Buffer.from(`${mode} ${name}\0`), id]);

console.error(`writing the objects under ${dir}…`);
const hugeCommit = commitWith(Buffer.alloc(40 << 20, "a"));
const hugeBlob = hex(writeObject(gitDir, "blob", Buffer.alloc(40 << 20, "b")));
// 100,000 files, named so that byte order is git's order.
const names = Array.from({ length: 100_000 }, (_, i) => `file-${String(i).padStart(6, "0")}`);
const wideTree = hex(writeObject(gitDir, "tree", Buffer.concat(names.map((n) => treeEntry("100644", n, blob)))));
const wideTreeChanged = hex(
  writeObject(gitDir, "tree", Buffer.concat(names.map((n, i) => treeEntry("100644", n, i === 50_000 ? emptyTree : blob)))),
);
// A chain of directories as deep as Vigil reads, with a file at every level.
let deep = writeObject(gitDir, "tree", treeEntry("100644", "f", blob));
for (let level = 0; level < MAX_TREE_DEPTH; level++)
  deep = writeObject(gitDir, "tree", Buffer.concat([treeEntry("40000", "d", deep), treeEntry("100644", "f", blob)]));
const deepTree = hex(deep);

/** Median milliseconds of `fn` over the runs, each with a fresh reader (no cache carried over). */
async function vigilMs(fn: (objects: CatFile) => Promise<unknown>, limits = {}): Promise<number> {
  const times: number[] = [];
  for (let run = 0; run < runs; run++) {
    const objects = new CatFile(gitDir, limits);
    await objects.read(hex(emptyTree)); // git is started before the clock
    const start = performance.now();
    await fn(objects);
    times.push(performance.now() - start);
    objects.close();
  }
  return median(times);
}

function gitMs(args: string[]): number {
  return median(Array.from({ length: runs }, () => timeCommand("git", ["--git-dir", gitDir, ...args]).seconds * 1000));
}

const refused = (p: Promise<unknown>) =>
  p.then(
    () => {
      throw new Error("not refused");
    },
    () => undefined,
  );
const rows: [string, number, string, number][] = [
  [
    "40 MiB commit message, refused by the cap",
    await vigilMs((o) => refused(o.read(hugeCommit))),
    "git cat-file commit",
    gitMs(["cat-file", "commit", hugeCommit]),
  ],
  [
    "40 MiB commit message, cap lifted",
    await vigilMs((o) => o.read(hugeCommit), { commitOrTagBytes: 64 << 20 }),
    "git cat-file commit",
    gitMs(["cat-file", "commit", hugeCommit]),
  ],
  ["40 MiB blob", await vigilMs((o) => o.read(hugeBlob)), "git cat-file blob", gitMs(["cat-file", "blob", hugeBlob])],
  [
    "100,000-entry tree, read and checked",
    await vigilMs(async (o) => indexTree(wideTree, (await o.read(wideTree))!.data)),
    "git cat-file tree",
    gitMs(["cat-file", "tree", wideTree]),
  ],
  [
    "100,000-entry tree, diffed from nothing",
    await vigilMs((o) => new TreeWalker(o).diff(null, wideTree)),
    "git ls-tree -r",
    gitMs(["ls-tree", "-r", wideTree]),
  ],
  [
    "100,000-entry tree, one entry changed",
    await vigilMs((o) => new TreeWalker(o).diff(wideTree, wideTreeChanged)),
    "git diff-tree -r",
    gitMs(["diff-tree", "-r", wideTree, wideTreeChanged]),
  ],
  [
    `${MAX_TREE_DEPTH} nested trees, a file at each level`,
    await vigilMs((o) => new TreeWalker(o).diff(null, deepTree)),
    "git ls-tree -r",
    gitMs(["ls-tree", "-r", deepTree]),
  ],
];

console.log(`git-adversarial: ${machine()}, median of ${runs}`);
console.log("| object | Vigil ms | git | git ms |\n|---|---:|---|---:|");
for (const [what, ms, gitWhat, gitTime] of rows) console.log(`| ${what} | ${ms.toFixed(1)} | ${gitWhat} | ${gitTime.toFixed(1)} |`);
rmSync(dir, { recursive: true, force: true });
