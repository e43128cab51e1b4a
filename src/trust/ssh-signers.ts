// Trusted SSH keys, from the trust policy or from git's allowed_signers file (ssh-keygen(1),
// "ALLOWED SIGNERS"), and OpenSSH's principal matching. Verifying a signature against them is
// src/git/signatures/ssh-verify.ts.
import { SshFormatError, parsePublicKeyBlob, type SshPublicKey } from "./ssh-wire.ts";

export interface SshTrustEntry {
  /** Principal patterns (comma list, with * ? and ! as in OpenSSH), or the signer's name. */
  principals: string[];
  key: SshPublicKey;
  certAuthority: boolean;
  namespaces?: string[];
  validAfter?: Date;
  validBefore?: Date;
  /** Where the entry was written, for messages: "trust.yaml signers[0].ssh" or "allowed_signers:3". */
  source: string;
}

/** Parses `[options] keytype base64 [comment]` (withPrincipals: a leading principals field). */
export function parseAllowedSignerLine(line: string, source: string, withPrincipals: boolean): SshTrustEntry {
  const tokens = tokenize(line, source);
  let principals: string[] = [];
  if (withPrincipals) {
    const p = tokens.shift();
    if (!p) throw new SshFormatError(`${source}: missing principals`);
    principals = p.split(",");
  }
  const options: Record<string, string | true> = {};
  while (tokens.length > 0 && !isKeyType(tokens[0]!)) {
    for (const opt of splitOptions(tokens.shift()!)) {
      const eq = opt.indexOf("=");
      const name = (eq < 0 ? opt : opt.slice(0, eq)).toLowerCase();
      options[name] = eq < 0 ? true : unquote(opt.slice(eq + 1));
    }
  }
  const type = tokens.shift();
  const b64 = tokens.shift();
  if (!type || !b64) throw new SshFormatError(`${source}: expected a key type and base64 key`);
  const blob = Buffer.from(b64, "base64");
  if (blob.toString("base64").replace(/=+$/, "") !== b64.replace(/=+$/, "")) {
    throw new SshFormatError(`${source}: key is not valid base64`);
  }
  const key = parsePublicKeyBlob(blob);
  if (key.type !== type) throw new SshFormatError(`${source}: key type ${type} does not match key data (${key.type})`);
  const entry: SshTrustEntry = { principals, key, certAuthority: false, source };
  for (const [name, value] of Object.entries(options)) {
    switch (name) {
      case "cert-authority":
        entry.certAuthority = true;
        break;
      case "namespaces":
        entry.namespaces = String(value).split(",");
        break;
      case "valid-after":
        entry.validAfter = parseSshTime(String(value), source);
        break;
      case "valid-before":
        entry.validBefore = parseSshTime(String(value), source);
        break;
      default:
        throw new SshFormatError(`${source}: unknown option ${name}`);
    }
  }
  return entry;
}

export function parseAllowedSigners(text: string, file: string): SshTrustEntry[] {
  const entries: SshTrustEntry[] = [];
  text.split("\n").forEach((raw, i) => {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) return;
    entries.push(parseAllowedSignerLine(line, `${file}:${i + 1}`, true));
  });
  return entries;
}

function isKeyType(token: string): boolean {
  return /^(ssh-|ecdsa-sha2-|sk-)/.test(token);
}

function tokenize(line: string, source: string): string[] {
  const tokens: string[] = [];
  let cur = "";
  let quoted = false;
  for (const ch of line) {
    if (ch === '"') quoted = !quoted;
    if (!quoted && /\s/.test(ch)) {
      if (cur) tokens.push(cur);
      cur = "";
    } else cur += ch;
  }
  if (quoted) throw new SshFormatError(`${source}: unterminated quote`);
  if (cur) tokens.push(cur);
  return tokens;
}

/** Options are comma-separated, as in authorized_keys; commas inside quotes belong to the value. */
function splitOptions(token: string): string[] {
  const out: string[] = [];
  let cur = "";
  let quoted = false;
  for (const ch of token) {
    if (ch === '"') quoted = !quoted;
    if (ch === "," && !quoted) {
      out.push(cur);
      cur = "";
    } else cur += ch;
  }
  out.push(cur);
  return out.filter(Boolean);
}

function unquote(v: string): string {
  return v.startsWith('"') && v.endsWith('"') ? v.slice(1, -1) : v;
}

/** YYYYMMDD[HHMM[SS]][Z]: local time unless Z, as ssh-keygen reads it. */
export function parseSshTime(v: string, source: string): Date {
  const m = /^(\d{4})(\d{2})(\d{2})(?:(\d{2})(\d{2})(\d{2})?)?(Z)?$/.exec(v);
  if (!m) throw new SshFormatError(`${source}: invalid time "${v}" (expected YYYYMMDD[HHMM[SS]][Z])`);
  const [, y, mo, d, h = "0", mi = "0", s = "0", z] = m;
  const parts = [Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s)] as const;
  return z ? new Date(Date.UTC(...parts)) : new Date(...parts);
}

/** OpenSSH's match_pattern_list: the first negated match refuses, any positive match accepts. */
export function matchPrincipal(name: string, patterns: string[]): boolean {
  let matched = false;
  for (const raw of patterns) {
    const negated = raw.startsWith("!");
    const pattern = negated ? raw.slice(1) : raw;
    if (matchWildcard(name, pattern)) {
      if (negated) return false;
      matched = true;
    }
  }
  return matched;
}

/**
 * OpenSSH's match_pattern: `*` matches any run of characters, `?` any one, everything else itself,
 * case-sensitively. Patterns come from files an attacker may write, so no backtracking: the pattern is
 * split at its stars, the first piece must start the name, the last must end it, and each middle piece
 * is taken at its leftmost place after the one before (a later place never leaves more room to match
 * the rest). Time is at most the name's length times the pattern's, never exponential.
 */
export function matchWildcard(name: string, pattern: string): boolean {
  const pieces = pattern.split("*");
  if (pieces.length === 1) return name.length === pattern.length && piecesMatchAt(name, pattern, 0);
  const first = pieces[0]!;
  const last = pieces[pieces.length - 1]!;
  if (first.length + last.length > name.length) return false;
  if (!piecesMatchAt(name, first, 0) || !piecesMatchAt(name, last, name.length - last.length)) return false;
  let from = first.length;
  const end = name.length - last.length;
  for (const piece of pieces.slice(1, -1)) {
    const at = leftmostMatch(name, piece, from, end);
    if (at < 0) return false;
    from = at + piece.length;
  }
  return true;
}

/** Where `piece` (with ? wildcards) first matches within name[from, end), or -1. */
function leftmostMatch(name: string, piece: string, from: number, end: number): number {
  for (let at = from; at + piece.length <= end; at++) if (piecesMatchAt(name, piece, at)) return at;
  return -1;
}

function piecesMatchAt(name: string, piece: string, at: number): boolean {
  for (let i = 0; i < piece.length; i++) {
    if (piece[i] !== "?" && piece[i] !== name[at + i]) return false;
  }
  return true;
}
