// Making claims: a person's approval or withdrawal (vigil approve), and an agent's deployment record
// (vigil record deployment, and the agent on a healthy deploy). People's claims and `vigil record
// deployment`'s are stored in a local repository under refs/vigil/, from where `git push` publishes
// them; the agent, which never writes Git, signs its records the same way and appends them to the
// audit log instead (src/agent/audit.ts).
import type { SigningKey } from "../sigstore/keys.ts";
import type { DetachedSigner } from "../git/signatures/sign.ts";
import { InputError } from "../core/errors.ts";
import { TreeWalker } from "../git/changes.ts";
import type { Repo } from "../git/repo.ts";
import { formatTime, type Claim, type Revision } from "../api/claims.ts";
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
export async function writeApproval(
  gitDir: string,
  claim: Extract<Claim, { type: "approval" | "withdrawal" }>,
  signer: DetachedSigner,
): Promise<Stored> {
  const envelope = serializeEnvelope(signByPerson(claim, signer));
  return { ...(await storeEnvelope(gitDir, claim, envelope)), envelope };
}

export interface DeploymentRecordClaim {
  environment: string;
  revision: Revision;
  /** The environment's agent key (its public half is the trust policy's environments[].agent.key). */
  key: SigningKey;
  deployedAt: Date;
  /** When the deployment was first seen healthy; the soak is counted from here. */
  healthyAt: Date;
}

export interface DeploymentRecordInput extends DeploymentRecordClaim {
  /** A local repository to store the record in; `git push <remote> 'refs/vigil/*:refs/vigil/*'` publishes it. */
  gitDir: string;
}

export interface SignedRecord {
  claim: Extract<Claim, { type: "deployment" }>;
  /** The DSSE envelope as DSSE's JSON: the bytes a ref stores, or the audit log's deployment record carries. */
  envelope: string;
}

/** Signs a record that `revision` was deployed to `environment` and is healthy; stores it nowhere. */
export function signDeploymentRecord(input: DeploymentRecordClaim): SignedRecord {
  if (input.healthyAt < input.deployedAt)
    throw new InputError(
      `a deployment cannot be healthy (${formatTime(input.healthyAt)}) before it was deployed (${formatTime(input.deployedAt)})`,
    );
  const claim = {
    type: "deployment" as const,
    revision: input.revision,
    environment: input.environment,
    deployedAt: input.deployedAt,
    at: input.healthyAt,
  };
  return { claim, envelope: serializeEnvelope(signByAgent(claim, input.key)) };
}

/** Signs a record that `revision` was deployed to `environment` and is healthy, and stores it in `gitDir`. */
export async function writeDeploymentRecord(input: DeploymentRecordInput): Promise<Stored> {
  const { claim, envelope } = signDeploymentRecord(input);
  return { ...(await storeEnvelope(input.gitDir, claim, envelope)), envelope };
}
