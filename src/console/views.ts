// What each page of the console shows, built from the verified log index, records read back from the
// log (each checked against its hash), the monitor's inventory and the configuration repository. Pure
// reads: nothing here writes anywhere.
import { spawn } from "node:child_process";
import { openCheckpoint } from "../audit/checkpoint.ts";
import { explain, parseExplainTarget } from "../audit/explain.ts";
import { canonicalJson } from "../audit/jcs.ts";
import type { AuditLog } from "../audit/log.ts";
import { IntegrityError } from "../audit/proof.ts";
import type { AuditRecord } from "../api/audit-record.ts";
import { InputError } from "../core/errors.ts";
import type { RecordedCheck } from "../core/verdict.ts";
import { gitEnv } from "../git/env.ts";
import type { MonitorFinding } from "../monitor/findings.ts";
import type { InventoryStore } from "../monitor/inventory.ts";
import { matches, type EnvironmentIndex, type LogIndex, type Row, type Search } from "./index-log.ts";

export interface Sources {
  log: AuditLog;
  index: LogIndex;
  inventory?: InventoryStore;
  repository?: string;
}

type Of<K extends AuditRecord["kind"]> = Extract<AuditRecord, { kind: K }>;
const SEVERITIES = ["critical", "high", "medium", "low", "info", "none", "unknown"] as const;
/** Gates a person unblocks by approving: a revision failing only these is waiting, not refused. */
const WAITING_GATES = new Set(["approvals", "promotion"]);
const MAX_CHECKS_PER_STAGE = 200;
const MAX_DIFF_BYTES = 512 * 1024;
const GIT_TIMEOUT_MS = 10_000;
const EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904";

async function recordAt<K extends AuditRecord["kind"]>(
  s: Sources,
  index: number | undefined,
  kind: K,
): Promise<{ index: number; record: Of<K> } | undefined> {
  if (index === undefined) return undefined;
  const record = await s.index.record(index);
  if (record.kind !== kind) throw new IntegrityError(`entry ${index}: indexed as ${kind} but holds ${record.kind}`);
  return { index, record: record as Of<K> };
}

async function findingsOf(s: Sources, environment?: string): Promise<MonitorFinding[]> {
  return s.inventory ? s.inventory.findings(environment === undefined ? {} : { environment }) : [];
}

function countBySeverity(list: readonly MonitorFinding[]): Record<string, number> {
  const counts: Record<string, number> = Object.fromEntries(SEVERITIES.map((s) => [s, 0]));
  for (const f of list) if (!f.suppressed) counts[f.severity] = (counts[f.severity] ?? 0) + 1;
  return counts;
}

/** The environment's state: what runs (per the log), how healthy, and what its latest reconcile decided. */
async function environmentSummary(s: Sources, env: EnvironmentIndex) {
  const running = s.index.evidence.lastApplied(env.name);
  const latest = await recordAt(s, env.latestReconcile, "reconcile");
  const apply = running ? await recordAt(s, env.applyOf.get(running.commit), "apply") : undefined;
  const failed = latest && latest.record.payload.verdict === "fail" ? latest.record.payload.checks.filter((c) => c.status === "fail") : [];
  const state =
    failed.length === 0
      ? running
        ? "running"
        : "not deployed"
      : failed.every((c) => WAITING_GATES.has(c.gate))
        ? "waiting for approval"
        : "blocked";
  const deployment = running ? env.deploymentOf.get(running.commit) : undefined;
  const approvers = running ? await approversOf(s, env, running.commit) : [];
  const findings = await findingsOf(s, env.name);
  const images = apply
    ? [...new Map(apply.record.payload.objects.flatMap((o) => o.images).map((i) => [i.digest ?? i.image, i])).values()]
    : [];
  return {
    name: env.name,
    state,
    running: running && { revision: running.commit, since: running.since.toISOString(), entry: Number(running.where.replace(/\D+/g, "")) },
    health:
      deployment !== undefined
        ? { status: "healthy", detail: `signed deployment record of a healthy deploy (entry ${deployment})`, entry: deployment }
        : running
          ? { status: "unknown", detail: "applied; no healthy deploy recorded yet" }
          : { status: "none", detail: "nothing applied" },
    resources: apply?.record.payload.objects.length ?? 0,
    images,
    approvedBy: approvers,
    latestReconcile: latest && {
      entry: latest.index,
      time: latest.record.time,
      verdict: latest.record.payload.verdict,
      revision: latest.record.payload.revision,
      blockedBy: failed.slice(0, 20),
    },
    findings: countBySeverity(findings),
  };
}

async function approversOf(s: Sources, env: EnvironmentIndex, revision: string): Promise<{ name: string; entry: number }[]> {
  const out: { name: string; entry: number }[] = [];
  for (const index of env.approvalsOf.get(revision) ?? []) {
    const a = await recordAt(s, index, "approval");
    if (a) out.push({ name: a.record.payload.signer, entry: index });
  }
  return out;
}

export async function environments(s: Sources) {
  await s.index.refresh();
  const list = [];
  for (const env of [...s.index.environments.values()].sort((a, b) => a.name.localeCompare(b.name)))
    list.push(await environmentSummary(s, env));
  return { checkpoint: checkpointOf(s), environments: list };
}

function environmentIndex(s: Sources, name: string): EnvironmentIndex {
  const env = s.index.environments.get(name);
  if (!env)
    throw new NotFound(
      `no environment ${JSON.stringify(name)} in the audit log (it has ${[...s.index.environments.keys()].join(", ") || "none"})`,
    );
  return env;
}

export class NotFound extends Error {}

/** One environment: its summary, what runs (every resource and its images), and the chain of the running and of the latest revision. */
export async function environment(s: Sources, name: string) {
  await s.index.refresh();
  const env = environmentIndex(s, name);
  const summary = await environmentSummary(s, env);
  const running = summary.running?.revision;
  const apply = running ? await recordAt(s, env.applyOf.get(running), "apply") : undefined;
  const latestRevision = summary.latestReconcile?.revision;
  return {
    ...summary,
    resources: (apply?.record.payload.objects ?? []).map((o) => ({
      kind: o.kind,
      namespace: o.namespace,
      name: o.name,
      apiVersion: o.apiVersion,
      action: o.action,
      images: o.images,
      entry: apply!.index,
    })),
    chains: {
      ...(running && { running: await chain(s, env, running) }),
      ...(latestRevision && latestRevision !== running && { latest: await chain(s, env, latestRevision) }),
    },
  };
}

interface Stage {
  stage: string;
  status: "pass" | "fail" | "warn" | "skip" | "pending";
  summary: string;
  entry?: number;
  items: string[];
  checks: RecordedCheck[];
  more: number;
}

function stage(name: string, checks: RecordedCheck[], entry: number | undefined, summary: string, items: string[] = []): Stage {
  const status = checks.some((c) => c.status === "fail")
    ? "fail"
    : checks.some((c) => c.status === "warn")
      ? "warn"
      : checks.length === 0
        ? "skip"
        : "pass";
  const shown = [
    ...checks.filter((c) => c.status === "fail"),
    ...checks.filter((c) => c.status === "warn"),
    ...checks.filter((c) => c.status !== "fail" && c.status !== "warn"),
  ];
  return {
    stage: name,
    status,
    summary,
    ...(entry !== undefined && { entry }),
    items,
    checks: shown.slice(0, MAX_CHECKS_PER_STAGE),
    more: Math.max(0, shown.length - MAX_CHECKS_PER_STAGE),
  };
}

/** commits → signers → approvals → policies → images → vulnerabilities → applied, each link naming its entry and checks. */
export async function chain(s: Sources, env: EnvironmentIndex, revision: string) {
  const reconcile = await recordAt(s, env.reconcileOf.get(revision), "reconcile");
  const apply = await recordAt(s, env.applyOf.get(revision), "apply");
  const p = reconcile?.record.payload;
  const checks = (gates: string[]) => (p?.checks ?? []).filter((c) => gates.includes(c.gate));
  const signers = [...new Set((p?.commits ?? []).map((c) => (c.signer ? `${c.signer}${c.key ? ` (${c.key})` : ""}` : "(not signed)")))];
  const approvals = await approversOf(s, env, revision);
  const images = apply
    ? [
        ...new Set(
          apply.record.payload.objects.flatMap((o) =>
            o.images.map((i) => `${i.image}${i.digest && !i.image.includes("@") ? `@${i.digest}` : ""}`),
          ),
        ),
      ]
    : [];
  const digests = new Set(apply?.record.payload.objects.flatMap((o) => o.images.flatMap((i) => (i.digest ? [i.digest] : []))) ?? []);
  const open = (await findingsOf(s, env.name)).filter((f) => digests.has(f.digest) && !f.suppressed);
  const deployment = env.deploymentOf.get(revision);
  const gateCount = (gate: string) => p?.gates.find((g) => g.gate === gate);
  const counted = (gate: string) => {
    const g = gateCount(gate);
    return g ? `${g.verdict}: ${g.pass} pass, ${g.fail} fail, ${g.warn} warn, ${g.skip} skip` : "not run";
  };
  const vulnerabilities = stage(
    "vulnerabilities",
    checks(["vulnerability"]),
    reconcile?.index,
    `at deploy ${counted("vulnerability")}; now ${open.length} open finding${open.length === 1 ? "" : "s"} on these images`,
    open.slice(0, 50).map((f) => `${f.severity} ${f.rule} in ${f.subject} (${f.workload}), since ${f.since}`),
  );
  if (open.some((f) => f.severity === "critical" || f.severity === "high")) vulnerabilities.status = "fail";
  else if (open.length > 0 && vulnerabilities.status === "pass") vulnerabilities.status = "warn";
  const stages: Stage[] = [
    stage(
      "commits",
      checks(["revision"]).filter((c) => c.rule !== "trust-policy-change"),
      reconcile?.index,
      p
        ? `${p.commits.length} commit${p.commits.length === 1 ? "" : "s"} ${p.from ? `${p.from.slice(0, 12)}..` : "up to "}${revision.slice(0, 12)} in ${p.repo}`
        : "no reconcile of this revision recorded",
      (p?.commits ?? []).slice(0, 50).map((c) => `${c.commit.slice(0, 12)} ${c.signer ?? "(not signed)"}`),
    ),
    {
      ...stage(
        "signers",
        checks(["revision"]).filter((c) => c.rule === "commit-signature" || c.rule === "trust-policy-change"),
        reconcile?.index,
        signers.join(", ") || "none recorded",
        signers,
      ),
    },
    stage(
      "approvals",
      checks(["approvals", "promotion"]),
      approvals[0]?.entry ?? reconcile?.index,
      approvals.length > 0
        ? `approved by ${approvals.map((a) => a.name).join(", ")}`
        : gateCount("approvals")
          ? counted("approvals")
          : "no approval required",
      approvals.map((a) => `${a.name} (entry ${a.entry})`),
    ),
    stage("policies", checks(["policy", "render", "secrets"]), reconcile?.index, counted("policy")),
    stage(
      "images",
      checks(["artifact"]),
      reconcile?.index,
      `${images.length} image${images.length === 1 ? "" : "s"}; ${counted("artifact")}`,
      images.slice(0, 100),
    ),
    vulnerabilities,
    {
      ...stage(
        "applied",
        checks(["apply", "health"]),
        apply?.index ?? reconcile?.index,
        apply
          ? `${apply.record.payload.objects.length} objects applied ${apply.record.time}${deployment !== undefined ? `; healthy (signed deployment record, entry ${deployment})` : ""}`
          : "not applied",
      ),
      // Applied with no failing apply or health check is a pass; never applied is still pending.
      ...(apply
        ? checks(["apply", "health"]).some((c) => c.status === "fail")
          ? {}
          : { status: "pass" as const }
        : { status: "pending" as const }),
    },
  ];
  return { revision, verdict: p?.verdict ?? "unknown", reconcile: reconcile?.index, stages };
}

export async function explainTarget(s: Sources, environment: string, target: string) {
  await s.index.refresh();
  const env = environmentIndex(s, environment);
  const found = await explain(s.log, parseExplainTarget(target), environment, env.explainable);
  const entries = [];
  for (const proof of found.proofs) entries.push({ ...(await entryData(s.log, proof.index)), proof: proofJson(proof) });
  return {
    environment: found.environment,
    target: found.target,
    revision: found.revision,
    links: found.links,
    entries,
    checkpoint: checkpointOf(s),
  };
}

function proofJson(p: { index: number; leafHash: Buffer; checkpoint: { size: number }; hashes: Buffer[] }) {
  return {
    index: p.index,
    leafHash: p.leafHash.toString("hex"),
    treeSize: p.checkpoint.size,
    hashes: p.hashes.map((h) => h.toString("hex")),
  };
}

async function entryData(log: AuditLog, index: number) {
  const { record, leafHash } = await log.entry(index);
  // The exact bytes the leaf hash is over: the browser hashes them itself.
  return { index, leafHash: leafHash.toString("hex"), data: canonicalJson(record), record };
}

/** One entry, its bytes and its inclusion proof in the latest checkpoint (verified here, and again in the browser). */
export async function entry(s: Sources, index: number) {
  const checkpoint = await s.index.refresh();
  if (index >= checkpoint.size) throw new NotFound(`entry ${index}: the log has ${checkpoint.size} entries`);
  const proof = await s.log.prove(index);
  return { ...(await entryData(s.log, index)), proof: proofJson(proof), checkpoint: checkpointOf(s) };
}

function checkpointOf(s: Sources) {
  const cp = s.index.latest!;
  return { size: cp.size, root: cp.root.toString("hex"), note: cp.note, verifierKey: s.log.verifier.key };
}

export async function searchLog(s: Sources, search: Search, before: number | undefined, limit: number) {
  await s.index.refresh();
  const rows: Row[] = [];
  let i = Math.min(before ?? s.index.rows.length, s.index.rows.length) - 1;
  for (; i >= 0 && rows.length < limit; i--) if (matches(s.index.rows[i]!, search)) rows.push(s.index.rows[i]!);
  return {
    total: s.index.rows.length,
    entries: rows.map(({ index, time, kind, environment, summary }) => ({ index, time, kind, environment, summary })),
    ...(i >= 0 && { next: i + 1 }),
  };
}

/** Every matching entry as a JSON line: index, leaf hash and the record (what `vigil audit export` writes). */
export async function* exportLog(s: Sources, search: Search): AsyncIterable<string> {
  await s.index.refresh();
  const indices = s.index.rows.filter((r) => matches(r, search)).map((r) => r.index);
  if (indices.length === 0) return;
  const wanted = new Set(indices);
  // One pass in the log's own chunks over the span the matches cover (rows are in log order), each entry checked against its hash.
  for await (const e of s.log.entries(indices[0]!, indices.at(-1)! + 1)) {
    if (wanted.has(e.index)) yield JSON.stringify({ index: e.index, leafHash: e.leafHash.toString("hex"), ...e.record }) + "\n";
  }
}

/** The signed checkpoints, newest first, each signature verified with the configured key. */
export async function checkpoints(s: Sources, offset: number, limit: number) {
  await s.index.refresh();
  const all: { size: number; root: string; note: string; verified: boolean; problem?: string }[] = [];
  for await (const note of s.log.store.checkpoints()) {
    try {
      const cp = openCheckpoint(note, s.log.verifier);
      all.push({ size: cp.size, root: cp.root.toString("hex"), note, verified: true });
    } catch (e) {
      if (!(e instanceof IntegrityError)) throw e;
      all.push({ size: -1, root: "", note, verified: false, problem: e.message });
    }
  }
  all.reverse();
  return { total: all.length, verifierKey: s.log.verifier.key, checkpoints: all.slice(offset, offset + limit) };
}

/** Open findings by environment and severity, and how many were open by each day first seen (the plot). */
export async function findings(s: Sources, environment?: string, severity?: string) {
  const all = await findingsOf(s, environment);
  const rank = (f: MonitorFinding) => (SEVERITIES as readonly string[]).indexOf(f.severity);
  // Worst first, then the oldest: what has been waiting longest for a fix.
  const list = (severity ? all.filter((f) => f.severity === severity) : [...all]).sort(
    (a, b) => rank(a) - rank(b) || a.since.localeCompare(b.since),
  );
  const byEnvironment: Record<string, Record<string, number>> = {};
  for (const f of all) byEnvironment[f.environment] = countBySeverity(all.filter((g) => g.environment === f.environment));
  const days = [...new Set(all.map((f) => f.since.slice(0, 10)))].sort();
  const history = days.map((day) => ({ day, ...countBySeverity(all.filter((f) => f.since.slice(0, 10) <= day)) }));
  return { inventory: s.inventory !== undefined, byEnvironment, history, findings: list.slice(0, 1000), total: list.length };
}

/** Revisions that failed only for want of approvals: what a person would approve, the diff, and the command. */
export async function pendingApprovals(s: Sources) {
  await s.index.refresh();
  const pending = [];
  for (const env of s.index.environments.values()) {
    const latest = await recordAt(s, env.latestReconcile, "reconcile");
    const p = latest?.record.payload;
    if (!p || p.verdict !== "fail" || !p.revision) continue;
    const failed = p.checks.filter((c) => c.status === "fail");
    if (!failed.every((c) => WAITING_GATES.has(c.gate))) continue;
    const from = s.index.evidence.lastApplied(env.name)?.commit ?? p.from;
    pending.push({
      environment: env.name,
      revision: p.revision,
      from,
      entry: latest.index,
      time: latest.record.time,
      repo: p.repo,
      commits: p.commits,
      waitingFor: failed,
      diff: s.repository
        ? await diff(s.repository, from, p.revision)
        : { available: false, text: "no repository in the console's configuration: the diff cannot be shown" },
      // Run in the person's own clone of the repository, with their own key; the approval is a ref they push.
      command: `git clone ${p.repo} config && cd config\nvigil approve --repo . --env ${env.name} --rev ${p.revision} --key ~/.ssh/id_ed25519\ngit push origin 'refs/vigil/approvals/*:refs/vigil/approvals/*'`,
    });
  }
  return { pending };
}

/** `git diff from..to` in the configured clone, bounded in time and size. */
function diff(
  repository: string,
  from: string | undefined,
  to: string,
): Promise<{ available: boolean; text: string; truncated?: boolean }> {
  return new Promise((resolve) => {
    const child = spawn(
      "git",
      ["-C", repository, "diff", "--no-color", "--no-ext-diff", "--no-textconv", "--stat", "--patch", from ?? EMPTY_TREE, to, "--"],
      { env: gitEnv, stdio: ["ignore", "pipe", "pipe"], timeout: GIT_TIMEOUT_MS },
    );
    const chunks: Buffer[] = [];
    let size = 0;
    let truncated = false;
    let stderr = "";
    child.stdout.on("data", (b: Buffer) => {
      if (size >= MAX_DIFF_BYTES) return void ((truncated = true), child.kill());
      chunks.push(b);
      size += b.length;
    });
    child.stderr.on("data", (b: Buffer) => (stderr = (stderr + b.toString("utf8")).slice(0, 2000)));
    child.on("error", (e) => resolve({ available: false, text: `git could not run: ${e.message}` }));
    child.on("close", (code) => {
      if (code !== 0 && !truncated)
        return resolve({
          available: false,
          text: `the repository at ${repository} cannot show ${from?.slice(0, 12) ?? "(start)"}..${to.slice(0, 12)} (fetch it): ${stderr.trim()}`,
        });
      resolve({
        available: true,
        text: Buffer.concat(chunks).subarray(0, MAX_DIFF_BYTES).toString("utf8"),
        ...(truncated && { truncated }),
      });
    });
  });
}

export function searchFrom(query: URLSearchParams): Search {
  const s: Search = {};
  for (const [param, field] of [
    ["resource", "resource"],
    ["person", "person"],
    ["commit", "commit"],
    ["env", "environment"],
    ["kind", "kind"],
    ["since", "since"],
    ["until", "until"],
  ] as const) {
    const value = query.get(param);
    if (value === null || value === "") continue;
    if (value.length > 256) throw new InputError(`${param}: over 256 characters`);
    if (
      (field === "since" || field === "until") &&
      (!/^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?Z?)?$/.test(value) || Number.isNaN(Date.parse(value)))
    ) {
      throw new InputError(`${param}: ${JSON.stringify(value)} is not an RFC 3339 time (2026-12-01T00:00:00Z) or a date`);
    }
    s[field] = value;
  }
  return s;
}
