// A config repository with approvers and a staging agent, for the approvals and promotion tests: real
// ssh-keygen keys for people, a cosign key pair (as vigil generate-key-pair makes it) for the agent.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { encryptPrivateKey, generateSigningKey, publicKeyPem, type SigningKey } from "../../src/sigstore/keys.ts";
import { SshSigner, TestRepo, writePolicy } from "./git-fixture.ts";
import { tempDir, vigil } from "./tools.ts";

export interface AgentKey {
  key: SigningKey;
  file: string;
  pem: string;
}

export function agentKey(dir: string, name: string): AgentKey {
  const key = generateSigningKey();
  const file = join(dir, `${name}.key`);
  writeFileSync(file, encryptPrivateKey(key.privateKey, ""));
  return { key, file, pem: publicKeyPem(key.publicKey) };
}

export interface ApprovalsFixture {
  root: string;
  repo: TestRepo;
  trust: string;
  /** alice, bob and carol approve prod; dave approves with two keys; erin is trusted but approves nothing. */
  alice: SshSigner;
  bob: SshSigner;
  carol: SshSigner;
  dave: SshSigner;
  dave2: SshSigner;
  erin: SshSigner;
  mallory: SshSigner;
  staging: AgentKey;
  /** An agent key the policy does not know. */
  rogue: AgentKey;
  approve(signer: SshSigner, rev: string, ...args: string[]): ReturnType<typeof vigil>;
  record(rev: string, ...args: string[]): ReturnType<typeof vigil>;
  release(rev: string, ...args: string[]): ReturnType<typeof vigil>;
}

/** prod takes 2 approvals from group:platform (authors excluded, 7 days at most), after 10 minutes in staging. */
export function approvalsFixture(t: { after(fn: () => void): void }, prod: Record<string, unknown> = {}): ApprovalsFixture {
  const root = tempDir(t, "vigil-approvals-");
  const [alice, bob, carol, dave, erin, mallory] = ["alice", "bob", "carol", "dave", "erin", "mallory"].map((n) => new SshSigner(root, n));
  const dave2 = new SshSigner(root, "dave", "ecdsa");
  const staging = agentKey(root, "staging-agent");
  const rogue = agentKey(root, "rogue-agent");
  const trust = writePolicy(join(root, "vigil.trust.yaml"), {
    signers: [
      alice!.policyEntry,
      bob!.policyEntry,
      carol!.policyEntry,
      { name: "dave", ssh: [dave!.publicKey, dave2.publicKey] },
      erin!.policyEntry,
    ],
    groups: { platform: ["alice", "bob", "carol", "dave"] },
    paths: [{ pattern: "**", owners: ["alice", "bob", "carol", "dave", "erin"] }],
    environments: [
      { name: "staging", branch: "main", path: "envs/staging", agent: { key: staging.pem } },
      {
        name: "prod",
        branch: "main",
        path: "envs/prod",
        approvals: { required: 2, from: ["group:platform"], excludeAuthors: true, maxAge: "7d" },
        promotion: { after: "staging", soak: "10m" },
        ...prod,
      },
    ],
  });
  const repo = new TestRepo(join(root, "repo"));
  const env = { COSIGN_PASSWORD: "" };
  return {
    root,
    repo,
    trust,
    alice: alice!,
    bob: bob!,
    carol: carol!,
    dave: dave!,
    dave2,
    erin: erin!,
    mallory: mallory!,
    staging,
    rogue,
    approve: (signer, rev, ...args) =>
      vigil(["approve", "--repo", repo.dir, "--env", "prod", "--rev", rev, "--key", signer.keyFile, "--json", ...args]),
    record: (rev, ...args) =>
      vigil(["record", "deployment", "--repo", repo.dir, "--env", "staging", "--rev", rev, "--key", staging.file, "--json", ...args], {
        env,
      }),
    release: (rev, ...args) =>
      vigil(["verify", "release", "--repo", repo.dir, "--trust", trust, "--env", "prod", "--rev", rev, "--json", ...args]),
  };
}

/** A UTC time `minutes` from now, as claims and --healthy-at spell it. */
export function minutesFromNow(minutes: number): string {
  return new Date(Math.floor(Date.now() / 1000) * 1000 + minutes * 60_000).toISOString().replace(/\.\d{3}Z$/, "Z");
}
