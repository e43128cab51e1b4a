// Trusted SSH keys, from the trust policy or from git's allowed_signers file (ssh-keygen(1),
// "ALLOWED SIGNERS"), and the verification of an SSHSIG signature against them.
import { verifyRawSignature, parseSshSignature, verifySshSignatureBytes, type ParsedSshSignature } from "./sshsig.ts";
import { SshFormatError, fingerprint, parsePublicKeyBlob, type SshPublicKey } from "./ssh-wire.ts";
import { refused, type SignatureResult } from "./result.ts";

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
    if (wildcard(pattern).test(name)) {
      if (negated) return false;
      matched = true;
    }
  }
  return matched;
}

function wildcard(pattern: string): RegExp {
  const body = pattern.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".");
  return new RegExp(`^${body}$`, "s");
}

const hasWildcard = (p: string) => /[*?!]/.test(p);

function describe(sig: ParsedSshSignature): string {
  if (sig.certificate) return `${sig.certificate.key.type} ${sig.certificate.key.fingerprint} (certificate "${sig.certificate.keyId}")`;
  return `${sig.keyType} ${fingerprint(sig.keyBlob)}`;
}

/**
 * Verifies an armored SSHSIG over `message` against trusted entries, as of `at` (git uses the
 * committer time). Each refusal names the key and the reason.
 */
export function verifySshSignature(
  armored: string,
  message: Buffer,
  entries: readonly SshTrustEntry[],
  at: Date,
  namespace = "git",
): SignatureResult {
  let sig: ParsedSshSignature;
  try {
    sig = parseSshSignature(armored);
  } catch (e) {
    return refused("ssh", `malformed SSH signature: ${(e as Error).message}`);
  }
  if (sig.namespace !== namespace) {
    return refused("ssh", `SSH signature is for namespace "${sig.namespace}", not "${namespace}"`);
  }
  const cert = sig.certificate;
  const candidates = cert
    ? entries.filter((e) => e.certAuthority && e.key.blob.equals(cert.caBlob))
    : entries.filter((e) => !e.certAuthority && e.key.blob.equals(sig.keyBlob));
  if (candidates.length === 0) {
    const what = cert ? `certificate authority ${fingerprint(cert.caBlob)} for` : "key";
    return refused("ssh", `signed by an untrusted ${what} (${describe(sig)}); add it to the trust policy's signers if it belongs to someone trusted`);
  }
  let valid: boolean;
  try {
    valid = verifySshSignatureBytes(sig, cert ? cert.key : candidates[0]!.key, message);
  } catch (e) {
    return refused("ssh", `SSH signature by ${describe(sig)} cannot be verified: ${(e as Error).message}`);
  }
  if (!valid) return refused("ssh", `SSH signature by ${describe(sig)} does not match the signed content`);

  const reasons: string[] = [];
  for (const entry of candidates) {
    const problem = entryProblem(entry, sig, namespace, at);
    if (problem) {
      reasons.push(`${entry.source}: ${problem}`);
      continue;
    }
    const identity = cert
      ? cert.principals.find((p) => matchPrincipal(p, entry.principals))!
      : (entry.principals.find((p) => !hasWildcard(p)) ?? entry.principals[0]!);
    return { ok: true, kind: "ssh", identity, key: describe(sig) };
  }
  return refused("ssh", `${describe(sig)}: ${reasons.join("; ")}`);
}

function entryProblem(entry: SshTrustEntry, sig: ParsedSshSignature, namespace: string, at: Date): string | null {
  if (entry.namespaces && !entry.namespaces.some((n) => wildcard(n).test(namespace))) {
    return `key is not allowed to sign namespace "${namespace}" (namespaces=${entry.namespaces.join(",")})`;
  }
  if (entry.validAfter && at < entry.validAfter) {
    return `signed at ${at.toISOString()}, before the key's valid-after ${entry.validAfter.toISOString()}`;
  }
  if (entry.validBefore && at > entry.validBefore) {
    return `signed at ${at.toISOString()}, after the key's valid-before ${entry.validBefore.toISOString()}`;
  }
  if (sig.certificate) return certificateProblem(entry, sig, at);
  return null;
}

function certificateProblem(entry: SshTrustEntry, sig: ParsedSshSignature, at: Date): string | null {
  const cert = sig.certificate!;
  if (cert.certType !== 1) return "certificate is not a user certificate";
  if (!verifyRawSignature(entry.key, cert.caSignature.algorithm, cert.caSignature.blob, cert.signed)) {
    return "certificate's CA signature does not verify";
  }
  const seconds = BigInt(Math.floor(at.getTime() / 1000));
  if (seconds < cert.validAfter || seconds >= cert.validBefore) {
    return `certificate "${cert.keyId}" is not valid at ${at.toISOString()}`;
  }
  if (cert.criticalOptions.length > 0) {
    return `certificate carries critical options (${cert.criticalOptions.join(", ")}) that signing does not honour`;
  }
  if (!cert.principals.some((p) => matchPrincipal(p, entry.principals))) {
    return `certificate principals (${cert.principals.join(", ") || "none"}) match none of ${entry.principals.join(",")}`;
  }
  return null;
}

