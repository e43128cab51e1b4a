// The monitor's inventory as it is stored and shared: one SQLite file (DIR/inventory.sqlite) or a
// PostgreSQL database several clusters share, written by the agent (what it deployed, and what admitted
// it) and the monitor (findings), and read by the monitor, `vigil findings`, the admission webhook and
// the console. Its tables, the JSON documents its rows hold and its version are here; opening, upgrading
// and querying it is src/monitor/inventory.ts (SQLite) and src/monitor/pg-inventory.ts (PostgreSQL), and
// docs/monitor.md says what each field means.
import type { Admitted } from "../core/verdict.ts";
import { InputError } from "../core/errors.ts";

/**
 * The inventory's format version, kept in vigil_monitor_meta under the key "schema". A change an older
 * reader would misread is a new version. 2: findings as narrow place rows and shared details.
 */
export const INVENTORY_VERSION = "2";
/** Versions this Vigil rewrites to INVENTORY_VERSION when it opens the inventory (1: each finding one JSON document). */
export const INVENTORY_UPGRADES: readonly string[] = ["1"];
/** The meta row of the inventory's generation, which every recorded deployment or drift raises. */
export const GENERATION = "generation";

/** The tables, in SQLite's words (PostgreSQL takes them with `text` and without WITHOUT ROWID). */
export const INVENTORY_TABLES = `
CREATE TABLE IF NOT EXISTS vigil_monitor_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS vigil_monitor_workloads (environment TEXT NOT NULL, workload TEXT NOT NULL, doc TEXT NOT NULL, PRIMARY KEY (environment, workload));
CREATE TABLE IF NOT EXISTS vigil_monitor_components (digest TEXT PRIMARY KEY, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS vigil_monitor_manifests (environment TEXT PRIMARY KEY, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS vigil_monitor_open_findings (detail TEXT NOT NULL, key TEXT NOT NULL, environment TEXT NOT NULL, workload TEXT NOT NULL, image TEXT NOT NULL, digest TEXT NOT NULL, since TEXT NOT NULL, PRIMARY KEY (detail, key)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS vigil_monitor_finding_details (id TEXT PRIMARY KEY, doc TEXT NOT NULL) WITHOUT ROWID;
`;

/** Version 1's findings table: each finding one JSON document. Read once, to upgrade. */
export const VERSION_1_FINDINGS = "vigil_monitor_findings";

/** An image a workload runs: as the manifest names it, and the digest it is pinned to. */
export interface DeployedImage {
  image: string;
  digest: string;
}

/** A row of vigil_monitor_workloads (its `doc`): one workload Vigil deployed to an environment. */
export interface DeployedWorkload {
  environment: string;
  /** "Kind namespace/name", as the audit log names objects. */
  workload: string;
  images: DeployedImage[];
  revision: string;
  verdict: "pass" | "fail";
  deployedAt: string;
  /** What admitted the revision's commits and the workload's images: the gates' `admits`, keys in src/trust's canonical form. */
  admissions?: Admitted[];
}

/**
 * Refuses an inventory in a version this Vigil does not read (after the upgrades it makes on open):
 * written by a newer Vigil, or by something else. `where` names the file or database.
 */
export function checkInventoryVersion(found: string | undefined, where: string): void {
  if (found === INVENTORY_VERSION) return;
  const what = found === undefined ? "has no format version" : `is in format version ${JSON.stringify(found)}`;
  throw new InputError(
    `${where}: the inventory ${what}, and this Vigil reads version ${INVENTORY_VERSION} (upgrading ${INVENTORY_UPGRADES.join(", ")} on open): ` +
      "run the Vigil release that wrote it, or upgrade this one; every agent, monitor, webhook and console sharing an inventory must read its version",
  );
}
