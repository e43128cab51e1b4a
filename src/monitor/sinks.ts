// Where findings go besides the inventory: the audit log (one `finding` record per opened or closed
// finding, so the log says since when something ran vulnerable and when it stopped), a stream of JSON
// lines (the monitor's own output), a signed webhook, and Prometheus metrics. Events: cluster.ts.
import { vigilDeliveryHeaders } from "../core/webhook-signature.ts";
import type { AuditLog } from "../audit/log.ts";
import type { AuditRecord } from "../api/audit-record.ts";
import type { MonitorFinding } from "./findings.ts";
import type { FindingChanges, Sink } from "./monitor.ts";

/** Appends opened and closed findings to the audit log, in batches of one append per change. */
export function auditSink(log: AuditLog, now: () => Date = () => new Date()): Sink {
  return {
    name: "audit log",
    async emit(changes) {
      const time = now()
        .toISOString()
        .replace(/\.\d{3}Z$/, "Z");
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
      message:
        state === "closed"
          ? `no longer found: ${describe(f)}`
          : `${describe(f)} since ${f.since}: ${f.suppressed ? suppression(f) : f.action}`,
      ...(f.advisory && { advisory: f.advisory }),
    },
  };
}

export function describe(f: MonitorFinding): string {
  if (f.type === "advisory")
    return `${f.kind === "affected" ? "affected by" : "cannot be judged against"} ${f.advisory} (severity ${f.severity}${f.fixed?.length ? `, fixed in ${f.fixed.join(", ")}` : ""})`;
  if (f.type === "untrusted-key") return `admitted by a key no longer trusted (${f.rule})`;
  if (f.type === "repository") return `${f.rule} on ${f.workload} (${f.subject})`;
  if (f.type === "policy") return `${f.subject} fails policy ${f.rule}`;
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
      stream.write(
        JSON.stringify({
          trigger: changes.trigger,
          judged: changes.judged,
          opened: changes.opened,
          closed: changes.closed.map((f) => f.key),
        }) + "\n",
      );
    },
  };
}

/** Findings per webhook delivery: a feed of 10,000 advisories becomes several bounded requests, not one huge one. */
const PER_DELIVERY = 500;
const WEBHOOK_TIMEOUT_MS = 10_000;

/**
 * POSTs each change as JSON, signed as the agent's incoming webhook checks it (Vigil's own form: the
 * method, path and delivery id bound into an HMAC-SHA256 of the body, in X-Vigil-Signature-256). With
 * `slack`, the body is a Slack-compatible {"text": …} summary instead. A receiver that fails or does not
 * answer in time is reported through `onError`; the findings stay recorded in the inventory and the log.
 */
export function webhookSink(options: { url: string; secret: Buffer; slack?: boolean; onError?: (message: string) => void }): Sink {
  const url = new URL(options.url);
  return {
    name: "webhook",
    async emit(changes) {
      if (changes.opened.length === 0 && changes.closed.length === 0) return;
      for (let i = 0; i < Math.max(changes.opened.length, changes.closed.length); i += PER_DELIVERY) {
        const part = {
          trigger: changes.trigger,
          opened: changes.opened.slice(i, i + PER_DELIVERY),
          closed: changes.closed
            .slice(i, i + PER_DELIVERY)
            .map((f) => ({ key: f.key, environment: f.environment, workload: f.workload, subject: f.subject, rule: f.rule })),
        };
        const body = JSON.stringify(options.slack ? { text: slackText(part.trigger, part.opened, part.closed.length) } : part);
        try {
          const answer = await fetch(url, {
            method: "POST",
            headers: { "content-type": "application/json", ...vigilDeliveryHeaders(options.secret, url.pathname, body) },
            body,
            signal: AbortSignal.timeout(WEBHOOK_TIMEOUT_MS),
          });
          if (!answer.ok) options.onError?.(`webhook ${url.origin}${url.pathname}: answered ${answer.status}`);
        } catch (e) {
          options.onError?.(`webhook ${url.origin}${url.pathname}: ${(e as Error).message}`);
        }
      }
    },
  };
}

function slackText(trigger: string, opened: MonitorFinding[], closed: number): string {
  const lines = opened.slice(0, 20).map((f) => `• ${f.environment} ${f.workload}: ${describe(f)}`);
  return [
    `Vigil (${trigger}): ${opened.length} finding(s) opened, ${closed} closed`,
    ...lines,
    ...(opened.length > 20 ? [`… and ${opened.length - 20} more`] : []),
  ].join("\n");
}

/** The open findings as Prometheus metrics (text exposition format): counts per environment, type and severity. */
export function findingMetrics(open: MonitorFinding[]): string {
  const counts = new Map<string, number>();
  for (const f of open) {
    const labels = `environment="${escapeLabel(f.environment)}",type="${f.type}",severity="${f.severity}",suppressed="${f.suppressed ? "true" : "false"}"`;
    counts.set(labels, (counts.get(labels) ?? 0) + 1);
  }
  return [
    "# HELP vigil_monitor_findings Open findings about what is deployed.",
    "# TYPE vigil_monitor_findings gauge",
    ...[...counts].sort().map(([labels, n]) => `vigil_monitor_findings{${labels}} ${n}`),
    "",
  ].join("\n");
}

const escapeLabel = (s: string) => s.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
