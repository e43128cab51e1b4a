// The trusted time (issue 14 §4): key windows, certificate validity and OpenPGP expiry are judged at a
// time the signer does not control — the audit log's first sighting, else the time of verification —
// never at the committer date or a signature's own creation time. Real ssh-keygen and gpg keys and a real
// git commit throughout; x509's trusted time is tested in git-x509.test.ts beside its fixtures.
import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it, type TestContext } from "node:test";
import { parseCommit } from "../src/git/objects.ts";
import { parseOpenPgpKeys } from "../src/trust/openpgp-keys.ts";
import { verifyOpenPgpSignature } from "../src/git/signatures/openpgp.ts";
import { describeSigner, type SignatureResult, type TrustedTime } from "../src/git/signatures/result.ts";
import { matchPrincipal, matchWildcard, parseAllowedSigners } from "../src/trust/ssh-signers.ts";
import { verifySshSignature } from "../src/git/signatures/ssh-verify.ts";
import type { TrustPolicyDocument } from "../src/api/trust-policy.ts";
import { verifyGitSignature } from "../src/git/signatures/verify.ts";
import type { Keyring } from "../src/trust/keyring.ts";
import type { PolicyContext } from "../src/revision/policy-chain.ts";
import { verifierPool } from "../src/revision/verifier-pool.ts";
import { SshSigner, TestRepo } from "./helpers/git-fixture.ts";
import { GpgHome } from "./helpers/gpg-fixture.ts";
import { requireTools, run, tempDir } from "./helpers/tools.ts";

const HOUR = 3600 * 1000;
const DAY = 24 * HOUR;
const T2023 = Date.UTC(2023, 5, 1) / 1000; // the committer date the signer writes
const data = Buffer.from("tree 0123\nauthor a <a@x> 1 +0000\n\nmessage\n");

const firstSeen = (at: Date | string): TrustedTime => ({ at: new Date(at), source: "first-seen" });
const verification = (at: Date = new Date()): TrustedTime => ({ at, source: "verification" });

function acceptedAt(result: SignatureResult, time: TrustedTime): void {
  assert.equal(result.ok, true, JSON.stringify(result));
  if (result.ok) assert.deepEqual([result.time, result.timeSource], [time.at, time.source]);
}

function refusedWith(result: SignatureResult, pattern: RegExp): void {
  assert.equal(result.ok, false, `expected a refusal, got ${JSON.stringify(result)}`);
  if (!result.ok) assert.match(result.reason, pattern);
}

/** A commit by `signer` dated `time` (the committer date), as git stores it: signature and payload. */
function signedCommit(t: TestContext, signer: SshSigner, time: number): { repo: TestRepo; armored: string; payload: Buffer } {
  const repo = new TestRepo(join(tempDir(t), "repo"));
  const id = repo.commit({ "app.yaml": "a: 1\n" }, signer, "TICKET-1: change", { time });
  const commit = parseCommit(id, Buffer.from(repo.catCommit(id)));
  return { repo, armored: commit.signature!, payload: commit.payload };
}

describe("SSH keys are judged at the trusted time, not the committer date", () => {
  it("refuses a key past its valid-before though the commit is dated before it (git verify-commit accepts it)", (t) => {
    if (!requireTools(t, ["git", "ssh-keygen"])) return;
    const dir = tempDir(t);
    const alice = new SshSigner(dir, "alice");
    const allowed = join(dir, "allowed_signers");
    const line = `alice@example.com valid-before="20240101Z" ${alice.publicKey}\n`;
    writeFileSync(allowed, line);
    const { repo, armored, payload } = signedCommit(t, alice, T2023);

    // git passes the committer date to ssh-keygen (-Overify-time), so the signer's own date decides.
    const git = spawnSync("git", ["-c", `gpg.ssh.allowedSignersFile=${allowed}`, "verify-commit", "HEAD"], {
      cwd: repo.dir,
      encoding: "utf8",
      env: { ...process.env, HOME: repo.dir, GIT_CONFIG_NOSYSTEM: "1" },
    });
    assert.equal(git.status, 0, git.stderr);
    assert.match(git.stderr, /Good "git" signature for alice@example\.com/);

    const entries = parseAllowedSigners(line, "allowed_signers");
    const now = verification();
    refusedWith(
      verifySshSignature(armored, payload, entries, now),
      /allowed_signers:1: the trusted time .* \(time of verification\) is after the key's valid-before 2024-01-01T00:00:00\.000Z/,
    );

    // Seen by Vigil while the key was valid: the sighting, not the commit's date, keeps it valid.
    const seen = firstSeen("2023-12-01T00:00:00Z");
    acceptedAt(verifySshSignature(armored, payload, entries, seen), seen);
  });

  it("refuses a key before its valid-after, however early the commit claims to be", (t) => {
    if (!requireTools(t, ["git", "ssh-keygen"])) return;
    const alice = new SshSigner(tempDir(t), "alice");
    const { armored, payload } = signedCommit(t, alice, T2023);
    const entries = parseAllowedSigners(`alice@example.com valid-after="20300101Z" ${alice.publicKey}\n`, "allowed_signers");
    refusedWith(verifySshSignature(armored, payload, entries, verification()), /is before the key's valid-after 2030-01-01/);
  });

  it("judges an OpenSSH certificate's validity at the trusted time: an expired one keeps working only if first seen in time", (t) => {
    if (!requireTools(t, ["ssh-keygen"])) return;
    const dir = tempDir(t);
    const ca = new SshSigner(dir, "ca");
    const alice = new SshSigner(dir, "alice");
    const certify = (validity: string) => {
      run("ssh-keygen", ["-q", "-s", ca.keyFile, "-I", "cert-alice", "-n", "alice@example.com", "-V", validity, alice.keyFile + ".pub"]);
      return run("ssh-keygen", ["-q", "-Y", "sign", "-n", "git", "-f", `${alice.keyFile}-cert.pub`], { input: data });
    };
    const entries = parseAllowedSigners(`*@example.com cert-authority ${ca.publicKey}\n`, "allowed_signers");

    const expired = certify("20200101:20200201");
    refusedWith(
      verifySshSignature(expired, data, entries, verification()),
      /certificate "cert-alice" is not valid at .* \(time of verification\) \(valid from 2020-01-0.* to 2020-02-0.*\)/,
    );
    const seen = firstSeen("2020-01-15T00:00:00Z");
    acceptedAt(verifySshSignature(expired, data, entries, seen), seen);

    const current = certify("-5m:+1h");
    const now = verification();
    acceptedAt(verifySshSignature(current, data, entries, now), now);
    refusedWith(verifySshSignature(current, data, entries, verification(new Date(Date.now() + 2 * HOUR))), /is not valid at/);
  });
});

describe("OpenPGP keys are judged at the trusted time, not the signature's creation time", () => {
  function gpgHome(t: TestContext): GpgHome {
    const dir = join(tempDir(t), "gnupg");
    mkdirSync(dir, { mode: 0o700 });
    return new GpgHome(dir);
  }

  it("refuses a key that expired before the trusted time, and accepts it before", async (t) => {
    if (!requireTools(t, ["gpg"])) return;
    const home = gpgHome(t);
    const fpr = home.generate("Dora <dora@example.com>", "ed25519", "sign", "1d");
    const trusted = await parseOpenPgpKeys(home.exportPublic(fpr), "dora", "policy signers[0]");
    const signature = home.sign(fpr, data);
    const now = verification();
    acceptedAt(await verifyOpenPgpSignature(signature, data, trusted, now), now);
    refusedWith(
      await verifyOpenPgpSignature(signature, data, trusted, verification(new Date(Date.now() + 2 * DAY))),
      /the key expired .*, before the trusted time .* \(time of verification\); renew it/,
    );
  });

  it("a signature dated inside an old key's lifetime counts only if Vigil saw it then", async (t) => {
    if (!requireTools(t, ["gpg"])) return;
    const home = gpgHome(t);
    const fpr = home.generate("Olga <olga@example.com>", "ed25519", "sign", "1y", "20200101T000000");
    const trusted = await parseOpenPgpKeys(home.exportPublic(fpr), "olga", "policy signers[0]");
    // Anyone holding the key can write this date today; only a sighting in 2020 makes it so.
    const signature = home.sign(fpr, data, { fakedTime: "20200601T000000" });
    refusedWith(
      await verifyOpenPgpSignature(signature, data, trusted, verification()),
      /the key expired 2020-12-3.*before the trusted time/,
    );
    const seen = firstSeen("2020-06-02T00:00:00Z");
    acceptedAt(await verifyOpenPgpSignature(signature, data, trusted, seen), seen);
  });

  it("refuses a signature dated after Vigil first saw it, beyond the clock skew", async (t) => {
    if (!requireTools(t, ["gpg"])) return;
    const home = gpgHome(t);
    const fpr = home.generate("Alice <alice@example.com>", "ed25519");
    const trusted = await parseOpenPgpKeys(home.exportPublic(fpr), "alice", "policy signers[0]");
    const seen = firstSeen(new Date(Date.now() + HOUR));
    const dated = (ms: number) => home.sign(fpr, data, { fakedTime: gpgTime(new Date(Date.now() + ms)) });
    refusedWith(
      await verifyOpenPgpSignature(dated(DAY), data, trusted, seen),
      /in the future of the trusted time .* \(first seen in the audit log\)/,
    );
    // A signer's clock a few minutes ahead is not a reason to refuse.
    acceptedAt(await verifyOpenPgpSignature(dated(HOUR + 3 * 60 * 1000), data, trusted, seen), seen);
  });

  it("refuses a key created after the trusted time", async (t) => {
    if (!requireTools(t, ["gpg"])) return;
    const home = gpgHome(t);
    const fpr = home.generate("Alice <alice@example.com>", "ed25519");
    const trusted = await parseOpenPgpKeys(home.exportPublic(fpr), "alice", "policy signers[0]");
    refusedWith(
      await verifyOpenPgpSignature(home.sign(fpr, data), data, trusted, firstSeen(new Date(Date.now() - 60 * 1000))),
      /the key was created .*, after the trusted time .* \(first seen in the audit log\)/,
    );
  });
});

/** gpg's --faked-system-time format. */
function gpgTime(d: Date): string {
  return d
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d+Z$/, "");
}

describe("the trusted time through the keyring and the worker pool", () => {
  it("verifyGitSignature reports the time it used and its source; the default source is the time of verification", async (t) => {
    if (!requireTools(t, ["ssh-keygen"])) return;
    const alice = new SshSigner(tempDir(t), "alice");
    const ring: Keyring = {
      ssh: parseAllowedSigners(`alice@example.com ${alice.publicKey}\n`, "allowed_signers"),
      openpgp: [],
      sigstore: [],
      trustedRoot: undefined,
    };
    const signature = alice.sign(data);
    const at = new Date("2026-01-02T03:04:05Z");
    acceptedAt(await verifyGitSignature(ring, signature, data, at), { at, source: "verification" });
    const seen = await verifyGitSignature(ring, signature, data, at, "git", "first-seen");
    acceptedAt(seen, { at, source: "first-seen" });
    assert.ok(seen.ok);
    assert.match(
      describeSigner(seen),
      /^alice@example\.com \(ssh-ed25519 SHA256:\S+; valid at 2026-01-02T03:04:05\.000Z, first seen in the audit log\)$/,
    );
  });

  it("a worker thread judges at the time and source it is given", async (t) => {
    if (!requireTools(t, ["ssh-keygen"])) return;
    const alice = new SshSigner(tempDir(t), "alice");
    const text = `alice@example.com valid-before="20240101Z" ${alice.publicKey}\n`;
    const ctx = {
      key: "policy-1",
      policy: {
        source: "trust.yaml",
        doc: { signers: [] } as unknown as TrustPolicyDocument,
        allowedSigners: { file: "allowed_signers", text },
        where: () => "",
      },
      keyring: { ssh: parseAllowedSigners(text, "allowed_signers"), openpgp: [], sigstore: [], trustedRoot: undefined },
    } as unknown as PolicyContext;
    const pool = verifierPool(2);
    t.after(() => pool.close());
    const signature = alice.sign(data);
    const at = new Date("2023-12-01T00:00:00Z");
    acceptedAt(await pool.verify(ctx, signature, data, at, "first-seen"), { at, source: "first-seen" });
    refusedWith(await pool.verify(ctx, signature, data, new Date()), /\(time of verification\) is after the key's valid-before/);
  });
});

describe("principal patterns match without backtracking (OpenSSH match_pattern)", () => {
  it("matches * and ? as OpenSSH does, case-sensitively", () => {
    const cases: [string, string, boolean][] = [
      ["alice@example.com", "alice@example.com", true],
      ["alice@example.com", "*@example.com", true],
      ["alice@example.com", "?lice@example.com", true],
      ["alice@example.com", "a*e@*.com", true],
      ["alice@example.com", "*", true],
      ["", "*", true],
      ["", "", true],
      ["a", "", false],
      ["alice@example.com", "alice@example.co", false],
      ["alice@example.com", "Alice@example.com", false],
      ["alice@example.com", "*@example.co?m", false],
      ["aXbXc", "a*b*c", true],
      ["abc", "a*b*b*c", false],
      ["abab", "*ab", true],
      ["ab", "a**b", true],
      ["a.b", "a?b", true],
      ["a+b", "a.b", false],
    ];
    for (const [name, pattern, expected] of cases)
      assert.equal(matchWildcard(name, pattern), expected, `${JSON.stringify(name)} ~ ${JSON.stringify(pattern)}`);
    assert.equal(matchPrincipal("mallory@example.com", ["*@example.com", "!mallory@*"]), false);
    assert.equal(matchPrincipal("alice@example.com", ["*@example.com", "!mallory@*"]), true);
  });

  it("matches namespaces= as OpenSSH's pattern list, negations included", (t) => {
    if (!requireTools(t, ["ssh-keygen"])) return;
    const alice = new SshSigner(tempDir(t), "alice");
    const signature = alice.sign(data, "vigil-approval");
    const entries = (namespaces: string) =>
      parseAllowedSigners(`alice@example.com namespaces="${namespaces}" ${alice.publicKey}\n`, "allowed_signers");
    const now = verification();
    const verify = (namespaces: string) => verifySshSignature(signature, data, entries(namespaces), now, "vigil-approval");
    acceptedAt(verify("vigil-*"), now);
    refusedWith(verify("vigil-*,!vigil-approval"), /not allowed to sign namespace "vigil-approval"/);
    refusedWith(verify("git"), /not allowed to sign namespace "vigil-approval"/);
  });

  it("completes at once on a pattern that makes a backtracking matcher take exponential time", () => {
    const name = "a".repeat(100_000);
    const started = performance.now();
    assert.equal(matchWildcard(name, "*a*a*a*a*a*a*a*a*b"), false);
    assert.equal(matchWildcard(name, "*a".repeat(500) + "b"), false);
    assert.equal(matchPrincipal(name, ["*a*a*a*a*a*a*a*a*a"]), true);
    assert.ok(performance.now() - started < 1000, `took ${performance.now() - started} ms`);
  });
});
