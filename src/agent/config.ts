// The agent's configuration file: per environment, where its revisions come from (a repository the
// agent can only read), which cluster and namespaces it may change, as whom, how often, and which gates
// apply. Strictly validated: an unknown field or a bad value is an error naming file, line and field.
import { existsSync } from "node:fs";
import { dirname, isAbsolute, resolve } from "node:path";
import { agentConfigSchema, GATE_NAMES, type AgentConfigDocument, type GateName } from "../api/agent-config.ts";
import { parseDuration } from "../core/duration.ts";
import { InputError } from "../core/errors.ts";
import { locate, parseYamlSource, validateYaml } from "../core/yaml-source.ts";
import { readInputText } from "../core/input-file.ts";

/**
 * Gates that run whether the configuration lists them or not. Whether an environment needs approvals or
 * promotion is the trust policy's decision (its admins', and a policy in the repository may add rules
 * at any revision), never the agent configuration's: leaving the gate out must not open the
 * environment. With no such rules for the environment, the gate is one "skip" check.
 */
export const ALWAYS_RUN: readonly GateName[] = ["approvals", "secrets", "vulnerability"];
export function parseSize(value: string): number {
  const m = /^(\d+)(Ki|Mi|Gi)$/.exec(value)!;
  return Number(m[1]) * { Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3 }[m[2] as "Ki" | "Mi" | "Gi"];
}

export interface AgentConfig {
  source: string;
  doc: AgentConfigDocument;
  /** The Lease's duration, in seconds. */
  leaseDurationSeconds: number;
  /** Interval per environment, in milliseconds. */
  intervals: Map<string, number>;
  /** "file:line field" for a path into the document. */
  where(path: readonly PropertyKey[]): string;
}

/** Reads and checks an agent configuration; relative paths in it are taken from its folder. */
export function loadAgentConfig(file: string): AgentConfig {
  return parseAgentConfig(readInputText(file, "the agent configuration"), file);
}

export function parseAgentConfig(textContent: string, file: string): AgentConfig {
  const src = parseYamlSource(textContent, file);
  const doc = withAlwaysRunGates(resolvePaths(validateYaml(agentConfigSchema, src, "agent configuration"), dirname(resolve(file))));
  const where = (path: readonly PropertyKey[]) => locate(src, path);
  if (doc.deploymentRecords && !doc.audit) {
    throw new InputError(
      `${where(["deploymentRecords"])}: deployment records are kept in the audit log (the agent never writes Git): configure audit too`,
    );
  }
  if (doc.metrics && doc.webhook && doc.metrics.listen === doc.webhook.listen) {
    throw new InputError(
      `${where(["metrics", "listen"])}: metrics and the webhook need ports of their own (both are ${doc.metrics.listen})`,
    );
  }
  const intervals = new Map<string, number>();
  const seen = new Set<string>();
  doc.environments.forEach((env, i) => {
    if (seen.has(env.name)) throw new InputError(`${where(["environments", i, "name"])}: environment "${env.name}" is configured twice`);
    seen.add(env.name);
    if (!env.gates.includes("revision")) {
      throw new InputError(
        `${where(["environments", i, "gates"])}: the revision gate cannot be left out: nothing reaches the cluster unless its commits verify`,
      );
    }
    for (const gate of ["policy", "artifact"] as const) {
      if (env.gates.includes(gate)) continue;
      // Secure by default: only the signed trust policy may turn a gate off, never the agent's own file.
      throw new InputError(
        `${where(["environments", i, "gates"])}: the ${gate} gate cannot be left out by the agent's configuration: turn it off for ${env.name} in the trust policy (environments[].gates: { ${gate}: false }), which its admins sign`,
      );
    }
    if (env.namespaces.includes(doc.namespace)) {
      // The agent's namespace holds the Lease, the webhook triggers and every environment's inventory and
      // status: an environment that could write there could take the Lease or rewrite another's inventory.
      throw new InputError(
        `${where(["environments", i, "namespaces"])}: "${doc.namespace}" is the agent's own namespace (its Lease, inventories and status); an environment cannot deploy into it`,
      );
    }
    if (env.source.knownHostsFile && !env.source.sshKeyFile)
      throw new InputError(`${where(["environments", i, "source", "knownHostsFile"])}: knownHostsFile goes with sshKeyFile`);
    env.vulnerability?.vex?.forEach((file, j) => {
      if (!existsSync(file)) throw new InputError(`${where(["environments", i, "vulnerability", "vex", j])}: ${file} does not exist`);
    });
    const vexKey = env.vulnerability?.vexSignature?.key;
    if (vexKey !== undefined && !existsSync(vexKey))
      throw new InputError(`${where(["environments", i, "vulnerability", "vexSignature", "key"])}: ${vexKey} does not exist`);
    if (env.source.tokenFile && env.source.sshKeyFile)
      throw new InputError(`${where(["environments", i, "source"])}: give tokenFile or sshKeyFile, not both`);
    intervals.set(env.name, parseDuration(env.interval, where(["environments", i, "interval"])));
  });
  const leaseMs = parseDuration(doc.leaderElection.leaseDuration ?? "15s", where(["leaderElection", "leaseDuration"]));
  if (leaseMs < 2000)
    throw new InputError(`${where(["leaderElection", "leaseDuration"])}: a lease shorter than 2s would lapse between renewals`);
  return { source: file, doc, intervals, leaseDurationSeconds: Math.ceil(leaseMs / 1000), where };
}

/** Every environment's gates with those that always run added, in the order gates run. */
function withAlwaysRunGates(doc: AgentConfigDocument): AgentConfigDocument {
  return {
    ...doc,
    environments: doc.environments.map((env) => ({
      ...env,
      gates: GATE_NAMES.filter((g) => env.gates.includes(g) || ALWAYS_RUN.includes(g)),
    })),
  };
}

/** File paths in the configuration, made absolute against its folder (a repository URL is left alone). */
function resolvePaths(doc: AgentConfigDocument, base: string): AgentConfigDocument {
  const abs = (p: string) => (isAbsolute(p) ? p : resolve(base, p));
  const absOpt = (p: string | undefined) => (p === undefined ? undefined : abs(p));
  const policy = (p: AgentConfigDocument["policy"]) =>
    p && { ...p, policies: p.policies.map(abs), ...(p.exceptions && { exceptions: abs(p.exceptions) }) };
  const isUrl = (u: string) => /^[a-z][a-z0-9+.-]*:\/\//i.test(u) || /^[^/]+@[^:]+:/.test(u);
  return {
    ...doc,
    trustPolicy: abs(doc.trustPolicy),
    ...(doc.trustedRoot && { trustedRoot: abs(doc.trustedRoot) }),
    ...(doc.cacheDir && { cacheDir: abs(doc.cacheDir) }),
    ...(doc.policy && { policy: policy(doc.policy) }),
    ...(doc.webhook && { webhook: { ...doc.webhook, secretFile: abs(doc.webhook.secretFile) } }),
    ...(doc.metrics?.tokenFile && { metrics: { ...doc.metrics, tokenFile: abs(doc.metrics.tokenFile) } }),
    ...(doc.audit && {
      audit: { log: isUrl(doc.audit.log) ? doc.audit.log : abs(doc.audit.log), signingKeyFile: abs(doc.audit.signingKeyFile) },
    }),
    ...(doc.monitor && {
      monitor: {
        inventory: isUrl(doc.monitor.inventory) ? doc.monitor.inventory : abs(doc.monitor.inventory),
        ...(doc.monitor.config && { config: abs(doc.monitor.config) }),
      },
    }),
    ...(doc.deploymentRecords && {
      deploymentRecords: {
        keyFile: abs(doc.deploymentRecords.keyFile),
        ...(doc.deploymentRecords.passwordFile && { passwordFile: abs(doc.deploymentRecords.passwordFile) }),
      },
    }),
    environments: doc.environments.map((env) => ({
      ...env,
      source: {
        ...env.source,
        url: isUrl(env.source.url) ? env.source.url : abs(env.source.url),
        ...(env.source.tokenFile && { tokenFile: absOpt(env.source.tokenFile) }),
        ...(env.source.sshKeyFile && { sshKeyFile: absOpt(env.source.sshKeyFile) }),
        ...(env.source.knownHostsFile && { knownHostsFile: absOpt(env.source.knownHostsFile) }),
      },
      cluster: "kubeconfig" in env.cluster ? { ...env.cluster, kubeconfig: abs(env.cluster.kubeconfig) } : env.cluster,
      ...(env.policy && { policy: policy(env.policy) }),
      ...(env.vulnerability && {
        vulnerability: {
          ...env.vulnerability,
          db: isUrl(env.vulnerability.db) ? env.vulnerability.db : abs(env.vulnerability.db),
          ...(env.vulnerability.vex && { vex: env.vulnerability.vex.map(abs) }),
          ...(env.vulnerability.vexSignature?.key && {
            vexSignature: { ...env.vulnerability.vexSignature, key: abs(env.vulnerability.vexSignature.key) },
          }),
        },
      }),
    })),
  };
}
