// Reading manifests: files and folders of YAML (multi-document) or JSON, with List kinds flattened.
// Every object remembers its file and line, so a verdict can point at it.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { extname, join } from "node:path";
import { LineCounter, parseAllDocuments } from "yaml";
import { InputError } from "../core/errors.ts";

export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata?: { name?: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string>; [k: string]: unknown };
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
  return paths.flatMap((p) => manifestFiles(p)).flatMap((file) => parseManifestFile(file));
}

function manifestFiles(path: string): string[] {
  let stat;
  try {
    stat = statSync(path);
  } catch {
    throw new InputError(`${path}: no such file or directory`);
  }
  if (stat.isFile()) return [path];
  return readdirSync(path, { withFileTypes: true })
    .filter((e) => !e.name.startsWith("."))
    .sort((a, b) => a.name.localeCompare(b.name))
    .flatMap((e) => (e.isDirectory() ? manifestFiles(join(path, e.name)) : manifestExtensions.has(extname(e.name)) ? [join(path, e.name)] : []));
}

export function parseManifestFile(file: string): SourcedObject[] {
  let text: string;
  try {
    const size = statSync(file).size;
    if (size > MAX_FILE_BYTES) throw new InputError(`${file}: ${size} bytes is more than the ${MAX_FILE_BYTES} Vigil reads from one manifest file; split it`);
    text = readFileSync(file, "utf8");
  } catch (e) {
    if (e instanceof InputError) throw e;
    throw new InputError(`${file}: cannot read: ${(e as NodeJS.ErrnoException).code ?? e}`);
  }
  return parseManifests(text, file);
}

/** Parses multi-document YAML (JSON is YAML); throws InputError with file and line on bad input. */
export function parseManifests(text: string, file: string): SourcedObject[] {
  const lines = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter: lines, uniqueKeys: true, prettyErrors: false });
  if (!Array.isArray(docs)) throw new InputError(`${file}: not YAML`);
  const out: SourcedObject[] = [];
  for (const doc of docs) {
    const error = doc.errors[0];
    if (error) {
      const { line, col } = lines.linePos(error.pos[0]);
      throw new InputError(`${file}:${line}:${col}: invalid YAML: ${error.message.split("\n")[0]}`);
    }
    const value = doc.toJS({ maxAliasCount: 100 }) as unknown;
    if (value === null || value === undefined) continue; // an empty document
    const line = doc.contents?.range ? lines.linePos(doc.contents.range[0]).line : 1;
    refuseOversized(value, doc.contents?.range, `${file}:${line}`);
    for (const object of flattenLists(value, `${file}:${line}`)) out.push({ object, file, line });
  }
  return out;
}

/** Objects the API server would refuse for size; only large documents (aliases can expand) are measured. */
function refuseOversized(value: unknown, range: readonly number[] | undefined, where: string): void {
  if (range && range[1]! - range[0]! < 32 * 1024) return;
  const bytes = Buffer.byteLength(JSON.stringify(value));
  if (bytes > MAX_OBJECT_BYTES) {
    throw new InputError(`${where}: the object is ${bytes} bytes as JSON; the API server refuses requests over ${MAX_OBJECT_BYTES} bytes, so it cannot be applied: move bulk data out of the manifest (e.g. a volume or an image)`);
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
  if (o.metadata !== undefined && (typeof o.metadata !== "object" || o.metadata === null)) throw new InputError(`${where}: metadata must be a mapping`);
  return o as KubeObject;
}

export function describeObject(o: KubeObject): string {
  const ns = o.metadata?.namespace ? `${o.metadata.namespace}/` : "";
  return `${o.kind}/${ns}${o.metadata?.name ?? "(unnamed)"}`;
}
