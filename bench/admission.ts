// Benchmark (issue 21): the admission webhook's latency at a fixed 500 AdmissionReviews per second over
// loopback TLS, p50 and p99, against the floor in the same run: a webhook that admits everything without
// looking (reads the review, answers allowed), behind the same TLS. `vigil admission` runs as deployed
// (the CLI, its own process, its certificate issued into a real kube-apiserver's Secret) over an
// inventory of 1,000 workloads. The load is vegeta (pinned in scripts/setup.ts), a Go program that keeps
// a constant rate at little CPU and measures each response itself (its own percentiles); on a machine
// with two cores or more and a quiet machine (load average under the number of cores) it runs on the last
// core, with the benchmark's kube-apiserver and etcd, and the servers on the others (taskset), so neither
// the measurement nor the control plane is what the servers wait for; on
// a loaded machine pinning would queue the servers behind others' work on their core, so it is not done
// unless --pin is given. Each scenario's CPU time is reported: the server's (from
// /proc, per request) and vegeta's. Scenarios: Pods whose images are verified (admitted: the common
// case), and Pods whose images are not (refused: each one reads the inventory again before refusing, as
// an attacker's flood would).
//   node bench/admission.ts [--rate 500] [--seconds 3] [--rounds 8] [--workloads 1000] [--pin | --no-pin]
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { createServer } from "node:https";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { Agent, request } from "undici";
import { issueCa, issueServing } from "../src/admission/certificates.ts";
import { openInventory } from "../src/monitor/inventory.ts";
import { createNamespace } from "../test/helpers/agent.ts";
import { SshSigner, writePolicy } from "../test/helpers/git-fixture.ts";
import { startKubeApiServer } from "../test/helpers/kube.ts";
import { freePort } from "../test/helpers/registry.ts";
import { tempDir } from "../test/helpers/tools.ts";
import { connectCluster } from "../src/cluster/index.ts";
import { goBin } from "../scripts/setup.ts";
import { machine, median } from "./lib/measure.ts";

const VEGETA = join(goBin, "vegeta");
/** /proc's CPU times are in clock ticks. */
const CLOCK_TICKS = Number(spawnSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).stdout.trim()) || 100;

const { values } = parseArgs({
  options: {
    rate: { type: "string", default: "500" },
    seconds: { type: "string", default: "3" },
    rounds: { type: "string", default: "8" },
    workloads: { type: "string", default: "1000" },
    floor: { type: "string" },
    pin: { type: "boolean" },
    "no-pin": { type: "boolean" },
  },
});

if (values.floor) serveFloor(Number(values.floor));
else await main();

/** The floor: TLS, read the body, answer allowed with the review's uid. Nothing judged. */
async function serveFloor(port: number): Promise<void> {
  const ca = await issueCa("floor", 3600_000);
  const leaf = await issueServing(ca, { dns: [], ips: ["127.0.0.1"] }, 3600_000);
  createServer({ cert: leaf.certPem, key: leaf.keyPem }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      const uid = JSON.parse(Buffer.concat(chunks).toString()).request.uid;
      res
        .writeHead(200, { "content-type": "application/json" })
        .end(JSON.stringify({ apiVersion: "admission.k8s.io/v1", kind: "AdmissionReview", response: { uid, allowed: true } }));
    });
  }).listen(port, "127.0.0.1", () => console.error("listening on"));
}

async function main(): Promise<void> {
  const RATE = Number(values.rate);
  const SECONDS = Number(values.seconds);
  const ROUNDS = Number(values.rounds);
  const WORKLOADS = Number(values.workloads);
  const cleanups: (() => unknown)[] = [];
  const scope = { after: (fn: () => unknown) => void cleanups.push(fn) };
  try {
    if (!existsSync(VEGETA)) throw new Error(`${VEGETA} is missing: run "node scripts/setup.ts" (it builds vegeta v12.13.0)`);
    const pin = cpuPinning(values.pin ? "pin" : values["no-pin"] ? "no-pin" : "auto");
    console.log(
      `machine: ${machine()}; load average ${loadavg()
        .map((l) => l.toFixed(2))
        .join(" ")} at start`,
    );
    console.log(pin.note);
    const dir = tempDir(scope, "vigil-bench-admission-");
    const kube = await startKubeApiServer(scope);
    // Its only children so far are etcd and kube-apiserver: off the servers' core, whose tail they would
    // otherwise share (a deployed webhook replica does not run beside the control plane on its core).
    pin.background(childPids());
    const admin = await connectCluster({ kubeconfig: kube.admin.kubeconfigPath });
    scope.after(() => admin.close());
    await createNamespace(admin, "vigil-system");

    // The inventory: WORKLOADS Deployments of 2 images each, as the agent records them.
    const inventoryDir = join(dir, "inventory");
    const inventory = await openInventory(inventoryDir);
    const digest = (n: number) => `sha256:${n.toString(16).padStart(64, "0")}`;
    const images = Array.from({ length: WORKLOADS * 2 }, (_, i) => ({
      image: `registry.example.com/team/app-${i}:1.${i}@${digest(i + 1)}`,
      digest: digest(i + 1),
    }));
    await inventory.replaceEnvironment(
      "prod",
      Array.from({ length: WORKLOADS }, (_, i) => ({
        environment: "prod",
        workload: `Deployment shop/app-${i}`,
        images: images.slice(2 * i, 2 * i + 2),
        revision: "0".repeat(40),
        verdict: "pass" as const,
        deployedAt: new Date().toISOString(),
      })),
    );
    await inventory.close();
    const alice = new SshSigner(dir, "alice");
    const trust = writePolicy(join(dir, "trust.yaml"), {
      signers: [alice.policyEntry],
      admins: { members: ["alice"], threshold: 1 },
      paths: [{ pattern: "**", owners: ["alice"] }],
      environments: [{ name: "prod", branch: "main", path: "envs/prod" }],
    });
    const port = await freePort();
    const config = join(dir, "admission.yaml");
    writeFileSync(
      config,
      `apiVersion: vigil.dev/v1alpha1
kind: AdmissionConfig
inventory: ${inventoryDir}
trustPolicy: ${trust}
listen: 127.0.0.1:${port}
cluster: { kubeconfig: ${kube.admin.kubeconfigPath} }
webhook: { url: "https://127.0.0.1:${port}" }
environments:
  - { name: prod, namespaces: [shop] }
`,
    );
    const vigil = await startProcess(...pin.servers(join(import.meta.dirname, "..", "bin", "vigil"), ["admission", "--config", config]));
    scope.after(() => stopProcess(vigil));
    const floorPort = await freePort();
    const floor = await startProcess(...pin.servers(process.execPath, [import.meta.filename, "--floor", String(floorPort)]));
    scope.after(() => stopProcess(floor));

    const verified = Array.from({ length: 100 }, (_, i) => review(i, images[(i * 37) % images.length]!.image));
    const unverified = Array.from({ length: 100 }, (_, i) => review(i, `registry.example.com/team/other-${i}@${digest(10_000_000 + i)}`));
    console.log(
      `${WORKLOADS} workloads (${images.length} images) in the inventory; ${RATE} reviews/s, ${ROUNDS} rounds of ${SECONDS} s per scenario, interleaved (the machine's other load falls on each alike), after a 3 s warm-up each`,
    );
    const scenario = (name: string, port: number, server: ChildProcess, bodies: string[]) => ({
      name,
      server,
      targets: targetsFile(dir, name, port, bodies),
      results: [] as string[],
      serverCpuMs: 0,
      vegetaCpuMs: 0,
    });
    const scenarios = [
      scenario("floor (admits without looking)", floorPort, floor, verified),
      scenario("vigil admission, verified images", port, vigil, verified),
      scenario("vigil admission, unverified images", port, vigil, unverified),
    ];
    for (const s of scenarios) attack(pin, s.targets, RATE, 3, join(dir, "warm-up.bin"));
    for (let round = 0; round < ROUNDS; round++) {
      for (const s of scenarios) {
        const out = `${s.targets}-${round}.bin`;
        const before = processCpuMs(s.server.pid!);
        s.vegetaCpuMs += attack(pin, s.targets, RATE, SECONDS, out);
        s.serverCpuMs += processCpuMs(s.server.pid!) - before;
        s.results.push(out);
      }
    }
    // Over all rounds, and the median of each round's own p99: one stall of the loaded machine (a process
    // descheduled for a second) lands in one round and moves the pooled p99 of whichever scenario it hit.
    const rows = scenarios.map((s) => [s.name, report(s.results), s, median(s.results.map((r) => report([r]).p99))] as const);
    // Service time: one request at a time (no queueing), the floor and the webhook alternately.
    const oneAtATime = { floor: [] as number[], vigil: [] as number[] };
    for (let round = 0; round < ROUNDS; round++) {
      oneAtATime.floor.push(...(await sequential(floorPort, verified[0]!, 500)));
      oneAtATime.vigil.push(...(await sequential(port, verified[0]!, 500)));
    }
    const f = rows[0]![1];
    console.log(
      `${"".padEnd(36)} ${"p50 ms".padStart(8)} ${"p99 ms".padStart(8)} ${"max ms".padStart(8)} ${"answered".padStart(9)} ${"non-200".padStart(8)} ${"server CPU ms/req".padStart(18)} ${"vegeta CPU ms/req".padStart(18)} ${"round p99 median".padStart(17)}  p50, p99, round p99 / floor's`,
    );
    const fr = rows[0]![3];
    for (const [name, l, s, roundP99] of rows)
      console.log(
        `${name.padEnd(36)} ${l.p50.toFixed(3).padStart(8)} ${l.p99.toFixed(3).padStart(8)} ${l.max.toFixed(3).padStart(8)} ${String(l.count).padStart(9)} ${String(l.errors).padStart(8)} ${(s.serverCpuMs / l.count).toFixed(3).padStart(18)} ${(s.vegetaCpuMs / l.count).toFixed(3).padStart(18)} ${roundP99.toFixed(3).padStart(17)}  ${(l.p50 / f.p50).toFixed(2)}x, ${(l.p99 / f.p99).toFixed(2)}x, ${(roundP99 / fr).toFixed(2)}x`,
      );
    const sf = latency(oneAtATime.floor, 0);
    const sv = latency(oneAtATime.vigil, 0);
    console.log(
      `load average ${loadavg()
        .map((l) => l.toFixed(2))
        .join(" ")} at the end`,
    );
    console.log(
      `one request at a time (service time): floor p50 ${sf.p50.toFixed(3)} ms, p99 ${sf.p99.toFixed(3)} ms; vigil admission (verified) p50 ${sv.p50.toFixed(3)} ms, p99 ${sv.p99.toFixed(3)} ms; ${(sv.p50 / sf.p50).toFixed(2)}x, ${(sv.p99 / sf.p99).toFixed(2)}x`,
    );
  } finally {
    for (const c of cleanups.reverse()) await c();
  }
}

function review(i: number, image: string): string {
  return JSON.stringify({
    apiVersion: "admission.k8s.io/v1",
    kind: "AdmissionReview",
    request: {
      uid: `00000000-0000-0000-0000-${String(i).padStart(12, "0")}`,
      kind: { group: "", version: "v1", kind: "Pod" },
      resource: { group: "", version: "v1", resource: "pods" },
      name: `web-${i}`,
      namespace: "shop",
      operation: "CREATE",
      userInfo: { username: "system:serviceaccount:kube-system:replicaset-controller", groups: ["system:serviceaccounts"] },
      object: {
        apiVersion: "v1",
        kind: "Pod",
        metadata: { name: `web-${i}`, namespace: "shop", labels: { app: "web" } },
        spec: { containers: [{ name: "web", image, resources: { limits: { cpu: "1" } } }], serviceAccountName: "default" },
      },
      dryRun: false,
    },
  });
}

interface Latency {
  p50: number;
  p99: number;
  max: number;
  count: number;
  errors: number;
}

/** How the processes are placed: vegeta on the last core, the servers on the others (two cores or more, taskset, and a quiet machine or --pin). */
interface Pinning {
  note: string;
  servers(cmd: string, args: string[]): [string, string[]];
  vegeta(args: string[]): [string, string[]];
  /** Moves running processes (the benchmark's kube-apiserver and etcd) off the servers' core, to vegeta's. */
  background(pids: readonly number[]): void;
}

function cpuPinning(mode: "pin" | "no-pin" | "auto"): Pinning {
  const n = cpus().length;
  const taskset = spawnSync("sh", ["-c", "command -v taskset"], { encoding: "utf8" }).stdout.trim();
  const load = loadavg()[0]!;
  const why =
    mode === "no-pin"
      ? "--no-pin"
      : n < 2
        ? "one core"
        : !taskset
          ? "no taskset"
          : mode === "auto" && load >= n
            ? `load average ${load.toFixed(1)} on ${n} cores: others' work would queue the pinned servers; --pin to pin anyway`
            : undefined;
  if (why)
    return {
      note: `not pinned (${why}): vegeta and the servers share the cores`,
      servers: (cmd, args) => [cmd, args],
      vegeta: (args) => [VEGETA, args],
      background: () => {},
    };
  const last = n - 1;
  const rest = n === 2 ? "0" : `0-${n - 2}`;
  return {
    note: `pinned with taskset: the servers on core(s) ${rest}, vegeta, kube-apiserver and etcd on core ${last} (GOMAXPROCS=1)`,
    servers: (cmd, args) => [taskset, ["-c", rest, cmd, ...args]],
    vegeta: (args) => [taskset, ["-c", String(last), VEGETA, "-cpus", "1", ...args]],
    background: (pids) => {
      for (const pid of pids) {
        const moved = spawnSync(taskset, ["-a", "-p", "-c", String(last), String(pid)], { encoding: "utf8" });
        if (moved.status !== 0) throw new Error(`taskset -a -p -c ${last} ${pid}: ${moved.stderr}`);
      }
    },
  };
}

/** vegeta's JSON targets, one POST of each body to /validate, in turn. */
function targetsFile(dir: string, name: string, port: number, bodies: readonly string[]): string {
  const file = join(dir, `${name.replace(/\W+/g, "-")}.targets`);
  const lines = bodies.map((body) =>
    JSON.stringify({
      method: "POST",
      url: `https://127.0.0.1:${port}/validate`,
      header: { "Content-Type": ["application/json"] },
      body: Buffer.from(body).toString("base64"),
    }),
  );
  writeFileSync(file, `${lines.join("\n")}\n`);
  return file;
}

/** RATE requests a second for SECONDS at a constant rate (vegeta's own pacing, 10 connections kept alive); its CPU time in ms. */
function attack(pin: Pinning, targets: string, rate: number, seconds: number, output: string): number {
  const [cmd, args] = pin.vegeta([
    "attack",
    "-format=json",
    `-targets=${targets}`,
    `-rate=${rate}/1s`,
    `-duration=${seconds}s`,
    "-insecure",
    "-connections=10",
    "-workers=10",
    "-timeout=10s",
    `-output=${output}`,
  ]);
  const timed = spawnSync("/usr/bin/time", ["-f", "%U %S", cmd, ...args], { encoding: "utf8" });
  if (timed.status !== 0) throw new Error(`vegeta attack failed: ${timed.stderr}`);
  const [user, system] = timed.stderr.trim().split("\n").at(-1)!.split(" ").map(Number);
  return (user! + system!) * 1000;
}

/** vegeta's percentiles over every result file of a scenario (its latencies are in nanoseconds). */
function report(files: readonly string[]): Latency {
  const r = spawnSync(VEGETA, ["report", "-type=json", ...files], { encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
  if (r.status !== 0) throw new Error(`vegeta report failed: ${r.stderr}`);
  const j = JSON.parse(r.stdout) as { latencies: Record<string, number>; requests: number; status_codes: Record<string, number> };
  const ms = (ns: number) => ns / 1e6;
  const ok = j.status_codes["200"] ?? 0;
  return { p50: ms(j.latencies["50th"]!), p99: ms(j.latencies["99th"]!), max: ms(j.latencies.max!), count: ok, errors: j.requests - ok };
}

/** User and system CPU time of a process so far (all its threads), in ms. */
function processCpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8")
    .replace(/^.*\) /, "")
    .split(" ");
  const ticks = Number(fields[11]) + Number(fields[12]);
  return (ticks * 1000) / CLOCK_TICKS;
}

/** N requests one after another on one kept-alive connection: each one's time. */
async function sequential(port: number, body: string, n: number): Promise<number[]> {
  const dispatcher = new Agent({ connect: { rejectUnauthorized: false }, connections: 1 });
  const times: number[] = [];
  try {
    for (let i = 0; i < n; i++) {
      const started = performance.now();
      const res = await request(`https://127.0.0.1:${port}/validate`, {
        method: "POST",
        body,
        dispatcher,
        headers: { "content-type": "application/json" },
      });
      await res.body.text();
      times.push(performance.now() - started);
    }
  } finally {
    await dispatcher.close();
  }
  return times;
}

function latency(times: number[], errors: number): Latency {
  const sorted = [...times].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
  return { p50: at(0.5), p99: at(0.99), max: sorted.at(-1) ?? NaN, count: sorted.length, errors };
}

function startProcess(cmd: string, args: string[]): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ["ignore", "ignore", "pipe"] });
    let err = "";
    child.stderr!.on("data", (d) => {
      err += d;
      if (/listening on/.test(err)) resolve(child);
    });
    child.once("exit", (code) => reject(new Error(`${cmd} exited ${code}: ${err}`)));
  });
}

async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGTERM");
  await exited;
}

/** This process's children, by the kernel's account. */
function childPids(): number[] {
  const found = spawnSync("pgrep", ["-P", String(process.pid)], { encoding: "utf8" });
  return found.stdout.split("\n").filter(Boolean).map(Number);
}
