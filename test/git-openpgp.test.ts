// OpenPGP signatures made by real GnuPG keys: each acceptance rule passes and each refusal is named.
import { strict as assert } from "node:assert";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { parseOpenPgpKeys, type OpenPgpTrustEntry } from "../src/trust/openpgp-keys.ts";
import { verifyOpenPgpSignature } from "../src/git/signatures/openpgp.ts";
import { GpgHome, gpgWrapper } from "./helpers/gpg-fixture.ts";
import { TestRepo, writePolicy } from "./helpers/git-fixture.ts";
import { hasTool, requireTools, vigil } from "./helpers/tools.ts";

const data = Buffer.from("tree 0123\nauthor a <a@x> 1 +0000\n\nmessage\n");
let root: string;
let home: GpgHome;
const fpr: Record<string, string> = {};

before(() => {
  if (!hasTool("gpg")) return; // each test then fails (CI) or says what to install
  root = mkdtempSync(join(tmpdir(), "vigil-pgp-"));
  mkdirSync(join(root, "gnupg"), { mode: 0o700 });
  home = new GpgHome(join(root, "gnupg"));
  gpgWrapper(home);
  fpr.ed25519 = home.generate("Alice <alice@example.com>", "ed25519");
  fpr.rsa = home.generate("Rob <rob@example.com>", "rsa3072");
  fpr.p256 = home.generate("Pat <pat@example.com>", "nistp256");
  fpr.sub = home.generate("Sue <sue@example.com>", "ed25519", "cert");
  home.addSigningSubkey(fpr.sub);
  fpr.mallory = home.generate("Mallory <mallory@example.com>", "ed25519");
  // Made in 2020 with a one-year lifetime: valid when it signed then, expired now.
  fpr.old = home.generate("Olga <olga@example.com>", "ed25519", "sign", "1y", "20200101T000000");
  fpr.revoked = home.generate("Rex <rex@example.com>", "ed25519");
  fpr.revokedSub = home.generate("Rita <rita@example.com>", "ed25519", "cert");
  home.addSigningSubkey(fpr.revokedSub);
});
after(() => root && rmSync(root, { recursive: true, force: true }));

async function trust(name: string, key: string): Promise<OpenPgpTrustEntry[]> {
  return parseOpenPgpKeys(home.exportPublic(key), name, `policy signers[${name}]`);
}

const refusedWith = (r: Awaited<ReturnType<typeof verifyOpenPgpSignature>>, re: RegExp) => {
  assert.equal(r.ok, false, JSON.stringify(r));
  assert.match((r as { reason: string }).reason, re);
};

describe("OpenPGP signatures", () => {
  it("accepts EdDSA, RSA and ECDSA keys and signing subkeys", async (t) => {
    if (!requireTools(t, ["gpg"])) return;
    for (const [name, key, algorithm] of [
      ["alice", fpr.ed25519!, /eddsa/i],
      ["rob", fpr.rsa!, /rsa.* 3072/i],
      ["pat", fpr.p256!, /ecdsa.*p256/i],
      ["sue", fpr.sub!, /eddsa/i],
    ] as const) {
      const r = await verifyOpenPgpSignature(home.sign(key, data), data, await trust(name, key));
      assert.equal(r.ok, true, `${name}: ${JSON.stringify(r)}`);
      assert.equal((r as { identity: string }).identity, name);
      assert.match((r as { key: string }).key, algorithm);
    }
    // The subkey made the signature, and the result names the subkey, not the primary key.
    const r = await verifyOpenPgpSignature(home.sign(fpr.sub!, data), data, await trust("sue", fpr.sub!));
    assert.doesNotMatch((r as { key: string }).key, new RegExp(fpr.sub!));
  });

  it("refuses an unknown key, a tampered message, truncated or garbage signatures", async (t) => {
    if (!requireTools(t, ["gpg"])) return;
    const alice = await trust("alice", fpr.ed25519!);
    refusedWith(await verifyOpenPgpSignature(home.sign(fpr.mallory!, data), data, alice), /untrusted OpenPGP key [0-9A-F]{16}/);
    const sig = home.sign(fpr.ed25519!, data);
    refusedWith(await verifyOpenPgpSignature(sig, Buffer.concat([data, Buffer.from("x")]), alice), /does not match the signed content/);
    const lines = sig.trim().split("\n");
    refusedWith(await verifyOpenPgpSignature(lines.slice(0, 3).join("\n"), data, alice), /malformed OpenPGP signature/);
    refusedWith(
      await verifyOpenPgpSignature([lines[0], "", "AAAA", lines.at(-1)].join("\n"), data, alice),
      /malformed OpenPGP signature|exactly one/,
    );
    refusedWith(await verifyOpenPgpSignature("garbage", data, alice), /malformed OpenPGP signature/);
  });

  it("refuses a digest weaker than SHA-256", async (t) => {
    if (!requireTools(t, ["gpg"])) return;
    refusedWith(
      await verifyOpenPgpSignature(home.sign(fpr.rsa!, data, { digest: "SHA1" }), data, await trust("rob", fpr.rsa!)),
      /SHA1 digest, weaker than SHA-256/i,
    );
  });

  it("refuses a key that has expired since it signed", async (t) => {
    if (!requireTools(t, ["gpg"])) return;
    const sig = home.sign(fpr.old!, data, { fakedTime: "20200601T000000" });
    refusedWith(await verifyOpenPgpSignature(sig, data, await trust("olga", fpr.old!)), /the key expired 202[01]-.*renew it/);
  });

  it("refuses a signature dated before the key existed", async (t) => {
    if (!requireTools(t, ["gpg"])) return;
    const sig = home.sign(fpr.ed25519!, data, { fakedTime: "20190101T000000" });
    refusedWith(
      await verifyOpenPgpSignature(sig, data, await trust("alice", fpr.ed25519!)),
      /the key was created .* after the signature's date 2019-/,
    );
  });

  it("refuses a signature dated in the future", async (t) => {
    if (!requireTools(t, ["gpg"])) return;
    const sig = home.sign(fpr.ed25519!, data, { fakedTime: "20990101T000000" });
    refusedWith(await verifyOpenPgpSignature(sig, data, await trust("alice", fpr.ed25519!)), /in the future/);
  });

  it("refuses a revoked key and a revoked signing subkey, whatever the signature's date", async (t) => {
    if (!requireTools(t, ["gpg"])) return;
    const before = home.sign(fpr.revoked!, data);
    home.revoke(fpr.revoked!);
    refusedWith(await verifyOpenPgpSignature(before, data, await trust("rex", fpr.revoked!)), /the key is revoked/);
    const bySub = home.sign(fpr.revokedSub!, data);
    home.revokeSubkey(fpr.revokedSub!);
    refusedWith(await verifyOpenPgpSignature(bySub, data, await trust("rita", fpr.revokedSub!)), /subkey is revoked/);
  });

  it("refuses a private key in the policy and a block that is no key", async () => {
    await assert.rejects(
      parseOpenPgpKeys("not a key", "x", "trust.yaml signers[0].openpgp"),
      /trust\.yaml signers\[0\]\.openpgp: not an OpenPGP public key block/,
    );
  });

  it("verifies commits signed through git's gpg signing, end to end through the gate", async (t) => {
    if (!requireTools(t, ["gpg", "git"])) return;
    const alice = home.signer("alice", fpr.ed25519!);
    const mallory = home.signer("mallory", fpr.mallory!);
    const policy = writePolicy(join(root, "trust.yaml"), { signers: [alice.policyEntry], paths: [{ pattern: "**", owners: ["alice"] }] });
    const repo = new TestRepo(join(root, "repo"));
    repo.commit({ "a.yaml": "a: 1\n" }, alice);
    let out = vigil(["verify", "commits", "--repo", repo.dir, "--trust", policy, "--json"]);
    assert.equal(out.status, 0, out.stdout + out.stderr);
    assert.match(out.json().checks[0].message, /signed by alice \(openpgp [0-9A-F]{40} \(eddsa/i);
    repo.commit({ "b.yaml": "b: 1\n" }, mallory);
    out = vigil(["verify", "commits", "--repo", repo.dir, "--trust", policy, "--json"]);
    assert.equal(out.status, 1);
    assert.match(out.json().checks.find((c: { status: string }) => c.status === "fail").message, /untrusted OpenPGP key/);
  });
});
