import { readFileSync } from "node:fs";
import { isOneOf } from "../options.ts";
import { InputError } from "../../core/errors.ts";
import type { Check } from "../../core/verdict.ts";
import { makeVerdict } from "../../core/verdict.ts";
import { openRepo, resolveRevision } from "../../git/repo.ts";
import { Allowlist } from "../../secrets/allowlist.ts";
import { scanChecks, type ScanTarget } from "../../secrets/checks.ts";
import { secretRules } from "../../secrets/rules.ts";
import { bufferedWriter, clearProgress, progress, verdictSink } from "../output.ts";
import { toSarif } from "../sarif.ts";
import { defineCommand, type Values } from "../command.ts";

const formats = ["table", "json", "sarif"] as const;

export const secretsScan = defineCommand({
  usage: "vigil secrets scan [--repo PATH] [--trust FILE] [--from REV] [--to REV] [--all-history] [--json | -o table|json|sarif]",
  help: [
    "  --repo PATH           the repository (default: the current directory)",
    "  --trust FILE          trust policy whose secrets.allow entries allow known non-secrets",
    "  --from REV            scan the commits after REV (exclusive) up to --to, as the revision gate does",
    "  --to REV              the last commit of the range (default: HEAD)",
    "  --all-history         scan every commit reachable from any ref",
    "  -o, --output FORMAT   table (default), json (the verdict) or sarif (for code scanning)",
    "  Without --from, --to or --all-history, the working tree is scanned (tracked and unignored files).",
    "  Exit 1 when anything is found; a finding names the commit, file, line, rule and a fingerprint, never the secret.",
  ].join("\n"),
  options: {
    repo: { type: "string" },
    trust: { type: "string" },
    from: { type: "string" },
    to: { type: "string" },
    "all-history": { type: "boolean" },
    output: { type: "string", short: "o" },
  },
  async run(values) {
    const format = values.json ? "json" : (values.output ?? "table");
    if (!isOneOf(format, formats)) throw new InputError(`-o must be one of ${formats.join(", ")}\nusage: ${this.usage}`);
    const allHistory = values["all-history"] === true;
    if (allHistory && (values.from || values.to))
      throw new InputError(`--all-history scans every commit: give it without --from and --to\nusage: ${this.usage}`);
    // The trust policy's reader (its YAML, schema and expression libraries) is loaded only when one is given:
    // a third of the command's start-up otherwise.
    const allowlist = Allowlist.fromPolicy(
      values.trust ? await (await import("../../trust/policy.ts")).loadTrustPolicyFile(values.trust) : undefined,
    );
    const location = values.repo ?? ".";
    const repo = await openRepo(location);
    try {
      const target = await scanTarget(repo, location, values, allHistory);
      const subject = {
        repo: repo.name,
        scanned:
          "workTree" in target
            ? "working tree"
            : allHistory
              ? "all history"
              : `${"from" in target && target.from ? `${target.from}..` : ""}${"to" in target ? target.to : ""}`,
      };
      const checks = scanChecks(repo, target, allowlist, progress("scanned:"));
      const verdict = format === "sarif" ? await printSarif(subject, checks) : await printVerdict(subject, checks, format === "json");
      clearProgress();
      return verdict === "pass" ? 0 : 1;
    } finally {
      repo.close();
    }
  },
});

async function scanTarget(
  repo: Awaited<ReturnType<typeof openRepo>>,
  location: string,
  values: Values<typeof secretsScan.options>,
  allHistory: boolean,
): Promise<ScanTarget> {
  if (allHistory) return { allHistory: true };
  if (!values.from && !values.to) return { workTree: location };
  const to = (await resolveRevision(repo, values.to ?? "HEAD")).commit;
  const from = values.from ? (await resolveRevision(repo, values.from)).commit : undefined;
  return from ? { to, from } : { to };
}

async function printVerdict(subject: Record<string, string>, checks: AsyncIterable<Check>, json: boolean): Promise<string> {
  const sink = verdictSink(subject, json);
  for await (const c of checks) sink.add(c);
  return sink.end();
}

async function printSarif(subject: Record<string, string>, checks: AsyncIterable<Check>): Promise<string> {
  const all: Check[] = [];
  for await (const c of checks) all.push(c);
  const verdict = makeVerdict(subject, all);
  process.stdout.write(JSON.stringify(toSarif(verdict, version()), null, 2) + "\n");
  return verdict.verdict;
}

export const secretsRules = defineCommand({
  usage: "vigil secrets rules [--json]",
  help: "",
  options: {},
  async run(values) {
    const rows = secretRules.map((r) => ({ id: r.id, description: r.description, ...(r.entropy ? { entropy: r.entropy } : {}) }));
    const out = bufferedWriter(process.stdout);
    if (values.json) out.write(JSON.stringify(rows, null, 2) + "\n");
    else for (const r of rows) out.write(`${r.id.padEnd(32)} ${r.description}${r.entropy ? ` (entropy ≥ ${r.entropy})` : ""}\n`);
    out.flush();
    return 0;
  },
});

function version(): string {
  return (JSON.parse(readFileSync(new URL("../../../package.json", import.meta.url), "utf8")) as { version: string }).version;
}
