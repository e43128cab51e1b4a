// Reading manifests: files and folders of YAML (multi-document) or JSON, with List kinds flattened.
// Every object remembers its file and line, so a verdict can point at it.
import { readdirSync, readFileSync, statSync, type Stats } from "node:fs";
import { extname, join } from "node:path";
import { constructFromEvents, EVENT_ID, parseEvents, YAMLException, type Event as YamlEvent } from "js-yaml";
import { InputError } from "../core/errors.ts";

export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata?: {
    name?: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    [k: string]: unknown;
  };
  [key: string]: unknown;
}

export interface SourcedObject {
  object: KubeObject;
  file: string;
  line: number;
}

const manifestExtensions = new Set([".yaml", ".yml", ".json"]);

/** Larger files are refused before they are read: rendered manifests that big are a mistake. */
const MAX_FILE_BYTES = 64 * 1024 * 1024;
/** The API server refuses a request body larger than this (3 MiB), so such an object cannot deploy. */
const MAX_OBJECT_BYTES = 3 * 1024 * 1024;

/** Loads every manifest under the given files and folders, in a stable order. */
export function loadManifests(paths: readonly string[]): SourcedObject[] {
  return manifestFilesUnder(paths).flatMap((file) => parseManifestFile(file));
}

/** The manifest files under the given files and folders, in the order they are loaded. */
export function manifestFilesUnder(paths: readonly string[]): string[] {
  return paths.flatMap((p) => manifestFiles(p));
}

function manifestFiles(path: string): string[] {
  let stat: Stats;
  try {
    stat = statSync(path);
  } catch {
    throw new InputError(`${path}: no such file or directory`);
  }
  if (stat.isFile()) return [path];
  return readdirSync(path, { withFileTypes: true })
    .filter((e) => !e.name.startsWith("."))
    .sort((a, b) => a.name.localeCompare(b.name))
    .flatMap((e) =>
      e.isDirectory() ? manifestFiles(join(path, e.name)) : manifestExtensions.has(extname(e.name)) ? [join(path, e.name)] : [],
    );
}

/** Whether a file is read as manifests (by its name: .yaml, .yml, .json). */
export function isManifestFile(name: string): boolean {
  return manifestExtensions.has(extname(name));
}

/** Refuses, before it is read, a manifest file larger than Vigil reads. */
export function checkManifestFileSize(file: string, size: number): void {
  if (size > MAX_FILE_BYTES)
    throw new InputError(`${file}: ${size} bytes is more than the ${MAX_FILE_BYTES} Vigil reads from one manifest file; split it`);
}

export function parseManifestFile(file: string): SourcedObject[] {
  let text: string;
  try {
    checkManifestFileSize(file, statSync(file).size);
    text = readFileSync(file, "utf8");
  } catch (e) {
    if (e instanceof InputError) throw e;
    throw new InputError(`${file}: cannot read: ${(e as NodeJS.ErrnoException).code ?? e}`);
  }
  return parseManifests(text, file);
}

/**
 * Parses multi-document YAML (JSON is YAML, 1.2 core schema, duplicate keys refused, at most 100
 * aliases per document); throws InputError with file and line on bad input. js-yaml's event parser
 * is used because it is an order of magnitude faster than building a document tree, and its events
 * carry the offsets that give each object its line.
 */
export function parseManifests(text: string, file: string): SourcedObject[] {
  let events: YamlEvent[];
  let values: unknown[];
  try {
    events = parseEvents(text, { filename: file });
    values = constructFromEvents(events, { source: text, filename: file, maxAliases: 100 });
  } catch (e) {
    if (!(e instanceof YAMLException)) throw e;
    const where = e.mark ? `${file}:${e.mark.line + 1}:${e.mark.column + 1}` : file;
    throw new InputError(`${where}: invalid YAML: ${e.reason}`);
  }
  const lines = lineStarts(text);
  const starts = documentStarts(events);
  refuseAliasBombs(events, text, file);
  const out: SourcedObject[] = [];
  let end = text.length; // where the document after this one starts
  const ends = starts.map(() => 0);
  for (let i = starts.length - 1; i >= 0; i--) {
    ends[i] = end;
    end = starts[i] ?? end;
  }
  starts.forEach((offset, i) => {
    const value = values[i];
    if (value === null || value === undefined) return; // an empty document
    const line = offset === undefined ? 1 : lineOf(lines, offset);
    refuseOversized(value, ends[i]! - (offset ?? 0), `${file}:${line}`);
    for (const object of flattenLists(value, `${file}:${line}`)) out.push({ object, file, line });
  });
  return out;
}

/** For each document, the offset of its root node (undefined for an empty document). */
function documentStarts(events: readonly YamlEvent[]): (number | undefined)[] {
  const starts: (number | undefined)[] = [];
  let awaitingRoot = false;
  for (const e of events) {
    if (e.type === EVENT_ID.DOCUMENT) {
      starts.push(undefined);
      awaitingRoot = true;
    } else if (awaitingRoot && e.type !== EVENT_ID.POP) {
      starts[starts.length - 1] = e.type === EVENT_ID.SCALAR ? e.valueStart : e.type === EVENT_ID.ALIAS ? e.anchorStart : e.start;
      awaitingRoot = false;
    }
  }
  return starts;
}

function lineStarts(text: string): number[] {
  const starts = [0];
  for (let i = text.indexOf("\n"); i !== -1; i = text.indexOf("\n", i + 1)) starts.push(i + 1);
  return starts;
}

/** The 1-based line of an offset, by binary search over the line starts. */
function lineOf(starts: readonly number[], offset: number): number {
  let lo = 0;
  let hi = starts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (starts[mid]! <= offset) lo = mid;
    else hi = mid - 1;
  }
  return lo + 1;
}

/** The most nodes a document may expand to through aliases: a few aliases can name each other and
 *  multiply ("billion laughs"), which would hang every later walk of the object. */
const MAX_EXPANDED_NODES = 1_000_000;

function refuseAliasBombs(events: readonly YamlEvent[], text: string, file: string): void {
  if (!events.some((e) => e.type === EVENT_ID.ALIAS)) return;
  const anchored = new Map<string, number>();
  // Each open collection: its node count so far, and its anchor.
  const open: { size: number; anchor: string }[] = [];
  let documentSize = 0;
  const add = (size: number) => {
    if (open.length > 0) open[open.length - 1]!.size += size;
    else documentSize += size;
    if (documentSize > MAX_EXPANDED_NODES || open.some((o) => o.size > MAX_EXPANDED_NODES)) {
      throw new InputError(
        `${file}: a YAML document expands to more than ${MAX_EXPANDED_NODES} nodes through aliases; write it out plainly`,
      );
    }
  };
  for (const e of events) {
    if (e.type === EVENT_ID.DOCUMENT) documentSize = 0;
    else if (e.type === EVENT_ID.SEQUENCE || e.type === EVENT_ID.MAPPING)
      open.push({ size: 1, anchor: text.slice(e.anchorStart, e.anchorEnd) });
    else if (e.type === EVENT_ID.SCALAR) {
      if (e.anchorStart >= 0) anchored.set(text.slice(e.anchorStart, e.anchorEnd), 1);
      add(1);
    } else if (e.type === EVENT_ID.ALIAS) add(anchored.get(text.slice(e.anchorStart, e.anchorEnd)) ?? 1);
    else if (e.type === EVENT_ID.POP && open.length > 0) {
      const closed = open.pop()!;
      if (closed.anchor) anchored.set(closed.anchor, closed.size);
      add(closed.size);
    }
  }
}

/** Objects the API server would refuse for size; only large documents (aliases can expand) are measured. */
function refuseOversized(value: unknown, textLength: number, where: string): void {
  if (textLength < 30 * 1024) return;
  const bytes = Buffer.byteLength(JSON.stringify(value));
  if (bytes > MAX_OBJECT_BYTES) {
    throw new InputError(
      `${where}: the object is ${bytes} bytes as JSON; the API server refuses requests over ${MAX_OBJECT_BYTES} bytes, so it cannot be applied: move bulk data out of the manifest (e.g. a volume or an image)`,
    );
  }
}

function flattenLists(value: unknown, where: string): KubeObject[] {
  const object = asKubeObject(value, where);
  if (!object.kind.endsWith("List") || !Array.isArray(object.items)) return [object];
  return object.items.flatMap((item, i) => flattenLists(item, `${where} items[${i}]`));
}

function asKubeObject(value: unknown, where: string): KubeObject {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new InputError(`${where}: a manifest must be a mapping with apiVersion and kind`);
  }
  const o = value as Record<string, unknown>;
  if (typeof o.apiVersion !== "string" || o.apiVersion === "") throw new InputError(`${where}: manifest has no apiVersion`);
  if (typeof o.kind !== "string" || o.kind === "") throw new InputError(`${where}: manifest has no kind`);
  if (o.metadata !== undefined && (typeof o.metadata !== "object" || o.metadata === null))
    throw new InputError(`${where}: metadata must be a mapping`);
  return o as KubeObject;
}

/** "team-a/settings", or "settings" for an object without a namespace. */
function namespacedName(namespace: string | undefined, name: string): string {
  return namespace ? `${namespace}/${name}` : name;
}

/** An object as a check's subject names it, path-like: "ConfigMap/team-a/settings". */
export function describeObject(o: KubeObject): string {
  return `${o.kind}/${namespacedName(o.metadata?.namespace, o.metadata?.name ?? "(unnamed)")}`;
}

/** An object as a sentence names it (the cluster stage's messages): "ConfigMap team-a/settings". */
export function describeRef(ref: { kind: string; namespace?: string | undefined; name: string }): string {
  return `${ref.kind} ${namespacedName(ref.namespace, ref.name)}`;
}
