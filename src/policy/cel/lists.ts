// Kubernetes' list library (isSorted, sum, min, max, indexOf, lastIndexOf) and the cel-go lists
// extension at the version Kubernetes 1.34+ enables (lists.range, slice, flatten, distinct, reverse,
// sort; the sortBy macro needs parser support @bufbuild/cel does not offer).
import {
  celFunc,
  celList,
  celMethod,
  CelScalar,
  celType,
  celUint,
  isCelList,
  isCelMap,
  isCelUint,
  listType,
  type CelList,
  type CelValue,
} from "@bufbuild/cel";

const { INT, BOOL, DYN } = CelScalar;
const LIST = listType(DYN);

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const UINT64_MAX = 2n ** 64n - 1n;
const NANOS_PER_SECOND = 1_000_000_000n;
const DURATION = "google.protobuf.Duration";
const TIMESTAMP = "google.protobuf.Timestamp";
// Kubernetes stops such a list with its cost limit; this engine has none per step, so it bounds the size.
const MAX_RANGE = 1_000_000n;

/** Seconds and nanos of a Duration or Timestamp value as one nano count, with its type name. */
function temporal(value: unknown): { type: string; nanos: bigint } | undefined {
  const type = celType(value as CelValue);
  if (type.kind !== "object" || (type.name !== DURATION && type.name !== TIMESTAMP)) return undefined;
  const { seconds, nanos } = (value as { message: { seconds: bigint; nanos: number } }).message;
  return { type: type.name, nanos: seconds * NANOS_PER_SECOND + BigInt(nanos) };
}

const isNumber = (v: unknown): v is bigint | number => typeof v === "bigint" || typeof v === "number" || isCelUint(v);
const numeric = (v: bigint | number | { value: bigint }) => (typeof v === "object" ? v.value : v);

/** CEL equality (`==`): numbers compare across int, uint and double; lists and maps element-wise. */
export function celEquals(a: unknown, b: unknown): boolean {
  // biome-ignore lint/suspicious/noDoubleEquals: CEL compares int, uint and double by value, and a bigint equals a number only with ==
  if (isNumber(a) && isNumber(b)) return numeric(a) == numeric(b);
  if (a instanceof Uint8Array && b instanceof Uint8Array) return a.length === b.length && a.every((x, i) => x === b[i]);
  if (isCelList(a) && isCelList(b)) return a.size === b.size && [...a].every((x, i) => celEquals(x, b.get(i)));
  if (isCelMap(a) && isCelMap(b)) {
    if (a.size !== b.size) return false;
    for (const [key, value] of a) if (!b.has(key) || !celEquals(value, b.get(key))) return false;
    return true;
  }
  const ta = temporal(a);
  const tb = temporal(b);
  if (ta && tb) return ta.type === tb.type && ta.nanos === tb.nanos;
  return a === b;
}

/** CEL ordering (`<`) for the comparable types; throws for values that cannot be ordered together. */
export function celCompare(a: unknown, b: unknown): number {
  if (isNumber(a) && isNumber(b)) {
    const [x, y] = [numeric(a), numeric(b)];
    return x < y ? -1 : x > y ? 1 : 0;
  }
  if (typeof a === "string" && typeof b === "string") return compareCodePoints(a, b);
  if (typeof a === "boolean" && typeof b === "boolean") return Number(a) - Number(b);
  if (a instanceof Uint8Array && b instanceof Uint8Array) return compareSequences(a, b);
  const ta = temporal(a);
  const tb = temporal(b);
  if (ta && tb && ta.type === tb.type) return ta.nanos < tb.nanos ? -1 : ta.nanos > tb.nanos ? 1 : 0;
  throw new Error(`no such overload: cannot compare ${typeName(a)} and ${typeName(b)}`);
}

const typeName = (v: unknown) => celType(v as CelValue).name;

// Go compares strings by UTF-8 bytes, which is code point order, not JavaScript's UTF-16 order.
const compareCodePoints = (a: string, b: string) =>
  compareSequences(
    Array.from(a, (c) => c.codePointAt(0)!),
    Array.from(b, (c) => c.codePointAt(0)!),
  );

function compareSequences(a: ArrayLike<number>, b: ArrayLike<number>): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}

function sum(list: CelList): unknown {
  const items = [...list];
  const first = items[0];
  if (first === undefined) return 0n;
  const type = typeName(first);
  if (items.some((x) => typeName(x) !== type)) throw new Error("no such overload: sum() of a list with mixed element types");
  if (typeof first === "number") return (items as number[]).reduce((a, b) => a + b, 0);
  if (typeof first === "bigint")
    return checked(
      (items as bigint[]).reduce((a, b) => a + b, 0n),
      INT64_MIN,
      INT64_MAX,
      "int",
    );
  if (isCelUint(first))
    return celUint(
      checked(
        items.reduce<bigint>((a, b) => a + (b as { value: bigint }).value, 0n),
        0n,
        UINT64_MAX,
        "uint",
      ),
    );
  if (type === DURATION) return duration(items.reduce<bigint>((a, b) => a + temporal(b)!.nanos, 0n));
  throw new Error(`no such overload: sum() of a list of ${type}`);
}

function checked(value: bigint, min: bigint, max: bigint, type: string): bigint {
  if (value < min || value > max) throw new Error(`${type} overflow in sum()`);
  return value;
}

function duration(nanos: bigint) {
  return { $typeName: DURATION, seconds: nanos / NANOS_PER_SECOND, nanos: Number(nanos % NANOS_PER_SECOND) } as never;
}

function extreme(list: CelList, name: string, better: (order: number) => boolean): CelValue {
  let best: CelValue | undefined;
  for (const item of list) if (best === undefined || better(celCompare(item, best))) best = item;
  if (best === undefined) throw new Error(`${name} called on empty list`);
  return best;
}

function flatten(list: CelList, depth: bigint): CelValue[] {
  if (depth < 0n) throw new Error("level must be non-negative");
  return [...list].flatMap((item) => (isCelList(item) && depth > 0n ? flatten(item, depth - 1n) : [item]));
}

function sorted(list: CelList): CelList {
  const items = [...list];
  const first = items[0];
  if (first === undefined) return list;
  const type = typeName(first);
  if (items.some((x) => typeName(x) !== type)) throw new Error("list elements must have the same type");
  return celList(items.sort(celCompare));
}

export const listFunctions = [
  celMethod("isSorted", LIST, [], BOOL, function () {
    const items = [...this];
    return items.every((item, i) => i === 0 || celCompare(items[i - 1], item) <= 0);
  }),
  celMethod("sum", LIST, [], DYN, function () {
    return sum(this) as never;
  }),
  celMethod("min", LIST, [], DYN, function () {
    return extreme(this, "min", (order) => order < 0);
  }),
  celMethod("max", LIST, [], DYN, function () {
    return extreme(this, "max", (order) => order > 0);
  }),
  celMethod("indexOf", LIST, [DYN], INT, function (item) {
    return BigInt([...this].findIndex((x) => celEquals(x, item)));
  }),
  celMethod("lastIndexOf", LIST, [DYN], INT, function (item) {
    return BigInt([...this].findLastIndex((x) => celEquals(x, item)));
  }),
  celFunc("lists.range", [INT], LIST, (n) => {
    if (n > MAX_RANGE) throw new Error(`lists.range(${n}) exceeds the limit of ${MAX_RANGE} elements`);
    return Array.from({ length: Math.max(0, Number(n)) }, (_, i) => BigInt(i));
  }),
  celMethod("slice", LIST, [INT, INT], LIST, function (start, end) {
    if (start < 0n || end < 0n) throw new Error(`cannot slice(${start}, ${end}), negative indexes not supported`);
    if (start > end) throw new Error(`cannot slice(${start}, ${end}), start index must be less than or equal to end index`);
    if (end > BigInt(this.size)) throw new Error(`cannot slice(${start}, ${end}), list is length ${this.size}`);
    return [...this].slice(Number(start), Number(end));
  }),
  celMethod("flatten", LIST, [], LIST, function () {
    return flatten(this, 1n);
  }),
  celMethod("flatten", LIST, [INT], LIST, function (depth) {
    return flatten(this, depth);
  }),
  celMethod("distinct", LIST, [], LIST, function () {
    const unique: CelValue[] = [];
    for (const item of this) if (!unique.some((seen) => celEquals(seen, item))) unique.push(item);
    return unique;
  }),
  celMethod("reverse", LIST, [], LIST, function () {
    return [...this].reverse();
  }),
  celMethod("sort", LIST, [], LIST, function () {
    return sorted(this);
  }),
];
