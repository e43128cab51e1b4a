// PEP 440 order for PyPI (epoch, release, pre, post, dev, local), with the pre-PEP 440 ("legacy")
// versions that old releases still carry ordered below every PEP 440 version, as pip's packaging did
// before it dropped LegacyVersion and as OSV's tools still do.
import { checkLength, compareDigits, compareStrings, VersionError, type VersionScheme } from "./types.ts";

interface Tagged {
  tag: string;
  n: string;
}
export interface Pep440 {
  legacy?: string;
  epoch: string;
  release: string[];
  pre?: Tagged;
  post?: string;
  dev?: string;
  local: string[];
}

// PEP 440 Appendix B, lower-cased input.
const PATTERN =
  /^\s*v?(?:(?:(\d+)!)?(\d+(?:\.\d+)*)([-_.]?(a|b|c|rc|alpha|beta|pre|preview)[-_.]?(\d+)?)?((?:-(\d+))|(?:[-_.]?(post|rev|r)[-_.]?(\d+)?))?([-_.]?(dev)[-_.]?(\d+)?)?)(?:\+([a-z0-9]+(?:[-_.][a-z0-9]+)*))?\s*$/;
const PRE_SPELLING: Record<string, string> = { alpha: "a", beta: "b", c: "rc", pre: "rc", preview: "rc" };
const PRE_ORDER = ["a", "b", "rc"];

export const pep440: VersionScheme<Pep440> = {
  name: "PEP 440",
  parse(version) {
    checkLength(this.name, version);
    const s = version.toLowerCase();
    const m = PATTERN.exec(s);
    if (!m) {
      if (!/[0-9a-z]/.test(s)) throw new VersionError(this.name, version, "it has neither digits nor letters");
      return { legacy: legacyKey(s), epoch: "0", release: [], local: [] };
    }
    const v: Pep440 = { epoch: m[1] ?? "0", release: m[2]!.split("."), local: m[13] ? m[13].split(/[-_.]/) : [] };
    if (m[4]) v.pre = { tag: PRE_SPELLING[m[4]] ?? m[4], n: m[5] ?? "0" };
    if (m[6]) v.post = m[7] ?? m[9] ?? "0";
    if (m[10]) v.dev = m[12] ?? "0";
    return v;
  },
  compare(a, b) {
    if (a.legacy !== undefined || b.legacy !== undefined) {
      if (a.legacy === undefined) return 1;
      if (b.legacy === undefined) return -1;
      return compareStrings(a.legacy, b.legacy);
    }
    return (
      compareDigits(a.epoch, b.epoch) ||
      compareRelease(a.release, b.release) ||
      comparePre(a, b) ||
      compareOptional(a.post, b.post, -1) ||
      compareOptional(a.dev, b.dev, 1) ||
      compareLocal(a.local, b.local)
    );
  },
};

function compareRelease(a: string[], b: string[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const c = compareDigits(a[i] ?? "0", b[i] ?? "0");
    if (c !== 0) return c;
  }
  return 0;
}

/** A dev release of a final (1.0.dev0) sorts before its pre-releases; no pre-release sorts after them. */
function comparePre(a: Pep440, b: Pep440): number {
  const rank = (v: Pep440) => (!v.pre && v.post === undefined && v.dev !== undefined ? -1 : v.pre ? 0 : 1);
  const ra = rank(a),
    rb = rank(b);
  if (ra !== rb || ra !== 0) return ra - rb;
  return PRE_ORDER.indexOf(a.pre!.tag) - PRE_ORDER.indexOf(b.pre!.tag) || compareDigits(a.pre!.n, b.pre!.n);
}

/** `missing` is where an absent segment sorts: -1 below any present (post), 1 above (dev). */
function compareOptional(a: string | undefined, b: string | undefined, missing: number): number {
  if (a === undefined || b === undefined) return a === b ? 0 : a === undefined ? missing : -missing;
  return compareDigits(a, b);
}

function compareLocal(a: string[], b: string[]): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const an = /^\d+$/.test(a[i]!),
      bn = /^\d+$/.test(b[i]!);
    const c = an && bn ? compareDigits(a[i]!, b[i]!) : an !== bn ? (an ? 1 : -1) : compareStrings(a[i]!, b[i]!);
    if (c !== 0) return c;
  }
  return a.length - b.length;
}

/** setuptools' old parse_version key: numbers padded, words prefixed, "final" markers dropped. */
function legacyKey(s: string): string {
  const parts: string[] = [];
  for (let part of [...(s.match(/\d+|[a-z]+|\.|-/g) ?? []), "final"]) {
    if (part === ".") continue;
    part = ({ pre: "c", preview: "c", "-": "final-", rc: "c", dev: "@" } as Record<string, string>)[part] ?? part;
    part = /^\d/.test(part) ? part.padStart(8, "0") : "*" + part;
    if (part.startsWith("*")) {
      if (part < "*final") while (parts.at(-1) === "*final-") parts.pop();
      while (parts.at(-1) === "00000000") parts.pop();
    }
    parts.push(part);
  }
  return parts.join("");
}
