// The inventory: per environment, every workload Vigil deployed, the image digests it runs and the
// revision and verdict that admitted it; per digest, its components (the SBOM, read once per digest);
// and the open findings with the time each was first seen. The embedded store is one SQLite file
// (DIR/inventory.sqlite, node:sqlite in WAL mode, so `vigil findings` reads while the monitor writes).
import { existsSync, mkdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { DatabaseSync, type StatementSync } from "node:sqlite";
import { InputError, UnavailableError } from "../core/errors.ts";
import type { Component } from "../vuln/match.ts";
import type { MonitorFinding } from "./findings.ts";
import type { Admission } from "./trust.ts";
import type { SourcedObject } from "../manifest/manifests.ts";
import { parseReference } from "../oci/reference.ts";

export interface DeployedImage {
  /** The image as the manifest names it, and the digest it is pinned to. */
  image: string;
  digest: string;
}

export interface DeployedWorkload {
  environment: string;
  /** "Kind namespace/name", as the audit log names objects. */
  workload: string;
  images: DeployedImage[];
  revision: string;
  verdict: "pass" | "fail";
  deployedAt: string;
  /** The keys that admitted the revision's commits and the workload's images. */
  admissions?: Admission[];
}

export interface InventoryStore {
  readonly location: string;
  /** Replaces what an environment runs with these workloads (one deployment is the whole environment). */
  replaceEnvironment(environment: string, workloads: DeployedWorkload[]): Promise<void>;
  workloads(): Promise<DeployedWorkload[]>;
  /**
   * A number every replaceEnvironment and putManifests raises, in its transaction: a running monitor
   * compares it with the one it loaded to notice a deployment (or drift) another process recorded.
   */
  generation(): Promise<number>;
  hasComponents(digest: string): Promise<boolean>;
  putComponents(digest: string, components: Component[]): Promise<void>;
  components(digest: string): Promise<Component[]>;
  /** Opens or updates these findings (each keeps its first-seen time) and closes those keys. */
  updateFindings(upserts: MonitorFinding[], closed: string[]): Promise<void>;
  findings(filter?: { environment?: string; since?: string }): Promise<MonitorFinding[]>;
  /** The manifests last applied to an environment (what the policy trigger evaluates again). */
  putManifests(environment: string, objects: readonly SourcedObject[]): Promise<void>;
  manifests(environment: string): Promise<SourcedObject[]>;
  environments(): Promise<string[]>;
  /** A small named value the monitor keeps between runs (the repository's refs at the last look). */
  state(name: string): Promise<string | undefined>;
  setState(name: string, value: string): Promise<void>;
  close(): Promise<void>;
}

const FILE = "inventory.sqlite";
/** Rows per multi-row statement: 4 values each stays far below SQLite's 32,766 variables per statement. */
const ROWS_PER_STATEMENT = 500;

/** Calls `write` on consecutive slices of at most `size` items. */
function inBatches<T>(items: readonly T[], size: number, write: (batch: readonly T[]) => void): void {
  for (let i = 0; i < items.length; i += size) write(items.slice(i, i + size));
}

/** "(?, ?), (?, ?)" for `rows` rows of `columns` values. */
function placeholders(rows: number, columns: number): string {
  const row = columns === 1 ? "?" : `(${Array(columns).fill("?").join(", ")})`;
  return Array(rows).fill(row).join(", ");
}
export const SCHEMA = "1";
/** The meta key of the inventory's generation (see InventoryStore.generation). */
export const GENERATION = "generation";

export const TABLES = `
CREATE TABLE IF NOT EXISTS vigil_monitor_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS vigil_monitor_workloads (environment TEXT NOT NULL, workload TEXT NOT NULL, doc TEXT NOT NULL, PRIMARY KEY (environment, workload));
CREATE TABLE IF NOT EXISTS vigil_monitor_components (digest TEXT PRIMARY KEY, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS vigil_monitor_manifests (environment TEXT PRIMARY KEY, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS vigil_monitor_findings (key TEXT PRIMARY KEY, environment TEXT NOT NULL, since TEXT NOT NULL, doc TEXT NOT NULL);
`;

/** A folder for the embedded store, or a postgres:// URL for one shared by several clusters' monitors. */
export async function openInventory(location: string): Promise<InventoryStore> {
  if (/^postgres(ql)?:\/\//.test(location)) return (await import("./pg-inventory.ts")).PgInventory.open(location);
  return SqliteInventory.open(location);
}

class SqliteInventory implements InventoryStore {
  readonly location: string;
  readonly #db: DatabaseSync;
  readonly #prepared = new Map<string, StatementSync>();

  private constructor(location: string, db: DatabaseSync) {
    this.location = location;
    this.#db = db;
  }

  static open(dir: string): SqliteInventory {
    if (existsSync(dir) && !statSync(dir).isDirectory())
      throw new InputError(`${dir}: the inventory is a folder (it holds ${FILE}), not a file`);
    mkdirSync(dir, { recursive: true });
    const file = join(dir, FILE);
    let db: DatabaseSync;
    try {
      db = new DatabaseSync(file);
      // A page cache of 128 MiB: a feed that changes 300,000 findings updates rows all over the table.
      db.exec("PRAGMA busy_timeout = 10000; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA cache_size = -131072;");
      db.exec(TABLES);
    } catch (e) {
      throw new UnavailableError(`${file}: cannot open the inventory: ${(e as Error).message}`);
    }
    const row = db.prepare("SELECT value FROM vigil_monitor_meta WHERE key = 'schema'").get() as { value: string } | undefined;
    if (row === undefined) db.prepare("INSERT INTO vigil_monitor_meta (key, value) VALUES ('schema', ?)").run(SCHEMA);
    else if (row.value !== SCHEMA) {
      db.close();
      throw new InputError(`${file}: inventory schema ${JSON.stringify(row.value)}, this Vigil reads ${SCHEMA}`);
    }
    return new SqliteInventory(file, db);
  }

  async replaceEnvironment(environment: string, workloads: DeployedWorkload[]): Promise<void> {
    this.#transaction(() => {
      this.#db.prepare("DELETE FROM vigil_monitor_workloads WHERE environment = ?").run(environment);
      const insert = this.#db.prepare("INSERT INTO vigil_monitor_workloads (environment, workload, doc) VALUES (?, ?, ?)");
      for (const w of workloads) {
        if (w.environment !== environment)
          throw new InputError(`workload ${w.workload} is of environment ${w.environment}, not ${environment}`);
        insert.run(environment, w.workload, JSON.stringify(w));
      }
      this.#raiseGeneration();
    });
  }

  #raiseGeneration(): void {
    this.#statement(
      `INSERT INTO vigil_monitor_meta (key, value) VALUES ('${GENERATION}', '1') ON CONFLICT (key) DO UPDATE SET value = CAST(value AS INTEGER) + 1`,
    ).run();
  }

  async generation(): Promise<number> {
    const row = this.#db.prepare(`SELECT value FROM vigil_monitor_meta WHERE key = '${GENERATION}'`).get() as
      | { value: string | number }
      | undefined;
    return Number(row?.value ?? 0);
  }

  async workloads(): Promise<DeployedWorkload[]> {
    const rows = this.#db.prepare("SELECT doc FROM vigil_monitor_workloads ORDER BY environment, workload").all() as { doc: string }[];
    return rows.map((r) => JSON.parse(r.doc) as DeployedWorkload);
  }

  async hasComponents(digest: string): Promise<boolean> {
    return this.#db.prepare("SELECT 1 FROM vigil_monitor_components WHERE digest = ?").get(digest) !== undefined;
  }

  async putComponents(digest: string, components: Component[]): Promise<void> {
    this.#db.prepare("INSERT OR REPLACE INTO vigil_monitor_components (digest, doc) VALUES (?, ?)").run(digest, JSON.stringify(components));
  }

  async components(digest: string): Promise<Component[]> {
    const row = this.#db.prepare("SELECT doc FROM vigil_monitor_components WHERE digest = ?").get(digest) as { doc: string } | undefined;
    return row ? (JSON.parse(row.doc) as Component[]) : [];
  }

  async updateFindings(upserts: MonitorFinding[], closed: string[]): Promise<void> {
    if (upserts.length === 0 && closed.length === 0) return;
    this.#transaction(() => {
      // Multi-row statements, each prepared once per size: a feed that changes 300,000 findings is a few
      // hundred statements, not 300,000. A finding seen before keeps the time it was first seen.
      inBatches(upserts, ROWS_PER_STATEMENT, (batch) => {
        const values: string[] = [];
        for (const f of batch) values.push(f.key, f.environment, f.since, JSON.stringify(f));
        this.#statement(
          `INSERT INTO vigil_monitor_findings (key, environment, since, doc) VALUES ${placeholders(batch.length, 4)} ON CONFLICT (key) DO UPDATE SET doc = excluded.doc`,
        ).run(...values);
      });
      inBatches(closed, ROWS_PER_STATEMENT * 4, (batch) => {
        this.#statement(`DELETE FROM vigil_monitor_findings WHERE key IN (${placeholders(batch.length, 1)})`).run(...batch);
      });
    });
  }

  /** A statement prepared once and kept: the batched writes reuse the same few sizes. */
  #statement(sql: string): StatementSync {
    let statement = this.#prepared.get(sql);
    if (!statement) this.#prepared.set(sql, (statement = this.#db.prepare(sql)));
    return statement;
  }

  async findings(filter: { environment?: string; since?: string } = {}): Promise<MonitorFinding[]> {
    const rows = this.#db
      .prepare(
        "SELECT doc, since FROM vigil_monitor_findings WHERE (?1 IS NULL OR environment = ?1) AND (?2 IS NULL OR since >= ?2) ORDER BY environment, key",
      )
      .all(filter.environment ?? null, filter.since ?? null) as { doc: string; since: string }[];
    return rows.map((r) => ({ ...(JSON.parse(r.doc) as MonitorFinding), since: r.since }));
  }

  async putManifests(environment: string, objects: readonly SourcedObject[]): Promise<void> {
    this.#transaction(() => {
      this.#db
        .prepare("INSERT OR REPLACE INTO vigil_monitor_manifests (environment, doc) VALUES (?, ?)")
        .run(environment, JSON.stringify(objects));
      this.#raiseGeneration();
    });
  }

  async manifests(environment: string): Promise<SourcedObject[]> {
    const row = this.#db.prepare("SELECT doc FROM vigil_monitor_manifests WHERE environment = ?").get(environment) as
      | { doc: string }
      | undefined;
    return row ? (JSON.parse(row.doc) as SourcedObject[]) : [];
  }

  async environments(): Promise<string[]> {
    return (
      this.#db.prepare("SELECT environment FROM vigil_monitor_manifests ORDER BY environment").all() as { environment: string }[]
    ).map((r) => r.environment);
  }

  async state(name: string): Promise<string | undefined> {
    return (this.#db.prepare("SELECT value FROM vigil_monitor_meta WHERE key = ?").get(`state:${name}`) as { value: string } | undefined)
      ?.value;
  }

  async setState(name: string, value: string): Promise<void> {
    this.#db.prepare("INSERT OR REPLACE INTO vigil_monitor_meta (key, value) VALUES (?, ?)").run(`state:${name}`, value);
  }

  async close(): Promise<void> {
    this.#db.close();
  }

  #transaction(body: () => void): void {
    this.#db.exec("BEGIN IMMEDIATE");
    try {
      body();
      this.#db.exec("COMMIT");
    } catch (e) {
      this.#db.exec("ROLLBACK");
      throw e;
    }
  }
}

/** An image digest Vigil verified and deployed to an environment, as the admission webhook asks about it. */
export interface VerifiedImage {
  /** "registry/repository" as the manifests name it, the tag they named (where they named one), the digest it was pinned to. */
  repository: string;
  tag?: string;
  digest: string;
  /** The workloads that run it there ("Kind namespace/name") and the revision that deployed them. */
  workloads: string[];
  revisions: string[];
}

/**
 * Per environment, the image digests the gates verified and the agent deployed (workloads whose verdict
 * passed), with tag → digest where the manifest named a tag. One read of the inventory's workloads.
 */
export async function verifiedImages(inventory: InventoryStore, environment: string): Promise<VerifiedImage[]> {
  const byImage = new Map<string, VerifiedImage>();
  for (const w of await inventory.workloads()) {
    if (w.environment !== environment || w.verdict !== "pass") continue;
    for (const image of w.images) {
      const ref = parseReference(image.image);
      const repository = `${ref.registry}/${ref.repository}`;
      const id = `${repository}\u001f${ref.tag ?? ""}\u001f${image.digest}`;
      const seen = byImage.get(id) ?? { repository, ...(ref.tag && { tag: ref.tag }), digest: image.digest, workloads: [], revisions: [] };
      if (!seen.workloads.includes(w.workload)) seen.workloads.push(w.workload);
      if (!seen.revisions.includes(w.revision)) seen.revisions.push(w.revision);
      byImage.set(id, seen);
    }
  }
  return [...byImage.values()].sort((a, b) => (a.repository + a.digest < b.repository + b.digest ? -1 : 1));
}
