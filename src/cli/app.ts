// The vigil command: parses arguments, calls the stage, prints. Exit codes per DESIGN.md.
import { ExitCode, VigilError } from "../core/errors.ts";
import { helpText, parse, type Command } from "./command.ts";
import { verifyCommits } from "./commands/verify-commits.ts";
import { cosign } from "./commands/cosign.ts";
import { policyCheck } from "./commands/policy-check.ts";
import { generateKeyPair } from "./commands/generate-key-pair.ts";
import { attestBlob, signBlob } from "./commands/sign-blob.ts";
import { verifyBlob } from "./commands/verify-blob.ts";
import { attestImageCommand, signImageCommand } from "./commands/sign-image.ts";
import { verifyImage } from "./commands/verify-image.ts";

const commands: Command[] = [verifyCommits, cosign, policyCheck, generateKeyPair, signBlob, attestBlob, verifyBlob, signImageCommand, attestImageCommand, verifyImage];

function overview(): string {
  const lines = commands.map((c) => `  vigil ${c.words.join(" ").padEnd(20)} ${c.summary}`);
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

function find(argv: string[]): { cmd: Command; rest: string[] } | null {
  let best: { cmd: Command; rest: string[] } | null = null;
  for (const cmd of commands) {
    if (cmd.words.every((w, i) => argv[i] === w) && (!best || cmd.words.length > best.cmd.words.length)) {
      best = { cmd, rest: argv.slice(cmd.words.length) };
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
      process.stdout.write(area.map((c) => `vigil ${c.words.join(" ")}: ${c.summary}\n  ${c.usage}\n`).join("\n"));
      return argv.includes("--help") ? ExitCode.ok : ExitCode.badInput;
    }
    process.stderr.write(`vigil: unknown command "${argv.slice(0, 2).join(" ")}"\n\n${overview()}`);
    return ExitCode.badInput;
  }
  const { cmd, rest } = found;
  const debug = rest.includes("--debug");
  try {
    const { values, positionals } = parse(cmd, rest);
    if (values.help) {
      process.stdout.write(helpText(cmd));
      return ExitCode.ok;
    }
    return await cmd.run(values, positionals);
  } catch (e) {
    if (e instanceof VigilError) {
      process.stderr.write(`vigil: ${e.message}\n${debug && e.stack ? e.stack + "\n" : ""}`);
      return e.exitCode;
    }
    // Unexpected failures never pass: they report as an unavailable dependency or corrupt data.
    process.stderr.write(`vigil: ${(e as Error).message ?? e}\n${debug ? ((e as Error).stack ?? "") + "\n" : "(run with --debug for details)\n"}`);
    return ExitCode.unavailable;
  }
}
