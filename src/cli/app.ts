// The vigil command: parses arguments, calls the stage, prints. Exit codes as README.md gives them.
import { ExitCode, VigilError } from "../core/errors.ts";
import { redactCredentials } from "../core/redact.ts";
import { helpText, parse, type Command } from "./command.ts";

/** A command's words, and its module, loaded only when it runs: start-up is part of every command's time,
 *  and one command's libraries (CEL, OpenPGP, the registry client) are of no use to another. */
interface Entry {
  words: string[];
  load(): Promise<Command>;
}

const commands: Entry[] = [
  { words: ["verify", "commits"], load: async () => (await import("./commands/verify-commits.ts")).verifyCommits },
  { words: ["verify", "release"], load: async () => (await import("./commands/verify-release.ts")).verifyRelease },
  { words: ["cosign"], load: async () => (await import("./commands/cosign.ts")).cosign },
  { words: ["approve"], load: async () => (await import("./commands/approve.ts")).approve },
  { words: ["record", "deployment"], load: async () => (await import("./commands/record-deployment.ts")).recordDeployment },
  { words: ["policy", "check"], load: async () => (await import("./commands/policy-check.ts")).policyCheck },
  { words: ["generate-key-pair"], load: async () => (await import("./commands/generate-key-pair.ts")).generateKeyPair },
  { words: ["sign", "blob"], load: async () => (await import("./commands/sign-blob.ts")).signBlob },
  { words: ["attest", "blob"], load: async () => (await import("./commands/sign-blob.ts")).attestBlob },
  { words: ["verify", "blob"], load: async () => (await import("./commands/verify-blob.ts")).verifyBlob },
  { words: ["sign"], load: async () => (await import("./commands/sign-image.ts")).signImageCommand },
  { words: ["attest"], load: async () => (await import("./commands/sign-image.ts")).attestImageCommand },
  { words: ["verify", "image"], load: async () => (await import("./commands/verify-image.ts")).verifyImage },
  { words: ["agent"], load: async () => (await import("./commands/agent.ts")).agent },
  { words: ["agent", "adopt"], load: async () => (await import("./commands/agent-adopt.ts")).agentAdopt },
  { words: ["audit", "init"], load: async () => (await import("./commands/audit.ts")).auditInit },
  { words: ["audit", "verify"], load: async () => (await import("./commands/audit.ts")).auditVerify },
  { words: ["audit", "prove"], load: async () => (await import("./commands/audit.ts")).auditProve },
  { words: ["audit", "show"], load: async () => (await import("./commands/audit.ts")).auditShow },
  { words: ["audit", "export"], load: async () => (await import("./commands/audit.ts")).auditExport },
  { words: ["audit", "explain"], load: async () => (await import("./commands/audit.ts")).auditExplain },
  { words: ["db", "import"], load: async () => (await import("./commands/db.ts")).dbImport },
  { words: ["db", "info"], load: async () => (await import("./commands/db.ts")).dbInfo },
  { words: ["scan"], load: async () => (await import("./commands/scan.ts")).scan },
  { words: ["sbom"], load: async () => (await import("./commands/sbom.ts")).sbom },
  { words: ["ci"], load: async () => (await import("./commands/ci.ts")).ci },
  { words: ["secrets", "scan"], load: async () => (await import("./commands/secrets.ts")).secretsScan },
  { words: ["secrets", "rules"], load: async () => (await import("./commands/secrets.ts")).secretsRules },
  { words: ["monitor"], load: async () => (await import("./commands/monitor.ts")).monitor },
  { words: ["findings"], load: async () => (await import("./commands/findings.ts")).findings },
  { words: ["admission"], load: async () => (await import("./commands/admission.ts")).admission },
  { words: ["admission", "break-glass"], load: async () => (await import("./commands/admission.ts")).admissionBreakGlass },
  { words: ["console"], load: async () => (await import("./commands/console.ts")).consoleCommand },
  { words: ["console", "token"], load: async () => (await import("./commands/console.ts")).consoleToken },
];

async function overview(): Promise<string> {
  const loaded = await Promise.all(commands.map(async (c) => ({ words: c.words, cmd: await c.load() })));
  const lines = loaded.map(({ words, cmd }) => `  vigil ${words.join(" ").padEnd(20)} ${cmd.summary}`);
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
      process.stdout.write(await overview());
      return argv.length === 0 ? ExitCode.badInput : ExitCode.ok;
    }
    if (area.length > 0 && (argv.length === 1 || argv.includes("--help"))) {
      const described = await Promise.all(area.map(async (c) => ({ words: c.words, cmd: await c.load() })));
      process.stdout.write(described.map(({ words, cmd }) => `vigil ${words.join(" ")}: ${cmd.summary}\n  ${cmd.usage}\n`).join("\n"));
      return argv.includes("--help") ? ExitCode.ok : ExitCode.badInput;
    }
    process.stderr.write(`vigil: unknown command "${argv.slice(0, 2).join(" ")}"\n\n${await overview()}`);
    return ExitCode.badInput;
  }
  const cmd = await found.entry.load();
  const { rest } = found;
  const debug = rest.includes("--debug");
  try {
    const { values, positionals } = parse(cmd, rest);
    if (values.help) {
      process.stdout.write(helpText(cmd));
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
