// Which layer introduced each entry of a package database that several layers rewrote: the first
// layer of the unbroken run of revisions, ending with the current one, that lists the entry unchanged.
import type { Revision, TreeFile } from "../tree.ts";

export function withIntroducingLayer<T>(
  file: TreeFile,
  parse: (content: Buffer) => T[],
  key: (entry: T) => string,
): { entry: T; layer: string | undefined }[] {
  const revisions: Revision[] = file.revisions ?? [{ layer: file.layer, content: file.content ?? Buffer.alloc(0) }];
  const last = revisions[revisions.length - 1]!;
  const current = parse(last.content);
  const since = new Map<string, string | undefined>(current.map((e) => [key(e), last.layer]));
  const open = new Set(since.keys());
  for (let i = revisions.length - 2; i >= 0 && open.size > 0; i--) {
    const present = new Set(parse(revisions[i]!.content).map(key));
    for (const k of open) {
      if (present.has(k)) since.set(k, revisions[i]!.layer);
      else open.delete(k);
    }
  }
  return current.map((entry) => ({ entry, layer: since.get(key(entry)) }));
}

/** Paragraphs of "Field: value" lines (deb822, as dpkg's status file), continuation lines joined. */
export function parseDeb822(text: string): Record<string, string>[] {
  const paragraphs: Record<string, string>[] = [];
  let current: Record<string, string> = {};
  let field: string | undefined;
  for (const line of text.split("\n")) {
    if (line.trim() === "") {
      if (Object.keys(current).length > 0) paragraphs.push(current);
      current = {};
      field = undefined;
    } else if ((line[0] === " " || line[0] === "\t") && field) {
      current[field] += "\n" + line.slice(1);
    } else {
      const colon = line.indexOf(":");
      if (colon <= 0) continue;
      field = line.slice(0, colon);
      current[field] = line.slice(colon + 1).trim();
    }
  }
  if (Object.keys(current).length > 0) paragraphs.push(current);
  return paragraphs;
}
