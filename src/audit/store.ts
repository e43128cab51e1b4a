// Where a log is kept. Two stores hold the same data — entries, every full subtree's hash, every
// checkpoint — and know nothing of signatures or records: the log (log.ts) verifies what they return
// and decides what they write. A directory is the embedded default; a postgres:// URL is shared by
// several agents.
import { redactQueryCredentials } from "../core/redact.ts";
import type { NodeReader } from "./proof.ts";

/** Identifies the log: fixed when it is created, checked against every key that opens it. */
export interface LogMeta {
  format: typeof LOG_FORMAT;
  /** The checkpoints' origin line, which is also the signing key's name. */
  origin: string;
  /** The verifier key of the key that signs its checkpoints. */
  verifierKey: string;
}
export const LOG_FORMAT = "vigil.dev/audit/v1";

/** What a new log starts with: its identity and the signed checkpoint of the empty tree. */
export interface NewLog {
  meta: LogMeta;
  note: string;
}

export interface StoredEntry {
  data: Buffer;
  /** The leaf hash stored with the entry (recomputed and compared by whoever reads it). */
  hash: Buffer;
}

/** What a writer extends: the latest checkpoint and the right edge of its tree. */
export interface LogHead {
  size: number;
  note: string;
  /** Hashes of frontierNodes(size). */
  frontier: Buffer[];
}

/** A batch ready to store: its entries, every node it completes (leaves included) and its checkpoint. */
export interface SealedBatch {
  entries: StoredEntry[];
  nodes: { level: number; index: number; hash: Buffer }[];
  head: LogHead;
}

export interface LogStore {
  /** For messages: the directory, or the URL without its password. */
  readonly location: string;
  readonly meta: LogMeta;
  /** The latest complete checkpoint's note. */
  latestCheckpoint(): Promise<string>;
  /** Every checkpoint's note, oldest first. */
  checkpoints(): AsyncIterable<string>;
  /** Entries [start, end), which must be stored. */
  readEntries(start: number, end: number): Promise<StoredEntry[]>;
  /** Stored hashes of level `level`, indices [start, end). */
  readLevel(level: number, start: number, end: number): Promise<Buffer[]>;
  readNodes: NodeReader;
  /** The first index below `size` whose leaf hash is `hash`. */
  findLeaf(hash: Buffer, size: number): Promise<number | undefined>;
  /** Entries stored, counting any beyond the latest checkpoint (an append that never finished). */
  storedEntries(): Promise<number>;
  close(): Promise<void>;
}

export interface LogWriterStore extends LogStore {
  /**
   * Appends one batch: `seal` is given the head (read under the store's lock, so two writers never
   * extend the same head) and returns what to store. Resolves once the batch and its checkpoint are
   * durable — only then is it acknowledged.
   */
  append(seal: (head: LogHead) => SealedBatch): Promise<SealedBatch>;
}

/**
 * A store's location as messages may show it: a PostgreSQL URL with its userinfo and credential query
 * parameters (password=, sslpassword=…) blanked; an unparsable one not shown at all.
 */
export function redactUrl(location: string): string {
  if (!/^postgres(ql)?:\/\//.test(location)) return location;
  if (!URL.canParse(location)) return "postgres://(unparsable URL)";
  // The password blanked as the URL parser (and so the driver) reads it; the user name says which account.
  const url = new URL(location);
  if (url.password) url.password = "***";
  return redactQueryCredentials(url.toString());
}
