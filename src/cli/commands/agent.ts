import { ExitCode, InputError } from "../../core/errors.ts";
import { readWebhookSecret, webhookSecretFor } from "../../core/webhook-signature.ts";
import { startAgent } from "../../agent/agent.ts";
import { loadAgentConfig } from "../../agent/config.ts";
import { AgentLog, configuredSecrets } from "../../agent/log.ts";
import type { ReconcileResult } from "../../agent/reconcile.ts";
import { check } from "../../core/verdict.ts";
import { redactCredentials } from "../../core/redact.ts";
import { verdictSink } from "../output.ts";
import { required, defineCommand } from "../command.ts";

export const agent = defineCommand({
  usage:
    "vigil agent --config FILE [--once] [--dry-run] [--allow-mass-prune ENV]... [--json] | vigil agent --config FILE --webhook-secret PATH",
  help: [
    "  --config FILE   the agent configuration (kind: AgentConfig)",
    "  --once          reconcile every environment once and exit (exit code: the worst of them)",
    "  --dry-run       run the gates and print what would change; write nothing to any cluster",
    "  --allow-mass-prune ENV  let ENV delete past its prune limit in this run (a person's decision, recorded in the verdict)",
    "  --webhook-secret PATH   print the secret a forge signs deliveries to PATH (/hooks/ENV or /hooks) with, and exit",
  ].join("\n"),
  options: {
    config: { type: "string" },
    once: { type: "boolean" },
    "dry-run": { type: "boolean" },
    "allow-mass-prune": { type: "string", multiple: true },
    "webhook-secret": { type: "string" },
  },
  async run(values) {
    const json = values.json === true;
    const once = values.once === true || values["dry-run"] === true;
    const configFile = required(values, "config", this);
    if (typeof values["webhook-secret"] === "string") return printWebhookSecret(configFile, values["webhook-secret"]);
    // Loop mode logs one JSON line per reconcile on stderr, with every configured secret blanked out.
    const log = once ? undefined : new AgentLog(configuredSecrets(loadAgentConfig(configFile)));
    const running = await startAgent({
      configFile,
      dryRun: values["dry-run"] === true,
      allowMassPrune: values["allow-mass-prune"] ?? [],
      onResult: (r) => {
        log?.reconcile(r);
        if (json) {
          if (!once) write(JSON.stringify(r) + "\n");
        } else print(r);
      },
      ...(log && {
        onLeader: (leading: boolean) =>
          log.line("info", leading ? "leading: this replica holds the Lease and reconciles" : "not leading: waiting for the Lease", {
            leading,
          }),
        onLeaseError: (e: unknown) => log.line("warn", "lease", { error: e instanceof Error ? e.message : String(e) }),
        onTriggerError: (e: unknown) => log.line("warn", "triggers", { error: e instanceof Error ? e.message : String(e) }),
        onHousekeepingError: (e: unknown) => log.line("warn", "housekeeping", { error: e instanceof Error ? e.message : String(e) }),
        onAuditError: (environment: string, e: unknown) =>
          log.line("error", "audit", { environment, error: e instanceof Error ? e.message : String(e) }),
      }),
    });
    // What this replica records is said once, at start: an agent without an audit log is visible as such.
    log?.line(running.audit ? "info" : "warn", "started", {
      identity: running.identity,
      environments: running.config.doc.environments.map((e) => e.name),
      auditLog: running.audit?.log ?? "none: reconciles are not recorded (configure audit)",
      deploymentRecords: running.audit?.deploymentRecords ?? false,
    });
    if (once) {
      try {
        const results = await running.reconcileAll();
        if (json) write(JSON.stringify(results, null, 2) + "\n");
        return worst(results.map((r) => r.exitCode));
      } finally {
        await running.stop();
      }
    }
    const stop = () => void running.stop();
    process.once("SIGTERM", stop);
    process.once("SIGINT", stop);
    await running.loop();
    return ExitCode.ok;
  },
});

function print(r: ReconcileResult): void {
  const sink = verdictSink(r.verdict.subject, false);
  // A long history verifies as one check per commit: past a screenful, the passing ones are one row.
  const passedCommits = r.verdict.checks.filter((c) => c.gate === "revision" && c.status === "pass");
  const folded = passedCommits.length > 10;
  for (const c of r.verdict.checks) if (!folded || c.gate !== "revision" || c.status !== "pass") sink.add(c);
  const commits = new Set(r.verdict.checks.filter((c) => c.gate === "revision").map((c) => c.subject)).size;
  if (folded)
    sink.add(
      check({
        gate: "revision",
        rule: "commits",
        status: "pass",
        subject: r.revision ?? r.environment,
        message: `${passedCommits.length} checks on ${commits} commits passed`,
        code: "commits-passed",
      }),
    );
  sink.end();
  const what = r.applied ? "applied" : r.plan.length > 0 ? "would apply" : "not applied";
  write(
    `${r.environment}: ${what}${r.revision ? ` ${r.revision.slice(0, 12)}` : ""}; ${commits} commit${commits === 1 ? "" : "s"} checked; health ${r.health}; ${r.seconds.toFixed(2)} s\n`,
  );
  for (const line of r.plan) write(`  ${line}\n`);
  write("\n");
}

/** Results carry the repository URL (subject, messages): never with its credentials. */
function write(text: string): void {
  process.stdout.write(redactCredentials(text));
}

/** Unavailable outranks blocked outranks pass: the exit code says the most urgent thing. */
function worst(codes: ExitCode[]): ExitCode {
  if (codes.includes(ExitCode.unavailable)) return ExitCode.unavailable;
  if (codes.includes(ExitCode.badInput)) return ExitCode.badInput;
  if (codes.includes(ExitCode.blocked)) return ExitCode.blocked;
  return ExitCode.ok;
}

/** The per-path secret for a forge's webhook settings (webhook.ts): on stdout, for the person configuring it. */
function printWebhookSecret(configFile: string, path: string): ExitCode {
  const config = loadAgentConfig(configFile);
  if (!config.doc.webhook) throw new InputError(`${configFile}: no webhook is configured`);
  const m = /^\/hooks(?:\/([^/]+))?$/.exec(path);
  if (!m || (m[1] !== undefined && !config.intervals.has(m[1])))
    throw new InputError(
      `--webhook-secret ${path}: give /hooks or /hooks/ENV for a configured environment (${[...config.intervals.keys()].join(", ")})`,
    );
  process.stdout.write(`${webhookSecretFor(readWebhookSecret(config.doc.webhook.secretFile), path)}\n`);
  return ExitCode.ok;
}
