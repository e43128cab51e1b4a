// The floor of the revision gate's benchmark on this machine (issue 25): the least a program can do
// for the same input and still have read it and checked every signature. A fresh Node.js process reads
// every object the gate's walk reads (each commit, and each tree a commit brings that its parent does
// not hold: found by comparing tree entry ids, as git's diff does), inflating them with the gate's own
// pack reader (index lookup, inflate, deltas), decodes each commit's SSHSIG, hashes the signed payload
// (SHA-512, as SSHSIG requires) and verifies every Ed25519 signature, on both cores: one worker thread
// verifies from the start while the main thread reads, and the main thread joins it once reading is
// done, both taking work from one shared counter, so neither core idles while there is work. Nothing
// else: no fsck checks of tree entries, no policy, no checks, no output, no git process.
//
// The gate is run alternately with it, on the same cached history, and reported as a ratio to it; Node's
// bare start-up (`node -e 0`) is measured in the same rounds, since it is part of both, and so is git's
// `rev-list --topo-order --reverse --parents` over the range: the gate judges oldest first, by the parents
// git reads, so it waits for that list before its walk; the floor, which judges nothing, walks from the tip.
//   node bench/revision-gate-floor.ts [--commits 10000] [--runs 5]
// Run it under `flock -x /tmp/vigil-bench.lock` on a shared machine. Not in `npm run bench`.
import { execFileSync, spawnSync } from "node:child_process";
import { createPublicKey, hash, verify } from "node:crypto";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { homedir, loadavg } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { isMainThread, Worker } from "node:worker_threads";

/** Per job in the shared buffer: a 4-byte length, the signed data (at most 124 bytes), the 64-byte signature. */
const MESSAGE = 128;
const SLOT = MESSAGE + 64;
/** Jobs a thread takes from the shared counter at once. */
const CHUNK = 16;
/** Header words: jobs written, jobs taken, jobs in all (-1 until reading is done). */
const [WRITTEN, TAKEN, TOTAL] = [0, 1, 2];

/**
 * Verifies jobs from the shared counter until none are left; returns how many verified. The same code
 * runs in the worker (as eval'd JavaScript, so it starts without TypeScript) and in the main thread.
 */
const verifierSource = `
function verifyShared(header, jobs, key, verify, CHUNK, SLOT, MESSAGE, WRITTEN, TAKEN, TOTAL) {
  let ok = 0;
  let done = 0;
  for (;;) {
    const from = Atomics.add(header, TAKEN, CHUNK);
    for (let i = from; i < from + CHUNK; i++) {
      for (;;) {
        const written = Atomics.load(header, WRITTEN);
        if (i < written) break;
        const total = Atomics.load(header, TOTAL);
        if (total >= 0 && i >= total) return { ok, done };
        Atomics.wait(header, WRITTEN, written, 50);
      }
      const at = i * SLOT;
      const length = jobs.readUInt32BE(at);
      const message = Buffer.from(jobs.subarray(at + 4, at + 4 + length));
      const signature = Buffer.from(jobs.subarray(at + MESSAGE, at + SLOT));
      if (verify(null, message, key, signature)) ok++;
      done++;
    }
  }
}`;

const workerSource = `
const { parentPort, workerData } = require("node:worker_threads");
const { createPublicKey, verify } = require("node:crypto");
${verifierSource}
const { shared, header: headerBuffer, x } = workerData;
const header = new Int32Array(headerBuffer);
const jobs = Buffer.from(shared);
const key = createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x }, format: "jwk" });
const r = verifyShared(header, jobs, key, verify, ${CHUNK}, ${SLOT}, ${MESSAGE}, ${WRITTEN}, ${TAKEN}, ${TOTAL});
parentPort.postMessage(r);
`;

if (!isMainThread) throw new Error("not a worker script");

const { values } = parseArgs({
  options: {
    commits: { type: "string", default: "10000" },
    runs: { type: "string", default: "5" },
    child: { type: "string" },
    head: { type: "string" },
    key: { type: "string" },
  },
});

if (values.child) {
  const result = await floor(values.child, values.head!, values.key!);
  process.stdout.write(`${JSON.stringify(result)}\n`);
} else {
  await driver();
}

/** The floor itself, in a fresh process: read and verify, both cores. */
async function floor(gitDir: string, head: string, keyBlobBase64: string) {
  const t0 = performance.now();
  const { PackFile, windowCache } = await import("../src/git/pack.ts");
  const keyBlob = Buffer.from(keyBlobBase64, "base64");
  const x = keyBlob.subarray(keyBlob.length - 32).toString("base64url");
  const key = createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x }, format: "jwk" });
  // Room for a history of up to 1,000,000 commits.
  const capacity = 1_000_000;
  const shared = new SharedArrayBuffer(capacity * SLOT);
  const headerBuffer = new SharedArrayBuffer(4 * 8);
  const header = new Int32Array(headerBuffer);
  header[TOTAL] = -1;
  const jobs = Buffer.from(shared);
  const worker = new Worker(workerSource, { eval: true, workerData: { shared, header: headerBuffer, x } });
  const workerDone = new Promise<{ ok: number; done: number }>((res, rej) => {
    worker.once("message", res);
    worker.once("error", rej);
  });

  const packDir = join(gitDir, "objects", "pack");
  const windows = windowCache();
  const packs = readdirSync(packDir)
    .filter((n) => n.endsWith(".idx"))
    .map((n, i) => new PackFile(join(packDir, n), 20, windows, i));
  const noSizeCheck = () => {};
  let objectsRead = 0;
  const read = (id: Buffer): { type: string; data: Buffer } => {
    for (const pack of packs) {
      const at = pack.find(id);
      if (at >= 0) {
        objectsRead++;
        return pack.readAt(at, noSizeCheck, () => null);
      }
    }
    throw new Error(`${id.toString("hex")} is not in a pack (the floor reads packed histories only)`);
  };

  // The trees read for the commit before (newer), which its parent's trees may be: a handful, by id.
  let held: { id: Buffer; data: Buffer }[] = [];
  let next: { id: Buffer; data: Buffer }[] = [];
  const tree = (id: Buffer): Buffer => {
    const known = held.find((t) => t.id.equals(id)) ?? next.find((t) => t.id.equals(id));
    const data = known ? known.data : read(id).data;
    next.push({ id, data });
    return data;
  };
  /** Reads every tree under `newer` that `older` does not hold (null: all of them), by entry ids. */
  const newTrees = (newer: Buffer, older: Buffer | null): void => {
    if (older?.equals(newer)) return;
    const a = tree(newer);
    const b = older ? tree(older) : null;
    for (let at = 0; at < a.length; ) {
      const nul = nameEnd(a, at);
      if (a[at] === 0x34) newTrees(a.subarray(nul + 1, nul + 21), b ? dirNamed(b, a, at + 6, nul) : null);
      at = nul + 21;
    }
  };

  const prefix = Buffer.concat([Buffer.from("SSHSIG"), u32(3), Buffer.from("git"), u32(0), u32(6), Buffer.from("sha512")]);
  let id: Buffer | null = Buffer.from(head, "hex");
  let childTree: Buffer | null = null;
  let n = 0;
  while (id) {
    const commit = read(id);
    if (commit.type !== "commit") throw new Error(`${id.toString("hex")} is a ${commit.type}`);
    // The commit's id is what is signed over and recorded: checked, as the gate checks it.
    const actual = hash("sha1", Buffer.concat([Buffer.from(`commit ${commit.data.length}\0`), commit.data]), "buffer");
    if (!actual.equals(id)) throw new Error(`${id.toString("hex")} does not hash to its id`);
    const data = commit.data;
    const rootTree = Buffer.from(data.toString("latin1", 5, 45), "hex");
    const parent = data.toString("latin1", 46, 52) === "parent" ? Buffer.from(data.toString("latin1", 53, 93), "hex") : null;
    // The signature header and what it covers (the object without it).
    const sigAt = data.indexOf("\ngpgsig ") + 1;
    if (sigAt === 0) throw new Error(`${id.toString("hex")} is not signed`);
    let end = data.indexOf(10, sigAt);
    while (data[end + 1] === 32) end = data.indexOf(10, end + 1);
    const payload = Buffer.concat([data.subarray(0, sigAt), data.subarray(end + 1)]);
    const armored = data.toString("latin1", sigAt + 7, end).replaceAll("\n ", "\n");
    const blob = Buffer.from(armored.slice(armored.indexOf("\n") + 1, armored.lastIndexOf("\n-----END")), "base64");
    // SSHSIG: magic, version, public key, namespace, reserved, hash, signature (algorithm, bytes).
    let at = 10;
    const field = () => {
      const length = blob.readUInt32BE(at);
      const value = blob.subarray(at + 4, at + 4 + length);
      at += 4 + length;
      return value;
    };
    const signer = field();
    field();
    field();
    field();
    const signature = field().subarray(4 + 11 + 4);
    if (!signer.equals(keyBlob)) throw new Error(`${id.toString("hex")} is signed by another key`);
    const message = Buffer.concat([prefix, u32(64), hash("sha512", payload, "buffer")]);
    const slot = n * SLOT;
    jobs.writeUInt32BE(message.length, slot);
    message.copy(jobs, slot + 4);
    signature.copy(jobs, slot + MESSAGE);
    n++;
    if (n % CHUNK === 0) {
      Atomics.store(header, WRITTEN, n);
      Atomics.notify(header, WRITTEN);
    }
    // The trees this commit's child brought that this commit does not hold.
    if (childTree) newTrees(childTree, rootTree);
    held = next;
    next = [];
    childTree = rootTree;
    id = parent;
  }
  if (childTree) newTrees(childTree, null);
  const readMs = performance.now() - t0;
  Atomics.store(header, WRITTEN, n);
  Atomics.store(header, TOTAL, n);
  Atomics.notify(header, WRITTEN);
  const verifyShared = new Function(`${verifierSource}; return verifyShared;`)() as (...args: unknown[]) => { ok: number; done: number };
  const mine = verifyShared(header, jobs, key, verify, CHUNK, SLOT, MESSAGE, WRITTEN, TAKEN, TOTAL);
  const theirs = await workerDone;
  await worker.terminate();
  if (mine.ok + theirs.ok !== n || mine.done + theirs.done !== n) throw new Error(`${mine.ok + theirs.ok} of ${n} signatures verified`);
  return {
    commits: n,
    objectsRead,
    readMs,
    wallMs: performance.now() - t0,
    verifiedByMain: mine.done,
    verifiedByWorker: theirs.done,
  };
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}

/** Where the name of the tree entry at `at` ends (its NUL). The floor checks nothing git's fsck would. */
function nameEnd(tree: Buffer, at: number): number {
  let i = at + 6;
  while (tree[i] !== 0) i++;
  return i;
}

/** The id of the directory named as `name` (bytes from..to) in `tree`, or null. */
function dirNamed(tree: Buffer, name: Buffer, from: number, to: number): Buffer | null {
  for (let at = 0; at < tree.length; ) {
    const nul = nameEnd(tree, at);
    if (tree[at] === 0x34 && nul - at - 6 === to - from && tree.compare(name, from, to, at + 6, nul) === 0)
      return tree.subarray(nul + 1, nul + 21);
    at = nul + 21;
  }
  return null;
}

interface Run {
  wall: number;
  cpu: number;
  floor?: { readMs: number; wallMs: number; verifiedByMain: number; verifiedByWorker: number; objectsRead: number };
}

async function driver(): Promise<void> {
  const { signedHistory } = await import("./lib/signed-history.ts");
  const { median } = await import("./lib/measure.ts");
  const root = resolve(import.meta.dirname, "..");
  const history = signedHistory(join(root, ".cache", "bench"), Number(values.commits));
  const trust = join(history.dir, "..", `trust-${history.commits}.yaml`);
  if (!existsSync(trust)) throw new Error(`${trust} is missing: run bench/revision-gate.ts once to write it`);
  const gitDir = join(history.dir, ".git");
  const head = execFileSync("git", ["--git-dir", gitDir, "rev-parse", "HEAD"], { encoding: "utf8" }).trim();
  const keyBlob = readFileSync(history.publicKey, "utf8").split(" ")[1]!;
  // Both use the CLI's compile cache (main.ts turns it on for the gate; the floor is given it).
  const compileCache = join(process.env.XDG_CACHE_HOME || join(homedir(), ".cache"), "vigil", "compile-cache");
  const timedRun = (args: string[], env: NodeJS.ProcessEnv = process.env, command = process.execPath): Run & { stdout: string } => {
    const r = spawnSync("/usr/bin/time", ["-f", "%U %S %e", command, ...args], { encoding: "utf8", maxBuffer: 1 << 30, env });
    if (r.status !== 0) throw new Error(`${args.join(" ")} exited ${r.status}: ${r.stderr.slice(-800)}`);
    const [user, sys, wall] = r.stderr.trim().split("\n").at(-1)!.split(" ").map(Number);
    return { cpu: user! + sys!, wall: wall!, stdout: r.stdout };
  };
  const floorRun = (): Run => {
    const r = timedRun([import.meta.filename, "--child", gitDir, "--head", head, "--key", keyBlob], {
      ...process.env,
      NODE_COMPILE_CACHE: compileCache,
    });
    return { ...r, floor: JSON.parse(r.stdout) };
  };
  const gateRun = (): Run =>
    timedRun([join(root, "src", "cli", "main.ts"), "verify", "commits", "--repo", history.dir, "--trust", trust, "--json"]);
  const startRun = (): Run => timedRun(["-e", "0"]);
  // What the gate learns from git before it can judge its first (oldest) commit: the range in git's order,
  // with the parents git reads (grafts, shallow boundaries and replace refs as git applies them).
  const orderRun = (): Run =>
    timedRun(["--git-dir", gitDir, "rev-list", "--topo-order", "--reverse", "--parents", head, "--"], undefined, "git");
  // Warm the caches (compile caches, page cache) once, unmeasured.
  floorRun();
  gateRun();
  const runs = { floor: [] as Run[], gate: [] as Run[], start: [] as Run[], order: [] as Run[] };
  const loads: number[] = [];
  for (let i = 0; i < Number(values.runs); i++) {
    runs.floor.push(floorRun());
    runs.gate.push(gateRun());
    runs.start.push(startRun());
    runs.order.push(orderRun());
    loads.push(loadavg()[0]!);
    console.error(
      `run ${i + 1}: floor ${runs.floor.at(-1)!.wall.toFixed(2)} s, gate ${runs.gate.at(-1)!.wall.toFixed(2)} s (load ${loads.at(-1)!.toFixed(1)})`,
    );
  }
  const m = (rs: Run[], f: (r: Run) => number) => median(rs.map(f));
  const least = (rs: Run[], f: (r: Run) => number) => Math.min(...rs.map(f));
  const f = (x: number) => x.toFixed(2);
  const row = (label: string, rs: Run[]) =>
    `| ${label} | ${f(m(rs, (r) => r.wall))} s | ${f(least(rs, (r) => r.wall))} s | ${f(m(rs, (r) => r.cpu))} s | ${f(least(rs, (r) => r.cpu))} s |`;
  const fl = runs.floor.map((r) => r.floor!);
  console.log(`${history.commits} commits, ${fl[0]!.objectsRead} objects read by the floor; ${values.runs} rounds, load average (1 min) ${f(Math.min(...loads))}–${f(Math.max(...loads))}

| program | wall, median | wall, least | CPU, median | CPU, least |
|---|---|---|---|---|
${row("node -e 0 (start-up)", runs.start)}
${row("git rev-list --topo-order --reverse --parents (the gate's order)", runs.order)}
${row("floor: read + verify on both cores", runs.floor)}
${row("vigil verify commits --json", runs.gate)}

floor, inside the process (median): reading done at ${f(median(fl.map((r) => r.readMs)) / 1000)} s, all verified at ${f(median(fl.map((r) => r.wallMs)) / 1000)} s; main thread verified ${median(fl.map((r) => r.verifiedByMain))}, worker ${median(fl.map((r) => r.verifiedByWorker))}
**gate / floor**: ${f(m(runs.gate, (r) => r.wall) / m(runs.floor, (r) => r.wall))}x by wall (median), ${f(least(runs.gate, (r) => r.wall) / least(runs.floor, (r) => r.wall))}x (least); ${f(m(runs.gate, (r) => r.cpu) / m(runs.floor, (r) => r.cpu))}x by CPU (median); floor + git's order ${f(m(runs.floor, (r) => r.wall) + m(runs.order, (r) => r.wall))} s (the least a gate that judges oldest first waits before its walk, plus the floor)`);
}
