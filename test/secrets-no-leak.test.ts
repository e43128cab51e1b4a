// No secret reaches any output channel: every output the scanner and the SOPS decryption have (tables,
// JSON verdicts, SARIF, stderr, error messages, the checks the revision gate and the audit log receive)
// is searched for every planted secret and for any 12-character piece of one.
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { generateX25519Identity, identityToRecipient } from "age-encryption";
import { openRepo } from "../src/git/repo.ts";
import { secretChecks } from "../src/secrets/checks.ts";
import { decryptSopsManifest, sopsKeysFromSecretData } from "../src/secrets/sops.ts";
import { TestRepo } from "./helpers/git-fixture.ts";
import { cryptoRandom, plantedLine, tokenKinds } from "./helpers/secret-tokens.ts";
import { requireTools, run, tempDir, vigil } from "./helpers/tools.ts";

/** Fails when `output` holds a secret or any 12-character piece of one. */
function assertNoSecret(output: string, secrets: readonly string[], channel: string): void {
  for (const secret of secrets) {
    for (let i = 0; i + 12 <= secret.length; i += 4) {
      assert.ok(!output.includes(secret.slice(i, i + 12)), `${channel} shows part of a secret: …${secret.slice(i, i + 4)}…`);
    }
  }
}

test("scan outputs in every format and mode name the fingerprint, never the secret", async (t) => {
  if (!requireTools(t, ["git"])) return;
  const repo = new TestRepo(tempDir(t));
  const planted = tokenKinds.map((k) => plantedLine(k, cryptoRandom));
  const secrets = planted.map((p) => p.secret);
  const base = repo.commit({ "README.md": "config\n" }, null, "base");
  planted.forEach((p, i) => repo.commit({ [`apps/app${i}.yaml`]: `kind: ConfigMap\ndata:\n  ${p.line}\n` }, null, `app ${i}`));
  // The working tree holds them too, plus one uncommitted.
  const extra = plantedLine(tokenKinds[0]!, cryptoRandom);
  writeFileSync(join(repo.dir, "local.env"), extra.line + "\n");
  secrets.push(extra.secret);
  let found = 0;
  for (const mode of [["--all-history"], ["--from", base, "--to", "HEAD"], []]) {
    for (const format of [[], ["--json"], ["-o", "sarif"], ["-o", "table"]]) {
      const r = vigil(["secrets", "scan", "--repo", repo.dir, ...mode, ...format]);
      assert.equal(r.status, 1, `${mode.join(" ")} ${format.join(" ")}: ${r.stderr}`);
      assertNoSecret(r.stdout + r.stderr, secrets, `vigil secrets scan ${mode.join(" ")} ${format.join(" ")}`);
      found += r.stdout.split("fingerprint").length - 1;
    }
  }
  assert.ok(found >= 3 * 4 * tokenKinds.length, "every finding was printed, by fingerprint");
  // What the revision gate (and through it the audit log and Events) receives.
  const opened = await openRepo(repo.dir);
  t.after(() => opened.close());
  const checks = await secretChecks(opened, { from: base, to: "HEAD" });
  assert.equal(checks.filter((c) => c.status === "fail").length, tokenKinds.length);
  assertNoSecret(JSON.stringify(checks), secrets, "revision gate checks");
});

test("SOPS: refusals and key errors never show plaintext or key material", async (t) => {
  if (!requireTools(t, ["sops"])) return;
  const dir = tempDir(t);
  const identity = await generateX25519Identity();
  const wrong = await generateX25519Identity();
  const plaintext = "Zq8vN3mK7pL2xR9tW4yB6cD1";
  const file = join(dir, "s.yaml");
  writeFileSync(file, `kind: Secret\nstringData:\n  password: ${plaintext}\n  user: svc-payments-admin\n`);
  const encrypted = run("sops", ["--encrypt", "--age", await identityToRecipient(identity), file], {
    env: { SOPS_AGE_KEY_FILE: "/nonexistent" },
  });
  const outputs: string[] = [];
  const capture = async (p: Promise<unknown>) =>
    p.then(
      () => assert.fail("expected a refusal"),
      (e: Error) => outputs.push(`${e.message}\n${e.stack}`),
    );
  await capture(decryptSopsManifest(encrypted, { age: [wrong] }, "s.yaml"));
  await capture(decryptSopsManifest("extra: x\n" + encrypted, { age: [identity] }, "s.yaml"));
  // One character of the ciphertext changed (to another one, whatever it was).
  const tampered = encrypted.replace(
    /(password: ENC\[AES256_GCM,data:)(.)/,
    (_, head: string, c: string) => head + (c === "A" ? "B" : "A"),
  );
  assert.notEqual(tampered, encrypted);
  await capture(decryptSopsManifest(tampered, { age: [identity] }, "s.yaml"));
  try {
    sopsKeysFromSecretData(
      { "age.agekey": Buffer.from(`${identity}\nAGE-SECRET-KEY-1 broken ${identity.slice(20)}`).toString("base64") },
      "vigil-system/sops",
    );
  } catch (e) {
    outputs.push((e as Error).message);
  }
  assert.equal(outputs.length, 4);
  // The identities without their public "AGE-SECRET-KEY-1" prefix, which messages name as the expected form.
  assertNoSecret(outputs.join("\n"), [plaintext, "svc-payments-admin", identity.slice(16), wrong.slice(16)], "SOPS errors");
});
