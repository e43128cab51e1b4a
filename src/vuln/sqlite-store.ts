// The embedded store: one SQLite file (DIR/osv.sqlite) through Node's built-in node:sqlite, in WAL mode
// so scans read while an import writes, and each import one transaction.
import { mkdirSync, existsSync, statSync } from "node:fs";
import { join } from "node:path";
import { DatabaseSync, type StatementSync } from "node:sqlite";
import { InputError, UnavailableError } from "../core/errors.ts";
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

/** The database file in the --db folder. */
export const DATABASE_FILE = "osv.sqlite";

const TABLES = `
CREATE TABLE IF NOT EXISTS vigil_osv_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS vigil_osv_advisories (id TEXT PRIMARY KEY, modified TEXT NOT NULL, source TEXT NOT NULL, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS vigil_osv_packages (base TEXT NOT NULL, ecosystem TEXT NOT NULL, name TEXT NOT NULL, advisory TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS vigil_osv_packages_key ON vigil_osv_packages (base, name);
CREATE INDEX IF NOT EXISTS vigil_osv_packages_advisory ON vigil_osv_packages (advisory);
`;

export class SqliteStore implements AdvisoryStore {
  readonly location: string;
  readonly #db: DatabaseSync;
  readonly #byKey: StatementSync;

  private constructor(location: string, db: DatabaseSync) {
    this.location = location;
    this.#db = db;
    this.#byKey = db.prepare(
      "SELECT a.id, a.doc, a.source FROM vigil_osv_packages p JOIN vigil_osv_advisories a ON a.id = p.advisory WHERE p.base = ? AND p.name = ?",
    );
  }

  /** Opens DIR/osv.sqlite; `create` makes the folder and tables when they are not there. */
  static open(dir: string, options: { create?: boolean } = {}): SqliteStore {
    const file = join(dir, DATABASE_FILE);
    if (existsSync(dir) && !statSync(dir).isDirectory())
      throw new InputError(`${dir}: --db names a file; give the folder that holds ${DATABASE_FILE}`);
    if (!existsSync(file)) {
      if (!options.create)
        throw new InputError(`${dir}: no vulnerability database here (${DATABASE_FILE}); run "vigil db import PATH... --db ${dir}" first`);
      mkdirSync(dir, { recursive: true });
    }
    let db: DatabaseSync;
    try {
      db = new DatabaseSync(file);
    } catch (e) {
      throw new UnavailableError(`${file}: cannot open the database: ${(e as Error).message}`);
    }
    try {
      db.exec("PRAGMA busy_timeout = 10000; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;");
      const hasMeta = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'vigil_osv_meta'").get();
      if (!hasMeta && options.create) {
        db.exec(TABLES);
        db.prepare("INSERT INTO vigil_osv_meta (key, value) VALUES ('schema', ?)").run(String(SCHEMA_VERSION));
      }
      const row =
        hasMeta || options.create
          ? (db.prepare("SELECT value FROM vigil_osv_meta WHERE key = 'schema'").get() as { value: string } | undefined)
          : undefined;
      checkSchema(file, row?.value);
    } catch (e) {
      db.close();
      if (e instanceof InputError) throw e;
      throw new InputError(`${file}: not a readable vulnerability database: ${(e as Error).message}`);
    }
    return new SqliteStore(file, db);
  }

  async modifiedIndex(): Promise<Map<string, string>> {
    const rows = this.#db.prepare("SELECT id, modified FROM vigil_osv_advisories").all() as { id: string; modified: string }[];
    return new Map(rows.map((r) => [r.id, r.modified]));
  }

  async begin(): Promise<ImportTransaction> {
    const db = this.#db;
    db.exec("BEGIN IMMEDIATE");
    const deletePackages = db.prepare("DELETE FROM vigil_osv_packages WHERE advisory = ?");
    const deleteAdvisory = db.prepare("DELETE FROM vigil_osv_advisories WHERE id = ?");
    const upsert = db.prepare(
      "INSERT INTO vigil_osv_advisories (id, modified, source, doc) VALUES (?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET modified = excluded.modified, source = excluded.source, doc = excluded.doc",
    );
    const insertPackage = db.prepare("INSERT INTO vigil_osv_packages (base, ecosystem, name, advisory) VALUES (?, ?, ?, ?)");
    let open = true;
    return {
      async put({ advisory, source }) {
        deletePackages.run(advisory.id);
        upsert.run(advisory.id, advisory.modified, source, JSON.stringify(advisory));
        for (const k of packageKeys(advisory)) insertPackage.run(k.base, k.ecosystem, k.name, advisory.id);
      },
      async remove(id) {
        deletePackages.run(id);
        deleteAdvisory.run(id);
      },
      async commit() {
        const stamp = importStamp();
        const setMeta = db.prepare(
          "INSERT INTO vigil_osv_meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        );
        setMeta.run("last_import", stamp.lastImport);
        setMeta.run("generation", stamp.generation);
        db.exec("COMMIT");
        open = false;
      },
      async rollback() {
        if (open) db.exec("ROLLBACK");
        open = false;
      },
    };
  }

  async lookup(keys: { base: string; name: string }[]): Promise<Map<string, StoredAdvisory[]>> {
    const out = new Map<string, StoredAdvisory[]>();
    // An advisory naming several packages is parsed once per lookup, not once per package.
    const parsed = new Map<string, StoredAdvisory>();
    for (const { base, name } of keys) {
      const key = lookupKey(base, name);
      if (out.has(key)) continue;
      const rows = this.#byKey.all(base, name) as { id: string; doc: string; source: string }[];
      out.set(
        key,
        rows.map((r) => {
          let entry = parsed.get(r.id);
          if (!entry) parsed.set(r.id, (entry = { advisory: JSON.parse(r.doc), source: r.source }));
          return entry;
        }),
      );
    }
    return out;
  }

  async info(): Promise<DatabaseInfo> {
    const count = (sql: string) => (this.#db.prepare(sql).get() as { n: number }).n;
    const ecosystems = this.#db
      .prepare("SELECT base, COUNT(DISTINCT advisory) AS n FROM vigil_osv_packages GROUP BY base ORDER BY base")
      .all() as { base: string; n: number }[];
    const last = this.#db.prepare("SELECT value FROM vigil_osv_meta WHERE key = 'last_import'").get() as { value: string } | undefined;
    return {
      location: this.location,
      schema: SCHEMA_VERSION,
      advisories: count("SELECT COUNT(*) AS n FROM vigil_osv_advisories"),
      packages: count("SELECT COUNT(*) AS n FROM vigil_osv_packages"),
      ecosystems: Object.fromEntries(ecosystems.map((e) => [e.base, e.n])),
      ...(last && { lastImport: last.value }),
    };
  }

  async generation(): Promise<{ schema: string | undefined; generation: string }> {
    const rows = this.#db.prepare("SELECT key, value FROM vigil_osv_meta WHERE key IN ('schema', 'generation', 'last_import')").all() as {
      key: string;
      value: string;
    }[];
    return generationOf(new Map(rows.map((r) => [r.key, r.value])));
  }

  async close(): Promise<void> {
    this.#db.close();
  }
}
