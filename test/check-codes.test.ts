// The verdict checks' reason codes (src/api/check-codes.ts): declared once each, documented in
// docs/verdict.md exactly as declared, each one given by some check, and carried by --json and by
// audit records, whose schema refuses a code nobody declared. That every code a check sets is declared,
// the compiler checks: CheckFields.code is the declared union.
import { strict as assert } from "node:assert";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { describe, it } from "node:test";
import { ALL_CHECK_CODES, CHECK_CODES } from "../src/api/check-codes.ts";
import { decodeRecord, encodeRecord } from "../src/audit/record.ts";
import type { AuditRecord } from "../src/api/audit-record.ts";
import { InputError } from "../src/core/errors.ts";
import { SshSigner, TestRepo, writePolicy } from "./helpers/git-fixture.ts";
import { requireTools, tempDir, vigil } from "./helpers/tools.ts";

const root = resolve(import.meta.dirname, "..");

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sourceFiles(join(dir, e.name)) : e.name.endsWith(".ts") ? [join(dir, e.name)] : [],
  );
}

/** docs/verdict.md's code tables, by group: `### group`, then rows `| \`code\` | meaning |` (the fields' table comes before any group). */
function documentedCodes(): { code: string; group: string; meaning: string }[] {
  const rows: { code: string; group: string; meaning: string }[] = [];
  let group = "";
  for (const line of readFileSync(join(root, "docs", "verdict.md"), "utf8").split("\n")) {
    const heading = /^### (\S+)$/.exec(line);
    if (heading) group = heading[1]!;
    const row = /^\| `([^`]+)` \| (.+) \|$/.exec(line);
    if (row && group) rows.push({ code: row[1]!, group, meaning: row[2]! });
  }
  return rows;
}

describe("check codes", () => {
  it("are kebab-case and each declared once, in one group", () => {
    const codes = ALL_CHECK_CODES.map((c) => c.code);
    assert.deepEqual(
      codes.filter((c) => !/^[a-z]+(-[a-z]+)*$/.test(c)),
      [],
    );
    assert.deepEqual(
      codes.filter((c, i) => codes.indexOf(c) !== i),
      [],
      "a code declared in two groups: declare it once, under shared",
    );
  });

  it("are documented in docs/verdict.md exactly as declared, and nothing else is", () => {
    const expected = ALL_CHECK_CODES.map(({ code, group, meaning }) => ({ code, group, meaning }));
    const table = Object.entries(CHECK_CODES)
      .map(
        ([group, codes]) =>
          `### ${group}\n\n| code | meaning |\n|---|---|\n${Object.entries(codes)
            .map(([c, m]) => `| \`${c}\` | ${m} |`)
            .join("\n")}`,
      )
      .join("\n\n");
    assert.deepEqual(documentedCodes(), expected, `docs/verdict.md's tables must read:\n\n${table}\n`);
  });

  it("are each given by some check in src/ (no code is declared for nothing)", () => {
    const declaration = join(root, "src", "api", "check-codes.ts");
    const text = sourceFiles(join(root, "src"))
      .filter((f) => f !== declaration)
      .map((f) => readFileSync(f, "utf8"))
      .join("\n");
    assert.deepEqual(
      ALL_CHECK_CODES.map((c) => c.code).filter((code) => !text.includes(`"${code}"`)),
      [],
    );
  });

  it("are in a verdict's --json beside each message", (t) => {
    const dir = tempDir(t);
    const file = join(dir, "set.yaml");
    writeFileSync(
      file,
      [
        "apiVersion: example.com/v1\nkind: Widget\nmetadata: { name: w, namespace: shop }",
        "apiVersion: v1\nkind: Pod\nmetadata: { name: p, namespace: shop }\nspec: { containers: [{ name: c, image: registry.example.com/c:1, securityContext: { privileged: true } }] }",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: { name: settings, namespace: shop }",
      ].join("\n---\n"),
    );
    const out = vigil(["policy", "check", "--json", "--pack", "pss-restricted", file]);
    assert.equal(out.status, 1, out.stderr);
    const checks = out.json().checks as { rule: string; status: string; code?: string; message: string }[];
    assert.equal(checks.find((c) => c.rule === "known-kind")?.code, "unknown-kind", JSON.stringify(checks));
    assert.ok(checks.some((c) => c.status === "fail" && c.code === "policy-denied"));
    assert.ok(checks.some((c) => c.status === "pass" && c.code === "policy-passed"));
    assert.deepEqual(
      checks.filter((c) => c.code === undefined),
      [],
    );
  });

  it("are kept by audit records, which refuse a code nobody declared (exit 2)", () => {
    const check = { gate: "revision", rule: "commit-signature", status: "fail", subject: "a".repeat(40), message: "m" } as const;
    const record = (code: string) =>
      ({
        kind: "reconcile",
        time: "2026-01-02T03:04:05Z",
        environment: "prod",
        payload: {
          repo: "r",
          verdict: "fail",
          applied: false,
          commits: [],
          gates: [{ gate: "revision", verdict: "fail", pass: 0, fail: 1, warn: 0, skip: 0 }],
          checks: [{ ...check, code }],
        },
      }) as unknown as AuditRecord;
    const kept = decodeRecord(encodeRecord(record("unsigned-commit")), 0) as Extract<AuditRecord, { kind: "reconcile" }>;
    assert.equal(kept.payload.checks[0]!.code, "unsigned-commit");
    assert.throws(
      () => encodeRecord(record("made-up")),
      (e: unknown) =>
        e instanceof InputError &&
        e.exitCode === 2 &&
        /checks\.0\.code: must be a check code declared in src\/api\/check-codes\.ts/.test(e.message),
    );
  });
  it("name why the revision gate refused each commit, and what passed", (t) => {
    if (!requireTools(t, ["git", "ssh-keygen"])) return;
    const root = tempDir(t);
    const [alice, carol, mallory] = ["alice", "carol", "mallory"].map((name) => new SshSigner(root, name, "ed25519")) as [
      SshSigner,
      SshSigner,
      SshSigner,
    ];
    const trust = writePolicy(join(root, "vigil.trust.yaml"), {
      signers: [alice.policyEntry, carol.policyEntry],
      paths: [
        { pattern: "apps/**", owners: ["carol"] },
        { pattern: "**", owners: ["alice"] },
      ],
      environments: [{ name: "staging", branch: "main", path: "envs/staging", commitMessage: "^[A-Z]+-[0-9]+: " }],
    });
    const repo = new TestRepo(join(root, "repo"));
    const good = repo.commit({ "envs/staging/a.yaml": "a: 1\n" }, alice);
    const unsigned = repo.commit({ "envs/staging/b.yaml": "b: 1\n" }, null);
    const untrusted = repo.commit({ "envs/staging/c.yaml": "c: 1\n" }, mallory);
    const unowned = repo.commit({ "envs/staging/d.yaml": "d: 1\n" }, carol);
    const unworded = repo.commit({ "envs/staging/e.yaml": "e: 1\n" }, alice, "no ticket here");
    const out = vigil(["verify", "commits", "--repo", repo.dir, "--trust", trust, "--env", "staging", "--json"]);
    assert.equal(out.status, 1, out.stderr);
    const checks = out.json().checks as { subject: string; rule: string; status: string; code: string }[];
    const codeOf = (subject: string, rule: string) => checks.find((c) => c.subject === subject && c.rule === rule)?.code;
    assert.equal(codeOf(good, "commit-signature"), "signature-trusted");
    assert.equal(codeOf(good, "path-ownership"), "paths-owned");
    assert.equal(codeOf(good, "commit-message"), "message-matches");
    assert.equal(codeOf(unsigned, "commit-signature"), "unsigned-commit");
    assert.equal(codeOf(unsigned, "path-ownership"), "no-trusted-signer");
    assert.equal(codeOf(untrusted, "commit-signature"), "untrusted-key");
    assert.equal(codeOf(unowned, "path-ownership"), "path-not-owned");
    assert.equal(codeOf(unworded, "commit-message"), "message-mismatch");
  });
});
