// Approvals and promotion end to end through the CLI (vigil approve, vigil record deployment, vigil verify
// release) on real repositories, with real ssh-keygen keys for people and a cosign key for the agent.
// Every attack of issue 7 is here, each blocked with its reason.
import { strict as assert } from "node:assert";
import { join } from "node:path";
import { describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { approvalsFixture, minutesFromNow, type ApprovalsFixture } from "./helpers/approvals-fixture.ts";
import { requireTools, run, vigil } from "./helpers/tools.ts";

type Out = ReturnType<typeof vigil>;
interface Check {
  gate: string;
  rule: string;
  status: string;
  subject: string;
  message: string;
}
const checks = (out: Out): Check[] => out.json().checks;
const rule = (out: Out, name: string) => checks(out).filter((c) => c.rule === name);
const only = (out: Out, name: string) => {
  const found = rule(out, name);
  assert.equal(found.length, 1, `one ${name} check in ${out.stdout}`);
  return found[0]!;
};
const ok = (out: Out) => assert.equal(out.status, 0, out.stdout + out.stderr);

/** A commit by alice, recorded healthy in staging an hour ago: only approvals stand between it and prod. */
function soakedCommit(f: ApprovalsFixture, content = "a: 1\n", minutesAgo = 60): string {
  const commit = f.repo.commit({ "envs/prod/app.yaml": content }, f.alice);
  ok(f.record(commit, "--healthy-at", minutesFromNow(-minutesAgo)));
  return commit;
}

const tools = ["git", "ssh-keygen"];

describe("vigil verify release: approvals", () => {
  it("passes with two approvers after a soak in staging; the verdict names each approval and the record", (t) => {
    if (!requireTools(t, tools)) return;
    const f = approvalsFixture(t);
    const commit = soakedCommit(f);
    const approval = f.approve(f.bob, commit);
    ok(approval);
    assert.match(approval.json().ref, new RegExp(`^refs/vigil/approvals/${commit}/[0-9a-f]{16}$`));
    assert.equal(approval.json().envelope.payloadType, "application/vnd.in-toto+json");
    ok(f.approve(f.carol, commit));

    const out = f.release(commit);
    ok(out);
    const v = out.json();
    assert.equal(v.verdict, "pass");
    assert.deepEqual(v.subject, { repo: f.repo.dir, revision: commit, environment: "prod" });
    assert.ok(rule(out, "commit-signature").every((c) => c.status === "pass"));
    assert.deepEqual(
      rule(out, "approval").map((c) => c.status),
      ["pass", "pass"],
    );
    assert.match(
      rule(out, "approval")
        .map((c) => c.message)
        .join("\n"),
      /counted: bob \(ssh-ed25519 SHA256:[^)]+\) approved deploy of [0-9a-f]{12} to prod/,
    );
    assert.match(only(out, "approvals").message, /^2 of 2 required deploy approvals for prod \((bob, carol|carol, bob)\)$/);
    assert.match(only(out, "deployment-record").message, /^staging's agent deployed [0-9a-f]{12} \(tree [0-9a-f]{12}\) at /);
    assert.match(only(out, "promotion").message, /ran healthy in staging from .* for 1h(0m)?\d*s? \(soak 10m\)/);

    const table = vigil(["verify", "release", "--repo", f.repo.dir, "--trust", f.trust, "--env", "prod"]);
    ok(table);
    assert.match(table.stdout, /PASS\s+approvals\s+approvals\s+[0-9a-f]{12}\s+2 of 2 required/);
    assert.match(table.stdout, /verdict: PASS/);
  });

  it("blocks self-approval: the author of a commit in the range does not count", (t) => {
    if (!requireTools(t, tools)) return;
    const f = approvalsFixture(t);
    const commit = soakedCommit(f);
    ok(f.approve(f.alice, commit));
    ok(f.approve(f.bob, commit));
    const out = f.release(commit);
    assert.equal(out.status, 1);
    const alice = rule(out, "approval").find((c) => c.message.includes("alice"))!;
    assert.equal(alice.status, "warn");
    assert.match(
      alice.message,
      new RegExp(`not counted: alice authored commit ${commit.slice(0, 12)} in the range, and prod excludes authors`),
    );
    assert.match(
      only(out, "approvals").message,
      /^1 of 2 required deploy approvals for prod \(bob\); 1 more needed from group:platform \(.*vigil\.trust\.yaml:\d+ environments\[1\]\.approvals\): each runs "vigil approve --env prod --rev [0-9a-f]{40}"/,
    );
    assert.equal(only(out, "approvals").status, "fail");
  });

  it("blocks an approval replayed onto another commit or made for another environment", (t) => {
    if (!requireTools(t, tools)) return;
    const f = approvalsFixture(t);
    const first = soakedCommit(f);
    ok(f.approve(f.bob, first));
    const second = soakedCommit(f, "a: 2\n");
    const copied = run("git", ["for-each-ref", "--format=%(objectname)", `refs/vigil/approvals/${first}/`], { cwd: f.repo.dir }).trim();
    f.repo.git("update-ref", `refs/vigil/approvals/${second}/copied`, copied);
    ok(vigil(["approve", "--repo", f.repo.dir, "--env", "staging", "--rev", second, "--key", f.carol.keyFile]));
    ok(f.approve(f.dave, second));

    const out = f.release(second, "--from", first);
    assert.equal(out.status, 1);
    const messages = rule(out, "approval")
      .map((c) => `${c.status} ${c.message}`)
      .join("\n");
    assert.match(
      messages,
      new RegExp(
        `warn not counted: bob's approval is for commit ${first.slice(0, 12)}, not ${second.slice(0, 12)}: it was copied \\(replayed\\) from another commit`,
      ),
    );
    assert.match(messages, /warn not counted: carol's approval is for environment staging, not prod/);
    assert.match(only(out, "approvals").message, /^1 of 2 required deploy approvals for prod \(dave\)/);
  });

  it("blocks an approval signed with a key the policy does not trust", (t) => {
    if (!requireTools(t, tools)) return;
    const f = approvalsFixture(t);
    const commit = soakedCommit(f);
    ok(f.approve(f.mallory, commit));
    ok(f.approve(f.bob, commit));
    const out = f.release(commit);
    assert.equal(out.status, 1);
    assert.match(
      rule(out, "approval")
        .map((c) => c.message)
        .join("\n"),
      /not counted: signed by an untrusted key \(ssh-ed25519 SHA256:/,
    );
    assert.match(only(out, "approvals").message, /^1 of 2 /);
  });

  it("counts a person once however many keys they approve with", (t) => {
    if (!requireTools(t, tools)) return;
    const f = approvalsFixture(t);
    const commit = soakedCommit(f);
    ok(f.approve(f.dave, commit));
    ok(f.approve(f.dave2, commit));
    const out = f.release(commit);
    assert.equal(out.status, 1);
    const messages = rule(out, "approval")
      .map((c) => c.message)
      .join("\n");
    assert.match(messages, /counted: dave \((ssh-ed25519|ecdsa-sha2-nistp256) SHA256:/);
    assert.match(
      messages,
      /not counted: dave is already counted \(refs\/vigil\/approvals\/[0-9a-f]{40}\/[0-9a-f]{16}\): a person counts once, whatever keys they sign with/,
    );
    assert.match(only(out, "approvals").message, /^1 of 2 required deploy approvals for prod \(dave\)/);
  });

  it("blocks an expired approval", async (t) => {
    if (!requireTools(t, tools)) return;
    const f = approvalsFixture(t);
    const commit = soakedCommit(f);
    const bob = f.approve(f.bob, commit, "--expires", "1s");
    ok(bob);
    assert.match(bob.json().envelope.payload, /^[A-Za-z0-9+/]+=*$/);
    ok(f.approve(f.carol, commit));
    await sleep(1500);
    const out = f.release(commit);
    assert.equal(out.status, 1);
    assert.match(
      rule(out, "approval")
        .map((c) => c.message)
        .join("\n"),
      /not counted: bob's approval expired at \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ; approve again/,
    );
  });

  it("blocks a tampered approval ref: altered content, a ref to another object, and bytes that are no envelope", (t) => {
    if (!requireTools(t, tools)) return;
    const f = approvalsFixture(t);
    const commit = soakedCommit(f);
    const { ref, envelope } = f.approve(f.bob, commit, "--expires", "1h").json();
    ok(f.approve(f.carol, commit));
    // Stretch bob's approval from an hour to a year, keeping his signature.
    const statement = Buffer.from(envelope.payload, "base64")
      .toString()
      .replace(/"expiresAt":"(\d{4})/, (_, y) => `"expiresAt":"${Number(y) + 1}`);
    const altered = JSON.stringify({ ...envelope, payload: Buffer.from(statement).toString("base64") });
    f.repo.git("update-ref", ref, run("git", ["hash-object", "-w", "--stdin"], { cwd: f.repo.dir, input: altered }).trim());
    f.repo.git("update-ref", `refs/vigil/approvals/${commit}/tree`, `${commit}^{tree}`);
    f.repo.git(
      "update-ref",
      `refs/vigil/approvals/${commit}/junk`,
      run("git", ["hash-object", "-w", "--stdin"], { cwd: f.repo.dir, input: "approved!" }).trim(),
    );

    const out = f.release(commit);
    assert.equal(out.status, 1);
    const bySubject = new Map(rule(out, "approval").map((c) => [c.subject, c.message]));
    assert.match(bySubject.get(ref)!, /not counted: SSH signature by ssh-ed25519 SHA256:\S+ does not match the signed content/);
    assert.match(
      bySubject.get(`refs/vigil/approvals/${commit}/tree`)!,
      /cannot be read as a signed approval: points at a tree, not a stored claim/,
    );
    assert.match(
      bySubject.get(`refs/vigil/approvals/${commit}/junk`)!,
      /cannot be read as a signed approval: is not a DSSE envelope \(not JSON\)/,
    );
    assert.match(only(out, "approvals").message, /^1 of 2 required deploy approvals for prod \(carol\)/);
  });

  it("lets an approver withdraw their approval; a withdrawal by someone else or an untrusted key changes nothing", (t) => {
    if (!requireTools(t, tools)) return;
    const f = approvalsFixture(t);
    const commit = soakedCommit(f);
    ok(f.approve(f.bob, commit));
    ok(f.approve(f.carol, commit));
    ok(f.approve(f.dave, commit));
    ok(f.release(commit));
    const withdrawal = f.approve(f.bob, commit, "--withdraw");
    ok(withdrawal);
    assert.match(withdrawal.json().ref, new RegExp(`^refs/vigil/approvals/${commit}/`));
    ok(f.approve(f.mallory, commit, "--withdraw"));
    ok(f.approve(f.erin, commit, "--withdraw"));
    let out = f.release(commit);
    ok(out);
    const withdrawals = rule(out, "withdrawal")
      .map((c) => `${c.status} ${c.message}`)
      .join("\n");
    assert.match(withdrawals, new RegExp(`pass bob withdrew their approvals of ${commit.slice(0, 12)} for prod made up to `));
    assert.match(withdrawals, /warn ignored: signed by an untrusted key/);
    assert.match(withdrawals, /pass erin withdrew/);
    assert.match(
      rule(out, "approval")
        .map((c) => c.message)
        .join("\n"),
      /not counted: bob withdrew it at /,
    );
    assert.match(only(out, "approvals").message, /^2 of 2 required deploy approvals for prod \((carol, dave|dave, carol)\)$/);

    ok(f.approve(f.carol, commit, "--withdraw"));
    out = f.release(commit);
    assert.equal(out.status, 1);
    assert.match(only(out, "approvals").message, /^1 of 2 required deploy approvals for prod \(dave\)/);
  });
});

describe("vigil verify release: promotion", () => {
  it("blocks skipping staging, a soak not yet over, and a tree replaced in staging before its soak ended", (t) => {
    if (!requireTools(t, tools)) return;
    const f = approvalsFixture(t);
    const commit = f.repo.commit({ "envs/prod/app.yaml": "a: 1\n" }, f.alice);
    ok(f.approve(f.bob, commit));
    ok(f.approve(f.carol, commit));
    let out = f.release(commit);
    assert.equal(out.status, 1);
    assert.deepEqual(rule(out, "deployment-record"), []);
    assert.match(
      only(out, "promotion").message,
      /^tree [0-9a-f]{12} of [0-9a-f]{12} has no deployment record signed by staging's agent: prod takes only what ran in staging first \(.*vigil\.trust\.yaml:\d+ environments\[1\]\.promotion\); deploy it to staging, let it soak, then promote$/,
    );
    assert.equal(only(out, "approvals").status, "pass");

    ok(f.record(commit));
    out = f.release(commit);
    assert.equal(out.status, 1);
    assert.match(
      only(out, "promotion").message,
      /has run healthy in staging since \S+: the 10m soak is not over until \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/,
    );

    const [deployed, healthy, replaced, replacedHealthy] = [-62, -60, -57, -56].map(minutesFromNow);
    ok(f.record(commit, "--deployed-at", deployed!, "--healthy-at", healthy!));
    const next = f.repo.commit({ "envs/staging/next.yaml": "b: 1\n" }, f.bob);
    ok(f.record(next, "--deployed-at", replaced!, "--healthy-at", replacedHealthy!));
    out = f.release(commit);
    assert.equal(out.status, 1);
    assert.equal(rule(out, "deployment-record").length, 2);
    assert.match(
      only(out, "promotion").message,
      /ran healthy in staging only from \S+ until tree [0-9a-f]{12} replaced it at \S+ \(3m; refs\/vigil\/deployments\/staging\/[0-9a-f]{40}\/[0-9a-f]+\), less than the 10m soak; deploy it to staging again and let it soak$/,
    );
  });

  it("blocks a forged record, an unsigned one, and a record moved under another tree's name", (t) => {
    if (!requireTools(t, tools)) return;
    const f = approvalsFixture(t);
    const old = soakedCommit(f, "a: 0\n");
    const commit = f.repo.commit({ "envs/prod/app.yaml": "a: 1\n" }, f.alice);
    ok(f.approve(f.bob, commit));
    ok(f.approve(f.carol, commit));
    const tree = f.repo.git("rev-parse", `${commit}^{tree}`);
    const forged = vigil(
      [
        "record",
        "deployment",
        "--repo",
        f.repo.dir,
        "--env",
        "staging",
        "--rev",
        commit,
        "--key",
        f.rogue.file,
        "--healthy-at",
        minutesFromNow(-60),
        "--json",
      ],
      { env: { COSIGN_PASSWORD: "" } },
    );
    ok(forged);
    const unsigned = { ...forged.json().envelope, signatures: [] };
    f.repo.git(
      "update-ref",
      `refs/vigil/deployments/staging/${tree}/unsigned`,
      run("git", ["hash-object", "-w", "--stdin"], { cwd: f.repo.dir, input: JSON.stringify(unsigned) }).trim(),
    );
    const oldRecord = run(
      "git",
      ["for-each-ref", "--format=%(objectname)", `refs/vigil/deployments/staging/${f.repo.git("rev-parse", `${old}^{tree}`)}/`],
      { cwd: f.repo.dir },
    ).trim();
    f.repo.git("update-ref", `refs/vigil/deployments/staging/${tree}/moved`, oldRecord);

    const out = f.release(commit, "--from", old);
    assert.equal(out.status, 1);
    const records = new Map(rule(out, "deployment-record").map((c) => [c.subject, c.message]));
    assert.equal(records.size, 3);
    assert.match(
      records.get(forged.json().ref)!,
      /not counted: is not a deployment record signed by staging's agent: no signature on the DSSE envelope .* verifies with the trusted key staging's agent key ecdsa-p256 SHA256:/,
    );
    assert.match(
      records.get(`refs/vigil/deployments/staging/${tree}/unsigned`)!,
      /not counted: is not a deployment record signed by staging's agent: is not signed$/,
    );
    assert.match(
      records.get(`refs/vigil/deployments/staging/${tree}/moved`)!,
      new RegExp(`not counted: it records tree [0-9a-f]{12}, not ${tree.slice(0, 12)}: it was stored under another tree's name`),
    );
    assert.match(only(out, "promotion").message, /has no deployment record signed by staging's agent/);
  });
});

describe("vigil verify release: rollbacks", () => {
  it("moves back only with rollback approvals from the environment's approvers; a deploy approval is not one", (t) => {
    if (!requireTools(t, tools)) return;
    const f = approvalsFixture(t);
    const first = soakedCommit(f, "a: 1\n", 120);
    const second = soakedCommit(f, "a: 2\n");
    let out = f.release(first, "--from", second);
    assert.equal(out.status, 1);
    assert.match(
      only(out, "history").message,
      new RegExp(
        `^rollback: ${first.slice(0, 12)} is an ancestor of the last deployed ${second.slice(0, 12)}; moving backwards needs signed rollback approvals: 0 of 2 required rollback approvals for prod; 2 more needed from group:platform .*"vigil approve --env prod --rev ${first} --rollback"`,
      ),
    );
    assert.match(
      only(out, "approvals").message,
      /^moving back from [0-9a-f]{12}: the revision gate's history check counts prod's rollback approvals for it$/,
    );
    assert.equal(only(out, "approvals").status, "skip");

    ok(f.approve(f.bob, first));
    ok(f.approve(f.carol, first, "--rollback"));
    out = f.release(first, "--from", second);
    assert.equal(out.status, 1);
    assert.match(
      rule(out, "approval")
        .map((c) => c.message)
        .join("\n"),
      /not counted: bob's approval is a deploy approval; this needs a rollback approval/,
    );

    ok(f.approve(f.bob, first, "--rollback"));
    out = f.release(first, "--from", second);
    ok(out);
    assert.match(
      only(out, "history").message,
      /^rollback: [0-9a-f]{12} is an ancestor of the last deployed [0-9a-f]{12}, approved: 2 of 2 required rollback approvals for prod \((bob, carol|carol, bob)\)$/,
    );
    assert.equal(only(out, "promotion").status, "pass");

    // The revision gate alone accepts it too, given the environment; without one nobody's approval can count.
    ok(vigil(["verify", "commits", "--repo", f.repo.dir, "--trust", f.trust, "--env", "prod", "--from", second, "--to", first]));
    const bare = vigil(["verify", "commits", "--repo", f.repo.dir, "--trust", f.trust, "--from", second, "--to", first, "--json"]);
    assert.equal(bare.status, 1);
    assert.match(only(bare, "history").message, /needs signed rollback approvals: no environment was given, so none can be counted$/);
  });
});

describe("approvals travel with plain git push and fetch", () => {
  it("refs/vigil/* pushed to a remote and fetched into a clone, or read through the remote's URL", (t) => {
    if (!requireTools(t, tools)) return;
    const f = approvalsFixture(t);
    const commit = soakedCommit(f);
    ok(f.approve(f.bob, commit));
    ok(f.approve(f.carol, commit));
    const remote = join(f.root, "remote.git");
    run("git", ["init", "-q", "--bare", "-b", "main", remote]);
    f.repo.git("push", "-q", remote, "main", "refs/vigil/*:refs/vigil/*");

    const clone = join(f.root, "clone");
    run("git", ["clone", "-q", remote, clone]);
    const release = (repo: string) =>
      vigil(["verify", "release", "--repo", repo, "--trust", f.trust, "--env", "prod", "--rev", commit, "--json"]);
    let out = release(clone);
    assert.equal(out.status, 1, "a plain clone does not fetch refs/vigil/*");
    assert.match(only(out, "approvals").message, /^0 of 2 /);
    run("git", ["-C", clone, "fetch", "-q", "origin", "refs/vigil/*:refs/vigil/*"]);
    ok(release(clone));

    out = vigil(["verify", "release", "--repo", `file://${remote}`, "--trust", f.trust, "--env", "prod", "--rev", commit, "--json"], {
      env: { XDG_CACHE_HOME: join(f.root, "cache") },
    });
    ok(out);
  });
});

describe("vigil approve, record deployment and verify release: bad input is exit 2", () => {
  it("names what is wrong", (t) => {
    if (!requireTools(t, tools)) return;
    const f = approvalsFixture(t);
    const commit = f.repo.commit({ a: "1" }, f.alice);
    const approve = (...args: string[]) => vigil(["approve", "--repo", f.repo.dir, "--env", "prod", "--rev", commit, ...args]);
    const cases: [Out, RegExp][] = [
      [approve(), /give exactly one of --key, --gpg-key or --x509-program/],
      [approve("--key", f.bob.keyFile, "--gpg-key", "ABCD"), /give exactly one of --key, --gpg-key or --x509-program/],
      [approve("--key", f.bob.keyFile, "--x509-key", "x"), /--x509-key goes with --x509-program/],
      [
        approve("--key", f.bob.keyFile, "--withdraw", "--rollback"),
        /--withdraw withdraws every approval .* takes no --rollback or --expires/,
      ],
      [approve("--key", f.bob.keyFile, "--expires", "soon"), /--expires: invalid duration "soon"/],
      [approve("--key", join(f.root, "missing")), /ssh-keygen could not sign/],
      [
        vigil(["approve", "--repo", "https://example.com/x.git", "--env", "prod", "--rev", commit, "--key", f.bob.keyFile]),
        /--repo must be a local clone/,
      ],
      [
        vigil(["approve", "--repo", f.repo.dir, "--env", "../prod", "--rev", commit, "--key", f.bob.keyFile]),
        /--env "..\/prod" is not an environment name/,
      ],
      [approve("--key", f.bob.keyFile, "--rev", "nope"), /revision "nope" does not exist/],
      [f.record(commit, "--healthy-at", "yesterday"), /--healthy-at must be a UTC time like 2026-01-31T12:00:00Z, not "yesterday"/],
      [f.record(commit, "--healthy-at", "2026-02-30T00:00:00Z"), /--healthy-at must be a UTC time/],
      [
        f.record(commit, "--deployed-at", minutesFromNow(0), "--healthy-at", minutesFromNow(-5)),
        /cannot be healthy \(.*\) before it was deployed/,
      ],
      [
        vigil(["verify", "release", "--repo", f.repo.dir, "--trust", f.trust, "--env", "qa"]),
        /environment "qa" is not defined in .*vigil\.trust\.yaml \(defined: staging, prod\)/,
      ],
      [vigil(["verify", "release", "--repo", f.repo.dir, "--env", "prod"]), /--trust is required/],
    ];
    for (const [out, message] of cases) {
      assert.equal(out.status, 2, `${out.stderr}`);
      assert.match(out.stderr, message);
    }
    assert.equal(run("git", ["for-each-ref", "refs/vigil/"], { cwd: f.repo.dir }), "", "nothing was stored");
  });
});
