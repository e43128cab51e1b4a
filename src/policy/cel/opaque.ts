// Values of the Kubernetes CEL types that @bufbuild/cel has no native type for (optional, Quantity,
// IP, CIDR, URL, format, Semver). Each is carried as a one-entry CEL map whose key names the type and whose
// value is the canonical payload, so that `==` compares them by value and functions can dispatch on
// them. `type(x)` reports `map` for such a value; policies written for Kubernetes do not rely on it.
import { celMap, CelScalar, isCelMap, mapType, type CelInput, type CelMap } from "@bufbuild/cel";

/** The CEL type that opaque values travel as, for function signatures. */
export const OPAQUE = mapType(CelScalar.STRING, CelScalar.DYN);

const keyPrefix = "@vigil.dev/cel.";

export type OpaqueKind = "optional" | "optentry" | "authorizer" | "decision" | "quantity" | "ip" | "cidr" | "url" | "format" | "semver";

/** Wraps a payload as an opaque value of `kind`. The payload must be a CEL value (string, list, …). */
export function opaque(kind: OpaqueKind, payload: CelInput): CelMap {
  return celMap(new Map([[keyPrefix + kind, payload]]));
}

/** The payload if `value` is an opaque value of `kind`, else undefined. */
export function opaquePayload(kind: OpaqueKind, value: unknown): unknown {
  if (!isCelMap(value) || value.size !== 1) return undefined;
  return value.get(keyPrefix + kind);
}

/** Like opaquePayload, but a wrong type is an evaluation error naming what was expected. */
export function requireOpaque(kind: OpaqueKind, value: unknown): unknown {
  const payload = opaquePayload(kind, value);
  if (payload === undefined) throw new Error(`expected a ${kind} value`);
  return payload;
}

/** Whether `parse` returns without throwing: the `isQuantity`, `isURL`, `isIP`… of the libraries. */
export function succeeds(parse: () => unknown): boolean {
  try {
    parse();
    return true;
  } catch {
    return false;
  }
}
