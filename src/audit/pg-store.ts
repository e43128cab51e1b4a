// The shared store: a PostgreSQL database that several agents append to. Each append is one
// transaction that first takes a transaction-scoped advisory lock, then reads the head, so appends
// from any number of writers are serialized and each extends the head the previous one committed;
// a batch is acknowledged when its transaction (entries, hashes and checkpoint together) commits.
// Tables are named vigil_audit_*; point search_path at a schema of its own to keep several logs in one
// database (URL parameter options=-c search_path=NAME).
import pg from "pg";
import { InputError, UnavailableError } from "../core/errors.ts";
import { IntegrityError } from "./proof.ts";
import {
  LOG_FORMAT,
  redactUrl,
  type LogHead,
  type LogMeta,
  type LogWriterStore,
  type NewLog,
  type SealedBatch,
  type StoredEntry,
} from "./store.ts";
import { frontierNodes, type TreeNode } from "./tree.ts";

/** The advisory lock key: "vigil audit" as a 64-bit number, the same for every writer. */
const LOCK_KEY = "7596116105108097";
const PAGE = 1000;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS vigil_audit_meta (
  one boolean PRIMARY KEY DEFAULT true CHECK (one), format text NOT NULL, origin text NOT NULL, verifier_key text NOT NULL);
CREATE TABLE IF NOT EXISTS vigil_audit_entries (idx bigint PRIMARY KEY, leaf_hash bytea NOT NULL, data bytea NOT NULL);
CREATE INDEX IF NOT EXISTS vigil_audit_entries_leaf_hash ON vigil_audit_entries (leaf_hash);
CREATE TABLE IF NOT EXISTS vigil_audit_nodes (level smallint NOT NULL, idx bigint NOT NULL, hash bytea NOT NULL, PRIMARY KEY (level, idx));
CREATE TABLE IF NOT EXISTS vigil_audit_checkpoints (size bigint PRIMARY KEY, note text NOT NULL);
`;

export class PgStore implements LogWriterStore {
  readonly location: string;
  readonly meta: LogMeta;
  readonly #client: pg.Client;

  private constructor(location: string, client: pg.Client, meta: LogMeta) {
    this.location = location;
    this.#client = client;
    this.meta = meta;
  }

  static async open(url: string, options: { write?: boolean; create?: NewLog } = {}): Promise<PgStore> {
    const location = redactUrl(url);
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000 });
    client.on("error", () => {}); // a dropped connection fails the next query, which reports it
    try {
      await client.connect();
    } catch (e) {
      throw new UnavailableError(`${location}: cannot connect to PostgreSQL: ${(e as Error).message}`);
    }
    try {
      if (options.write && options.create) await create(client, location, options.create);
      return new PgStore(location, client, await readMeta(client, location));
    } catch (e) {
      await client.end().catch(() => {});
      throw e;
    }
  }

  async #query<R extends pg.QueryResultRow>(text: string, values: unknown[] = []): Promise<R[]> {
    return (await query<R>(this.#client, this.location, text, values)).rows;
  }

  async latestCheckpoint(): Promise<string> {
    const [row] = await this.#query<{ note: string }>("SELECT note FROM vigil_audit_checkpoints ORDER BY size DESC LIMIT 1");
    if (!row) throw new IntegrityError(`${this.location}: holds no checkpoint`);
    return row.note;
  }

  async *checkpoints(): AsyncIterable<string> {
    for (let after = -1; ; ) {
      const rows = await this.#query<{ size: string; note: string }>(
        "SELECT size, note FROM vigil_audit_checkpoints WHERE size > $1 ORDER BY size LIMIT $2",
        [after, PAGE],
      );
      for (const r of rows) yield r.note;
      if (rows.length < PAGE) return;
      after = Number(rows.at(-1)!.size);
    }
  }

  async readEntries(start: number, end: number): Promise<StoredEntry[]> {
    const rows = await this.#query<{ idx: string; leaf_hash: Buffer; data: Buffer }>(
      "SELECT idx, leaf_hash, data FROM vigil_audit_entries WHERE idx >= $1 AND idx < $2 ORDER BY idx",
      [start, end],
    );
    return contiguous(rows, start, end, "entry").map((r) => ({ hash: r.leaf_hash, data: r.data }));
  }

  async readLevel(level: number, start: number, end: number): Promise<Buffer[]> {
    const rows = await this.#query<{ idx: string; hash: Buffer }>(
      "SELECT idx, hash FROM vigil_audit_nodes WHERE level = $1 AND idx >= $2 AND idx < $3 ORDER BY idx",
      [level, start, end],
    );
    return contiguous(rows, start, end, `level ${level} hash`).map((r) => r.hash);
  }

  readNodes = async (nodes: readonly TreeNode[]): Promise<Buffer[]> => readNodes(this.#client, this.location, nodes);

  async findLeaf(hash: Buffer, size: number): Promise<number | undefined> {
    const [row] = await this.#query<{ idx: string | null }>(
      "SELECT min(idx) AS idx FROM vigil_audit_entries WHERE leaf_hash = $1 AND idx < $2",
      [hash, size],
    );
    return row?.idx == null ? undefined : Number(row.idx);
  }

  async storedEntries(): Promise<number> {
    const [row] = await this.#query<{ n: string }>("SELECT coalesce(max(idx) + 1, 0) AS n FROM vigil_audit_entries");
    return Number(row!.n);
  }

  async append(seal: (head: LogHead) => SealedBatch): Promise<SealedBatch> {
    return transaction(this.#client, this.location, async () => {
      await this.#query("SELECT pg_advisory_xact_lock($1)", [LOCK_KEY]);
      const [latest] = await this.#query<{ size: string; note: string }>(
        "SELECT size, note FROM vigil_audit_checkpoints ORDER BY size DESC LIMIT 1",
      );
      if (!latest) throw new IntegrityError(`${this.location}: holds no checkpoint`);
      const size = Number(latest.size);
      const sealed = seal({ size, note: latest.note, frontier: await this.readNodes(frontierNodes(size)) });
      const { entries, nodes } = sealed;
      await this.#query(
        "INSERT INTO vigil_audit_entries (idx, leaf_hash, data) SELECT * FROM unnest($1::bigint[], $2::bytea[], $3::bytea[])",
        [entries.map((_, i) => size + i), entries.map((e) => e.hash), entries.map((e) => e.data)],
      );
      await this.#query(
        "INSERT INTO vigil_audit_nodes (level, idx, hash) SELECT * FROM unnest($1::smallint[], $2::bigint[], $3::bytea[])",
        [nodes.map((n) => n.level), nodes.map((n) => n.index), nodes.map((n) => n.hash)],
      );
      await this.#query("INSERT INTO vigil_audit_checkpoints (size, note) VALUES ($1, $2)", [sealed.head.size, sealed.head.note]);
      return sealed;
    });
  }

  async close(): Promise<void> {
    await this.#client.end().catch(() => {});
  }
}

async function query<R extends pg.QueryResultRow>(
  client: pg.Client,
  location: string,
  text: string,
  values: unknown[] = [],
): Promise<pg.QueryResult<R>> {
  try {
    return await client.query<R>(text, values);
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === "42P01")
      throw new InputError(`${location}: no audit log in this database (no vigil_audit_* tables); create one with vigil audit init`);
    // SQLSTATE classes 08 (connection) and 57 (operator intervention) mean the server went away.
    if (code === undefined || /^(08|57|53)/.test(code)) throw new UnavailableError(`${location}: PostgreSQL: ${(e as Error).message}`);
    throw new IntegrityError(`${location}: PostgreSQL refused a query (${code}): ${(e as Error).message}`);
  }
}

async function transaction<T>(client: pg.Client, location: string, body: () => Promise<T>): Promise<T> {
  await query(client, location, "BEGIN");
  try {
    const result = await body();
    await query(client, location, "COMMIT");
    return result;
  } catch (e) {
    await client.query("ROLLBACK").catch(() => {});
    throw e;
  }
}

/** Creates the tables and the log's first checkpoint, unless another writer already did. */
async function create(client: pg.Client, location: string, log: NewLog): Promise<void> {
  await transaction(client, location, async () => {
    await query(client, location, "SELECT pg_advisory_xact_lock($1)", [LOCK_KEY]);
    await query(client, location, SCHEMA);
    const existing = await query(client, location, "SELECT 1 FROM vigil_audit_meta");
    if (existing.rowCount) return;
    await query(client, location, "INSERT INTO vigil_audit_meta (format, origin, verifier_key) VALUES ($1, $2, $3)", [
      log.meta.format,
      log.meta.origin,
      log.meta.verifierKey,
    ]);
    await query(client, location, "INSERT INTO vigil_audit_checkpoints (size, note) VALUES (0, $1)", [log.note]);
  });
}

async function readMeta(client: pg.Client, location: string): Promise<LogMeta> {
  const { rows } = await query<{ format: string; origin: string; verifier_key: string }>(
    client,
    location,
    "SELECT format, origin, verifier_key FROM vigil_audit_meta",
  );
  const row = rows[0];
  if (!row) throw new InputError(`${location}: no audit log in this database; create one with vigil audit init`);
  if (row.format !== LOG_FORMAT) throw new IntegrityError(`${location}: not a ${LOG_FORMAT} log (format ${row.format})`);
  return { format: LOG_FORMAT, origin: row.origin, verifierKey: row.verifier_key };
}

async function readNodes(client: pg.Client, location: string, nodes: readonly TreeNode[]): Promise<Buffer[]> {
  if (nodes.length === 0) return [];
  const { rows } = await query<{ level: number; idx: string; hash: Buffer }>(
    client,
    location,
    "SELECT n.level, n.idx, n.hash FROM vigil_audit_nodes n JOIN unnest($1::smallint[], $2::bigint[]) AS w(level, idx) ON n.level = w.level AND n.idx = w.idx",
    [nodes.map((n) => n.level), nodes.map((n) => n.index)],
  );
  const found = new Map(rows.map((r) => [`${r.level}/${r.idx}`, r.hash]));
  return nodes.map((n) => found.get(`${n.level}/${n.index}`) ?? missing(location, `the hash of level ${n.level} index ${n.index}`));
}

function missing(location: string, what: string): never {
  throw new IntegrityError(`${location}: ${what} is missing: rows were deleted`);
}

/** Rows [start, end) by idx, every one present. */
function contiguous<R extends { idx: string }>(rows: R[], start: number, end: number, what: string): R[] {
  rows.forEach((r, i) => {
    if (Number(r.idx) !== start + i)
      throw new IntegrityError(`${what} ${start + i}: missing from the database (rows were deleted or renumbered)`);
  });
  if (rows.length !== end - start)
    throw new IntegrityError(`${what} ${start + rows.length}: missing from the database (rows were deleted or renumbered)`);
  return rows;
}
