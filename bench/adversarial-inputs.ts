// Bounded work on what an attacker writes (issue 14 §8): the worst inputs found for each parser or
// matcher Vigil runs on policy, path, message or URL text, timed against the backtracking way where
// there was one. `node bench/adversarial-inputs.ts` prints one row per case; every case must end well
// under a second however large the input (the regex rows show what the replaced code did on a tiny one).
import { join } from "node:path";
import picomatch from "picomatch";
import { stringify } from "yaml";
import { compileMessageRule, parseTrustPolicy, MAX_TRUST_POLICY_BYTES } from "../src/trust/policy.ts";
import { globMatcher } from "../src/core/patterns.ts";
import { redactCredentials } from "../src/core/redact.ts";
import { machine, timeCommand } from "./lib/measure.ts";

interface Row {
  case: string;
  input: string;
  ms: number;
  outcome: string;
}

function time<T>(fn: () => T): { ms: number; value: T } {
  const start = performance.now();
  const value = fn();
  return { ms: performance.now() - start, value };
}

async function timeAsync<T>(fn: () => Promise<T>): Promise<{ ms: number; value: T | Error }> {
  const start = performance.now();
  try {
    const value = await fn();
    return { ms: performance.now() - start, value };
  } catch (e) {
    return { ms: performance.now() - start, value: e as Error };
  }
}

const rows: Row[] = [];

// Path patterns: "*a*a…*b" never matches a run of a's, and a backtracking regex tries every split.
const hostileGlob = `${"*a".repeat(12)}*b`;
for (const n of [1_000, 100_000]) {
  const r = time(() => globMatcher(hostileGlob)("a".repeat(n)));
  rows.push({ case: "path pattern, linear NFA", input: `${hostileGlob} on ${n} chars`, ms: r.ms, outcome: String(r.value) });
}
for (const n of [20, 24, 26]) {
  const r = time(() => picomatch(hostileGlob, { dot: true })("a".repeat(n)));
  rows.push({ case: "path pattern, picomatch (before)", input: `${hostileGlob} on ${n} chars`, ms: r.ms, outcome: String(r.value) });
}

// Commit message rules: nested quantifiers, the classic catastrophic case.
for (const n of [1_000, 100_000]) {
  const r = time(() => compileMessageRule("^(a+)+$").test(`${"a".repeat(n)}!`));
  rows.push({ case: "commitMessage, RE2", input: `^(a+)+$ on ${n + 1} chars`, ms: r.ms, outcome: String(r.value) });
}
for (const n of [20, 24, 26]) {
  const r = time(() => /^(a+)+$/u.test(`${"a".repeat(n)}!`));
  rows.push({ case: "commitMessage, RegExp (before)", input: `^(a+)+$ on ${n + 1} chars`, ms: r.ms, outcome: String(r.value) });
}

// A YAML alias bomb: 12 levels of ten aliases each would be 10^12 nodes.
const bomb = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"];
for (let i = 1; i < 12; i++)
  bomb.push(
    `a${i}: &a${i} [${Array(10)
      .fill(`*a${i - 1}`)
      .join(", ")}]`,
  );
{
  const r = await timeAsync(() => parseTrustPolicy(bomb.join("\n"), "bomb.yaml", () => ""));
  rows.push({
    case: "trust policy, alias bomb",
    input: "12 levels × 10 aliases",
    ms: r.ms,
    outcome: r.value instanceof Error ? `refused: ${r.value.message.slice(0, 60)}` : "parsed",
  });
}

// The largest policy accepted, and one byte more.
const policyHead = stringify({ apiVersion: "vigil.dev/v1alpha1", kind: "TrustPolicy" });
for (const extra of [0, 1]) {
  const text = policyHead + "#".repeat(MAX_TRUST_POLICY_BYTES - Buffer.byteLength(policyHead) - 1) + "\n" + "#".repeat(extra);
  const r = await timeAsync(() => parseTrustPolicy(text, "big.yaml", () => ""));
  rows.push({
    case: "trust policy at the size cap",
    input: `${Buffer.byteLength(text)} bytes`,
    ms: r.ms,
    outcome: r.value instanceof Error ? `refused: ${r.value.message}` : "parsed",
  });
}

// Redaction over a long log line full of URLs, and one of "://" with no URL.
{
  const line = "fetch https://x:tok@host/r.git ".repeat(40_000);
  const r = time(() => redactCredentials(line));
  rows.push({
    case: "redaction",
    input: `${line.length} chars, 40,000 URLs`,
    ms: r.ms,
    outcome: r.value.includes("tok@") ? "LEAKED" : "redacted",
  });
  const colons = "a://".repeat(250_000);
  const r2 = time(() => redactCredentials(colons));
  rows.push({ case: "redaction", input: `${colons.length} chars of "a://"`, ms: r2.ms, outcome: "done" });
}

// An endless trust policy file, through the CLI as a user runs it.
{
  const cli = join(import.meta.dirname, "..", "src", "cli", "main.ts");
  const r = timeCommand(process.execPath, [cli, "verify", "commits", "--repo", ".", "--trust", "/dev/zero"]);
  rows.push({ case: "vigil verify commits --trust /dev/zero", input: "endless", ms: r.seconds * 1000, outcome: `exit ${r.status}` });
}

console.log(`adversarial inputs — ${machine()}\n`);
const width = (k: keyof Row) => Math.max(k.length, ...rows.map((r) => (k === "ms" ? r.ms.toFixed(1) : String(r[k])).length));
const columns: (keyof Row)[] = ["case", "input", "ms", "outcome"];
console.log(columns.map((c) => c.padEnd(width(c))).join("  "));
for (const r of rows)
  console.log(columns.map((c) => (c === "ms" ? r.ms.toFixed(1).padStart(width(c)) : String(r[c]).padEnd(width(c)))).join("  "));
