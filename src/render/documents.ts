// A manifest file's YAML documents, one at a time (issue 15 §4). Parsing a whole file at once holds its
// text, every parser event of every document and every value together; taken a document at a time,
// what is held besides the objects kept is one document's events and value. The file is cut at its
// document markers: a line that starts with "---" or "..." followed by a space, a tab or the line's
// end. YAML forbids such a line inside any scalar, block or quoted (c-forbidden, YAML 1.2 §9.1.4), so
// the cut never falls inside a value; a directive (%YAML, %TAG) follows a "..." and so starts its own
// document's piece. Each document is bounded: one over MAX_DOCUMENT_BYTES is refused naming its file
// and line before it is parsed (an object the API server would take is at most 3 MiB as JSON).
import { InputError } from "../core/errors.ts";
import { parseManifests, type SourcedObject } from "../manifest/manifests.ts";

export const MAX_DOCUMENT_BYTES = 8 * 1024 * 1024;

export interface DocumentText {
  text: string;
  /** The 1-based line of the file the document starts on. */
  line: number;
}

/** The file's documents in order, each with the line it starts on; refuses one over the size limit. */
export function* yamlDocuments(text: string, file: string, maxBytes = MAX_DOCUMENT_BYTES): Generator<DocumentText> {
  let start = 0;
  let startLine = 1;
  let line = 1;
  /** Whether the piece so far holds more than directives, comments and blank lines (and the marker that began it). */
  let content = false;
  const piece = (end: number): DocumentText | undefined => {
    if (end <= start) return undefined;
    if (end - start > maxBytes)
      throw new InputError(
        `${file}:${startLine}: a YAML document of ${end - start} bytes, more than the ${maxBytes} Vigil reads as one object; split it`,
      );
    return { text: text.slice(start, end), line: startLine };
  };
  for (let at = 0; at < text.length; line++) {
    const newline = text.indexOf("\n", at);
    const next = newline === -1 ? text.length : newline + 1;
    const marker = markerAt(text, at);
    const rest = text.slice(marker ? at + 3 : at, next).trim();
    if (marker === "start") {
      // Directives before a marker belong to its document: cut only after a document's content.
      if (content) {
        const before = piece(at);
        if (before) yield before;
        start = at;
        startLine = line;
      }
      content = rest !== "" && !rest.startsWith("#");
    } else if (marker === "end") {
      const ended = piece(next);
      if (ended) yield ended;
      start = next;
      startLine = line + 1;
      content = false;
    } else if (rest !== "" && !rest.startsWith("#") && !(text.charAt(at) === "%")) {
      content = true;
    }
    at = next;
  }
  const last = piece(text.length);
  if (last) yield last;
}

function markerAt(text: string, at: number): "start" | "end" | undefined {
  const three = text.slice(at, at + 3);
  if (three !== "---" && three !== "...") return undefined;
  const after = text.charAt(at + 3);
  if (after !== "" && after !== " " && after !== "\t" && after !== "\n" && after !== "\r") return undefined;
  return three === "---" ? "start" : "end";
}

/** The objects of a manifest file, parsed a document at a time; errors and objects name the file's own lines. */
export function parseManifestsByDocument(text: string, file: string): SourcedObject[] {
  const out: SourcedObject[] = [];
  for (const doc of yamlDocuments(text, file)) {
    let objects: SourcedObject[];
    try {
      objects = parseManifests(doc.text, file);
    } catch (e) {
      throw e instanceof InputError ? new InputError(shiftLine(e.message, file, doc.line), { cause: e }) : e;
    }
    for (const o of objects) out.push(doc.line === 1 ? o : { ...o, line: o.line + doc.line - 1 });
  }
  return out;
}

/**
 * "file:3: …" of a document that starts on line 41 is "file:43: …" of the file; a message that names
 * the file alone (an alias bomb: the whole document) gets the document's first line.
 */
function shiftLine(message: string, file: string, documentLine: number): string {
  if (!message.startsWith(`${file}:`)) return message;
  const rest = message.slice(file.length + 1);
  const m = /^(\d+)/.exec(rest);
  return m ? `${file}:${Number(m[1]) + documentLine - 1}${rest.slice(m[1]!.length)}` : `${file}:${documentLine}:${rest}`;
}
