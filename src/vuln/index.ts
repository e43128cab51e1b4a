// The vulnerability stage's public surface: the advisory store and its import, scanning components
// from SBOMs and lockfiles, VEX, and the agent's gate.
import { homedir } from "node:os";
import { join } from "node:path";

export { importAdvisories, type ImportResult } from "./import.ts";
export { openStore } from "./pg-store.ts";
export type { AdvisoryStore, DatabaseInfo } from "./store.ts";
export { readInputFile } from "./inputs.ts";
export { scanComponents, scanChecks, GATE, type Finding, type ScanResult } from "./scan.ts";
export { loadVex, type VexStatement } from "./vex.ts";
export { SEVERITY_ORDER, type Rating5 } from "./severity.ts";

/** Where the database is when --db is not given: $VIGIL_DB, else the user's cache folder. */
export function defaultDbLocation(): string {
  if (process.env.VIGIL_DB) return process.env.VIGIL_DB;
  const cache = process.env.XDG_CACHE_HOME || join(homedir(), ".cache");
  return join(cache, "vigil", "vulndb");
}

export const THRESHOLDS = ["low", "medium", "high", "critical"] as const;
