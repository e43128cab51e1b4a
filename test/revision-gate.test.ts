// The revision gate end to end through `vigil verify commits`, on real repositories signed by git
// with real ssh-keygen keys.
import { strict as assert } from "node:assert";
import { join } from "node:path";
import { before, describe, it, after } from "node:test";
import { SshSigner, TestRepo, payloadOf, withSignature, writePolicy } from "./helpers/git-fixture.ts";
import { requireTools, tempDir, vigil } from "./helpers/tools.ts";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";

let dir: string;
let alice: SshSigner, bob: SshSigner, carol: SshSigner, mallory: SshSigner, forge: SshSigner;

before(() => {
  dir = mkdtempSync(join(tmpdir(), "vigil-gate-"));
  alice = new SshSigner(dir, "alice", "ed25519");
  bob = new SshSigner(dir, "bob", "ecdsa");
  carol = new SshSigner(dir, "carol", "rsa");
  mallory = new SshSigner(dir, "mallory", "ed25519");
  forge = new SshSigner(dir, "forge", "ed25519");
});
after(() => rmSync(dir, { recursive: true, force: true }));

function policy(file: string, extra: Record<string, unknown> = {}): string {
  return writePolicy(file, {
    signers: [alice.policyEntry, bob.policyEntry, carol.policyEntry, { ...forge.policyEntry, mergesOnly: true }],
    groups: { platform: ["alice", "bob"] },
    admins: { members: ["alice", "bob", "carol"], threshold: 2 },
    paths: [
      { pattern: "apps/payments/**", owners: ["carol", "group:platform"] },
      { pattern: "apps/payments/secrets/**", owners: ["carol"] },
      { pattern: "**", owners: ["group:platform"] },
    ],
    environments: [{ name: "staging", branch: "main", path: "envs/staging", commitMessage: "^[A-Z]+-[0-9]+: " }],
    ...extra,
  });
}

function setup(t: import("node:test").TestContext) {
  const root = tempDir(t);
  const repo = new TestRepo(join(root, "repo"));
  const trust = policy(join(root, "vigil.trust.yaml"));
  return { root, repo, trust };
}

const verify = (repo: TestRepo, trust: string, ...args: string[]) =>
  vigil(["verify", "commits", "--repo", repo.dir, "--trust", trust, "--json", ...args]);
const failing = (out: ReturnType<typeof vigil>) => out.json().checks.filter((c: { status: string }) => c.status === "fail");

describe("revision gate", () => {
  it("passes commits signed by trusted ed25519, ecdsa and rsa keys through git's own signing", (t) => {
    if (!requireTools(t, ["git", "ssh-keygen"])) return;
    const { repo, trust } = setup(t);
    repo.commit({ "envs/staging/a.yaml": "a: 1\n" }, alice);
    repo.commit({ "envs/staging/b.yaml": "b: 1\n" }, bob);
    repo.commit({ "apps/payments/c.yaml": "c: 1\n" }, carol);
    const out = verify(repo, trust);
    assert.equal(out.status, 0, out.stdout + out.stderr);
    const v = out.json();
    assert.equal(v.verdict, "pass");
    const sigs = v.checks.filter((c: { rule: string }) => c.rule === "commit-signature");
    assert.equal(sigs.length, 3);
    assert.match(sigs.map((c: { message: string }) => c.message).join("\n"), /alice \(ssh-ed25519 SHA256:/);
    assert.match(sigs.map((c: { message: string }) => c.message).join("\n"), /bob \(ecdsa-sha2-nistp256 SHA256:/);
    assert.match(sigs.map((c: { message: string }) => c.message).join("\n"), /carol \(ssh-rsa SHA256:/);
  });

  it("verifies a repository that uses SHA-256 object names", (t) => {
    if (!requireTools(t, ["git", "ssh-keygen"])) return;
    const { root, trust } = setup(t);
    const repo = new TestRepo(join(root, "sha256"), "sha256");
    const id = repo.commit({ "envs/staging/a.yaml": "a: 1\n" }, alice);
    assert.equal(id.length, 64);
    const out = verify(repo, trust);
    assert.equal(out.status, 0, out.stdout + out.stderr);
    assert.equal(out.json().checks[0].subject, id);
    assert.match(out.json().checks[1].message, /1 path\(s\), all owned by alice/);
    repo.commit({ b: "1" }, mallory);
    assert.equal(verify(repo, trust).status, 1);
  });

  it("blocks an unsigned commit anywhere in the range, not only at the head", (t) => {
    if (!requireTools(t, ["git", "ssh-keygen"])) return;
    const { repo, trust } = setup(t);
    repo.commit({ a: "1" }, alice);
    const unsigned = repo.commit({ b: "2" }, null);
    repo.commit({ c: "3" }, alice);
    const out = verify(repo, trust);
    assert.equal(out.status, 1);
    const [f] = failing(out);
    assert.equal(f.subject, unsigned);
    assert.equal(f.rule, "commit-signature");
    assert.match(f.message, /is not signed/);
  });

  it("blocks a commit signed by an unknown key", (t) => {
    if (!requireTools(t, ["git", "ssh-keygen"])) return;
    const { repo, trust } = setup(t);
    repo.commit({ a: "1" }, mallory);
    const out = verify(repo, trust);
    assert.equal(out.status, 1);
    assert.match(failing(out)[0].message, /untrusted key/);
  });

  it("blocks a valid signature copied from another commit", (t) => {
    if (!requireTools(t, ["git", "ssh-keygen"])) return;
    const { repo, trust } = setup(t);
    const good = repo.commit({ a: "1" }, alice);
    repo.commit({ b: "2" }, null, "TICKET-2: unsigned");
    const sig = /gpgsig ([\s\S]*?-----END SSH SIGNATURE-----)/.exec(repo.catCommit(good))![1]!.replace(/\n /g, "\n");
    const forged = repo.writeRawCommit(withSignature(repo.catCommit("HEAD"), sig));
    const out = verify(repo, trust);
    assert.equal(out.status, 1);
    const f = failing(out).find((c: { subject: string }) => c.subject === forged);
    assert.match(f.message, /does not match the signed content/);
  });

  it("blocks a signature made for another namespace", (t) => {
    if (!requireTools(t, ["git", "ssh-keygen"])) return;
    const { repo, trust } = setup(t);
    repo.commit({ a: "1" }, null);
    const raw = repo.catCommit("HEAD");
    repo.writeRawCommit(withSignature(raw, alice.sign(payloadOf(raw), "file")));
    const out = verify(repo, trust);
    assert.equal(out.status, 1);
    assert.match(failing(out)[0].message, /namespace "file", not "git"/);
  });

  it("blocks truncated and malformed signatures without crashing", (t) => {
    if (!requireTools(t, ["git", "ssh-keygen"])) return;
    const { repo, trust } = setup(t);
    repo.commit({ a: "1" }, alice);
    const raw = repo.catCommit("HEAD");
    const sig = alice.sign(payloadOf(raw));
    const lines = sig.trim().split("\n");
    const cases: [string, RegExp][] = [
      [lines.slice(0, 3).join("\n"), /truncated|missing END/],
      [[lines[0], lines[1]!.slice(0, 20), lines.at(-1)].join("\n"), /malformed SSH signature/],
      [[lines[0], "!!!not-base64!!!", lines.at(-1)].join("\n"), /not valid base64/],
      ["-----BEGIN NONSENSE-----\nabc\n-----END NONSENSE-----", /no known format/],
    ];
    for (const [bad, reason] of cases) {
      repo.writeRawCommit(withSignature(raw, bad));
      const out = verify(repo, trust);
      assert.equal(out.status, 1, out.stderr);
      assert.match(failing(out)[0].message, reason);
    }
  });

  it("enforces path ownership with the most specific pattern, naming commit, path and signer", (t) => {
    if (!requireTools(t, ["git", "ssh-keygen"])) return;
    const { repo, trust } = setup(t);
    repo.commit({ "apps/payments/deploy.yaml": "x" }, carol); // carol owns apps/payments/**
    let out = verify(repo, trust);
    assert.equal(out.status, 0, out.stdout);
    const bad = repo.commit({ "envs/prod/x.yaml": "x" }, carol); // only the platform group owns **
    out = verify(repo, trust);
    assert.equal(out.status, 1);
    const [f] = failing(out);
    assert.equal(f.rule, "path-ownership");
    assert.equal(f.subject, bad);
    assert.match(f.message, /carol does not own: envs\/prod\/x\.yaml \(owned per "\*\*"\)/);
    // The more specific secrets rule excludes alice, though the payments rule includes her group.
    const { repo: r2, trust: t2 } = setup(t);
    r2.commit({ "apps/payments/secrets/key.yaml": "x" }, alice);
    out = verify(r2, t2);
    assert.equal(out.status, 1);
    assert.match(failing(out)[0].message, /apps\/payments\/secrets\/key\.yaml \(owned per "apps\/payments\/secrets\/\*\*"\)/);
  });

  it("blocks a path no rule covers", (t) => {
    if (!requireTools(t, ["git", "ssh-keygen"])) return;
    const { root, repo } = setup(t);
    const trust = writePolicy(join(root, "narrow.yaml"), {
      signers: [alice.policyEntry],
      paths: [{ pattern: "envs/**", owners: ["alice"] }],
    });
    repo.commit({ "other/x": "1" }, alice);
    const out = verify(repo, trust);
    assert.equal(out.status, 1);
    assert.match(failing(out)[0].message, /other\/x \(no paths rule covers it\)/);
  });

  it("applies the environment's commit message rule", (t) => {
    if (!requireTools(t, ["git", "ssh-keygen"])) return;
    const { repo, trust } = setup(t);
    repo.commit({ a: "1" }, alice, "OPS-42: fine");
    assert.equal(verify(repo, trust, "--env", "staging").status, 0);
    const bad = repo.commit({ b: "1" }, alice, "no ticket here");
    const out = verify(repo, trust, "--env", "staging");
    assert.equal(out.status, 1);
    const [f] = failing(out);
    assert.equal(f.rule, "commit-message");
    assert.equal(f.subject, bad);
    assert.match(f.message, /"no ticket here" does not match/);
    assert.equal(out.json().subject.environment, "staging");
  });

  it("checks only commits after the last deployed revision, and refuses rollback and rewritten history", (t) => {
    if (!requireTools(t, ["git", "ssh-keygen"])) return;
    const { repo, trust } = setup(t);
    repo.commit({ a: "1" }, null); // unsigned, but deployed before Vigil: outside the range
    const deployed = repo.commit({ b: "1" }, alice);
    const next = repo.commit({ c: "1" }, alice);
    let out = verify(repo, trust, "--from", deployed, "--to", next);
    assert.equal(out.status, 0, out.stdout);
    assert.equal(out.json().checks.filter((c: { rule: string }) => c.rule === "commit-signature").length, 1);

    out = verify(repo, trust, "--from", next, "--to", deployed);
    assert.equal(out.status, 1);
    assert.match(failing(out)[0].message, /^rollback: .* ancestor of the last deployed/);

    repo.git("reset", "-q", "--hard", deployed);
    const rewritten = repo.commit({ c: "2" }, alice);
    out = verify(repo, trust, "--from", next, "--to", rewritten);
    assert.equal(out.status, 1);
    assert.match(failing(out)[0].message, /^rewritten history: .* does not descend from the last deployed/);

    out = verify(repo, trust, "--from", rewritten, "--to", rewritten);
    assert.equal(out.status, 0);
    assert.match(out.json().checks[0].message, /nothing new/);
  });

  it("trusts a forge key only for merge commits, and checks what the merge itself changes", (t) => {
    if (!requireTools(t, ["git", "ssh-keygen"])) return;
    const { repo, trust } = setup(t);
    repo.commit({ base: "1" }, alice);
    repo.git("checkout", "-q", "-b", "feature");
    repo.commit({ "apps/payments/x": "1" }, carol);
    repo.git("checkout", "-q", "main");
    repo.commit({ other: "1" }, bob);
    repo.git("merge", "-q", "--no-ff", "--no-commit", "feature");
    const merge = repo.commitStaged(forge, "TICKET-3: merge feature");
    let out = verify(repo, trust);
    assert.equal(out.status, 0, out.stdout);
    assert.match(
      out.json().checks.find((c: { subject: string; rule: string }) => c.subject === merge && c.rule === "commit-signature").message,
      /merge signed by forge key forge/,
    );

    // An "evil merge" that adds its own change is checked against the forge's (empty) ownership.
    repo.git("checkout", "-q", "-b", "feature2", merge + "~1");
    repo.commit({ "apps/payments/y": "1" }, carol);
    repo.git("checkout", "-q", "main");
    repo.git("merge", "-q", "--no-ff", "--no-commit", "feature2");
    repo.commit({ "envs/prod/evil": "1" }, forge, "TICKET-4: merge");
    out = verify(repo, trust);
    assert.equal(out.status, 1);
    assert.match(failing(out)[0].message, /forge does not own: envs\/prod\/evil/);

    repo.commit({ plain: "1" }, forge);
    out = verify(repo, trust);
    assert.match(
      failing(out)
        .map((c: { message: string }) => c.message)
        .join("\n"),
      /trusted only for merge commits/,
    );
  });

  it("verifies a signed annotated tag and refuses a tag moved to another name", (t) => {
    if (!requireTools(t, ["git", "ssh-keygen"])) return;
    const { repo, trust } = setup(t);
    repo.commit({ a: "1" }, alice);
    repo.git(
      "-c",
      "gpg.format=ssh",
      "-c",
      `user.signingkey=${alice.keyFile}`,
      "-c",
      "user.name=alice",
      "-c",
      "user.email=alice@example.com",
      "tag",
      "-s",
      "v1.0",
      "-m",
      "release",
    );
    let out = verify(repo, trust, "--to", "v1.0");
    assert.equal(out.status, 0, out.stdout);
    assert.match(out.json().checks[0].message, /tag v1\.0 signed by alice/);

    repo.git("update-ref", "refs/tags/v2.0", repo.git("rev-parse", "v1.0"));
    out = verify(repo, trust, "--to", "v2.0");
    assert.equal(out.status, 1);
    assert.match(failing(out)[0].message, /tag object says "v1\.0" but is stored at refs\/tags\/v2\.0/);

    repo.git("-c", "user.name=x", "-c", "user.email=x@x", "tag", "-a", "v3.0", "-m", "unsigned");
    out = verify(repo, trust, "--to", "v3.0");
    assert.equal(out.status, 1);
    assert.match(failing(out)[0].message, /tag v3\.0 is not signed/);
  });
});
