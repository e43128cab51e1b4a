// Benchmark (issue 4, artifact gate): N small images in a real docker-registry on loopback, signed with
// a cosign key by Vigil (cosign v3's bundle format), some of them deliberately bad (unsigned, or signed
// by another key). Vigil verifies all of them in one process, `vigil verify image IMAGE… --trust …`, as
// a user runs it (start-up included); in the same run, `cosign verify --key …` once per image, one
// process each, as a user's loop would (and two at a time, as xargs -P2 would). Reported: wall time of
// each, per-image time, the ratio (target ≥ 10x), peak RSS, and every image whose verdict differs.
// A second Vigil row requires an attestation (a CycloneDX SBOM, signed by the same key) as well.
//   node bench/artifact-gate.ts [--images 200] [--bad 10] [--runs 3]
import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { attestImage, signImage } from "../src/artifact/sign-image.ts";
import { anonymous } from "../src/oci/docker-config.ts";
import { RegistryClient } from "../src/oci/registry.ts";
import { PREDICATE_TYPES } from "../src/sigstore/intoto.ts";
import { cosignKeyPair, COSIGN_OFFLINE_VERIFY, type CosignKeyPair } from "../test/helpers/image-signing.ts";
import type { HostOptions } from "../src/oci/http.ts";
import { pushTestImage } from "../test/helpers/registry.ts";
import { tempDir } from "../test/helpers/tools.ts";
import { machine, median, timed } from "./lib/measure.ts";

const { values } = parseArgs({
  options: { images: { type: "string", default: "200" }, bad: { type: "string", default: "10" }, runs: { type: "string", default: "3" } },
});
const count = Number(values.images);
const bad = Number(values.bad);
const runs = Number(values.runs);
const root = resolve(import.meta.dirname, "..");
const vigilBin = join(root, "bin", "vigil");
const cosignBin = join(root, ".cache", "go", "bin", "cosign");
const sbom = { bomFormat: "CycloneDX", specVersion: "1.5", metadata: { component: { name: "shop" } } };

type Verdict = "pass" | "fail";
interface Run {
  seconds: number;
  cpuSeconds: number;
  maxRssMiB: number;
  verdicts: Map<string, Verdict>;
}

// Cleanups run at the end, last registered first (the registry, temporary folders).
const cleanups: (() => unknown)[] = [];
const scope = { after: (fn: () => unknown) => void cleanups.push(fn) };

type Kind = "good" | "other-key" | "unsigned";

/** What each image is meant to be: signed (and attested) by the trusted key, by another key, or unsigned;
 *  the bad ones spread over the list, alternating, so they are not all at one end of the command line. */
function kindOf(i: number): Kind {
  const stride = Math.max(2, Math.floor(count / (2 * bad)));
  if (bad === 0 || i % stride !== stride - 1 || i >= 2 * bad * stride) return "good";
  return Math.floor(i / stride) % 2 === 0 ? "unsigned" : "other-key";
}
const kinds = Array.from({ length: count }, (_, i) => kindOf(i));
const tally = (kind: Kind) => kinds.filter((k) => k === kind).length;

/** Pushes and signs the images, a few at a time; returns their references (tag v1) and intended verdicts. */
async function signedImages(
  client: RegistryClient,
  host: string,
  trusted: CosignKeyPair,
  other: CosignKeyPair,
): Promise<Map<string, Verdict>> {
  const expected = new Map<string, Verdict>();
  const one = async (i: number) => {
    const name = `${host}/shop/app-${String(i).padStart(4, "0")}`;
    const ref = `${name}:v1`;
    await pushTestImage(client.repository(name), { tag: "v1" });
    const kind = kinds[i]!;
    const key = kind === "good" ? trusted : kind === "other-key" ? other : undefined;
    if (key) {
      await signImage(client, ref, key.signing);
      await attestImage(client, ref, sbom, PREDICATE_TYPES.cyclonedx, key.signing);
    }
    expected.set(ref, kind === "good" ? "pass" : "fail");
  };
  for (let i = 0; i < count; i += 16) await Promise.all(Array.from({ length: Math.min(16, count - i) }, (_, j) => one(i + j)));
  return new Map([...expected].sort(([a], [b]) => (a < b ? -1 : 1)));
}

const trustPolicy = (host: string, key: CosignKeyPair, requireSbom: boolean) => `apiVersion: vigil.dev/v1alpha1
kind: TrustPolicy
images:
  - pattern: "${host}/shop/**"
    signers: [{ key: ${JSON.stringify(key.publicPem)} }]
${
  requireSbom
    ? `    attestations:
      - predicateType: ${PREDICATE_TYPES.cyclonedx}
        fields: [{ path: metadata.component.name, equals: shop }]
`
    : ""
}`;

/** The blocked images' messages from vigil's JSON (or its output as it is, when that is not JSON). */
function blocked(stdout: string): string {
  try {
    return (JSON.parse(stdout).checks as { status: string; subject: string; message: string }[])
      .filter((c) => c.status === "fail")
      .map((c) => `${c.subject}: ${c.message}`)
      .join("\n");
  } catch {
    return stdout.slice(0, 2000);
  }
}

/** One `vigil verify image` over every image; exit 1 (some image blocked) is the expected outcome. */
function vigilRun(images: string[], trust: string): Run {
  const r = timed(vigilBin, ["verify", "image", ...images, "--trust", trust, "--allow-http-registry", "--json"]);
  if (r.status !== 0 && r.status !== 1) throw new Error(`vigil verify image exited ${r.status}: ${blocked(r.stdout)}`);
  const verdicts = new Map<string, Verdict>();
  for (const c of JSON.parse(r.stdout).checks as { status: Verdict; subject: string }[])
    verdicts.set(c.subject.replace(/^image: /, ""), c.status);
  return { seconds: r.seconds, cpuSeconds: r.cpuSeconds, maxRssMiB: r.maxRssMiB, verdicts };
}

/** The run with the median wall time, so its other figures belong to one real run. */
function medianRun(make: () => Run): Run {
  const all = Array.from({ length: runs }, make);
  const m = median(all.map((r) => r.seconds));
  return all.find((r) => r.seconds === m)!;
}

const cosignArgs = (publicKey: string, image: string) => ["verify", "--key", publicKey, ...COSIGN_OFFLINE_VERIFY, image];

/** `cosign verify` for each image, one process after another: exit 0 is a pass, anything else a fail. */
function cosignSequential(images: string[], publicKey: string): Run {
  const run: Run = { seconds: 0, cpuSeconds: 0, maxRssMiB: 0, verdicts: new Map() };
  for (const image of images) {
    const r = timed(cosignBin, cosignArgs(publicKey, image));
    run.seconds += r.seconds;
    run.cpuSeconds += r.cpuSeconds;
    run.maxRssMiB = Math.max(run.maxRssMiB, r.maxRssMiB);
    run.verdicts.set(image, r.status === 0 ? "pass" : "fail");
  }
  return run;
}

/** The same, `parallel` processes at a time (xargs -P): wall time and verdicts only. */
async function cosignParallel(images: string[], publicKey: string, parallel: number): Promise<Pick<Run, "seconds" | "verdicts">> {
  const verdicts = new Map<string, Verdict>();
  const queue = [...images];
  const start = performance.now();
  const worker = async () => {
    for (let image = queue.shift(); image !== undefined; image = queue.shift()) {
      const child = spawn(cosignBin, cosignArgs(publicKey, image), { stdio: "ignore" });
      const status = await new Promise<number | null>((done) => child.on("close", done));
      verdicts.set(image, status === 0 ? "pass" : "fail");
    }
  };
  await Promise.all(Array.from({ length: parallel }, worker));
  return { seconds: (performance.now() - start) / 1000, verdicts };
}

/** docker-registry in a process of its own (bench/lib/registry-process.ts), stopped at the end. */
async function registryProcess(): Promise<{ host: string; hostOptions: HostOptions }> {
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

/** Images on which two verdict maps disagree (or one has no verdict). */
function differences(a: Map<string, Verdict>, b: Map<string, Verdict>): { image: string; a: string; b: string }[] {
  return [...new Set([...a.keys(), ...b.keys()])]
    .filter((i) => a.get(i) !== b.get(i))
    .map((image) => ({ image, a: a.get(image) ?? "none", b: b.get(image) ?? "none" }));
}

try {
  const registry = await registryProcess();
  const client = new RegistryClient({ hosts: { [registry.host]: registry.hostOptions }, credentials: anonymous });
  scope.after(() => client.close());
  const dir = tempDir(scope, "vigil-bench-artifact-");
  const trusted = cosignKeyPair(dir, "trusted");
  const other = cosignKeyPair(dir, "other");
  console.error(
    `${count} images in docker-registry at ${registry.host}: ${tally("good")} signed and attested, ${tally("other-key")} by another key, ${tally("unsigned")} unsigned…`,
  );
  const expected = await signedImages(client, registry.host, trusted, other);
  const images = [...expected.keys()];
  const signaturesOnly = join(dir, "trust.yaml");
  const withSbom = join(dir, "trust-sbom.yaml");
  writeFileSync(signaturesOnly, trustPolicy(registry.host, trusted, false));
  writeFileSync(withSbom, trustPolicy(registry.host, trusted, true));

  console.error(`vigil verify image, ${count} images, ${runs} runs…`);
  const vigil = medianRun(() => vigilRun(images, signaturesOnly));
  console.error(`vigil verify image, signature and SBOM attestation required, ${runs} runs…`);
  const vigilSbom = medianRun(() => vigilRun(images, withSbom));
  console.error(`cosign verify, ${count} processes one after another…`);
  const cosign = cosignSequential(images, trusted.publicPath);
  console.error(`cosign verify, ${count} processes two at a time…`);
  const cosign2 = await cosignParallel(images, trusted.publicPath, 2);

  const cosignVersion = timed(cosignBin, ["version", "--json"]).stdout;
  const vs = {
    vigilCosign: differences(vigil.verdicts, cosign.verdicts),
    vigilCosignParallel: differences(vigil.verdicts, cosign2.verdicts),
    vigilExpected: differences(vigil.verdicts, expected),
    vigilSbomExpected: differences(vigilSbom.verdicts, expected),
    cosignExpected: differences(cosign.verdicts, expected),
  };
  const summary = (r: Pick<Run, "seconds"> & Partial<Run>) => ({
    seconds: r.seconds,
    perImageMs: (r.seconds / count) * 1000,
    cpuSeconds: r.cpuSeconds,
    maxRssMiB: r.maxRssMiB,
    passed: r.verdicts && [...r.verdicts.values()].filter((v) => v === "pass").length,
  });
  const result = {
    machine: machine(),
    images: count,
    unsigned: tally("unsigned"),
    signedByAnotherKey: tally("other-key"),
    cosignVersion: (JSON.parse(cosignVersion) as { gitVersion: string }).gitVersion,
    vigil: summary(vigil),
    vigilWithSbom: summary(vigilSbom),
    cosignSequential: summary(cosign),
    cosignTwoAtATime: summary(cosign2),
    ratios: {
      cosignSequentialOverVigil: cosign.seconds / vigil.seconds,
      cosignTwoAtATimeOverVigil: cosign2.seconds / vigil.seconds,
      cosignSequentialOverVigilWithSbom: cosign.seconds / vigilSbom.seconds,
    },
    differences: vs,
  };
  console.log(JSON.stringify(result, null, 2));

  const f = (x: number, d = 2) => x.toLocaleString("en-US", { minimumFractionDigits: d, maximumFractionDigits: d });
  const row = (r: Pick<Run, "seconds"> & Partial<Run>) =>
    `${f(r.seconds)} s wall, ${f((r.seconds / count) * 1000, 1)} ms per image${r.cpuSeconds === undefined ? "" : `, CPU ${f(r.cpuSeconds)} s, peak RSS ${f(r.maxRssMiB!, 0)} MiB`}`;
  const ratio = result.ratios.cosignSequentialOverVigil;
  const listed = (d: { image: string; a: string; b: string }[]) =>
    d.length ? ` (${d.map((x) => `${x.image}: ${x.a}/${x.b}`).join(", ")})` : "";
  console.error(`
| measure (${count} images; Vigil median of ${runs} runs, whole process) | value |
|---|---|
| input | ${count} images (2 layers of 1 KiB each) in docker-registry on loopback: ${tally("good")} signed and attested by the trusted key, ${tally("other-key")} by another key, ${tally("unsigned")} unsigned |
| Vigil, \`vigil verify image\` ×${count} in one process, signature required | ${row(vigil)} |
| Vigil, the same, signature and SBOM attestation required | ${row(vigilSbom)} |
| cosign ${result.cosignVersion}, \`cosign verify --key\` once per image, sequential | ${row(cosign)} (CPU and RSS: summed / largest over the ${count} processes) |
| cosign, the same, 2 processes at a time | ${row(cosign2)} |
| **cosign (sequential) time / Vigil time** | **${f(ratio, 1)}x** (target ≥ 10x: ${ratio >= 10 ? "met" : "not met"}); 2 at a time: ${f(result.ratios.cosignTwoAtATimeOverVigil, 1)}x; with the SBOM required by Vigil: ${f(result.ratios.cosignSequentialOverVigilWithSbom, 1)}x |
| verdicts | Vigil passes ${result.vigil.passed}, cosign ${result.cosignSequential.passed}; **${vs.vigilCosign.length} differ**${listed(vs.vigilCosign)}; 2 at a time: ${vs.vigilCosignParallel.length} differ${listed(vs.vigilCosignParallel)} |
| verdicts against the intended ones | Vigil ${vs.vigilExpected.length} differ${listed(vs.vigilExpected)}; Vigil with SBOM ${vs.vigilSbomExpected.length}${listed(vs.vigilSbomExpected)}; cosign ${vs.cosignExpected.length}${listed(vs.cosignExpected)} |
`);
} finally {
  for (const fn of cleanups.reverse()) await fn();
}
