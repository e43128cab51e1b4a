// Prometheus metrics of the agent, served as GET /metrics in the text exposition format (version
// 0.0.4). Written here rather than with prom-client: six metric families over a handful of
// environments are a few dozen lines, and the agent's dependencies are its attack surface.
//
//   vigil_reconcile_duration_seconds{environment}   histogram of reconcile time
//   vigil_reconcile_total{environment,result}       result: pass | blocked | unavailable
//   vigil_gate_failures_total{environment,gate}     reconciles in which the gate failed (once per reconcile)
//   vigil_drift_objects{environment}                objects drifted in the last reconcile (restored or not)
//   vigil_environment_health{environment,state}     1 for the current state, 0 for the others
//   vigil_leader                                    1 while this replica holds the Lease
import { createHash, timingSafeEqual } from "node:crypto";
import type { Server } from "node:http";
import { ExitCode } from "../core/errors.ts";
import { closeServer, listenOn, robustServer } from "./http.ts";
import type { ReconcileResult } from "./reconcile.ts";

export const DURATION_BUCKETS = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];
const RESULTS = ["pass", "blocked", "unavailable"] as const;
const STATES = ["healthy", "progressing", "degraded", "unknown"] as const;

interface EnvironmentMetrics {
  buckets: number[];
  count: number;
  sum: number;
  results: Record<(typeof RESULTS)[number], number>;
  gateFailures: Map<string, number>;
  drift: number;
  health: string;
}

export class AgentMetrics {
  private readonly environments = new Map<string, EnvironmentMetrics>();
  private leader = 0;

  constructor(environments: readonly string[]) {
    // Every series exists from the start, at 0, so rate() and alerts see the first increase.
    for (const name of environments) {
      this.environments.set(name, {
        buckets: DURATION_BUCKETS.map(() => 0),
        count: 0,
        sum: 0,
        results: { pass: 0, blocked: 0, unavailable: 0 },
        gateFailures: new Map(),
        drift: 0,
        health: "unknown",
      });
    }
  }

  setLeader(leading: boolean): void {
    this.leader = leading ? 1 : 0;
  }

  observe(result: ReconcileResult): void {
    const m = this.environments.get(result.environment);
    if (!m) return;
    DURATION_BUCKETS.forEach((le, i) => {
      if (result.seconds <= le) m.buckets[i]!++;
    });
    m.count++;
    m.sum += result.seconds;
    m.results[result.exitCode === ExitCode.ok ? "pass" : result.exitCode === ExitCode.unavailable ? "unavailable" : "blocked"]++;
    for (const gate of new Set(result.verdict.checks.filter((c) => c.status === "fail").map((c) => c.gate)))
      m.gateFailures.set(gate, (m.gateFailures.get(gate) ?? 0) + 1);
    m.drift = result.verdict.checks.filter((c) => c.gate === "apply" && c.rule === "drift").length;
    m.health = result.health;
  }

  /** The text exposition format. */
  render(): string {
    const out: string[] = [];
    const family = (name: string, type: string, help: string) => out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    const envs = [...this.environments];
    family("vigil_reconcile_duration_seconds", "histogram", "Time one reconcile of an environment took, fetch to status.");
    for (const [env, m] of envs) {
      DURATION_BUCKETS.forEach((le, i) =>
        out.push(`vigil_reconcile_duration_seconds_bucket${labels({ environment: env, le: String(le) })} ${m.buckets[i]}`),
      );
      out.push(`vigil_reconcile_duration_seconds_bucket${labels({ environment: env, le: "+Inf" })} ${m.count}`);
      out.push(`vigil_reconcile_duration_seconds_sum${labels({ environment: env })} ${m.sum}`);
      out.push(`vigil_reconcile_duration_seconds_count${labels({ environment: env })} ${m.count}`);
    }
    family(
      "vigil_reconcile_total",
      "counter",
      "Reconciles by outcome: pass (applied or unchanged), blocked (a gate or the API server refused), unavailable (something could not be reached).",
    );
    for (const [env, m] of envs)
      for (const r of RESULTS) out.push(`vigil_reconcile_total${labels({ environment: env, result: r })} ${m.results[r]}`);
    family("vigil_gate_failures_total", "counter", "Reconciles in which a gate failed, by gate.");
    for (const [env, m] of envs)
      for (const [gate, n] of m.gateFailures) out.push(`vigil_gate_failures_total${labels({ environment: env, gate })} ${n}`);
    family("vigil_drift_objects", "gauge", "Objects whose Vigil-managed fields were changed in the cluster, at the last reconcile.");
    for (const [env, m] of envs) out.push(`vigil_drift_objects${labels({ environment: env })} ${m.drift}`);
    family("vigil_environment_health", "gauge", "The environment's health after the last reconcile: 1 for the current state.");
    for (const [env, m] of envs)
      for (const s of STATES) out.push(`vigil_environment_health${labels({ environment: env, state: s })} ${m.health === s ? 1 : 0}`);
    family("vigil_leader", "gauge", "1 while this replica holds the Lease and reconciles.");
    out.push(`vigil_leader ${this.leader}`);
    return `${out.join("\n")}\n`;
  }

  /**
   * Serves GET /metrics on `listen`; resolves with the bound URL. With a token, only requests bearing
   * it (Authorization: Bearer, compared in constant time) are answered.
   */
  async serve(listen: string, token?: Buffer): Promise<{ url: string; close(): Promise<void> }> {
    const server: Server = robustServer((req, res, path) => {
      if (token && !bearerMatches(req.headers.authorization, token)) {
        res
          .writeHead(401, { "www-authenticate": 'Bearer realm="vigil-metrics"', "content-type": "text/plain" })
          .end("a bearer token is required\n");
      } else if (path !== "/metrics") {
        res.writeHead(404, { "content-type": "text/plain" }).end("not found: GET /metrics\n");
      } else if (req.method !== "GET" && req.method !== "HEAD") {
        res.writeHead(405, { allow: "GET, HEAD", "content-type": "text/plain" }).end("only GET\n");
      } else {
        res
          .writeHead(200, { "content-type": "text/plain; version=0.0.4; charset=utf-8" })
          .end(req.method === "HEAD" ? undefined : this.render());
      }
    });
    const url = await listenOn(server, listen, "metrics.listen");
    return { url, close: () => closeServer(server) };
  }
}

/** Whether an Authorization header is "Bearer <token>"; constant time in the token's content. */
function bearerMatches(header: string | undefined, token: Buffer): boolean {
  const m = /^Bearer (\S+)$/i.exec(header ?? "");
  if (!m) return false;
  const given = createHash("sha256").update(m[1]!).digest();
  return timingSafeEqual(given, createHash("sha256").update(token).digest());
}

/** {a="x",b="y"} with label values escaped as the format requires (backslash, quote, newline). */
function labels(values: Record<string, string>): string {
  const escape = (v: string) => v.replaceAll("\\", "\\\\").replaceAll('"', '\\"').replaceAll("\n", "\\n");
  return `{${Object.entries(values)
    .map(([k, v]) => `${k}="${escape(v)}"`)
    .join(",")}}`;
}
