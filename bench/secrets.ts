// vigil secrets scan --all-history against gitleaks (pinned in scripts/setup.ts) on the same large
// history: a configuration repository of Kubernetes manifests built with git fast-import, with leaked-looking
// tokens (test/helpers/secret-tokens.ts) planted at known commits, files and lines, and decoys (placeholders,
// references) planted at others. Findings of both tools are compared with the planted truth (true and false
// positives) and both are timed in the same run, alternating (wall, and CPU of the process and every child
// it starts, git included, from GNU time; median of the runs), with the load average beside them.
// Beside them, in the same runs, the floor of any scan that reads git's patches: `git log -p` over the
// history as Vigil asks for it, alone and as two processes over its two halves at once (the fastest git
// writes every commit's added lines on this machine), and Vigil's start-up on a one-commit repository.
//
//   node bench/secrets.ts [--commits N] [--runs N]
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import { join } from "node:path";
import { goBin } from "../scripts/setup.ts";
import { patchLogArgs } from "../src/secrets/scan-repo.ts";
import { decoyLines, plantedLine, seededRandom, tokenKinds, type Random } from "../test/helpers/secret-tokens.ts";
import { machine, median, timed } from "./lib/measure.ts";

const args = process.argv.slice(2);
const option = (name: string, fallback: number) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const COMMITS = option("commits", 10_000);
const RUNS = option("runs", 3);
const APPS = 120;
const PLANT_EVERY = 97;
const DECOY_EVERY = 41;

const root = join(import.meta.dirname, "..");
const cacheDir = join(root, ".cache", "bench-secrets", `history-${COMMITS}`);
const gitleaks = join(goBin, "gitleaks");
const vigil = join(root, "bin", "vigil");

interface Planted {
  mark: number;
  path: string;
  line: number;
  rule: string;
}

/** A manifest file as lines; commits edit these and fast-import stores each version. */
function manifest(app: string, r: Random): string[] {
  return [
    "apiVersion: apps/v1",
    "kind: Deployment",
    `metadata: { name: ${app}, namespace: ${app.split("-")[0]} }`,
    "spec:",
    `  replicas: ${1 + r(5)}`,
    "  template:",
    "    spec:",
    "      containers:",
    `        - name: ${app}`,
    `          image: registry.example.com/${app}:v1.${r(50)}.0`,
    "          env:",
    "            - { name: LOG_LEVEL, value: info }",
    "            - name: DB_PASSWORD",
    "              valueFrom: { secretKeyRef: { name: db, key: password } }",
    "---",
    "apiVersion: v1",
    "kind: ConfigMap",
    `metadata: { name: ${app}-config }`,
    "data:",
    ...Array.from({ length: 10 + r(20) }, (_, i) => `  setting_${i}: "value-${r(1000)}"`),
  ];
}

function buildHistory(): { gitDir: string; truth: Map<string, Planted>; decoys: number } {
  const truthFile = join(cacheDir, "truth.json");
  const gitDir = join(cacheDir, "repo.git");
  if (existsSync(truthFile)) {
    const saved = JSON.parse(readFileSync(truthFile, "utf8")) as { truth: [string, Planted][]; decoys: number };
    return { gitDir, truth: new Map(saved.truth), decoys: saved.decoys };
  }
  rmSync(cacheDir, { recursive: true, force: true });
  mkdirSync(cacheDir, { recursive: true });
  const r = seededRandom(22);
  const apps = Array.from({ length: APPS }, (_, i) => `team${i % 12}-app${i}`);
  const files = new Map(apps.map((a) => [`apps/${a.split("-")[0]}/${a}.yaml`, manifest(a, r)]));
  const paths = [...files.keys()];
  const planted: Planted[] = [];
  let decoys = 0;
  const chunks: string[] = [];
  const data = (s: string) => `data ${Buffer.byteLength(s)}\n${s}\n`;
  for (let mark = 1; mark <= COMMITS; mark++) {
    const changed = new Set<string>();
    for (let k = 0; k < 1 + r(3); k++) {
      const path = paths[r(paths.length)]!;
      const lines = files.get(path)!;
      const image = lines.findIndex((l) => l.includes("image: "));
      lines[image] = lines[image]!.replace(/:v[\d.]+$/, `:v1.${r(99)}.${r(9)}`);
      if (r(3) === 0) lines.push(`  setting_${lines.length}: "value-${r(1000)}"`);
      changed.add(path);
    }
    if (mark % PLANT_EVERY === 0) {
      const path = paths[r(paths.length)]!;
      const lines = files.get(path)!;
      const kind = tokenKinds[(mark / PLANT_EVERY) % tokenKinds.length]!;
      const { line } = plantedLine(kind, r);
      const [first, ...rest] = line.split("\n");
      lines.push(`  ${first}`, ...rest);
      planted.push({ mark, path, line: lines.length - rest.length, rule: kind.rule });
      changed.add(path);
    } else if (mark % DECOY_EVERY === 0) {
      const path = paths[r(paths.length)]!;
      files.get(path)!.push(`  ${decoyLines[decoys++ % decoyLines.length]}`);
      changed.add(path);
    }
    const message = `TICKET-${mark}: update ${[...changed].length} manifests`;
    chunks.push(
      `commit refs/heads/main\nmark :${mark}\ncommitter Bench <bench@example.com> ${1_700_000_000 + mark * 60} +0000\n${data(message)}${mark > 1 ? `from :${mark - 1}\n` : ""}`,
    );
    for (const path of changed) chunks.push(`M 100644 inline ${path}\n${data(files.get(path)!.join("\n") + "\n")}`);
  }
  spawnSync("git", ["init", "-q", "--bare", gitDir], { stdio: "inherit" });
  const marksFile = join(cacheDir, "marks");
  const r2 = spawnSync("git", ["--git-dir", gitDir, "fast-import", "--quiet", `--export-marks=${marksFile}`], {
    input: chunks.join(""),
    stdio: ["pipe", "inherit", "inherit"],
    maxBuffer: 1 << 30,
  });
  if (r2.status !== 0) throw new Error("git fast-import failed");
  const ids = new Map(
    readFileSync(marksFile, "utf8")
      .trim()
      .split("\n")
      .map((l) => {
        const [m, id] = l.split(" ");
        return [Number(m!.slice(1)), id!] as const;
      }),
  );
  const truth = new Map(planted.map((p) => [`${ids.get(p.mark)}:${p.path}:${p.line}`, p]));
  writeFileSync(truthFile, JSON.stringify({ truth: [...truth], decoys }));
  return { gitDir, truth, decoys };
}

interface Outcome {
  seconds: number;
  cpuSeconds: number;
  maxRssMiB: number;
  found: Set<string>;
}

function runVigil(gitDir: string): Outcome {
  const t = timed(vigil, ["secrets", "scan", "--repo", gitDir, "--all-history", "--json"]);
  if (t.status !== 1 && t.status !== 0) throw new Error(`vigil exited ${t.status}`);
  const checks = (
    JSON.parse(t.stdout) as { checks: { status: string; rule: string; subject: string; location?: { file: string; line: number } }[] }
  ).checks;
  const found = new Set(
    checks.filter((c) => c.status === "fail" && c.location).map((c) => `${c.subject}:${c.location!.file}:${c.location!.line}`),
  );
  return { ...t, found };
}

interface Floor {
  /** One `git log -p` over the whole history, its output thrown away. */
  gitAlone: { seconds: number; cpuSeconds: number };
  /** Two at once, the newest half and the rest: git's part of the scan at best on this machine. */
  gitHalves: { seconds: number; cpuSeconds: number };
  /** `vigil secrets scan --all-history` of a one-commit repository: start-up, module loading, exit. */
  startup: number;
}

function runFloor(gitDir: string, tinyDir: string): Floor {
  const half = Math.floor(COMMITS / 2);
  // The patch stream's arguments as the scan gives them (the floor needs only git's work).
  const git = (revs: string[]) => ["git", "--git-dir", gitDir, ...patchLogArgs(revs, false)].map(shellQuote).join(" ");
  const gitAlone = timed("sh", ["-c", `${git(["--all"])} >/dev/null`]);
  const gitHalves = timed("sh", [
    "-c",
    `${git(["--all", `--max-count=${half}`])} >/dev/null & ${git(["--all", `--skip=${half}`])} >/dev/null; wait`,
  ]);
  const startup = timed(vigil, ["secrets", "scan", "--repo", tinyDir, "--all-history", "--json"]).seconds;
  return { gitAlone, gitHalves, startup };
}

/** A repository of one commit that adds nothing secret: what Vigil costs before and after any history. */
function tinyRepo(): string {
  const dir = join(cacheDir, "tiny.git");
  if (existsSync(dir)) return dir;
  spawnSync("git", ["init", "-q", "--bare", dir], { stdio: "inherit" });
  const file = "apiVersion: v1\nkind: ConfigMap\nmetadata: { name: tiny }\n";
  const input = `commit refs/heads/main\ncommitter Bench <bench@example.com> 1700000000 +0000\ndata 4\ntiny\nM 100644 inline app.yaml\ndata ${file.length}\n${file}\n`;
  const r = spawnSync("git", ["--git-dir", dir, "fast-import", "--quiet"], { input, stdio: ["pipe", "inherit", "inherit"] });
  if (r.status !== 0) throw new Error("git fast-import failed");
  return dir;
}

function runGitleaks(gitDir: string): Outcome {
  const report = join(cacheDir, "gitleaks.json");
  const t = timed(gitleaks, ["git", "--no-banner", "--log-level", "error", "--report-format", "json", "--report-path", report, gitDir]);
  if (t.status !== 1 && t.status !== 0) throw new Error(`gitleaks exited ${t.status}`);
  const leaks = JSON.parse(readFileSync(report, "utf8")) as { Commit: string; File: string; StartLine: number }[];
  return { ...t, found: new Set(leaks.map((l) => `${l.Commit}:${l.File}:${l.StartLine}`)) };
}

function score(found: Set<string>, truth: Map<string, Planted>) {
  const truePositives = [...found].filter((k) => truth.has(k)).length;
  return {
    truePositives,
    falsePositives: found.size - truePositives,
    missed: [...truth.values()].filter((p) => ![...found].some((k) => k.endsWith(`:${p.path}:${p.line}`) && truth.get(k) === p)),
  };
}

if (!existsSync(gitleaks)) {
  console.error(`gitleaks is missing (${gitleaks}): run "node scripts/setup.ts"`);
  process.exit(3);
}
const started = Date.now();
const { gitDir, truth, decoys } = buildHistory();
console.log(
  `history: ${COMMITS} commits, ${APPS} manifest files, ${truth.size} planted tokens of ${tokenKinds.length} kinds, ${decoys} decoys (built in ${((Date.now() - started) / 1000).toFixed(1)} s or cached)`,
);
console.log(`machine: ${machine()}`);
const tinyDir = tinyRepo();
const runs: { vigil: Outcome; gitleaks: Outcome; floor: Floor }[] = [];
// The machine may be shared: the 1-minute load average beside each run says how much the wall times mean.
const loads: number[] = [];
for (let i = 0; i < RUNS; i++) {
  loads.push(loadavg()[0]!);
  runs.push({ vigil: runVigil(gitDir), gitleaks: runGitleaks(gitDir), floor: runFloor(gitDir, tinyDir) });
}
loads.push(loadavg()[0]!);
const summary = (pick: (r: (typeof runs)[number]) => Outcome) => ({
  wall: median(runs.map((r) => pick(r).seconds)),
  cpu: median(runs.map((r) => pick(r).cpuSeconds)),
  rss: median(runs.map((r) => pick(r).maxRssMiB)),
  ...score(pick(runs[0]!).found, truth),
});
const v = summary((r) => r.vigil);
const g = summary((r) => r.gitleaks);
const row = (name: string, s: typeof v) =>
  `| ${name} | ${s.truePositives}/${truth.size} | ${s.falsePositives} | ${s.wall.toFixed(2)} s | ${s.cpu.toFixed(2)} s | ${s.rss.toFixed(0)} MiB |`;
console.log(
  [
    "| tool | true findings | false findings | wall (median) | CPU (median) | peak RSS |",
    "|---|---|---|---|---|---|",
    row("vigil secrets scan --all-history", v),
    row("gitleaks git (v8.30.1)", g),
  ].join("\n"),
);
console.log(`ratio (gitleaks / vigil): wall ${(g.wall / v.wall).toFixed(2)}x, CPU ${(g.cpu / v.cpu).toFixed(2)}x; runs: ${RUNS}`);
console.log(
  `per run (vigil / gitleaks): ${runs.map((r) => `CPU ${r.vigil.cpuSeconds.toFixed(2)}/${r.gitleaks.cpuSeconds.toFixed(2)} s, wall ${r.vigil.seconds.toFixed(2)}/${r.gitleaks.seconds.toFixed(2)} s`).join("; ")}`,
);
const floor = {
  aloneWall: median(runs.map((r) => r.floor.gitAlone.seconds)),
  aloneCpu: median(runs.map((r) => r.floor.gitAlone.cpuSeconds)),
  halvesWall: median(runs.map((r) => r.floor.gitHalves.seconds)),
  halvesCpu: median(runs.map((r) => r.floor.gitHalves.cpuSeconds)),
  startup: median(runs.map((r) => r.floor.startup)),
};
const least = floor.startup + floor.halvesWall;
console.log(
  `floor (medians): git log -p alone ${floor.aloneWall.toFixed(2)} s wall (${floor.aloneCpu.toFixed(2)} s CPU); as two processes over its halves at once ${floor.halvesWall.toFixed(2)} s wall (${floor.halvesCpu.toFixed(2)} s CPU); vigil's start-up (one-commit repository) ${floor.startup.toFixed(2)} s; so a scan of git's patches takes at least ${least.toFixed(2)} s here, gitleaks / that = ${(g.wall / least).toFixed(2)}x, before the patches are read`,
);
console.log(`load average (1 min) before each run and after the last: ${loads.map((l) => l.toFixed(1)).join(", ")}`);
for (const [name, s] of [
  ["vigil", v],
  ["gitleaks", g],
] as const) {
  if (s.missed.length > 0) console.log(`${name} missed: ${s.missed.map((p) => `${p.rule} (${p.path}:${p.line})`).join(", ")}`);
}
const fp = (o: Outcome) => [...o.found].filter((k) => !truth.has(k));
console.log(`vigil false findings: ${fp(runs[0]!.vigil).slice(0, 10).join(", ") || "none"}`);
console.log(`gitleaks false findings: ${fp(runs[0]!.gitleaks).slice(0, 10).join(", ") || "none"}`);

function shellQuote(word: string): string {
  return `'${word.replaceAll("'", "'\\''")}'`;
}
