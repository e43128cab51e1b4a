// Where trust comes from: git's allowed_signers file (options, validity windows, certificate
// authorities) and the trust policy kept in the repository, changed only by its admins.
import { strict as assert } from "node:assert";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { SshSigner, TestRepo, writePolicy, type Signer } from "./helpers/git-fixture.ts";
import { requireTools, run, tempDir, vigil } from "./helpers/tools.ts";

const verify = (repo: TestRepo, trust: string, ...args: string[]) =>
  vigil(["verify", "commits", "--repo", repo.dir, "--trust", trust, "--json", ...args]);
const failing = (out: ReturnType<typeof vigil>) => out.json().checks.filter((c: { status: string }) => c.status === "fail");
const T2023 = Date.UTC(2023, 5, 1) / 1000;
/** An allowed_signers date (YYYYMMDD) `days` from today. */
const sshDate = (days: number) => new Date(Date.now() + days * 86400_000).toISOString().slice(0, 10).replaceAll("-", "");

describe("allowed_signers file", () => {
  function setup(t: import("node:test").TestContext, lines: (alice: SshSigner) => string) {
    const root = tempDir(t);
    const alice = new SshSigner(root, "alice");
    writeFileSync(join(root, "allowed_signers"), lines(alice) + "\n");
    const trust = writePolicy(join(root, "trust.yaml"), {
      allowedSigners: "allowed_signers",
      paths: [{ pattern: "**", owners: ["alice@example.com"] }],
    });
    return { root, alice, trust, repo: new TestRepo(join(root, "repo")) };
  }

  it("accepts a key by principal and refuses it outside namespaces= and the validity window, judged now and not at the committer date", (t) => {
    if (!requireTools(t, ["git", "ssh-keygen"])) return;
    const { alice, trust, repo } = setup(
      t,
      (a) => `alice@example.com valid-after="${sshDate(-365)}",valid-before="${sshDate(365)}Z" ${a.publicKey}`,
    );
    repo.commit({ a: "1" }, alice, "m", { time: T2023 });
    let out = verify(repo, trust);
    assert.equal(out.status, 0, out.stdout);
    assert.match(out.json().checks[0].message, /signed by alice@example\.com/);

    // The committer date is the signer's to write: a key past its valid-before cannot backdate into it.
    const expired = setup(t, (a) => `alice@example.com valid-after="20230101",valid-before="20231231Z" ${a.publicKey}`);
    expired.repo.commit({ b: "1" }, expired.alice, "m", { time: T2023 });
    out = verify(expired.repo, expired.trust);
    assert.equal(out.status, 1);
    assert.match(failing(out)[0].message, /after the key's valid-before/);

    const early = setup(t, (a) => `alice@example.com valid-after="${sshDate(30)}Z" ${a.publicKey}`);
    early.repo.commit({ a: "1" }, early.alice, "m", { time: Math.floor(Date.now() / 1000) + 60 * 86400 });
    out = verify(early.repo, early.trust);
    assert.equal(out.status, 1);
    assert.match(failing(out)[0].message, /before the key's valid-after/);

    const ns = setup(t, (a) => `alice@example.com namespaces="file" ${a.publicKey}`);
    ns.repo.commit({ a: "1" }, ns.alice);
    out = verify(ns.repo, ns.trust);
    assert.equal(out.status, 1);
    assert.match(failing(out)[0].message, /not allowed to sign namespace "git"/);
  });

  it("accepts a user certificate from a cert-authority line and refuses a wrong principal or an expired certificate", (t) => {
    if (!requireTools(t, ["git", "ssh-keygen"])) return;
    const root = tempDir(t);
    const ca = new SshSigner(root, "ca");
    const alice = new SshSigner(root, "alice");
    const certify = (principal: string, validity: string) => {
      run("ssh-keygen", ["-q", "-s", ca.keyFile, "-I", `cert-${principal}`, "-n", principal, "-V", validity, alice.keyFile + ".pub"]);
      const signer: Signer = {
        name: alice.name,
        email: alice.email,
        policyEntry: {},
        gitConfig: ["-c", "gpg.format=ssh", "-c", `user.signingkey=${alice.keyFile}-cert.pub`],
      };
      return signer;
    };
    writeFileSync(join(root, "allowed_signers"), `*@example.com cert-authority ${ca.publicKey}\n`);
    const trust = writePolicy(join(root, "trust.yaml"), {
      allowedSigners: "allowed_signers",
      paths: [{ pattern: "**", owners: ["alice@example.com"] }],
    });
    const repo = new TestRepo(join(root, "repo"));

    repo.commit({ a: "1" }, certify("alice@example.com", "-1w:+1w"), "m", { time: T2023 });
    let out = verify(repo, trust);
    assert.equal(out.status, 0, out.stdout);
    assert.match(out.json().checks[0].message, /signed by alice@example\.com \(ssh-ed25519 SHA256:/);

    repo.commit({ b: "1" }, certify("alice@evil.test", "-1w:+1w"), "m", { time: T2023 + 60 });
    out = verify(repo, trust);
    assert.equal(out.status, 1);
    assert.match(failing(out)[0].message, /certificate principals \(alice@evil\.test\) match none/);

    repo.git("reset", "-q", "--hard", "HEAD~1");
    repo.commit({ c: "1" }, certify("alice@example.com", "20200101:20210101"), "m", { time: T2023 + 120 });
    out = verify(repo, trust);
    assert.equal(out.status, 1);
    assert.match(failing(out)[0].message, /is not valid at 20\d\d-/, "expired at the time of verification, whatever the commit's date");

    // A certificate's key is not trusted as a plain key, nor is the CA's key trusted to sign directly.
    repo.git("reset", "-q", "--hard", "HEAD~1");
    repo.commit({ d: "1" }, ca, "m", { time: T2023 + 180 });
    out = verify(repo, trust);
    assert.equal(out.status, 1);
    assert.match(failing(out)[0].message, /untrusted key/);
  });
});

describe("trust policy kept in the repository", () => {
  function setup(t: import("node:test").TestContext) {
    const root = tempDir(t);
    const [alice, bob, carol, mallory] = ["alice", "bob", "carol", "mallory"].map((n) => new SshSigner(root, n)) as [
      SshSigner,
      SshSigner,
      SshSigner,
      SshSigner,
    ];
    const doc = (signers: SshSigner[]) => ({
      signers: signers.map((s) => s.policyEntry),
      admins: { members: ["alice", "bob", "carol"].filter((n) => signers.some((s) => s.name === n)), threshold: 2 },
      paths: [{ pattern: "**", owners: signers.map((s) => s.name) }],
    });
    const trust = writePolicy(join(root, "root.yaml"), doc([alice, bob, carol]));
    const repo = new TestRepo(join(root, "repo"));
    repo.commit({ "app.yaml": "a" }, alice);
    const inRepo = (signers: SshSigner[]) => {
      writePolicy(join(repo.dir, ".vigil/trust.yaml"), doc(signers));
      repo.git("add", "-A");
    };
    return { root, trust, repo, alice, bob, carol, mallory, inRepo };
  }

  it("needs admins.threshold admins of the policy before it, counting co-signatures made with vigil cosign", (t) => {
    if (!requireTools(t, ["git", "ssh-keygen"])) return;
    const { trust, repo, alice, bob, mallory, inRepo } = setup(t);
    inRepo([alice, bob, mallory]);
    const change = repo.commitStaged(alice, "add mallory");
    let out = verify(repo, trust);
    assert.equal(out.status, 1);
    const [f] = failing(out);
    assert.equal(f.rule, "trust-policy-change");
    assert.equal(f.subject, change);
    assert.match(f.message, /with 1 of 2 required admin signatures \(alice\)/);

    // A co-signature by someone who is not an admin is not counted, and says why.
    const mal = vigil(["cosign", "--repo", repo.dir, "--rev", change, "--key", mallory.keyFile]);
    assert.equal(mal.status, 0, mal.stderr);
    out = verify(repo, trust);
    assert.equal(out.status, 1);
    assert.match(failing(out)[0].message, /not counted: refs\/vigil\/cosign\/.*untrusted key/);

    const co = vigil(["cosign", "--repo", repo.dir, "--rev", change, "--key", bob.keyFile]);
    assert.equal(co.status, 0, co.stderr);
    assert.match(co.stdout, /refs\/vigil\/cosign\//);
    out = verify(repo, trust);
    assert.equal(out.status, 0, out.stdout);
    assert.match(
      out.json().checks.find((c: { rule: string }) => c.rule === "trust-policy-change").message,
      /2 of 2 required admins \(alice, bob\)/,
    );

    // From here on the repository's policy is in force: mallory may now commit.
    repo.commit({ x: "1" }, mallory);
    assert.equal(verify(repo, trust).status, 0);
  });

  it("does not count one admin twice, and a co-signature of another commit does not transfer", (t) => {
    if (!requireTools(t, ["git", "ssh-keygen"])) return;
    const { trust, repo, alice, bob, mallory, inRepo } = setup(t);
    inRepo([alice, bob, mallory]);
    const change = repo.commitStaged(alice, "add mallory");
    assert.equal(vigil(["cosign", "--repo", repo.dir, "--rev", change, "--key", alice.keyFile]).status, 0);
    let out = verify(repo, trust);
    assert.match(failing(out)[0].message, /1 of 2 required admin signatures \(alice\)/);

    // Bob co-signs an earlier commit; the signature is copied under the change's ref namespace.
    const other = vigil(["cosign", "--repo", repo.dir, "--rev", "HEAD~1", "--key", bob.keyFile, "--json"]);
    const { signature } = JSON.parse(other.stdout);
    repo.git("update-ref", `refs/vigil/cosign/${change}/copied`, signature);
    out = verify(repo, trust);
    assert.equal(out.status, 1);
    assert.match(failing(out)[0].message, /copied: .*does not match the signed content/);
  });

  it("blocks an invalid new policy, and a policy change when the old policy names no admins", (t) => {
    if (!requireTools(t, ["git", "ssh-keygen"])) return;
    const { root, trust, repo, alice, bob } = setup(t);
    const bad = repo.commit(
      { ".vigil/trust.yaml": "apiVersion: vigil.dev/v1alpha1\nkind: TrustPolicy\nsignerz: []\n" },
      alice,
      "broken policy",
    );
    vigil(["cosign", "--repo", repo.dir, "--rev", bad, "--key", bob.keyFile]);
    let out = verify(repo, trust);
    assert.equal(out.status, 1);
    assert.match(
      failing(out)
        .map((c: { message: string }) => c.message)
        .join("\n"),
      /new trust policy is invalid: .*trust\.yaml@[0-9a-f]+:3 signerz: unknown field "signerz"/s,
    );

    const noAdmins = writePolicy(join(root, "no-admins.yaml"), {
      signers: [alice.policyEntry],
      paths: [{ pattern: "**", owners: ["alice"] }],
    });
    const r2 = new TestRepo(join(root, "r2"));
    r2.commit({ ".vigil/trust.yaml": readFileSync(noAdmins, "utf8") }, alice);
    out = verify(r2, noAdmins);
    assert.equal(out.status, 1);
    assert.match(failing(out)[0].message, /names no admins who may change it/);
  });
});
