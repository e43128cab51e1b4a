// Field ownership and change: what a field manager owns in a live object (its managedFields FieldsV1
// entry), the live values of exactly those fields, hashes that let a resync tell "nothing changed"
// without writing, the conflicts the server names, and a readable diff of two versions of an object.
import { createHash } from "node:crypto";

/** A FieldsV1 tree: keys "f:name" (a field), "k:{…}" (a list item by key), "v:…" (a set value), "i:N", ".". */
export type FieldsV1 = { [key: string]: FieldsV1 };

interface ManagedFieldsEntry {
  manager?: string;
  operation?: string;
  subresource?: string;
  fieldsType?: string;
  fieldsV1?: FieldsV1;
  time?: string;
}

/** The fields `manager` owns through apply on the object itself (not a subresource such as status). */
export function appliedFields(live: Record<string, any>, manager: string): FieldsV1 | undefined {
  const entries = (live.metadata?.managedFields ?? []) as ManagedFieldsEntry[];
  const entry = entries.find((e) => e.manager === manager && e.operation === "Apply" && !e.subresource);
  return entry?.fieldsType === "FieldsV1" ? entry.fieldsV1 : undefined;
}

/**
 * The parts of `value` that `fields` names, in a canonical shape: what a manager's fields look like right
 * now. Another manager that changes one of them either takes the field over (it leaves `fields`) or
 * changes its value; either way the projection changes.
 */
export function project(value: unknown, fields: FieldsV1): unknown {
  const keys = Object.keys(fields)
    .filter((k) => k !== ".")
    .sort();
  if (keys.length === 0 || value === null || typeof value !== "object") return value;
  if (Array.isArray(value)) {
    const items: unknown[] = [];
    for (const key of keys) {
      const sub = fields[key]!;
      if (key.startsWith("k:")) {
        const wanted = JSON.parse(key.slice(2)) as Record<string, unknown>;
        const item = value.find(
          (v) => v !== null && typeof v === "object" && Object.entries(wanted).every(([f, x]) => canonical(v[f]) === canonical(x)),
        );
        items.push([key, item === undefined ? null : project(item, sub)]);
      } else if (key.startsWith("v:")) {
        const wanted = canonical(JSON.parse(key.slice(2)));
        items.push([key, value.some((v) => canonical(v) === wanted)]);
      } else if (key.startsWith("i:")) {
        const item = value[Number(key.slice(2))];
        items.push([key, item === undefined ? null : project(item, sub)]);
      }
    }
    return items;
  }
  const out: Record<string, unknown> = {};
  for (const key of keys) {
    if (!key.startsWith("f:")) continue;
    const name = key.slice(2);
    if (Object.hasOwn(value, name)) out[name] = project((value as Record<string, unknown>)[name], fields[key]!);
  }
  return out;
}

/** JSON with object keys sorted, so that equal values have one spelling. */
export function canonical(value: unknown): string {
  if (value === null || typeof value !== "object") return JSON.stringify(value) ?? "null";
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  const keys = Object.keys(value).sort();
  return `{${keys
    .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
    .map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`)
    .join(",")}}`;
}

/** 128 bits of SHA-256, base64url: enough to tell versions of one object apart. */
export function hashOf(value: unknown): string {
  return createHash("sha256").update(canonical(value)).digest("base64url").slice(0, 22);
}

/** The hash of what `manager` owns in `live`: which fields, and their values. Undefined if it owns none. */
export function ownedHash(live: Record<string, any>, manager: string): string | undefined {
  const fields = appliedFields(live, manager);
  if (!fields) return undefined;
  return hashOf({ fields, values: project(live, fields) });
}

/** A field another manager holds that we wanted, as the server names it in a 409 Conflict. */
export interface FieldConflict {
  manager: string;
  /** ".data.mode", ".spec.template.spec.containers[name=\"app\"].image" */
  field: string;
}

/** The conflicts in an apply's 409 answer (details.causes), or one from the message when it has none. */
export function conflictsOf(status: any): FieldConflict[] {
  const causes = (status?.details?.causes ?? []) as { reason?: string; message?: string; field?: string }[];
  const out: FieldConflict[] = [];
  for (const cause of causes) {
    if (cause.reason !== "FieldManagerConflict") continue;
    const manager = /conflict with "([^"]*)"/.exec(cause.message ?? "")?.[1] ?? "another field manager";
    out.push({ manager, field: cause.field ?? "" });
  }
  if (out.length === 0) {
    const manager = /conflicts? with "([^"]*)"/.exec(String(status?.message ?? ""))?.[1];
    if (manager) out.push({ manager, field: "" });
  }
  return out;
}

/** One changed field: its path and the values before and after (absent means the field is not there). */
export interface FieldChange {
  path: string;
  from?: unknown;
  to?: unknown;
}

// Bookkeeping the server changes on every write: not a difference anyone asked for.
const IGNORED_METADATA = new Set(["managedFields", "resourceVersion", "generation", "creationTimestamp", "uid", "selfLink"]);

/** The fields that differ between two versions of an object (status and write bookkeeping left out). */
export function diffObjects(before: unknown, after: unknown): FieldChange[] {
  const changes: FieldChange[] = [];
  walk(before, after, "", changes, 0);
  return changes;
}

function walk(a: unknown, b: unknown, path: string, out: FieldChange[], depth: number): void {
  if (canonical(a) === canonical(b)) return;
  const isObject = (x: unknown): x is Record<string, unknown> => x !== null && typeof x === "object" && !Array.isArray(x);
  if (isObject(a) && isObject(b)) {
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
    for (const k of keys) {
      if (depth === 0 && k === "status") continue;
      if (path === ".metadata" && IGNORED_METADATA.has(k)) continue;
      const child = `${path}.${k}`;
      if (!(k in a)) out.push({ path: child, to: b[k] });
      else if (!(k in b)) out.push({ path: child, from: a[k] });
      else walk(a[k], b[k], child, out, depth + 1);
    }
    return;
  }
  if (Array.isArray(a) && Array.isArray(b)) {
    // Lists of named items (containers, ports, env) are matched by name, as people read them.
    const named = (l: unknown[]) =>
      l.every((x) => isObject(x) && typeof x.name === "string") && new Set(l.map((x) => (x as { name: string }).name)).size === l.length;
    if (named(a) && named(b)) {
      const byName = (l: unknown[]) => new Map(l.map((x) => [(x as { name: string }).name, x]));
      const [ma, mb] = [byName(a), byName(b)];
      for (const name of new Set([...ma.keys(), ...mb.keys()])) {
        const child = `${path}[name=${JSON.stringify(name)}]`;
        if (!ma.has(name)) out.push({ path: child, to: mb.get(name) });
        else if (!mb.has(name)) out.push({ path: child, from: ma.get(name) });
        else walk(ma.get(name), mb.get(name), child, out, depth + 1);
      }
      return;
    }
    if (a.length === b.length) {
      a.forEach((x, i) => walk(x, b[i], `${path}[${i}]`, out, depth + 1));
      return;
    }
  }
  out.push({ path: path || ".", from: a, to: b });
}

/**
 * A Secret's changes with its values replaced by hashes: which keys differ, and a hash to tell versions
 * apart, never a value (the result reaches the status, Events, --json, logs and the audit log).
 */
export function hideSecretValues(changes: readonly FieldChange[]): FieldChange[] {
  const hidden = (path: string) => path === "." || /^\.(data|stringData)\b/.test(path);
  return changes.map((c) =>
    hidden(c.path)
      ? { path: c.path, ...("from" in c && { from: hashValues(c.from, c.path) }), ...("to" in c && { to: hashValues(c.to, c.path) }) }
      : c,
  );
}

function hashValues(value: unknown, path: string): unknown {
  if (path === ".")
    return value !== null && typeof value === "object" && !Array.isArray(value)
      ? Object.fromEntries(Object.entries(value).map(([k, v]) => [k, k === "data" || k === "stringData" ? hashValues(v, ".data") : v]))
      : value;
  if (value !== null && typeof value === "object" && !Array.isArray(value))
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, hashValues(v, path)]));
  return `sha256:${createHash("sha256").update(canonical(value)).digest("hex").slice(0, 16)}`;
}

/** "  .data.mode: "a" → "b"" lines, for logs and dry runs. */
export function formatChanges(changes: readonly FieldChange[]): string[] {
  const show = (v: unknown) => {
    const s = JSON.stringify(v);
    return s.length > 120 ? `${s.slice(0, 117)}...` : s;
  };
  return changes.map((c) =>
    !("from" in c)
      ? `${c.path}: + ${show(c.to)}`
      : !("to" in c)
        ? `${c.path}: - ${show(c.from)}`
        : `${c.path}: ${show(c.from)} → ${show(c.to)}`,
  );
}
