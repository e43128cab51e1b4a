// The secret scanner's rules, entropy and allowlists, on text and on real git repositories.
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { stringify } from "yaml";
import { loadTrustPolicyFile } from "../src/trust/policy.ts";
import { openRepo } from "../src/git/repo.ts";
import { Allowlist } from "../src/secrets/allowlist.ts";
import { secretChecks } from "../src/secrets/checks.ts";
import { shannonEntropy } from "../src/secrets/entropy.ts";
import { isPlaceholder, secretRules } from "../src/secrets/rules.ts";
import { fingerprintOf, scanText } from "../src/secrets/scan-text.ts";
import { TestRepo } from "./helpers/git-fixture.ts";
import { cryptoRandom, decoyLines, plantedLine, tokenKinds } from "./helpers/secret-tokens.ts";
import { requireTools, tempDir, vigil } from "./helpers/tools.ts";

test("every planted token format is found by its own rule, once, at its line", () => {
  for (const kind of tokenKinds) {
    for (let i = 0; i < 25; i++) {
      const { line, secret } = plantedLine(kind, cryptoRandom);
      const findings = scanText(`kind: ConfigMap\nmetadata: { name: app }\n${line}\n`);
      assert.deepEqual(
        findings.map((f) => f.rule),
        [kind.rule],
        line,
      );
      assert.equal(findings[0]!.line, 3);
      assert.equal(findings[0]!.fingerprint, fingerprintOf(kind.rule, secret), `the fingerprint names the secret, not the line: ${line}`);
    }
  }
});

test("placeholders, references, identifiers and prose are not secrets", () => {
  for (const line of decoyLines) assert.deepEqual(scanText(line + "\n"), [], line);
  const manifest = stringify({
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name: "payments", annotations: { "vigil.dev/owner": "team-payments" } },
    spec: {
      template: {
        spec: {
          containers: [
            {
              name: "app",
              image: "registry.example.com/payments@sha256:" + "ab".repeat(32),
              env: [{ name: "DB_PASSWORD", valueFrom: { secretKeyRef: { name: "db", key: "password" } } }],
            },
          ],
        },
      },
    },
  });
  assert.deepEqual(scanText(manifest), []);
});

test("the generic rule needs entropy: a random value is found, a word is not", () => {
  assert.ok(shannonEntropy("aaaaaaaaaaaa") < 1);
  assert.ok(shannonEntropy("Zt3q9XkP2mLw8RvN4sYb") > 4);
  assert.deepEqual(scanText("api_key: 'aaaaaaaaaaaaaaaa'\n"), []);
  assert.deepEqual(
    scanText("api_key: 'Zt3q9XkP2mLw8RvN4sYb'\n").map((f) => f.rule),
    ["generic-secret"],
  );
  // A specific rule's match is not reported again by the generic one.
  assert.deepEqual(
    scanText("api_key: ghp_" + "aB3dE5gH7jK9mN1pQ3sT5vX7zA9cE1gI3kM5\n").map((f) => f.rule),
    ["github-pat"],
  );
});

test("every rule has an id, keywords in lower case and a linear expression over hostile text", () => {
  const ids = new Set<string>();
  for (const r of secretRules) {
    assert.match(r.id, /^[a-z0-9-]+$/);
    assert.ok(!ids.has(r.id), `duplicate rule ${r.id}`);
    ids.add(r.id);
    assert.ok(r.keywords.length > 0 && r.keywords.every((k) => k === k.toLowerCase()), r.id);
  }
  // Text that holds every keyword and long runs of every rule's alphabets: the scan ends (bounded
  // repetitions, no nested quantifiers), whatever an attacker's file holds.
  const keywords = secretRules.flatMap((r) => r.keywords).join(" ");
  const hostile = [
    keywords,
    "a".repeat(200_000),
    "ey" + "J".repeat(100_000) + ".",
    "password=" + "x=".repeat(50_000),
    "-----BEGIN PRIVATE KEY-----" + "A".repeat(100_000),
    "postgres://" + "u".repeat(100_000) + ":" + "p".repeat(1000),
  ].join("\n");
  scanText(hostile.repeat(4));
});

test("findings carry the fingerprint, never the secret", () => {
  const { line, secret } = plantedLine(tokenKinds[1]!, cryptoRandom);
  const findings = scanText(line);
  assert.equal(findings.length, 1);
  assert.ok(!JSON.stringify(findings).includes(secret));
  assert.ok(!JSON.stringify(findings).includes(secret.slice(4, 20)));
});

test("allowlist entries: paths alone skip files; rules and fingerprints narrow, and every given field must match", () => {
  const f = { rule: "github-pat", fingerprint: "0".repeat(32) };
  assert.ok(new Allowlist([{ paths: ["fixtures/**"], reason: "test data" }]).skipsPath("fixtures/a/b.yaml"));
  assert.ok(!new Allowlist([{ paths: ["fixtures/**"], rules: ["github-pat"], reason: "r" }]).skipsPath("fixtures/a.yaml"));
  const list = new Allowlist([
    { paths: ["docs/**"], rules: ["jwt"], reason: "example JWTs in the docs" },
    { fingerprints: ["0".repeat(32)], reason: "the revoked demo token" },
  ]);
  assert.ok(list.allows("any/file.yaml", f), "fingerprint anywhere");
  assert.ok(!list.allows("any/file.yaml", { ...f, fingerprint: "1".repeat(32) }));
  assert.ok(list.allows("docs/x.md", { rule: "jwt", fingerprint: "2".repeat(32) }));
  assert.ok(!list.allows("apps/x.yaml", { rule: "jwt", fingerprint: "2".repeat(32) }), "path and rule must both match");
  assert.ok(!list.allows("docs/x.md", { rule: "github-pat", fingerprint: "2".repeat(32) }));
});

test("trust policy secrets.allow: an unknown rule, a malformed fingerprint or an empty entry is refused naming file and line", async (t) => {
  const dir = tempDir(t);
  const write = (allow: unknown) => {
    const file = join(dir, "trust.yaml");
    writeFileSync(file, stringify({ apiVersion: "vigil.dev/v1alpha1", kind: "TrustPolicy", secrets: { allow } }));
    return file;
  };
  const policy = await loadTrustPolicyFile(write([{ rules: ["githb-pat"], reason: "typo" }]));
  assert.throws(() => Allowlist.fromPolicy(policy), /trust\.yaml:\d+.*unknown secret rule "githb-pat"/);
  await assert.rejects(loadTrustPolicyFile(write([{ fingerprints: ["abc"], reason: "x" }])), /trust\.yaml:\d+.*fingerprint/);
  await assert.rejects(loadTrustPolicyFile(write([{ reason: "allow everything" }])), /give paths, rules or fingerprints/);
  const r = vigil(["secrets", "scan", "--repo", dir, "--trust", write([{ rules: ["nope"], reason: "x" }])]);
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, /unknown secret rule "nope"/);
});

function history(t: import("node:test").TestContext) {
  const repo = new TestRepo(tempDir(t));
  const pat = plantedLine(tokenKinds[1]!, cryptoRandom);
  const aws = plantedLine(tokenKinds[0]!, cryptoRandom);
  const clean = repo.commit({ "apps/web/deploy.yaml": "kind: Deployment\nmetadata: { name: web }\n" }, null, "web");
  const leak = repo.commit({ "apps/web/config.yaml": `kind: ConfigMap\ndata:\n  ${pat.line}\n` }, null, "add config");
  // Later commits change the same file: the old secret is not reported again; a new one is, at its line.
  const edit = repo.commit({ "apps/web/config.yaml": `kind: ConfigMap\ndata:\n  replicas: "3"\n  ${pat.line}\n` }, null, "more config");
  const second = repo.commit(
    { "apps/web/config.yaml": `kind: ConfigMap\ndata:\n  replicas: "3"\n  ${pat.line}\n  ${aws.line}\n` },
    null,
    "aws",
  );
  const removed = repo.commit({ "apps/web/config.yaml": "kind: ConfigMap\ndata: {}\n" }, null, "remove secrets");
  return { repo, pat, aws, clean, leak, edit, second, removed };
}

test("history: each secret is charged to the commit, file and line that added it, once", async (t) => {
  if (!requireTools(t, ["git"])) return;
  const h = history(t);
  const r = vigil(["secrets", "scan", "--repo", h.repo.dir, "--all-history", "--json"]);
  assert.equal(r.status, 1, r.stderr);
  const fails = r.json().checks.filter((c: { status: string }) => c.status === "fail");
  assert.deepEqual(
    fails.map((c: { rule: string; subject: string; location: unknown }) => [c.rule, c.subject, c.location]),
    [
      ["github-pat", h.leak, { file: "apps/web/config.yaml", line: 3 }],
      ["aws-access-token", h.second, { file: "apps/web/config.yaml", line: 5 }],
    ],
  );
  assert.ok(!r.stdout.includes(h.pat.secret) && !r.stdout.includes(h.aws.secret));
  assert.equal(r.json().verdict, "fail");
});

test("a range scans only its commits, as the revision gate does (secretChecks)", async (t) => {
  if (!requireTools(t, ["git"])) return;
  const h = history(t);
  const repo = await openRepo(h.repo.dir);
  t.after(() => repo.close());
  const clean = await secretChecks(repo, { from: h.second, to: h.removed });
  assert.deepEqual(
    clean.map((c) => [c.status, c.rule]),
    [["pass", "no-secrets"]],
  );
  const blocked = await secretChecks(repo, { from: h.edit, to: h.removed });
  assert.deepEqual(
    blocked.map((c) => [c.status, c.gate, c.rule, c.subject]),
    [["fail", "secrets", "aws-access-token", h.second]],
  );
  assert.match(blocked[0]!.message, /apps\/web\/config\.yaml:5 \(fingerprint [0-9a-f]{32}\)/);
  const cli = vigil(["secrets", "scan", "--repo", h.repo.dir, "--from", h.second, "--to", h.removed]);
  assert.equal(cli.status, 0, cli.stdout + cli.stderr);
});

test("a merge is charged only with what neither parent had", async (t) => {
  if (!requireTools(t, ["git"])) return;
  const repo = new TestRepo(tempDir(t));
  const token = plantedLine(tokenKinds[3]!, cryptoRandom);
  repo.commit({ "a.yaml": "a: 1\n" }, null, "base");
  repo.git("checkout", "-q", "-b", "feature");
  const leak = repo.commit({ "b.yaml": token.line + "\n" }, null, "leak on a branch");
  repo.git("checkout", "-q", "main");
  repo.commit({ "c.yaml": "c: 1\n" }, null, "main moves");
  repo.git("merge", "-q", "--no-edit", "feature");
  const r = vigil(["secrets", "scan", "--repo", repo.dir, "--all-history", "--json"]);
  assert.equal(r.status, 1);
  assert.deepEqual(
    r.json().checks.map((c: { subject: string; rule: string }) => [c.rule, c.subject]),
    [["gitlab-pat", leak]],
  );
});

test("allowlists from the trust policy apply to history scans; the working tree is scanned by default", async (t) => {
  if (!requireTools(t, ["git"])) return;
  const h = history(t);
  const dir = tempDir(t);
  const pol = join(dir, "trust.yaml");
  const fp = fingerprintOf("github-pat", h.pat.secret);
  writeFileSync(
    pol,
    stringify({
      apiVersion: "vigil.dev/v1alpha1",
      kind: "TrustPolicy",
      secrets: {
        allow: [
          { fingerprints: [fp], reason: "revoked demo token" },
          { paths: ["apps/web/**"], rules: ["aws-access-token"], reason: "documented example key" },
        ],
      },
    }),
  );
  const r = vigil(["secrets", "scan", "--repo", h.repo.dir, "--all-history", "--trust", pol]);
  assert.equal(r.status, 0, r.stdout);
  // The working tree: a new, uncommitted file with a secret; ignored files are not read.
  writeFileSync(join(h.repo.dir, ".gitignore"), "local/\n");
  const leak = plantedLine(tokenKinds[5]!, cryptoRandom);
  writeFileSync(join(h.repo.dir, "new.env"), `# local\n${leak.line}\n`);
  const wt = vigil(["secrets", "scan", "--repo", h.repo.dir, "--json"]);
  assert.equal(wt.status, 1);
  assert.deepEqual(
    wt.json().checks.map((c: { rule: string; subject: string; location: unknown }) => [c.rule, c.subject, c.location]),
    [["stripe-secret-key", "new.env:2", { file: "new.env", line: 2 }]],
  );
});

test("SARIF: one result per finding at its file and line; bad usage exits 2", async (t) => {
  if (!requireTools(t, ["git"])) return;
  const h = history(t);
  const r = vigil(["secrets", "scan", "--repo", h.repo.dir, "--all-history", "-o", "sarif"]);
  assert.equal(r.status, 1);
  const results = r.json().runs[0].results;
  assert.deepEqual(
    results.map((x: any) => [
      x.ruleId,
      x.locations[0].physicalLocation.artifactLocation.uri,
      x.locations[0].physicalLocation.region.startLine,
    ]),
    [
      ["github-pat", "apps/web/config.yaml", 3],
      ["aws-access-token", "apps/web/config.yaml", 5],
    ],
  );
  assert.equal(vigil(["secrets", "scan", "--repo", h.repo.dir, "--all-history", "--from", h.clean]).status, 2);
  assert.equal(vigil(["secrets", "scan", "--repo", h.repo.dir, "-o", "xml"]).status, 2);
  assert.equal(vigil(["secrets", "scan", "--repo", join(h.repo.dir, "nope")]).status, 2);
  const bad = vigil(["secrets", "scan", "--repo", h.repo.dir, "--to", "no-such-branch"]);
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /no-such-branch/);
  assert.equal(vigil(["secrets", "scan", "--help"]).status, 0);
  assert.equal(vigil(["secrets", "rules", "--json"]).json().length, secretRules.length);
});

test("a file too large to read is a failing check, binary files are skipped", async (t) => {
  if (!requireTools(t, ["git"])) return;
  const repo = new TestRepo(tempDir(t));
  writeFileSync(join(repo.dir, "big.txt"), "x".repeat((32 << 20) + 10));
  writeFileSync(
    join(repo.dir, "logo.png"),
    Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 0]), Buffer.from("ghp_" + "a1".repeat(18))]),
  );
  repo.git("add", "big.txt", "logo.png");
  const id = repo.commitStaged(null, "assets");
  const r = vigil(["secrets", "scan", "--repo", repo.dir, "--all-history", "--json"]);
  assert.equal(r.status, 1);
  assert.deepEqual(
    r.json().checks.map((c: { rule: string; subject: string }) => [c.rule, c.subject]),
    [["unscanned-file", id]],
  );
});

test("SealedSecrets and ExternalSecrets are resources, not leaks: their ciphertext and references are not findings", () => {
  const sealedValue = "AgB" + Buffer.from(Array.from({ length: 540 }, (_, i) => (i * 7919) % 256)).toString("base64");
  const sealed = stringify({
    apiVersion: "bitnami.com/v1alpha1",
    kind: "SealedSecret",
    metadata: { name: "db", namespace: "payments" },
    spec: { encryptedData: { password: sealedValue, api_key: sealedValue.slice(0, 700) } },
  });
  const external = stringify({
    apiVersion: "external-secrets.io/v1",
    kind: "ExternalSecret",
    metadata: { name: "db" },
    spec: {
      secretStoreRef: { name: "vault", kind: "ClusterSecretStore" },
      data: [{ secretKey: "password", remoteRef: { key: "payments/db", property: "password" } }],
    },
  });
  assert.deepEqual(scanText(sealed), []);
  assert.deepEqual(scanText(external), []);
});

test("a random value that happens to start with a filler word is a secret; the fillers themselves are not", () => {
  for (const secret of ["MYShc8ib7LjUC9ttE2dv", "TheQ7x9Lk2mN4pR8sT1v", "testR4nd0mV4lu3Xy9Zq", "none8XkQ2mP7rT4vW9yB"])
    assert.equal(isPlaceholder(secret), false, secret);
  for (const filler of ["mypassword", "my-password", "changeme", "test_token", "${DB_PASS}", "<password>", "none", "example.value"])
    assert.equal(isPlaceholder(filler), true, filler);
});
