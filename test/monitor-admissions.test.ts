// Admissions read from the gates' passing signature checks, in each form the revision gate
// (src/git/signatures: ssh, openpgp, x509) and the artifact gate (keys, certificate identities, named
// signers) write them; the agent test covers ssh and key signatures end to end on real repositories
// and images. A check that cannot be read is returned as unread, never dropped silently.
import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { test } from "node:test";
import { check } from "../src/core/verdict.ts";
import { describeKey } from "../src/sigstore/keys.ts";
import { admissionsFromChecks } from "../src/monitor/admissions.ts";
import { admissionKey } from "../src/monitor/trust.ts";

const commit = "c".repeat(40);
const digest = `sha256:${"d".repeat(64)}`;
const sshFingerprint = "SHA256:" + "A".repeat(43);

test("commit signatures of every kind the revision gate accepts become admissions in the trust policy's key forms", () => {
  const { admissions, unread } = admissionsFromChecks([
    check({
      gate: "revision",
      rule: "commit-signature",
      status: "pass",
      subject: commit,
      message: `signed by alice (ssh-ed25519 ${sshFingerprint}; valid at 2026-12-01T00:00:00.000Z, first seen in the audit log)`,
    }),
    check({
      gate: "revision",
      rule: "commit-signature",
      status: "pass",
      subject: "e".repeat(40),
      message:
        "signed by bob (openpgp 0123456789ABCDEF0123456789ABCDEF01234567 (eddsa ed25519); valid at 2026-12-01T00:00:00.000Z, commit time)",
    }),
    check({
      gate: "revision",
      rule: "commit-signature",
      status: "pass",
      subject: "f".repeat(40),
      message:
        "merge signed by forge key forge (x509 carol@example.com (issuer https://accounts.example.com); valid at 2026-12-01T00:00:00.000Z, tlog)",
    }),
    check({ gate: "revision", rule: "commit-signature", status: "fail", subject: "0".repeat(40), message: "is not signed" }),
  ]);
  assert.deepEqual(unread, []);
  assert.deepEqual(admissions, [
    { kind: "commit", subject: commit, signer: "alice", key: admissionKey.ssh(sshFingerprint) },
    { kind: "commit", subject: "e".repeat(40), signer: "bob", key: admissionKey.openpgp("0123456789ABCDEF0123456789ABCDEF01234567") },
    {
      kind: "commit",
      subject: "f".repeat(40),
      signer: "forge",
      key: admissionKey.sigstore("carol@example.com", "https://accounts.example.com"),
    },
  ]);
});

test("image signatures by keys, certificate identities and named signers become admissions of the pinned digest; unsigned images admit nothing", () => {
  const { publicKey } = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
  const pem = publicKey.export({ type: "spki", format: "pem" }).toString();
  const { admissions, unread } = admissionsFromChecks([
    check({
      gate: "artifact",
      rule: "image-signature",
      status: "pass",
      subject: "Deployment/shop/web container web: r/app:1",
      message: `signed by ${describeKey(publicKey)}, ci (dave@example.com (issuer https://token.actions.example.com)); attested https://cyclonedx.org/bom (${describeKey(publicKey)}); rule r/** (trust.yaml:3 images[0]); pinned to ${digest}`,
    }),
    check({
      gate: "artifact",
      rule: "image-signature",
      status: "pass",
      subject: "Deployment/shop/db container db: r/db:1",
      message: `runs unsigned, as the rule for r/db (trust.yaml:9) allows; pinned to ${digest}`,
    }),
    check({
      gate: "artifact",
      rule: "image-signature",
      status: "pass",
      subject: "Deployment/shop/odd container odd: r/odd:1",
      message: "signed by something unexpected; pinned nowhere",
    }),
  ]);
  assert.deepEqual(admissions, [
    { kind: "image", subject: digest, signer: "key", key: admissionKey.pem(pem) },
    {
      kind: "image",
      subject: digest,
      signer: "dave@example.com",
      key: admissionKey.sigstore("dave@example.com", "https://token.actions.example.com"),
    },
  ]);
  assert.equal(unread.length, 1, "a message in no known form is reported, not dropped");
  assert.match(unread[0]!.subject, /odd/);
});
