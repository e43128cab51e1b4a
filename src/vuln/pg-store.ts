// The shared store: the same tables in PostgreSQL, for several agents reading one database. An import
// is one transaction under an advisory lock, so two imports queue instead of interleaving and readers
// see the database before or after an import, never half of one.
import pg from "pg";
import { UnavailableError } from "../core/errors.ts";
import { redactUrl } from "../audit/store.ts";
import {
  checkSchema,
  generationOf,
  importStamp,
  lookupKey,
  packageKeys,
  SCHEMA_VERSION,
  type AdvisoryStore,
  type DatabaseInfo,
  type ImportTransaction,
  type StoredAdvisory,
} from "./store.ts";
import { queryRows } from "../core/postgres.ts";

/** "vigil osv" as a number: the advisory lock every importer takes. */
const LOCK_KEY = "7596116105108111";
const BATCH = 500;

const TABLES = `
CREATE TABLE IF NOT EXISTS vigil_osv_meta (key text PRIMARY KEY, value text NOT NULL);
CREATE TABLE IF NOT EXISTS vigil_osv_advisories (id text PRIMARY KEY, modified text NOT NULL, source text NOT NULL, doc text NOT NULL);
CREATE TABLE IF NOT EXISTS vigil_osv_packages (base text NOT NULL, ecosystem text NOT NULL, name text NOT NULL, advisory text NOT NULL);
CREATE INDEX IF NOT EXISTS vigil_osv_packages_key ON vigil_osv_packages (base, name);
CREATE INDEX IF NOT EXISTS vigil_osv_packages_advisory ON vigil_osv_packages (advisory);
`;

export class PgAdvisoryStore implements AdvisoryStore {
  readonly location: string;
  readonly #client: pg.Client;

  private constructor(location: string, client: pg.Client) {
    this.location = location;
    this.#client = client;
  }

  static async open(url: string, options: { create?: boolean } = {}): Promise<PgAdvisoryStore> {
    const location = redactUrl(url);
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000 });
    client.on("error", () => {}); // a dropped connection fails the next query, which reports it
    try {
      await client.connect();
    } catch (e) {
      throw new UnavailableError(`${location}: cannot connect to PostgreSQL: ${(e as Error).message}`);
    }
    const store = new PgAdvisoryStore(location, client);
    try {
      if (options.create) {
        await store.#query("SELECT pg_advisory_lock($1)", [LOCK_KEY]);
        try {
          await store.#query(TABLES);
          await store.#query("INSERT INTO vigil_osv_meta (key, value) VALUES ('schema', $1) ON CONFLICT (key) DO NOTHING", [
            String(SCHEMA_VERSION),
          ]);
        } finally {
          await store.#query("SELECT pg_advisory_unlock($1)", [LOCK_KEY]);
        }
      }
      const exists = await store.#query<{ t: string | null }>("SELECT to_regclass('vigil_osv_meta') AS t");
      const rows = exists[0]?.t ? await store.#query<{ value: string }>("SELECT value FROM vigil_osv_meta WHERE key = 'schema'") : [];
      checkSchema(location, rows[0]?.value);
      return store;
    } catch (e) {
      await client.end().catch(() => {});
      throw e;
    }
  }

  #query<R extends pg.QueryResultRow>(text: string, values: unknown[] = []): Promise<R[]> {
    return queryRows<R>(this.#client, this.location, text, values);
  }

  async modifiedIndex(): Promise<Map<string, string>> {
    const rows = await this.#query<{ id: string; modified: string }>("SELECT id, modified FROM vigil_osv_advisories");
    return new Map(rows.map((r) => [r.id, r.modified]));
  }

  async begin(): Promise<ImportTransaction> {
    await this.#query("BEGIN");
    await this.#query("SELECT pg_advisory_xact_lock($1)", [LOCK_KEY]);
    let pending: StoredAdvisory[] = [];
    let removals: string[] = [];
    const flush = async () => {
      const ids = [...pending.map((p) => p.advisory.id), ...removals];
      if (ids.length > 0) {
        await this.#query("DELETE FROM vigil_osv_packages WHERE advisory = ANY($1::text[])", [ids]);
        await this.#query("DELETE FROM vigil_osv_advisories WHERE id = ANY($1::text[])", [ids]);
      }
      if (pending.length > 0) {
        await this.#query(
          "INSERT INTO vigil_osv_advisories (id, modified, source, doc) SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[])",
          [
            pending.map((p) => p.advisory.id),
            pending.map((p) => p.advisory.modified),
            pending.map((p) => p.source),
            pending.map((p) => JSON.stringify(p.advisory)),
          ],
        );
        const keys = pending.flatMap((p) => packageKeys(p.advisory).map((k) => ({ ...k, id: p.advisory.id })));
        await this.#query(
          "INSERT INTO vigil_osv_packages (base, ecosystem, name, advisory) SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[])",
          [keys.map((k) => k.base), keys.map((k) => k.ecosystem), keys.map((k) => k.name), keys.map((k) => k.id)],
        );
      }
      pending = [];
      removals = [];
    };
    let open = true;
    return {
      put: async (entry) => {
        // The same id twice in one batch: the later one wins, as it would one statement at a time.
        pending = pending.filter((p) => p.advisory.id !== entry.advisory.id);
        pending.push(entry);
        if (pending.length >= BATCH) await flush();
      },
      remove: async (id) => {
        pending = pending.filter((p) => p.advisory.id !== id);
        removals.push(id);
        if (removals.length >= BATCH) await flush();
      },
      commit: async () => {
        await flush();
        const stamp = importStamp();
        await this.#query(
          "INSERT INTO vigil_osv_meta (key, value) VALUES ('last_import', $1), ('generation', $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
          [stamp.lastImport, stamp.generation],
        );
        await this.#query("COMMIT");
        open = false;
      },
      rollback: async () => {
        if (open) await this.#query("ROLLBACK").catch(() => {});
        open = false;
      },
    };
  }

  async lookup(keys: { base: string; name: string }[]): Promise<Map<string, StoredAdvisory[]>> {
    const out = new Map<string, StoredAdvisory[]>(keys.map((k) => [lookupKey(k.base, k.name), []]));
    const unique = [...out.keys()].map((k) => k.split("\u0000") as [string, string]);
    for (let i = 0; i < unique.length; i += 2000) {
      const part = unique.slice(i, i + 2000);
      const rows = await this.#query<{ base: string; name: string; doc: string; source: string }>(
        "SELECT p.base, p.name, a.doc, a.source FROM unnest($1::text[], $2::text[]) AS k(base, name) JOIN vigil_osv_packages p ON p.base = k.base AND p.name = k.name JOIN vigil_osv_advisories a ON a.id = p.advisory",
        [part.map((k) => k[0]), part.map((k) => k[1])],
      );
      for (const r of rows) out.get(lookupKey(r.base, r.name))!.push({ advisory: JSON.parse(r.doc), source: r.source });
    }
    return out;
  }

  async info(): Promise<DatabaseInfo> {
    const [a] = await this.#query<{ n: string }>("SELECT COUNT(*) AS n FROM vigil_osv_advisories");
    const [p] = await this.#query<{ n: string }>("SELECT COUNT(*) AS n FROM vigil_osv_packages");
    const eco = await this.#query<{ base: string; n: string }>(
      "SELECT base, COUNT(DISTINCT advisory) AS n FROM vigil_osv_packages GROUP BY base ORDER BY base",
    );
    const [last] = await this.#query<{ value: string }>("SELECT value FROM vigil_osv_meta WHERE key = 'last_import'");
    return {
      location: this.location,
      schema: SCHEMA_VERSION,
      advisories: Number(a!.n),
      packages: Number(p!.n),
      ecosystems: Object.fromEntries(eco.map((e) => [e.base, Number(e.n)])),
      ...(last && { lastImport: last.value }),
    };
  }

  async generation(): Promise<{ schema: string | undefined; generation: string }> {
    const rows = await this.#query<{ key: string; value: string }>(
      "SELECT key, value FROM vigil_osv_meta WHERE key IN ('schema', 'generation', 'last_import')",
    );
    return generationOf(new Map(rows.map((r) => [r.key, r.value])));
  }

  async close(): Promise<void> {
    await this.#client.end().catch(() => {});
  }
}

/** --db: a postgres:// URL, else a folder for the embedded store. */
export async function openStore(location: string, options: { create?: boolean } = {}): Promise<AdvisoryStore> {
  if (/^postgres(ql)?:\/\//.test(location)) return PgAdvisoryStore.open(location, options);
  const { SqliteStore } = await import("./sqlite-store.ts");
  return SqliteStore.open(location, options);
}
