// The shared inventory: the embedded store's tables in PostgreSQL, for several clusters' monitors (and
// `vigil findings` anywhere) reading one inventory. Writes that belong together are one transaction;
// creating the tables takes an advisory lock so two monitors starting at once do not race.
import pg from "pg";
import { redactUrl } from "../audit/store.ts";
import { InputError, UnavailableError } from "../core/errors.ts";
import type { SourcedObject } from "../manifest/manifests.ts";
import type { Component } from "../vuln/match.ts";
import type { MonitorFinding } from "./findings.ts";
import { GENERATION, SCHEMA, TABLES, type DeployedWorkload, type InventoryStore } from "./inventory.ts";
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
        await store.#query(TABLES.replaceAll("TEXT", "text"));
        await store.#query("INSERT INTO vigil_monitor_meta (key, value) VALUES ('schema', $1) ON CONFLICT (key) DO NOTHING", [SCHEMA]);
      } finally {
        await store.#query("SELECT pg_advisory_unlock($1)", [LOCK_KEY]);
      }
      const rows = await store.#query<{ value: string }>("SELECT value FROM vigil_monitor_meta WHERE key = 'schema'");
      if (rows[0]?.value !== SCHEMA)
        throw new InputError(`${location}: inventory schema ${JSON.stringify(rows[0]?.value)}, this Vigil reads ${SCHEMA}`);
      return store;
    } catch (e) {
      await client.end().catch(() => {});
      throw e;
    }
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

  updateFindings(upserts: MonitorFinding[], closed: string[]): Promise<void> {
    if (upserts.length === 0 && closed.length === 0) return Promise.resolve();
    return this.#transaction(async () => {
      // One statement per batch: a first-seen time already stored is kept.
      for (let i = 0; i < upserts.length; i += 1000) {
        const batch = upserts.slice(i, i + 1000);
        await this.#query(
          "INSERT INTO vigil_monitor_findings (key, environment, since, doc) SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) ON CONFLICT (key) DO UPDATE SET doc = excluded.doc",
          [batch.map((f) => f.key), batch.map((f) => f.environment), batch.map((f) => f.since), batch.map((f) => JSON.stringify(f))],
        );
      }
      if (closed.length > 0) await this.#query("DELETE FROM vigil_monitor_findings WHERE key = ANY($1::text[])", [closed]);
    });
  }

  async findings(filter: { environment?: string; since?: string } = {}): Promise<MonitorFinding[]> {
    const rows = await this.#query<{ doc: string; since: string }>(
      'SELECT doc, since FROM vigil_monitor_findings WHERE ($1::text IS NULL OR environment = $1) AND ($2::text IS NULL OR since >= $2) ORDER BY environment COLLATE "C", key COLLATE "C"',
      [filter.environment ?? null, filter.since ?? null],
    );
    return rows.map((r) => ({ ...(JSON.parse(r.doc) as MonitorFinding), since: r.since }));
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
