// The agent's configuration file: per environment, where its revisions come from (a repository the
// agent can only read), which cluster and namespaces it may change, as whom, how often, and which gates
// apply. Strictly validated: an unknown field or a bad value is an error naming file, line and field.
import { existsSync } from "node:fs";
import { dirname, isAbsolute, resolve } from "node:path";
import * as v from "valibot";
import { parseDuration } from "../core/duration.ts";
import { InputError } from "../core/errors.ts";
import { locate, parseYamlSource, validateYaml } from "../core/yaml-source.ts";
import { readInputText } from "../core/input-file.ts";

/** The gates a revision passes before it is applied, in the order they run. */
export const GATE_NAMES = ["revision", "approvals", "secrets", "policy", "artifact", "vulnerability"] as const;
export type GateName = (typeof GATE_NAMES)[number];
/**
 * Gates that run whether the configuration lists them or not. Whether an environment needs approvals or
 * promotion is the trust policy's decision (its admins', and a policy in the repository may add rules
 * at any revision), never the agent configuration's: leaving the gate out must not open the
 * environment. With no such rules for the environment, the gate is one "skip" check.
 */
export const ALWAYS_RUN: readonly GateName[] = ["approvals", "secrets", "vulnerability"];
/** Vulnerability thresholds (vigil scan --fail-on). */
export const FAIL_ON = ["low", "medium", "high", "critical"] as const;

const name = v.pipe(v.string(), v.regex(/^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/, "must be a lowercase name of letters, digits, . and -"));
const text = v.pipe(v.string(), v.minLength(1, "must not be empty"));
const duration = v.pipe(v.string(), v.regex(/^(\d+[smhd])+$/, "must be a duration like 30s, 5m or 1h"));
const size = v.pipe(v.string(), v.regex(/^[1-9]\d{0,5}(Ki|Mi|Gi)$/, "must be a size like 512Mi or 2Gi"));
/** "namespace/name" of a ServiceAccount. */
const serviceAccount = v.pipe(v.string(), v.regex(/^[a-z0-9]([a-z0-9-]*[a-z0-9])?\/[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/, "must be NAMESPACE/NAME of a ServiceAccount"));

const source = v.strictObject({
  /** A repository URL (https:// or ssh) or a local path. */
  url: text,
  /** Branch or tag; default: the trust policy's branch for the environment. */
  ref: v.optional(text),
  /** Folder inside the repository; default: the trust policy's path for the environment, else the root. */
  path: v.optional(text),
  /** A file holding an HTTPS token (read-only), sent as a bearer Authorization header. */
  tokenFile: v.optional(text),
  /** An SSH deploy key (read-only) and the known_hosts file the host's key must be in. */
  sshKeyFile: v.optional(text),
  knownHostsFile: v.optional(text),
});

const cluster = v.union([
  v.strictObject({ inCluster: v.literal(true) }),
  v.strictObject({ kubeconfig: text, context: v.optional(text) }),
]);

const policyInputs = v.strictObject({
  /** Built-in packs (vigil policy check --pack). */
  packs: v.optional(v.array(text), []),
  /** Files or folders of ValidatingAdmissionPolicies, bindings and params, on the agent's side. */
  policies: v.optional(v.array(text), []),
  exceptions: v.optional(text),
});

const environment = v.strictObject({
  /** The environment's name, as in the trust policy's environments when it has rules there. */
  name,
  source,
  cluster,
  /** The namespaces this environment's objects may be in; any other is refused before anything is written. */
  namespaces: v.pipe(v.array(name), v.minLength(1, "must name at least one namespace")),
  /** Cluster-scoped objects other than these namespaces (CRDs, ClusterRoles…) are refused unless allowed. */
  allowClusterScoped: v.optional(v.boolean(), false),
  /** The ServiceAccount the agent impersonates to apply: its RBAC is what this environment may change. */
  serviceAccount: v.optional(serviceAccount),
  interval: v.optional(duration, "5m"),
  /** The gates, in order; the revision gate cannot be left out, and the approvals gate runs anyway (ALWAYS_RUN). */
  gates: v.optional(v.array(v.picklist(GATE_NAMES, `must be one of ${GATE_NAMES.join(", ")}`)), [...GATE_NAMES]),
  policy: v.optional(policyInputs),
  /** Live changes to fields Vigil manages: put back ("restore") or only reported ("report"). */
  drift: v.optional(v.picklist(["restore", "report"], "must be restore or report"), "restore"),
  /** Take over fields another field manager owns, instead of reporting the conflict. */
  force: v.optional(v.boolean(), false),
  prune: v.optional(v.boolean(), true),
  /**
   * The vulnerability gate (src/vuln/gate.ts): the advisory database (a folder or a postgres:// URL, as
   * vigil db import makes it), the severity from which a finding blocks, and the environment's VEX files.
   * The gate runs whenever a database is named here (unless the trust policy turns it off).
   */
  vulnerability: v.optional(v.strictObject({
    db: text,
    failOn: v.picklist(FAIL_ON, `must be one of ${FAIL_ON.join(", ")}`),
    /** A finding whose advisory gives no severity: blocks ("fail", the default) or warns (docs/vulnerabilities.md). */
    unknownSeverity: v.optional(v.picklist(["fail", "warn"], "must be fail or warn")),
    vex: v.optional(v.array(text)),
    /** Every VEX file must carry a Sigstore bundle (FILE.sigstore.json) by this key or certificate identity. */
    vexSignature: v.optional(v.strictObject({ key: v.optional(text), identity: v.optional(text), issuer: v.optional(text), insecureIgnoreTlog: v.optional(v.boolean()) })),
  })),
});

export const agentConfigSchema = v.strictObject({
  apiVersion: v.literal("vigil.dev/v1alpha1", 'must be "vigil.dev/v1alpha1"'),
  kind: v.literal("AgentConfig", 'must be "AgentConfig"'),
  /** The root trust policy; a repository's .vigil/trust.yaml chains from it. */
  trustPolicy: text,
  /** Sigstore trusted_root.json, for keyless signatures (commits or images). */
  trustedRoot: v.optional(text),
  /** The agent's own namespace: its status object, events, inventories and lease. */
  namespace: v.optional(name, "vigil-system"),
  /** Registries reached over plain HTTP (loopback ones only, as everywhere in Vigil). */
  insecureRegistries: v.optional(v.array(text), []),
  /** Policy gate inputs every environment starts from. */
  policy: v.optional(policyInputs),
  /** Where the agent keeps fetched repositories; default ~/.cache/vigil/repos. */
  cacheDir: v.optional(text),
  /** Leader election among replicas, on the Lease vigil-agent in `namespace` (see leader.ts). */
  leaderElection: v.optional(v.strictObject({ leaseDuration: v.optional(duration, "15s") }), {}),
  webhook: v.optional(v.strictObject({ listen: text, secretFile: text })),
  /** GET /metrics on a port of its own; with tokenFile, only for requests bearing that token. */
  metrics: v.optional(v.strictObject({ listen: text, tokenFile: v.optional(text) })),
  /**
   * The audit log every reconcile is appended to (docs/audit.md): a directory or a postgres:// URL, and
   * the log's signing key (vigil audit init makes both). Without it nothing is recorded, and the agent
   * says so when it starts.
   */
  audit: v.optional(v.strictObject({ log: text, signingKeyFile: text })),
  /**
   * The key this agent signs deployment records with on a healthy deploy: a cosign private key whose
   * public half is the trust policy's environments[].agent.key. Its password: passwordFile, else
   * $COSIGN_PASSWORD, else empty. The records go to the audit log (the agent never writes Git).
   */
  deploymentRecords: v.optional(v.strictObject({ keyFile: text, passwordFile: v.optional(text) })),
  /**
   * The monitor's inventory (docs/monitor.md): a folder (embedded store) or a postgres:// URL. Every
   * successful apply is recorded there with the keys that admitted it, and drift left in place; the
   * monitor judges them. Its open findings decide "degraded" and "block-promotion" enforcement.
   */
  monitor: v.optional(v.strictObject({ inventory: text })),
  /**
   * How long the agent waits on a dependency before the reconcile fails (exit 3) instead of stalling:
   * one request to an API server, and one statement on the audit log's PostgreSQL (a lock held by
   * another writer included).
   */
  timeouts: v.optional(v.strictObject({ apiServer: v.optional(duration, "30s"), database: v.optional(duration, "15s") }), {}),
  /** The kustomize binary the render stage runs (default $VIGIL_KUSTOMIZE, else /usr/local/bin/kustomize); it must be the pinned release. */
  kustomize: v.optional(text),
  /** Bounds on what a committer's files may cost the agent when rendered (kustomize). */
  limits: v.optional(v.strictObject({ kustomizeMemory: v.optional(size, "512Mi"), kustomizeTimeout: v.optional(duration, "60s"), kustomizeOutput: v.optional(size, "64Mi") }), {}),
  /**
   * SOPS decryption keys: a Secret in the agent's own namespace whose *.agekey / *.asc keys hold age
   * identities and OpenPGP private keys (docs/secrets.md), read once per reconcile as the agent itself.
   */
  sops: v.optional(v.strictObject({ secret: name })),
  environments: v.pipe(v.array(environment), v.minLength(1, "must list at least one environment")),
});

/** "512Mi" in bytes. */
export function parseSize(value: string): number {
  const m = /^(\d+)(Ki|Mi|Gi)$/.exec(value)!;
  return Number(m[1]) * { Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3 }[m[2] as "Ki" | "Mi" | "Gi"];
}

export type AgentConfigDocument = v.InferOutput<typeof agentConfigSchema>;
export type EnvironmentConfig = AgentConfigDocument["environments"][number];

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
    throw new InputError(`${where(["deploymentRecords"])}: deployment records are kept in the audit log (the agent never writes Git): configure audit too`);
  }
  if (doc.metrics && doc.webhook && doc.metrics.listen === doc.webhook.listen) {
    throw new InputError(`${where(["metrics", "listen"])}: metrics and the webhook need ports of their own (both are ${doc.metrics.listen})`);
  }
  const intervals = new Map<string, number>();
  const seen = new Set<string>();
  doc.environments.forEach((env, i) => {
    if (seen.has(env.name)) throw new InputError(`${where(["environments", i, "name"])}: environment "${env.name}" is configured twice`);
    seen.add(env.name);
    if (!env.gates.includes("revision")) {
      throw new InputError(`${where(["environments", i, "gates"])}: the revision gate cannot be left out: nothing reaches the cluster unless its commits verify`);
    }
    for (const gate of ["policy", "artifact"] as const) {
      if (env.gates.includes(gate)) continue;
      // Secure by default: only the signed trust policy may turn a gate off, never the agent's own file.
      throw new InputError(`${where(["environments", i, "gates"])}: the ${gate} gate cannot be left out by the agent's configuration: turn it off for ${env.name} in the trust policy (environments[].gates: { ${gate}: false }), which its admins sign`);
    }
    if (env.namespaces.includes(doc.namespace)) {
      // The agent's namespace holds the Lease, the webhook triggers and every environment's inventory and
      // status: an environment that could write there could take the Lease or rewrite another's inventory.
      throw new InputError(`${where(["environments", i, "namespaces"])}: "${doc.namespace}" is the agent's own namespace (its Lease, inventories and status); an environment cannot deploy into it`);
    }
    if (env.source.knownHostsFile && !env.source.sshKeyFile) throw new InputError(`${where(["environments", i, "source", "knownHostsFile"])}: knownHostsFile goes with sshKeyFile`);
    env.vulnerability?.vex?.forEach((file, j) => {
      if (!existsSync(file)) throw new InputError(`${where(["environments", i, "vulnerability", "vex", j])}: ${file} does not exist`);
    });
    const vexKey = env.vulnerability?.vexSignature?.key;
    if (vexKey !== undefined && !existsSync(vexKey)) throw new InputError(`${where(["environments", i, "vulnerability", "vexSignature", "key"])}: ${vexKey} does not exist`);
    if (env.source.tokenFile && env.source.sshKeyFile) throw new InputError(`${where(["environments", i, "source"])}: give tokenFile or sshKeyFile, not both`);
    intervals.set(env.name, parseDuration(env.interval, where(["environments", i, "interval"])));
  });
  const leaseMs = parseDuration(doc.leaderElection.leaseDuration ?? "15s", where(["leaderElection", "leaseDuration"]));
  if (leaseMs < 2000) throw new InputError(`${where(["leaderElection", "leaseDuration"])}: a lease shorter than 2s would lapse between renewals`);
  return { source: file, doc, intervals, leaseDurationSeconds: Math.ceil(leaseMs / 1000), where };
}

/** Every environment's gates with those that always run added, in the order gates run. */
function withAlwaysRunGates(doc: AgentConfigDocument): AgentConfigDocument {
  return { ...doc, environments: doc.environments.map((env) => ({ ...env, gates: GATE_NAMES.filter((g) => env.gates.includes(g) || ALWAYS_RUN.includes(g)) })) };
}

/** File paths in the configuration, made absolute against its folder (a repository URL is left alone). */
function resolvePaths(doc: AgentConfigDocument, base: string): AgentConfigDocument {
  const abs = (p: string) => (isAbsolute(p) ? p : resolve(base, p));
  const absOpt = (p: string | undefined) => (p === undefined ? undefined : abs(p));
  const policy = (p: AgentConfigDocument["policy"]) => p && { ...p, policies: p.policies.map(abs), ...(p.exceptions && { exceptions: abs(p.exceptions) }) };
  const isUrl = (u: string) => /^[a-z][a-z0-9+.-]*:\/\//i.test(u) || /^[^/]+@[^:]+:/.test(u);
  return {
    ...doc,
    trustPolicy: abs(doc.trustPolicy),
    ...(doc.trustedRoot && { trustedRoot: abs(doc.trustedRoot) }),
    ...(doc.cacheDir && { cacheDir: abs(doc.cacheDir) }),
    ...(doc.policy && { policy: policy(doc.policy) }),
    ...(doc.webhook && { webhook: { ...doc.webhook, secretFile: abs(doc.webhook.secretFile) } }),
    ...(doc.metrics?.tokenFile && { metrics: { ...doc.metrics, tokenFile: abs(doc.metrics.tokenFile) } }),
    ...(doc.audit && { audit: { log: isUrl(doc.audit.log) ? doc.audit.log : abs(doc.audit.log), signingKeyFile: abs(doc.audit.signingKeyFile) } }),
    ...(doc.monitor && { monitor: { inventory: isUrl(doc.monitor.inventory) ? doc.monitor.inventory : abs(doc.monitor.inventory) } }),
    ...(doc.deploymentRecords && { deploymentRecords: { keyFile: abs(doc.deploymentRecords.keyFile), ...(doc.deploymentRecords.passwordFile && { passwordFile: abs(doc.deploymentRecords.passwordFile) }) } }),
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
      ...(env.vulnerability && { vulnerability: { ...env.vulnerability, db: isUrl(env.vulnerability.db) ? env.vulnerability.db : abs(env.vulnerability.db), ...(env.vulnerability.vex && { vex: env.vulnerability.vex.map(abs) }), ...(env.vulnerability.vexSignature?.key && { vexSignature: { ...env.vulnerability.vexSignature, key: abs(env.vulnerability.vexSignature.key) } }) } }),
    })),
  };
}
