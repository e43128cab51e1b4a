// What the console knows of the audit log: every entry as one searchable row (kind, time, environment,
// a one-line summary, the resources, people and commits it names), and per environment where its latest
// reconcile, applies, approvals and deployment records are. Only entries of a log the follower verified
// are indexed: the log's checkpoint signature, its consistency with what was read before, and the signed
// root over the new entries (src/audit's LogFollower). Records themselves are read again, verified, when
// a page needs them; the index keeps only what finds them.
import { LogFollower, type Evidence } from "../audit/evidence.ts";
import type { Checkpoint } from "../audit/checkpoint.ts";
import type { AuditLog, LogEntry } from "../audit/log.ts";
import { Lru } from "../core/lru.ts";
import { describeRecord } from "../audit/record.ts";
import type { AuditRecord, RecordKind } from "../api/audit-record.ts";

/** Calls within this long of the last catch-up share it: the follower re-reads every evidence entry each time. */
const REFRESH_INTERVAL_MS = 1000;
/** Decoded records kept (an apply of 1,000 objects takes milliseconds to read and check). */
const RECORDS_KEPT = 256;

export interface Row {
  index: number;
  time: string;
  kind: RecordKind;
  environment?: string;
  summary: string;
  /** Lower-cased "kind/namespace/name" of each object, and finding subjects. */
  resources: string[];
  /** Signers of commits, approvers, trust-policy signers (lower-cased). */
  people: string[];
  commits: string[];
}

export interface EnvironmentIndex {
  name: string;
  latestReconcile?: number;
  /** Per revision: the latest reconcile of it that checked its commits (else the latest at all). */
  reconcileOf: Map<string, number>;
  /** Per revision: its latest apply record. */
  applyOf: Map<string, number>;
  approvalsOf: Map<string, number[]>;
  /** Per commit: the latest signed record of a healthy deploy. */
  deploymentOf: Map<string, number>;
  /** Every apply, reconcile and approval entry: all that audit explain reads of the environment. */
  explainable: number[];
}

export class LogIndex {
  readonly rows: Row[] = [];
  readonly environments = new Map<string, EnvironmentIndex>();
  readonly #follower: LogFollower;
  readonly #log: AuditLog;
  #latest: Checkpoint | undefined;
  #refreshing: Promise<Checkpoint> | undefined;
  #refreshedAt = 0;
  readonly #records = new Lru<number, AuditRecord>(RECORDS_KEPT);

  constructor(log: AuditLog) {
    this.#log = log;
    this.#follower = new LogFollower(log.store.location);
  }

  get evidence(): Evidence {
    return this.#follower.evidence;
  }

  /** Verifies what the log added since the last call and indexes it; calls made meanwhile, or within a second, share one. */
  refresh(): Promise<Checkpoint> {
    this.#refreshing ??= this.#refresh().finally(() => (this.#refreshing = undefined));
    return this.#refreshing;
  }

  async #refresh(): Promise<Checkpoint> {
    if (this.#latest && Date.now() - this.#refreshedAt < REFRESH_INTERVAL_MS) return this.#latest;
    // Rows are added as the follower reads; if its check of the signed root then fails, it throws and
    // stays failed, and the console serves nothing from the log again.
    const checkpoint = await this.#follower.catchUp(this.#log, undefined, (entry) => this.#add(entry));
    this.#latest = checkpoint;
    this.#refreshedAt = Date.now();
    return checkpoint;
  }

  /**
   * A record the index points to, read back from the log (checked against its hash) once and then kept:
   * the pages that summarise read the same few records on every load. An entry's own page and its proof
   * always read it afresh.
   */
  async record(index: number): Promise<AuditRecord> {
    let record = this.#records.get(index);
    if (!record) this.#records.set(index, (record = (await this.#log.entry(index)).record));
    return record;
  }

  get latest(): Checkpoint | undefined {
    return this.#latest;
  }

  #add({ index, record }: LogEntry): void {
    this.rows.push(rowOf(index, record));
    if (!record.environment) return;
    const env = this.#environment(record.environment);
    if (record.kind === "apply" || record.kind === "reconcile" || record.kind === "approval") env.explainable.push(index);
    switch (record.kind) {
      case "reconcile": {
        env.latestReconcile = index;
        const revision = record.payload.revision;
        // A reconcile that found its revision in place checked no commits: the earlier one says more.
        if (revision && (record.payload.from !== revision || !env.reconcileOf.has(revision))) env.reconcileOf.set(revision, index);
        break;
      }
      case "apply":
        env.applyOf.set(record.payload.revision, index);
        break;
      case "approval":
        env.approvalsOf.set(record.payload.revision, [...(env.approvalsOf.get(record.payload.revision) ?? []), index]);
        break;
      case "deployment":
        env.deploymentOf.set(record.payload.revision.commit, index);
        break;
    }
  }

  #environment(name: string): EnvironmentIndex {
    let env = this.environments.get(name);
    if (!env)
      this.environments.set(
        name,
        (env = { name, reconcileOf: new Map(), applyOf: new Map(), approvalsOf: new Map(), deploymentOf: new Map(), explainable: [] }),
      );
    return env;
  }
}

const lower = (s: string) => s.toLowerCase();
const objectKey = (o: { kind: string; namespace?: string; name: string }) =>
  lower(`${o.kind}/${o.namespace ? `${o.namespace}/` : ""}${o.name}`);

export function rowOf(index: number, record: AuditRecord): Row {
  const row: Row = {
    index,
    time: record.time,
    kind: record.kind,
    ...(record.environment && { environment: record.environment }),
    summary: describeRecord(record),
    resources: [],
    people: [],
    commits: [],
  };
  switch (record.kind) {
    case "reconcile":
      row.commits = [
        ...new Set([...(record.payload.revision ? [record.payload.revision] : []), ...record.payload.commits.map((c) => c.commit)]),
      ];
      row.people = [...new Set(record.payload.commits.flatMap((c) => (c.signer ? [lower(c.signer)] : [])))];
      break;
    case "apply":
    case "prune":
    case "drift":
      row.resources = record.payload.objects.map(objectKey);
      if (record.payload.revision) row.commits = [record.payload.revision];
      break;
    case "deployment":
      row.commits = [record.payload.revision.commit];
      break;
    case "approval":
      row.commits = [record.payload.revision];
      row.people = [lower(record.payload.signer)];
      break;
    case "policy-change":
    case "trust-policy-change":
      if (record.payload.revision) row.commits = [record.payload.revision];
      if (record.kind === "trust-policy-change") row.people = record.payload.signers.map(lower);
      break;
    case "finding":
      row.resources = [lower(record.payload.subject)];
      break;
    case "break-glass":
      // Who asked the API server, and the admin whose signed token let it in: both are people to search by.
      row.resources = [objectKey(record.payload.object)];
      row.people = [lower(record.payload.user), lower(record.payload.signer)];
      break;
    case "claims":
      break;
  }
  return row;
}

export interface Search {
  resource?: string;
  person?: string;
  commit?: string;
  environment?: string;
  kind?: string;
  /** RFC 3339 bounds, inclusive. */
  since?: string;
  until?: string;
}

/** Whether a row matches every given term: resource and person as substrings, commit as a prefix. */
export function matches(row: Row, s: Search): boolean {
  if (s.environment !== undefined && row.environment !== s.environment) return false;
  if (s.kind !== undefined && row.kind !== s.kind) return false;
  if (s.since !== undefined && Date.parse(row.time) < Date.parse(s.since)) return false;
  if (s.until !== undefined && Date.parse(row.time) > Date.parse(s.until)) return false;
  if (s.resource !== undefined && !row.resources.some((r) => r.includes(s.resource!.toLowerCase()))) return false;
  if (s.person !== undefined && !row.people.some((p) => p.includes(s.person!.toLowerCase()))) return false;
  if (s.commit !== undefined && !row.commits.some((c) => c.startsWith(s.commit!.toLowerCase()))) return false;
  return true;
}
