// The shared inventory: the embedded store's tables in PostgreSQL, for several clusters' monitors (and
// `vigil findings` anywhere) reading one inventory. Writes that belong together are one transaction;
// creating the tables takes an advisory lock so two monitors starting at once do not race.
import pg from "pg";
import { redactUrl } from "../audit/store.ts";
import { InputError, UnavailableError } from "../core/errors.ts";
import type { SourcedObject } from "../manifest/manifests.ts";
import type { Component } from "../vuln/match.ts";
import type { FindingPlace, MonitorFinding } from "./findings.ts";
import { findingRows, findingsFromRows, type FindingsUpdate, type InventoryStore } from "./inventory.ts";
import {
  checkInventoryVersion,
  GENERATION,
  INVENTORY_TABLES,
  INVENTORY_VERSION,
  VERSION_1_FINDINGS,
  type DeployedWorkload,
} from "../api/inventory.ts";
import { queryRows } from "../core/postgres.ts";

/** "vigil inventory" as a number: the lock held while the tables are made. */
const LOCK_KEY = "7596116105108105";

export class PgInventory implements InventoryStore {
  readonly location: string;
  readonly #client: pg.Client;

  private constructor(location: string, client: pg.Client) {
    this.location = location;
    this.#client = client;
  }

  static async open(url: string): Promise<PgInventory> {
    const location = redactUrl(url);
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000 });
    client.on("error", () => {}); // a dropped connection fails the next query, which reports it
    try {
      await client.connect();
    } catch (e) {
      throw new UnavailableError(`${location}: cannot connect to PostgreSQL: ${(e as Error).message}`);
    }
    const store = new PgInventory(location, client);
    try {
      await store.#query("SELECT pg_advisory_lock($1)", [LOCK_KEY]);
      try {
        await store.#query(INVENTORY_TABLES.replaceAll("TEXT", "text").replaceAll(" WITHOUT ROWID", ""));
        await store.#query("INSERT INTO vigil_monitor_meta (key, value) VALUES ('schema', $1) ON CONFLICT (key) DO NOTHING", [
          INVENTORY_VERSION,
        ]);
        const schema = await store.#query<{ value: string }>("SELECT value FROM vigil_monitor_meta WHERE key = 'schema'");
        if (schema[0]?.value === "1") await store.#migrateFromSchema1();
      } finally {
        await store.#query("SELECT pg_advisory_unlock($1)", [LOCK_KEY]);
      }
      const rows = await store.#query<{ value: string }>("SELECT value FROM vigil_monitor_meta WHERE key = 'schema'");
      checkInventoryVersion(rows[0]?.value, location);
      return store;
    } catch (e) {
      await client.end().catch(() => {});
      throw e;
    }
  }

  /** Schema 1 kept each finding as one JSON document: rewritten as places and details, first-seen times kept. */
  #migrateFromSchema1(): Promise<void> {
    return this.#transaction(async () => {
      const rows = await this.#query<{ doc: string; since: string }>(`SELECT doc, since FROM ${VERSION_1_FINDINGS}`);
      await this.#writeFindings({
        opened: rows.map((r) => ({ ...(JSON.parse(r.doc) as MonitorFinding), since: r.since })),
        changed: [],
        closed: [],
      });
      await this.#query(`DROP TABLE ${VERSION_1_FINDINGS}`);
      await this.#query("UPDATE vigil_monitor_meta SET value = $1 WHERE key = 'schema'", [INVENTORY_VERSION]);
    });
  }

  #query<R extends pg.QueryResultRow>(text: string, values: unknown[] = []): Promise<R[]> {
    return queryRows<R>(this.#client, this.location, text, values);
  }

  async #transaction(body: () => Promise<void>): Promise<void> {
    await this.#query("BEGIN");
    try {
      await body();
      await this.#query("COMMIT");
    } catch (e) {
      await this.#query("ROLLBACK").catch(() => {});
      throw e;
    }
  }

  replaceEnvironment(environment: string, workloads: DeployedWorkload[]): Promise<void> {
    return this.#transaction(async () => {
      await this.#query("DELETE FROM vigil_monitor_workloads WHERE environment = $1", [environment]);
      for (const w of workloads) {
        if (w.environment !== environment)
          throw new InputError(`workload ${w.workload} is of environment ${w.environment}, not ${environment}`);
        await this.#query("INSERT INTO vigil_monitor_workloads (environment, workload, doc) VALUES ($1, $2, $3)", [
          environment,
          w.workload,
          JSON.stringify(w),
        ]);
      }
      await this.#raiseGeneration();
    });
  }

  async #raiseGeneration(): Promise<void> {
    await this.#query(
      `INSERT INTO vigil_monitor_meta (key, value) VALUES ('${GENERATION}', '1') ON CONFLICT (key) DO UPDATE SET value = (vigil_monitor_meta.value::bigint + 1)::text`,
    );
  }

  async generation(): Promise<number> {
    return Number(
      (await this.#query<{ value: string }>(`SELECT value FROM vigil_monitor_meta WHERE key = '${GENERATION}'`))[0]?.value ?? 0,
    );
  }

  async workloads(): Promise<DeployedWorkload[]> {
    return (await this.#query<{ doc: string }>("SELECT doc FROM vigil_monitor_workloads ORDER BY environment, workload")).map(
      (r) => JSON.parse(r.doc) as DeployedWorkload,
    );
  }

  async hasComponents(digest: string): Promise<boolean> {
    return (await this.#query("SELECT 1 FROM vigil_monitor_components WHERE digest = $1", [digest])).length > 0;
  }

  async putComponents(digest: string, components: Component[]): Promise<void> {
    await this.#query(
      "INSERT INTO vigil_monitor_components (digest, doc) VALUES ($1, $2) ON CONFLICT (digest) DO UPDATE SET doc = excluded.doc",
      [digest, JSON.stringify(components)],
    );
  }

  async components(digest: string): Promise<Component[]> {
    const rows = await this.#query<{ doc: string }>("SELECT doc FROM vigil_monitor_components WHERE digest = $1", [digest]);
    return rows[0] ? (JSON.parse(rows[0].doc) as Component[]) : [];
  }

  updateFindings(update: FindingsUpdate): Promise<void> {
    if (update.opened.length + update.changed.length + update.closed.length === 0) return Promise.resolve();
    return this.#transaction(() => this.#writeFindings(update));
  }

  /** One statement per batch of rows (see findingRows): a place's first-seen time already stored is kept, an unchanged detail not rewritten. */
  async #writeFindings(update: FindingsUpdate): Promise<void> {
    const rows = findingRows(update);
    for (const batch of batches(rows.details)) {
      await this.#query(
        "INSERT INTO vigil_monitor_finding_details (id, doc) SELECT * FROM unnest($1::text[], $2::text[]) ON CONFLICT (id) DO UPDATE SET doc = excluded.doc WHERE vigil_monitor_finding_details.doc <> excluded.doc",
        [batch.map(([id]) => id), batch.map(([, doc]) => doc)],
      );
    }
    for (const batch of batches(rows.places)) {
      const column = (field: keyof FindingPlace) => batch.map(([, p]) => p[field]);
      await this.#query(
        `INSERT INTO vigil_monitor_open_findings (detail, key, environment, workload, image, digest, since)
         SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[])
         ON CONFLICT (detail, key) DO UPDATE SET environment = excluded.environment, workload = excluded.workload, image = excluded.image, digest = excluded.digest`,
        [
          batch.map(([detail]) => detail),
          column("key"),
          column("environment"),
          column("workload"),
          column("image"),
          column("digest"),
          column("since"),
        ],
      );
    }
    for (const batch of batches(rows.closed)) {
      await this.#query("DELETE FROM vigil_monitor_open_findings WHERE (detail, key) IN (SELECT * FROM unnest($1::text[], $2::text[]))", [
        batch.map(([detail]) => detail),
        batch.map(([, key]) => key),
      ]);
    }
    for (const batch of batches(rows.orphans)) {
      await this.#query(
        "DELETE FROM vigil_monitor_finding_details d WHERE d.id = ANY($1::text[]) AND NOT EXISTS (SELECT 1 FROM vigil_monitor_open_findings p WHERE p.detail = d.id)",
        [batch],
      );
    }
  }

  async findings(filter: { environment?: string; since?: string } = {}): Promise<MonitorFinding[]> {
    const rows = await this.#query<FindingPlace & { doc: string; detail: string }>(
      `SELECT p.detail, p.key, p.environment, p.workload, p.image, p.digest, p.since, d.doc
       FROM vigil_monitor_open_findings p JOIN vigil_monitor_finding_details d ON d.id = p.detail
       WHERE ($1::text IS NULL OR p.environment = $1) AND ($2::text IS NULL OR p.since >= $2) ORDER BY p.environment COLLATE "C", p.key COLLATE "C"`,
      [filter.environment ?? null, filter.since ?? null],
    );
    return findingsFromRows(rows);
  }

  putManifests(environment: string, objects: readonly SourcedObject[]): Promise<void> {
    return this.#transaction(async () => {
      await this.#query(
        "INSERT INTO vigil_monitor_manifests (environment, doc) VALUES ($1, $2) ON CONFLICT (environment) DO UPDATE SET doc = excluded.doc",
        [environment, JSON.stringify(objects)],
      );
      await this.#raiseGeneration();
    });
  }

  async manifests(environment: string): Promise<SourcedObject[]> {
    const rows = await this.#query<{ doc: string }>("SELECT doc FROM vigil_monitor_manifests WHERE environment = $1", [environment]);
    return rows[0] ? (JSON.parse(rows[0].doc) as SourcedObject[]) : [];
  }

  async environments(): Promise<string[]> {
    return (await this.#query<{ environment: string }>("SELECT environment FROM vigil_monitor_manifests ORDER BY environment")).map(
      (r) => r.environment,
    );
  }

  async state(name: string): Promise<string | undefined> {
    return (await this.#query<{ value: string }>("SELECT value FROM vigil_monitor_meta WHERE key = $1", [`state:${name}`]))[0]?.value;
  }

  async setState(name: string, value: string): Promise<void> {
    await this.#query(
      "INSERT INTO vigil_monitor_meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
      [`state:${name}`, value],
    );
  }

  async close(): Promise<void> {
    await this.#client.end().catch(() => {});
  }
}

/** Rows per statement: bounded requests, however large a change. */
function batches<T>(rows: T[], size = 1000): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < rows.length; i += size) out.push(rows.slice(i, i + size));
  return out;
}
