// RPM's version order (rpmvercmp, with epochs): [epoch:]version[-release], each part compared as runs
// of digits and of letters with separators skipped; "~" sorts before everything (even the end) and
// "^" after the end but before anything else.
import { checkLength, compareDigits, compareStrings, VersionError, type VersionScheme } from "./types.ts";

export interface RpmVersion {
  epoch: string;
  version: string;
  release: string;
}

export const rpm: VersionScheme<RpmVersion> = {
  name: "RPM",
  parse(text) {
    checkLength(this.name, text);
    if (/[\s\0]/.test(text)) throw new VersionError(this.name, text, "it contains white space or NUL");
    const colon = text.indexOf(":");
    const hasEpoch = colon >= 0 && /^\d+$/.test(text.slice(0, colon));
    const vr = hasEpoch ? text.slice(colon + 1) : text;
    const dash = vr.indexOf("-");
    return {
      epoch: hasEpoch ? text.slice(0, colon) : "0",
      version: dash < 0 ? vr : vr.slice(0, dash),
      release: dash < 0 ? "" : vr.slice(dash),
    };
  },
  compare(a, b) {
    return rpmvercmp(a.epoch, b.epoch) || rpmvercmp(a.version, b.version) || rpmvercmp(a.release, b.release);
  },
};

const isDigit = (c: string) => c >= "0" && c <= "9";
const isLetter = (c: string) => (c >= "a" && c <= "z") || (c >= "A" && c <= "Z");

export function rpmvercmp(a: string, b: string): number {
  if (a === b) return 0;
  if (a === "" || b === "") return a === "" ? -1 : 1;
  let i = 0,
    j = 0;
  for (;;) {
    while (i < a.length && !isDigit(a[i]!) && !isLetter(a[i]!) && a[i] !== "~" && a[i] !== "^") i++;
    while (j < b.length && !isDigit(b[j]!) && !isLetter(b[j]!) && b[j] !== "~" && b[j] !== "^") j++;
    const at = a[i],
      bt = b[j];
    if (at === "~" || bt === "~") {
      if (at === "~" && bt === "~") {
        i++;
        j++;
        continue;
      }
      return at === "~" ? -1 : 1;
    }
    if (at === "^" || bt === "^") {
      if (at === "^" && bt === "^") {
        i++;
        j++;
        continue;
      }
      if (at === "^") return j >= b.length ? 1 : -1;
      return i >= a.length ? -1 : 1;
    }
    if (i >= a.length || j >= b.length) break;
    const numeric = isDigit(a[i]!);
    const run = numeric ? isDigit : isLetter;
    const si = i,
      sj = j;
    while (i < a.length && run(a[i]!)) i++;
    while (j < b.length && run(b[j]!)) j++;
    if (sj === j) return numeric ? 1 : -1;
    const c = numeric ? compareDigits(a.slice(si, i), b.slice(sj, j)) : compareStrings(a.slice(si, i), b.slice(sj, j));
    if (c !== 0) return Math.sign(c);
  }
  return Math.sign(a.length - i - (b.length - j));
}
