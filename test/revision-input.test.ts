// Bad input gets a clear error, the right exit code, and never a pass.
import { strict as assert } from "node:assert";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { SshSigner, TestRepo, writePolicy } from "./helpers/git-fixture.ts";
import { requireTools, run, tempDir, vigil } from "./helpers/tools.ts";

function setup(t: import("node:test").TestContext) {
  const root = tempDir(t);
  const alice = new SshSigner(root, "alice");
  const trust = writePolicy(join(root, "trust.yaml"), { signers: [alice.policyEntry], paths: [{ pattern: "**", owners: ["alice"] }] });
  const repo = new TestRepo(join(root, "repo"));
  repo.commit({ a: "1" }, alice);
  return { root, alice, trust, repo };
}

const verify = (args: string[]) => vigil(["verify", "commits", ...args]);

describe("bad input", () => {
  it("names a path that is not a repository, and one that does not exist (exit 2)", (t) => {
    if (!requireTools(t, ["git", "ssh-keygen"])) return;
    const { root, trust } = setup(t);
    let out = verify(["--repo", root, "--trust", trust]);
    assert.equal(out.status, 2);
    assert.match(out.stderr, /not a git repository/);
    out = verify(["--repo", join(root, "nope"), "--trust", trust]);
    assert.equal(out.status, 2);
    assert.match(out.stderr, /nope: no such directory/);
    assert.equal(out.stdout, "", "nothing printed as a verdict");
  });

  it("names a revision that does not exist (exit 2)", (t) => {
    if (!requireTools(t, ["git", "ssh-keygen"])) return;
    const { repo, trust } = setup(t);
    const out = verify(["--repo", repo.dir, "--trust", trust, "--to", "no-such-branch"]);
    assert.equal(out.status, 2);
    assert.match(out.stderr, /revision "no-such-branch" does not exist/);
    const from = verify(["--repo", repo.dir, "--trust", trust, "--from", "0".repeat(40)]);
    assert.equal(from.status, 2);
  });

  it("reports an unreachable remote as an unavailable dependency (exit 3), and fetches a reachable one read-only", (t) => {
    if (!requireTools(t, ["git", "ssh-keygen"])) return;
    const { root, repo, trust } = setup(t);
    const cache = join(root, "cache");
    const env = { XDG_CACHE_HOME: cache };
    let out = vigil(["verify", "commits", "--repo", "http://127.0.0.1:9/config.git", "--trust", trust], { env });
    assert.equal(out.status, 3, out.stderr);
    assert.match(out.stderr, /cannot fetch http:\/\/127\.0\.0\.1:9\/config\.git/);
    out = vigil(["verify", "commits", "--repo", "https://user:s3cret@127.0.0.1:9/c.git", "--trust", trust], { env });
    assert.equal(out.status, 3);
    assert.doesNotMatch(out.stderr, /s3cret/, "credentials are never printed");
    out = vigil(["verify", "commits", "--repo", `file://${repo.dir}`, "--trust", trust, "--json"], { env });
    assert.equal(out.status, 0, out.stderr);
    assert.equal(out.json().subject.revision, repo.git("rev-parse", "HEAD"));
  });

  it("names file, line and field of an invalid trust policy (exit 2)", (t) => {
    if (!requireTools(t, ["git", "ssh-keygen"])) return;
    const { root, repo, alice } = setup(t);
    const cases: [string, RegExp][] = [
      ["apiVersion: vigil.dev/v1alpha1\nkind: TrustPolicy\nsigners: [\n", /bad\.yaml:4:1: invalid YAML/],
      [
        "apiVersion: vigil.dev/v1alpha1\nkind: TrustPolicy\nsigners:\n  - name: alice\n    sssh: x\n",
        /bad\.yaml:5 signers\[0\]\.sssh: unknown field "sssh"/,
      ],
      [
        'apiVersion: vigil.dev/v1alpha1\nkind: TrustPolicy\nsigners:\n  - name: alice\n    ssh: "ssh-ed25519 AAAA"\n',
        /bad\.yaml:5 signers\[0\]\.ssh: invalid SSH key/,
      ],
      [
        `apiVersion: vigil.dev/v1alpha1\nkind: TrustPolicy\nsigners:\n  - name: alice\n    ssh: "${alice.publicKey}"\npaths:\n  - pattern: "**"\n    owners: [alcie]\n`,
        /bad\.yaml:8 paths\[0\]\.owners\[0\]: unknown signer "alcie"/,
      ],
      ["apiVersion: vigil.dev/v1alpha1\nkind: TrustPolicy\nadmins: { members: [alice], threshold: 0 }\n", /bad\.yaml:3 admins\.threshold/],
      ["apiVersion: v2\nkind: TrustPolicy\n", /bad\.yaml:1 apiVersion/],
      [
        'environments:\n  - name: prod\n    commitMessage: "(["\napiVersion: vigil.dev/v1alpha1\nkind: TrustPolicy\n',
        /bad\.yaml:3 environments\[0\]\.commitMessage: invalid regular expression/,
      ],
    ];
    for (const [text, expected] of cases) {
      const file = join(root, "bad.yaml");
      writeFileSync(file, text);
      const out = verify(["--repo", repo.dir, "--trust", file]);
      assert.equal(out.status, 2, `${text}\n${out.stderr}`);
      assert.match(out.stderr, expected);
      assert.equal(out.stdout, "");
      assert.doesNotMatch(out.stderr, /at .*\.ts:\d+/, "no stack trace without --debug");
    }
    const missing = verify(["--repo", repo.dir, "--trust", join(root, "absent.yaml")]);
    assert.equal(missing.status, 2);
    assert.match(missing.stderr, /absent\.yaml: cannot read the trust policy: ENOENT/);
  });

  it("refuses usage errors with the usage line (exit 2) and answers --help on every command (exit 0)", () => {
    let out = verify(["--repo", "."]);
    assert.equal(out.status, 2);
    assert.match(out.stderr, /--trust is required\nusage: vigil verify commits/);
    out = verify(["--bogus"]);
    assert.equal(out.status, 2);
    assert.match(out.stderr, /Unknown option '--bogus'/);
    for (const cmd of [["verify", "commits"], ["cosign"]]) {
      out = vigil([...cmd, "--help"]);
      assert.equal(out.status, 0);
      assert.match(out.stdout, /usage: vigil /);
    }
    assert.equal(vigil(["--help"]).status, 0);
    assert.equal(vigil(["frobnicate"]).status, 2);
    const env = vigil(["verify", "commits", "--repo", ".", "--trust", "x", "--env", "prod"]);
    assert.equal(env.status, 2);
    const workers = vigil(["verify", "commits", "--repo", ".", "--trust", "x", "--workers", "many"]);
    assert.equal(workers.status, 2);
    assert.match(workers.stderr, /--workers must be a whole number/);
  });

  it("verifies a commit with 100,000 changed files without crashing", (t) => {
    if (!requireTools(t, ["git", "ssh-keygen"])) return;
    const { repo, alice, trust } = setup(t);
    const blob = run("git", ["hash-object", "-w", "--stdin"], { cwd: repo.dir, input: "x\n" }).trim();
    const index = Array.from({ length: 100_000 }, (_, i) => `100644 ${blob}\tbulk/d${i % 100}/f${i}.yaml`).join("\n") + "\n";
    run("git", ["update-index", "--index-info"], { cwd: repo.dir, input: index });
    const big = repo.commitStaged(alice, "bulk");
    let out = vigil(["verify", "commits", "--repo", repo.dir, "--trust", trust, "--json", "--from", "HEAD~1"]);
    assert.equal(out.status, 0, out.stderr);
    assert.match(
      out.json().checks.find((c: { subject: string; rule: string }) => c.subject === big && c.rule === "path-ownership").message,
      /100000 path\(s\), all owned by alice/,
    );

    // The same commit by someone who owns only part of the tree lists the first few paths and a count.
    const narrow = writePolicy(join(repo.dir, "..", "narrow.yaml"), {
      signers: [alice.policyEntry],
      paths: [
        { pattern: "a", owners: ["alice"] },
        { pattern: "bulk/d1/**", owners: ["alice"] },
      ],
    });
    out = vigil(["verify", "commits", "--repo", repo.dir, "--trust", narrow, "--json", "--from", "HEAD~1"]);
    assert.equal(out.status, 1);
    assert.match(
      out.json().checks.find((c: { status: string }) => c.status === "fail").message,
      /no paths rule covers it\), .* and 98995 more/,
    );
  });
});
