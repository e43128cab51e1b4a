// Kubernetes' semver library (k8s.io/apiserver/pkg/cel/library/semverlib.go, version 1, enabled since
// 1.33): `semver(s)`, `semver(s, normalize)`, `isSemver(s)`, `isSemver(s, normalize)`, `major()`,
// `minor()`, `patch()`, `isLessThan()`, `isGreaterThan()`, `compareTo()`. Parsing follows the Go
// package Kubernetes uses (github.com/blang/semver/v4), error words included, since a failing
// `semver()` is an evaluation error the API server reports in those words.
//
// A version travels as an opaque value (opaque.ts) whose payload is its text without build metadata,
// so that `==` is the library's equality (build metadata is ignored, as semver's precedence says).
import { celFunc, celMethod, CelScalar } from "@bufbuild/cel";
import { opaque, OPAQUE, opaquePayload, requireOpaque, succeeds } from "./opaque.ts";

const { STRING, BOOL, INT } = CelScalar;

const NUMBERS = /^[0-9]*$/;
const ALPHANUMERIC = /^[0-9A-Za-z-]*$/;
const UINT64_MAX = 2n ** 64n - 1n;

interface Version {
  major: bigint;
  minor: bigint;
  patch: bigint;
  /** Pre-release identifiers: numbers for numeric ones. */
  pre: (bigint | string)[];
}

const hasLeadingZeroes = (s: string) => s.length > 1 && s[0] === "0";

/** A major, minor or patch number, with Go's strconv.ParseUint errors for what the checks let through. */
function versionNumber(text: string, which: "major" | "minor" | "patch"): bigint {
  if (!NUMBERS.test(text)) throw new Error(`Invalid character(s) found in ${which} number ${goQuote(text)}`);
  const label = which[0]!.toUpperCase() + which.slice(1);
  if (hasLeadingZeroes(text)) throw new Error(`${label} number must not contain leading zeroes ${goQuote(text)}`);
  return parseUint(text);
}

function parseUint(text: string): bigint {
  if (text === "") throw new Error(`strconv.ParseUint: parsing "": invalid syntax`);
  const value = BigInt(text);
  if (value > UINT64_MAX) throw new Error(`strconv.ParseUint: parsing ${goQuote(text)}: value out of range`);
  return value;
}

function preRelease(text: string): bigint | string {
  if (text === "") throw new Error("Prerelease is empty");
  if (NUMBERS.test(text)) {
    if (hasLeadingZeroes(text)) throw new Error(`Numeric PreRelease version must not contain leading zeroes ${goQuote(text)}`);
    return parseUint(text);
  }
  if (ALPHANUMERIC.test(text)) return text;
  throw new Error(`Invalid character(s) found in prerelease ${goQuote(text)}`);
}

/** blang/semver's Parse: MAJOR.MINOR.PATCH[-PRE][+BUILD], strictly. */
export function parseSemver(text: string): Version {
  if (text === "") throw new Error("Version string empty");
  const parts = splitN(text, ".", 3);
  if (parts.length !== 3) throw new Error("No Major.Minor.Patch elements found");
  const major = versionNumber(parts[0]!, "major");
  const minor = versionNumber(parts[1]!, "minor");
  let patchText = parts[2]!;
  let build: string[] = [];
  let pre: string[] = [];
  const plus = patchText.indexOf("+");
  if (plus !== -1) {
    build = patchText.slice(plus + 1).split(".");
    patchText = patchText.slice(0, plus);
  }
  const dash = patchText.indexOf("-");
  if (dash !== -1) {
    pre = patchText.slice(dash + 1).split(".");
    patchText = patchText.slice(0, dash);
  }
  const patch = versionNumber(patchText, "patch");
  const version: Version = { major, minor, patch, pre: pre.map(preRelease) };
  for (const b of build) {
    if (b === "") throw new Error("Build meta data is empty");
    if (!ALPHANUMERIC.test(b)) throw new Error(`Invalid character(s) found in build meta data ${goQuote(b)}`);
  }
  return version;
}

/** The library's normalization: no leading "v", missing minor and patch added, leading zeros dropped. */
export function normalizeAndParseSemver(text: string): Version {
  const parts = splitN(text.startsWith("v") ? text.slice(1) : text, ".", 3).map((p) => {
    if (p.length <= 1) return p;
    const trimmed = p.replace(/^0+/, "");
    return trimmed === "" || !/^[0-9]/.test(trimmed) ? `0${trimmed}` : trimmed;
  });
  if (parts.length < 3) {
    if (/[+-]/.test(parts.at(-1)!)) throw new Error("short version cannot contain PreRelease/Build meta data");
    while (parts.length < 3) parts.push("0");
  }
  return parseSemver(parts.join("."));
}

/** Go's strings.SplitN. */
function splitN(text: string, separator: string, n: number): string[] {
  const all = text.split(separator);
  return all.length <= n ? all : [...all.slice(0, n - 1), all.slice(n - 1).join(separator)];
}

/** Go's %q for the ASCII text these messages quote (other characters are kept as they are). */
const goQuote = (s: string) => JSON.stringify(s);

/** The canonical text without build metadata: equal texts are equal versions. */
const canonical = (v: Version) => `${v.major}.${v.minor}.${v.patch}${v.pre.length > 0 ? `-${v.pre.join(".")}` : ""}`;

const semverValue = (v: Version) => opaque("semver", canonical(v));
const versionOf = (value: unknown) => parseSemver(requireOpaque("semver", value) as string);

/** Whether a value is a semver (for the comparison methods it shares with quantities). */
export const isSemverValue = (value: unknown) => opaquePayload("semver", value) !== undefined;

const order = <T extends bigint | string | number>(a: T, b: T) => (a === b ? 0 : a > b ? 1 : -1);

/** Semantic version precedence (blang/semver's Compare): -1, 0 or 1. */
export function compareSemver(a: unknown, b: unknown): bigint {
  const [x, y] = [versionOf(a), versionOf(b)];
  for (const key of ["major", "minor", "patch"] as const) if (x[key] !== y[key]) return BigInt(order(x[key], y[key]));
  // A version without pre-release identifiers has the higher precedence.
  if (x.pre.length === 0 || y.pre.length === 0) return BigInt(order(y.pre.length, x.pre.length));
  for (let i = 0; i < Math.min(x.pre.length, y.pre.length); i++) {
    const [p, q] = [x.pre[i]!, y.pre[i]!];
    // Numeric identifiers sort before alphanumeric ones.
    const c = typeof p === typeof q ? order(p, q) : typeof p === "bigint" ? -1 : 1;
    if (c !== 0) return BigInt(c);
  }
  return BigInt(order(x.pre.length, y.pre.length));
}

/** int64 as Go converts a uint64 (types.Int(v.Major)). */
const asInt64 = (n: bigint) => BigInt.asIntN(64, n);

const parseWith = (normalize: boolean) => (normalize ? normalizeAndParseSemver : parseSemver);

export const semverFunctions = [
  celFunc("semver", [STRING], OPAQUE, (text) => semverValue(parseSemver(text))),
  celFunc("semver", [STRING, BOOL], OPAQUE, (text, normalize) => semverValue(parseWith(normalize)(text))),
  celFunc("isSemver", [STRING], BOOL, (text) => succeeds(() => parseSemver(text))),
  celFunc("isSemver", [STRING, BOOL], BOOL, (text, normalize) => succeeds(() => parseWith(normalize)(text))),
  celMethod("major", OPAQUE, [], INT, function () {
    return asInt64(versionOf(this).major);
  }),
  celMethod("minor", OPAQUE, [], INT, function () {
    return asInt64(versionOf(this).minor);
  }),
  celMethod("patch", OPAQUE, [], INT, function () {
    return asInt64(versionOf(this).patch);
  }),
];
