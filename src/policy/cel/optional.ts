// CEL optional types (cel-go's OptionalTypes, which Kubernetes enables): optional.of/none/
// ofNonZeroValue, hasValue/value/orValue/or, and the functions the syntax rewrite (syntax.ts) turns
// `a.?f`, `a[?k]`, `[?x]`, `{?k: v}`, optMap and optFlatMap into. An optional is an opaque value whose
// payload is a list of zero or one element.
import {
  celFunc,
  celList,
  celMap,
  celMethod,
  CelScalar,
  isCelList,
  isCelMap,
  listType,
  type CelFunc,
  type CelList,
  type CelMap,
  type CelValue,
} from "@bufbuild/cel";
import { OPAQUE, opaque, opaquePayload } from "./opaque.ts";

const DYN = CelScalar.DYN;
const LIST = listType(DYN);

const some = (v: CelValue) => opaque("optional", [v]);
const none = () => opaque("optional", []);

/** The element list of an optional, or undefined if `v` is not one. */
function items(v: unknown): CelValue[] | undefined {
  const payload = opaquePayload("optional", v);
  return isCelList(payload) ? [...payload] : undefined;
}

function requireOptional(v: unknown, what: string): CelValue[] {
  const found = items(v);
  if (!found) throw new Error(`${what} needs an optional value`);
  return found;
}

function isZero(v: CelValue): boolean {
  if (v === null || v === false || v === "" || v === 0 || v === 0n) return true;
  if (v instanceof Uint8Array || isCelList(v) || isCelMap(v))
    return (v as { size?: number; length?: number }).size === 0 || (v as Uint8Array).length === 0;
  return typeof v === "object" && "value" in v && (v as { value: unknown }).value === 0n; // uint
}

/** `target.?name` / `target[?key]` on a map, list or optional. */
function optionalAccess(target: CelValue, key: CelValue): CelMap {
  const inner = items(target);
  if (inner) return inner.length === 0 ? none() : optionalAccess(inner[0]!, key);
  if (isCelMap(target)) {
    // get(), not has(): has() says false for a key whose value is null.
    const value = target.get(key as string);
    return value === undefined ? none() : some(value);
  }
  if (isCelList(target)) {
    if (typeof key !== "bigint") throw new Error(`a list index must be an int, not ${typeof key}`);
    const i = Number(key);
    return i >= 0 && i < target.size ? some(target.get(i)!) : none();
  }
  throw new Error(`no such key: optional access on a value that is not a map, list or optional`);
}

/** Drops the none entries of a list or map literal written with `?`, and unwraps the others. */
function collapse(literal: CelValue): CelList | CelMap {
  const entry = (v: CelValue) => {
    const payload = opaquePayload("optentry", v);
    return isCelList(payload) ? [...payload] : undefined;
  };
  if (isCelList(literal)) {
    const out: CelValue[] = [];
    for (const v of literal) out.push(...(entry(v) ?? [v]));
    return celList(out);
  }
  if (!isCelMap(literal)) throw new Error("optional entries need a list or map literal");
  const out = new Map<string | bigint | boolean, CelValue>();
  for (const [k, v] of literal.entries()) {
    const e = entry(v);
    if (!e) out.set(k as string, v);
    else if (e.length > 0) out.set(k as string, e[0]!);
  }
  return celMap(out);
}

function unwrap(list: CelList): CelValue[] {
  return [...list].flatMap((v) => requireOptional(v, "optional.unwrap()"));
}

export const optionalTypes: readonly CelFunc[] = [
  celFunc("optional.of", [DYN], OPAQUE, (v) => some(v)),
  celFunc("optional.none", [], OPAQUE, () => none()),
  celFunc("optional.ofNonZeroValue", [DYN], OPAQUE, (v) => (isZero(v) ? none() : some(v))),
  celMethod("hasValue", OPAQUE, [], CelScalar.BOOL, function () {
    return requireOptional(this, "hasValue()").length > 0;
  }),
  celMethod("value", OPAQUE, [], DYN, function () {
    const [v] = requireOptional(this, "value()");
    if (v === undefined) throw new Error("value() called on optional.none()");
    return v;
  }),
  celMethod("orValue", OPAQUE, [DYN], DYN, function (fallback) {
    const [v] = requireOptional(this, "orValue()");
    return v === undefined ? fallback : v;
  }),
  celMethod("or", OPAQUE, [OPAQUE], OPAQUE, function (other) {
    requireOptional(other, "or()");
    return requireOptional(this, "or()").length > 0 ? this : other;
  }),
  celMethod("__vigilOptSelect", DYN, [CelScalar.STRING], OPAQUE, function (name) {
    return optionalAccess(this, name);
  }),
  celMethod("__vigilOptIndex", DYN, [DYN], OPAQUE, function (key) {
    return optionalAccess(this, key);
  }),
  // The optional library's version 2, as cel-go enables it: the first and last element of a list.
  celMethod("first", LIST, [], OPAQUE, function () {
    return this.size === 0 ? none() : some(this.get(0)!);
  }),
  celMethod("last", LIST, [], OPAQUE, function () {
    return this.size === 0 ? none() : some(this.get(this.size - 1)!);
  }),
  celFunc("optional.unwrap", [LIST], LIST, (list) => unwrap(list)),
  celMethod("unwrapOpt", LIST, [], LIST, function () {
    return unwrap(this);
  }),
  celFunc("__vigilOptEntry", [DYN], OPAQUE, (v) => opaque("optentry", requireOptional(v, "an optional entry (?)"))),
  celFunc("__vigilOptCollapse", [DYN], DYN, (literal) => collapse(literal)),
  celMethod("__vigilOptToList", OPAQUE, [], LIST, function () {
    return requireOptional(this, "optMap()/optFlatMap()");
  }),
  celMethod("__vigilListToOpt", LIST, [], OPAQUE, function () {
    return this.size === 0 ? none() : some(this.get(0)!);
  }),
  celMethod("__vigilFlattenOpt", LIST, [], OPAQUE, function () {
    if (this.size === 0) return none();
    requireOptional(this.get(0), "optFlatMap()'s expression");
    return this.get(0) as CelMap;
  }),
];
