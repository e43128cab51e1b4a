// Merges are judged by what they change on the line back to the deployed revision, and every commit by
// the policy in force where it enters that line (issue 14 §2, §3): real repositories signed through git
// with real ssh-keygen keys; merges made by git itself, or written with git commit-tree where an attacker
// would choose the tree.
import { strict as assert } from "node:assert";
import { join } from "node:path";
import { describe, it, type TestContext } from "node:test";
import { rawTreeBytes, SshSigner, TestRepo, writeLiteralObject, writePolicy, type Signer } from "./helpers/git-fixture.ts";
import { requireTools, run, tempDir, vigil } from "./helpers/tools.ts";

type Out = ReturnType<typeof vigil>;
interface CheckJson {
  rule: string;
  status: string;
  subject: string;
  message: string;
}
const verify = (repo: TestRepo, trust: string, ...args: string[]) =>
  vigil(["verify", "commits", "--repo", repo.dir, "--trust", trust, "--json", ...args]);
const failing = (out: Out): CheckJson[] => out.json().checks.filter((c: CheckJson) => c.status === "fail");

/** git with standard input: objects written as an attacker writes them. */
const gitWith = (cwd: string, args: string[], input: string) => run("git", args, { cwd, input }).trim();

/** A commit with the tree and parents the signer chooses, as an attacker writes one. */
function commitTree(repo: TestRepo, signer: Signer, tree: string, parents: string[], message: string): string {
  return repo.git(
    ...signer.gitConfig,
    "-c",
    `user.name=${signer.name}`,
    "-c",
    `user.email=${signer.email}`,
    "commit-tree",
    tree,
    ...parents.flatMap((p) => ["-p", p]),
    "-S",
    "-m",
    message,
  );
}

/** A merge made by git, signed by `signer` (a forge's merge button, or a person). */
function merge(repo: TestRepo, signer: Signer, ...args: string[]): string {
  repo.git(
    ...signer.gitConfig,
    "-c",
    `user.name=${signer.name}`,
    "-c",
    `user.email=${signer.email}`,
    "merge",
    "-q",
    "-S",
    "--no-edit",
    ...args,
  );
  return repo.git("rev-parse", "HEAD");
}

function people(t: TestContext) {
  const root = tempDir(t);
  const alice = new SshSigner(root, "alice");
  const bob = new SshSigner(root, "bob");
  const mallory = new SshSigner(root, "mallory");
  const forge = new SshSigner(root, "forge");
  return { root, alice, bob, mallory, forge };
}

/** bob owns apps/bob/**, alice everything else; the forge key signs merges only. */
function ownershipSetup(t: TestContext) {
  const p = people(t);
  const trust = writePolicy(join(p.root, "trust.yaml"), {
    signers: [p.alice.policyEntry, p.bob.policyEntry, { ...p.forge.policyEntry, mergesOnly: true }],
    paths: [
      { pattern: "apps/bob/**", owners: ["bob"] },
      { pattern: "**", owners: ["alice"] },
    ],
  });
  const repo = new TestRepo(join(p.root, "repo"));
  repo.commit({ "apps/bob/x": "v1" }, p.bob, "bob's first version");
  const base = repo.commit({ "apps/alice/y": "1" }, p.alice, "alice's file");
  const bobsChange = repo.commit({ "apps/bob/x": "v2" }, p.bob, "bob's change");
  return { ...p, trust, repo, base, bobsChange };
}

describe("merges are judged by what they change", () => {
  it("refuses a merge that takes an owned path back to an older version through an old ancestor as a parent", (t) => {
    if (!requireTools(t, ["git", "ssh-keygen"])) return;
    const { alice, forge, trust, repo, base, bobsChange } = ownershipSetup(t);
    const oldTree = repo.git("rev-parse", `${base}^{tree}`);
    for (const signer of [alice, forge]) {
      const undo = commitTree(repo, signer, oldTree, [bobsChange, base], "Merge branch 'cleanup'");
      repo.git("update-ref", "refs/heads/main", undo);
      for (const out of [verify(repo, trust), verify(repo, trust, "--from", bobsChange)]) {
        assert.equal(out.status, 1, out.stdout);
        const [f] = failing(out);
        assert.equal(f!.rule, "path-ownership");
        assert.equal(f!.subject, undo);
        assert.match(
          f!.message,
          new RegExp(
            `signed by ${signer.name} \\(a merge: what it takes from no merged commit\\) changes paths ${signer.name} does not own: apps/bob/x`,
          ),
        );
      }
    }
  });

  it("refuses `git merge -s ours` made on an older branch and fast-forwarded, which drops a deployed change", (t) => {
    if (!requireTools(t, ["git", "ssh-keygen"])) return;
    const { alice, trust, repo, base, bobsChange } = ownershipSetup(t);
    repo.git("checkout", "-q", "-b", "side", base);
    repo.commit({ "apps/alice/y": "2" }, alice, "alice's side change");
    const ours = merge(repo, alice, "-s", "ours", "main");
    repo.git("checkout", "-q", "main");
    repo.git("merge", "-q", "--ff-only", "side");
    assert.equal(repo.git("show", "HEAD:apps/bob/x"), "v1", "the merge did drop bob's change");

    const out = verify(repo, trust, "--from", bobsChange);
    assert.equal(out.status, 1, out.stdout);
    const [f] = failing(out);
    assert.equal(f!.subject, ours);
    assert.match(f!.message, /changes paths alice does not own: apps\/bob\/x/);
  });

  it("refuses an octopus merge that picks an old version from one of its parents", (t) => {
    if (!requireTools(t, ["git", "ssh-keygen"])) return;
    const { alice, forge, trust, repo, base, bobsChange } = ownershipSetup(t);
    repo.git("checkout", "-q", "-b", "side", base);
    const side = repo.commit({ "apps/alice/z": "1" }, alice, "alice's side file");
    repo.git("checkout", "-q", "main");
    // The result: the side's new file, but bob's file as it was before his change.
    repo.git("checkout", "-q", side, "--", "apps/alice/z");
    repo.git("checkout", "-q", base, "--", "apps/bob/x");
    const tree = repo.git("write-tree");
    const octopus = commitTree(repo, forge, tree, [bobsChange, side, base], "Merge branches");
    repo.git("update-ref", "refs/heads/main", octopus);
    repo.git("reset", "-q", "--hard", octopus);
    const out = verify(repo, trust, "--from", bobsChange);
    assert.equal(out.status, 1, out.stdout);
    const [f] = failing(out);
    assert.equal(f!.subject, octopus);
    assert.match(f!.message, /forge .*does not own: apps\/bob\/x/);
    assert.doesNotMatch(f!.message, /apps\/alice\/z/, "what the merged commit changed is explained");
  });

  it("passes ordinary merges signed by the forge key, and criss-cross merges, with and without a deployed revision", (t) => {
    if (!requireTools(t, ["git", "ssh-keygen"])) return;
    const { alice, bob, forge, trust, repo, base, bobsChange } = ownershipSetup(t);
    repo.git("checkout", "-q", "-b", "side", base);
    repo.commit({ "apps/alice/y": "2" }, alice, "alice on the side");
    repo.git("checkout", "-q", "main");
    const later = repo.commit({ "apps/bob/x": "v3" }, bob, "bob again");
    const m1 = merge(repo, forge, "--no-ff", "side");
    // Criss-cross: main is merged into the side, both move on, and the side comes back.
    repo.git("checkout", "-q", "side");
    merge(repo, forge, "--no-ff", later);
    repo.commit({ "apps/alice/w": "1" }, alice, "alice again on the side");
    repo.git("checkout", "-q", "main");
    repo.commit({ "apps/bob/v": "1" }, bob, "bob's new file");
    merge(repo, forge, "--no-ff", "side");

    for (const from of [[], ["--from", bobsChange], ["--from", m1]]) {
      const out = verify(repo, trust, ...from);
      assert.equal(out.status, 0, `${from.join(" ")}\n${out.stdout}`);
    }
    const merges = verify(repo, trust)
      .json()
      .checks.filter((c: CheckJson) => c.rule === "path-ownership" && /^merge/.test(c.message));
    assert.ok(merges.length >= 3);
    assert.ok(
      merges.every((c: CheckJson) => /as the merged commits changed them|changes nothing/.test(c.message)),
      JSON.stringify(merges),
    );
  });

  it("refuses a merge under a merges-only key that resolves a conflict, and one by a person who does not own the resolution", (t) => {
    if (!requireTools(t, ["git", "ssh-keygen"])) return;
    const { alice, bob, forge, trust, repo, base } = ownershipSetup(t);
    repo.git("checkout", "-q", "-b", "side", base);
    repo.commit({ "apps/bob/x": "side version" }, bob, "bob on the side");
    repo.git("checkout", "-q", "main");
    for (const signer of [forge, alice]) {
      repo.git("reset", "-q", "--hard", "main");
      const r = repo.git("merge", "--no-commit", "-q", "side", "-X", "ours");
      void r;
      repo.commit({ "apps/bob/x": "resolved by hand" }, null, "merge side");
      const resolved = commitTree(
        repo,
        signer,
        repo.git("rev-parse", "HEAD^{tree}"),
        [repo.git("rev-parse", "HEAD^1"), repo.git("rev-parse", "HEAD^2")],
        "Merge side",
      );
      repo.git("reset", "-q", "--hard", "HEAD^1");
      repo.git("update-ref", "refs/heads/main", resolved);
      const out = verify(repo, trust);
      assert.equal(out.status, 1, out.stdout);
      assert.match(failing(out)[0]!.message, new RegExp(`${signer.name} does not own: apps/bob/x`));
      repo.git("update-ref", "refs/heads/main", repo.git("rev-parse", `${resolved}^1`));
    }
  });
});

/** A root policy whose admins (alice, bob; threshold 2) may change .vigil/, with mallory owning apps/m. */
function policySetup(t: TestContext) {
  const p = people(t);
  const doc = (signers: SshSigner[], extra: Record<string, unknown> = {}) => ({
    signers: [...signers.map((s) => s.policyEntry), { ...p.forge.policyEntry, mergesOnly: true }],
    admins: { members: ["alice", "bob"], threshold: 2 },
    paths: [
      ...(signers.includes(p.mallory) ? [{ pattern: "apps/m/**", owners: ["mallory"] }] : []),
      { pattern: "**", owners: ["alice", "bob"] },
    ],
    ...extra,
  });
  const trust = writePolicy(join(p.root, "root.yaml"), doc([p.alice, p.bob, p.mallory]));
  const repo = new TestRepo(join(p.root, "repo"));
  const cosign = (rev: string, signer: SshSigner) =>
    assert.equal(vigil(["cosign", "--repo", repo.dir, "--rev", rev, "--key", signer.keyFile]).status, 0);
  /** Writes .vigil/trust.yaml as alice and has bob co-sign it: a policy change with the threshold. */
  const changePolicy = (policy: Record<string, unknown>, message: string) => {
    writePolicy(join(repo.dir, ".vigil/trust.yaml"), policy);
    repo.git("add", "-A");
    const id = repo.commitStaged(p.alice, message);
    cosign(id, p.bob);
    return id;
  };
  return { ...p, trust, repo, doc, cosign, changePolicy };
}

describe("trust only moves forward", () => {
  it("judges a side branch's commits by the policy where the merge brings them in: a removed signer's work is refused", (t) => {
    if (!requireTools(t, ["git", "ssh-keygen"])) return;
    const { alice, bob, mallory, forge, trust, repo, doc, changePolicy } = policySetup(t);
    changePolicy(doc([alice, bob, mallory]), "policy in the repository");
    const branchPoint = repo.commit({ "apps/a": "1" }, alice);
    repo.git("checkout", "-q", "-b", "mallory", branchPoint);
    const late = repo.commit({ "apps/m/z": "1" }, mallory, "mallory's change");
    repo.git("checkout", "-q", "main");

    // Merged while mallory is still trusted: passes.
    repo.git("checkout", "-q", "-b", "early", "main");
    merge(repo, forge, "--no-ff", "mallory");
    assert.equal(verify(repo, trust, "--to", "early").status, 0);

    // Merged after the admins removed mallory: her commit enters under the new policy and is refused.
    repo.git("checkout", "-q", "main");
    changePolicy(doc([alice, bob]), "remove mallory");
    const m = merge(repo, forge, "--no-ff", "mallory");
    const out = verify(repo, trust);
    assert.equal(out.status, 1, out.stdout);
    const [f] = failing(out);
    assert.equal(f!.subject, late);
    assert.equal(f!.rule, "commit-signature");
    assert.match(f!.message, /untrusted key/);
    assert.ok(failing(out).every((c) => c.subject !== m || c.rule !== "trust-policy-change"));
  });

  it("refuses a merge that brings back an older .vigil/trust.yaml without the admin threshold", (t) => {
    if (!requireTools(t, ["git", "ssh-keygen"])) return;
    const { alice, bob, mallory, trust, repo, doc, changePolicy, cosign } = policySetup(t);
    const p1 = changePolicy(doc([alice, bob, mallory]), "policy with mallory");
    repo.git("branch", "old", p1);
    changePolicy(doc([alice, bob]), "remove mallory");
    repo.git("checkout", "-q", "old");
    repo.commit({ "apps/b": "1" }, alice, "on the old branch");
    repo.git("checkout", "-q", "main");
    // alice merges the old branch taking its policy back: one admin of two.
    repo.git("merge", "-q", "--no-commit", "-s", "ours", "old");
    repo.git("checkout", "old", "--", ".vigil/trust.yaml", "apps/b");
    const back = repo.commitStaged(alice, "merge old");
    let out = verify(repo, trust);
    assert.equal(out.status, 1, out.stdout);
    const f = failing(out).find((c) => c.rule === "trust-policy-change");
    assert.equal(f?.subject, back);
    assert.match(f!.message, /1 of 2 required admin signatures/);
    // With bob's co-signature the admins agreed: it passes.
    cosign(back, bob);
    out = verify(repo, trust);
    assert.equal(out.status, 0, out.stdout);
  });

  it("applies the repository policy's commit message rule and branch for an environment", (t) => {
    if (!requireTools(t, ["git", "ssh-keygen"])) return;
    const { alice, bob, trust: _root, repo, doc, changePolicy, root } = policySetup(t);
    const env = (rule: string, branch: string) => ({
      environments: [{ name: "staging", branch, path: "envs/staging", commitMessage: rule }],
    });
    const trust = writePolicy(join(root, "root-env.yaml"), doc([alice, bob], env("^TICKET-[0-9]+: ", "main")));
    changePolicy(doc([alice, bob], env("^OPS-[0-9]+: ", "main")), "TICKET-1: the repository's rules");
    repo.commit({ "envs/staging/a": "1" }, alice, "TICKET-2: the root's rule no longer applies");
    let out = verify(repo, trust, "--env", "staging");
    assert.equal(out.status, 1, out.stdout);
    assert.match(failing(out)[0]!.message, /does not match \^OPS-\[0-9\]\+: /);
    repo.git("commit", "-q", "--amend", "--no-gpg-sign", "-m", "OPS-2: reworded");
    repo.git(...alice.gitConfig, "commit", "-q", "--amend", "-S", "--no-edit");
    assert.equal(verify(repo, trust, "--env", "staging").status, 0);

    // The repository's policy moves staging to another branch: main is no longer staging's.
    changePolicy(doc([alice, bob], env("^OPS-[0-9]+: ", "release")), "OPS-3: staging deploys from release");
    out = verify(repo, trust, "--env", "staging", "--to", "main");
    assert.equal(out.status, 1, out.stdout);
    const f = failing(out).find((c) => c.rule === "branch");
    assert.match(f!.message, /is not on refs\/heads\/release, the branch \.vigil\/trust\.yaml@[0-9a-f]+ gives staging \(no such branch\)/);
    repo.git("branch", "release", "main");
    assert.equal(verify(repo, trust, "--env", "staging", "--to", "release").status, 0);
  });

  it("resolves the environment's branch as refs/heads only: a tag named like it does not stand in", (t) => {
    if (!requireTools(t, ["git", "ssh-keygen"])) return;
    const { alice, bob, repo, doc, root } = policySetup(t);
    const trust = writePolicy(join(root, "root-env.yaml"), doc([alice, bob], { environments: [{ name: "staging", branch: "main" }] }));
    const good = repo.commit({ a: "1" }, alice);
    repo.git("checkout", "-q", "-b", "other");
    const elsewhere = repo.commit({ a: "2" }, alice);
    repo.git("checkout", "-q", "main");
    repo.git("tag", "main", elsewhere);
    const out = verify(repo, trust, "--env", "staging");
    assert.equal(out.status, 0, out.stdout);
    assert.equal(out.json().subject.revision, good);
    const off = verify(repo, trust, "--env", "staging", "--to", elsewhere);
    assert.equal(off.status, 1);
    assert.match(failing(off).find((c) => c.rule === "branch")!.message, /is not on refs\/heads\/main/);
  });
});

describe(".vigil is a plain directory", () => {
  it("refuses a gitlink .vigil pointing at a tree that holds a policy, and a symbolic link inside .vigil", (t) => {
    if (!requireTools(t, ["git", "ssh-keygen"])) return;
    const { alice, mallory, repo, doc, trust, root } = policySetup(t);
    repo.commit({ "apps/a": "1" }, alice);
    // A tree holding a policy that lets mallory own everything, written as objects only.
    const evil = writePolicy(join(root, "evil.yaml"), { ...doc([alice, mallory]), paths: [{ pattern: "**", owners: ["mallory"] }] });
    const blob = gitWith(repo.dir, ["hash-object", "-w", evil], "");
    const policyTree = gitWith(repo.dir, ["mktree"], `100644 blob ${blob}\ttrust.yaml\n`);
    // The root tree as git sorts it: ".vigil" comes before "apps".
    const entries = repo
      .git("ls-tree", "HEAD")
      .split("\n")
      .filter(Boolean)
      .map((l) => {
        const [meta, name] = l.split("\t");
        const [mode, , id] = meta!.split(" ");
        return { mode: mode === "040000" ? "40000" : mode!, name: name!, id: id! };
      });
    const tree = writeLiteralObject(repo.dir, "tree", rawTreeBytes([{ mode: "160000", name: ".vigil", id: policyTree }, ...entries]));
    const install = commitTree(repo, alice, tree, [repo.git("rev-parse", "HEAD")], "add a submodule");
    repo.git("update-ref", "refs/heads/main", install);
    repo.git("reset", "-q", "--hard");
    repo.commit({ "apps/b": "1" }, mallory, "mallory, trusted by the gitlink's policy?");
    let out = verify(repo, trust);
    assert.equal(out.status, 1, out.stdout);
    const messages = failing(out)
      .map((c) => `${c.rule}: ${c.message}`)
      .join("\n");
    assert.match(messages, /trust-policy-change: .*\.vigil is a submodule \(gitlink\)/);
    assert.match(messages, /\.vigil is a submodule \(gitlink\); \.vigil must be a directory of regular files/);

    // A symbolic link at .vigil/trust.yaml, even to a file in the repository.
    const r2 = new TestRepo(join(root, "r2"));
    r2.commit({ "policy.yaml": JSON.stringify(doc([alice])) }, alice);
    const linkBlob = gitWith(r2.dir, ["hash-object", "-w", "--stdin"], "../policy.yaml");
    const vigilTree = gitWith(r2.dir, ["mktree"], `120000 blob ${linkBlob}\ttrust.yaml\n`);
    const rootLines = r2.git("ls-tree", "HEAD").split("\n").filter(Boolean);
    const tree2 = gitWith(r2.dir, ["mktree"], [...rootLines, `040000 tree ${vigilTree}\t.vigil`].join("\n") + "\n");
    r2.git("update-ref", "refs/heads/main", commitTree(r2, alice, tree2, [r2.git("rev-parse", "HEAD")], "a link"));
    out = verify(r2, trust);
    assert.equal(out.status, 1, out.stdout);
    assert.match(
      failing(out)
        .map((c) => c.message)
        .join("\n"),
      /\.vigil\/trust\.yaml is a symbolic link/,
    );
  });
});
