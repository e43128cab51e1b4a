// Approvals and promotion rule by rule, in-process (src/approvals), on real repositories and real keys:
// the strict reading of claims, every reason an approval, withdrawal or record does not count, the
// agent's step, OpenPGP and x509 approvers, and the trust policy's new fields.
import { strict as assert } from "node:assert";
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import type { Candidate } from "../src/agent/gates.ts";
import {
  ApprovalGate,
  approvalGate,
  writeApproval,
  writeDeploymentRecord,
  type ApprovalGateInput,
  type Claim,
  type Revision,
} from "../src/approvals/index.ts";
import { decodeClaim, encodeClaim } from "../src/approvals/claims.ts";
import { PREDICATE_TYPES } from "../src/api/claims.ts";
import { openEnvelope, serializeEnvelope } from "../src/approvals/envelopes.ts";
import { MAX_CLAIM_BYTES, readStoredBytes } from "../src/approvals/store.ts";
import { parseTrustPolicy, loadTrustPolicyFile } from "../src/trust/policy.ts";
import { InputError } from "../src/core/errors.ts";
import type { Check } from "../src/core/verdict.ts";
import { openRepo, writeBlobRef } from "../src/git/repo.ts";
import { signDetached } from "../src/git/signatures/sign.ts";
import { preAuthEncoding } from "../src/sigstore/dsse.ts";
import { INTOTO_PAYLOAD_TYPE, STATEMENT_V01 } from "../src/sigstore/intoto.ts";
import { approvalsFixture, type ApprovalsFixture } from "./helpers/approvals-fixture.ts";
import { writePolicy } from "./helpers/git-fixture.ts";
import { GpgHome } from "./helpers/gpg-fixture.ts";
import { refusal } from "./helpers/refusal.ts";
import { requireTools, vigil } from "./helpers/tools.ts";
import { TEST_ISSUER, TestCa, cmsSignProgram } from "./helpers/x509-fixture.ts";

const commit = "a".repeat(40);
const tree = "b".repeat(40);
const HOUR = 3600_000;
const at = new Date("2026-01-31T12:00:00Z");

/** A statement as Vigil writes one, with `change` applied to its JSON. */
function statement(change: (s: any) => void = () => {}): Buffer {
  const s = JSON.parse(
    encodeClaim({
      type: "approval",
      revision: { commit, tree },
      environment: "prod",
      kind: "deploy",
      approver: "Bob <bob@example.com>",
      at,
    }).toString(),
  );
  change(s);
  return Buffer.from(JSON.stringify(s));
}

describe("claims are read strictly", () => {
  it("reads back what it writes, for each kind of claim", () => {
    const revision = { commit, tree };
    const claims: Claim[] = [
      { type: "approval", revision, environment: "prod", kind: "rollback", approver: "b", at, expires: new Date(at.getTime() + HOUR) },
      { type: "withdrawal", revision, environment: "prod", approver: "b", at },
      { type: "deployment", revision, environment: "staging", deployedAt: new Date(at.getTime() - HOUR), at },
    ];
    for (const claim of claims) assert.deepEqual(decodeClaim(encodeClaim(claim)), claim);
    const s = JSON.parse(encodeClaim(claims[0]!).toString());
    assert.deepEqual(s.subject, [
      { name: "commit", digest: { gitCommit: commit } },
      { name: "tree", digest: { gitTree: tree } },
    ]);
    assert.equal(s.predicateType, PREDICATE_TYPES.approval);
    assert.deepEqual(s.predicate, {
      environment: "prod",
      kind: "rollback",
      approver: "b",
      approvedAt: "2026-01-31T12:00:00Z",
      expiresAt: "2026-01-31T13:00:00Z",
    });
  });

  it("refuses anything else, saying what", () => {
    const cases: [Buffer, RegExp][] = [
      [Buffer.from("{"), /not JSON/],
      [statement((s) => (s._type = STATEMENT_V01)), /is https:\/\/in-toto\.io\/Statement\/v0\.1, not an in-toto Statement v1/],
      [
        statement((s) => (s.predicateType = "https://slsa.dev/provenance/v1")),
        /predicate type https:\/\/slsa\.dev\/provenance\/v1 is none of Vigil's/,
      ],
      [
        statement((s) => s.subject.push({ name: "x", digest: { sha256: "c".repeat(64) } })),
        /names 3 subjects; a Vigil claim names the commit and its tree/,
      ],
      [
        statement((s) => (s.subject[0].digest = { sha256: "c".repeat(64) })),
        /subject\[0\] must be the commit, named "commit" with a gitCommit digest alone/,
      ],
      [statement((s) => (s.subject[1].digest.sha1 = tree)), /subject\[1\] must be the tree/],
      [statement((s) => (s.subject[0].digest.gitCommit = "abc")), /subject\[0\] must be the commit/],
      [statement((s) => (s.subject = [s.subject[1], s.subject[0]])), /subject\[0\] must be the commit/],
      [statement((s) => (s.predicate.by = "x")), /the approval predicate's by is not a known field/],
      [statement((s) => delete s.predicate.kind), /the approval predicate's kind is required/],
      [statement((s) => (s.predicate = null)), /the approval predicate must be a JSON object/],
      [statement((s) => (s.predicate.kind = "forever")), /the approval predicate's kind must be "deploy" or "rollback"/],
      [statement((s) => (s.predicate.approvedAt = "2026-01-31T12:00:00.000Z")), /approvedAt must be a UTC time like/],
      [statement((s) => (s.predicate.approvedAt = "2026-02-30T12:00:00Z")), /approvedAt 2026-02-30T12:00:00Z is not a real time/],
      [statement((s) => (s.predicate.environment = "")), /environment must not be empty/],
      [
        Buffer.from(
          JSON.stringify({
            ...JSON.parse(encodeClaim({ type: "deployment", revision: { commit, tree }, environment: "s", deployedAt: at, at }).toString()),
            predicate: { environment: "s", deployedAt: "2026-01-31T12:00:00Z", healthyAt: "2026-01-31T11:00:00Z" },
          }),
        ),
        /healthy at 2026-01-31T11:00:00Z, before it was deployed at 2026-01-31T12:00:00Z/,
      ],
    ];
    for (const [payload, reason] of cases) assert.match(refusal(() => decodeClaim(payload)).message, reason);
  });

  it("takes only DSSE envelopes of in-toto statements with exactly one signature", () => {
    const envelope = (e: Record<string, unknown>) =>
      Buffer.from(
        JSON.stringify({
          payloadType: INTOTO_PAYLOAD_TYPE,
          payload: statement().toString("base64"),
          signatures: [{ keyid: "", sig: "AAAA" }],
          ...e,
        }),
      );
    assert.equal(openEnvelope(envelope({}), "x").claim.type, "approval");
    assert.match(
      refusal(() => openEnvelope(envelope({ payloadType: "text/plain" }), "x")).message,
      /carries a text\/plain payload, not an in-toto statement/,
    );
    assert.match(refusal(() => openEnvelope(envelope({ signatures: [] }), "x")).message, /^is not signed$/);
    assert.match(
      refusal(() => openEnvelope(envelope({ signatures: [{ sig: "AAAA" }, { sig: "AAAB" }] }), "x")).message,
      /carries 2 signatures; each signer writes their own/,
    );
    assert.throws(
      () => openEnvelope(envelope({ extra: 1 }), "ref"),
      (e) => e instanceof InputError && /ref has an unknown field "extra"/.test(e.message),
    );
  });
});

/** The gate's checks for `commit`, opened afresh so refs written since are seen. */
async function gateChecks(
  f: ApprovalsFixture,
  rev: string,
  options: { now?: Date; from?: string; environment?: string } = {},
): Promise<Check[]> {
  const repo = await openRepo(f.repo.dir);
  try {
    const gate = await ApprovalGate.open(repo, await loadTrustPolicyFile(f.trust));
    return await gate.checks(options.environment ?? "prod", rev, options.from, options.now ?? new Date());
  } finally {
    repo.close();
  }
}
const messages = (checks: Check[], rule: string) =>
  checks
    .filter((c) => c.rule === rule)
    .map((c) => `${c.status} ${c.message}`)
    .join("\n");
const verdictOf = (checks: Check[], rule: string) => checks.find((c) => c.rule === rule)!;

function revisionOf(f: ApprovalsFixture, rev: string): Revision {
  return { commit: f.repo.git("rev-parse", rev), tree: f.repo.git("rev-parse", `${rev}^{tree}`) };
}
const gitDir = (f: ApprovalsFixture) => join(f.repo.dir, ".git");
const seconds = (d: Date) => new Date(Math.floor(d.getTime() / 1000) * 1000);

describe("approvals that do not count, and why", () => {
  it("names a tree other than the commit's, is dated in the future, is too old, or comes from someone not an approver", async (t) => {
    if (!requireTools(t, ["git", "ssh-keygen"])) return;
    const f = approvalsFixture(t);
    const c = f.repo.commit({ "envs/prod/a.yaml": "a: 1\n" }, f.alice);
    const revision = revisionOf(f, c);
    const now = seconds(new Date());
    const approval = (over: Partial<Extract<Claim, { type: "approval" }>>): Extract<Claim, { type: "approval" }> => ({
      type: "approval",
      revision,
      environment: "prod",
      kind: "deploy",
      approver: "x",
      at: now,
      ...over,
    });
    await writeApproval(gitDir(f), approval({ revision: { commit: c, tree: "c".repeat(40) } }), { ssh: f.bob.keyFile });
    await writeApproval(gitDir(f), approval({ at: new Date(now.getTime() + HOUR) }), { ssh: f.carol.keyFile });
    await writeApproval(gitDir(f), approval({}), { ssh: f.erin.keyFile });
    await writeApproval(gitDir(f), approval({ at: new Date(now.getTime() - 8 * 24 * HOUR) }), { ssh: f.dave.keyFile });
    const judged = await gateChecks(f, c, { now });
    assert.deepEqual(
      judged.filter((x) => x.rule === "approval").map((x) => x.code),
      ["approval-not-counted", "approval-not-counted", "approval-not-counted", "approval-not-counted"],
    );
    assert.equal(judged.find((x) => x.rule === "approvals")!.code, "approvals-missing");
    const seen = messages(judged, "approval");
    assert.match(
      seen,
      new RegExp(
        `warn not counted: bob's approval names tree cccccccccccc, but commit ${c.slice(0, 12)} has tree ${revision.tree.slice(0, 12)}`,
      ),
    );
    assert.match(seen, /warn not counted: is dated \S+, in the future; check the signer's clock/);
    assert.match(
      seen,
      /warn not counted: erin is not an approver for prod \(approvals\.from: group:platform \(.*vigil\.trust\.yaml:\d+ environments\[1\]\.approvals\)\)/,
    );
    assert.match(seen, /warn not counted: dave's approval of \S+ is older than the environment's maxAge 7d; approve again/);
  });

  it("refuses a signature made for git's namespace, and a deployment record stored where approvals go", async (t) => {
    if (!requireTools(t, ["git", "ssh-keygen"])) return;
    const f = approvalsFixture(t);
    const c = f.repo.commit({ a: "1" }, f.alice);
    const payload = encodeClaim({
      type: "approval",
      revision: revisionOf(f, c),
      environment: "prod",
      kind: "deploy",
      approver: "b",
      at: seconds(new Date()),
    });
    const sig = signDetached(preAuthEncoding(INTOTO_PAYLOAD_TYPE, payload), { ssh: f.bob.keyFile }, "git");
    await writeBlobRef(
      gitDir(f),
      `refs/vigil/approvals/${c}/git-namespace`,
      serializeEnvelope({ payloadType: INTOTO_PAYLOAD_TYPE, payload, signatures: [{ keyid: "", sig: Buffer.from(sig) }] }),
    );
    const record = await writeDeploymentRecord({
      gitDir: gitDir(f),
      environment: "staging",
      revision: revisionOf(f, c),
      key: f.staging.key,
      deployedAt: new Date(),
      healthyAt: new Date(),
    });
    f.repo.git("update-ref", `refs/vigil/approvals/${c}/record`, record.blob);
    const seen = messages(await gateChecks(f, c), "approval");
    assert.match(seen, /warn not counted: SSH signature is for namespace "git", not "vigil-approval"/);
    assert.match(seen, /warn not counted: is a deployment record, stored where approvals go/);
  });

  it("ignores a withdrawal for another environment or dated in the future; an approval made after a withdrawal counts", async (t) => {
    if (!requireTools(t, ["git", "ssh-keygen"])) return;
    const f = approvalsFixture(t);
    const c = f.repo.commit({ a: "1" }, f.alice);
    const revision = revisionOf(f, c);
    const now = seconds(new Date());
    const approve = (signer: typeof f.bob, when: Date) =>
      writeApproval(
        gitDir(f),
        { type: "approval", revision, environment: "prod", kind: "deploy", approver: "x", at: when },
        { ssh: signer.keyFile },
      );
    const withdraw = (signer: typeof f.bob, when: Date, environment = "prod") =>
      writeApproval(gitDir(f), { type: "withdrawal", revision, environment, approver: "x", at: when }, { ssh: signer.keyFile });
    await approve(f.bob, new Date(now.getTime() - 2 * HOUR));
    await withdraw(f.bob, new Date(now.getTime() - HOUR));
    await approve(f.bob, now);
    await approve(f.carol, now);
    await withdraw(f.carol, now, "staging");
    await withdraw(f.carol, new Date(now.getTime() + 2 * HOUR));
    const checks = await gateChecks(f, c, { now });
    const withdrawals = messages(checks, "withdrawal");
    assert.match(withdrawals, /warn ignored: is for environment staging, not prod/);
    assert.match(withdrawals, /warn ignored: is dated \S+, in the future/);
    assert.match(messages(checks, "approval"), /warn not counted: bob withdrew it at /);
    assert.match(verdictOf(checks, "approvals").message, /^2 of 2 required deploy approvals for prod \((bob, carol|carol, bob)\)$/);
  });

  it("asks nothing of an environment without rules, and a rollback there has nobody to approve it", async (t) => {
    if (!requireTools(t, ["git", "ssh-keygen"])) return;
    const f = approvalsFixture(t);
    const first = f.repo.commit({ a: "1" }, f.alice);
    const second = f.repo.commit({ a: "2" }, f.alice);
    const checks = await gateChecks(f, second, { environment: "staging" });
    assert.deepEqual(
      checks.map((c) => [c.rule, c.status]),
      [["approvals", "skip"]],
    );
    assert.match(checks[0]!.message, /asks no approvals and no promotion for staging$/);
    const out = vigil([
      "verify",
      "commits",
      "--repo",
      f.repo.dir,
      "--trust",
      f.trust,
      "--env",
      "staging",
      "--from",
      second,
      "--to",
      first,
      "--json",
    ]);
    assert.equal(out.status, 1);
    assert.match(
      out.json().checks.find((c: Check) => c.rule === "history").message,
      /environment staging has no approvals rule in .*vigil\.trust\.yaml, so nobody may approve a rollback$/,
    );
  });
});

describe("a policy in the repository that cannot be read", () => {
  it("blocks the approval gate at its revision, and a rollback from it", async (t) => {
    if (!requireTools(t, ["git", "ssh-keygen"])) return;
    const f = approvalsFixture(t);
    const first = f.repo.commit({ a: "1" }, f.alice);
    const broken = f.repo.commit({ ".vigil/trust.yaml": "apiVersion: nope\n" }, f.alice);
    const out = vigil([
      "verify",
      "commits",
      "--repo",
      f.repo.dir,
      "--trust",
      f.trust,
      "--env",
      "prod",
      "--from",
      broken,
      "--to",
      first,
      "--json",
    ]);
    assert.equal(out.status, 1);
    assert.match(
      out.json().checks.find((c: Check) => c.rule === "history").message,
      /needs signed rollback approvals: the trust policy at the last deployed revision is invalid: invalid trust policy/,
    );
    const [gate] = await gateChecks(f, broken);
    assert.equal(gate!.status, "fail");
    assert.match(gate!.message, new RegExp(`^the trust policy at ${broken.slice(0, 12)} is invalid: invalid trust policy`));
  });
});

describe("deployment records that do not count, and why", () => {
  it("refuses a record of another environment, an approval among records, and a record dated in the future", async (t) => {
    if (!requireTools(t, ["git", "ssh-keygen"])) return;
    const f = approvalsFixture(t);
    const c = f.repo.commit({ a: "1" }, f.alice);
    const revision = revisionOf(f, c);
    const now = seconds(new Date());
    const wrongEnv = await writeDeploymentRecord({
      gitDir: gitDir(f),
      environment: "prod",
      revision,
      key: f.staging.key,
      deployedAt: new Date(now.getTime() - HOUR),
      healthyAt: new Date(now.getTime() - HOUR),
    });
    f.repo.git("update-ref", `refs/vigil/deployments/staging/${revision.tree}/prod-record`, wrongEnv.blob);
    const approval = await writeApproval(
      gitDir(f),
      { type: "approval", revision, environment: "staging", kind: "deploy", approver: "x", at: now },
      { ssh: f.bob.keyFile },
    );
    f.repo.git("update-ref", `refs/vigil/deployments/staging/${revision.tree}/approval`, approval.blob);
    const future = new Date(now.getTime() + HOUR);
    const early = await writeDeploymentRecord({
      gitDir: gitDir(f),
      environment: "staging",
      revision,
      key: f.staging.key,
      deployedAt: future,
      healthyAt: future,
    });

    const checks = await gateChecks(f, c, { now });
    const records = new Map(checks.filter((x) => x.rule === "deployment-record").map((x) => [x.subject, `${x.status} ${x.message}`]));
    assert.match(
      records.get(`refs/vigil/deployments/staging/${revision.tree}/prod-record`)!,
      /warn not counted: records a deployment to prod, not staging/,
    );
    assert.match(
      records.get(`refs/vigil/deployments/staging/${revision.tree}/approval`)!,
      /warn not counted: is an approval, not a deployment record/,
    );
    assert.match(records.get(early.ref)!, /^pass /);
    assert.match(verdictOf(checks, "promotion").message, /has run healthy in staging since \S+: the 10m soak is not over until /);
    assert.equal(verdictOf(checks, "promotion").status, "fail");
  });
});

describe("the agent's step", () => {
  it("takes the agent's Candidate as it is, and gives the same checks as the gate", async (t) => {
    if (!requireTools(t, ["git", "ssh-keygen"])) return;
    // The agent wires the gate as { name: "approvals", gate: "approvals", run: approvalGate }.
    const step: (c: Candidate) => Promise<Check[]> = approvalGate;
    assert.equal(typeof step, "function");
    const f = approvalsFixture(t);
    const first = f.repo.commit({ a: "1" }, f.alice);
    const second = f.repo.commit({ a: "2" }, f.bob);
    assert.equal(
      vigil(["record", "deployment", "--repo", f.repo.dir, "--env", "staging", "--rev", second, "--key", f.staging.file], {
        env: { COSIGN_PASSWORD: "" },
      }).status,
      0,
    );
    for (const who of [f.carol, f.dave]) assert.equal(f.approve(who, second).status, 0);
    const repo = await openRepo(f.repo.dir);
    t.after(() => repo.close());
    const input: ApprovalGateInput = {
      repo,
      trust: await loadTrustPolicyFile(f.trust),
      env: { name: "prod" },
      commit: second,
      lastApplied: first,
    };
    const now = new Date(Date.now() + HOUR);
    const checks = await approvalGate({ ...input, now });
    assert.deepEqual(checks, await gateChecks(f, second, { from: first, now }));
    assert.ok(
      checks.every((c) => c.status === "pass"),
      JSON.stringify(checks),
    );
    // With the last deployed revision, only the range's authors are excluded: alice wrote only the first commit.
    assert.equal(f.approve(f.alice, second).status, 0);
    const withAlice = await approvalGate({ ...input, now });
    assert.match(messages(withAlice, "approval"), /pass counted: alice/);
    assert.match(
      messages(await approvalGate({ ...input, lastApplied: undefined, now }), "approval"),
      /warn not counted: alice authored commit/,
    );
    await assert.rejects(approvalGate({ ...input, commit: undefined }), /runs after the revision gate/);
  });
});

describe("approvers with OpenPGP and x509 (Sigstore identity) keys", () => {
  it("counts approvals signed through gpg and through a gitsign-style x509 program against the trusted root", (t) => {
    if (!requireTools(t, ["git", "ssh-keygen", "gpg", "openssl"])) return;
    const f = approvalsFixture(t);
    mkdirSync(join(f.root, "gnupg"), { mode: 0o700 });
    const gpg = new GpgHome(join(f.root, "gnupg"));
    const fpr = gpg.generate("Gina <gina@example.com>", "ed25519");
    const ca = new TestCa(f.root, "ca");
    const leaf = ca.leaf({ email: "xavier@example.com" });
    const program = cmsSignProgram(join(f.root, "cms-sign.sh"));
    const trustedRoot = join(f.root, "trusted_root.json");
    writeFileSync(trustedRoot, JSON.stringify(ca.trustedRootJson()));
    const trust = writePolicy(join(f.root, "mixed.yaml"), {
      signers: [
        f.alice.policyEntry,
        { name: "gina", openpgp: gpg.exportPublic(fpr) },
        { name: "xavier", sigstore: { identity: "xavier@example.com", issuer: TEST_ISSUER } },
      ],
      paths: [{ pattern: "**", owners: ["alice"] }],
      environments: [{ name: "prod", approvals: { required: 2, from: ["gina", "xavier"] } }],
    });
    const c = f.repo.commit({ a: "1" }, f.alice);
    const approve = (args: string[], env: NodeJS.ProcessEnv) =>
      vigil(["approve", "--repo", f.repo.dir, "--env", "prod", "--rev", c, ...args], { env });
    assert.equal(approve(["--gpg-key", fpr], { GNUPGHOME: gpg.dir }).status, 0);
    const x509 = approve(["--x509-program", program, "--json"], { VIGIL_X509_SIGNER: leaf });
    assert.equal(x509.status, 0, x509.stderr);
    assert.match(Buffer.from(x509.json().envelope.signatures[0].sig, "base64").toString(), /^-----BEGIN SIGNED MESSAGE-----/);

    const release = (...args: string[]) =>
      vigil(["verify", "release", "--repo", f.repo.dir, "--trust", trust, "--env", "prod", "--rev", c, "--json", ...args]);
    let out = release("--trusted-root", trustedRoot);
    assert.equal(out.status, 0, out.stdout + out.stderr);
    const counted = messages(out.json().checks, "approval");
    assert.match(counted, /pass counted: gina \(openpgp [0-9A-F]{40} \(eddsa/i);
    assert.match(counted, /pass counted: xavier \(x509 xavier@example\.com \(issuer https:\/\/issuer\.example\)/);
    out = release();
    assert.equal(out.status, 1);
    assert.match(messages(out.json().checks, "approval"), /warn not counted: .*--trusted-root/);
  });
});

describe("the trust policy's environments", () => {
  it("names each environment's agent key, and refuses a promotion nobody's records could prove", async () => {
    const base = "apiVersion: vigil.dev/v1alpha1\nkind: TrustPolicy\nenvironments:\n";
    const parse = (envs: string) => parseTrustPolicy(base + envs, "t.yaml", () => "");
    const ok = await parse("  - { name: staging, agent: { key: KEY } }\n  - { name: prod, promotion: { after: staging, soak: 1h } }\n");
    assert.equal(ok.doc.environments[0]!.agent!.key, "KEY");
    await assert.rejects(
      parse("  - { name: staging }\n  - { name: prod, promotion: { after: staging } }\n"),
      /t\.yaml:5 environments\[1\]\.promotion\.after: environment "staging" names no agent key \(agent: \{ key: … \}\) to verify its deployment records with/,
    );
    await assert.rejects(
      parse("  - { name: prod, agent: { key: K }, promotion: { after: prod } }\n"),
      /promotion\.after: an environment cannot be promoted from itself/,
    );
    await assert.rejects(parse("  - { name: staging, agent: { ssh: K } }\n"), /environments\[0\]\.agent\.ssh: unknown field "ssh"/);
    await assert.rejects(parse("  - { name: staging, agent: {} }\n"), /environments\[0\]\.agent\.key: is required/);
  });

  it("refuses an agent key that is no public key, naming where it is written", async (t) => {
    if (!requireTools(t, ["git", "ssh-keygen"])) return;
    const f = approvalsFixture(t);
    const c = f.repo.commit({ a: "1" }, f.alice);
    const trust = writePolicy(join(f.root, "bad-key.yaml"), {
      signers: [f.alice.policyEntry],
      paths: [{ pattern: "**", owners: ["alice"] }],
      environments: [
        { name: "staging", agent: { key: "not a key" } },
        { name: "prod", promotion: { after: "staging" } },
      ],
    });
    const out = vigil(["verify", "release", "--repo", f.repo.dir, "--trust", trust, "--env", "prod", "--rev", c]);
    assert.equal(out.status, 2);
    assert.match(out.stderr, /bad-key\.yaml:\d+ environments\[0\]\.agent\.key: not a PEM file with a single key block/);
  });
});

describe("claims are small", () => {
  it("refuses a blob under refs/vigil/ larger than a claim can be, unread, naming the object", async (t) => {
    if (!requireTools(t, ["git"])) return;
    const root = mkdtempSync(join(tmpdir(), "vigil-claim-cap-"));
    t.after(() => rmSync(root, { recursive: true, force: true }));
    execFileSync("git", ["init", "-q", "--bare", root]);
    const ref = "refs/vigil/approvals/0000000000000000000000000000000000000000/big";
    const id = await writeBlobRef(root, ref, Buffer.alloc(MAX_CLAIM_BYTES + 1, 0x41));
    const repo = await openRepo(root);
    t.after(() => repo.close());
    await assert.rejects(
      readStoredBytes(repo, { ref, id }),
      new RegExp(`blob ${id} is ${MAX_CLAIM_BYTES + 1} bytes, more than the ${MAX_CLAIM_BYTES} bytes`),
    );
    // The reader goes on: a claim-sized blob under the next ref is read.
    const small = await writeBlobRef(root, `${ref}2`, "{}");
    assert.equal((await readStoredBytes(repo, { ref: `${ref}2`, id: small })).toString(), "{}");
  });
});
