// vigil audit, as a user runs it, on both stores: init, verify (with a saved checkpoint), prove, show,
// export and explain over a realistic reconcile and apply appended through the agent's API; exit codes
// for bad input (2), a log that does not verify (1) and a database that cannot be reached (3).
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { applyRecords, approvalRecord, reconcileRecord } from "../src/agent/records.ts";
import { openAuditLog } from "../src/audit/index.ts";
import { openCheckpoint } from "../src/audit/checkpoint.ts";
import { leafHash } from "../src/audit/hash.ts";
import { parseVerifierKey } from "../src/audit/note.ts";
import { verifyInclusion } from "../src/audit/proof.ts";
import { canonicalJson } from "../src/audit/jcs.ts";
import { finding, logStores, shopDeployment, shopReconcile, SHOP_DIGEST } from "./helpers/audit.ts";
import { tempDir, vigil } from "./helpers/tools.ts";

const stores = logStores();

for (const store of stores) {
  test(`${store.name}: init, then verify, prove, show, export and explain a reconcile and apply the agent appended`, async (t) => {
    const location = store.location(t);
    if (!location) return;
    const dir = tempDir(t);
    const keyFile = join(dir, "audit.key");
    const init = vigil(["audit", "init", "--log", location, "--key-file", keyFile, "--origin", "example.com/audit/cli"]);
    assert.equal(init.status, 0, init.stderr);
    const verifierKey = readFileSync(`${keyFile}.pub`, "utf8").trim();
    assert.match(init.stdout, new RegExp(`verifier key: ${verifierKey.replace(/[+/]/g, "\\$&")}`));
    assert.equal(
      vigil(["audit", "init", "--log", location, "--key-file", keyFile]).status,
      0,
      "init again with the same key changes nothing",
    );

    // What the agent does after a reconcile: one batch.
    const log = await openAuditLog(location, { signingKeyFile: keyFile });
    await log.append([finding(0, "staging")]);
    const saved = join(dir, "saved.checkpoint");
    writeFileSync(saved, await log.checkpoint());
    const reconcile = shopReconcile();
    const { objects, sync } = shopDeployment();
    const appended = await log.append([
      approvalRecord({ environment: "prod", revision: reconcile.revision!, signer: "carol", key: "ssh-ed25519 SHA256:carolkey" }),
      reconcileRecord(reconcile),
      ...applyRecords({ environment: "prod", revision: reconcile.revision!, objects, sync }),
    ]);
    assert.deepEqual(
      appended.map((a) => a.index),
      [1, 2, 3, 4, 5],
    );
    await log.close();

    const verified = vigil(["audit", "verify", "--log", location, "--key", `${keyFile}.pub`, "--checkpoint", saved]);
    assert.equal(verified.status, 0, verified.stdout + verified.stderr);
    assert.match(verified.stdout, /PASS +audit +consistency .*extends the checkpoint saved in .*saved.checkpoint \(size 1\)/);
    assert.equal(vigil(["audit", "verify", "--log", location, "--key", verifierKey, "--json"]).json().verdict, "pass");

    const proof = vigil(["audit", "prove", "--log", location, "--key", verifierKey, "3", "--json"]).json();
    const cp = openCheckpoint(proof.checkpoint, parseVerifierKey(verifierKey));
    verifyInclusion(
      3,
      cp.size,
      Buffer.from(proof.leafHash, "hex"),
      proof.hashes.map((h: string) => Buffer.from(h, "hex")),
      cp.root,
    );
    assert.equal(vigil(["audit", "prove", "--log", location, "--entry", proof.leafHash, "--json"]).json().index, 3);
    assert.match(
      vigil(["audit", "prove", "--log", location, "--consistency", "1"]).stdout,
      /tree of 1 entries .* is a prefix of the tree of 6: consistency proof verified/,
    );

    const shown = vigil(["audit", "show", "--log", location, "--env", "prod"]);
    assert.equal(shown.status, 0, shown.stderr);
    assert.deepEqual(
      [...shown.stdout.matchAll(/^\d+ +\S+ +(\S+) +prod /gm)].map((m) => m[1]),
      ["approval", "reconcile", "apply", "prune", "drift"],
    );
    assert.deepEqual(
      vigil(["audit", "show", "--log", location, "--kind", "finding", "--json"])
        .json()
        .map((r: { index: number }) => r.index),
      [0],
    );

    const exported = vigil(["audit", "export", "--log", location, "--from", "2"])
      .stdout.trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    assert.deepEqual(
      exported.map((e) => e.index),
      [2, 3, 4, 5],
    );
    for (const { index, leafHash: hash, ...record } of exported)
      assert.equal(leafHash(Buffer.from(canonicalJson(record))).toString("hex"), hash, `entry ${index}'s hash from its exported record`);

    const why = vigil(["audit", "explain", "Deployment/shop/web", "--env", "prod", "--log", location, "--key", verifierKey]);
    assert.equal(why.status, 0, why.stderr);
    for (const line of [
      /^3 +resource +Deployment shop\/web \(apps\/v1\) create at 2{40}/m,
      new RegExp(`^3 +image +Deployment shop/web container app: registry.example.com/shop/app:1.4@${SHOP_DIGEST}`, "m"),
      /^2 +commits +0{12}\.\.2{40}: 2 commits checked in https:\/\/git.example.com\/shop\/config.git \(main\)/m,
      /^2 +signer +alice \(ssh-ed25519 SHA256:alicekey\) signed 1: 1{12}/m,
      /^2 +policy +pass pss-restricted\/run-as-non-root: Deployment shop\/web/m,
      /^2 +artifact +pass image-signature: Deployment shop\/web container app: .*attested https:\/\/cyclonedx.org\/bom/m,
      /^1 +approval +approved by carol/m,
      /inclusion proofs verified for entries 1, 2, 3 against the checkpoint of size 6/,
    ])
      assert.match(why.stdout, line);
    const json = vigil(["audit", "explain", "registry.example.com/shop/app:1.4", "--env", "prod", "--log", location, "--json"]).json();
    assert.equal(json.revision, "2".repeat(40));
    const latest = openCheckpoint(json.checkpoint, parseVerifierKey(verifierKey));
    for (const p of json.proofs)
      verifyInclusion(
        p.index,
        latest.size,
        Buffer.from(p.leafHash, "hex"),
        p.hashes.map((h: string) => Buffer.from(h, "hex")),
        latest.root,
      );
    const unknown = vigil(["audit", "explain", "Deployment/shop/api", "--env", "prod", "--log", location]);
    assert.equal(unknown.status, 1);
    assert.match(unknown.stderr, /no apply in prod recorded Deployment\/shop\/api/);
  });
}

test("exit codes: usage and unreadable input 2, a log that does not verify 1 (naming the entry), an unreachable database 3", async (t) => {
  const dir = tempDir(t);
  const location = join(dir, "log");
  const keyFile = join(dir, "audit.key");
  assert.equal(vigil(["audit", "init", "--log", location, "--key-file", keyFile]).status, 0);
  const log = await openAuditLog(location, { signingKeyFile: keyFile });
  await log.append([finding(0), finding(1), finding(2)]);
  await log.close();
  const pub = `${keyFile}.pub`;
  const cases: [string[], number, RegExp][] = [
    [["audit", "verify", "--log", location], 2, /--key is required/],
    [["audit", "verify", "--log", location, "--key", "nonsense"], 2, /neither a verifier key .* nor a file/],
    [["audit", "verify", "--log", join(dir, "none"), "--key", pub], 2, /no audit log here/],
    [
      ["audit", "verify", "--log", location, "--key", pub, "--checkpoint", join(dir, "missing")],
      2,
      /cannot read the saved checkpoint: ENOENT/,
    ],
    [["audit", "prove", "--log", location, "7"], 2, /entry 7: the log has entries 0 to 2/],
    [["audit", "prove", "--log", location, "--entry", "abc"], 2, /must be a SHA-256 leaf hash/],
    [["audit", "show", "--log", location, "--since", "yesterday"], 2, /--since "yesterday"/],
    [["audit", "explain", "deployment web", "--env", "prod", "--log", location], 2, /neither a resource .* nor an image reference/],
    [
      ["audit", "verify", "--log", "postgres://vigil:s3cret@127.0.0.1:1/audit", "--key", pub],
      3,
      /postgres:\/\/\*\*\*@127.0.0.1:1\/audit: cannot connect to PostgreSQL/,
    ],
  ];
  for (const [args, status, reason] of cases) {
    const r = vigil(args);
    assert.equal(r.status, status, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, reason);
    assert.doesNotMatch(r.stderr, /\n\s+at /, "no stack trace");
    assert.doesNotMatch(r.stderr, /s3cret/, "no password");
  }
  const otherKey = join(dir, "other.key");
  assert.equal(vigil(["audit", "init", "--log", join(dir, "other"), "--key-file", otherKey]).status, 0);
  const foreign = vigil(["audit", "verify", "--log", location, "--key", `${otherKey}.pub`]);
  assert.equal(foreign.status, 1);
  assert.match(foreign.stdout, /FAIL +audit +checkpoints .*the latest checkpoint: not signed by vigil-audit\//);
  const entries = readFileSync(join(location, "entries"));
  entries[entries.lastIndexOf("finding 1")] = "F".charCodeAt(0);
  writeFileSync(join(location, "entries"), entries);
  const broken = vigil(["audit", "verify", "--log", location, "--key", pub]);
  assert.equal(broken.status, 1);
  assert.match(broken.stdout, /FAIL +audit +entries .*entry 1: its bytes do not match the hash stored with them/);
  const shown = vigil(["audit", "show", "--log", location]);
  assert.equal(shown.status, 1);
  assert.match(shown.stderr, /entry 1: its bytes do not match their stored hash/);
});
