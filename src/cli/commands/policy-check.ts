import { readFileSync } from "node:fs";
import { InputError } from "../../core/errors.ts";
import { integerOption, isOneOf } from "../options.ts";
import { makeVerdict } from "../../core/verdict.ts";
import { packNames } from "../../policy/packs.ts";
import { checkSources } from "../../policy/parallel.ts";
import { verdictSink } from "../output.ts";
import { toSarif } from "../sarif.ts";
import { defineCommand } from "../command.ts";
import { loadTrustPolicyFile } from "../../trust/policy.ts";

const formats = ["table", "json", "sarif"] as const;

export const policyCheck = defineCommand({
  usage:
    "vigil policy check [--pack NAME]... [--policy FILE|DIR]... [--exceptions DIR] [--trust FILE] [-o table|json|sarif] [--jobs N] PATH...",
  help: () =>
    [
      `  --pack NAME           a built-in pack: ${packNames().join(", ")}`,
      "  --policy FILE|DIR     ValidatingAdmissionPolicies, their bindings and params (repeatable)",
      "  --exceptions DIR      PolicyException objects (vigil.dev/v1alpha1)",
      "  --trust FILE          a trust policy whose kinds say where custom kinds keep pod specs and containers",
      "  -o, --output FORMAT   table (default), json (the verdict) or sarif (for code scanning)",
      "  --jobs N              threads for large sets (default: the available cores less one; 1 for one thread)",
      "  PATH...               manifest files and folders (YAML, multi-document, JSON, List kinds)",
    ].join("\n"),
  options: {
    pack: { type: "string", multiple: true },
    policy: { type: "string", multiple: true },
    exceptions: { type: "string" },
    trust: { type: "string" },
    output: { type: "string", short: "o" },
    jobs: { type: "string" },
  },
  positionals: true,
  async run(values, positionals) {
    const format = values.json ? "json" : (values.output ?? "table");
    if (!isOneOf(format, formats)) throw new InputError(`-o must be one of ${formats.join(", ")}\nusage: ${this.usage}`);
    if (positionals.length === 0) throw new InputError(`give at least one manifest file or folder\nusage: ${this.usage}`);
    const packs = values.pack ?? [];
    const policyPaths = values.policy ?? [];
    if (packs.length === 0 && policyPaths.length === 0) throw new InputError(`give at least one --pack or --policy\nusage: ${this.usage}`);
    const jobs = integerOption(values.jobs, "--jobs", { min: 1, unit: "threads" });
    const exceptionsPath = values.exceptions;
    const kinds = values.trust ? (await loadTrustPolicyFile(values.trust)).doc.kinds : undefined;
    const sources = {
      packs,
      policyPaths,
      manifestPaths: positionals,
      ...(exceptionsPath ? { exceptionsPath } : {}),
      ...(kinds && { kinds }),
    };
    const checks = await checkSources(sources, jobs === undefined ? {} : { threads: jobs });
    const verdict = makeVerdict({ manifests: positionals.join(" "), packs: packs.join(",") || undefined }, checks);
    if (format === "sarif") process.stdout.write(JSON.stringify(toSarif(verdict, version()), null, 2) + "\n");
    else {
      const sink = verdictSink(verdict.subject, format === "json");
      checks.forEach((c) => sink.add(c));
      sink.end();
    }
    return verdict.verdict === "pass" ? 0 : 1;
  },
});

function version(): string {
  return (JSON.parse(readFileSync(new URL("../../../package.json", import.meta.url), "utf8")) as { version: string }).version;
}
