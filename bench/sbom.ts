// Benchmark (issue 18, SBOMs): Vigil and syft side by side on the same real targets, each scored
// against the truth of the package manager that installed them (test/helpers/sbom-targets.ts: Debian
// .debs and dpkg-query, npm install and npm ls, pip install --target and pip list, a Go binary and go
// version -m, Maven Central JARs, a Cargo project and cargo metadata; Alpine's database written from
// apk-tools' format). Both write CycloneDX JSON; components are keyed by their purl (type, name,
// version). Reported per target: recall and precision for each tool, median wall and CPU (user+system)
// time of `--runs` runs (start-up included, as a user runs them), the ratios syft/Vigil of both, peak
// RSS, and (on stderr) the load average after each target. Then the
// same targets as one image (an OCI layout, and a docker archive by skopeo), and the same image with
// 256 MiB and 1 GiB of incompressible filler, to show memory flat in the image's size.
//   node bench/sbom.ts [--runs 3] [--no-filler]

import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { PackageURL } from "packageurl-js";
import { randomBytes } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import { score } from "../test/helpers/sbom-compare.ts";
import * as targets from "../test/helpers/sbom-targets.ts";
import { run, tempDir } from "../test/helpers/tools.ts";
import { machine, median, timed } from "./lib/measure.ts";

const { values } = parseArgs({ options: { runs: { type: "string", default: "3" }, "no-filler": { type: "boolean", default: false } } });
const runs = Number(values.runs);
const root = resolve(import.meta.dirname, "..");
const vigilBin = join(root, "bin", "vigil");
const syftBin = join(root, ".cache", "go", "bin", "syft");
process.env.SYFT_CHECK_FOR_APP_UPDATE = "false";

const cleanups: (() => unknown)[] = [];
const scope = { after: (fn: () => unknown) => void cleanups.push(fn) };

/** A CycloneDX document's components as "ecosystem:name@version", named as the truth names them. */
function keysOf(bom: { components?: { purl?: string }[] }): Set<string> {
  const out = new Set<string>();
  for (const c of bom.components ?? []) {
    if (!c.purl) continue;
    let p: PackageURL;
    try {
      p = PackageURL.fromString(c.purl);
    } catch {
      continue;
    }
    const name =
      p.type === "pypi"
        ? p.name.toLowerCase().replace(/[-_.]+/g, "-")
        : p.type === "deb" || p.type === "apk" || p.type === "rpm"
          ? p.name
          : p.namespace
            ? `${p.namespace}/${p.name}`
            : p.name;
    // rpm keeps the epoch in a qualifier; the truth (rpm -qa) writes EPOCH:VERSION-RELEASE.
    const epoch = p.type === "rpm" && p.qualifiers?.epoch ? `${p.qualifiers.epoch}:` : "";
    out.add(`${p.type}:${name}@${epoch}${p.version ?? ""}`);
  }
  return out;
}

interface Row {
  target: string;
  truth: number;
  vigil: { recall: number; precision: number; seconds: number; cpuSeconds: number; rssMiB: number };
  syft: { recall: number; precision: number; seconds: number; cpuSeconds: number; rssMiB: number };
  notes: string[];
}

function measure(label: string, vigilTarget: string, syftTarget: string, truth: Set<string>): Row {
  const runTool = (cmd: string, args: string[]) => {
    const times: number[] = [];
    const cpu: number[] = [];
    let rss = 0;
    let stdout = "";
    for (let i = 0; i < runs; i++) {
      const r = timed(cmd, args);
      if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} exited ${r.status}`);
      times.push(r.seconds);
      cpu.push(r.cpuSeconds);
      rss = Math.max(rss, r.maxRssMiB);
      stdout = r.stdout;
    }
    return { seconds: median(times), cpuSeconds: median(cpu), rssMiB: rss, keys: keysOf(JSON.parse(stdout)) };
  };
  const v = runTool(vigilBin, ["sbom", vigilTarget, "-o", "cyclonedx-json"]);
  const s = runTool(syftBin, ["scan", syftTarget, "-o", "cyclonedx-json", "-q"]);
  const vs = score(v.keys, truth);
  const ss = score(s.keys, truth);
  const notes = [
    ...(vs.missing.length ? [`vigil missed ${vs.missing.slice(0, 5).join(", ")}${vs.missing.length > 5 ? "…" : ""}`] : []),
    ...(vs.extra.length ? [`vigil extra ${vs.extra.slice(0, 5).join(", ")}${vs.extra.length > 5 ? "…" : ""}`] : []),
    ...(ss.missing.length
      ? [`syft missed ${ss.missing.slice(0, 5).join(", ")}${ss.missing.length > 5 ? ` (+${ss.missing.length - 5})` : ""}`]
      : []),
    ...(ss.extra.length ? [`syft extra ${ss.extra.slice(0, 5).join(", ")}${ss.extra.length > 5 ? ` (+${ss.extra.length - 5})` : ""}`] : []),
  ];
  const row = {
    target: label,
    truth: truth.size,
    vigil: { recall: vs.recall, precision: vs.precision, seconds: v.seconds, cpuSeconds: v.cpuSeconds, rssMiB: v.rssMiB },
    syft: { recall: ss.recall, precision: ss.precision, seconds: s.seconds, cpuSeconds: s.cpuSeconds, rssMiB: s.rssMiB },
    notes,
  };
  print(row);
  return row;
}

const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
function print(r: Row): void {
  console.log(
    `| ${r.target} | ${r.truth} | ${pct(r.vigil.recall)} / ${pct(r.vigil.precision)} | ${pct(r.syft.recall)} / ${pct(r.syft.precision)} | ${r.vigil.seconds.toFixed(2)} s (${r.vigil.cpuSeconds.toFixed(2)}) | ${r.syft.seconds.toFixed(2)} s (${r.syft.cpuSeconds.toFixed(2)}) | ${(r.syft.seconds / r.vigil.seconds).toFixed(1)}× / ${(r.syft.cpuSeconds / r.vigil.cpuSeconds).toFixed(1)}× | ${r.vigil.rssMiB.toFixed(0)} / ${r.syft.rssMiB.toFixed(0)} MiB |`,
  );
  for (const n of r.notes) console.log(`|  | | ${n} | | | | | |`);
  console.error(
    `  (load average ${loadavg()
      .map((l) => l.toFixed(1))
      .join(", ")})`,
  );
}

async function main(): Promise<void> {
  console.log(`machine: ${machine()}; syft v1.57.2; runs: ${runs} (median)`);
  console.log(
    "| target | truth | Vigil recall / precision | syft recall / precision | Vigil wall (CPU) | syft wall (CPU) | syft/Vigil wall / CPU | peak RSS Vigil / syft |",
  );
  console.log("|---|---:|---:|---:|---:|---:|---:|---:|");
  const dirs: [string, targets.Target][] = [
    ["Debian root (.debs)", targets.debianRoot()],
    ["distroless status.d", targets.distrolessRoot()],
    ["Alpine db", targets.alpineRoot()],
    ["npm install tree", targets.npmProject()],
    ["pip --target tree", targets.pythonTree()],
    ["Go binary", targets.goBinary()],
    ["Maven JARs + WAR", targets.javaArchives()],
    ["Cargo project + auditable binary", targets.cargoProject()],
    ["rpm SQLite rpmdb (rpmbuild, rpm)", targets.rpmRoot()],
    ["rpm Berkeley DB Packages (db_load)", targets.rpmBerkeleyRoot()],
    ["Ruby gemspecs (Debian's ruby-* .debs)", targets.rubyGemsRoot()],
  ];
  const locks: [string, targets.LockTarget][] = [
    ["yarn.lock (yarn 1)", targets.yarnClassicProject()],
    ["yarn.lock (yarn 4)", targets.yarnBerryProject()],
    ["pnpm-lock.yaml (pnpm 9)", targets.pnpmProject()],
    ["uv.lock (uv)", targets.uvProject()],
    ["poetry.lock (poetry 2)", targets.poetryProject()],
    ["Pipfile.lock (pipenv)", targets.pipenvProject()],
  ];
  for (const [label, t] of dirs) measure(label, `dir:${t.root}`, `dir:${t.root}`, t.truth);
  for (const [label, t] of locks) measure(`${label}, the lock alone`, `dir:${t.lockOnly}`, `dir:${t.lockOnly}`, t.truth);

  // All of them as one image, one layer each.
  const work = tempDir(scope, "vigil-bench-sbom-");
  const layout = join(work, "layout");
  // A Debian base with the language layers on top; the other OS roots are left out (one image with
  // Debian's, Alpine's and an rpm distribution's os-release is not a real one, and no scanner can say
  // which distribution's advisories apply).
  const layers = dirs.filter(([label]) => !/^(distroless|Alpine|rpm|Ruby)/.test(label)).map(([, t]) => t);
  await targets.ociImage(
    layout,
    "all",
    layers.map((t) => t.root),
    work,
  );
  const truth = new Set(layers.flatMap((t) => [...t.truth]));
  measure("all as an OCI layout", `oci-layout:${layout}:all`, `oci-dir:${layout}`, truth);
  const archive = join(work, "all.tar");
  run("skopeo", ["--insecure-policy", "copy", `oci:${layout}:all`, `docker-archive:${archive}:bench/all:v1`]);
  measure("all as a docker archive", `docker-archive:${archive}`, `docker-archive:${archive}`, truth);

  if (!values["no-filler"]) {
    // Memory flat in the image's size: the same image with incompressible filler layers.
    for (const mib of [256, 1024]) {
      const filler = join(work, `filler-${mib}`);
      mkdirSync(join(filler, "data"), { recursive: true });
      for (let i = 0; i < mib / 64; i++) writeFileSync(join(filler, "data", `blob-${i}`), randomBytes(64 << 20));
      const big = join(work, `layout-${mib}`);
      // gzip's fastest level: random data is stored uncompressed at any level, and building the image is not what is measured.
      await targets.ociImage(big, "big", [...layers.map((t) => t.root), filler], work, 1);
      measure(`all + ${mib} MiB filler (OCI layout)`, `oci-layout:${big}:big`, `oci-dir:${big}`, truth);
    }
  }
}

try {
  await main();
} finally {
  for (const fn of cleanups.reverse()) await fn();
}
