// src/audit: the tamper-evident log of every decision (docs/audit.md). What the rest of Vigil uses:
//
//   const log = await openAuditLog(location, { signingKeyFile });   // a directory or a postgres:// URL
//   await log.append(records);   // → [{ index, leafHash }]; the agent builds its records in src/agent/records.ts
//   await log.checkpoint();                                            // the latest signed checkpoint
//   await log.close();
import { AuditLog, type OpenOptions } from "./log.ts";

/** Opens (with a signing key: creates if missing, and may append) the log at a directory or postgres:// URL. */
export function openAuditLog(location: string, options: OpenOptions = {}): Promise<AuditLog> {
  return AuditLog.open(location, options);
}

export { AuditLog, type ConsistencyProof, type InclusionProof, type LogEntry, type OpenOptions } from "./log.ts";
export { Evidence, LogFollower, type AppliedTree, type RecordedClaim } from "./evidence.ts";
export { RECORD_KINDS, type AuditRecord, type Payload, type RecordKind } from "../api/audit-record.ts";
export { generateSignerKey } from "./note.ts";
export { verifyLog } from "./verify.ts";
export { explain, parseExplainTarget, type Explanation } from "./explain.ts";
