// Rules keyed by glob patterns where the most specific matching pattern decides: the one with the
// most literal (non-wildcard) characters; on a tie, the one listed first. Path ownership and image
// rules in the trust policy both read this way, so a narrower rule always overrides a broader one.
//
// Patterns come from policies a commit may change and subjects from paths a commit names, so matching
// runs in time linear in the subject for a given pattern (a small NFA simulated state set by state set),
// never through a backtracking regular expression: "*a*a*a*a*b" against a long path cannot hang the gate.
// The glob language, as picomatch read it before (dot files included, no negation, no extglobs):
//   *      any run of characters within one path segment (never "/")
//   **     as a whole segment: any number of segments, none included ("a/**" matches "a", "**/b" matches "b")
//   ?      one character other than "/"
//   [abc] [a-z] [^a]   one character of (or not of) a set, never "/" ("!" is a member, as it was)
//   {a,b}  alternatives, nested as needed (at most MAX_ALTERNATIVES in all); "{a}" is literal
//   \x     x itself
// Everything else is literal, parentheses and "|" included (picomatch passed them to its regex).
import { InputError } from "./errors.ts";

interface Compiled<T> {
  pattern: string;
  value: T;
  index: number;
  specificity: number;
  matches: (subject: string) => boolean;
}

export class PatternRules<T> {
  private readonly rules: Compiled<T>[];
  constructor(rules: readonly { pattern: string; value: T }[]) {
    this.rules = rules
      .map(({ pattern, value }, index) => ({
        pattern,
        value,
        index,
        specificity: pattern.replace(/[*?[\]{}!]/g, "").length,
        matches: globMatcher(pattern),
      }))
      .sort((a, b) => b.specificity - a.specificity || a.index - b.index);
  }

  /** The rule that decides for `subject` (its pattern, value and position in the list), or undefined. */
  ruleFor(subject: string): { pattern: string; value: T; index: number } | undefined {
    return this.rules.find((r) => r.matches(subject));
  }
}

/** Brace expansion is bounded: "{a,b}{a,b}…" doubles with every group. */
export const MAX_ALTERNATIVES = 1024;

/** A matcher for one glob pattern, linear in the subject's length. */
export function globMatcher(pattern: string): (subject: string) => boolean {
  const nfa = new Nfa();
  const accept = nfa.state();
  for (const alternative of expandBraces(pattern.startsWith("./") ? pattern.slice(2) : pattern)) {
    const end = buildAlternative(nfa, tokenize(alternative));
    nfa.epsilon(end, accept);
  }
  return (subject) => nfa.run(subject, accept);
}

// --- the NFA -----------------------------------------------------------------------------------------

type CharTest = (code: number) => boolean;
const SLASH = 0x2f;
const anyChar: CharTest = () => true;
const notSlash: CharTest = (c) => c !== SLASH;

class Nfa {
  private readonly edges: { test: CharTest; to: number }[][] = [[]];
  private readonly epsilons: number[][] = [[]];
  /** State 0 is the start; every alternative begins there. */
  readonly start = 0;

  state(): number {
    this.edges.push([]);
    this.epsilons.push([]);
    return this.edges.length - 1;
  }
  edge(from: number, test: CharTest, to: number): void {
    this.edges[from]!.push({ test, to });
  }
  epsilon(from: number, to: number): void {
    this.epsilons[from]!.push(to);
  }

  /** Simulates every path at once: at most (states × subject length) steps. */
  run(subject: string, accept: number): boolean {
    const seen = new Int32Array(this.edges.length).fill(-1);
    let current = this.closure([this.start], seen, 0);
    for (let i = 0; i < subject.length && current.length > 0; i++) {
      const code = subject.charCodeAt(i);
      const next: number[] = [];
      for (const s of current) for (const e of this.edges[s]!) if (e.test(code)) next.push(e.to);
      current = this.closure(next, seen, i + 1);
    }
    return current.includes(accept);
  }

  private closure(states: number[], seen: Int32Array, step: number): number[] {
    const out: number[] = [];
    const stack = [...states];
    while (stack.length > 0) {
      const s = stack.pop()!;
      if (seen[s] === step) continue;
      seen[s] = step;
      out.push(s);
      stack.push(...this.epsilons[s]!);
    }
    return out;
  }
}

// --- patterns into the NFA ---------------------------------------------------------------------------

type Token = { kind: "char"; test: CharTest } | { kind: "slash" } | { kind: "star" } | { kind: "globstar" };

/** Adds one brace-free alternative after the start state (its own first state: a loop there is its own); returns its end state. */
function buildAlternative(nfa: Nfa, tokens: Token[]): number {
  let at = nfa.state();
  nfa.epsilon(nfa.start, at);
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i]!;
    const next = tokens[i + 1];
    if (token.kind === "slash" && next?.kind === "globstar") {
      if (i + 2 === tokens.length) return optionalSlashAndRest(nfa, at); // "a/**": "a", or "a/" and anything
      at = slashThenOptionalSegments(nfa, at); // "a/**/b": "/", or "/…/"
      i += 2; // the globstar and the slash after it
    } else if (token.kind === "globstar") {
      if (next === undefined) return anything(nfa, at); // "**" alone, or after a slash already taken
      at = optionalSegments(nfa, at); // "**/b": nothing, or "…/"
      i += 1;
    } else at = single(nfa, at, token);
  }
  return at;
}

function single(nfa: Nfa, at: number, token: Exclude<Token, { kind: "globstar" }>): number {
  if (token.kind === "star") {
    nfa.edge(at, notSlash, at);
    return at;
  }
  const to = nfa.state();
  nfa.edge(at, token.kind === "slash" ? (c) => c === SLASH : token.test, to);
  return to;
}

/** `.*` */
function anything(nfa: Nfa, at: number): number {
  nfa.edge(at, anyChar, at);
  return at;
}

/** `(?:.*\/)?` */
function optionalSegments(nfa: Nfa, at: number): number {
  const loop = nfa.state();
  const end = nfa.state();
  nfa.epsilon(at, end);
  nfa.epsilon(at, loop);
  nfa.edge(loop, anyChar, loop);
  nfa.edge(loop, (c) => c === SLASH, end);
  return end;
}

/** `\/(?:.*\/)?` */
function slashThenOptionalSegments(nfa: Nfa, at: number): number {
  const afterSlash = nfa.state();
  nfa.edge(at, (c) => c === SLASH, afterSlash);
  return optionalSegments(nfa, afterSlash);
}

/** `(?:\/.*)?` */
function optionalSlashAndRest(nfa: Nfa, at: number): number {
  const rest = nfa.state();
  const end = nfa.state();
  nfa.edge(at, (c) => c === SLASH, rest);
  nfa.edge(rest, anyChar, rest);
  nfa.epsilon(rest, end);
  nfa.epsilon(at, end);
  return end;
}

// --- reading the glob ----------------------------------------------------------------------------------

function tokenize(glob: string): Token[] {
  const tokens: Token[] = [];
  for (let i = 0; i < glob.length; i++) {
    const ch = glob[i]!;
    if (ch === "/") tokens.push({ kind: "slash" });
    else if (ch === "*") {
      let end = i;
      while (glob[end + 1] === "*") end++;
      const wholeSegment = end > i && (i === 0 || glob[i - 1] === "/") && (end + 1 === glob.length || glob[end + 1] === "/");
      tokens.push({ kind: wholeSegment ? "globstar" : "star" });
      i = end;
    } else if (ch === "?") tokens.push({ kind: "char", test: notSlash });
    else if (ch === "[") {
      const set = readClass(glob, i);
      if (set) {
        tokens.push({ kind: "char", test: set.test });
        i = set.end;
      } else tokens.push(literal(ch));
    } else if (ch === "\\" && i + 1 < glob.length) tokens.push(literal(glob[++i]!));
    else tokens.push(literal(ch));
  }
  return tokens;
}

function literal(ch: string): Token {
  const code = ch.charCodeAt(0);
  return code === SLASH ? { kind: "slash" } : { kind: "char", test: (c) => c === code };
}

/** `[...]` from `start`: its test and where it ends, or null when it never closes (then "[" is literal). */
function readClass(glob: string, start: number): { test: CharTest; end: number } | null {
  let i = start + 1;
  // Only "^" negates: picomatch without negation read "[!a]" as "!" or "a", and a policy written for that
  // must not start matching more now.
  const negated = glob[i] === "^";
  if (negated) i++;
  const ranges: [number, number][] = [];
  for (let first = true; i < glob.length; first = false, i++) {
    let ch = glob[i]!;
    if (ch === "]" && !first) {
      const inSet = (c: number) => ranges.some(([lo, hi]) => c >= lo && c <= hi);
      return { test: (c) => c !== SLASH && inSet(c) !== negated, end: i };
    }
    if (ch === "\\" && i + 1 < glob.length) ch = glob[++i]!;
    const lo = ch.charCodeAt(0);
    if (glob[i + 1] === "-" && i + 2 < glob.length && glob[i + 2] !== "]") {
      let hiChar = glob[i + 2]!;
      i += 2;
      if (hiChar === "\\" && i + 1 < glob.length) hiChar = glob[++i]!;
      ranges.push([lo, hiChar.charCodeAt(0)]);
    } else ranges.push([lo, lo]);
  }
  return null;
}

/** Every brace-free alternative of `glob`, in order; "{a}" and an unclosed "{" stay literal. */
function expandBraces(glob: string): string[] {
  const group = firstBraceGroup(glob);
  if (!group) return [glob];
  const out: string[] = [];
  for (const option of group.options) {
    for (const rest of expandBraces(glob.slice(0, group.start) + option + glob.slice(group.end + 1))) {
      out.push(rest);
      if (out.length > MAX_ALTERNATIVES) throw new InputError(`pattern "${glob}" expands to more than ${MAX_ALTERNATIVES} alternatives`);
    }
  }
  return out;
}

/** The first "{…,…}" at depth 0 (outside classes and escapes), with its top-level options. */
function firstBraceGroup(glob: string): { start: number; end: number; options: string[] } | null {
  for (let i = 0; i < glob.length; i++) {
    const ch = glob[i]!;
    if (ch === "\\") i++;
    else if (ch === "[") i = readClass(glob, i)?.end ?? i;
    else if (ch === "{") {
      const group = braceGroupAt(glob, i);
      if (group && group.options.length > 1) return group;
    }
  }
  return null;
}

function braceGroupAt(glob: string, start: number): { start: number; end: number; options: string[] } | null {
  const options: string[] = [];
  let depth = 0;
  let from = start + 1;
  for (let i = start + 1; i < glob.length; i++) {
    const ch = glob[i]!;
    if (ch === "\\") i++;
    else if (ch === "[") i = readClass(glob, i)?.end ?? i;
    else if (ch === "{") depth++;
    else if (ch === "}" && depth > 0) depth--;
    else if (ch === "}") {
      options.push(glob.slice(from, i));
      return { start, end: i, options };
    } else if (ch === "," && depth === 0) {
      options.push(glob.slice(from, i));
      from = i + 1;
    }
  }
  return null;
}
