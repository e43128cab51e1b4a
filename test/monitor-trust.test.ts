// The trust trigger: a key revoked or removed from the trust policy, or a signer no longer in it, flags
// every deployed commit and image digest it admitted, on each workload that runs it; trusting the key
// again closes the findings. Keys are real: ssh-keygen's and a P-256 key as cosign makes them.
import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { parseTrustPolicy } from "../src/trust/policy.ts";
import { admissionKey, type Admission } from "../src/monitor/trust.ts";
import { digestOf, openMonitor, sboms, workloads } from "./helpers/monitor-fixture.ts";
import { requireTools, run, tempDir } from "./helpers/tools.ts";

function sshKey(dir: string, name: string): { line: string; fingerprint: string } {
  const file = join(dir, name);
  run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", `${name}@example.com`, "-f", file]);
  const fingerprint = run("ssh-keygen", ["-l", "-E", "sha256", "-f", `${file}.pub`]).split(" ")[1]!;
  return { line: readFileSync(`${file}.pub`, "utf8").trim(), fingerprint };
}

function policy(signers: { name: string; ssh: string }[], imageKey: string | undefined) {
  const doc = [
    "apiVersion: vigil.dev/v1alpha1",
    "kind: TrustPolicy",
    "signers:",
    ...signers.map((s) => `  - { name: ${s.name}, ssh: "${s.ssh}" }`),
    "images:",
    `  - pattern: "registry.example.com/team/**"`,
    imageKey ? `    signers: [{ key: ${JSON.stringify(imageKey)} }]` : "    allowUnsigned: true",
    "",
  ].join("\n");
  return parseTrustPolicy(doc, "trust.yaml", () => "");
}

test("a removed signer, a revoked commit key and a removed image key each flag what they admitted; trusting again closes them", async (t) => {
  if (!requireTools(t, ["ssh-keygen"])) return;
  const dir = tempDir(t);
  const alice = sshKey(dir, "alice");
  const bob = sshKey(dir, "bob");
  const bobNewKey = sshKey(dir, "bob2");
  const imageKey = generateKeyPairSync("ec", { namedCurve: "P-256" }).publicKey.export({ type: "spki", format: "pem" }).toString();
  const revision = "c".repeat(40);
  const admissions: Admission[] = [
    { kind: "commit", subject: "1".repeat(40), signer: "alice", key: admissionKey.ssh(alice.fingerprint) },
    { kind: "commit", subject: revision, signer: "bob", key: admissionKey.ssh(bob.fingerprint) },
    { kind: "image", subject: digestOf("web:1"), signer: "release key", key: admissionKey.pem(imageKey) },
  ];
  const f = await openMonitor(dir);
  t.after(() => f.close());
  const both = await policy(
    [
      { name: "alice", ssh: alice.line },
      { name: "bob", ssh: bob.line },
    ],
    imageKey,
  );
  assert.deepEqual((await f.monitor.setTrustPolicy(both)).opened, []);
  const deployed = await f.monitor.recordDeployment("prod", workloads("shop", { web: ["web:1"], api: ["api:1"] }), {
    revision,
    verdict: "pass",
    sbomFor: sboms({}),
    admissions,
  });
  assert.deepEqual(deployed.opened, [], "everything was admitted by keys the policy trusts");

  const bobRekeyed = await f.monitor.setTrustPolicy(
    await policy(
      [
        { name: "alice", ssh: alice.line },
        { name: "bob", ssh: bobNewKey.line },
      ],
      imageKey,
    ),
  );
  assert.deepEqual(
    bobRekeyed.opened.map((x) => `${x.workload} ${x.subject} ${x.rule}`),
    [`Deployment shop/api ${revision} ssh ${bob.fingerprint}`, `Deployment shop/web ${revision} ssh ${bob.fingerprint}`],
  );
  assert.match(bobRekeyed.opened[0]!.action, /admitted by bob \(ssh SHA256:.*\), which the trust policy no longer trusts/);
  assert.equal(bobRekeyed.opened[0]!.type, "untrusted-key");

  const noImageKey = await f.monitor.setTrustPolicy(
    await policy(
      [
        { name: "alice", ssh: alice.line },
        { name: "bob", ssh: bobNewKey.line },
      ],
      undefined,
    ),
  );
  assert.deepEqual(
    noImageKey.opened.map((x) => `${x.workload} ${x.image}`),
    [`Deployment shop/web registry.example.com/team/web:1@${digestOf("web:1")}`],
  );
  assert.deepEqual(noImageKey.closed, []);

  // alice's key moved to another name: the commit she signed was admitted by a signer the policy no longer names.
  const renamed = await f.monitor.setTrustPolicy(
    await policy(
      [
        { name: "alice2", ssh: alice.line },
        { name: "bob", ssh: bob.line },
      ],
      imageKey,
    ),
  );
  assert.deepEqual(renamed.opened.map((x) => `${x.workload} ${x.subject}`).sort(), [
    `Deployment shop/api ${"1".repeat(40)}`,
    `Deployment shop/web ${"1".repeat(40)}`,
  ]);
  assert.equal(renamed.closed.length, 3, "bob's old key and the image key are trusted again");

  const restored = await f.monitor.setTrustPolicy(both);
  assert.equal(restored.closed.length, 2);
  assert.deepEqual(f.monitor.openFindings(), []);
});
