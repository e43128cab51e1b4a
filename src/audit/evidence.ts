// Evidence read from the audit log: what gates may rely on because it cannot be deleted, rewound or
// edited unnoticed (docs/audit.md, "Evidence"). Only entries checked against the log's Merkle tree and a
// signed checkpoint, itself checked against a checkpoint kept outside the log, are indexed:
//
//   first sightings  a commit's is the time of the first reconcile record listing it; a claim's, the time
//                    of the claims record that carries it. Key validity is judged at that time.
//   claims seen      every approval, withdrawal and deployment record the agent saw under refs/vigil/,
//                    kept with its envelope: one that later disappears from the refs was deleted.
//   deployment records  the agent's signed records of healthy deploys, per environment.
//   applies          per environment, each apply of a tree other than the one applied before it (the
//                    apply records' order in the log): what ends the earlier tree's soak.
import { IntegrityError, consistencyProof, verifyConsistency } from "./proof.ts";
import { openCheckpoint, type Checkpoint } from "./checkpoint.ts";
import type { AuditLog, LogEntry } from "./log.ts";
import { Frontier } from "./tree.ts";

/** A claim as the log keeps it. */
export interface RecordedClaim {
  /** "audit log entry N". */
  where: string;
  /** The ref it was stored under when first seen. */
  ref: string;
  /** sha256: of its envelope's bytes. */
  digest: string;
  envelope: Buffer;
}

export interface LoggedRecord {
  where: string;
  envelope: Buffer;
  /** The entry's index: orders records of the same second. */
  order: number;
}

/** A tree applied to an environment after another: it ended the earlier tree's run there. */
export interface AppliedTree {
  where: string;
  /** The tree, or "commit:ID" in an apply record written before records named trees. */
  tree: string;
  commit: string;
  at: Date;
  order: number;
}

/** The last revision an environment applied, per the log. */
export interface LastApplied {
  commit: string;
  /** When it was first applied (a later reconcile that found it in place keeps this). */
  since: Date;
  where: string;
}

export class Evidence {
  readonly #firstSeen = new Map<string, Date>();
  readonly #claims: RecordedClaim[] = [];
  readonly #digests = new Set<string>();
  readonly #records = new Map<string, LoggedRecord[]>();
  readonly #applies = new Map<string, AppliedTree[]>();
  readonly #lastApplied = new Map<string, LastApplied>();
  readonly #reconciled = new Set<string>();
  /** The log these came from, for messages. */
  readonly where: string;

  constructor(where: string) {
    this.where = where;
  }

  /** When the log first recorded a commit id or a claim digest; undefined for one never recorded. */
  firstSeen(id: string): Date | undefined {
    return this.#firstSeen.get(id);
  }

  /** Claims recorded under refs beginning with `prefix`, in log order. */
  claimsUnder(prefix: string): RecordedClaim[] {
    return this.#claims.filter((c) => c.ref.startsWith(prefix));
  }

  hasClaim(digest: string): boolean {
    return this.#digests.has(digest);
  }

  deploymentRecords(environment: string): LoggedRecord[] {
    return [...(this.#records.get(environment) ?? [])];
  }

  applies(environment: string): AppliedTree[] {
    return [...(this.#applies.get(environment) ?? [])];
  }

  /**
   * The environment's last applied revision as the log records it (its latest reconcile that applied),
   * since when, and where; undefined when none applied. The agent's status ConfigMap is checked against it.
   */
  lastApplied(environment: string): LastApplied | undefined {
    return this.#lastApplied.get(environment);
  }

  /** Whether the log holds any reconcile of the environment (applied or not). */
  hasReconciled(environment: string): boolean {
    return this.#reconciled.has(environment);
  }

  /** Takes what an entry proves; true when the entry holds evidence (its bytes are then re-checked on every later read). */
  add({ index, record }: LogEntry): boolean {
    const where = `audit log entry ${index}`;
    const time = new Date(record.time);
    switch (record.kind) {
      case "reconcile": {
        const sighted = record.payload.commits.filter((c) => this.#sighted(c.commit, time)).length > 0;
        if (!record.environment) return sighted;
        this.#reconciled.add(record.environment);
        const { applied, revision } = record.payload;
        if (!applied || !revision) return sighted;
        const before = this.#lastApplied.get(record.environment);
        if (before?.commit === revision) return sighted;
        // Only a change of revision is new evidence (rechecked on later reads); the same one again is not.
        this.#lastApplied.set(record.environment, { commit: revision, since: time, where });
        return true;
      }
      case "claims":
        for (const c of record.payload.claims) {
          if (this.#digests.has(c.digest)) continue;
          this.#digests.add(c.digest);
          this.#sighted(c.digest, time);
          this.#claims.push({ where, ref: c.ref, digest: c.digest, envelope: Buffer.from(c.envelope, "utf8") });
        }
        return true;
      case "deployment":
        if (!record.environment) return false;
        listOf(this.#records, record.environment).push({ where, envelope: Buffer.from(record.payload.envelope, "utf8"), order: index });
        return true;
      case "apply": {
        if (!record.environment) return false;
        const applies = listOf(this.#applies, record.environment);
        const tree = record.payload.tree ?? `commit:${record.payload.revision}`;
        if (applies.at(-1)?.tree === tree) return false;
        applies.push({ where, tree, commit: record.payload.revision, at: time, order: index });
        return true;
      }
      default:
        return false;
    }
  }

  #sighted(id: string, time: Date): boolean {
    if (this.#firstSeen.has(id)) return false;
    this.#firstSeen.set(id, time);
    return true;
  }
}

function listOf<T>(map: Map<string, T[]>, key: string): T[] {
  let list = map.get(key);
  if (!list) map.set(key, (list = []));
  return list;
}

/**
 * Follows a log as it grows, indexing evidence only from entries it verified. Each catchUp checks, in
 * order: the latest checkpoint's signature; that the log still extends the trusted checkpoint (kept
 * outside the log) by a consistency proof, so a cut, rolled-back or rewritten log is refused; that the
 * entries new since the last call rebuild exactly the signed root, so an edited entry is refused; and
 * that every evidence entry read before still has the bytes it had, so one edited after it was read is
 * refused too. A follower that failed stays failed: its index may no longer be trusted.
 */
export class LogFollower {
  readonly evidence: Evidence;
  #frontier = new Frontier(0, []);
  /** Leaf hashes of the entries evidence was taken from. */
  readonly #evidenceHashes = new Map<number, Buffer>();
  #failure: IntegrityError | undefined;

  constructor(where: string) {
    this.evidence = new Evidence(where);
  }

  get size(): number {
    return this.#frontier.size;
  }

  /**
   * Verifies the log against `trusted` (a checkpoint note kept outside the log, named by `trustedWhere`)
   * and indexes its new entries. Returns the latest checkpoint, verified. Throws IntegrityError saying
   * what was found.
   */
  async catchUp(log: AuditLog, trusted?: { note: string; where: string }, onEntry?: (entry: LogEntry) => void): Promise<Checkpoint> {
    if (this.#failure) throw this.#failure;
    try {
      return await this.#catchUp(log, trusted, onEntry);
    } catch (e) {
      if (e instanceof IntegrityError) this.#failure = e;
      throw e;
    }
  }

  /** `onEntry` sees each new entry as it is read (a reader's own index: the console's), before the root over them is checked. */
  async #catchUp(log: AuditLog, trusted?: { note: string; where: string }, onEntry?: (entry: LogEntry) => void): Promise<Checkpoint> {
    const location = log.store.location;
    const latest = await log.latest();
    const known = trusted ? savedCheckpoint(log, trusted) : undefined;
    for (const old of [
      known,
      this.#frontier.size > 0
        ? { size: this.#frontier.size, root: this.#frontier.root(), where: "the checkpoint this agent verified last" }
        : undefined,
    ]) {
      if (old) await checkExtends(log, old, latest);
    }
    await this.#recheckEvidence(log);
    const start = this.#frontier.size;
    for await (const entry of log.entries(start, latest.size)) {
      this.#frontier.append(entry.leafHash, () => {});
      if (this.evidence.add(entry)) this.#evidenceHashes.set(entry.index, entry.leafHash);
      onEntry?.(entry);
    }
    if (!this.#frontier.root().equals(latest.root)) {
      throw new IntegrityError(
        `${location}: entries ${start} to ${latest.size - 1} do not match the log's signed checkpoint of size ${latest.size}: an entry was edited (its stored hashes rewritten to match); run vigil audit verify --log ${location} to find it`,
      );
    }
    return latest;
  }

  /** Evidence already taken must still be in the log as it was read: an edit after reading is found too. */
  async #recheckEvidence(log: AuditLog): Promise<void> {
    for (const [index, hash] of this.#evidenceHashes) {
      for await (const entry of log.entries(index, index + 1)) {
        if (!entry.leafHash.equals(hash)) {
          throw new IntegrityError(
            `${log.store.location}: entry ${index} changed after this agent verified and read it (leaf hash ${hash.toString("hex").slice(0, 16)}… is now ${entry.leafHash.toString("hex").slice(0, 16)}…): the log was edited`,
          );
        }
      }
    }
  }
}

function savedCheckpoint(log: AuditLog, trusted: { note: string; where: string }): { size: number; root: Buffer; where: string } {
  let cp: Checkpoint;
  try {
    cp = openCheckpoint(trusted.note, log.verifier);
  } catch (e) {
    if (!(e instanceof IntegrityError)) throw e;
    throw new IntegrityError(
      `the checkpoint saved in ${trusted.where} is not one of this log's (${e.message}): the log was replaced, or its key changed`,
    );
  }
  return { size: cp.size, root: cp.root, where: `the checkpoint saved in ${trusted.where}` };
}

/** The log's latest checkpoint must extend an older one: never smaller, and a consistency proof verifies. */
async function checkExtends(log: AuditLog, old: { size: number; root: Buffer; where: string }, latest: Checkpoint): Promise<void> {
  const location = log.store.location;
  if (latest.size < old.size) {
    throw new IntegrityError(
      `${location}: the log's latest checkpoint has ${latest.size} entries, but ${old.where} has ${old.size}: entries were removed (the log was cut, or rolled back to an older copy)`,
    );
  }
  try {
    verifyConsistency(old.size, latest.size, old.root, latest.root, await consistencyProof(log.store.readNodes, old.size, latest.size));
  } catch (e) {
    if (!(e instanceof IntegrityError)) throw e;
    throw new IntegrityError(
      `${location}: the log no longer extends ${old.where} (size ${old.size}): ${e.message}: entries before ${old.size} were changed, or the log was replaced`,
    );
  }
}
