// One reconcile of one environment: fetch (read-only) → the gates (gates.ts) → apply → health → record
// (the audit log, audit.ts, then the status). Everything is verified before the first write; when
// anything fails, nothing is applied, the last good revision keeps running, and the verdict says why.
// The environment's state in the cluster (the last revision applied, the verdict, the health) is what
// the next reconcile starts from.
import { ExitCode, VigilError } from "../core/errors.ts";
import { check, makeVerdict, type Check, type Verdict } from "../core/verdict.ts";
import type { TrustPolicy } from "../trust/policy.ts";
import { branchRef, openRepo, type ReadCredential } from "../git/repo.ts";
import { redactCredentials } from "../core/redact.ts";
import type { RegistryClient } from "../oci/registry.ts";
import type { TrustedRoot } from "../trust/trusted-root.ts";
import type { AgentAudit, Recorded } from "./audit.ts";
import { parseSize, type AgentConfig } from "./config.ts";
import type { EnvironmentConfig } from "../api/agent-config.ts";
import { parseDuration } from "../core/duration.ts";
import type { RenderOptions } from "../render/index.ts";
import { environmentPath, runGates, type Candidate } from "./gates.ts";
import { judgeMissingStatus, judgeStateByKey, judgeStateByLog } from "./state.ts";
import type { StateKey } from "./state-key.ts";
import { dryRunChecks } from "../cluster/dry-run.ts";
import { imageSignersFor } from "../artifact/gate.ts";
import { InputError, UnavailableError } from "../core/errors.ts";
import { sopsKeysFromSecretData, type SopsKeys } from "../secrets/sops.ts";
import { environmentGateInputs, registrySboms } from "../vuln/gate.ts";
import type { MonitorHook } from "./monitor-hook.ts";
import { beforeFirstWrite } from "./admission-policies.ts";
import { homedir } from "node:os";
import { join } from "node:path";
import {
  applyCandidate,
  syncOptionsFor,
  inventoryDistrust,
  inventoryExists,
  recordReconcileEvent,
  readEnvironmentState,
  recordOutcome,
  type Applied,
  type EnvironmentClusters,
  type EnvironmentState,
  type HealthState,
} from "./deploy.ts";

export interface ReconcileOptions {
  config: AgentConfig;
  trust: TrustPolicy;
  trustedRoot?: TrustedRoot;
  registry: RegistryClient;
  clusters: EnvironmentClusters;
  /** Plan and print, write nothing (not even the status or the audit log). */
  dryRun?: boolean;
  /** The audit log every reconcile is recorded in, and where promotion finds the agent's deployment records. */
  audit?: AgentAudit;
  /** An append to the audit log failed (the reconcile's verdict says so too). */
  onAuditError?(environment: string, error: unknown): void;
  /** Environments allowed to prune past their prune limit in this run (vigil agent --allow-mass-prune). */
  allowMassPrune?: readonly string[];
  /** Called before every write to a cluster or the log; throws when this replica may no longer write (its Lease). */
  fence?: () => void;
  /** The key the agent's state (statuses, inventories) is kept under: an HMAC only the agent can make (state-key.ts). */
  stateKey?: StateKey;
  /** The monitor's inventory (the configuration's monitor block): fed after every reconcile. */
  monitor?: MonitorHook;
}

export interface ReconcileResult {
  environment: string;
  /** The commit the gates ran on (undefined when it could not be fetched). */
  revision?: string;
  verdict: Verdict;
  /** Whether this reconcile wrote the set to the cluster. */
  applied: boolean;
  /** The environment after this reconcile; "unknown" when it could not be assessed. */
  health: HealthState;
  /** What a dry run would change, one line per change. */
  plan: string[];
  /** 0 pass, 1 blocked, 3 something could not be reached (the exit codes README.md gives). */
  exitCode: ExitCode;
  seconds: number;
  /** Seconds per step that ran (fetch, each gate, render, apply, health): where the time went. */
  steps: Record<string, number>;
}

export async function reconcileEnvironment(env: EnvironmentConfig, options: ReconcileOptions): Promise<ReconcileResult> {
  const started = performance.now();
  const subject = { environment: env.name, repo: redactCredentials(env.source.url) };
  const steps: Record<string, number> = {};
  const finish = (checks: Check[], rest: Partial<ReconcileResult> = {}): ReconcileResult => {
    const verdict = makeVerdict({ ...subject, ...(rest.revision && { revision: rest.revision }) }, checks);
    const unavailable = rest.exitCode === ExitCode.unavailable;
    // A name the API server would reject, or input that cannot be read (a manifest file, a document
    // over its bounds), is bad input: exit 2, as for any command.
    const badInput = rest.exitCode === ExitCode.badInput || verdict.checks.some((c) => c.status === "fail" && c.code === "invalid-name");
    return {
      environment: env.name,
      verdict,
      applied: false,
      health: "unknown",
      plan: [],
      steps,
      ...rest,
      exitCode: unavailable
        ? ExitCode.unavailable
        : badInput
          ? ExitCode.badInput
          : verdict.verdict === "pass"
            ? ExitCode.ok
            : ExitCode.blocked,
      seconds: (performance.now() - started) / 1000,
    };
  };
  /** Read first thing; a reconcile that could not read it writes no status (it would reset the last applied revision). */
  let state: EnvironmentState | undefined;
  let candidate: Candidate | undefined;
  /** The audit log's outcome, once recorded: a status write that fails after it does not record the reconcile twice. */
  let recorded: Recorded | undefined;
  /** The result recorded: in the audit log (a failed append fails it), then in the environment's status. */
  const conclude = async (checks: Check[], rest: Partial<ReconcileResult>, applied?: Applied): Promise<ReconcileResult> => {
    let result = finish(checks, rest);
    if (options.dryRun) return result;
    try {
      options.fence?.();
    } catch (e) {
      // A replica that lost its Lease records nothing: the one that holds it now does.
      return finish(
        [
          ...checks,
          check({
            gate: "agent",
            rule: "leadership",
            status: "fail",
            subject: env.name,
            message: (e as Error).message,
            code: "not-leader",
          }),
        ],
        { ...rest, exitCode: ExitCode.unavailable },
      );
    }
    if (options.audit) {
      if (!recorded) {
        recorded = await options.audit.record({
          environment: env.name,
          repo: subject.repo,
          ...(candidate && { ref: candidate.ref, source: candidate.repo, claims: candidate.claimsSeen }),
          before: state ?? {},
          result,
          ...(applied?.sync &&
            candidate?.objects && { sync: { result: applied.sync, objects: candidate.objects, kinds: candidate.trust.doc.kinds } }),
        });
        if (recorded.error !== undefined) options.onAuditError?.(env.name, recorded.error);
      }
      result = finish([...checks, recorded.check], { ...rest, ...(recorded.unavailable && { exitCode: ExitCode.unavailable }) });
    }
    // The status caches what the log records: an apply the log could not record does not move it.
    if (state)
      await recordOutcome(
        options.clusters,
        env,
        options.config,
        recorded?.error !== undefined ? { ...result, applied: false } : result,
        state,
        options.stateKey,
      );
    else if (stateRefused) await recordReconcileEvent(options.clusters, env, options.config, result);
    // Once applied, the inventory is signed too: unsigned state is no longer taken (state-key.ts); and
    // the key's Secret records that the environment has applied, so a reset of both is found.
    if (result.applied) {
      options.stateKey?.firstUse.delete(env.name);
      await options.stateKey?.recordApplied?.(env.name);
    }
    return result;
  };
  /** State that cannot be trusted is left as it was found: a status written now would carry the agent's MAC and launder it. */
  let stateRefused = false;
  const refuseState = (refusal: Check): Promise<ReconcileResult> => {
    state = undefined;
    stateRefused = true;
    return conclude([refusal], {});
  };
  try {
    state = await readEnvironmentState(options.clusters, env, options.config);
    const credential = readCredential(env.source);
    const fetchStarted = performance.now();
    const repo = await openRepo(env.source.url, {
      ...(options.config.doc.cacheDir && { cacheDir: options.config.doc.cacheDir }),
      ...(credential && { credential }),
    });
    steps.fetch = (performance.now() - fetchStarted) / 1000;
    candidate = {
      env,
      repo,
      trust: options.trust,
      ...(options.trustedRoot && { trustedRoot: options.trustedRoot }),
      registry: options.registry,
      policy: policyInputs(options.config, env),
      ref: env.source.ref ?? branchRef(options.trust.doc.environments.find((e) => e.name === env.name)?.branch),
      path: environmentPath(env, options.trust),
      render: renderLimits(options.config),
      claimsSeen: [],
    };
    const stateNotes: Check[] = [];
    const inventoryKey = options.stateKey?.inventory(env.name);
    if (options.stateKey) {
      // Checked before anything else reads them: a patched status or a rewritten inventory blocks.
      const distrust = await inventoryDistrust(options.clusters, env, options.config, inventoryKey!);
      const judged = judgeStateByKey(env.name, options.audit ? { missing: true } : state, options.stateKey, distrust);
      if (judged.refusal) return await refuseState(judged.refusal);
      stateNotes.push(...judged.notes);
    }
    if (options.audit) {
      // Evidence is read only from a log that verifies against the checkpoint kept outside it.
      const outcome = await options.audit.evidence();
      if (outcome.check) return await conclude([outcome.check], outcome.unavailable ? { exitCode: ExitCode.unavailable } : {});
      candidate.evidence = outcome.evidence;
      const judged = judgeStateByLog(env.name, state, options.audit.location, outcome.evidence!);
      if (judged.refusal) return await refuseState(judged.refusal);
      state = judged.state;
      stateNotes.push(...judged.notes);
    } else if (state.missing) {
      const refusal = judgeMissingStatus(env.name, await inventoryExists(options.clusters, env, options.config), options.stateKey);
      if (refusal) return await refuseState(refusal);
    }
    if (state.lastApplied) candidate.lastApplied = state.lastApplied;
    let admissionBeforeApply: (() => Promise<Check[]>) | undefined;
    if (!options.dryRun) {
      // The API server judges the exact set (validation, defaults, admission) with the apply's own options, before the first write.
      const syncOptions = syncOptionsFor(options.clusters, env, options.config, {
        ...pruneOptions(options, env),
        ...(inventoryKey && { inventoryKey }),
      });
      // The cluster's admission learns what the gates verified before the dry run, the set's first write.
      const prepare = (admissionBeforeApply = beforeFirstWrite(candidate, options));
      candidate.dryRun = async (objects) => {
        const admission = await prepare();
        if (admission.some((c) => c.status === "fail")) return admission;
        return [...admission, ...(await dryRunChecks(options.clusters.apply(env.name), objects, syncOptions))];
      };
    }
    if (options.config.doc.sops) candidate.sopsKeys = sopsKeys(options, env);
    if (env.vulnerability) candidate.vulnerability = vulnerabilityInputs(options, env);
    if (options.monitor) candidate.monitorChecks = options.monitor.promotionChecks;
    const checks = [...stateNotes, ...(await runGates(candidate, steps))];
    const revision = candidate.commit;
    // Done at the dry run already, unless the trust policy turned the dry run off.
    if (admissionBeforeApply && !checks.some((c) => c.status === "fail")) checks.push(...(await admissionBeforeApply()));
    const passed = !checks.some((c) => c.status === "fail") && candidate.objects !== undefined;
    const applied = passed
      ? await applyCandidate(options.clusters, env, options.config, candidate.objects!, {
          dryRun: options.dryRun === true,
          seconds: steps,
          ...pruneOptions(options, env),
          ...(options.fence && { beforeWrite: options.fence }),
          ...(inventoryKey && { inventoryKey }),
        })
      : undefined;
    const wrote = applied !== undefined && !options.dryRun && !applied.checks.some((c) => c.status === "fail");
    // The monitor's inventory learns what now runs (and what drifted); a degraded environment says so.
    const monitored =
      options.monitor && !options.dryRun
        ? await options.monitor.reconciled({
            environment: env.name,
            trust: options.trust,
            checks: [...checks, ...(applied?.checks ?? [])],
            sbomFor: agentSboms(options),
            cluster: options.clusters.apply(env.name),
            ...(options.fence && { fence: options.fence }),
            ...(wrote &&
              revision && {
                deployed: {
                  objects: candidate.objects!,
                  kinds: candidate.trust.doc.kinds,
                  revision,
                  ...(applied.sync && { sync: applied.sync }),
                },
              }),
          })
        : undefined;
    return await conclude(
      [...checks, ...(applied?.checks ?? []), ...(monitored?.checks ?? [])],
      {
        ...(revision && { revision }),
        ...(applied && {
          applied: wrote,
          health: applied.health,
          plan: applied.plan,
        }),
        ...(monitored?.degraded && { health: "degraded" as const }),
        ...(monitored?.unavailable && { exitCode: ExitCode.unavailable }),
      },
      applied,
    );
  } catch (e) {
    // A source or cluster that cannot be reached, or input that cannot be read: reported as a failing
    // check, so the verdict is never "pass" by default and the last good revision keeps running.
    if (!(e instanceof VigilError)) throw e;
    const checks = [
      check({
        gate: "agent",
        rule: e.exitCode === ExitCode.unavailable ? "unavailable" : "input",
        status: "fail",
        subject: env.name,
        message: e.message,
        code: e.exitCode === ExitCode.unavailable ? "dependency-unavailable" : "bad-input",
      }),
    ];
    const rest = {
      ...(candidate?.commit && { revision: candidate.commit }),
      ...((e.exitCode === ExitCode.unavailable || e.exitCode === ExitCode.badInput) && { exitCode: e.exitCode }),
    };
    // The status is best effort here: the cluster may be what could not be reached.
    return await conclude(checks, rest).catch(() => finish([...checks, ...(recorded ? [recorded.check] : [])], rest));
  } finally {
    candidate?.tree?.remove();
    candidate?.repo.close();
  }
}

/** The SOPS keys from the agent's Secret, read as the agent itself, once per reconcile and only when an encrypted file needs them. */
function sopsKeys(options: ReconcileOptions, env: EnvironmentConfig): () => Promise<SopsKeys> {
  const name = options.config.doc.sops!.secret;
  const namespace = options.config.doc.namespace;
  let keys: Promise<SopsKeys> | undefined;
  return () =>
    (keys ??= (async () => {
      const answer = await options.clusters
        .agent(env.name)
        .call({ verb: "get", method: "GET", path: `/api/v1/namespaces/${namespace}/secrets/${name}` });
      if (answer.status === 404)
        throw new InputError(`${options.config.where(["sops", "secret"])}: Secret ${namespace}/${name} does not exist`);
      if (answer.status !== 200)
        throw new UnavailableError(`cannot read the SOPS keys' Secret ${namespace}/${name} (${answer.status}); the agent needs get on it`);
      return sopsKeysFromSecretData(answer.body?.data, `${namespace}/${name}`);
    })());
}

/** The environment's advisory database (kept open between reconciles), VEX and SBOM source for the vulnerability gate. */
function vulnerabilityInputs(options: ReconcileOptions, env: EnvironmentConfig): NonNullable<Candidate["vulnerability"]> {
  const index = options.config.doc.environments.findIndex((e) => e.name === env.name);
  return async () => ({
    ...(await environmentGateInputs(
      env.vulnerability!,
      options.config.where(["environments", index, "vulnerability"]),
      options.trustedRoot,
    )),
    sbomFor: agentSboms(options),
  });
}

/** An image's SBOM as the agent gets it: its attestation signed by a trusted key, else generated once per digest (cached). */
function agentSboms(options: ReconcileOptions): ReturnType<typeof registrySboms> {
  return registrySboms({
    client: options.registry,
    trustFor: (image) =>
      imageSignersFor(image.image, { policy: options.trust, ...(options.trustedRoot && { trustedRoot: options.trustedRoot }) }),
    cacheDir: join(options.config.doc.cacheDir ?? join(homedir(), ".cache", "vigil"), "sboms"),
    toolVersion: "vigil-agent",
  });
}

/** The prune limit the signed trust policy sets for the environment (else syncSet's default), and whether this run may pass it. */
function pruneOptions(
  options: ReconcileOptions,
  env: EnvironmentConfig,
): { pruneLimit?: { count: number; fraction: number }; allowMassPrune?: boolean } {
  const limit = options.trust.doc.environments.find((e) => e.name === env.name)?.pruneLimit;
  return {
    ...(limit && { pruneLimit: { count: limit.count ?? 10, fraction: limit.fraction ?? 0.5 } }),
    ...(options.allowMassPrune?.includes(env.name) && { allowMassPrune: true }),
  };
}

/** The configuration's bounds on kustomize. */
function renderLimits(config: AgentConfig): RenderOptions {
  const limits = config.doc.limits;
  return {
    kustomize: config.doc.kustomize,
    memoryLimitBytes: parseSize(limits.kustomizeMemory ?? "512Mi"),
    timeoutMs: parseDuration(limits.kustomizeTimeout ?? "60s", config.where(["limits", "kustomizeTimeout"])),
    maxOutputBytes: parseSize(limits.kustomizeOutput ?? "64Mi"),
  };
}

/** The source's read-only credential, if it names one. */
function readCredential(source: EnvironmentConfig["source"]): ReadCredential | undefined {
  if (source.tokenFile) return { tokenFile: source.tokenFile };
  if (source.sshKeyFile) return { sshKeyFile: source.sshKeyFile, ...(source.knownHostsFile && { knownHostsFile: source.knownHostsFile }) };
  return undefined;
}

/** The agent's policy inputs, then the environment's added to them. */
function policyInputs(config: AgentConfig, env: EnvironmentConfig): Candidate["policy"] {
  const base = config.doc.policy;
  const own = env.policy;
  const exceptions = own?.exceptions ?? base?.exceptions;
  return {
    packs: [...new Set([...(base?.packs ?? []), ...(own?.packs ?? [])])],
    policies: [...(base?.policies ?? []), ...(own?.policies ?? [])],
    ...(exceptions && { exceptions }),
  };
}
