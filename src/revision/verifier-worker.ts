// One verification thread of the pool (verifier-pool.ts), loaded by the pool's JavaScript entry once the
// thread's compile cache is on, so a worker starts from compiled code as the CLI does.
import { parentPort } from "node:worker_threads";
import type { TrustPolicy } from "../trust/policy.ts";
import type { Keyring } from "../trust/keyring.ts";
import type { JobMessage, PolicyMessage, ResultMessage } from "./verifier-pool.ts";
import type { SignatureResult } from "../git/signatures/result.ts";

const { buildKeyring } = await import("../trust/keyring.ts");
const { signatureFormat, verifyGitSignature } = await import("../git/signatures/verify.ts");
const { verifySshSignature } = await import("../git/signatures/ssh-verify.ts");

const keyrings = new Map<string, Promise<Keyring>>();
/** Keyrings already built: an SSH signature (nearly every job) is then verified without a wait. */
const built = new Map<string, Keyring>();

parentPort!.on("message", (msg: PolicyMessage | JobMessage) => {
  if (msg.kind === "policy") {
    const policy: TrustPolicy = {
      source: msg.source,
      doc: msg.doc,
      ...(msg.allowedSigners ? { allowedSigners: msg.allowedSigners } : {}),
      where: (path) => `${msg.source} ${path.join(".")}`,
    };
    const ring = buildKeyring(policy);
    keyrings.set(msg.key, ring);
    void ring.then(
      (r) => built.set(msg.key, r),
      () => {},
    );
    return;
  }
  void verifyBatch(msg);
});

/**
 * Verifies a batch and posts its results back as one message: each job's id, and which of the batch's
 * distinct results is its own. A range's accepted signatures are mostly one signer's with one key at one
 * time, so they share a result, which is cloned across threads once instead of once a commit.
 */
async function verifyBatch(msg: JobMessage): Promise<void> {
  const { jobs, payloads } = msg;
  const ids = new Int32Array(jobs.length);
  const which = new Int32Array(jobs.length);
  const results: SignatureResult[] = [];
  const shared = new Map<string, number>();
  for (let i = 0; i < jobs.length; i++) {
    const job = jobs[i]!;
    const payload = Buffer.from(payloads.buffer, payloads.byteOffset + job.payloadAt, job.payloadLength);
    const at = new Date(job.at);
    const ring = built.get(job.key);
    const result =
      ring && signatureFormat(job.armored) === "ssh"
        ? verifySshSignature(job.armored, payload, ring.ssh, { at, source: job.atSource }, "git")
        : await verifyGitSignature(ring ?? (await keyrings.get(job.key)!), job.armored, payload, at, "git", job.atSource);
    ids[i] = job.id;
    if (!result.ok) {
      which[i] = results.push(result) - 1;
      continue;
    }
    const key = `${result.identity}\n${result.key}\n${result.canonicalKey}\n${result.time.getTime()}\n${result.timeSource}`;
    let index = shared.get(key);
    if (index === undefined) shared.set(key, (index = results.push(result) - 1));
    which[i] = index;
  }
  const reply: ResultMessage = { ids, which, results };
  parentPort!.postMessage(reply, [ids.buffer, which.buffer]);
}
