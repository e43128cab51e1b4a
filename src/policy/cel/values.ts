// Manifest values as CEL values, converted once per object: every binding of every pack, and
// vigil.objects, see the same objects, and converting them again for each was a large share of the
// evaluation time.
import { celList, celMap, type CelInput } from "@bufbuild/cel";

/**
 * YAML/JSON values as CEL values: integral numbers are ints (bigint), as Kubernetes' JSON-to-CEL
 * makes them, and objects and arrays become @bufbuild/cel's own maps and lists, all the way down
 * (given a plain object, @bufbuild/cel builds a new map of its entries on every field access).
 * CEL values already converted pass through.
 */
export function toCel(value: unknown): CelInput {
  if (typeof value === "number") return Number.isInteger(value) ? BigInt(value) : value;
  if (Array.isArray(value)) return celList(value.map(toCel));
  if (value !== null && typeof value === "object") {
    const proto = Object.getPrototypeOf(value);
    if (proto === Object.prototype || proto === null) return celMap(new Map(Object.entries(value).map(([k, v]) => [k, toCel(v)])));
  }
  return value as CelInput;
}

const converted = new WeakMap<object, CelInput>();

/** toCel, remembered for each object (objects from the manifests are not changed once read). */
export function celValue(value: unknown): CelInput {
  if (value === null || typeof value !== "object") return toCel(value);
  let cel = converted.get(value);
  if (cel === undefined) converted.set(value, (cel = toCel(value)));
  return cel;
}
