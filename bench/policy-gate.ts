// Benchmark (policy gate): N manifests of mixed kinds against every built-in pack with
// `vigil policy check`, on one core; in the same run, the kyverno CLI (pinned, built from source)
// with its own Pod Security subrule at the Baseline and Restricted levels on the same files. Reported:
// resource-evaluations per second, wall and CPU time, peak RSS, the ratios, and every resource whose
// Restricted (and Baseline) verdict differs between the two engines.
//   node bench/policy-gate.ts [--manifests 10000] [--runs 3] [--seed 1]
import { mkdtempSync, rmSync } from "node:fs";
import { availableParallelism, loadavg, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { loadPack, loadPacks, packNames } from "../src/policy/packs.ts";
import { kyvernoBinary, kyvernoVersion } from "./lib/kyverno.ts";
import { machine, median, timeCommand, timed } from "./lib/measure.ts";
import { mixedManifests } from "./lib/mixed-manifests.ts";

const { values } = parseArgs({
  options: {
    manifests: { type: "string", default: "10000" },
    runs: { type: "string", default: "3" },
    seed: { type: "string", default: "1" },
  },
});
const loadAtStart = loadavg()[0]!;
const count = Number(values.manifests);
const runs = Number(values.runs);
const root = resolve(import.meta.dirname, "..");
const here = join(root, "bench", "policy-gate");
// What a user runs: the launcher, with the Node.js and V8 options it sets.
const vigil = join(root, "bin", "vigil");
const params = join(here, "supply-chain-params.yaml");
const kyvernoPolicies = { baseline: join(here, "kyverno-pss-baseline.yaml"), restricted: join(here, "kyverno-pss-restricted.yaml") };
const pssPacks = ["pss-baseline", "pss-restricted"] as const;

/** What one engine said about one resource for one policy: its checks' statuses and messages. */
type Findings = Map<string, Map<string, { status: "pass" | "fail"; messages: string[] }>>;

interface Run {
  seconds: number;
  cpuSeconds: number;
  maxRssMiB: number;
  /** resource → policy → outcome; its size summed over resources is the number of evaluations. */
  findings: Findings;
}

const evaluations = (f: Findings) => [...f.values()].reduce((n, policies) => n + policies.size, 0);

/** Every pass, fail, warn or error is an evaluation (skip is not); an error blocks, as a failure does. */
function record(f: Findings, resource: string, policy: string, status: string, message: string): void {
  if (!["pass", "fail", "warn", "error"].includes(status)) return;
  const policies = f.get(resource) ?? f.set(resource, new Map()).get(resource)!;
  const entry = policies.get(policy) ?? policies.set(policy, { status: "pass", messages: [] }).get(policy)!;
  if (status === "fail" || status === "error") {
    entry.status = "fail";
    entry.messages.push(message);
  }
}

/** `vigil policy check -o json`, pinned to `cpus` (all cores when not given); exit 1 (a policy failed)
 *  is the expected verdict. */
function vigilRun(packs: readonly string[], dir: string, cpus?: string): Run {
  const args = ["policy", "check", ...packs.flatMap((p) => ["--pack", p]), "--policy", params, "-o", "json", dir];
  const r = timed(vigil, args, cpus);
  if (r.status !== 0 && r.status !== 1) throw new Error(`vigil policy check exited ${r.status}`);
  const findings: Findings = new Map();
  for (const c of JSON.parse(r.stdout).checks as { rule: string; status: string; subject: string; message: string }[]) {
    record(findings, c.subject, c.rule, c.status, c.message);
  }
  return { seconds: r.seconds, cpuSeconds: r.cpuSeconds, maxRssMiB: r.maxRssMiB, findings };
}

interface KyvernoResult {
  policy: string;
  rule: string;
  result: string;
  message?: string;
  resources?: { kind: string; namespace?: string; name: string }[];
  subjects?: { kind: string; namespace?: string; name: string }[];
}

/** `kubectl-kyverno apply … --policy-report --output-format json`, as a user runs it (all cores), or
 *  pinned to `cpus`. */
function kyvernoRun(binary: string, policies: readonly string[], dir: string, cpus?: string): Run {
  const r = timed(binary, ["apply", ...policies, "--resource", dir, "--policy-report", "--output-format", "json"], cpus);
  const findings: Findings = new Map();
  const reports = r.stdout
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as { results?: KyvernoResult[] });
  if (reports.length === 0) throw new Error(`kyverno printed no policy report (exit ${r.status}):\n${r.stdout.slice(0, 2000)}`);
  for (const result of reports.flatMap((report) => report.results ?? [])) {
    for (const s of result.subjects ?? result.resources ?? []) {
      // The same subject naming as Vigil's checks (Kind/namespace/name), so verdicts line up.
      record(findings, `${s.kind}/${s.namespace ? `${s.namespace}/` : ""}${s.name}`, result.policy, result.result, result.message ?? "");
    }
  }
  return { seconds: r.seconds, cpuSeconds: r.cpuSeconds, maxRssMiB: r.maxRssMiB, findings };
}

/** The run with the median wall time, so its other figures belong to one real run. */
function medianRun(make: () => Run): Run {
  const all = Array.from({ length: runs }, make);
  const m = median(all.map((r) => r.seconds));
  return all.find((r) => r.seconds === m)!;
}

const policyNames = (pack: string) =>
  loadPack(pack)
    .filter((s) => s.object.kind === "ValidatingAdmissionPolicy")
    .map((s) => s.object.metadata!.name!);

/** A resource's verdict at a level: fail when any of the level's policies failed it; absent if none applied. */
function levelVerdicts(f: Findings, policies: ReadonlySet<string>): Map<string, { status: "pass" | "fail"; messages: string[] }> {
  const out = new Map<string, { status: "pass" | "fail"; messages: string[] }>();
  for (const [resource, byPolicy] of f) {
    for (const [policy, outcome] of byPolicy) {
      if (!policies.has(policy)) continue;
      const v = out.get(resource) ?? out.set(resource, { status: "pass", messages: [] }).get(resource)!;
      if (outcome.status === "fail") {
        v.status = "fail";
        v.messages.push(...outcome.messages.map((m) => `${policy}: ${m}`));
      }
    }
  }
  return out;
}

function compareLevel(vigil: Run, vigilPolicies: ReadonlySet<string>, kyverno: Run, kyvernoPolicy: string) {
  const v = levelVerdicts(vigil.findings, vigilPolicies);
  const k = levelVerdicts(kyverno.findings, new Set([kyvernoPolicy]));
  const differences: { resource: string; vigil: string; kyverno: string; vigilSays: string[]; kyvernoSays: string[] }[] = [];
  let agree = 0;
  for (const resource of new Set([...v.keys(), ...k.keys()])) {
    const a = v.get(resource);
    const b = k.get(resource);
    if (a?.status === b?.status) {
      agree++;
      continue;
    }
    differences.push({
      resource,
      vigil: a?.status ?? "not evaluated",
      kyverno: b?.status ?? "not evaluated",
      vigilSays: a?.messages ?? [],
      kyvernoSays: b?.messages ?? [],
    });
  }
  const tally: Record<string, number> = {};
  for (const d of differences)
    tally[`vigil ${d.vigil} / kyverno ${d.kyverno}`] = (tally[`vigil ${d.vigil} / kyverno ${d.kyverno}`] ?? 0) + 1;
  const failing = (m: typeof v) => [...m.values()].filter((x) => x.status === "fail").length;
  return {
    resources: v.size,
    kyvernoResources: k.size,
    vigilFails: failing(v),
    kyvernoFails: failing(k),
    agree,
    differ: differences.length,
    tally,
    examples: pickExamples(differences),
  };
}

/** A few differences of each kind, so one frequent cause does not hide the others. */
function pickExamples<T extends { vigil: string; kyverno: string }>(differences: T[]): T[] {
  const byKind = new Map<string, T[]>();
  for (const d of differences) {
    const list = byKind.get(`${d.vigil}/${d.kyverno}`) ?? byKind.set(`${d.vigil}/${d.kyverno}`, []).get(`${d.vigil}/${d.kyverno}`)!;
    if (list.length < 4) list.push(d);
  }
  return [...byKind.values()].flat();
}

const work = mkdtempSync(join(tmpdir(), "vigil-bench-policy-"));
const input = mixedManifests(join(work, "manifests"), count, Number(values.seed));
console.error(
  `${input.count} manifests in ${input.dir}: ${Object.entries(input.byKind)
    .map(([k, n]) => `${k} ${n}`)
    .join(", ")}`,
);

const packs = packNames();
const missing = pssPacks.filter((p) => !packs.includes(p));
for (const p of missing) console.error(`pack missing: ${p} (the PSS comparison needs it)`);

console.error(`kyverno CLI ${kyvernoVersion}…`);
const binary = kyvernoBinary(root);

console.error(`vigil policy check, all packs (${packs.join(", ")}), ${runs} runs…`);
const vigilAll = medianRun(() => vigilRun(packs, input.dir, "0"));
const vigilPss = missing.length === 0 ? medianRun(() => vigilRun(pssPacks, input.dir, "0")) : undefined;
console.error(`vigil policy check, PSS packs, all cores, ${runs} runs…`);
const vigilPssAllCores = missing.length === 0 ? medianRun(() => vigilRun(pssPacks, input.dir)) : undefined;
const phases = JSON.parse(
  timeCommand("taskset", ["-c", "0", process.execPath, join(root, "bench", "lib", "policy-phases.ts"), input.dir, params, ...packs]).stdout,
);

console.error(`kubectl-kyverno apply, Pod Security baseline + restricted, ${runs} runs…`);
const kyverno = medianRun(() => kyvernoRun(binary, [kyvernoPolicies.baseline, kyvernoPolicies.restricted], input.dir));
console.error("kubectl-kyverno apply, the same, pinned to one core, 1 run…");
const kyvernoOneCore = kyvernoRun(binary, [kyvernoPolicies.baseline, kyvernoPolicies.restricted], input.dir, "0");

const rate = (r: Run) => evaluations(r.findings) / r.seconds;
// On a shared, loaded machine wall time is mostly waiting for a core: evaluations per CPU-second is the
// steadier figure of the engine's own speed, reported beside the load average.
const cpuRate = (r: Run) => evaluations(r.findings) / r.cpuSeconds;
const loadAtEnd = loadavg()[0]!;
const summary = (r: Run) => ({
  seconds: r.seconds,
  cpuSeconds: r.cpuSeconds,
  maxRssMiB: r.maxRssMiB,
  resourcesEvaluated: r.findings.size,
  evaluations: evaluations(r.findings),
  evaluationsPerSecond: rate(r),
  evaluationsPerCpuSecond: cpuRate(r),
});
const restrictedLevel = new Set(missing.length === 0 ? pssPacks.flatMap(policyNames) : []);
const verdicts = vigilPss && {
  // The Restricted level of the standard includes every Baseline control, so Vigil's verdict at that
  // level is pss-baseline and pss-restricted together, whatever each pack repeats of the other.
  restricted: compareLevel(vigilPss, restrictedLevel, kyverno, "bench-pss-restricted"),
  baseline: compareLevel(vigilPss, new Set(policyNames("pss-baseline")), kyverno, "bench-pss-baseline"),
};
const result = {
  machine: machine(),
  loadAverage: { start: loadAtStart, end: loadAtEnd },
  manifests: input.count,
  byKind: input.byKind,
  packs,
  missingPacks: missing,
  vigilAllPacks: summary(vigilAll),
  vigilAllPacksPhases: phases,
  vigilPss: vigilPss && summary(vigilPss),
  vigilPssAllCores: vigilPssAllCores && summary(vigilPssAllCores),
  kyverno: { version: kyvernoVersion, ...summary(kyverno) },
  kyvernoOneCore: summary(kyvernoOneCore),
  ratios: {
    pssWallTimeKyvernoOverVigilAllCores: vigilPssAllCores && kyverno.seconds / vigilPssAllCores.seconds,
    pssWallTimeKyvernoOverVigilOneCore: vigilPss && kyvernoOneCore.seconds / vigilPss.seconds,
    pssCpuTimeKyvernoOverVigil: vigilPss && kyverno.cpuSeconds / vigilPss.cpuSeconds,
    allPacksWallTimeKyvernoOverVigil: kyverno.seconds / vigilAll.seconds,
    allPacksRateVigilOverKyverno: rate(vigilAll) / rate(kyverno),
  },
  verdicts,
};
console.log(JSON.stringify(result, null, 2));
rmSync(work, { recursive: true, force: true });

const f = (x: number, d = 2) => x.toLocaleString("en-US", { minimumFractionDigits: d, maximumFractionDigits: d });
const figures = (r: Run) =>
  `${f(r.seconds)} s wall, CPU ${f(r.cpuSeconds)} s, ${f(evaluations(r.findings), 0)} resource-evaluations of ${f(r.findings.size, 0)} resources: **${f(rate(r), 0)}/s**; peak RSS ${f(r.maxRssMiB, 0)} MiB`;
const met = (ok: boolean) => (ok ? "met" : "not met");
const policyCount = (names: readonly string[]) => loadPacks(names).filter((s) => s.object.kind === "ValidatingAdmissionPolicy").length;
const pssRatio = result.ratios.pssWallTimeKyvernoOverVigilAllCores;
const pssOneCore = result.ratios.pssWallTimeKyvernoOverVigilOneCore;
const verdictRow = (level: "restricted" | "baseline") => {
  const v = verdicts?.[level];
  return v
    ? `| ${level[0]!.toUpperCase()}${level.slice(1)} level, per resource | ${f(v.resources, 0)} resources; Vigil fails ${f(v.vigilFails, 0)}, kyverno fails ${f(v.kyvernoFails, 0)}; **${f(v.differ, 0)} differ** ${v.differ ? JSON.stringify(v.tally) : ""} |`
    : `| ${level} verdicts | pack missing |`;
};
console.error(`
| measure (median of ${runs} runs, whole process) | value |
|---|---|
| input | ${f(input.count, 0)} manifests, seed ${values.seed}: ${Object.entries(input.byKind)
  .map(([k, n]) => `${k} ${n}`)
  .join(", ")} |
| Vigil, all ${packs.length} packs (${policyCount(packs)} policies), 1 core | ${figures(vigilAll)} |
| … of which, in-process: parse / load packs / compile + evaluate | ${f(phases.parse)} s / ${f(phases.loadPacks)} s / ${f(phases.evaluate)} s |
| Vigil, pss-baseline + pss-restricted${vigilPss ? ` (${policyCount(pssPacks)} policies), 1 core | ${figures(vigilPss)}` : " | pack missing"} |
| Vigil, the same, all cores (${availableParallelism()}) | ${vigilPssAllCores ? figures(vigilPssAllCores) : "pack missing"} |
| kyverno ${kyvernoVersion}, podSecurity baseline + restricted (2 policies), all cores | ${figures(kyverno)} |
| kyverno, the same, 1 core (one run) | ${figures(kyvernoOneCore)} |
| **PSS on the same files, all cores each: kyverno time / Vigil time** | ${pssRatio ? `**${f(pssRatio, 1)}x** wall (target ≥ 5x: ${met(pssRatio >= 5)})` : "pack missing"} |
| PSS, one core each: kyverno time / Vigil time | ${pssOneCore ? `${f(pssOneCore, 1)}x wall; CPU time kyverno (all cores) / Vigil (1 core): ${f(result.ratios.pssCpuTimeKyvernoOverVigil!, 1)}x` : "pack missing"} |
| All packs: Vigil evaluations/s / kyverno evaluations/s | ${f(result.ratios.allPacksRateVigilOverKyverno, 1)}x (wall time kyverno / Vigil: ${f(result.ratios.allPacksWallTimeKyvernoOverVigil, 1)}x) |
| **Vigil, all packs, resource-evaluations/s on one core** | **${f(rate(vigilAll), 0)}** (target ≥ 20,000: ${met(rate(vigilAll) >= 20_000)}) |
| Vigil, all packs, resource-evaluations per CPU-second | ${f(cpuRate(vigilAll), 0)} (load average ${f(loadAtStart, 1)} at the start, ${f(loadAtEnd, 1)} at the end, on ${availableParallelism()} cores) |
${verdictRow("restricted")}
${verdictRow("baseline")}
`);
for (const level of ["restricted", "baseline"] as const) {
  for (const d of verdicts?.[level].examples ?? []) {
    const said = (messages: string[]) => (messages.join("; ") || "-").slice(0, 300);
    console.error(
      `${level}: ${d.resource}: Vigil ${d.vigil}, kyverno ${d.kyverno}\n  Vigil: ${said(d.vigilSays)}\n  kyverno: ${said(d.kyvernoSays)}`,
    );
  }
}
