// The audit log: records in, proofs out. It signs a checkpoint for every batch it appends, verifies the
// checkpoint and the tree's edge before extending them, and checks every entry it reads against its
// stored hash. Stores (a directory, or PostgreSQL) only keep bytes; trust is decided here.
import { InputError } from "../core/errors.ts";
import { readInputText } from "../core/input-file.ts";
import { openCheckpoint, signCheckpoint, type Checkpoint } from "./checkpoint.ts";
import { FileStore, type Recovery } from "./file-store.ts";
import { leafHash } from "./hash.ts";
import { parseSignerKey, parseVerifierKey, type NoteSigner, type NoteVerifier } from "./note.ts";
import { consistencyProof, inclusionProof, IntegrityError, treeRoot, verifyConsistency, verifyInclusion } from "./proof.ts";
import { decodeRecord, encodeRecord } from "./record.ts";
import type { AuditRecord } from "../api/audit-record.ts";
import { LOG_FORMAT, type LogHead, type LogStore, type LogWriterStore, type NewLog, type SealedBatch } from "./store.ts";
import { Frontier, foldRange } from "./tree.ts";

export interface OpenOptions {
  /** The signing key file (PRIVATE+KEY+NAME+…): opens the log for appending, creating it if there is none. */
  signingKeyFile?: string;
  /** The verifier key (NAME+HASH+BASE64) checkpoints must be signed by. Default: the key the log names. */
  verifierKey?: string;
}

export interface InclusionProof {
  index: number;
  leafHash: Buffer;
  /** The tree size the proof is for, and the signed checkpoint of that size. */
  checkpoint: Checkpoint;
  hashes: Buffer[];
}

export interface ConsistencyProof {
  oldSize: number;
  checkpoint: Checkpoint;
  oldRoot: Buffer;
  hashes: Buffer[];
}

export interface LogEntry {
  index: number;
  leafHash: Buffer;
  record: AuditRecord;
}

/** Entries read at once when walking the log. */
const CHUNK = 2048;

export function isDatabaseUrl(location: string): boolean {
  return /^postgres(ql)?:\/\//.test(location);
}

export class AuditLog {
  readonly store: LogStore;
  readonly verifier: NoteVerifier;
  /** Whether the verifier key was given by the caller, or read from the log itself (weaker). */
  readonly keyGiven: boolean;
  /** What an interrupted append left and opening for writing cut (the embedded store only). */
  readonly recovered: Recovery | undefined;
  readonly #signer: NoteSigner | undefined;
  /** The append in progress: the next waits for it. */
  #appending: Promise<unknown> = Promise.resolve();

  private constructor(store: LogStore, verifier: NoteVerifier, keyGiven: boolean, signer?: NoteSigner) {
    this.store = store;
    this.verifier = verifier;
    this.keyGiven = keyGiven;
    this.#signer = signer;
    this.recovered = store instanceof FileStore && signer ? store.recovered : undefined;
  }

  static async open(location: string, options: OpenOptions = {}): Promise<AuditLog> {
    const signer = options.signingKeyFile ? loadSigningKey(options.signingKeyFile) : undefined;
    const store = await openStore(location, signer);
    try {
      const verifier = options.verifierKey
        ? parseVerifierKey(options.verifierKey, "--key")
        : parseVerifierKey(store.meta.verifierKey, `${store.location}: the log's verifier key`);
      if (signer && signer.verifier.key !== store.meta.verifierKey) {
        throw new InputError(
          `${options.signingKeyFile}: the key ${signer.verifier.key} does not sign this log; its checkpoints are signed by ${store.meta.verifierKey}`,
        );
      }
      const log = new AuditLog(store, verifier, options.verifierKey !== undefined, signer);
      await log.latest();
      return log;
    } catch (e) {
      await store.close();
      throw e;
    }
  }

  /** The latest checkpoint, its signature verified. */
  async latest(): Promise<Checkpoint> {
    return this.#open(await this.store.latestCheckpoint(), "the latest checkpoint");
  }

  /** The latest signed checkpoint note, as a witness or another tool takes it. */
  async checkpoint(): Promise<string> {
    return (await this.latest()).note;
  }

  #open(note: string, what: string): Checkpoint {
    try {
      return openCheckpoint(note, this.verifier);
    } catch (e) {
      if (e instanceof IntegrityError) throw new IntegrityError(`${this.store.location}: ${what}: ${e.message}`);
      throw e;
    }
  }

  /**
   * Appends the records as one batch with its own checkpoint; resolves once they are durable. Calls
   * made at once (environments reconciled in parallel) run one after another: a store extends one head
   * at a time.
   */
  append(records: readonly AuditRecord[]): Promise<{ index: number; leafHash: string }[]> {
    const signer = this.#signer;
    if (!signer) return Promise.reject(new Error("the audit log was opened without a signing key"));
    if (records.length === 0) return Promise.resolve([]);
    let data: Buffer[];
    try {
      data = records.map((r, i) => encodeRecord(r, i));
    } catch (e) {
      return Promise.reject(e);
    }
    const store = this.store as LogWriterStore;
    const appended = this.#appending.then(async () => {
      const sealed = await store.append((head) => this.#seal(head, data, signer));
      const first = sealed.head.size - data.length;
      return sealed.entries.map((e, i) => ({ index: first + i, leafHash: e.hash.toString("hex") }));
    });
    this.#appending = appended.catch(() => {});
    return appended;
  }

  /** The batch on top of `head`, once the head proves to be what its signed checkpoint says. */
  #seal(head: LogHead, data: Buffer[], signer: NoteSigner): SealedBatch {
    const cp = this.#open(head.note, "the checkpoint being extended");
    if (cp.size !== head.size || !foldRange(head.frontier).equals(cp.root)) {
      throw new IntegrityError(
        `${this.store.location}: the stored tree does not match its latest checkpoint (size ${cp.size}); refusing to append: run vigil audit verify`,
      );
    }
    const frontier = new Frontier(head.size, head.frontier);
    const nodes: SealedBatch["nodes"] = [];
    const entries = data.map((d) => ({ data: d, hash: leafHash(d) }));
    for (const e of entries) frontier.append(e.hash, (n, hash) => nodes.push({ ...n, hash }));
    const next = signCheckpoint(signer, frontier.size, frontier.root());
    return { entries, nodes, head: { size: next.size, note: next.note, frontier: frontier.hashes() } };
  }

  /** Records [start, end) of the latest checkpoint's tree, each checked against its stored hash. */
  async *entries(start = 0, end?: number): AsyncIterable<LogEntry> {
    const last = end ?? (await this.latest()).size;
    for (let from = start; from < last; from += CHUNK) {
      const stored = await this.store.readEntries(from, Math.min(last, from + CHUNK));
      for (const [i, e] of stored.entries()) {
        const index = from + i;
        const hash = leafHash(e.data);
        if (!hash.equals(e.hash)) throw new IntegrityError(`entry ${index}: its bytes do not match their stored hash: edited or corrupt`);
        yield { index, leafHash: hash, record: decodeRecord(e.data, index) };
      }
    }
  }

  async entry(index: number): Promise<LogEntry> {
    const size = (await this.latest()).size;
    if (!Number.isSafeInteger(index) || index < 0 || index >= size)
      throw new InputError(`entry ${index}: ${size === 0 ? "the log has no entries" : `the log has entries 0 to ${size - 1}`}`);
    for await (const e of this.entries(index, index + 1)) return e;
    throw new Error("unreachable");
  }

  /** The index of the entry whose leaf hash is `hash`. */
  async find(hash: Buffer): Promise<number> {
    const size = (await this.latest()).size;
    const index = await this.store.findLeaf(hash, size);
    if (index === undefined) throw new InputError(`no entry in the log's ${size} entries has the leaf hash ${hash.toString("hex")}`);
    return index;
  }

  /** An inclusion proof of entry `index` in the latest checkpoint's tree, verified before it is returned. */
  async prove(index: number): Promise<InclusionProof> {
    const checkpoint = await this.latest();
    const { leafHash: hash } = await this.entry(index);
    const hashes = await inclusionProof(this.store.readNodes, index, checkpoint.size);
    verifyInclusion(index, checkpoint.size, hash, hashes, checkpoint.root);
    return { index, leafHash: hash, checkpoint, hashes };
  }

  /** A consistency proof from an older tree size to the latest checkpoint's, verified before it is returned. */
  async proveConsistency(oldSize: number): Promise<ConsistencyProof> {
    const checkpoint = await this.latest();
    if (!Number.isSafeInteger(oldSize) || oldSize < 0 || oldSize > checkpoint.size)
      throw new InputError(`size ${oldSize}: the log's latest checkpoint has ${checkpoint.size} entries`);
    const oldRoot = (await this.rootsAt([oldSize]))[0]!;
    const hashes = await consistencyProof(this.store.readNodes, oldSize, checkpoint.size);
    verifyConsistency(oldSize, checkpoint.size, oldRoot, checkpoint.root, hashes);
    return { oldSize, checkpoint, oldRoot, hashes };
  }

  /** The stored tree's roots at the given sizes. */
  async rootsAt(sizes: readonly number[]): Promise<Buffer[]> {
    return Promise.all(sizes.map((s) => treeRoot(this.store.readNodes, s)));
  }

  async close(): Promise<void> {
    await this.store.close();
  }
}

export function loadSigningKey(file: string): NoteSigner {
  try {
    return parseSignerKey(readInputText(file, "the audit log's signing key"), file);
  } catch (e) {
    if (e instanceof IntegrityError) throw new InputError(e.message);
    throw e;
  }
}

async function openStore(location: string, signer: NoteSigner | undefined): Promise<LogStore> {
  if (isDatabaseUrl(location)) {
    const { PgStore } = await import("./pg-store.ts");
    return PgStore.open(location, signer ? { write: true, create: createWith(signer) } : {});
  }
  return FileStore.open(location, signer ? { write: true, create: createWith(signer) } : {});
}

/** What a new log starts with: its identity and the signed checkpoint of the empty tree. */
function createWith(signer: NoteSigner): NewLog {
  return {
    meta: { format: LOG_FORMAT, origin: signer.name, verifierKey: signer.verifier.key },
    note: signCheckpoint(signer, 0, foldRange([])).note,
  };
}
