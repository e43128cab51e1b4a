// The agent's side of the audit log (docs/audit.md). After every reconcile that is not a dry run it
// appends one batch: the reconcile (every gate's checks), what a sync wrote, pruned and found drifted,
// and — on a healthy deploy of a tree the environment has no record of yet — a deployment record
// signed with the agent's key. The agent reads Git and never writes it, so the log is where its
// deployment records go; the promotion gate reads them back from it (deploymentRecords) and verifies
// them with the trust policy's agent key, as it verifies records pushed under refs/vigil/.
//
// A failed append is never silent: the reconcile gets a failing "audit" check, and the next use of the
// log opens it again (a store refuses appends after a half-written batch until it is reopened, and a
// dropped database connection stays dropped). The loop goes on.
import { ExitCode, InputError, VigilError } from "../core/errors.ts";
import { check, type Check } from "../core/verdict.ts";
import type { TrustPolicy } from "../core/trust-policy.ts";
import { readInputText } from "../core/input-file.ts";
import { openEnvelope, revisionOf, signDeploymentRecord, verifyAgentSignature, type DeploymentRecordSource } from "../approvals/index.ts";
import { applyRecords, deploymentRecord, openAuditLog, reconcileRecord, type AuditLog, type AuditRecord } from "../audit/index.ts";
import { loadSigningKey } from "../audit/log.ts";
import { redactUrl } from "../audit/store.ts";
import type { SyncResult } from "../cluster/sync.ts";
import type { Repo } from "../git/repo.ts";
import type { SourcedObject } from "../policy/manifests.ts";
import { loadPrivateKeyFile, loadPublicKey, type SigningKey } from "../sigstore/keys.ts";
import type { AgentConfig } from "./config.ts";
import type { EnvironmentState } from "./deploy.ts";
import type { ReconcileResult } from "./reconcile.ts";

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
  sync?: { result: SyncResult; objects: readonly SourcedObject[] };
  /** The repository the revision was read from: the deployment record names the revision's tree. */
  source?: Repo;
}

/** The outcome of recording: the check the reconcile's verdict gets, and whether the log was unreachable. */
export interface Recorded {
  check: Check;
  unavailable: boolean;
  error?: unknown;
}

export class AgentAudit {
  /** The log's location as messages show it (a database URL's password blanked). */
  readonly location: string;
  readonly #open: () => Promise<AuditLog>;
  readonly #key: SigningKey | undefined;
  #current: Promise<AuditLog> | undefined;
  /** Deployment records read from the log so far, by environment; entries before #next are read. */
  readonly #records = new Map<string, { where: string; envelope: Buffer }[]>();
  /** Per environment, the tree of the latest deployment record this agent's key signed in the log. */
  readonly #latestTree = new Map<string, string>();
  #next = 0;
  #reading: Promise<unknown> = Promise.resolve();

  private constructor(location: string, open: () => Promise<AuditLog>, key: SigningKey | undefined) {
    this.location = redactUrl(location);
    this.#open = open;
    this.#key = key;
  }

  /**
   * The configured log, opened (and created when missing) for appending; in a dry run, for reading
   * only (it must exist). Undefined when the configuration names none. Bad input — an unreadable key,
   * a deployment record key the trust policy does not name — is an error here, before any reconcile.
   */
  static async open(config: AgentConfig, trust: TrustPolicy, options: { dryRun?: boolean } = {}): Promise<AgentAudit | undefined> {
    const { audit, deploymentRecords } = config.doc;
    if (!audit) return undefined;
    const key = deploymentRecords && loadPrivateKeyFile(deploymentRecords.keyFile, keyPassword(deploymentRecords.passwordFile));
    if (key) checkAgentKey(key, config, trust);
    const open = options.dryRun
      ? () => openAuditLog(audit.log, { verifierKey: loadSigningKey(audit.signingKeyFile).verifier.key })
      : () => openAuditLog(audit.log, { signingKeyFile: audit.signingKeyFile });
    const trail = new AgentAudit(audit.log, open, key);
    await trail.#log();
    return trail;
  }

  /** Whether healthy deploys are recorded (a key to sign them is configured). */
  get signsDeployments(): boolean {
    return this.#key !== undefined;
  }

  /** `environment`'s deployment records in the log, for the promotion gate; reads only entries new since the last call. */
  readonly deploymentRecords: DeploymentRecordSource = async (environment) => {
    await this.#catchUp();
    return [...(this.#records.get(environment) ?? [])];
  };

  /** Appends the decision's records; the check says where they went, or fails saying why they could not. */
  async record(d: Decision): Promise<Recorded> {
    let log: AuditLog | undefined;
    try {
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
        ...(d.sync && d.result.revision ? applyRecords({ environment: d.environment, revision: d.result.revision, objects: d.sync.objects, sync: d.sync.result }) : []),
      ];
      const deployment = await this.#deploymentDue(d);
      if (deployment) records.push(deployment.record);
      log = await this.#log();
      const appended = await log.append(records);
      const first = appended[0]!.index;
      const entries = appended.length === 1 ? `entry ${first}` : `entries ${first} to ${first + appended.length - 1}`;
      const signed = deployment ? `, with a deployment record of tree ${deployment.tree.slice(0, 12)} signed by this agent's key` : "";
      return { check: check("audit", "recorded", "pass", this.location, `${entries}${signed}`), unavailable: false };
    } catch (e) {
      if (log) await this.#drop(log);
      const message = e instanceof Error ? e.message : String(e);
      return {
        check: check("audit", "recorded", "fail", this.location,
          `this reconcile could not be recorded in the audit log: ${message}; every decision must be recorded: make the log writable again (vigil audit verify --log ${this.location}); the next reconcile opens it again`),
        unavailable: e instanceof VigilError && e.exitCode === ExitCode.unavailable,
        error: e,
      };
    }
  }

  async close(): Promise<void> {
    const log = await this.#current?.catch(() => undefined);
    this.#current = undefined;
    await log?.close();
  }

  /**
   * The signed record of a healthy deploy, unless the environment's latest record by this agent's key
   * is already of this tree: one record per time a tree starts running, not one per interval. A tree
   * deployed again after another (A, B, A) gets a new record, since B's ended A's earlier run.
   */
  async #deploymentDue(d: Decision): Promise<{ record: AuditRecord; tree: string } | undefined> {
    const { result } = d;
    if (!this.#key || !d.source || !result.revision || !result.applied || result.health !== "healthy" || result.verdict.verdict !== "pass") return undefined;
    const revision = await revisionOf(d.source, result.revision);
    await this.#catchUp();
    if (this.#latestTree.get(d.environment) === revision.tree) return undefined;
    // Claims are to the second; healthy from now, deployed when this revision was first applied.
    const now = new Date(Math.floor(Date.now() / 1000) * 1000);
    const firstApplied = d.before.lastApplied === result.revision ? d.before.lastAppliedAt : undefined;
    const deployedAt = firstApplied && firstApplied <= now ? firstApplied : now;
    const { envelope } = signDeploymentRecord({ environment: d.environment, revision, key: this.#key, deployedAt, healthyAt: now });
    return { record: deploymentRecord({ environment: d.environment, revision, envelope }), tree: revision.tree };
  }

  /** Reads the entries appended since the last read (one read at a time), keeping the deployment records. */
  #catchUp(): Promise<void> {
    const read = this.#reading.then(async () => {
      const log = await this.#log();
      try {
        const size = (await log.latest()).size;
        for await (const e of log.entries(this.#next, size)) {
          if (e.record.kind === "deployment" && e.record.environment) this.#take(e.index, e.record.environment, e.record.payload.envelope);
          this.#next = e.index + 1;
        }
      } catch (e) {
        await this.#drop(log);
        throw e;
      }
    });
    this.#reading = read.catch(() => {});
    return read;
  }

  #take(index: number, environment: string, text: string): void {
    const where = `audit log entry ${index}`;
    const envelope = Buffer.from(text, "utf8");
    const list = this.#records.get(environment);
    if (list) list.push({ where, envelope });
    else this.#records.set(environment, [{ where, envelope }]);
    if (!this.#key) return;
    try {
      const opened = openEnvelope(envelope, where);
      verifyAgentSignature(opened, this.#key.publicKey, "this agent's key");
      if (opened.claim.type === "deployment" && opened.claim.environment === environment) this.#latestTree.set(environment, opened.claim.revision.tree);
    } catch {
      // Not this agent's record: the promotion gate judges it, with its reason, like any other.
    }
  }

  /** The open log, opening it when there is none (after a failure). */
  #log(): Promise<AuditLog> {
    this.#current ??= this.#open().catch((e) => {
      this.#current = undefined;
      throw e;
    });
    return this.#current;
  }

  /** Closes a log that failed, so the next use opens it again (unless that already happened). */
  async #drop(log: AuditLog): Promise<void> {
    if ((await this.#current?.catch(() => undefined)) !== log) return;
    this.#current = undefined;
    await log.close().catch(() => {});
  }
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
      throw new InputError(`${config.where(["deploymentRecords", "keyFile"])}: ${config.doc.deploymentRecords!.keyFile} is not the key of ${env.name}'s agent (${where}): records it signs would not count for promotion; configure the private key whose public half the trust policy names`);
    }
  }
}
