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
export { SEVERITY_ORDER, UNKNOWN_SEVERITY_CHOICES, type Rating5, type UnknownSeverity } from "./severity.ts";
import { InputError } from "../core/errors.ts";
import { UNKNOWN_SEVERITY_CHOICES, type UnknownSeverity } from "./severity.ts";

/** Where the database is when --db is not given: $VIGIL_DB, else the user's cache folder. */
export function defaultDbLocation(): string {
  if (process.env.VIGIL_DB) return process.env.VIGIL_DB;
  const cache = process.env.XDG_CACHE_HOME || join(homedir(), ".cache");
  return join(cache, "vigil", "vulndb");
}

export const THRESHOLDS = ["low", "medium", "high", "critical"] as const;

/** The --unknown-severity option of vigil scan and vigil ci (default fail). */
export function unknownSeverityOf(values: Record<string, unknown>, usage: string): UnknownSeverity {
  const given = (values["unknown-severity"] as string | undefined) ?? "fail";
  if (!(UNKNOWN_SEVERITY_CHOICES as readonly string[]).includes(given))
    throw new InputError(`--unknown-severity must be fail or warn (got ${JSON.stringify(given)})\nusage: ${usage}`);
  return given as UnknownSeverity;
}
