// Benchmark (issue 24): `vigil ci` against the pipeline it replaces, on the same ~200 MB image in the same
// run. The image: a Debian root from real .debs, npm, Python, Go and Java layers (test/helpers/sbom-targets.ts)
// and a layer of large files, built as an OCI layout and copied by skopeo into docker-registry on loopback.
// The peer pipeline, one step after another as a CI job chains them: syft (SBOM from the registry) →
// osv-scanner (offline, over the same OSV zips Vigil imported) → cosign sign → cosign attest (the SBOM) →
// cosign attest (the same SLSA provenance Vigil attests, handed to cosign ready-made). grype's database
// cannot be built here, so osv-scanner is the scanner. Each side runs `--runs` times, alternating; medians
// of wall time and CPU (GNU time), and the ratio. Target: vigil ci at least 2x faster.
// So that both sides do the same work (sign and attest), whatever the image's findings at the time of the
// run, a first untimed vigil ci lists them and an OpenVEX document marks each not_affected for the timed runs.
//   node bench/ci.ts [--runs 3] [--filler-mib 170]
import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { goBin } from "../scripts/setup.ts";
import { detectCi } from "../src/ci/provenance.ts";
import { GITHUB_ENV } from "../test/helpers/ci-env.ts";
import { COSIGN_PASSWORD, cosignKeyPair } from "../test/helpers/image-signing.ts";
import * as targets from "../test/helpers/sbom-targets.ts";
import { osvScannerDatabase } from "../test/helpers/vuln-corpus.ts";
import { run, tempDir } from "../test/helpers/tools.ts";
import { machine, median, timed } from "./lib/measure.ts";

const { values } = parseArgs({ options: { runs: { type: "string", default: "3" }, "filler-mib": { type: "string", default: "170" } } });
const root = resolve(import.meta.dirname, "..");
const osv = resolve(root, "..", "shared", "data", "osv");
const cli = join(root, "src", "cli", "main.ts");
/** vigil as a user runs it (bin/vigil: the pinned Node.js and its flags). */
const vigilBin = join(root, "bin", "vigil");
const runs = Number(values.runs);
const cleanups: (() => unknown)[] = [];
const scope = { after: (fn: () => unknown) => void cleanups.push(fn) };

/** docker-registry in a process of its own (bench/lib/registry-process.ts), so synchronous timing cannot stall it. */
async function registryProcess(): Promise<{ host: string }> {
  const child = spawn(process.execPath, [join(import.meta.dirname, "lib", "registry-process.ts")], { stdio: ["pipe", "pipe", "inherit"] });
  scope.after(
    () =>
      new Promise((done) => {
        child.once("exit", done);
        child.stdin!.end();
      }),
  );
  let line = "";
  for await (const chunk of child.stdout!) {
    line += chunk;
    if (line.includes("\n")) return JSON.parse(line);
  }
  throw new Error("the registry process exited before it said where the registry is");
}

/** The image's layers: real package roots, then large files (what makes most images' size). */
async function buildImage(dir: string, host: string): Promise<{ image: string; digest: string; mib: number }> {
  const filler = join(dir, "filler");
  const fillerMiB = Number(values["filler-mib"]);
  for (let i = 0; i * 25 < fillerMiB; i++)
    targets.writeTree(filler, { [`opt/data/blob-${i}.bin`]: randomBytes(Math.min(25, fillerMiB - i * 25) << 20) });
  const layers = [
    targets.debianRoot().root,
    targets.npmProject().root,
    targets.pythonTree().root,
    targets.goBinary().root,
    targets.javaArchives().root,
    filler,
  ];
  const layout = join(dir, "layout");
  const built = await targets.ociImage(layout, "v1", layers, dir);
  const manifest = JSON.parse(readFileSync(join(layout, "blobs", "sha256", built.digest.slice(7)), "utf8")) as {
    layers: { size: number }[];
  };
  const image = `${host}/bench/app:v1`;
  run("skopeo", ["--insecure-policy", "copy", "--dest-tls-verify=false", `oci:${layout}:v1`, `docker://${image}`]);
  return { image, digest: built.digest, mib: manifest.layers.reduce((n, l) => n + l.size, 0) / 2 ** 20 };
}

/**
 * osv-scanner offline refuses to scan at all when an ecosystem in the SBOM has no local database; the
 * shared OSV data has none for some (Debian, Maven), and Vigil's database has no advisories for them
 * either. An empty zip stands for "no advisories" there, so both scanners know the same. Untimed.
 */
function emptyForMissingEcosystems(osvScanner: string, syft: [string, string, string[]], args: string[], cache = ""): void {
  run(syft[1], syft[2]);
  const emptyZip = Buffer.from([0x50, 0x4b, 0x05, 0x06, ...new Array(18).fill(0)]);
  for (let round = 0; round < 20; round++) {
    const r = spawnSync(osvScanner, args, { encoding: "utf8" });
    const missing = /could not load db for (\S+) ecosystem/.exec(r.stderr)?.[1];
    if (!missing) return;
    mkdirSync(join(cache, "osv-scalibr", missing), { recursive: true });
    writeFileSync(join(cache, "osv-scalibr", missing, "all.zip"), emptyZip);
    console.log(`osv-scanner: no ${missing} advisories in the shared data (nor in Vigil's database): an empty ${missing}/all.zip`);
  }
}

/** OpenVEX marking every finding that blocks the image not_affected, from an untimed dry run; its path. */
function acceptedFindings(dir: string, args: string[]): string {
  const r = timed(process.execPath, args);
  const checks = (JSON.parse(r.stdout) as { checks: { gate: string; rule: string; status: string; subject: string }[] }).checks;
  const blocking = checks.filter((c) => c.gate === "vulnerability" && c.status === "fail" && c.rule !== "scan");
  const file = join(dir, "accepted.vex.json");
  writeFileSync(
    file,
    JSON.stringify({
      "@context": "https://openvex.dev/ns/v0.2.0",
      "@id": "https://vigil.dev/bench/ci",
      author: "bench/ci.ts",
      timestamp: new Date().toISOString(),
      version: 1,
      statements: blocking.map((c) => ({
        vulnerability: { name: c.rule },
        products: [{ "@id": c.subject }],
        status: "not_affected",
        justification: "vulnerable_code_not_in_execute_path",
      })),
    }),
  );
  console.log(`findings accepted by VEX for the timed runs: ${blocking.length}`);
  return file;
}

try {
  console.log(`machine: ${machine()}`);
  const dir = tempDir(scope, "vigil-bench-ci-");
  const registry = await registryProcess();
  const { image, digest, mib } = await buildImage(dir, registry.host);
  const pinned = `${registry.host}/bench/app@${digest}`;
  console.log(`image: ${image} (${digest.slice(0, 19)}…), ${mib.toFixed(0)} MiB compressed in 6 layers`);

  // Set-up that neither side is timed for: the vulnerability data where each reads it, and the key.
  const db = join(dir, "db");
  const imported = timed(process.execPath, [cli, "db", "import", osv, "--db", db, "--json"]);
  if (imported.status !== 0) throw new Error(`vigil db import failed: ${imported.stdout}`);
  process.env.OSV_SCALIBR_LOCAL_DB_CACHE_DIRECTORY = await osvScannerDatabase(osv, join(dir, "osv-db"));
  const key = cosignKeyPair(dir, "ci");
  Object.assign(process.env, GITHUB_ENV, { COSIGN_PASSWORD, SYFT_CHECK_FOR_APP_UPDATE: "false", SYFT_REGISTRY_INSECURE_USE_HTTP: "true" });
  const provenance = join(dir, "provenance.json");
  writeFileSync(provenance, JSON.stringify(detectCi(process.env)!.predicate));
  const sbom = join(dir, "peer", "bom.cdx.json");
  mkdirSync(join(dir, "peer"));

  const cosignBin = join(goBin, "cosign");
  const cosignFlags = ["--key", key.privatePath, "--tlog-upload=false", "--use-signing-config=false", "--allow-http-registry", "-y"];
  const peerSteps: [string, string, string[]][] = [
    ["syft", join(goBin, "syft"), ["scan", `registry:${pinned}`, "-o", `cyclonedx-json=${sbom}`, "-q"]],
    ["osv-scanner", join(goBin, "osv-scanner"), ["scan", "--offline", "--offline-vulnerabilities", "-L", sbom, "--format", "json"]],
    ["cosign sign", cosignBin, ["sign", ...cosignFlags, pinned]],
    ["cosign attest (SBOM)", cosignBin, ["attest", ...cosignFlags, "--type", "cyclonedx", "--predicate", sbom, pinned]],
    ["cosign attest (provenance)", cosignBin, ["attest", ...cosignFlags, "--type", "slsaprovenance1", "--predicate", provenance, pinned]],
  ];
  emptyForMissingEcosystems(join(goBin, "osv-scanner"), peerSteps[0]!, peerSteps[1]![2], process.env.OSV_SCALIBR_LOCAL_DB_CACHE_DIRECTORY);
  const vigilArgs = [
    "ci",
    pinned,
    "--key",
    key.privatePath,
    "--db",
    db,
    "--allow-http-registry",
    "--json",
    "--vex",
    acceptedFindings(dir, [cli, "ci", pinned, "--key", key.privatePath, "--db", db, "--allow-http-registry", "--no-provenance", "--json"]),
  ];

  const vigil: ReturnType<typeof timed>[] = [];
  const peer: { seconds: number; cpuSeconds: number; steps: number[] }[] = [];
  for (let i = 0; i < runs; i++) {
    const v = timed(vigilBin, vigilArgs);
    const verdict = JSON.parse(v.stdout) as { verdict: string; checks: { gate: string; rule: string; message: string }[] };
    if (v.status !== 0)
      throw new Error(
        `vigil ci did not pass (exit ${v.status}): ${verdict.checks
          .filter((c) => c.gate !== "ci")
          .slice(0, 5)
          .map((c) => c.message)
          .join("; ")}`,
      );
    vigil.push(v);
    if (i === 0)
      console.log(
        `vigil ci: ${verdict.checks.find((c) => c.rule === "sbom")?.message}; ${verdict.checks.find((c) => c.rule === "scan")?.message}`,
      );
    const steps = peerSteps.map(([name, bin, args]) => {
      const r = timed(bin, args);
      // osv-scanner exits 1 when it found vulnerabilities; anything else is a failed step.
      if (r.status !== 0 && !(name === "osv-scanner" && r.status === 1))
        throw new Error(`${name} failed (exit ${r.status}): ${spawnSync(bin, args, { encoding: "utf8" }).stderr.slice(-2000)}`);
      return r;
    });
    peer.push({
      seconds: steps.reduce((n, r) => n + r.seconds, 0),
      cpuSeconds: steps.reduce((n, r) => n + r.cpuSeconds, 0),
      steps: steps.map((r) => r.seconds),
    });
  }
  const sbomComponents = (JSON.parse(readFileSync(sbom, "utf8")) as { components?: unknown[] }).components?.length ?? 0;
  const v = {
    seconds: median(vigil.map((r) => r.seconds)),
    cpu: median(vigil.map((r) => r.cpuSeconds)),
    rss: median(vigil.map((r) => r.maxRssMiB)),
  };
  const p = { seconds: median(peer.map((r) => r.seconds)), cpu: median(peer.map((r) => r.cpuSeconds)) };
  console.log(`syft found ${sbomComponents} components`);
  console.log(`| pipeline | wall (median of ${runs}) | CPU | peak RSS |`);
  console.log(`|---|---|---|---|`);
  console.log(`| vigil ci | ${v.seconds.toFixed(2)} s | ${v.cpu.toFixed(2)} s | ${v.rss.toFixed(0)} MiB |`);
  console.log(`| syft + osv-scanner + cosign sign + cosign attest ×2 | ${p.seconds.toFixed(2)} s | ${p.cpu.toFixed(2)} s | (per step) |`);
  peerSteps.forEach(([name], i) => console.log(`|   ${name} | ${median(peer.map((r) => r.steps[i]!)).toFixed(2)} s | | |`));
  const ratio = p.seconds / v.seconds;
  console.log(
    `ratio: the peer pipeline takes ${ratio.toFixed(2)}x vigil ci's wall time (CPU ${(p.cpu / v.cpu).toFixed(2)}x); target at least 2x: ${ratio >= 2 ? "met" : "NOT met"}`,
  );
} finally {
  for (const fn of cleanups.reverse()) await fn();
}
