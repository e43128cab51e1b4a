// The inventory: per environment, every workload Vigil deployed, the image digests it runs and the
// revision and verdict that admitted it; per digest, its components (the SBOM, read once per digest);
// and the open findings with the time each was first seen. The embedded store is one SQLite file
// (DIR/inventory.sqlite, node:sqlite in WAL mode, so `vigil findings` reads while the monitor writes).
import { existsSync, mkdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { DatabaseSync, type StatementSync } from "node:sqlite";
import { InputError, UnavailableError } from "../core/errors.ts";
import type { Component } from "../vuln/match.ts";
import { detailId, joinFinding, splitFinding, type FindingDetail, type FindingPlace, type MonitorFinding } from "./findings.ts";
import type { SourcedObject } from "../manifest/manifests.ts";
import { parseReference } from "../oci/reference.ts";
import {
  checkInventoryVersion,
  GENERATION,
  INVENTORY_TABLES,
  INVENTORY_VERSION,
  VERSION_1_FINDINGS,
  type DeployedWorkload,
} from "../api/inventory.ts";

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
  /** Writes one change to the open findings (each keeps its first-seen time), in one transaction. */
  updateFindings(update: FindingsUpdate): Promise<void>;
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

/**
 * One change to the open findings, as the monitor's diff found it. Only the delta is written: a place
 * row (key, environment, workload, image, digest, since, detail id: about 300 bytes) per finding opened
 * or moved, a detail row per distinct detail opened or changed (shared by every place that runs the
 * component: see detailId), and deletions of closed places and of details no place names any more.
 */
export interface FindingsUpdate {
  /** New findings, and findings whose place changed under the same key (another image tag for the digest). */
  opened: MonitorFinding[];
  /** Findings whose details changed where they are (an advisory's fixed version, a VEX suppression): details only. */
  changed: MonitorFinding[];
  closed: MonitorFinding[];
}

/** The rows a FindingsUpdate writes, for either store. */
export function findingRows(update: FindingsUpdate): {
  details: [id: string, doc: string][];
  /** Each opened finding with its detail id: the finding itself carries the place's columns. */
  places: [detail: string, place: FindingPlace][];
  closed: [detail: string, key: string][];
  /** Details of closed findings: deleted unless a place still names them. */
  orphans: string[];
} {
  const ids = new DetailIds();
  const details = new Map<string, string>();
  const places: [string, FindingPlace][] = [];
  for (const list of [update.opened, update.changed]) {
    for (const f of list) {
      const id = ids.of(f);
      // Every place of one component's advisory finding has the same detail: serialised once.
      if (!details.has(id)) details.set(id, JSON.stringify(splitFinding(f).detail));
      if (list === update.opened) places.push([id, f]);
    }
  }
  const closed = update.closed.map((f): [string, string] => [ids.of(f), f.key]);
  return { details: [...details], places, closed, orphans: [...new Set(closed.map(([id]) => id))] };
}

/**
 * detailId, remembered per subject and rule for one update: a feed's change names the same component and
 * advisory in many places, and the finding's own strings look up faster than a new id string is made.
 */
class DetailIds {
  readonly #bySubject = new Map<string, Map<string, string>>();

  of(f: MonitorFinding): string {
    if (f.type !== "advisory") return detailId(f);
    let byRule = this.#bySubject.get(f.subject);
    if (!byRule) this.#bySubject.set(f.subject, (byRule = new Map()));
    let id = byRule.get(f.rule);
    if (id === undefined) byRule.set(f.rule, (id = detailId(f)));
    return id;
  }
}

/** Rows of (place columns, detail document) read back as findings; each detail parsed once. */
export function findingsFromRows(rows: (FindingPlace & { doc: string; detail: string })[]): MonitorFinding[] {
  const parsed = new Map<string, FindingDetail>();
  return rows.map(({ doc, detail, ...place }) => {
    let d = parsed.get(detail);
    if (!d) parsed.set(detail, (d = JSON.parse(doc) as FindingDetail));
    return joinFinding(
      {
        key: place.key,
        environment: place.environment,
        workload: place.workload,
        image: place.image,
        digest: place.digest,
        since: place.since,
      },
      d,
    );
  });
}

const FILE = "inventory.sqlite";

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
      db.exec(INVENTORY_TABLES);
    } catch (e) {
      throw new UnavailableError(`${file}: cannot open the inventory: ${(e as Error).message}`);
    }
    const row = db.prepare("SELECT value FROM vigil_monitor_meta WHERE key = 'schema'").get() as { value: string } | undefined;
    const inventory = new SqliteInventory(file, db);
    if (row === undefined) db.prepare("INSERT INTO vigil_monitor_meta (key, value) VALUES ('schema', ?)").run(INVENTORY_VERSION);
    else if (row.value === "1") inventory.#migrateFromSchema1();
    else {
      try {
        checkInventoryVersion(row.value, file);
      } catch (e) {
        db.close();
        throw e;
      }
    }
    return inventory;
  }

  /** Schema 1 kept each finding as one JSON document: rewritten as places and details, first-seen times kept. */
  #migrateFromSchema1(): void {
    this.#transaction(() => {
      const rows = this.#db.prepare(`SELECT doc, since FROM ${VERSION_1_FINDINGS}`).all() as { doc: string; since: string }[];
      this.#writeFindings({
        opened: rows.map((r) => ({ ...(JSON.parse(r.doc) as MonitorFinding), since: r.since })),
        changed: [],
        closed: [],
      });
      this.#db.exec(`DROP TABLE ${VERSION_1_FINDINGS}`);
      this.#db.prepare("UPDATE vigil_monitor_meta SET value = ? WHERE key = 'schema'").run(INVENTORY_VERSION);
    });
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

  async updateFindings(update: FindingsUpdate): Promise<void> {
    if (update.opened.length + update.changed.length + update.closed.length === 0) return;
    this.#transaction(() => this.#writeFindings(update));
  }

  /**
   * One prepared single-row statement per kind of row, in one transaction: measured faster in SQLite
   * than multi-row VALUES lists (bench/monitor.ts). A place seen before keeps the time it was first
   * seen; a detail already stored as it is is not rewritten.
   */
  #writeFindings(update: FindingsUpdate): void {
    const rows = findingRows(update);
    const putDetail = this.#statement(
      "INSERT INTO vigil_monitor_finding_details (id, doc) VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET doc = excluded.doc WHERE doc <> excluded.doc",
    );
    for (const [id, doc] of rows.details) putDetail.run(id, doc);
    const putPlace = this.#statement(
      "INSERT INTO vigil_monitor_open_findings (detail, key, environment, workload, image, digest, since) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (detail, key) DO UPDATE SET environment = excluded.environment, workload = excluded.workload, image = excluded.image, digest = excluded.digest",
    );
    for (const [detail, p] of rows.places) putPlace.run(detail, p.key, p.environment, p.workload, p.image, p.digest, p.since);
    const close = this.#statement("DELETE FROM vigil_monitor_open_findings WHERE detail = ? AND key = ?");
    for (const [detail, key] of rows.closed) close.run(detail, key);
    const dropOrphan = this.#statement(
      "DELETE FROM vigil_monitor_finding_details WHERE id = ?1 AND NOT EXISTS (SELECT 1 FROM vigil_monitor_open_findings WHERE detail = ?1)",
    );
    for (const id of rows.orphans) dropOrphan.run(id);
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
        `SELECT p.detail, p.key, p.environment, p.workload, p.image, p.digest, p.since, d.doc
         FROM vigil_monitor_open_findings p JOIN vigil_monitor_finding_details d ON d.id = p.detail
         WHERE (?1 IS NULL OR p.environment = ?1) AND (?2 IS NULL OR p.since >= ?2) ORDER BY p.environment, p.key`,
      )
      .all(filter.environment ?? null, filter.since ?? null) as (FindingPlace & { doc: string; detail: string })[];
    return findingsFromRows(rows);
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
