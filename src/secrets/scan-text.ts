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
  const lower = text.toLowerCase();
  const findings: TextFinding[] = [];
  // Where specific rules matched: a generic rule's match over the same characters says nothing more.
  const specific: [number, number][] = [];
  let lines: LineIndex | undefined;
  for (const rule of rules) {
    if (!rule.keywords.some((k) => lower.includes(k))) continue;
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
