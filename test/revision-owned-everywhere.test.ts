// Issue 25: a commit whose signer owns every path, and whose root tree keeps the base's .vigil entry, is
// judged without listing its paths. The shortcut must change no verdict: the paths are still counted,
// the trees it brings still refused when fsck --strict would refuse them, a .vigil change still needs its
// admins, and a signer who does not own every path is still matched path by path.
import { strict as assert } from "node:assert";
import { join } from "node:path";
import { test } from "node:test";
import { TestRepo, SshSigner, rawTreeBytes, soleOwnerPolicy, writeLiteralObject, writePolicy } from "./helpers/git-fixture.ts";
import { run, requireTools, tempDir, vigil } from "./helpers/tools.ts";

interface CheckJson {
  rule: string;
  status: string;
  subject: string;
  message: string;
}

function setup(t: Parameters<typeof tempDir>[0]) {
  const dir = tempDir(t);
  const alice = new SshSigner(dir, "alice");
  const bob = new SshSigner(dir, "bob");
  const repo = new TestRepo(join(dir, "repo"));
  return { dir, alice, bob, repo };
}

const checksOf = (out: ReturnType<typeof vigil>) => out.json().checks as CheckJson[];

test("a signer who owns every path: its commits pass with their paths counted, as before", (t) => {
  if (!requireTools(t, ["git", "ssh-keygen"])) return;
  const { dir, alice, repo } = setup(t);
  repo.commit({ "envs/staging/a.yaml": "a: 1\n", "envs/staging/b.yaml": "b: 1\n" }, alice);
  const two = repo.commit({ "envs/staging/a.yaml": "a: 2\n", "envs/prod/c.yaml": "c: 1\n" }, alice);
  const none = repo.commit({}, alice);
  const policy = soleOwnerPolicy(join(dir, "trust.yaml"), alice, "staging");
  const out = vigil(["verify", "commits", "--repo", repo.dir, "--trust", policy, "--json"]);
  assert.equal(out.status, 0, out.stdout);
  const ownership = (id: string) => checksOf(out).find((c) => c.rule === "path-ownership" && c.subject === id)!.message;
  assert.equal(ownership(two), "2 path(s), all owned by alice");
  assert.equal(ownership(none), "changes no paths");
});

test("a signer who owns every path still cannot bring a tree git fsck --strict refuses (exit 1, naming the tree)", (t) => {
  if (!requireTools(t, ["git", "ssh-keygen"])) return;
  const { dir, alice, repo } = setup(t);
  repo.commit({ "envs/staging/a.yaml": "a: 1\n" }, alice);
  const blob = repo.git("rev-parse", "HEAD:envs/staging/a.yaml");
  const bad = writeLiteralObject(repo.dir, "tree", rawTreeBytes([{ mode: "100644", name: ".GIT", id: blob }]));
  const staging = writeLiteralObject(repo.dir, "tree", rawTreeBytes([{ mode: "40000", name: "staging", id: bad }]));
  const root = writeLiteralObject(repo.dir, "tree", rawTreeBytes([{ mode: "40000", name: "envs", id: staging }]));
  const commit = run("git", [...alice.gitConfig, "commit-tree", "-S", "-p", "HEAD", "-m", "OPS-1: sneak", root], { cwd: repo.dir }).trim();
  repo.git("update-ref", "refs/heads/main", commit);
  const policy = soleOwnerPolicy(join(dir, "trust.yaml"), alice, "staging");
  const out = vigil(["verify", "commits", "--repo", repo.dir, "--trust", policy, "--json"]);
  assert.equal(out.status, 1, out.stdout);
  const format = checksOf(out).find((c) => c.rule === "commit-format" && c.subject === commit);
  assert.ok(format, out.stdout);
  assert.match(format.message, new RegExp(`tree ${bad} is malformed: .*"\\.GIT" is \\.git`));
});

test("a signer who owns every path still needs the admins to change .vigil/", (t) => {
  if (!requireTools(t, ["git", "ssh-keygen"])) return;
  const { dir, alice, bob, repo } = setup(t);
  const policy = writePolicy(join(dir, "trust.yaml"), {
    signers: [alice.policyEntry, bob.policyEntry],
    paths: [{ pattern: "**", owners: ["alice"] }],
    admins: { members: ["alice", "bob"], threshold: 2 },
  });
  repo.commit({ "envs/staging/a.yaml": "a: 1\n" }, alice);
  const change = repo.commit({ ".vigil/notes.txt": "hello\n" }, alice);
  const out = vigil(["verify", "commits", "--repo", repo.dir, "--trust", policy, "--json"]);
  assert.equal(out.status, 1, out.stdout);
  const policyCheck = checksOf(out).find((c) => c.rule === "trust-policy-change" && c.subject === change);
  assert.match(policyCheck!.message, /1 of 2 required admin signatures \(alice\)/);
});

test("a signer who owns all but one subtree is matched path by path", (t) => {
  if (!requireTools(t, ["git", "ssh-keygen"])) return;
  const { dir, alice, bob, repo } = setup(t);
  const policy = writePolicy(join(dir, "trust.yaml"), {
    signers: [alice.policyEntry, bob.policyEntry],
    paths: [
      { pattern: "**", owners: ["alice", "bob"] },
      { pattern: "apps/payments/**", owners: ["bob"] },
    ],
  });
  repo.commit({ "envs/staging/a.yaml": "a: 1\n" }, alice);
  const mine = repo.commit({ "envs/staging/a.yaml": "a: 2\n" }, alice);
  const theirs = repo.commit({ "apps/payments/p.yaml": "p: 1\n" }, alice);
  const out = vigil(["verify", "commits", "--repo", repo.dir, "--trust", policy, "--json"]);
  assert.equal(out.status, 1, out.stdout);
  const ownership = (id: string) => checksOf(out).find((c) => c.rule === "path-ownership" && c.subject === id)!;
  assert.equal(ownership(mine).status, "pass");
  assert.equal(ownership(theirs).status, "fail");
  assert.match(ownership(theirs).message, /apps\/payments\/p\.yaml \(owned per "apps\/payments\/\*\*"\)/);
});
