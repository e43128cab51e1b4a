// YAML with positions: every validation error names the file, the line and the field.
import { LineCounter, parseDocument, isNode, type Document } from "yaml";
import type * as v from "valibot";
import { safeParse } from "valibot";
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

/**
 * Aliases one document may expand to, counted as the yaml library counts them (nodes copied through
 * aliases): a configuration has a handful; a "billion laughs" document, which doubles at every level,
 * passes any bound quickly.
 */
const MAX_ALIAS_EXPANSION = 100;

/** The document as plain data. An alias bomb is bad input naming the file, not a process out of memory. */
export function toPlain(src: YamlSource): unknown {
  return documentToPlain(src.doc, src.file);
}

/** Any parsed YAML document as plain data, with alias expansion bounded; `file` names it in the error. */
export function documentToPlain(doc: Document, file: string): unknown {
  try {
    return doc.toJS({ maxAliasCount: MAX_ALIAS_EXPANSION });
  } catch (e) {
    if (e instanceof ReferenceError) throw new InputError(`${file}: invalid YAML: ${e.message} (aliases expand too far)`);
    throw e;
  }
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
  return path.map((p, i) => (typeof p === "number" ? `[${p}]` : `${i === 0 ? "" : "."}${String(p)}`)).join("");
}

/** The document checked against a schema; every problem (up to ten) named by file, line and field. */
export function validateYaml<S extends v.GenericSchema>(schema: S, src: YamlSource, what: string): v.InferOutput<S> {
  const result = safeParse(schema, toPlain(src) ?? {}, { abortEarly: false });
  if (result.success) return result.output;
  const lines = result.issues.slice(0, 10).map((issue) => {
    const path = (issue.path ?? []).map((p) => p.key as PropertyKey);
    // A strict object reports a key it does not know (expected "never") and a key that is missing.
    if (issue.type === "strict_object") {
      return issue.expected === "never"
        ? `${locate(src, path)}: unknown field "${String(path.at(-1))}"`
        : `${locate(src, path)}: is required`;
    }
    return `${locate(src, path)}: ${issue.message}`;
  });
  const more = result.issues.length > 10 ? `\n(and ${result.issues.length - 10} more)` : "";
  throw new InputError(`invalid ${what}:\n  ${lines.join("\n  ")}${more}`);
}
