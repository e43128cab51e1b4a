// Reading a file the user named: a file that cannot be read is bad input that names it and says why
// (ENOENT, EACCES…), never a stack trace.
import { readFileSync } from "node:fs";
import { InputError } from "./errors.ts";

/** The file's bytes; `what` names it in the error ("the trust policy", "the file"). */
export function readInputFile(file: string, what: string): Buffer {
  try {
    return readFileSync(file);
  } catch (e) {
    throw new InputError(`${file}: cannot read ${what}: ${(e as NodeJS.ErrnoException).code ?? e}`);
  }
}

/** The file's text, as UTF-8. */
export function readInputText(file: string, what: string): string {
  return readInputFile(file, what).toString("utf8");
}
