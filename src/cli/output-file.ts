// Files a command writes on request (--output, --pinned, --sbom-output): whole or not at all, so a
// reader never sees half a document. Only a regular file (or a new one) is replaced by rename: a device,
// a FIFO or /dev/stdout named as the output is written in place, since renaming over it would replace
// the device itself (as root, /dev/null became a regular file that way).
import { renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { InputError } from "../core/errors.ts";

export function writeOutputFile(path: string, text: string): void {
  const existing = statSync(path, { throwIfNoEntry: false });
  if (existing && !existing.isFile()) {
    writeFileSync(path, text);
    return;
  }
  const temporary = `${path}.vigil-${process.pid}.tmp`;
  try {
    // Created, never opened: a link planted at the temporary name (a shared folder) is refused, not followed.
    writeFileSync(temporary, text, { flag: "wx" });
    renameSync(temporary, path);
  } catch (e) {
    // A name that was taken is someone else's to remove.
    if ((e as NodeJS.ErrnoException).code === "EEXIST")
      throw new InputError(`${path}: ${temporary} is in the way (left by another run, or planted); remove it and retry`);
    rmSync(temporary, { force: true });
    throw e;
  }
}
