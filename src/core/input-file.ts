// Reading a file the user named: a file that cannot be read is bad input that names it and says why
// (ENOENT, EACCES…), never a stack trace. Every read is bounded: /dev/zero, a device that never ends or a
// file far larger than any input of its kind is refused once the cap is passed, without reading on.
import { closeSync, openSync, readSync } from "node:fs";
import { InputError } from "./errors.ts";

/** The default cap: far above any policy, key or configuration, far below what would hurt the process. */
export const DEFAULT_INPUT_CAP = 16 * 1024 * 1024;

/** A file to sign or verify (a release tarball, an image archive): large is legitimate, endless is not. */
export const ARTIFACT_INPUT_CAP = 4 * 1024 * 1024 * 1024;

/** The file's bytes, at most `maxBytes` of them; `what` names it in the error ("the trust policy", "the file"). */
export function readInputFile(file: string, what: string, maxBytes = DEFAULT_INPUT_CAP): Buffer {
  let fd: number;
  try {
    fd = openSync(file, "r");
  } catch (e) {
    throw new InputError(`${file}: cannot read ${what}: ${(e as NodeJS.ErrnoException).code ?? e}`);
  }
  try {
    return readBounded(fd, file, what, maxBytes);
  } finally {
    closeSync(fd);
  }
}

/** The file's text, as UTF-8. */
export function readInputText(file: string, what: string, maxBytes = DEFAULT_INPUT_CAP): string {
  return readInputFile(file, what, maxBytes).toString("utf8");
}

/** Reads until end of file or one byte past the cap, whichever is first (the size a stat reports can lie: /dev/zero says 0). */
function readBounded(fd: number, file: string, what: string, maxBytes: number): Buffer {
  const chunks: Buffer[] = [];
  let total = 0;
  for (;;) {
    const chunk = Buffer.allocUnsafe(Math.min(1 << 20, maxBytes + 1 - total));
    let n: number;
    try {
      n = readSync(fd, chunk, 0, chunk.length, null);
    } catch (e) {
      throw new InputError(`${file}: cannot read ${what}: ${(e as NodeJS.ErrnoException).code ?? e}`);
    }
    if (n === 0) return Buffer.concat(chunks, total);
    chunks.push(chunk.subarray(0, n));
    total += n;
    if (total > maxBytes) throw new InputError(`${file}: ${what} is larger than ${formatBytes(maxBytes)}; refusing to read more`);
  }
}

export function formatBytes(bytes: number): string {
  if (bytes >= 1024 * 1024 && bytes % (1024 * 1024) === 0) return `${bytes / (1024 * 1024)} MiB`;
  if (bytes >= 1024 && bytes % 1024 === 0) return `${bytes / 1024} KiB`;
  return `${bytes} bytes`;
}
