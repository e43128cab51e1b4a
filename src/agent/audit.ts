// The agent's side of the audit log (docs/audit.md). After every reconcile that is not a dry run it
// appends one batch: the reconcile (every gate's checks, the commits it verified), the claims under
// refs/vigil/ it saw for the first time, what a sync wrote, pruned and found drifted, and — on a healthy
// deploy of a tree the environment has no record of yet — a deployment record signed with the agent's
// key. The agent reads Git and never writes it, so the log is where its deployment records go.
//
// Before every reconcile the log is opened again and verified (src/audit/evidence.ts) against the last
// checkpoint the agent verified, kept outside the log (a ConfigMap): a log cut, rolled back or edited
// blocks every reconcile with the reason, in a running agent as in one just started. Only then do the
// gates read evidence from it: first sightings, claims seen, deployment records and applies.
//
// A failed append is never silent: the reconcile gets a failing "audit" check, and the next use of the
// log opens it again (a store refuses appends after a half-written batch until it is reopened, and a
// dropped database connection stays dropped). The loop goes on.
import { redactDeep } from "../core/redact.ts";
import { ExitCode, InputError, VigilError } from "../core/errors.ts";
import { check, type Check } from "../core/verdict.ts";
import type { TrustPolicy } from "../trust/policy.ts";
import { readInputText } from "../core/input-file.ts";
import { openEnvelope, revisionOf, signDeploymentRecord, verifyAgentSignature, type SeenClaim } from "../approvals/index.ts";
import { applyRecords, claimsRecord, deploymentRecord, reconcileRecord } from "./records.ts";
import { openAuditLog, type AuditLog, type AuditRecord } from "../audit/index.ts";
import { claimedSize } from "../audit/checkpoint.ts";
import { LogFollower, type Evidence } from "../audit/evidence.ts";
import { loadSigningKey } from "../audit/log.ts";
import { IntegrityError } from "../audit/proof.ts";
import { redactUrl } from "../audit/store.ts";
import { KubeApiError, type Cluster } from "../cluster/index.ts";
import { writeStatusObject } from "../cluster/status.ts";
import type { SyncResult } from "../cluster/sync.ts";
import type { Repo } from "../git/repo.ts";
import type { SourcedObject } from "../manifest/manifests.ts";
import { loadPrivateKeyFile, loadPublicKey, type SigningKey } from "../sigstore/keys.ts";
import type { AgentConfig } from "./config.ts";
import type { EnvironmentState } from "./deploy.ts";
import type { ReconcileResult } from "./reconcile.ts";
import type { KindDeclaration } from "../manifest/workloads.ts";

/** What one reconcile decided and did, as the audit log records it. */
export interface Decision {
  environment: string;
  /** The repository as shown to people (credentials redacted). */
  repo: string;
  ref?: string;
  /** The environment's state before the reconcile: the range checked starts at its lastApplied. */
  before: EnvironmentState;
  result: ReconcileResult;
  /** The sync, when one ran (not in a dry run, not when the set was refused before any write), and the pinned set it applied. */
  sync?: { result: SyncResult; objects: readonly SourcedObject[]; kinds?: readonly KindDeclaration[] };
  /** The repository the revision was read from: the deployment record names the revision's tree. */
  source?: Repo;
  /** Claims the gates read from refs/vigil/: those new to the log are recorded (first sightings). */
  claims?: readonly SeenClaim[];
}

/** The outcome of recording: the check the reconcile's verdict gets, and whether the log was unreachable. */
export interface Recorded {
  check: Check;
  unavailable: boolean;
  error?: unknown;
}

/** Where the agent keeps the last checkpoint it verified, outside the log: it must survive a restart. */
export interface CheckpointKeeper {
  /** For messages: "ConfigMap vigil-system/vigil-audit-checkpoint". */
  readonly where: string;
  read(): Promise<string | undefined>;
  write(note: string): Promise<void>;
}

/** What a reconcile may rely on from the log, or the failing check that blocks it. */
export type EvidenceOutcome = { evidence: Evidence; check?: undefined } | { evidence?: undefined; check: Check; unavailable: boolean };

export class AgentAudit {
  /** The log's location as messages show it (a database URL's password blanked). */
  readonly location: string;
  readonly #open: () => Promise<AuditLog>;
  readonly #key: SigningKey | undefined;
  readonly #keeper: CheckpointKeeper | undefined;
  readonly #dryRun: boolean;
  #current: AuditLog | undefined;
  /** Evidence from verified entries only; once the log fails verification, it stays failed. */
  readonly #follower: LogFollower;
  /** The kept checkpoint: read once, then what this agent last wrote there. */
  #kept: { note: string; size: number } | undefined;
  #keptRead = false;
  /** Opening, verifying and appending run one at a time: they share one log and one follower. */
  #serial: Promise<unknown> = Promise.resolve();

  private constructor(
    location: string,
    open: () => Promise<AuditLog>,
    key: SigningKey | undefined,
    keeper: CheckpointKeeper | undefined,
    dryRun: boolean,
  ) {
    this.location = redactUrl(location);
    this.#open = open;
    this.#key = key;
    this.#keeper = keeper;
    this.#dryRun = dryRun;
    this.#follower = new LogFollower(this.location);
  }

  /**
   * The configured log, opened (and created when missing) for appending; in a dry run, for reading
   * only (it must exist). Undefined when the configuration names none. Bad input — an unreadable key,
   * a deployment record key the trust policy does not name — is an error here, before any reconcile.
   * `keeper` keeps the last verified checkpoint outside the log.
   */
  static async open(
    config: AgentConfig,
    trust: TrustPolicy,
    options: { dryRun?: boolean; keeper?: CheckpointKeeper } = {},
  ): Promise<AgentAudit | undefined> {
    const { audit, deploymentRecords } = config.doc;
    if (!audit) return undefined;
    const key = deploymentRecords && loadPrivateKeyFile(deploymentRecords.keyFile, keyPassword(deploymentRecords.passwordFile));
    if (key) checkAgentKey(key, config, trust);
    const open = options.dryRun
      ? () => openAuditLog(audit.log, { verifierKey: loadSigningKey(audit.signingKeyFile).verifier.key })
      : () => openAuditLog(audit.log, { signingKeyFile: audit.signingKeyFile });
    const trail = new AgentAudit(audit.log, open, key, options.keeper, options.dryRun === true);
    trail.#current = await open();
    return trail;
  }

  /** Whether healthy deploys are recorded (a key to sign them is configured). */
  get signsDeployments(): boolean {
    return this.#key !== undefined;
  }

  /**
   * Opens the log again (a store replaced or cut under a running agent is seen as a new agent would see
   * it), verifies it against the kept checkpoint and indexes its new entries: what the reconcile's gates
   * may rely on, or the failing check that blocks it.
   */
  evidence(): Promise<EvidenceOutcome> {
    return this.#run(async () => {
      try {
        await this.#reopen();
        await this.#catchUp();
        return { evidence: this.#follower.evidence };
      } catch (e) {
        const message = e instanceof Error ? e.message : String(e);
        const unavailable = e instanceof VigilError && e.exitCode === ExitCode.unavailable;
        return {
          unavailable,
          check: check({
            gate: "audit",
            rule: "evidence",
            status: "fail",
            subject: this.location,
            message: unavailable
              ? `the audit log cannot be read: ${message}; approvals, promotion and first sightings come from it, so nothing is deployed until it can be`
              : `the audit log does not verify: ${message}; nothing is deployed on evidence that may have been deleted, rewound or edited: restore the log from a copy that extends the checkpoint kept in ${this.#keeper?.where ?? "this agent's memory"}, or, if the log was replaced on purpose, delete that checkpoint so the agent trusts the new log from its start`,
            code: unavailable ? "audit-log-unavailable" : "audit-log-invalid",
          }),
        };
      }
    });
  }

  /** Appends the decision's records; the check says where they went, or fails saying why they could not. */
  record(d: Decision): Promise<Recorded> {
    return this.#run(async () => {
      try {
        const records = (await this.#records(d)).map(redactDeep);
        const log = this.#current ?? (this.#current = await this.#open());
        const appended = await log.append(records);
        await this.#catchUp();
        const first = appended[0]!.index;
        const entries = appended.length === 1 ? `entry ${first}` : `entries ${first} to ${first + appended.length - 1}`;
        const deployment = records.find((r) => r.kind === "deployment");
        const signed = deployment
          ? `, with a deployment record of tree ${(deployment.payload as { revision: { tree: string } }).revision.tree.slice(0, 12)} signed by this agent's key`
          : "";
        return {
          check: check({
            gate: "audit",
            rule: "recorded",
            status: "pass",
            subject: this.location,
            message: `${entries}${signed}`,
            code: "recorded",
          }),
          unavailable: false,
        };
      } catch (e) {
        await this.#drop();
        const message = e instanceof Error ? e.message : String(e);
        return {
          check: check({
            gate: "audit",
            rule: "recorded",
            status: "fail",
            subject: this.location,
            message: `this reconcile could not be recorded in the audit log: ${message}; every decision must be recorded: make the log writable again (vigil audit verify --log ${this.location}); the next reconcile opens it again`,
            code: "not-recorded",
          }),
          unavailable: e instanceof VigilError && e.exitCode === ExitCode.unavailable,
          error: e,
        };
      }
    });
  }

  /**
   * Appends records a person's decision made (vigil agent adopt), after verifying the log against the
   * kept checkpoint as a reconcile does; the entries they went to. Throws when they could not be.
   */
  appendRecords(records: AuditRecord[]): Promise<string> {
    return this.#run(async () => {
      try {
        await this.#reopen();
        await this.#catchUp();
        const appended = await this.#current!.append(records.map(redactDeep));
        await this.#catchUp();
        const first = appended[0]!.index;
        return appended.length === 1
          ? `${this.location} entry ${first}`
          : `${this.location} entries ${first} to ${first + appended.length - 1}`;
      } catch (e) {
        await this.#drop();
        throw e;
      }
    });
  }

  async close(): Promise<void> {
    await this.#run(() => this.#drop());
  }

  /** The reconcile, what it applied, the claims it saw first, and a healthy deploy's signed record. */
  async #records(d: Decision): Promise<AuditRecord[]> {
    const tree = d.source && d.result.revision ? (await revisionOf(d.source, d.result.revision)).tree : undefined;
    const evidence = this.#follower.evidence;
    const claims = [...new Map((d.claims ?? []).filter((c) => !evidence.hasClaim(c.digest)).map((c) => [c.digest, c])).values()];
    const records: AuditRecord[] = [
      reconcileRecord({
        environment: d.environment,
        repo: d.repo,
        ...(d.ref && { ref: d.ref }),
        ...(d.before.lastApplied && { from: d.before.lastApplied }),
        ...(d.result.revision && { revision: d.result.revision }),
        verdict: d.result.verdict,
        applied: d.result.applied,
      }),
      ...(claims.length > 0 ? [claimsRecord({ environment: d.environment, claims })] : []),
      ...(d.sync && d.result.revision
        ? applyRecords({
            environment: d.environment,
            revision: d.result.revision,
            ...(tree && { tree }),
            objects: d.sync.objects,
            ...(d.sync.kinds && { kinds: d.sync.kinds }),
            sync: d.sync.result,
          })
        : []),
    ];
    const deployment = tree && this.#deploymentDue(d, tree);
    if (deployment) records.push(deployment);
    return records;
  }

  /**
   * The signed record of a healthy deploy, unless the environment's latest record by this agent's key
   * is already of this tree: one record per time a tree starts running, not one per interval. A tree
   * deployed again after another (A, B, A) gets a new record, since B's ended A's earlier run.
   */
  #deploymentDue(d: Decision, tree: string): AuditRecord | undefined {
    const { result } = d;
    if (!this.#key || !result.revision || !result.applied || result.health !== "healthy" || result.verdict.verdict !== "pass")
      return undefined;
    if (this.#latestTree(d.environment) === tree) return undefined;
    // Claims are to the second; healthy from now, deployed when this revision was first applied.
    const now = new Date(Math.floor(Date.now() / 1000) * 1000);
    const firstApplied = d.before.lastApplied === result.revision ? d.before.lastAppliedAt : undefined;
    const deployedAt = firstApplied && firstApplied <= now ? firstApplied : now;
    const revision = { commit: result.revision, tree };
    const { envelope } = signDeploymentRecord({ environment: d.environment, revision, key: this.#key, deployedAt, healthyAt: now });
    return deploymentRecord({ environment: d.environment, revision, envelope });
  }

  /** The tree of the environment's latest record in the log that this agent's key signed. */
  #latestTree(environment: string): string | undefined {
    for (const { where, envelope } of this.#follower.evidence.deploymentRecords(environment).reverse()) {
      try {
        const opened = openEnvelope(envelope, where);
        verifyAgentSignature(opened, this.#key!.publicKey, "this agent's key");
        if (opened.claim.type === "deployment" && opened.claim.environment === environment) return opened.claim.revision.tree;
      } catch {
        // Not this agent's record: the promotion gate judges it, with its reason, like any other.
      }
    }
    return undefined;
  }

  /** Verifies the open log against the kept checkpoint, indexes what is new, and keeps the new checkpoint. */
  async #catchUp(): Promise<void> {
    const log = this.#current!;
    if (!this.#keptRead) {
      const note = await this.#keeper?.read();
      this.#kept = note === undefined ? undefined : { note, size: claimedSize(note) ?? 0 };
      this.#keptRead = true;
    }
    const latest = await this.#follower.catchUp(log, this.#kept && { note: this.#kept.note, where: this.#keeper!.where });
    if (this.#dryRun || !this.#keeper || (this.#kept && this.#kept.size >= latest.size)) return;
    await this.#keeper.write(latest.note);
    this.#kept = { note: latest.note, size: latest.size };
  }

  async #reopen(): Promise<void> {
    await this.#drop();
    this.#current = await this.#open();
  }

  async #drop(): Promise<void> {
    const log = this.#current;
    this.#current = undefined;
    await log?.close().catch(() => {});
  }

  #run<T>(body: () => Promise<T>): Promise<T> {
    const run = this.#serial.then(body);
    this.#serial = run.catch(() => {});
    return run;
  }
}

/** The agent's checkpoint in a ConfigMap of its namespace: it survives restarts, as the agent's statuses do. */
export function configMapKeeper(cluster: Cluster, namespace: string, location: string): CheckpointKeeper {
  const name = "vigil-audit-checkpoint";
  const path = `/api/v1/namespaces/${encodeURIComponent(namespace)}/configmaps/${name}`;
  return {
    where: `ConfigMap ${namespace}/${name}`,
    async read() {
      const answer = await cluster.call({ verb: "get", method: "GET", path });
      if (answer.status === 404) return undefined;
      if (answer.status !== 200)
        throw new KubeApiError(
          `cannot read ConfigMap ${namespace}/${name}, the audit log's last verified checkpoint (${answer.status}); the agent needs get on it`,
          answer.status,
          undefined,
          ExitCode.unavailable,
        );
      const note = answer.body?.data?.checkpoint;
      if (typeof note !== "string")
        throw new IntegrityError(
          `ConfigMap ${namespace}/${name} holds no checkpoint (data.checkpoint): it was edited; delete it to trust the log from its start`,
        );
      return note;
    },
    async write(note) {
      await writeStatusObject(cluster, { namespace, name, data: { checkpoint: note, log: location } });
    },
  };
}

/** passwordFile's content (a trailing newline ignored), else $COSIGN_PASSWORD as cosign reads it, else empty. */
function keyPassword(file: string | undefined): string {
  if (file) return readInputText(file, "the deployment record key's password").replace(/\r?\n$/, "");
  return process.env.COSIGN_PASSWORD ?? "";
}

/**
 * The key must be the one the trust policy names for every environment of this agent that names one:
 * a record signed by another key would never count for promotion, and nobody would know why.
 */
function checkAgentKey(key: SigningKey, config: AgentConfig, trust: TrustPolicy): void {
  for (const env of config.doc.environments) {
    const index = trust.doc.environments.findIndex((e) => e.name === env.name);
    const pem = trust.doc.environments[index]?.agent?.key;
    if (pem === undefined) continue;
    const where = trust.where(["environments", index, "agent", "key"]);
    if (!loadPublicKey(pem, where).equals(key.publicKey)) {
      throw new InputError(
        `${config.where(["deploymentRecords", "keyFile"])}: ${config.doc.deploymentRecords!.keyFile} is not the key of ${env.name}'s agent (${where}): records it signs would not count for promotion; configure the private key whose public half the trust policy names`,
      );
    }
  }
}
