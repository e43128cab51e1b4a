// Files a command writes on request (--output, --pinned, --sbom-output): whole or not at all, so a
// reader never sees half a document. Only a regular file (or a new one) is replaced by rename: a device,
// a FIFO or /dev/stdout named as the output is written in place, since renaming over it would replace
// the device itself (as root, /dev/null became a regular file that way).
import { renameSync, statSync, unlinkSync, writeFileSync } from "node:fs";

export function writeOutputFile(path: string, text: string): void {
  const existing = statSync(path, { throwIfNoEntry: false });
  if (existing && !existing.isFile()) {
    writeFileSync(path, text);
    return;
  }
  const temporary = `${path}.vigil-${process.pid}.tmp`;
  try {
    writeFileSync(temporary, text);
    renameSync(temporary, path);
  } catch (e) {
    try {
      unlinkSync(temporary);
    } catch {
      /* never written */
    }
    throw e;
  }
}
