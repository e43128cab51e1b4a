// A directory or root filesystem walked in place. Symlinks are recorded, never followed while walking,
// so a link out of the root ("/etc/x -> ../../../../secret") is resolved inside the root when a
// cataloger looks a path up, and a loop is a warning, not a hang. Only wanted files are opened.
import { lstat, open, opendir, readlink } from "node:fs/promises";
import { join } from "node:path";
import { InputError } from "../core/errors.ts";
import type { Gatherer } from "./gather.ts";

/** Kernel filesystems of a live root: not files a package manager installed. */
const LIVE_ROOT_SKIP = new Set(["/proc", "/sys", "/dev"]);

export async function walkDirectory(gatherer: Gatherer, root: string): Promise<void> {
  const info = await lstat(root).catch((e: NodeJS.ErrnoException) => {
    throw new InputError(`${root}: cannot read the directory: ${e.code ?? e.message}`);
  });
  if (!info.isDirectory()) throw new InputError(`${root}: not a directory`);
  const liveRoot = root === "/";
  let entries = 0;
  const pending: string[] = ["/"];
  while (pending.length > 0) {
    const rel = pending.pop()!;
    const dir = await opendir(join(root, rel)).catch((e: NodeJS.ErrnoException) => {
      gatherer.tree.warnings.push(`${rel}: cannot read the directory (${e.code ?? e.message}); skipped`);
      return undefined;
    });
    if (!dir) continue;
    for await (const d of dir) {
      if (++entries > gatherer.limits.maxEntries) throw new InputError(`${root}: more than ${gatherer.limits.maxEntries} entries; refused`);
      const path = rel === "/" ? `/${d.name}` : `${rel}/${d.name}`;
      if (d.isDirectory()) {
        if (!(liveRoot && LIVE_ROOT_SKIP.has(path))) pending.push(path);
      } else if (d.isSymbolicLink()) {
        gatherer.tree.putLink(path, await readlink(join(root, path)), undefined, 0);
      } else if (d.isFile()) {
        await readWanted(gatherer, root, path);
      }
    }
  }
}

async function readWanted(gatherer: Gatherer, root: string, path: string): Promise<void> {
  const full = join(root, path);
  const stat = await lstat(full);
  const info = { mode: stat.mode & 0o7777, size: stat.size };
  const wanted = gatherer.interest(path, info);
  if (!wanted) return;
  if (stat.size > wanted.cap) return gatherer.tooLarge(path, stat.size, wanted.cap, "");
  // Read at most the cap (+1 to see a file that grew), by the descriptor: the file cannot be swapped for a link between the check and the read.
  const handle = await open(full, "r");
  try {
    const buffer = Buffer.alloc(Math.min(stat.size, wanted.cap) + 1);
    let filled = 0;
    for (;;) {
      const { bytesRead } = await handle.read(buffer, filled, buffer.length - filled, filled);
      if (bytesRead === 0) break;
      filled += bytesRead;
      if (filled === buffer.length) {
        gatherer.tree.warnings.push(`${path}: grew while it was read; skipped`);
        return;
      }
    }
    gatherer.store(path, info, buffer.subarray(0, filled), wanted.interest, undefined, 0);
  } finally {
    await handle.close();
  }
}
