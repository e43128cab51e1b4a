// Benchmark (issue 7): the release verdict (revision gate, approvals, promotion) for N revisions of a
// signed history, each with 5 approvals from 5 approvers and a deployment record in staging, verified one
// after another as an agent deploying each in turn would (last deployed = the revision before). Time per
// revision once the repository is open; target < 5 ms.
//   node bench/approvals.ts [--revisions 1000] [--approvals 5]
// Approvals and records are signed in-process in the formats ssh-keygen -Y sign and the agent write
// (signing 5,000 approvals through ssh-keygen would only measure process starts); the first revision's
// verdict is checked to name every approval as counted, so they are what Vigil accepts.
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { ApprovalGate, openRelease } from "../src/approvals/index.ts";
import { encodeClaim } from "../src/approvals/claims.ts";
import type { Claim } from "../src/api/claims.ts";
import { serializeEnvelope, signByAgent } from "../src/approvals/envelopes.ts";
import { loadTrustPolicyFile } from "../src/trust/policy.ts";
import type { Check } from "../src/core/verdict.ts";
import { openRepo } from "../src/git/repo.ts";
import { preAuthEncoding } from "../src/sigstore/dsse.ts";
import { INTOTO_PAYLOAD_TYPE } from "../src/sigstore/intoto.ts";
import { generateSigningKey, publicKeyPem } from "../src/sigstore/keys.ts";
import { machine } from "./lib/measure.ts";
import { signedHistory, sshKeyPair, sshsig, writeObject } from "./lib/signed-history.ts";

const { values } = parseArgs({ options: { revisions: { type: "string", default: "1000" }, approvals: { type: "string", default: "5" } } });
const revisions = Number(values.revisions);
const perRevision = Number(values.approvals);
const root = resolve(import.meta.dirname, "..");
const cache = join(root, ".cache", "bench", "approvals");
const MINUTE = 60_000;
const now = new Date(Math.floor(Date.now() / 1000) * 1000);

console.error(`building or reusing a signed history of ${revisions} commits under ${cache}…`);
const history = signedHistory(cache, revisions);
const work = mkdtempSync(join(tmpdir(), "vigil-bench-approvals-"));
const gitDir = join(work, "repo.git");
execFileSync("git", ["clone", "-q", "--bare", history.dir, gitDir]);
const commits = execFileSync("git", ["--git-dir", gitDir, "log", "--reverse", "--format=%H %T", "main"], { encoding: "utf8" })
  .trim()
  .split("\n")
  .map((l) => {
    const [commit, tree] = l.split(" ");
    return { commit: commit!, tree: tree! };
  });

console.error(`signing ${revisions * perRevision} approvals and ${revisions} deployment records…`);
const approvers = Array.from({ length: perRevision }, (_, i) => ({ name: `approver${i}`, ...sshKeyPair(`approver${i}@example.com`) }));
const agent = generateSigningKey();
const refs: string[] = [];
const store = (ref: string, bytes: string) => refs.push(`create ${ref} ${writeObject(gitDir, "blob", Buffer.from(bytes)).toString("hex")}`);
commits.forEach((revision, i) => {
  for (const a of approvers) {
    const payload = encodeClaim({
      type: "approval",
      revision,
      environment: "prod",
      kind: "deploy",
      approver: a.name,
      at: new Date(now.getTime() - 60 * MINUTE),
    });
    const sig = sshsig(a.privateKey, a.publicBlob, preAuthEncoding(INTOTO_PAYLOAD_TYPE, payload), "vigil-approval");
    store(
      `refs/vigil/approvals/${revision.commit}/${a.name}`,
      serializeEnvelope({ payloadType: INTOTO_PAYLOAD_TYPE, payload, signatures: [{ keyid: "", sig: Buffer.from(sig) }] }),
    );
  }
  // Staging ran each tree for 15 minutes before the next: every soak of 10 minutes is over.
  const deployedAt = new Date(now.getTime() - (commits.length - i) * 15 * MINUTE);
  const record: Claim = { type: "deployment", revision, environment: "staging", deployedAt, at: deployedAt };
  store(`refs/vigil/deployments/staging/${revision.tree}/record`, serializeEnvelope(signByAgent(record, agent)));
});
execFileSync("git", ["--git-dir", gitDir, "update-ref", "--stdin"], { input: refs.join("\n") + "\n" });
execFileSync("git", ["--git-dir", gitDir, "repack", "-adq"]);
execFileSync("git", ["--git-dir", gitDir, "pack-refs", "--all"]);

const trust = join(work, "trust.yaml");
writeFileSync(
  trust,
  JSON.stringify({
    apiVersion: "vigil.dev/v1alpha1",
    kind: "TrustPolicy",
    allowedSigners: history.allowedSigners,
    signers: approvers.map((a) => ({ name: a.name, ssh: a.publicLine })),
    groups: { approvers: approvers.map((a) => a.name) },
    paths: [{ pattern: "**", owners: ["bench@example.com"] }],
    environments: [
      { name: "staging", agent: { key: publicKeyPem(agent.publicKey) } },
      {
        name: "prod",
        approvals: { required: perRevision, from: ["group:approvers"], excludeAuthors: true, maxAge: "7d" },
        promotion: { after: "staging", soak: "10m" },
      },
    ],
  }),
);

const opened = performance.now();
const repo = await openRepo(gitDir);
const rootPolicy = await loadTrustPolicyFile(trust);
const approvals = await ApprovalGate.open(repo, rootPolicy);
const openSeconds = (performance.now() - opened) / 1000;

async function verdict(i: number): Promise<Check[]> {
  // The approvals and promotion figure of issue 7: the secrets gate has its own benchmark (bench/secrets.ts).
  const release = await openRelease({
    repo,
    rootPolicy,
    environment: "prod",
    rev: commits[i]!.commit,
    ...(i > 0 && { from: commits[i - 1]!.commit }),
    approvals,
    now,
    secrets: false,
  });
  const checks: Check[] = [];
  for await (const c of release.checks()) checks.push(c);
  const failed = checks.filter((c) => c.status !== "pass");
  if (failed.length > 0) throw new Error(`revision ${i} did not pass: ${JSON.stringify(failed)}`);
  return checks;
}

console.error(`release verdicts for ${revisions} revisions…`);
const firstStarted = performance.now();
const first = await verdict(0);
const firstSeconds = (performance.now() - firstStarted) / 1000;
const counted = first.filter((c) => c.rule === "approval" && c.message.startsWith("counted: ")).length;
if (counted !== perRevision) throw new Error(`the first verdict counted ${counted} of ${perRevision} approvals`);
const started = performance.now();
for (let i = 1; i < commits.length; i++) await verdict(i);
const loopSeconds = (performance.now() - started) / 1000;
const msPerRevision = (loopSeconds / (commits.length - 1)) * 1000;

// The approval and promotion gate alone, on the same revisions.
const gateStarted = performance.now();
for (let i = 1; i < commits.length; i++) await approvals.checks("prod", commits[i]!.commit, commits[i - 1]!.commit, now);
const gateMs = (performance.now() - gateStarted) / (commits.length - 1);
repo.close();
rmSync(work, { recursive: true, force: true });

const result = {
  machine: machine(),
  revisions,
  approvalsPerRevision: perRevision,
  openSeconds,
  firstRevisionSeconds: firstSeconds,
  msPerRevision,
  approvalGateMsPerRevision: gateMs,
  target: "< 5 ms per revision",
};
console.log(JSON.stringify(result, null, 2));
const f = (x: number, d = 2) => x.toFixed(d);
console.error(`
| measure | value |
|---|---|
| open: repository, trust policy, approval gate | ${f(openSeconds * 1000, 0)} ms |
| first revision (lists ${revisions * perRevision} approval refs, verifies ${revisions} staging records) | ${f(firstSeconds * 1000, 0)} ms |
| **release verdict per revision** (revision gate + ${perRevision} approvals + promotion), ${revisions - 1} revisions | **${f(msPerRevision)} ms** (target < 5 ms) |
| approval and promotion gate alone, per revision | ${f(gateMs)} ms |
`);
