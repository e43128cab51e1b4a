// Kubernetes' quantity library: resource quantities ("500m", "2Gi", "1e3") as exact values. A quantity
// travels as the integer count of nano-units it denotes, so `==` compares values ("1" == "1000m").
import { celFunc, celMethod, CelScalar } from "@bufbuild/cel";
import { opaque, OPAQUE, requireOpaque, succeeds } from "./opaque.ts";
import { compareSemver, isSemverValue } from "./semver.ts";

const { STRING, BOOL, INT, DOUBLE } = CelScalar;

const NANOS_PER_UNIT = 10n ** 9n;
const INT64_MAX = 2n ** 63n - 1n;
const INT64_MIN = -(2n ** 63n);
// Kubernetes caps a value that went through its arbitrary-precision path at the largest int64.
const CAPPED_NANOS = INT64_MAX * NANOS_PER_UNIT;
// Decimal exponents past this would make values of millions of digits; refused rather than computed.
const MAX_DECIMAL_EXPONENT = 10_000;

const FORMAT_ERROR = "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";
const SUFFIX_ERROR = "unable to parse quantity's suffix";

const DECIMAL_SUFFIXES: Record<string, number> = { n: -9, u: -6, m: -3, "": 0, k: 3, M: 6, G: 9, T: 12, P: 15, E: 18 };
const BINARY_SUFFIXES: Record<string, number> = { Ki: 10, Mi: 20, Gi: 30, Ti: 40, Pi: 50, Ei: 60 };
const SUFFIX_CHARS = "eEinumkKMGTP";

interface QuantityParts {
  negative: boolean;
  whole: string; // integer digits without leading zeros, "0" when none
  fraction: string; // digits after the point
  suffix: string;
}

/** Splits a quantity the way Kubernetes' parser does, including its leniencies ("1.", ".5", "+"). */
function splitQuantity(text: string): QuantityParts {
  let pos = 0;
  let negative = false;
  if (text[0] === "-" || text[0] === "+") {
    negative = text[0] === "-";
    pos = 1;
  }
  while (text[pos] === "0") pos++;
  const wholeStart = pos;
  while (isDigit(text[pos])) pos++;
  const whole = text.slice(wholeStart, pos) || "0";
  let fraction = "";
  if (text[pos] === ".") {
    const fractionStart = ++pos;
    while (isDigit(text[pos])) pos++;
    fraction = text.slice(fractionStart, pos);
  }
  const suffixStart = pos;
  while (pos < text.length && SUFFIX_CHARS.includes(text[pos]!)) pos++;
  if (text[pos] === "-" || text[pos] === "+") pos++;
  while (isDigit(text[pos])) pos++;
  if (pos !== text.length) throw new Error(FORMAT_ERROR);
  return { negative, whole, fraction, suffix: text.slice(suffixStart) };
}

const isDigit = (c: string | undefined) => c !== undefined && c >= "0" && c <= "9";

function interpretSuffix(suffix: string): { base: 2 | 10; exponent: number } {
  const decimal = DECIMAL_SUFFIXES[suffix];
  if (decimal !== undefined) return { base: 10, exponent: decimal };
  const binary = BINARY_SUFFIXES[suffix];
  if (binary !== undefined) return { base: 2, exponent: binary };
  if (suffix.length > 1 && (suffix[0] === "e" || suffix[0] === "E") && /^[+-]?[0-9]+$/.test(suffix.slice(1))) {
    const exponent = BigInt(suffix.slice(1));
    if (exponent > INT64_MAX || exponent < INT64_MIN) throw new Error(SUFFIX_ERROR);
    return { base: 10, exponent: Number(exponent) };
  }
  throw new Error(SUFFIX_ERROR);
}

/** The value of a quantity string in nano-units, with Kubernetes' rounding and capping. */
export function parseQuantity(text: string): bigint {
  if (text === "") throw new Error(FORMAT_ERROR);
  const { negative, whole, fraction, suffix } = splitQuantity(text);
  const { base, exponent } = interpretSuffix(suffix);
  const digits = BigInt(whole + fraction);
  const significant = whole.length + fraction.length;
  // Kubernetes keeps small values exact in an int64 with a decimal scale and sends the rest through
  // arbitrary precision, which rounds up to a nano-unit and caps at the largest int64.
  const exact =
    base === 10
      ? significant <= 18 && exponent - fraction.length >= -9
      : fraction.length === 0 && 15 - whole.length - Math.trunc((exponent * 3) / 10) - 1 >= 0 && digits << BigInt(exponent) <= INT64_MAX;
  const shift = (base === 10 ? exponent : 0) - fraction.length + 9; // power of ten from digits to nanos
  let nanos: bigint;
  if (digits === 0n) nanos = 0n;
  else if (shift > MAX_DECIMAL_EXPONENT) {
    if (exact) throw new Error(`quantity ${text} is too large: its decimal exponent exceeds ${MAX_DECIMAL_EXPONENT}`);
    nanos = CAPPED_NANOS;
  } else {
    const scaled = base === 2 ? digits << BigInt(exponent) : digits;
    nanos = shift >= 0 ? scaled * 10n ** BigInt(shift) : ceilDivide(scaled, -shift);
    if (!exact && nanos > CAPPED_NANOS) nanos = CAPPED_NANOS;
  }
  return negative ? -nanos : nanos;
}

/** ceil(value / 10^power) for a positive value, without building 10^power when it is far larger. */
function ceilDivide(value: bigint, power: number): bigint {
  if (power > value.toString().length) return 1n;
  const divisor = 10n ** BigInt(power);
  return (value + divisor - 1n) / divisor;
}

const quantity = (nanos: bigint) => opaque("quantity", nanos.toString());
const nanosOf = (value: unknown) => BigInt(requireOpaque("quantity", value) as string);
const compare = (a: bigint, b: bigint) => (a < b ? -1n : a > b ? 1n : 0n);
// isLessThan, isGreaterThan and compareTo are declared for quantities and for semvers (semver.ts).
const compareValues = (a: unknown, b: unknown) => (isSemverValue(a) ? compareSemver(a, b) : compare(nanosOf(a), nanosOf(b)));

/** Exact decimal text of a nano count ("-1.5" for -1500000000n), so Number() rounds it only once. */
function decimalText(nanos: bigint): string {
  const magnitude = nanos < 0n ? -nanos : nanos;
  const units = magnitude / NANOS_PER_UNIT;
  const fraction = (magnitude % NANOS_PER_UNIT).toString().padStart(9, "0");
  return `${nanos < 0n ? "-" : ""}${units}.${fraction}`;
}

function asInteger(nanos: bigint): bigint {
  if (nanos % NANOS_PER_UNIT !== 0n) throw new Error("cannot convert value to integer: the quantity has a fractional part");
  const units = nanos / NANOS_PER_UNIT;
  if (units > INT64_MAX || units < INT64_MIN) throw new Error("cannot convert value to integer: the quantity overflows int64");
  return units;
}

const isInteger = (nanos: bigint) => succeeds(() => asInteger(nanos));

export const quantityFunctions = [
  celFunc("quantity", [STRING], OPAQUE, (text) => quantity(parseQuantity(text))),
  celFunc("isQuantity", [STRING], BOOL, (text) => succeeds(() => parseQuantity(text))),
  // A global function in Kubernetes (`sign(q)`), unlike the other accessors.
  celFunc("sign", [OPAQUE], INT, (q) => compare(nanosOf(q), 0n)),
  celMethod("isInteger", OPAQUE, [], BOOL, function () {
    return isInteger(nanosOf(this));
  }),
  celMethod("asInteger", OPAQUE, [], INT, function () {
    return asInteger(nanosOf(this));
  }),
  celMethod("asApproximateFloat", OPAQUE, [], DOUBLE, function () {
    return Number(decimalText(nanosOf(this)));
  }),
  celMethod("add", OPAQUE, [OPAQUE], OPAQUE, function (other) {
    return quantity(nanosOf(this) + nanosOf(other));
  }),
  celMethod("add", OPAQUE, [INT], OPAQUE, function (units) {
    return quantity(nanosOf(this) + units * NANOS_PER_UNIT);
  }),
  celMethod("sub", OPAQUE, [OPAQUE], OPAQUE, function (other) {
    return quantity(nanosOf(this) - nanosOf(other));
  }),
  celMethod("sub", OPAQUE, [INT], OPAQUE, function (units) {
    return quantity(nanosOf(this) - units * NANOS_PER_UNIT);
  }),
  celMethod("isLessThan", OPAQUE, [OPAQUE], BOOL, function (other) {
    return compareValues(this, other) < 0n;
  }),
  celMethod("isGreaterThan", OPAQUE, [OPAQUE], BOOL, function (other) {
    return compareValues(this, other) > 0n;
  }),
  celMethod("compareTo", OPAQUE, [OPAQUE], INT, function (other) {
    return compareValues(this, other);
  }),
];
