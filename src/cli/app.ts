// The vigil command: parses arguments, calls the stage, prints. Exit codes as README.md gives them.
import { ExitCode, VigilError } from "../core/errors.ts";
import { redactCredentials } from "../core/redact.ts";
import { helpText, parse, type Command } from "./command.ts";

/** A command's words and summary, and its module, loaded only when it runs: start-up is part of every
 *  command's time, and one command's libraries (CEL, OpenPGP, the registry client) are of no use to
 *  another; the summaries are here so that the overview (`vigil --help`) loads none of them. */
interface Entry {
  words: string[];
  summary: string;
  load(): Promise<Command>;
}

const commands: Entry[] = [
  {
    words: ["verify", "commits"],
    summary: "Revision gate: verify every commit from the last deployed revision to the target.",
    load: async () => (await import("./commands/verify-commits.ts")).verifyCommits,
  },
  {
    words: ["verify", "release"],
    summary: "Release verdict for one environment: the revision gate, approvals and promotion, as one verdict.",
    load: async () => (await import("./commands/verify-release.ts")).verifyRelease,
  },
  {
    words: ["cosign"],
    summary: "Co-sign a commit (a detached signature over the commit, stored under refs/vigil/cosign/).",
    load: async () => (await import("./commands/cosign.ts")).cosign,
  },
  {
    words: ["approve"],
    summary: "Approve a revision for an environment: a signed in-toto statement stored under refs/vigil/approvals/.",
    load: async () => (await import("./commands/approve.ts")).approve,
  },
  {
    words: ["record", "deployment"],
    summary: "Record that a revision was deployed to an environment and is healthy, signed with its agent key (promotion's evidence).",
    load: async () => (await import("./commands/record-deployment.ts")).recordDeployment,
  },
  {
    words: ["policy", "check"],
    summary: "Policy gate: check manifests against ValidatingAdmissionPolicies (built-in packs and your own).",
    load: async () => (await import("./commands/policy-check.ts")).policyCheck,
  },
  {
    words: ["generate-key-pair"],
    summary: "Make a signing key pair as cosign does (PREFIX.key encrypted with a password, PREFIX.pub).",
    load: async () => (await import("./commands/generate-key-pair.ts")).generateKeyPair,
  },
  {
    words: ["sign", "blob"],
    summary: "Sign a file with a cosign key: a Sigstore bundle (cosign verify-blob --bundle accepts it) and/or a bare signature.",
    load: async () => (await import("./commands/sign-blob.ts")).signBlob,
  },
  {
    words: ["attest", "blob"],
    summary: "Attest a file with a cosign key: an in-toto statement about it in a DSSE envelope, as a Sigstore bundle.",
    load: async () => (await import("./commands/sign-blob.ts")).attestBlob,
  },
  {
    words: ["verify", "blob"],
    summary: "Verify a file's Sigstore bundle (signature or in-toto attestation), offline, as cosign verify-blob.",
    load: async () => (await import("./commands/verify-blob.ts")).verifyBlob,
  },
  {
    words: ["sign"],
    summary: "Sign an image in a registry with a cosign key (cosign verify --key accepts it); the tag's digest is what is signed.",
    load: async () => (await import("./commands/sign-image.ts")).signImageCommand,
  },
  {
    words: ["attest"],
    summary:
      "Attest an image in a registry with a cosign key: an in-toto statement about its digest (cosign verify-attestation accepts it).",
    load: async () => (await import("./commands/sign-image.ts")).attestImageCommand,
  },
  {
    words: ["verify", "image"],
    summary: "Artifact gate: verify images (or every image in manifests) against the trust policy's images rules.",
    load: async () => (await import("./commands/verify-image.ts")).verifyImage,
  },
  {
    words: ["agent"],
    summary: "The GitOps agent: reconcile each environment's verified revision into its cluster, through every gate.",
    load: async () => (await import("./commands/agent.ts")).agent,
  },
  {
    words: ["agent", "adopt"],
    summary: "Let an environment adopt objects that exist in its cluster and were not made by it, recorded (who, why) in the audit log.",
    load: async () => (await import("./commands/agent-adopt.ts")).agentAdopt,
  },
  {
    words: ["audit", "init"],
    summary: "Create an audit log and its Ed25519 signing key; prints the verifier key auditors check it with.",
    load: async () => (await import("./commands/audit.ts")).auditInit,
  },
  {
    words: ["audit", "verify"],
    summary: "Verify an audit log whole: every checkpoint's signature, every entry, the tree, and a checkpoint saved earlier.",
    load: async () => (await import("./commands/audit.ts")).auditVerify,
  },
  {
    words: ["audit", "prove"],
    summary: "Prove an entry is in the log (inclusion), or that the log extends an older size (consistency).",
    load: async () => (await import("./commands/audit.ts")).auditProve,
  },
  {
    words: ["audit", "show"],
    summary: "Show the log's records as a table (or JSON), each entry's bytes checked against its hash.",
    load: async () => (await import("./commands/audit.ts")).auditShow,
  },
  {
    words: ["audit", "export"],
    summary: "Export the log's records as JSON lines (for a SIEM): index, leaf hash and the record, one per line.",
    load: async () => (await import("./commands/audit.ts")).auditExport,
  },
  {
    words: ["audit", "explain"],
    summary: "Why is this running? The recorded chain that put a resource or image in an environment, each link proven.",
    load: async () => (await import("./commands/audit.ts")).auditExplain,
  },
  {
    words: ["db", "import"],
    summary: "Load OSV advisories (JSON files, folders, all.zip exports) into the vulnerability database.",
    load: async () => (await import("./commands/db.ts")).dbImport,
  },
  {
    words: ["db", "info"],
    summary: "Show what the vulnerability database holds (advisories per ecosystem, schema, last import).",
    load: async () => (await import("./commands/db.ts")).dbInfo,
  },
  {
    words: ["scan"],
    summary: "Vulnerability scan: match an SBOM's or lockfile's components against the OSV database, with VEX.",
    load: async () => (await import("./commands/scan.ts")).scan,
  },
  {
    words: ["sbom"],
    summary: "SBOM of an image, OCI layout, docker archive or directory (CycloneDX 1.6, SPDX 2.3 or a table).",
    load: async () => (await import("./commands/sbom.ts")).sbom,
  },
  {
    words: ["ci"],
    summary: "CI: SBOM → vulnerability scan (the gate) → sign → attest SBOM and SLSA provenance → push, for one image.",
    load: async () => (await import("./commands/ci.ts")).ci,
  },
  {
    words: ["secrets", "scan"],
    summary: "Secrets in the config repository: its working tree, a range of commits, or all of its history.",
    load: async () => (await import("./commands/secrets.ts")).secretsScan,
  },
  {
    words: ["secrets", "rules"],
    summary: "The secret scanner's rules: their ids (for secrets.allow in the trust policy) and what they find.",
    load: async () => (await import("./commands/secrets.ts")).secretsRules,
  },
  {
    words: ["monitor"],
    summary: "Continuous security: keep what is deployed judged against advisory feeds and VEX, and record findings.",
    load: async () => (await import("./commands/monitor.ts")).monitor,
  },
  {
    words: ["findings"],
    summary: "List the monitor's open findings about what is deployed (exit 1 when any is not suppressed).",
    load: async () => (await import("./commands/findings.ts")).findings,
  },
  {
    words: ["admission"],
    summary: "The validating admission webhook: the cluster refuses Pods whose images Vigil did not verify.",
    load: async () => (await import("./commands/admission.ts")).admission,
  },
  {
    words: ["admission", "break-glass"],
    summary: "Sign a break-glass token that admits one object once (an admin of the trust policy, in an emergency).",
    load: async () => (await import("./commands/admission.ts")).admissionBreakGlass,
  },
  {
    words: ["console"],
    summary: "Serve the web console and its read-only API (HTTPS) over the audit log, the monitor's findings and approvals.",
    load: async () => (await import("./commands/console.ts")).consoleCommand,
  },
  {
    words: ["console", "token"],
    summary: "Make a bearer token for the console: prints the token (give it to its holder) and the tokens entry for the configuration.",
    load: async () => (await import("./commands/console.ts")).consoleToken,
  },
];

function overview(): string {
  const lines = commands.map(({ words, summary }) => `  vigil ${words.join(" ").padEnd(20)} ${summary}`);
  return [
    "Vigil: nothing reaches the cluster unless it was signed by people trusted to change it.",
    "",
    "commands:",
    ...lines,
    "",
    "Run 'vigil COMMAND --help' for a command's options.",
    "Exit codes: 0 passed, 1 blocked, 2 bad input or usage, 3 a dependency was unavailable.",
    "",
  ].join("\n");
}

/** The command whose words start argv, the longest such ("sign blob" before "sign"). */
function find(argv: string[]): { entry: Entry; rest: string[] } | null {
  let best: { entry: Entry; rest: string[] } | null = null;
  for (const entry of commands) {
    if (entry.words.every((w, i) => argv[i] === w) && (!best || entry.words.length > best.entry.words.length)) {
      best = { entry, rest: argv.slice(entry.words.length) };
    }
  }
  return best;
}

export async function main(argv: string[]): Promise<number> {
  const found = find(argv);
  if (!found) {
    const area = commands.filter((c) => c.words[0] === argv[0]);
    if (argv.length === 0 || argv[0] === "--help" || argv[0] === "-h" || argv[0] === "help") {
      process.stdout.write(overview());
      return argv.length === 0 ? ExitCode.badInput : ExitCode.ok;
    }
    if (area.length > 0 && (argv.length === 1 || argv.includes("--help"))) {
      const described = await Promise.all(area.map(async (c) => ({ ...c, cmd: await c.load() })));
      process.stdout.write(described.map(({ words, summary, cmd }) => `vigil ${words.join(" ")}: ${summary}\n  ${cmd.usage}\n`).join("\n"));
      return argv.includes("--help") ? ExitCode.ok : ExitCode.badInput;
    }
    process.stderr.write(`vigil: unknown command "${argv.slice(0, 2).join(" ")}"\n\n${overview()}`);
    return ExitCode.badInput;
  }
  const cmd = await found.entry.load();
  const { rest } = found;
  const debug = rest.includes("--debug");
  try {
    const { values, positionals } = parse(cmd, rest);
    if (values.help) {
      process.stdout.write(helpText(cmd, found.entry.summary));
      return ExitCode.ok;
    }
    return await cmd.run(values, positionals);
  } catch (e) {
    // Messages and stacks may quote a repository URL with its token: redacted like every other output.
    if (e instanceof VigilError) {
      process.stderr.write(redactCredentials(`vigil: ${e.message}\n${debug && e.stack ? e.stack + "\n" : ""}`));
      return e.exitCode;
    }
    // Unexpected failures never pass: they report as an unavailable dependency or corrupt data.
    process.stderr.write(
      redactCredentials(
        `vigil: ${(e as Error).message ?? e}\n${debug ? ((e as Error).stack ?? "") + "\n" : "(run with --debug for details)\n"}`,
      ),
    );
    return ExitCode.unavailable;
  }
}
