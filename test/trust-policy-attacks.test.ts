// Trust policies an attacker (or a careless admin) writes (issue 14 §7, §8, §10): one person under two
// signer names, groups named after Object.prototype, alias bombs, oversized or endless files, and
// patterns that would backtrack. Each is refused as bad input naming where; the legitimate shapes pass.
import { strict as assert } from "node:assert";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { stringify } from "yaml";
import { InputError } from "../src/core/errors.ts";
import {
  checkOneSignerPerPerson,
  compileMessageRule,
  expandPrincipals,
  loadTrustPolicyFile,
  MAX_TRUST_POLICY_BYTES,
  parseTrustPolicy,
  type TrustPolicy,
} from "../src/trust/policy.ts";
import { buildKeyring } from "../src/trust/keyring.ts";
import { SshSigner, TestRepo, writePolicy } from "./helpers/git-fixture.ts";
import { GpgHome } from "./helpers/gpg-fixture.ts";
import { fileScope, tempDir, vigil } from "./helpers/tools.ts";

const header = { apiVersion: "vigil.dev/v1alpha1", kind: "TrustPolicy" };

function parse(policy: Record<string, unknown>, allowedSigners?: string): Promise<TrustPolicy> {
  return parseTrustPolicy(stringify({ ...header, ...policy }), "trust.yaml", () => {
    if (allowedSigners === undefined) throw Object.assign(new Error("absent"), { code: "ENOENT" });
    return allowedSigners;
  });
}

async function refused(policy: Promise<unknown>, ...patterns: RegExp[]): Promise<string> {
  let message = "";
  await assert.rejects(policy, (e: Error) => {
    assert.ok(e instanceof InputError, `expected InputError, got ${e.name}: ${e.message}`);
    message = e.message;
    return true;
  });
  for (const p of patterns) assert.match(message, p);
  return message;
}

/** Two real keys, made once for the file. */
const keys = (() => {
  const dir = tempDir(fileScope());
  return { alice: new SshSigner(dir, "alice"), bob: new SshSigner(dir, "bob") };
})();
const blobOf = (publicKey: string) => publicKey.split(" ").slice(0, 2).join(" ");

test("the same SSH key under two signer names is refused, naming both signers and both places", async () => {
  const message = await refused(
    parse({
      signers: [
        { name: "alice", ssh: keys.alice.publicKey },
        { name: "mallory", ssh: keys.alice.publicKey },
      ],
    }),
    /trust\.yaml:\d+ signers\[1\]\.ssh: SSH key ssh-ed25519 SHA256:\S+ is signer "mallory" here and signer "alice" at trust\.yaml:\d+ signers\[0\]\.ssh/,
  );
  assert.match(message, /one person must have one signer name/);
});

test("the same SSH key is recognised through options, a different comment, cert-authority and a list position", async () => {
  const disguised = `namespaces="git,file",valid-after=20200101 ${blobOf(keys.alice.publicKey)} another-comment`;
  await refused(
    parse({
      signers: [
        { name: "alice", ssh: [keys.bob.publicKey, keys.alice.publicKey] },
        { name: "alice2", ssh: disguised },
      ],
    }),
    /signers\[1\]\.ssh: SSH key .* is signer "alice2" here and signer "alice" at trust\.yaml:\d+ signers\[0\]\.ssh\[1\]/,
  );
  await refused(
    parse({
      signers: [
        { name: "ca-a", ssh: `cert-authority ${keys.alice.publicKey}` },
        { name: "ca-b", ssh: `cert-authority ${blobOf(keys.alice.publicKey)}` },
      ],
    }),
    /signer "ca-b" here and signer "ca-a"/,
  );
});

test("a key in the policy and the same key under another principal in allowed_signers is refused", async () => {
  await refused(
    parse(
      { allowedSigners: "allowed_signers", signers: [{ name: "alice", ssh: keys.alice.publicKey }] },
      `mallory ${keys.alice.publicKey}\n`,
    ),
    /allowed_signers:1: SSH key .* is signer "mallory" here and signer "alice" at trust\.yaml:\d+ signers\[0\]\.ssh/,
  );
  await refused(
    parse(
      { allowedSigners: "allowed_signers" },
      `alice ${keys.alice.publicKey}\n# rotated\nbob ${keys.bob.publicKey}\nalice-too ${keys.alice.publicKey}\n`,
    ),
    /allowed_signers:4: SSH key .* is signer "alice-too" here and signer "alice" at allowed_signers:1/,
  );
});

test("a principal or e-mail that is another signer's name is refused (allowed_signers principals, sigstore e-mails)", async () => {
  await refused(
    parse(
      { allowedSigners: "allowed_signers", signers: [{ name: "alice", ssh: keys.bob.publicKey }] },
      `alice@example.com,alice ${keys.alice.publicKey}\n`,
    ),
    /allowed_signers:1: name alice is signer "alice@example.com" here and signer "alice" at trust\.yaml:\d+ signers\[0\]\.name/,
  );
  await refused(
    parse({
      signers: [
        { name: "alice@example.com", ssh: keys.alice.publicKey },
        { name: "al", sigstore: { identity: "alice@example.com", issuer: "https://accounts.google.com" } },
      ],
    }),
    /signers\[1\]\.sigstore: name alice@example\.com is signer "al" here and signer "alice@example\.com"/,
  );
});

test("the same sigstore identity and issuer under two signer names is refused", async () => {
  const id = {
    identity: "https://github.com/acme/deploy/.github/workflows/release.yml@refs/heads/main",
    issuer: "https://token.actions.githubusercontent.com",
  };
  await refused(
    parse({
      signers: [
        { name: "ci", sigstore: id },
        { name: "ci-2", sigstore: [{ ...id, identity: "other" }, id] },
      ],
    }),
    /signers\[1\]\.sigstore\[1\]: sigstore identity .*release\.yml@refs\/heads\/main \(issuer https:\/\/token\.actions\.githubusercontent\.com\) is signer "ci-2" here and signer "ci"/,
  );
});

test("legitimate shapes pass: one person with several keys and e-mails, rotated keys, a CA on several principal lines", async () => {
  await parse({
    signers: [
      {
        name: "alice",
        ssh: [keys.alice.publicKey, keys.bob.publicKey],
        sigstore: [{ identity: "alice", issuer: "https://accounts.google.com" }],
      },
    ],
  });
  await parse({
    signers: [
      { name: "alice", ssh: keys.alice.publicKey },
      { name: "bob", ssh: keys.bob.publicKey },
    ],
  });
  await parse(
    { allowedSigners: "allowed_signers", signers: [{ name: "alice", ssh: keys.bob.publicKey }] },
    [
      `alice,alice@example.com ${keys.alice.publicKey}`,
      `alice ${keys.bob.publicKey}`,
      `dev1@example.com cert-authority ${keys.alice.publicKey}`,
      `dev2@example.com cert-authority ${keys.alice.publicKey}`,
    ].join("\n"),
  );
});

test("checkOneSignerPerPerson (what the keyring calls with OpenPGP fingerprints) refuses a key under two names only", () => {
  const fpr = "OpenPGP key 0123456789ABCDEF0123456789ABCDEF01234567";
  checkOneSignerPerPerson([
    { what: fpr, signer: "alice", where: "a:1" },
    { what: fpr, signer: "alice", where: "a:2" },
  ]);
  assert.throws(
    () =>
      checkOneSignerPerPerson([
        { what: fpr, signer: "alice", where: "a:1" },
        { what: fpr, signer: "bob", where: "a:9" },
      ]),
    (e: Error) => e instanceof InputError && e.message.includes(`a:9: ${fpr} is signer "bob" here and signer "alice" at a:1`),
  );
});

for (const group of ["constructor", "toString", "hasOwnProperty", "valueOf"]) {
  test(`a reference to group "${group}" is an unknown group, not a crash`, async () => {
    await refused(
      parse({ signers: [{ name: "alice", ssh: keys.alice.publicKey }], paths: [{ pattern: "**", owners: [`group:${group}`] }] }),
      new RegExp(`trust\\.yaml:\\d+ paths\\[0\\]\\.owners\\[0\\]: unknown group "${group}"`),
    );
    const doc = (await parse({ signers: [{ name: "alice", ssh: keys.alice.publicKey }] })).doc;
    assert.deepEqual([...expandPrincipals(doc, [`group:${group}`, "alice"])], ["alice"]);
  });
}

test("a group named after a prototype property is refused by name; an ordinary group still expands", async () => {
  await refused(
    parse({ signers: [{ name: "alice", ssh: keys.alice.publicKey }], groups: { constructor: ["alice"] } }),
    /trust\.yaml:\d+ groups\.constructor: "constructor" cannot be a group name/,
  );
  const signers = stringify({ ...header, signers: [{ name: "alice", ssh: keys.alice.publicKey }] });
  await refused(
    parseTrustPolicy(`${signers}groups:\n  __proto__: [alice]\n`, "trust.yaml", () => ""),
    /trust\.yaml:\d+ groups\.__proto__: "__proto__" cannot be a group name/,
  );
  await refused(
    parse({ signers: [{ name: "alice", ssh: keys.alice.publicKey }], paths: [{ pattern: "**", owners: ["group:__proto__"] }] }),
    /paths\[0\]\.owners\[0\]: must be a signer name or group:NAME/,
  );
  const policy = await parse({
    signers: [{ name: "alice", ssh: keys.alice.publicKey }],
    groups: { ops: ["alice"] },
    paths: [{ pattern: "**", owners: ["group:ops"] }],
  });
  assert.deepEqual([...expandPrincipals(policy.doc, ["group:ops"])], ["alice"]);
});

test("a YAML alias bomb is bad input naming the file, and finishes at once", async () => {
  const levels = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"];
  for (let i = 1; i < 12; i++)
    levels.push(
      `a${i}: &a${i} [${Array(10)
        .fill(`*a${i - 1}`)
        .join(", ")}]`,
    );
  const started = performance.now();
  await refused(
    parseTrustPolicy(`${levels.join("\n")}\napiVersion: vigil.dev/v1alpha1\nkind: TrustPolicy\n`, "bomb.yaml", () => ""),
    /^bomb\.yaml: invalid YAML: .*aliases expand too far/,
  );
  assert.ok(performance.now() - started < 2000);
  // A few ordinary aliases still work.
  const policy = await parseTrustPolicy(
    `${stringify({ ...header, signers: [{ name: "alice", ssh: keys.alice.publicKey }] })}groups:\n  a: &team [alice]\n  b: *team\n`,
    "ok.yaml",
    () => "",
  );
  assert.deepEqual(policy.doc.groups, { a: ["alice"], b: ["alice"] });
});

test("an oversized policy is refused naming it, read from a file or from a repository blob", async (t) => {
  const big =
    stringify({ ...header, signers: [{ name: "alice", ssh: keys.alice.publicKey }] }) + `# ${"x".repeat(MAX_TRUST_POLICY_BYTES)}\n`;
  await refused(
    parseTrustPolicy(big, ".vigil/trust.yaml@abc123", () => ""),
    /^\.vigil\/trust\.yaml@abc123: the trust policy is larger than 1 MiB$/,
  );
  const dir = tempDir(t);
  const file = writePolicy(join(dir, "trust.yaml"), { allowedSigners: "allowed_signers" });
  writeFileSync(join(dir, "allowed_signers"), "#".repeat(MAX_TRUST_POLICY_BYTES + 1));
  await refused(loadTrustPolicyFile(file), /allowedSigners: .*allowed_signers: the allowed_signers file is larger than 1 MiB/);
});

test("vigil verify commits --trust /dev/zero ends with exit 2 naming the file", (t) => {
  const repo = new TestRepo(join(tempDir(t), "repo"));
  repo.commit({ "a.txt": "a" }, null);
  const started = performance.now();
  const r = vigil(["verify", "commits", "--repo", repo.dir, "--trust", "/dev/zero"]);
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, /^vigil: \/dev\/zero: the trust policy is larger than 1 MiB; refusing to read more\n$/);
  assert.ok(performance.now() - started < 10_000);
  const dir = tempDir(t);
  const r2 = vigil(["verify", "commits", "--repo", repo.dir, "--trust", dir]);
  assert.equal(r2.status, 2);
  assert.match(r2.stderr, /cannot read the trust policy: EISDIR/);
});

test("vigil exits 2 on a policy with an unknown prototype group or an alias bomb (never 3, never a stack)", (t) => {
  const repo = new TestRepo(join(tempDir(t), "repo"));
  repo.commit({ "a.txt": "a" }, null);
  const dir = tempDir(t);
  const file = writePolicy(join(dir, "trust.yaml"), {
    signers: [{ name: "alice", ssh: keys.alice.publicKey }],
    paths: [{ pattern: "**", owners: ["group:toString"] }],
  });
  const r = vigil(["verify", "commits", "--repo", repo.dir, "--trust", file]);
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, /paths\[0\]\.owners\[0\]: unknown group "toString"/);
  assert.doesNotMatch(r.stderr, /\n\s+at /);
});

test("commitMessage and image patterns are RE2: what RE2 rejects is bad input at load, naming file, line and field", async () => {
  await refused(
    parse({ environments: [{ name: "prod", commitMessage: "^(?=TICKET)" }] }),
    /trust\.yaml:\d+ environments\[0\]\.commitMessage: invalid regular expression \(RE2 syntax\)/,
  );
  await refused(
    parse({ environments: [{ name: "prod", commitMessage: "(a)\\1" }] }),
    /environments\[0\]\.commitMessage: invalid regular expression \(RE2 syntax\)/,
  );
  await refused(
    parse({ images: [{ pattern: "**", signers: [{ identityRegexp: "(?<=x)", issuer: "https://issuer.example" }] }] }),
    /images\[0\]\.signers\[0\]\.identityRegexp: invalid regular expression \(RE2 syntax\)/,
  );
  await refused(
    parse({
      images: [
        { pattern: "**", signers: [{ key: "k" }], attestations: [{ predicateType: "t", fields: [{ path: "a", matches: "(?!b)" }] }] },
      ],
    }),
    /images\[0\]\.attestations\[0\]\.fields\[0\]\.matches: invalid regular expression \(RE2 syntax\)/,
  );
  await parse({ environments: [{ name: "prod", commitMessage: "^[A-Z]+-\\d+: " }] });
});

test("a message rule matches as RegExp.test does, in linear time on a pattern that backtracks catastrophically in JavaScript", () => {
  const rule = compileMessageRule("^(a+)+$");
  assert.equal(rule.source, "^(a+)+$");
  assert.equal(rule.test("aaaa"), true);
  const hostile = "a".repeat(50_000) + "!";
  const started = performance.now();
  assert.equal(rule.test(hostile), false);
  assert.ok(performance.now() - started < 2000, `took ${performance.now() - started} ms`);
  const ticket = compileMessageRule("^[A-Z]+-\\d+: ");
  assert.equal(ticket.test("OPS-12: fix\n\nbody"), true);
  assert.equal(ticket.test("fix OPS-12: later"), false);
  assert.equal(compileMessageRule("fix").test("a fix here"), true, "unanchored, as RegExp.test");
});

test("the same OpenPGP key, or a subkey of it, under two signer names is refused naming both", async (t) => {
  const root = tempDir(t);
  const home = new GpgHome(join(root, "gnupg"));
  mkdirSync(home.dir, { mode: 0o700 });
  const fpr = home.generate("Alice <alice@example.com>", "ed25519", "cert");
  home.addSigningSubkey(fpr);
  const armored = home.exportPublic(fpr);
  const twice = await parse({
    signers: [
      { name: "alice", openpgp: armored },
      { name: "alias", openpgp: armored },
    ],
  });
  await refused(buildKeyring(twice), /OpenPGP key [0-9A-F]{40} is signer "alias" here and signer "alice" at trust\.yaml:\d+/);
  const other = new GpgHome(join(root, "gnupg2"));
  mkdirSync(other.dir, { mode: 0o700 });
  const bob = other.generate("Bob <bob@example.com>", "ed25519");
  const distinct = await parse({
    signers: [
      { name: "alice", openpgp: armored },
      { name: "bob", openpgp: other.exportPublic(bob) },
    ],
  });
  assert.equal((await buildKeyring(distinct)).openpgp.length, 2);
});
