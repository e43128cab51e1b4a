// Packagist (Composer) order, which is PHP's version_compare after Composer drops a leading "v": "-",
// "_" and "+" become ".", a "." goes between digits and letters, and parts compare as numbers or by
// the special forms dev < alpha (a) < beta (b) < RC (rc) < a number < pl (p); other words sort lowest.
// A longer version is higher when its next part is a number, else it compares that part with a number.
import { checkLength, compareDigits, VersionError, type VersionScheme } from "./types.ts";

export type PackagistVersion = string[];

const SPECIAL = ["dev", "a", "b", "rc", "#", "p"];
const isNumber = (s: string) => /^\d+$/.test(s);

export const packagist: VersionScheme<PackagistVersion> = {
  name: "Packagist",
  parse(version) {
    checkLength(this.name, version);
    if (!/[0-9A-Za-z]/.test(version)) throw new VersionError(this.name, version, "it has neither digits nor letters");
    const canonical = version
      .replace(/^[vV]/, "")
      .replace(/[-_+]/g, ".")
      .replace(/([^\d.])(\d)/g, "$1.$2")
      .replace(/(\d)([^\d.])/g, "$1.$2");
    return canonical.split(".");
  },
  compare: compareParts,
};

function weight(part: string): number {
  if (part.startsWith("RC")) return 3;
  const i = SPECIAL.findIndex((s) => part.startsWith(s));
  return Math.max(i, 0);
}

function compareParts(a: string[], b: string[]): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const an = isNumber(a[i]!),
      bn = isNumber(b[i]!);
    const c = an && bn ? compareDigits(a[i]!, b[i]!) : weight(an ? "#" : a[i]!) - weight(bn ? "#" : b[i]!);
    if (c !== 0) return Math.sign(c);
  }
  if (a.length > b.length) return isNumber(a[b.length]!) ? 1 : compareParts(a.slice(b.length), ["#"]);
  if (a.length < b.length) return isNumber(b[a.length]!) ? -1 : compareParts(["#"], b.slice(a.length));
  return 0;
}
