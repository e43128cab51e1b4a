// Parsing of git's commit, tag and tree objects (git's object formats), and what a signature covers.

export interface Person {
  name: string;
  email: string;
  /** Seconds since the epoch. */
  time: number;
}

export interface Commit {
  id: string;
  tree: string;
  parents: string[];
  author: Person;
  committer: Person;
  message: string;
  /** The armored signature, if any (gpgsig header). */
  signature?: string;
  /** The exact bytes the signature covers: the object without its signature headers. */
  payload: Buffer;
}

export interface Tag {
  id: string;
  object: string;
  type: string;
  tag: string;
  tagger?: Person;
  message: string;
  signature?: string;
  payload: Buffer;
}

export class ObjectFormatError extends Error {}

const signatureHeaders = new Set(["gpgsig", "gpgsig-sha256"]);

interface Header {
  key: string;
  value: string;
  start: number;
  end: number;
}

/** Splits an object into headers (with continuation lines) and message, keeping byte offsets. */
function splitHeaders(data: Buffer): { headers: Header[]; bodyStart: number } {
  const headers: Header[] = [];
  let pos = 0;
  while (pos < data.length) {
    const eol = data.indexOf(10, pos);
    if (eol < 0) throw new ObjectFormatError("object header is not terminated");
    if (eol === pos) return { headers, bodyStart: eol + 1 };
    const line = data.subarray(pos, eol).toString("utf8");
    if (line.startsWith(" ")) {
      const last = headers.at(-1);
      if (!last) throw new ObjectFormatError("continuation line before any header");
      last.value += "\n" + line.slice(1);
      last.end = eol + 1;
    } else {
      const sp = line.indexOf(" ");
      if (sp <= 0) throw new ObjectFormatError(`malformed header line "${line.slice(0, 40)}"`);
      headers.push({ key: line.slice(0, sp), value: line.slice(sp + 1), start: pos, end: eol + 1 });
    }
    pos = eol + 1;
  }
  throw new ObjectFormatError("object has no blank line between headers and message");
}

export function parsePerson(value: string): Person {
  const m = /^(.*?) ?<([^<>]*)> (\d+) [+-]\d{4}$/.exec(value);
  if (!m) throw new ObjectFormatError(`malformed identity "${value.slice(0, 80)}"`);
  return { name: m[1]!, email: m[2]!, time: Number(m[3]) };
}

function single(headers: Header[], key: string): string {
  const found = headers.filter((h) => h.key === key);
  if (found.length !== 1) throw new ObjectFormatError(`expected exactly one ${key} header, found ${found.length}`);
  return found[0]!.value;
}

export function parseCommit(id: string, data: Buffer): Commit {
  const { headers, bodyStart } = splitHeaders(data);
  // A repository's own hash decides which header holds its signature: gpgsig-sha256 in SHA-256 repos.
  const signatureHeader = id.length === 64 ? "gpgsig-sha256" : "gpgsig";
  const sigs = headers.filter((h) => h.key === signatureHeader);
  if (sigs.length > 1) throw new ObjectFormatError(`more than one ${signatureHeader} header`);
  // What git signs: every byte of the object except the signature headers (git's commit.c).
  const kept = headers.filter((h) => !signatureHeaders.has(h.key));
  const payload = Buffer.concat([
    ...kept.map((h) => data.subarray(h.start, h.end)),
    data.subarray(bodyStart - 1),
  ]);
  return {
    id,
    tree: single(headers, "tree"),
    parents: headers.filter((h) => h.key === "parent").map((h) => h.value),
    author: parsePerson(single(headers, "author")),
    committer: parsePerson(single(headers, "committer")),
    message: data.subarray(bodyStart).toString("utf8"),
    ...(sigs[0] ? { signature: sigs[0].value + "\n" } : {}),
    payload,
  };
}

const signatureStarts = ["-----BEGIN PGP SIGNATURE-----", "-----BEGIN SSH SIGNATURE-----", "-----BEGIN SIGNED MESSAGE-----"];

export function parseTag(id: string, data: Buffer): Tag {
  const { headers, bodyStart } = splitHeaders(data);
  const tagger = headers.find((h) => h.key === "tagger");
  // The signature is appended to the message; git takes the last line that starts one.
  let sigStart = -1;
  for (let pos = bodyStart; pos < data.length; ) {
    const eol = data.indexOf(10, pos);
    const line = data.subarray(pos, eol < 0 ? data.length : eol).toString("utf8");
    if (signatureStarts.some((s) => line.startsWith(s))) sigStart = pos;
    pos = eol < 0 ? data.length : eol + 1;
  }
  const end = sigStart < 0 ? data.length : sigStart;
  return {
    id,
    object: single(headers, "object"),
    type: single(headers, "type"),
    tag: single(headers, "tag"),
    ...(tagger ? { tagger: parsePerson(tagger.value) } : {}),
    message: data.subarray(bodyStart, end).toString("utf8"),
    ...(sigStart >= 0 ? { signature: data.subarray(sigStart).toString("utf8") } : {}),
    payload: data.subarray(0, end),
  };
}

export interface TreeEntry {
  mode: string;
  name: string;
  id: string;
}

/** Binary tree format: "<mode> <name>\0<raw id>" repeated. */
export function parseTree(data: Buffer, idLength = 20): TreeEntry[] {
  const entries: TreeEntry[] = [];
  let pos = 0;
  while (pos < data.length) {
    const sp = data.indexOf(32, pos);
    const nul = data.indexOf(0, sp + 1);
    if (sp < 0 || nul < 0 || nul + 1 + idLength > data.length) throw new ObjectFormatError("malformed tree object");
    entries.push({
      mode: data.subarray(pos, sp).toString("latin1"),
      name: data.subarray(sp + 1, nul).toString("utf8"),
      id: data.subarray(nul + 1, nul + 1 + idLength).toString("hex"),
    });
    pos = nul + 1 + idLength;
  }
  return entries;
}

export const isTreeMode = (mode: string) => mode === "40000";
