// Where findings go besides the inventory: the audit log (one `finding` record per opened or closed
// finding, so the log says since when something ran vulnerable and when it stopped) and a stream of
// JSON lines (the monitor's own output).
import type { AuditLog } from "../audit/log.ts";
import type { AuditRecord } from "../audit/record.ts";
import type { MonitorFinding } from "./findings.ts";
import type { FindingChanges, Sink } from "./monitor.ts";

/** Appends opened and closed findings to the audit log, in batches of one append per change. */
export function auditSink(log: AuditLog, now: () => Date = () => new Date()): Sink {
  return {
    name: "audit log",
    async emit(changes) {
      const time = now().toISOString().replace(/\.\d{3}Z$/, "Z");
      const records: AuditRecord[] = [
        ...changes.opened.map((f) => findingRecord(f, time, "open")),
        ...changes.closed.map((f) => findingRecord(f, time, "closed")),
      ];
      if (records.length > 0) await log.append(records);
    },
  };
}

function findingRecord(f: MonitorFinding, time: string, state: "open" | "closed"): AuditRecord {
  // The log's severities have no "unknown": an unknown one is recorded as high, never lower (fail closed).
  const severity = state === "closed" ? "info" : f.severity === "unknown" ? "high" : f.severity === "none" ? "info" : f.severity;
  return {
    kind: "finding",
    time,
    environment: f.environment,
    payload: {
      subject: [f.workload, f.digest ? `${f.image.split("@")[0]}@${f.digest}` : "", f.subject].filter(Boolean).join(" "),
      rule: state === "closed" ? `${f.type}-closed` : f.type,
      severity,
      message: state === "closed" ? `no longer found: ${describe(f)}` : `${describe(f)} since ${f.since}: ${f.suppressed ? suppression(f) : f.action}`,
      ...(f.advisory && { advisory: f.advisory }),
    },
  };
}

export function describe(f: MonitorFinding): string {
  if (f.type === "advisory") return `${f.kind === "affected" ? "affected by" : "cannot be judged against"} ${f.advisory} (severity ${f.severity}${f.fixed?.length ? `, fixed in ${f.fixed.join(", ")}` : ""})`;
  if (f.type === "untrusted-key") return `admitted by a key no longer trusted (${f.rule})`;
  return `running ${f.subject}, which Vigil did not deploy`;
}

function suppression(f: MonitorFinding): string {
  return `suppressed by VEX: ${f.suppressed!.status}${f.suppressed!.justification ? ` (${f.suppressed!.justification})` : ""}`;
}

/** One JSON line per change, for a process supervisor's log or a pipe. */
export function jsonLinesSink(stream: NodeJS.WritableStream): Sink {
  return {
    name: "output",
    async emit(changes: FindingChanges) {
      stream.write(JSON.stringify({ trigger: changes.trigger, judged: changes.judged, opened: changes.opened, closed: changes.closed.map((f) => f.key) }) + "\n");
    },
  };
}
