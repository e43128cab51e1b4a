// Finding secrets in one file's text. A finding carries where it is and a fingerprint of the secret,
// never the secret itself: nothing downstream (checks, SARIF, logs, the audit log) can print what it does
// not have.
import { createHash } from "node:crypto";
import { shannonEntropy } from "./entropy.ts";
import { isPlaceholder, secretRules, type SecretRule } from "./rules.ts";

export interface TextFinding {
  rule: string;
  description: string;
  /** 1-based. */
  line: number;
  column: number;
  /** Names the secret without revealing it: the same secret under the same rule has the same one anywhere. */
  fingerprint: string;
}

/** Files larger than this are not read whole; the scan reports them instead of passing them unread. */
export const MAX_SCANNED_BYTES = 32 << 20;

/** Git's own test for binary content: a NUL byte in the first 8000 bytes. */
export function isBinary(data: Buffer): boolean {
  return data.subarray(0, 8000).includes(0);
}

/**
 * Truncated SHA-256 of the rule and the secret. Stable across commits and files, so one allowlist entry
 * covers a known test value wherever it is copied; 128 bits, so it cannot be reversed except by guessing
 * the secret itself (which is why weak passwords must be rotated, not allowlisted).
 */
export function fingerprintOf(rule: string, secret: string): string {
  return createHash("sha256").update(`vigil-secret-v1\0${rule}\0${secret}`).digest("hex").slice(0, 32);
}

export function scanText(text: string, rules: readonly SecretRule[] = secretRules): TextFinding[] {
  return scanBytes(Buffer.from(text, "utf8"), rules);
}

/** Findings in a file's bytes. Rules whose keywords the bytes lack are never run, nor is the text decoded. */
export function scanBytes(data: Buffer, rules: readonly SecretRule[] = secretRules): TextFinding[] {
  const active = keywordIndex(rules).rulesIn(data);
  if (active.length === 0) return [];
  const text = data.toString("utf8");
  const findings: TextFinding[] = [];
  // Where specific rules matched: a generic rule's match over the same characters says nothing more.
  const specific: [number, number][] = [];
  let lines: LineIndex | undefined;
  for (const rule of active) {
    rule.regex.lastIndex = 0;
    for (let m = rule.regex.exec(text); m !== null; m = rule.regex.exec(text)) {
      if (m[0].length === 0) rule.regex.lastIndex++;
      const secret = m[1] ?? m[0];
      if (!accepts(rule, secret)) continue;
      const at = m.index + m[0].indexOf(secret);
      if (rule.generic && specific.some(([from, to]) => at < to && from < at + secret.length)) continue;
      if (!rule.generic) specific.push([at, at + secret.length]);
      lines ??= new LineIndex(text);
      const { line, column } = lines.position(at);
      findings.push({ rule: rule.id, description: rule.description, line, column, fingerprint: fingerprintOf(rule.id, secret) });
    }
  }
  return findings.sort((a, b) => a.line - b.line || a.column - b.column || a.rule.localeCompare(b.rule));
}

const lowerByte = (b: number) => (b >= 0x41 && b <= 0x5a ? b | 0x20 : b);

/**
 * Which rules' keywords occur in some bytes, in one pass: every keyword is ASCII and at least two
 * characters long, so a table of the keywords' first two bytes (case-folded) says at each position
 * whether any keyword may start there, and only then are the candidates compared. Linear in the bytes,
 * however many rules there are.
 */
class KeywordIndex {
  /** For each case-folded first pair of bytes, 1 + the index in `lists` of the keywords starting with it,
   *  or 0 for none (most pairs): a typed array, so the per-byte lookup is one load. */
  private readonly pairSlot = new Uint16Array(1 << 16);
  /** One bit per case-folded first pair of a keyword: 8 KiB, so the test made at every byte stays in the
   *  processor's first-level cache (the slot and triple tables, 128 KiB and 256 KiB, are read only where
   *  a keyword's pair starts; read at every byte, their cache misses cost more than the rest of the scan). */
  private readonly firstPairs = new Uint8Array(1 << 13);
  private readonly lists: { keyword: Buffer; rules: number[]; id: number }[][] = [];
  /** One bit per case-folded first three bytes of a keyword (any third byte for a two-byte one): most
   *  positions where a common pair ("se", "to", "pa") starts are passed over on this one test. */
  private readonly firstTriples = new Uint8Array(1 << 21);
  private readonly rules: readonly SecretRule[];
  private keywords = 0;
  /** Which rules and keywords the current text holds: kept between calls (and cleared), since scans are
   *  many and small (a commit's added lines) and their allocation showed in the profile. */
  private readonly hit: Uint8Array;
  private seen = new Uint8Array(0);

  constructor(rules: readonly SecretRule[]) {
    this.rules = rules;
    this.hit = new Uint8Array(rules.length);
    rules.forEach((rule, r) => {
      for (const k of rule.keywords) {
        const keyword = Buffer.from(k, "latin1");
        if (keyword.length < 2 || /[^\x20-\x7e]/.test(k) || k !== k.toLowerCase())
          throw new Error(`rule ${rule.id}: keyword "${k}" must be lower-case ASCII of two or more characters`);
        const pair = (keyword[0]! << 8) | keyword[1]!;
        this.firstPairs[pair >> 3]! |= 1 << (pair & 7);
        for (let third = 0; third < 256; third++) {
          if (keyword.length > 2 && third !== keyword[2]) continue;
          const triple = (pair << 8) | third;
          this.firstTriples[triple >> 3]! |= 1 << (triple & 7);
        }
        if (this.pairSlot[pair] === 0) this.pairSlot[pair] = this.lists.push([]);
        const list = this.lists[this.pairSlot[pair]! - 1]!;
        const same = list.find((e) => e.keyword.equals(keyword));
        if (same) same.rules.push(r);
        else list.push({ keyword, rules: [r], id: this.keywords++ });
      }
    });
    this.seen = new Uint8Array(this.keywords);
  }

  /** The rules to run on `data`, in the rules' order. */
  rulesIn(data: Buffer): SecretRule[] {
    const { hit, seen } = this;
    hit.fill(0);
    seen.fill(0);
    let left = this.keywords;
    const end = data.length - 1;
    for (let i = 0; i < end && left > 0; i++) {
      const pair = (lowerByte(data[i]!) << 8) | lowerByte(data[i + 1]!);
      if ((this.firstPairs[pair >> 3]! & (1 << (pair & 7))) === 0) continue;
      const triple = (pair << 8) | (i + 2 < data.length ? lowerByte(data[i + 2]!) : 0);
      if ((this.firstTriples[triple >> 3]! & (1 << (triple & 7))) === 0) continue;
      const slot = this.pairSlot[pair]!;
      if (slot === 0) continue;
      for (const c of this.lists[slot - 1]!) {
        if (seen[c.id] === 1 || !matchesAt(data, i, c.keyword)) continue;
        seen[c.id] = 1;
        left--;
        for (const r of c.rules) hit[r] = 1;
      }
    }
    if (left === this.keywords) return [];
    return this.rules.filter((_, r) => hit[r] === 1);
  }
}

function matchesAt(data: Buffer, at: number, keyword: Buffer): boolean {
  if (at + keyword.length > data.length) return false;
  for (let j = 2; j < keyword.length; j++) if (lowerByte(data[at + j]!) !== keyword[j]) return false;
  return true;
}

const indexes = new WeakMap<readonly SecretRule[], KeywordIndex>();
function keywordIndex(rules: readonly SecretRule[]): KeywordIndex {
  let index = indexes.get(rules);
  if (!index) indexes.set(rules, (index = new KeywordIndex(rules)));
  return index;
}

function accepts(rule: SecretRule, secret: string): boolean {
  if (rule.skipPlaceholders && isPlaceholder(secret)) return false;
  return rule.entropy === undefined || shannonEntropy(secret) >= rule.entropy;
}

/** Line and column of an offset, by binary search over the offsets of the text's line feeds. */
class LineIndex {
  private readonly feeds: number[] = [];
  constructor(text: string) {
    for (let i = text.indexOf("\n"); i !== -1; i = text.indexOf("\n", i + 1)) this.feeds.push(i);
  }
  position(offset: number): { line: number; column: number } {
    let lo = 0;
    let hi = this.feeds.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.feeds[mid]! < offset) lo = mid + 1;
      else hi = mid;
    }
    const lineStart = lo === 0 ? 0 : this.feeds[lo - 1]! + 1;
    return { line: lo + 1, column: offset - lineStart + 1 };
  }
}
