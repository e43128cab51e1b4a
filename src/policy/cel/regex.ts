// Kubernetes' regex library: find(regex) and findAll(regex[, n]) with Go's RE2 syntax and match rules.
// A pattern is first checked by an RE2 parser (@bufbuild/re2, which @bufbuild/cel ships), so whatever
// RE2 rejects (lookaround, backreferences, possessive quantifiers…) is an error here too; it is then
// translated to an equivalent JavaScript pattern, because that parser only answers yes/no and the
// library must return the matched text.
import { celMethod, CelScalar, listType } from "@bufbuild/cel";
import { RE2JS } from "@bufbuild/re2";

const { STRING, INT } = CelScalar;

interface Flags {
  i: boolean; // case-insensitive
  m: boolean; // ^ and $ match at line breaks
  s: boolean; // . matches \n
  U: boolean; // ungreedy: x* is lazy and x*? greedy
}

const POSIX_CLASSES: Record<string, [number, number][]> = {
  alnum: [
    [0x30, 0x39],
    [0x41, 0x5a],
    [0x61, 0x7a],
  ],
  alpha: [
    [0x41, 0x5a],
    [0x61, 0x7a],
  ],
  ascii: [[0x00, 0x7f]],
  blank: [
    [0x09, 0x09],
    [0x20, 0x20],
  ],
  cntrl: [
    [0x00, 0x1f],
    [0x7f, 0x7f],
  ],
  digit: [[0x30, 0x39]],
  graph: [[0x21, 0x7e]],
  lower: [[0x61, 0x7a]],
  print: [[0x20, 0x7e]],
  punct: [
    [0x21, 0x2f],
    [0x3a, 0x40],
    [0x5b, 0x60],
    [0x7b, 0x7e],
  ],
  space: [
    [0x09, 0x0d],
    [0x20, 0x20],
  ],
  upper: [[0x41, 0x5a]],
  word: [
    [0x30, 0x39],
    [0x41, 0x5a],
    [0x5f, 0x5f],
    [0x61, 0x7a],
  ],
  xdigit: [
    [0x30, 0x39],
    [0x41, 0x46],
    [0x61, 0x66],
  ],
};
const RE2_SPACE: [number, number][] = [
  [0x09, 0x0a],
  [0x0c, 0x0d],
  [0x20, 0x20],
]; // \s is ASCII [\t\n\f\r ]
const GENERAL_CATEGORY = /^(C[cfos]?|L[lmotu]?|M[cen]?|N[dlo]?|P[cdefios]?|S[ckmo]?|Z[lps]?|Any)$/;
const SIMPLE_ESCAPES: Record<string, number> = { a: 0x07, f: 0x0c, t: 0x09, n: 0x0a, r: 0x0d, v: 0x0b };

const codePoint = (cp: number) => `\\u{${cp.toString(16)}}`;
const rangesText = (ranges: [number, number][]) =>
  ranges.map(([lo, hi]) => (lo === hi ? codePoint(lo) : `${codePoint(lo)}-${codePoint(hi)}`)).join("");

function complement(ranges: [number, number][]): [number, number][] {
  const out: [number, number][] = [];
  let next = 0;
  for (const [lo, hi] of ranges) {
    if (lo > next) out.push([next, lo - 1]);
    next = hi + 1;
  }
  if (next <= 0x10ffff) out.push([next, 0x10ffff]);
  return out;
}

/** Translates one RE2 pattern (already known to be valid RE2) into a JavaScript pattern for the "u" flag. */
class Translator {
  private readonly chars: string[];
  private pos = 0;
  private flags: Flags = { i: false, m: false, s: false, U: false };
  private readonly saved: Flags[] = [];

  constructor(pattern: string) {
    this.chars = Array.from(pattern);
  }

  translate(): string {
    let out = "";
    while (this.pos < this.chars.length) out += this.next();
    return out;
  }

  private peek(offset = 0) {
    return this.chars[this.pos + offset];
  }

  private atom(text: string) {
    return this.flags.i ? `(?i:${text})` : text;
  }

  private next(): string {
    const c = this.chars[this.pos++]!;
    switch (c) {
      case "\\":
        return this.escape();
      case "[":
        return this.atom(this.characterClass());
      case "(":
        return this.openGroup();
      case ")":
        this.flags = this.saved.pop() ?? this.flags;
        return ")";
      case "|":
        return "|";
      case ".":
        return this.flags.s ? "[\\s\\S]" : "[^\\n]";
      case "^":
        return this.flags.m ? "(?<![^\\n])" : "(?<![\\s\\S])";
      case "$":
        return this.flags.m ? "(?![^\\n])" : "(?![\\s\\S])";
      case "*":
      case "+":
      case "?":
        return this.quantifier(c);
      case "{": {
        const repeat = /^\{[0-9]+(,[0-9]*)?\}/.exec(this.chars.slice(this.pos - 1, this.pos + 12).join(""));
        if (repeat) {
          this.pos += Array.from(repeat[0]).length - 1;
          return this.quantifier(repeat[0]);
        }
        return this.atom(codePoint(0x7b));
      }
      default:
        return this.atom(this.literal(c));
    }
  }

  private literal(c: string) {
    return /^[\p{L}\p{N}_ ]$/u.test(c) ? c : codePoint(c.codePointAt(0)!);
  }

  private quantifier(operator: string) {
    let lazy = this.peek() === "?";
    if (lazy) this.pos++;
    if (this.flags.U) lazy = !lazy;
    return operator + (lazy ? "?" : "");
  }

  private openGroup(): string {
    this.saved.push({ ...this.flags });
    if (this.peek() !== "?") return "(";
    this.pos++;
    const rest = this.chars.slice(this.pos).join("");
    const named = /^P?<[^>]*>/.exec(rest);
    if (named) {
      this.pos += Array.from(named[0]).length;
      return "("; // names do not matter to find/findAll, and RE2 allows names JavaScript does not
    }
    const flagged = /^([imsU]*)(?:-([imsU]*))?([:)])/.exec(rest)!;
    this.pos += flagged[0].length;
    const flags = this.flags;
    for (const f of flagged[1]!) flags[f as keyof Flags] = true;
    for (const f of flagged[2] ?? "") flags[f as keyof Flags] = false;
    if (flagged[3] === ":") return "(?:";
    // (?i) changes the flags until the end of the enclosing group: no group of its own.
    this.saved.pop();
    return "";
  }

  private escape(): string {
    const c = this.chars[this.pos++]!;
    switch (c) {
      case "A":
        return "(?<![\\s\\S])";
      case "z":
        return "(?![\\s\\S])";
      case "b":
      case "B":
        return `\\${c}`;
      case "d":
      case "D":
      case "w":
      case "W":
        return this.atom(`\\${c}`);
      case "s":
        return `[${rangesText(RE2_SPACE)}]`;
      case "S":
        return `[^${rangesText(RE2_SPACE)}]`;
      case "p":
      case "P":
        return this.atom(this.unicodeClass(c === "P"));
      case "Q": {
        let out = "";
        while (this.pos < this.chars.length && !(this.peek() === "\\" && this.peek(1) === "E"))
          out += this.atom(this.literal(this.chars[this.pos++]!));
        this.pos += 2;
        return out;
      }
      default:
        return this.atom(codePoint(this.escapedCodePoint(c)));
    }
  }

  /** The code point of a literal escape (\n, \x41, \x{10FFFF}, \101, \.), the escape letter consumed. */
  private escapedCodePoint(c: string): number {
    const simple = SIMPLE_ESCAPES[c];
    if (simple !== undefined) return simple;
    if (c === "x") {
      const rest = this.chars.slice(this.pos).join("");
      const hex = /^\{([0-9a-fA-F]+)\}|^[0-9a-fA-F]{2}/.exec(rest)!;
      this.pos += hex[0].length;
      return parseInt(hex[1] ?? hex[0], 16);
    }
    if (c >= "0" && c <= "7") {
      let digits = c;
      while (digits.length < 3 && /[0-7]/.test(this.peek() ?? "")) digits += this.chars[this.pos++];
      return parseInt(digits, 8);
    }
    return c.codePointAt(0)!;
  }

  private unicodeClass(negated: boolean): string {
    let name: string;
    if (this.peek() === "{") {
      const close = this.chars.indexOf("}", this.pos);
      name = this.chars.slice(this.pos + 1, close).join("");
      this.pos = close + 1;
    } else {
      name = this.chars[this.pos++]!;
    }
    if (name.startsWith("^")) [name, negated] = [name.slice(1), !negated];
    const property = GENERAL_CATEGORY.test(name) ? name : `Script=${name}`;
    return `\\${negated ? "P" : "p"}{${property}}`;
  }

  /** A bracketed class; the opening "[" is consumed. Every member is written as an explicit code point or class. */
  private characterClass(): string {
    let out = "[";
    if (this.peek() === "^") {
      out += "^";
      this.pos++;
    }
    let first = true;
    while (this.peek() !== "]" || first) {
      first = false;
      const posix = /^\[:(\^?)([a-z]+):\]/.exec(this.chars.slice(this.pos, this.pos + 12).join(""));
      if (posix) {
        const ranges = POSIX_CLASSES[posix[2]!]!;
        out += rangesText(posix[1] ? complement(ranges) : ranges);
        this.pos += posix[0].length;
        continue;
      }
      const member = this.classMember();
      if (typeof member === "string") {
        out += member;
        continue;
      }
      if (this.peek() === "-" && this.peek(1) !== "]" && this.peek(1) !== undefined) {
        this.pos++;
        const upper = this.classMember() as number;
        out += `${codePoint(member)}-${codePoint(upper)}`;
      } else {
        out += codePoint(member);
      }
    }
    this.pos++;
    return out + "]";
  }

  /** One member of a class: a code point, or the JavaScript text of a class escape (\d, \s, \pL…). */
  private classMember(): number | string {
    const c = this.chars[this.pos++]!;
    if (c !== "\\") return c.codePointAt(0)!;
    const e = this.chars[this.pos++]!;
    if ("dDwW".includes(e)) return `\\${e}`;
    if (e === "s") return rangesText(RE2_SPACE);
    if (e === "S") return rangesText(complement(RE2_SPACE));
    if (e === "p" || e === "P") return this.unicodeClass(e === "P");
    return this.escapedCodePoint(e);
  }
}

// Patterns may come from the objects checked, so the cache is bounded rather than kept for the run.
const compiled = new Map<string, RegExp>();
const MAX_CACHED = 1000;

/** Compiles an RE2 pattern (cached); throws "Illegal regex: …" as Kubernetes does for what RE2 rejects. */
export function compileRE2(pattern: string): RegExp {
  let regex = compiled.get(pattern);
  if (regex) return regex;
  try {
    RE2JS.compile(pattern);
  } catch (e) {
    throw new Error(`Illegal regex: ${(e as Error).message}`);
  }
  regex = new RegExp(new Translator(pattern).translate(), "gu");
  if (compiled.size >= MAX_CACHED) compiled.clear();
  compiled.set(pattern, regex);
  return regex;
}

/** Go's Regexp.FindAllString: an empty match right after the previous match is skipped. */
export function findAll(text: string, pattern: string, limit: number): string[] {
  const regex = compileRE2(pattern);
  const found: string[] = [];
  let pos = 0;
  let previousEnd = -1;
  while ((limit < 0 || found.length < limit) && pos <= text.length) {
    regex.lastIndex = pos;
    const match = regex.exec(text);
    if (!match) break;
    const start = match.index;
    const end = start + match[0].length;
    let accept = true;
    if (end === pos) {
      accept = start !== previousEnd;
      pos += pos < text.length && text.codePointAt(pos)! > 0xffff ? 2 : 1;
    } else {
      pos = end;
    }
    previousEnd = end;
    if (accept) found.push(match[0]);
  }
  return found;
}

export const regexFunctions = [
  celMethod("find", STRING, [STRING], STRING, function (pattern) {
    return findAll(this, pattern, 1)[0] ?? "";
  }),
  celMethod("findAll", STRING, [STRING], listType(STRING), function (pattern) {
    return findAll(this, pattern, -1);
  }),
  celMethod("findAll", STRING, [STRING, INT], listType(STRING), function (pattern, limit) {
    return findAll(this, pattern, limit < 0n ? -1 : Number(limit > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : limit));
  }),
];
