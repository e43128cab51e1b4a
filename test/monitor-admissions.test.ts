// Admissions are what the gates' passing signature checks say they admitted, in the `admits` field (kind,
// subject, signer, and the key in src/trust's canonical form), never read out of a message. Commits are
// signed for real (ssh-keygen, gpg, a gitsign-style x509 program, a forge key on a merge), verified by
// `vigil verify commits --json`, and their checks read back from that JSON and from an audit record; the
// agent test covers ssh and key-signed images end to end. A passing signature check without the field is
// returned as unread, never dropped silently, and rewriting every message changes no admission.
import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { check, makeVerdict, type Check } from "../src/core/verdict.ts";
import { reconcileRecord } from "../src/agent/records.ts";
import { decodeRecord, encodeRecord } from "../src/audit/record.ts";
import { admissionsFromChecks } from "../src/monitor/admissions.ts";
import { admissionKey, trustedKeys, untrustedAdmissions } from "../src/monitor/trust.ts";
import { loadTrustPolicyFile } from "../src/trust/policy.ts";
import { SshSigner, TestRepo, writePolicy, type Signer } from "./helpers/git-fixture.ts";
import { GpgHome, gpgWrapper } from "./helpers/gpg-fixture.ts";
import { requireTools, run, tempDir, vigil } from "./helpers/tools.ts";
import { TEST_ISSUER, TestCa, cmsSignProgram } from "./helpers/x509-fixture.ts";

const digest = `sha256:${"d".repeat(64)}`;

const fingerprintOf = (signer: SshSigner) => run("ssh-keygen", ["-l", "-E", "sha256", "-f", `${signer.keyFile}.pub`]).split(" ")[1]!;

/** Every message rewritten to name someone else and another key: what a reader of messages would be fooled by. */
const withForgedMessages = (checks: Check[]): Check[] =>
  checks.map((c) => ({ ...c, message: `signed by mallory (ssh-ed25519 SHA256:${"M".repeat(43)}; valid at 2026-12-01T00:00:00.000Z)` }));

test("commit signatures of every kind the revision gate accepts become admissions in the trust policy's key forms, through JSON and audit records; messages change nothing", (t) => {
  if (!requireTools(t, ["git", "ssh-keygen", "gpg", "openssl"])) return;
  const root = tempDir(t);
  const alice = new SshSigner(root, "alice");
  const forge = new SshSigner(root, "forge");
  mkdirSync(join(root, "gnupg"), { mode: 0o700 });
  const gpg = new GpgHome(join(root, "gnupg"));
  gpgWrapper(gpg);
  const bobKey = gpg.generate("Bob <bob@example.com>", "ed25519");
  const bob = gpg.signer("bob", bobKey);
  const ca = new TestCa(root, "ca");
  const program = cmsSignProgram(join(root, "cms-sign.sh"));
  const carol: Signer = {
    name: "carol",
    email: "carol@example.com",
    policyEntry: { name: "carol", sigstore: { identity: "carol@example.com", issuer: TEST_ISSUER } },
    gitConfig: ["-c", "gpg.format=x509", "-c", `gpg.x509.program=${program}`, "-c", "user.signingkey=carol"],
  };
  const trustedRoot = join(root, "trusted_root.json");
  writeFileSync(trustedRoot, JSON.stringify(ca.trustedRootJson()));
  const trust = writePolicy(join(root, "trust.yaml"), {
    signers: [alice.policyEntry, bob.policyEntry, carol.policyEntry, { ...forge.policyEntry, mergesOnly: true }],
    paths: [{ pattern: "**", owners: ["alice", "bob", "carol"] }],
  });
  const repo = new TestRepo(join(root, "repo"));
  process.env.VIGIL_X509_SIGNER = ca.leaf({ email: "carol@example.com" });
  t.after(() => delete process.env.VIGIL_X509_SIGNER);
  const first = repo.commit({ "a.yaml": "a: 1\n" }, alice);
  repo.git("checkout", "-q", "-b", "side");
  const onSide = repo.commit({ "b.yaml": "b: 1\n" }, bob);
  repo.git("checkout", "-q", "main");
  const onMain = repo.commit({ "c.yaml": "c: 1\n" }, carol);
  repo.git(
    ...forge.gitConfig,
    "-c",
    "user.name=forge",
    "-c",
    "user.email=forge@example.com",
    "merge",
    "-q",
    "--no-ff",
    "-S",
    "-m",
    "Merge side",
    "side",
  );
  const merge = repo.git("rev-parse", "HEAD");

  const out = vigil(["verify", "commits", "--repo", repo.dir, "--trust", trust, "--trusted-root", trustedRoot, "--json"]);
  assert.equal(out.status, 0, out.stdout + out.stderr);
  const checks: Check[] = out.json().checks;
  const expected = [
    { kind: "commit", subject: first, signer: "alice", key: admissionKey.ssh(fingerprintOf(alice)) },
    { kind: "commit", subject: onSide, signer: "bob", key: admissionKey.openpgp(bobKey) },
    { kind: "commit", subject: onMain, signer: "carol", key: admissionKey.sigstore("carol@example.com", TEST_ISSUER) },
    { kind: "commit", subject: merge, signer: "forge", key: admissionKey.ssh(fingerprintOf(forge)) },
  ];
  const sorted = <T>(xs: T[]) => xs.map((x) => JSON.stringify(x)).sort();
  const read = admissionsFromChecks(checks);
  assert.deepEqual(read.unread, []);
  assert.deepEqual(sorted(read.admissions), sorted(expected));

  // The same admissions after an audit record's canonical encoding and strict decoding.
  const record = reconcileRecord({
    environment: "prod",
    repo: repo.dir,
    revision: merge,
    verdict: makeVerdict({ revision: merge }, checks),
    applied: true,
  });
  const decoded = decodeRecord(encodeRecord(record), 0);
  assert.equal(decoded.kind, "reconcile");
  if (decoded.kind !== "reconcile") return;
  assert.deepEqual(sorted(admissionsFromChecks(decoded.payload.checks).admissions), sorted(expected));
  assert.deepEqual(
    sorted(decoded.payload.commits),
    sorted(expected.map((a) => ({ commit: a.subject, signer: a.signer, key: a.key }))),
    "the record's commits name each signer and key from the same field",
  );

  // A message says nothing to a program: forging every one changes no admission and no record.
  assert.deepEqual(admissionsFromChecks(withForgedMessages(checks)), read);
  const forged = reconcileRecord({
    environment: "prod",
    repo: repo.dir,
    revision: merge,
    verdict: makeVerdict({ revision: merge }, withForgedMessages(checks)),
    applied: true,
  });
  assert.deepEqual(forged.kind === "reconcile" && forged.payload.commits, record.kind === "reconcile" && record.payload.commits);
});

test("image signatures admit what their admits name; unsigned images admit nothing; a passing signature check without the field is unread, whatever its message says", () => {
  const { publicKey } = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
  const pem = publicKey.export({ type: "spki", format: "pem" }).toString();
  const signed = check({
    gate: "artifact",
    rule: "image-signature",
    status: "pass",
    code: "image-signed",
    subject: "Deployment/shop/web container web: r/app:1",
    message: `signed by key, ci (dave@example.com (issuer https://token.actions.example.com)); rule r/** (trust.yaml:3 images[0]); pinned to ${digest}`,
    admits: [
      { kind: "image", subject: digest, signer: "key", key: admissionKey.pem(pem) },
      {
        kind: "image",
        subject: digest,
        signer: "dave@example.com",
        key: admissionKey.sigstore("dave@example.com", "https://token.actions.example.com"),
      },
    ],
  });
  const { admissions, unread } = admissionsFromChecks([
    signed,
    check({
      gate: "artifact",
      rule: "image-signature",
      status: "pass",
      code: "unsigned-allowed",
      subject: "Deployment/shop/db container db: r/db:1",
      message: `runs unsigned, as the rule for r/db (trust.yaml:9) allows; pinned to ${digest}`,
      admits: [],
    }),
    check({
      gate: "artifact",
      rule: "image-signature",
      status: "pass",
      code: "image-signed",
      subject: "Deployment/shop/odd container odd: r/odd:1",
      message: `signed by ci (dave@example.com (issuer https://token.actions.example.com)); rule r/**; pinned to ${digest}`,
    }),
    check({
      gate: "artifact",
      rule: "image-signature",
      status: "fail",
      code: "signature-invalid",
      subject: "Deployment/shop/bad container x: r/x:1",
      message: "not signed",
    }),
  ]);
  assert.deepEqual(admissions, [
    { kind: "image", subject: digest, signer: "key", key: admissionKey.pem(pem) },
    {
      kind: "image",
      subject: digest,
      signer: "dave@example.com",
      key: admissionKey.sigstore("dave@example.com", "https://token.actions.example.com"),
    },
  ]);
  assert.equal(unread.length, 1, "a signature check that says in words only what it admitted is reported, not read");
  assert.match(unread[0]!.subject, /odd/);
  assert.deepEqual(admissionsFromChecks(withForgedMessages([signed])).admissions, admissions.slice(0, 2));
});

test("a commit signed with an SSH certificate is admitted by its certificate authority, the key the trust policy names, and flagged only when that authority goes", async (t) => {
  if (!requireTools(t, ["git", "ssh-keygen"])) return;
  const root = tempDir(t);
  const ca = new SshSigner(root, "ca");
  const alice = new SshSigner(root, "alice");
  run("ssh-keygen", ["-q", "-s", ca.keyFile, "-I", "cert-alice", "-n", "alice@example.com", "-V", "-1w:+1w", `${alice.keyFile}.pub`]);
  const certified: Signer = {
    name: alice.name,
    email: alice.email,
    policyEntry: {},
    gitConfig: ["-c", "gpg.format=ssh", "-c", `user.signingkey=${alice.keyFile}-cert.pub`],
  };
  writeFileSync(join(root, "allowed_signers"), `*@example.com cert-authority ${ca.publicKey}\n`);
  const policyFile = writePolicy(join(root, "trust.yaml"), {
    allowedSigners: "allowed_signers",
    paths: [{ pattern: "**", owners: ["alice@example.com"] }],
  });
  const repo = new TestRepo(join(root, "repo"));
  const commit = repo.commit({ a: "1" }, certified);
  const out = vigil(["verify", "commits", "--repo", repo.dir, "--trust", policyFile, "--json"]);
  assert.equal(out.status, 0, out.stdout + out.stderr);
  const { admissions, unread } = admissionsFromChecks(out.json().checks);
  assert.deepEqual(unread, []);
  assert.deepEqual(admissions, [
    { kind: "commit", subject: commit, signer: "alice@example.com", key: admissionKey.ssh(fingerprintOf(ca)) },
  ]);

  const deployed = [
    {
      environment: "prod",
      workload: "Deployment shop/web",
      images: [],
      revision: commit,
      verdict: "pass" as const,
      deployedAt: "2026-12-01T00:00:00Z",
      admissions,
    },
  ];
  const since = "2026-12-02T00:00:00Z";
  assert.deepEqual(
    untrustedAdmissions(deployed, await trustedKeys(await loadTrustPolicyFile(policyFile)), since),
    [],
    "the same policy trusts it",
  );
  const other = new SshSigner(root, "other-ca");
  writeFileSync(join(root, "allowed_signers"), `*@example.com cert-authority ${other.publicKey}\n`);
  const flagged = untrustedAdmissions(deployed, await trustedKeys(await loadTrustPolicyFile(policyFile)), since);
  assert.deepEqual(
    flagged.map((f) => [f.type, f.subject, f.rule]),
    [["untrusted-key", commit, admissionKey.ssh(fingerprintOf(ca))]],
  );
});
