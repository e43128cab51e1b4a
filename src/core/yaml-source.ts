// YAML with positions: every validation error names the file, the line and the field.
import { LineCounter, parseDocument, isNode, type Document } from "yaml";
import { InputError } from "./errors.ts";

export interface YamlSource {
  file: string;
  doc: Document;
  lines: LineCounter;
}

/** Parses one YAML document strictly; syntax errors name file and line. */
export function parseYamlSource(text: string, file: string): YamlSource {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: true, prettyErrors: false });
  const first = doc.errors[0];
  if (first) {
    const { line, col } = lines.linePos(first.pos[0]);
    throw new InputError(`${file}:${line}:${col}: invalid YAML: ${first.message.split("\n")[0]}`);
  }
  return { file, doc, lines };
}

/** "file:line field.path" for a path into the document (the nearest node that exists). */
export function locate(src: YamlSource, path: readonly PropertyKey[]): string {
  const field = formatPath(path);
  for (let n = path.length; n >= 0; n--) {
    const node = src.doc.getIn(path.slice(0, n) as unknown[], true);
    if (isNode(node) && node.range) {
      const { line } = src.lines.linePos(node.range[0]);
      return `${src.file}:${line}${field ? ` ${field}` : ""}`;
    }
  }
  return `${src.file}${field ? ` ${field}` : ""}`;
}

export function formatPath(path: readonly PropertyKey[]): string {
  return path
    .map((p, i) => (typeof p === "number" ? `[${p}]` : `${i === 0 ? "" : "."}${String(p)}`))
    .join("");
}
