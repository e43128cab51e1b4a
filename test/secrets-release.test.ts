// The secrets gate in the release verdict (issue 22): a revision whose range adds a secret is blocked,
// naming the commit, file, line and rule, never the secret; the repository policy's allowlist (changed
// only with its admins) lets a known fingerprint through.
import { strict as assert } from "node:assert";
import { join } from "node:path";
import { test } from "node:test";
import { soleOwnerPolicy, SshSigner, TestRepo } from "./helpers/git-fixture.ts";
import { cryptoRandom, plantedLine, tokenKinds } from "./helpers/secret-tokens.ts";
import { requireTools, tempDir, vigil } from "./helpers/tools.ts";

interface CheckJson {
  gate: string;
  rule: string;
  status: string;
  subject: string;
  message: string;
  location?: { file: string; line: number };
}

test("vigil verify release blocks a revision that adds a secret, naming commit, file, line and rule, and prints no part of it", (t) => {
  if (!requireTools(t, ["git", "ssh-keygen"])) return;
  const root = tempDir(t);
  const alice = new SshSigner(root, "alice");
  const trust = soleOwnerPolicy(join(root, "trust.yaml"), alice, "staging");
  const repo = new TestRepo(join(root, "repo"));
  const clean = repo.commit({ "envs/staging/app.yaml": "kind: ConfigMap\n" }, alice);
  const release = (...args: string[]) => vigil(["verify", "release", "--repo", repo.dir, "--trust", trust, "--env", "staging", ...args]);
  assert.equal(release("--json").status, 0, "a clean revision passes the secrets gate");

  const aws = tokenKinds.find((k) => k.rule === "aws-access-token")!;
  const { line, secret } = plantedLine(aws, cryptoRandom);
  const leak = repo.commit({ "envs/staging/creds.yaml": `# config\n${line}\n` }, alice, "TICKET-2: credentials");
  const out = release("--json", "--from", clean);
  assert.equal(out.status, 1, out.stdout);
  const failed = (out.json().checks as CheckJson[]).filter((c) => c.status === "fail");
  assert.equal(failed.length, 1, JSON.stringify(failed));
  assert.equal(failed[0]!.gate, "secrets");
  assert.equal(failed[0]!.rule, "aws-access-token");
  assert.equal(failed[0]!.subject, leak);
  assert.deepEqual(failed[0]!.location, { file: "envs/staging/creds.yaml", line: 2 });
  const table = release("--from", clean);
  for (const text of [out.stdout, out.stderr, table.stdout, table.stderr]) {
    assert.ok(!text.includes(secret) && !text.includes(secret.slice(4, 16)), "no part of the secret is printed");
  }
});

test("vigil verify commits is the revision gate alone, as the command contract (README) fixes it: a signed commit adding a secret passes it; vigil secrets scan over the same range (the same allowlist from --trust) and vigil verify release block it", (t) => {
  if (!requireTools(t, ["git", "ssh-keygen"])) return;
  const root = tempDir(t);
  const alice = new SshSigner(root, "alice");
  const trust = soleOwnerPolicy(join(root, "trust.yaml"), alice, "staging");
  const repo = new TestRepo(join(root, "repo"));
  const clean = repo.commit({ "envs/staging/app.yaml": "kind: ConfigMap\n" }, alice);
  const { line, secret } = plantedLine(tokenKinds.find((k) => k.rule === "github-pat")!, cryptoRandom);
  const leak = repo.commit({ "envs/staging/creds.yaml": `${line}\n` }, alice, "TICKET-3: token");
  const commits = vigil(["verify", "commits", "--repo", repo.dir, "--trust", trust, "--from", clean, "--to", leak, "--json"]);
  assert.equal(commits.status, 0, commits.stdout + commits.stderr);
  assert.ok(!(commits.json().checks as CheckJson[]).some((c) => c.gate === "secrets"), "the revision gate's verdict has no secrets checks");
  const scan = vigil(["secrets", "scan", "--repo", repo.dir, "--trust", trust, "--from", clean, "--to", leak, "--json"]);
  assert.equal(scan.status, 1);
  assert.deepEqual(
    (scan.json().checks as CheckJson[]).filter((c) => c.status === "fail").map((c) => [c.rule, c.subject]),
    [["github-pat", leak]],
  );
  const release = vigil(["verify", "release", "--repo", repo.dir, "--trust", trust, "--env", "staging", "--from", clean, "--json"]);
  assert.equal(release.status, 1);
  for (const text of [commits.stdout, scan.stdout, release.stdout]) assert.ok(!text.includes(secret));
});
