// A command: its help text and options; `run` parses nothing itself and returns the exit code. Its words
// and one-line summary are in app.ts's table, which loads only the command that runs.
import { parseArgs, type ParseArgsConfig } from "node:util";
import { InputError } from "../core/errors.ts";

type Options = NonNullable<ParseArgsConfig["options"]>;

export const common = {
  json: { type: "boolean" },
  help: { type: "boolean", short: "h" },
  debug: { type: "boolean" },
} as const satisfies Options;

/** A command's parsed options, typed from their declarations: a string option is `string | undefined`,
 *  a boolean one `boolean | undefined`, a `multiple` one an array. No command casts what it reads. */
export type Values<O extends Options> = ReturnType<
  typeof parseArgs<{ options: typeof common & O; strict: true; allowPositionals: true }>
>["values"];

export interface Command<O extends Options = Options> {
  usage: string;
  /** One line per option, shown by --help (a function when it must look something up). */
  help: string | (() => string);
  options: O;
  positionals?: boolean;
  run(values: Values<O>, positionals: string[]): Promise<number>;
}

/** Declares a command, so that `run` sees its options' values typed (see Values). */
export function defineCommand<const O extends Options>(command: Command<O>): Command<O> {
  return command;
}

export function parse(cmd: Command, argv: string[]) {
  try {
    return parseArgs({ args: argv, options: { ...common, ...cmd.options }, allowPositionals: cmd.positionals ?? false, strict: true });
  } catch (e) {
    throw new InputError(`${(e as Error).message.replace(/^TypeError \[[A-Z_]+\]: /, "")}\nusage: ${cmd.usage}`);
  }
}

export function required(values: Record<string, unknown>, name: string, cmd: Command): string {
  const v = values[name];
  if (typeof v !== "string" || v === "") throw new InputError(`--${name} is required\nusage: ${cmd.usage}`);
  return v;
}

export function helpText(cmd: Command, summary: string): string {
  const options = typeof cmd.help === "function" ? cmd.help() : cmd.help;
  return `${summary}\n\nusage: ${cmd.usage}\n\n${options}\n  --json          print machine-readable JSON\n  --debug         show stack traces on errors\n  -h, --help      show this help\n`;
}
