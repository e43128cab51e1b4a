// The agent's structured log in loop mode: one JSON line on stderr at start, per reconcile, per change
// of leadership and per failed audit append, for a log collector to index. Never a credential: messages
// pass through the URL redaction and every secret the configuration points to (tokens, the webhook
// secret, the deployment record key's password) is blanked out wherever it would appear, whatever a
// remote or the API server put in an error message.
import { readFileSync } from "node:fs";
import { redactCredentials } from "../core/redact.ts";
import type { AgentConfig } from "./config.ts";
import type { ReconcileResult } from "./reconcile.ts";

export type Level = "info" | "warn" | "error";

/** The secrets the configuration names, as they may appear in text (best effort: unreadable ones are the reconcile's to report). */
export function configuredSecrets(config: AgentConfig): string[] {
  const files = [
    ...config.doc.environments.map((e) => e.source.tokenFile),
    config.doc.webhook?.secretFile,
    config.doc.deploymentRecords?.passwordFile,
  ];
  const secrets: string[] = [];
  for (const file of files) {
    if (!file) continue;
    try {
      const value = readFileSync(file, "utf8").trim();
      // The token as sent (Basic x-access-token:TOKEN) is base64 in a header: blank that form too.
      if (value.length >= 4) secrets.push(value, Buffer.from(`x-access-token:${value}`).toString("base64"));
    } catch {
      // not readable: nothing of it can be in a message either
    }
  }
  return secrets;
}

export class AgentLog {
  private readonly secrets: string[];
  private readonly write: (line: string) => void;

  constructor(secrets: string[], write: (line: string) => void = (line) => process.stderr.write(line)) {
    // Longest first, so a secret that contains another is blanked whole.
    this.secrets = [...new Set(secrets)].sort((a, b) => b.length - a.length);
    this.write = write;
  }

  line(level: Level, msg: string, fields: Record<string, unknown>): void {
    const text = JSON.stringify({ time: new Date().toISOString(), level, msg, ...fields });
    this.write(`${this.scrub(text)}\n`);
  }

  reconcile(r: ReconcileResult): void {
    const failure = r.verdict.checks.find((c) => c.status === "fail");
    this.line(r.exitCode === 0 ? "info" : r.exitCode === 3 ? "error" : "warn", "reconcile", {
      environment: r.environment,
      ...(r.revision && { revision: r.revision }),
      verdict: r.verdict.verdict,
      applied: r.applied,
      health: r.health,
      durationSeconds: Math.round(r.seconds * 1000) / 1000,
      steps: Object.fromEntries(Object.entries(r.steps).map(([step, s]) => [step, Math.round(s * 1000) / 1000])),
      ...(failure && { firstFailure: { gate: failure.gate, rule: failure.rule, subject: failure.subject, message: failure.message } }),
    });
  }

  private scrub(text: string): string {
    let out = redactCredentials(text);
    for (const s of this.secrets) out = out.replaceAll(JSON.stringify(s).slice(1, -1), "***").replaceAll(s, "***");
    return out;
  }
}
