// Making claims: a person's approval or withdrawal (vigil approve), and an agent's deployment record
// (vigil record deployment, and the agent on a healthy deploy). Each is signed and stored in a local
// repository under refs/vigil/, from where `git push` publishes it.
import type { SigningKey } from "../sigstore/keys.ts";
import type { DetachedSigner } from "../git/signatures/sign.ts";
import { InputError } from "../core/errors.ts";
import { TreeWalker } from "../git/changes.ts";
import type { Repo } from "../git/repo.ts";
import { formatTime, type Claim, type Revision } from "./claims.ts";
import { serializeEnvelope, signByAgent, signByPerson } from "./envelopes.ts";
import { storeEnvelope } from "./store.ts";

/** The commit and its tree, as claims name them. */
export async function revisionOf(repo: Repo, commit: string): Promise<Revision> {
  return { commit, tree: await new TreeWalker(repo.objects).commitTree(commit) };
}

export interface Stored {
  ref: string;
  blob: string;
  /** The DSSE envelope as stored (JSON), for logs and the audit record. */
  envelope: string;
}

/** Signs an approval or a withdrawal with a person's key and stores it in `gitDir`. */
export async function writeApproval(gitDir: string, claim: Extract<Claim, { type: "approval" | "withdrawal" }>, signer: DetachedSigner): Promise<Stored> {
  const envelope = signByPerson(claim, signer);
  return { ...(await storeEnvelope(gitDir, claim, envelope)), envelope: serializeEnvelope(envelope) };
}

export interface DeploymentRecordInput {
  /** A local repository to store the record in; `git push <remote> 'refs/vigil/*:refs/vigil/*'` publishes it. */
  gitDir: string;
  environment: string;
  revision: Revision;
  /** The environment's agent key (its public half is the trust policy's environments[].agent.key). */
  key: SigningKey;
  deployedAt: Date;
  /** When the deployment was first seen healthy; the soak is counted from here. */
  healthyAt: Date;
}

/** Signs a record that `revision` was deployed to `environment` and is healthy, and stores it. */
export async function writeDeploymentRecord(input: DeploymentRecordInput): Promise<Stored> {
  if (input.healthyAt < input.deployedAt) throw new InputError(`a deployment cannot be healthy (${formatTime(input.healthyAt)}) before it was deployed (${formatTime(input.deployedAt)})`);
  const claim: Claim = { type: "deployment", revision: input.revision, environment: input.environment, deployedAt: input.deployedAt, at: input.healthyAt };
  const envelope = signByAgent(claim, input.key);
  return { ...(await storeEnvelope(input.gitDir, claim, envelope)), envelope: serializeEnvelope(envelope) };
}
