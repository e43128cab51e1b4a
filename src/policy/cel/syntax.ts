// CEL syntax that Kubernetes accepts but @bufbuild/cel 0.6.1 does not parse, rewritten into calls of
// functions that implement it (optional.ts), before parsing:
//
//   a.?f              → a.__vigilOptSelect('f')
//   a[?k]             → a.__vigilOptIndex(k)
//   [?x, y]           → __vigilOptCollapse([__vigilOptEntry(x), y])
//   {?'k': v}         → __vigilOptCollapse({'k': __vigilOptEntry(v)})
//   o.optMap(v, e)    → o.__vigilOptToList().map(v, e).__vigilListToOpt()
//   o.optFlatMap(v,e) → o.__vigilOptToList().map(v, e).__vigilFlattenOpt()
//   cel.bind(v, i, e) → [i].map(v, e)[0]
//
// Optional access is viral, as in cel-go: in `a.?f.g[0]`, the `.g` and `[0]` after the optional
// select are optional too. The rewrite follows the member chain for that; a method call ends it,
// except `or` and `optional.of/ofNonZeroValue/none`, whose result is an optional.
//
// Every rewrite keeps the operand's place in the grammar (a member call stands where a member select
// stood), so precedence is unchanged. The rewrite works on tokens, so strings and comments are never
// touched, and it keeps a map from output to input offsets so parse errors point into the text the
// author wrote.

/** A syntax error found while rewriting, at an offset of the input. */
export class CelSyntaxError extends Error {
  readonly offset: number;
  constructor(message: string, offset: number) {
    super(message);
    this.offset = offset;
  }
}

export interface Rewritten {
  text: string;
  /** The input offset each output offset came from. */
  origin: number[];
}

interface Token {
  kind: "ident" | "literal" | "punct" | "space";
  text: string;
  start: number;
}

const punctuation = [
  "==",
  "!=",
  "<=",
  ">=",
  "&&",
  "||",
  ".",
  "?",
  "[",
  "]",
  "{",
  "}",
  "(",
  ")",
  ",",
  ":",
  "<",
  ">",
  "+",
  "-",
  "*",
  "/",
  "%",
  "!",
];

function stringLiteralEnd(source: string, start: number): number {
  let i = start;
  while (/[rRbB]/.test(source[i] ?? "")) i++;
  const raw = /[rR]/.test(source.slice(start, i));
  const quote = source.startsWith(source[i]!.repeat(3), i) ? source[i]!.repeat(3) : source[i]!;
  i += quote.length;
  while (i < source.length) {
    if (!raw && source[i] === "\\") {
      i += 2;
      continue;
    }
    if (source.startsWith(quote, i)) return i + quote.length;
    if (quote.length === 1 && source[i] === "\n") break;
    i++;
  }
  return source.length; // unterminated: the parser reports it
}

function tokenize(source: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < source.length) {
    const rest = source.slice(i);
    let m: RegExpMatchArray | null;
    let kind: Token["kind"];
    let end: number;
    if ((m = rest.match(/^(\s+|\/\/[^\n]*)/))) {
      kind = "space";
      end = i + m[0].length;
    } else if (/^[rRbB]{0,2}["']/.test(rest)) {
      kind = "literal";
      end = stringLiteralEnd(source, i);
    } else if ((m = rest.match(/^([A-Za-z_][A-Za-z0-9_]*|`[^`]*`)/))) {
      kind = ["true", "false", "null"].includes(m[0]) ? "literal" : "ident";
      end = i + m[0].length;
    } else if ((m = rest.match(/^(0x[0-9a-fA-F]+[uU]?|\d+(\.\d+)?([eE][+-]?\d+)?[uU]?|\.\d+([eE][+-]?\d+)?)/))) {
      kind = "literal";
      end = i + m[0].length;
    } else {
      const p = punctuation.find((q) => rest.startsWith(q));
      kind = "punct";
      end = i + (p?.length ?? 1);
    }
    tokens.push({ kind, text: source.slice(i, end), start: i });
    i = end;
  }
  return tokens;
}

/** Calls whose result is an optional, so that a select or index right after them is optional too. */
const optionalResults = new Set(["or", "of", "ofNonZeroValue", "none"]);

const endsOperand = (t: Token | undefined) =>
  t !== undefined &&
  ((t.kind === "ident" && t.text !== "in") || t.kind === "literal" || t.text === ")" || t.text === "]" || t.text === "}");

/** Whether the source uses any syntax this module rewrites; the common case skips the rewrite. */
export function needsRewrite(source: string): boolean {
  return /\?|optMap|optFlatMap|optional\s*\.|cel\s*\.\s*bind/.test(source);
}

class Writer {
  readonly parts: { text: string; at: number }[] = [];
  emit(text: string, at: number) {
    this.parts.push({ text, at });
  }
  result(): Rewritten {
    let text = "";
    const origin: number[] = [];
    for (const p of this.parts) {
      text += p.text;
      for (let k = 0; k < p.text.length; k++) origin.push(p.at + k);
    }
    return { text, origin };
  }
}

/** Rewrites the optional-type syntax and cel.bind; text without them comes back unchanged. */
export function rewriteSyntax(source: string): Rewritten {
  const tokens = tokenize(source);
  const w = new Writer();
  new Rewriter(tokens, w, source.length).range(0, tokens.length);
  return w.result();
}

class Rewriter {
  private readonly tokens: Token[];
  private readonly w: Writer;
  private readonly length: number;
  constructor(tokens: Token[], w: Writer, length: number) {
    this.tokens = tokens;
    this.w = w;
    this.length = length;
  }

  private at(i: number) {
    return this.tokens[i]?.start ?? this.length;
  }
  /** Index of the next non-space token at or after i. */
  private next(i: number, end: number): number {
    while (i < end && this.tokens[i]!.kind === "space") i++;
    return i;
  }
  private previous(i: number): Token | undefined {
    for (let k = i - 1; k >= 0; k--) if (this.tokens[k]!.kind !== "space") return this.tokens[k];
    return undefined;
  }
  /** The index of the bracket closing the one at `open`, or `end` when unbalanced. */
  private closing(open: number, end: number): number {
    let depth = 0;
    for (let k = open; k < end; k++) {
      const t = this.tokens[k]!.text;
      if (this.tokens[k]!.kind !== "punct") continue;
      if (t === "(" || t === "[" || t === "{") depth++;
      else if (t === ")" || t === "]" || t === "}") if (--depth === 0) return k;
    }
    return end;
  }
  /** Top-level comma positions between open and close. */
  private commas(open: number, close: number): number[] {
    const out: number[] = [];
    let depth = 0;
    for (let k = open + 1; k < close; k++) {
      const t = this.tokens[k]!;
      if (t.kind !== "punct") continue;
      if (t.text === "(" || t.text === "[" || t.text === "{") depth++;
      else if (t.text === ")" || t.text === "]" || t.text === "}") depth--;
      else if (t.text === "," && depth === 0) out.push(k);
    }
    return out;
  }

  range(start: number, end: number): void {
    let i = start;
    let viral = false;
    while (i < end) [i, viral] = this.step(i, end, viral);
  }

  /** Writes the construct starting at token i; returns the index after it and whether the member
   * chain it ends is optional (so a select or index that follows is optional too). */
  private step(i: number, end: number, viral: boolean): [number, boolean] {
    const t = this.tokens[i]!;
    if (t.kind === "space") {
      this.w.emit(t.text, t.start);
      return [i + 1, viral];
    }
    if (t.text === "." && t.kind === "punct") return this.member(i, end, viral);
    if (t.kind === "ident" && t.text === "cel" && this.previous(i)?.text !== ".") {
      const bound = this.celBind(i, end);
      if (bound !== undefined) return [bound, false];
    }
    if (t.text === "[" && t.kind === "punct") {
      const close = this.closing(i, end);
      const q = this.next(i + 1, close);
      if (!endsOperand(this.previous(i))) return [this.literal(i, close, "list"), false];
      const optional = this.tokens[q]?.text === "?";
      if (!optional && !viral) return [this.copyBracketed(i, close), false];
      this.w.emit(".__vigilOptIndex(", t.start);
      this.range(optional ? q + 1 : i + 1, close);
      this.w.emit(")", this.at(close));
      return [close + 1, true];
    }
    if (t.text === "{" && t.kind === "punct") return [this.literal(i, this.closing(i, end), "map"), false];
    if (t.text === "(" && t.kind === "punct") return [this.copyBracketed(i, this.closing(i, end)), false];
    this.w.emit(t.text, t.start);
    return [i + 1, false];
  }

  /** `.name`, `.?name` or `.name(args)` at token i. */
  private member(i: number, end: number, viral: boolean): [number, boolean] {
    const dot = this.tokens[i]!;
    let name = this.next(i + 1, end);
    const optional = this.tokens[name]?.text === "?";
    if (optional) name = this.next(name + 1, end);
    const ident = this.tokens[name];
    if (ident?.kind !== "ident") {
      this.w.emit(dot.text, dot.start); // not a member: let the parser report it
      return [i + 1, false];
    }
    const paren = this.next(name + 1, end);
    if (!optional && this.tokens[paren]?.text === "(") {
      const close = this.closing(paren, end);
      if (ident.text === "optMap" || ident.text === "optFlatMap") {
        this.w.emit(".__vigilOptToList().map(", dot.start);
        this.range(paren + 1, close);
        this.w.emit(ident.text === "optMap" ? ").__vigilListToOpt()" : ").__vigilFlattenOpt()", this.at(close));
        return [close + 1, true];
      }
      this.w.emit(`.${ident.text}`, dot.start);
      this.copyBracketed(paren, close);
      return [close + 1, optionalResults.has(ident.text)];
    }
    if (!optional && !viral) {
      this.w.emit(`.${ident.text}`, dot.start);
      return [name + 1, false];
    }
    this.w.emit(`.__vigilOptSelect(${JSON.stringify(ident.text.replace(/^`|`$/g, ""))})`, dot.start);
    return [name + 1, true];
  }

  private copyBracketed(open: number, close: number): number {
    this.w.emit(this.tokens[open]!.text, this.at(open));
    this.range(open + 1, close);
    if (close < this.tokens.length) this.w.emit(this.tokens[close]!.text, this.at(close));
    return close + 1;
  }

  /** A list or map literal; entries marked `?` make the literal go through __vigilOptCollapse. */
  private literal(open: number, close: number, kind: "list" | "map"): number {
    const bounds = [open, ...this.commas(open, close), close];
    const optional = bounds.slice(0, -1).map((b) => this.tokens[this.next(b + 1, close)]?.text === "?");
    if (!optional.includes(true)) return this.copyBracketed(open, close);
    this.w.emit("__vigilOptCollapse(", this.at(open));
    this.w.emit(this.tokens[open]!.text, this.at(open));
    for (let e = 0; e < bounds.length - 1; e++) {
      const from = bounds[e]! + 1;
      const to = bounds[e + 1]!;
      if (e > 0) this.w.emit(",", this.at(bounds[e]!));
      if (!optional[e]) {
        this.range(from, to);
        continue;
      }
      const q = this.next(from, to);
      if (kind === "list") {
        this.w.emit("__vigilOptEntry(", this.at(q));
        this.range(q + 1, to);
        this.w.emit(")", this.at(to));
      } else {
        const colon = this.entryColon(q + 1, to);
        this.range(q + 1, colon);
        this.w.emit(":__vigilOptEntry(", this.at(colon));
        this.range(colon + 1, to);
        this.w.emit(")", this.at(to));
      }
    }
    if (close < this.tokens.length) this.w.emit(this.tokens[close]!.text, this.at(close));
    this.w.emit(")", this.at(close));
    return close + 1;
  }

  /** The `:` between a map entry's key and value (skipping the `:` of a conditional in the key). */
  private entryColon(from: number, to: number): number {
    let depth = 0;
    let conditionals = 0;
    for (let k = from; k < to; k++) {
      const t = this.tokens[k]!;
      if (t.kind !== "punct") continue;
      if (t.text === "(" || t.text === "[" || t.text === "{") depth++;
      else if (t.text === ")" || t.text === "]" || t.text === "}") depth--;
      else if (depth === 0 && t.text === "?") conditionals++;
      else if (depth === 0 && t.text === ":") {
        if (conditionals === 0) return k;
        conditionals--;
      }
    }
    return to;
  }

  /** cel.bind(v, init, body) → [init].map(v, body)[0]; undefined when this is not a cel.bind call. */
  private celBind(i: number, end: number): number | undefined {
    const dot = this.next(i + 1, end);
    const bind = this.next(dot + 1, end);
    const paren = this.next(bind + 1, end);
    if (this.tokens[dot]?.text !== "." || this.tokens[bind]?.text !== "bind" || this.tokens[paren]?.text !== "(") return undefined;
    const close = this.closing(paren, end);
    const commas = this.commas(paren, close);
    if (commas.length !== 2) throw new CelSyntaxError("cel.bind takes three arguments: a name, a value and an expression", this.at(i));
    const [first, second] = commas as [number, number];
    this.w.emit("[", this.at(i));
    this.range(first + 1, second);
    this.w.emit("].map(", this.at(i));
    this.range(paren + 1, first);
    this.w.emit(",", this.at(second));
    this.range(second + 1, close);
    this.w.emit(")[0]", this.at(close));
    return close + 1;
  }
}
