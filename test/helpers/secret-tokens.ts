// Leaked-looking test tokens in each provider's published format, made fresh from a random source (never
// real credentials), with the rule id Vigil and the gitleaks id that should report each. The tests and
// bench/secrets.ts plant them in real repositories.
import { randomBytes } from "node:crypto";

const UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const LOWER = "abcdefghijklmnopqrstuvwxyz";
const DIGITS = "0123456789";
const ALNUM = UPPER + LOWER + DIGITS;
const HEX = "0123456789abcdef";
const B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const B64 = ALNUM + "+/";
const BECH32 = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";

export type Random = (n: number) => number;

/** A deterministic source (xorshift) for benchmarks that must plant the same history every run. */
export function seededRandom(seed: number): Random {
  let x = seed >>> 0 || 1;
  return (n) => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x % n;
  };
}

export const cryptoRandom: Random = (n) => randomBytes(4).readUInt32BE() % n;

const pick = (r: Random, alphabet: string, n: number) => Array.from({ length: n }, () => alphabet[r(alphabet.length)]).join("");

export interface TokenKind {
  rule: string;
  /** The id gitleaks' default rules report it under. */
  gitleaks: string;
  /** A line of a file that leaks the token, as people write them. */
  line(r: Random): { line: string; secret: string };
}

const assign = (name: string, secret: string, quote = "") => ({ line: `${name}: ${quote}${secret}${quote}`, secret });

export const tokenKinds: TokenKind[] = [
  { rule: "aws-access-token", gitleaks: "aws-access-token", line: (r) => assign("aws_access_key_id", "AKIA" + pick(r, B32, 16)) },
  { rule: "github-pat", gitleaks: "github-pat", line: (r) => assign("GITHUB_TOKEN", "ghp_" + pick(r, ALNUM, 36)) },
  {
    rule: "github-fine-grained-pat",
    gitleaks: "github-fine-grained-pat",
    line: (r) => assign("token", "github_pat_" + pick(r, ALNUM + "_", 82)),
  },
  { rule: "gitlab-pat", gitleaks: "gitlab-pat", line: (r) => assign("gitlab", "glpat-" + pick(r, ALNUM, 20)) },
  {
    rule: "slack-bot-token",
    gitleaks: "slack-bot-token",
    line: (r) => assign("slack", `xoxb-${pick(r, DIGITS, 12)}-${pick(r, DIGITS, 12)}-${pick(r, ALNUM, 24)}`),
  },
  { rule: "stripe-secret-key", gitleaks: "stripe-access-token", line: (r) => assign("stripe", "sk_live_" + pick(r, ALNUM, 24)) },
  { rule: "gcp-api-key", gitleaks: "gcp-api-key", line: (r) => assign("maps_key", "AIza" + pick(r, ALNUM + "_-", 35), '"') },
  {
    rule: "npm-access-token",
    gitleaks: "npm-access-token",
    line: (r) => ({ line: `//registry.npmjs.org/:_authToken=npm_${pick(r, LOWER + DIGITS, 36)}`, secret: "" }),
  },
  {
    rule: "sendgrid-api-token",
    gitleaks: "sendgrid-api-token",
    line: (r) => assign("SENDGRID", `SG.${pick(r, ALNUM, 22)}.${pick(r, ALNUM, 43)}`),
  },
  {
    rule: "private-key",
    gitleaks: "private-key",
    line: (r) => ({
      line: `-----BEGIN RSA PRIVATE KEY-----\n${pick(r, B64, 64)}\n${pick(r, B64, 64)}\n-----END RSA PRIVATE KEY-----`,
      secret: "",
    }),
  },
  {
    rule: "jwt",
    gitleaks: "jwt",
    line: (r) => assign("id_token", `eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiI${pick(r, ALNUM, 30)}.${pick(r, ALNUM + "_-", 43)}`),
  },
  {
    rule: "age-secret-key",
    gitleaks: "age-secret-key",
    line: (r) => assign("key", "AGE-SECRET-KEY-1" + pick(r, BECH32, 58).toUpperCase()),
  },
  {
    rule: "hashicorp-vault-token",
    gitleaks: "vault-service-token",
    line: (r) => assign("VAULT_TOKEN", "hvs." + pick(r, ALNUM + "_-", 90)),
  },
  { rule: "dockerhub-pat", gitleaks: "docker-hub-pat", line: (r) => assign("password", "dckr_pat_" + pick(r, ALNUM + "_-", 27)) },
  {
    rule: "pypi-upload-token",
    gitleaks: "pypi-upload-token",
    line: (r) => assign("password", "pypi-AgEIcHlwaS5vcmc" + pick(r, ALNUM + "_-", 60)),
  },
  { rule: "shopify-token", gitleaks: "shopify-access-token", line: (r) => assign("shopify", "shpat_" + pick(r, HEX, 32)) },
  { rule: "digitalocean-token", gitleaks: "digitalocean-pat", line: (r) => assign("DO_TOKEN", "dop_v1_" + pick(r, HEX, 64)) },
  { rule: "huggingface-token", gitleaks: "huggingface-access-token", line: (r) => assign("HF", "hf_" + pick(r, UPPER + LOWER, 34)) },
  {
    rule: "connection-string-password",
    gitleaks: "generic-api-key",
    line: (r) => {
      const secret = pick(r, ALNUM, 20);
      return { line: `url: postgres://app:${secret}@db.prod.internal:5432/orders`, secret };
    },
  },
  { rule: "generic-secret", gitleaks: "generic-api-key", line: (r) => assign("client_secret", pick(r, ALNUM, 32), '"') },
];

/** Lines that look like secrets to a careless rule and are not: placeholders, references, hashes, prose. */
export const decoyLines: string[] = [
  "password: ${DB_PASSWORD}",
  "token: {{ .Values.token }}",
  "apiKey: <your-api-key>",
  "secretName: payments-tls",
  "secretKeyRef: { name: db, key: password }",
  "password: changeme",
  "client_secret: example-client-secret",
  "image: registry.example.com/app@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
  "url: postgres://app:${PGPASSWORD}@db:5432/orders",
  "# the token is read from /var/run/secrets/kubernetes.io/serviceaccount/token",
  "auth: none",
  "ghp_short",
  "AKIAEXAMPLE",
];

/** Every kind's line and secret from one random source. */
export function plantedLine(kind: TokenKind, r: Random): { line: string; secret: string } {
  const made = kind.line(r);
  if (made.secret) return made;
  // Lines whose secret is the whole token: the part after the last "=" or ": ", or the block itself.
  const secret = /(?:=|: )(\S+)$/.exec(made.line)?.[1] ?? made.line;
  return { line: made.line, secret };
}
