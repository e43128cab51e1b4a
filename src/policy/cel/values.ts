// Manifest values as CEL values, without copying them. A policy reads a few fields of each object, so
// the objects are given to @bufbuild/cel as read-only views that convert a field only when it is read:
// a full converted copy of every manifest (a Map per object, a BigInt per number) doubled the memory
// the gate kept alive, and the garbage collector spent a fifth of the run copying it between
// generations.
import type { CelInput, CelList, CelMap, CelValue } from "@bufbuild/cel";

// @bufbuild/cel recognises its maps and lists by these registered symbols (isCelMap, isCelList),
// whatever class carries them; on the prototype they cost nothing per view.
const CEL_MAP = Symbol.for("@bufbuild/cel/map");
const CEL_LIST = Symbol.for("@bufbuild/cel/list");

type Plain = Record<string, unknown>;
type MapKey = Parameters<CelMap["get"]>[0];

const isPlainObject = (v: object): v is Plain => {
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
};

/**
 * A YAML/JSON value as a CEL value: integral numbers are ints (bigint), as Kubernetes' JSON-to-CEL
 * makes them; objects and arrays become views that convert their members as they are read. Values
 * that are already CEL values pass through.
 */
export function toCel(value: unknown): CelInput {
  if (typeof value === "number") return Number.isInteger(value) ? BigInt(value) : value;
  if (Array.isArray(value)) return new ArrayView(value) as unknown as CelInput;
  if (value !== null && typeof value === "object" && isPlainObject(value)) return new ObjectView(value) as unknown as CelInput;
  return value as CelInput;
}

/** A manifest object as a CEL value: a view, so there is nothing to remember per object. */
export const celValue = toCel;

const member = (v: unknown) => toCel(v) as CelValue;

/** A YAML mapping as a CEL map with string keys; a key of another type is absent, as in Kubernetes. */
class ObjectView {
  declare readonly [CEL_MAP]: object;
  private readonly object: Plain;
  constructor(object: Plain) {
    this.object = object;
  }
  get size(): number {
    return Object.keys(this.object).length;
  }
  get(key: MapKey): CelValue | undefined {
    return typeof key === "string" && Object.hasOwn(this.object, key) ? member(this.object[key]) : undefined;
  }
  // As @bufbuild/cel's own maps: a null member counts as absent for has(). Converting a member is
  // null or undefined exactly when it is, so has() reads it without making a view of it.
  has(key: MapKey): boolean {
    // biome-ignore lint/suspicious/noDoubleEquals: null and undefined both mean absent here
    return typeof key === "string" && Object.hasOwn(this.object, key) && this.object[key] != undefined;
  }
  keys(): IterableIterator<string> {
    return Object.keys(this.object)[Symbol.iterator]();
  }
  *values(): IterableIterator<CelValue> {
    for (const key of Object.keys(this.object)) yield member(this.object[key]);
  }
  *entries(): IterableIterator<[string, CelValue]> {
    for (const key of Object.keys(this.object)) yield [key, member(this.object[key])];
  }
  forEach(callback: (value: CelValue, key: string, map: ObjectView) => void, thisArg?: unknown): void {
    for (const key of Object.keys(this.object)) callback.call(thisArg, member(this.object[key]), key, this);
  }
  [Symbol.iterator](): IterableIterator<[string, CelValue]> {
    return this.entries();
  }
}
Object.defineProperty(ObjectView.prototype, CEL_MAP, { value: {} });

/** A YAML sequence as a CEL list. */
class ArrayView {
  declare readonly [CEL_LIST]: object;
  private readonly array: readonly unknown[];
  constructor(array: readonly unknown[]) {
    this.array = array;
  }
  get size(): number {
    return this.array.length;
  }
  get(index: number): CelValue | undefined {
    return index >= 0 && index < this.array.length ? member(this.array[index]) : undefined;
  }
  *values(): IterableIterator<CelValue> {
    for (const element of this.array) yield member(element);
  }
  [Symbol.iterator](): IterableIterator<CelValue> {
    return this.values();
  }
}
Object.defineProperty(ArrayView.prototype, CEL_LIST, { value: {} });

/**
 * A list of CEL values that `+` can extend without copying: lists share one backing array, each
 * seeing its first `size` elements, and appending to the list that ends the array pushes onto it, so
 * a map() or filter() that appends one element per step (`accu + [x]`) is linear, not quadratic. A
 * list that something was already appended to is copied first: every list keeps its elements.
 */
class SharedList {
  declare readonly [CEL_LIST]: object;
  private readonly backing: CelValue[];
  readonly size: number;
  constructor(backing: CelValue[], size: number) {
    this.backing = backing;
    this.size = size;
  }
  get(index: number): CelValue | undefined {
    return index >= 0 && index < this.size ? this.backing[index] : undefined;
  }
  *values(): IterableIterator<CelValue> {
    for (let i = 0; i < this.size; i++) yield this.backing[i]!;
  }
  [Symbol.iterator](): IterableIterator<CelValue> {
    return this.values();
  }
  /** This list followed by `tail`'s elements (read by index, as iterating it would yield them). */
  append(tail: CelList): SharedList {
    const backing = this.backing.length === this.size ? this.backing : this.backing.slice(0, this.size);
    for (let i = 0; i < tail.size; i++) backing.push(tail.get(i)!);
    return new SharedList(backing, backing.length);
  }
}
Object.defineProperty(SharedList.prototype, CEL_LIST, { value: {} });

/** `l + r` for two CEL lists: the same elements, in a list a later `+` can extend in place. */
export function concatLists(l: CelList, r: CelList): CelValue {
  if (l instanceof SharedList) return l.append(r) as unknown as CelValue;
  const backing: CelValue[] = new Array(l.size);
  for (let i = 0; i < l.size; i++) backing[i] = l.get(i)!;
  return new SharedList(backing, backing.length).append(r) as unknown as CelValue;
}
