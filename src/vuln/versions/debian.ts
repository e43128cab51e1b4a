// Debian's version order (deb-version(7), dpkg's verrevcmp): [epoch:]upstream[-revision], the epoch
// compared as a number, then upstream and revision each as alternating runs of non-digits (letters
// before other characters, "~" before everything, even the end) and numbers. Ubuntu uses the same.
import { checkLength, compareDigits, VersionError, type VersionScheme } from "./types.ts";

export interface DebianVersion {
  epoch: string;
  upstream: string;
  revision: string;
}

export const debian: VersionScheme<DebianVersion> = {
  name: "Debian",
  parse(version) {
    checkLength(this.name, version);
    const v = version.trim();
    const colon = v.indexOf(":");
    const epoch = colon < 0 ? "0" : v.slice(0, colon);
    if (!/^\d+$/.test(epoch)) throw new VersionError(this.name, version, "the epoch (before ':') is not a number");
    const rest = v.slice(colon + 1);
    const dash = rest.lastIndexOf("-");
    const upstream = dash < 0 ? rest : rest.slice(0, dash);
    const revision = dash < 0 ? "" : rest.slice(dash + 1);
    if (!/^[0-9]/.test(upstream)) throw new VersionError(this.name, version, "the upstream version does not start with a digit");
    if (!/^[0-9A-Za-z.+~:-]*$/.test(upstream))
      throw new VersionError(this.name, version, "the upstream version has a character outside [0-9A-Za-z.+~-]");
    if (!/^[0-9A-Za-z.+~]*$/.test(revision))
      throw new VersionError(this.name, version, "the revision has a character outside [0-9A-Za-z.+~]");
    return { epoch, upstream, revision };
  },
  compare(a, b) {
    return compareDigits(a.epoch, b.epoch) || verrevcmp(a.upstream, b.upstream) || verrevcmp(a.revision, b.revision);
  },
};

function order(s: string, i: number): number {
  if (i >= s.length) return 0;
  const c = s.charCodeAt(i);
  if (c >= 48 && c <= 57) return 0;
  if ((c >= 65 && c <= 90) || (c >= 97 && c <= 122)) return c;
  if (c === 126) return -1; // ~
  return c + 256;
}

const isDigitAt = (s: string, i: number) => i < s.length && s.charCodeAt(i) >= 48 && s.charCodeAt(i) <= 57;

export function verrevcmp(a: string, b: string): number {
  let i = 0,
    j = 0;
  while (i < a.length || j < b.length) {
    while ((i < a.length && !isDigitAt(a, i)) || (j < b.length && !isDigitAt(b, j))) {
      const c = order(a, i) - order(b, j);
      if (c !== 0) return c;
      i++;
      j++;
    }
    const si = i,
      sj = j;
    while (isDigitAt(a, i)) i++;
    while (isDigitAt(b, j)) j++;
    const c = compareDigits(a.slice(si, i) || "0", b.slice(sj, j) || "0");
    if (c !== 0) return c;
  }
  return 0;
}
