// Maven's version order (the POM reference's "Version Order Specification", with ComparableVersion's
// readings where the text is silent): tokens split at ".", "-" and digit/letter transitions, each with
// its separator; trailing nulls trimmed before every hyphen; well-known qualifiers ordered
// alpha < beta < milestone < rc < snapshot < "" (ga, final, release) < sp, others after them
// alphabetically; ".qualifier" < "-qualifier" < "-number" < ".number".
import { checkLength, compareDigits, compareStrings, type VersionScheme } from "./types.ts";

interface Token {
  prefix: "." | "-";
  value: string;
  isNull?: boolean;
}
export type MavenVersion = Token[];

const KEYWORDS = ["alpha", "beta", "milestone", "rc", "snapshot", "", "sp"];
const SHORT: Record<string, string> = { a: "alpha", b: "beta", m: "milestone" };
const isNumber = (s: string) => /^\d+$/.test(s);

export const maven: VersionScheme<MavenVersion> = {
  name: "Maven",
  parse(version) {
    checkLength(this.name, version);
    const tokens: Token[] = [];
    const raw = version.split(/([-.])/);
    for (let i = 0; i < raw.length; i += 2) {
      let prefix: Token["prefix"] = i === 0 ? "." : (raw[i - 1] as Token["prefix"]);
      const piece = raw[i]!;
      const chunks = piece.match(/\d+|\D+/g) ?? [""];
      chunks.forEach((chunk, j) => {
        if (j > 0) prefix = "-";
        let value = chunk.toLowerCase() || "0";
        if (value === "cr") value = "rc";
        if (value === "ga" || value === "final" || value === "release") value = "";
        // a, b and m stand for alpha, beta and milestone only when a number follows directly.
        if (j < chunks.length - 1 && SHORT[value]) value = SHORT[value]!;
        if (isNumber(value)) value = value.replace(/^0+(?=\d)/, "");
        tokens.push({ prefix, value });
      });
    }
    // Trim trailing nulls at the end, then before each remaining hyphen, from the end to the start.
    for (let i = tokens.length - 1; i > 0; ) {
      if (isNullValue(tokens[i]!)) {
        tokens.splice(i, 1);
        i--;
        continue;
      }
      while (i >= 0 && tokens[i]!.prefix !== "-") i--;
      i--;
    }
    return tokens;
  },
  compare(a, b) {
    for (let i = 0; i < Math.max(a.length, b.length); i++) {
      const left = a[i] ?? nullLike(b[i]!);
      const right = b[i] ?? nullLike(a[i]!);
      if (left.prefix === right.prefix && left.value === right.value) continue;
      return lessThan(left, right) ? -1 : 1;
    }
    return 0;
  },
};

function isNullValue(t: Token): boolean {
  return t.value === "0" || t.value === "";
}

/** The padding a shorter version gets opposite a token: 0 after ".", "" after "-" ("" also opposite .sp). */
function nullLike(t: Token): Token {
  return { prefix: t.prefix, value: t.prefix === "." && t.value !== "sp" ? "0" : "", isNull: true };
}

function lessThan(a: Token, b: Token): boolean {
  if (a.prefix !== b.prefix) return order(a) < order(b);
  const an = isNumber(a.value),
    bn = isNumber(b.value);
  if (an && bn) return compareDigits(a.value, b.value) < 0;
  // Numbers sort after qualifiers, except a padded null.
  if (an && !a.isNull) return false;
  if (bn && !b.isNull) return true;
  const ai = keyword(a.value),
    bi = keyword(b.value);
  if (ai === KEYWORDS.length && bi === KEYWORDS.length) return compareStrings(a.value, b.value) < 0;
  return ai < bi;
}

function keyword(value: string): number {
  const i = KEYWORDS.indexOf(value);
  return i < 0 ? KEYWORDS.length : i;
}

function order(t: Token): number {
  if (isNumber(t.value)) return t.prefix === "-" ? 2 : 3;
  return t.prefix === "-" ? 1 : 0;
}
