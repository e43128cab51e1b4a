// The agent's configuration file's format (kind AgentConfig, apiVersion vigil.dev/v1alpha1): its schema and
// the document types it gives. Loading it (paths resolved, gates that always run added) is
// src/agent/config.ts; what each field means is docs/agent.md.
import * as v from "valibot";
import { API_VERSION } from "./version.ts";

export const AGENT_CONFIG_KIND = "AgentConfig";

/** The gates a revision passes before it is applied, in the order they run. */
export const GATE_NAMES = ["revision", "approvals", "secrets", "policy", "artifact", "vulnerability"] as const;
export type GateName = (typeof GATE_NAMES)[number];
/** Vulnerability thresholds (vigil scan --fail-on). */
export const FAIL_ON = ["low", "medium", "high", "critical"] as const;

const name = v.pipe(v.string(), v.regex(/^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/, "must be a lowercase name of letters, digits, . and -"));
const text = v.pipe(v.string(), v.minLength(1, "must not be empty"));
const duration = v.pipe(v.string(), v.regex(/^(\d+[smhd])+$/, "must be a duration like 30s, 5m or 1h"));
const size = v.pipe(v.string(), v.regex(/^[1-9]\d{0,5}(Ki|Mi|Gi)$/, "must be a size like 512Mi or 2Gi"));
/** "namespace/name" of a ServiceAccount. */
const serviceAccount = v.pipe(
  v.string(),
  v.regex(/^[a-z0-9]([a-z0-9-]*[a-z0-9])?\/[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/, "must be NAMESPACE/NAME of a ServiceAccount"),
);

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

const cluster = v.union([v.strictObject({ inCluster: v.literal(true) }), v.strictObject({ kubeconfig: text, context: v.optional(text) })]);

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
  vulnerability: v.optional(
    v.strictObject({
      db: text,
      failOn: v.picklist(FAIL_ON, `must be one of ${FAIL_ON.join(", ")}`),
      /** A finding whose advisory gives no severity: blocks ("fail", the default) or warns (docs/vulnerabilities.md). */
      unknownSeverity: v.optional(v.picklist(["fail", "warn"], "must be fail or warn")),
      vex: v.optional(v.array(text)),
      /** Every VEX file must carry a Sigstore bundle (FILE.sigstore.json) by this key or certificate identity. */
      vexSignature: v.optional(
        v.strictObject({
          key: v.optional(text),
          identity: v.optional(text),
          issuer: v.optional(text),
          insecureIgnoreTlog: v.optional(v.boolean()),
        }),
      ),
    }),
  ),
});

export const agentConfigSchema = v.strictObject({
  apiVersion: v.literal(API_VERSION, `must be "${API_VERSION}"`),
  kind: v.literal(AGENT_CONFIG_KIND, `must be "${AGENT_CONFIG_KIND}"`),
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
   * `config`: a monitor configuration (the file `vigil monitor --config` reads, on the same inventory)
   * that the agent runs in its own process, with the same triggers and sinks, electing one leader
   * among the replicas on the Lease vigil-monitor.
   */
  monitor: v.optional(v.strictObject({ inventory: text, config: v.optional(text) })),
  /**
   * Install each environment's policy packs in its cluster as ValidatingAdmissionPolicies bound to its
   * namespaces (src/agent/admission-policies.ts, docs/admission.md), so they hold for objects that did
   * not come through Vigil. Needs the cluster-wide rights deploy/admission.yaml grants the agent.
   */
  admissionPolicies: v.optional(v.boolean()),
  /**
   * How long the agent waits on a dependency before the reconcile fails (exit 3) instead of stalling:
   * one request to an API server, and one statement on the audit log's PostgreSQL (a lock held by
   * another writer included).
   */
  timeouts: v.optional(v.strictObject({ apiServer: v.optional(duration, "30s"), database: v.optional(duration, "15s") }), {}),
  /** The kustomize binary the render stage runs (default $VIGIL_KUSTOMIZE, else /usr/local/bin/kustomize); it must be the pinned release. */
  kustomize: v.optional(text),
  /** Bounds on what a committer's files may cost the agent when rendered (kustomize). */
  limits: v.optional(
    v.strictObject({
      kustomizeMemory: v.optional(size, "512Mi"),
      kustomizeTimeout: v.optional(duration, "60s"),
      kustomizeOutput: v.optional(size, "64Mi"),
    }),
    {},
  ),
  /**
   * SOPS decryption keys: a Secret in the agent's own namespace whose *.agekey / *.asc keys hold age
   * identities and OpenPGP private keys (docs/secrets.md), read once per reconcile as the agent itself.
   */
  sops: v.optional(v.strictObject({ secret: name })),
  environments: v.pipe(v.array(environment), v.minLength(1, "must list at least one environment")),
});

/** "512Mi" in bytes. */

export type AgentConfigDocument = v.InferOutput<typeof agentConfigSchema>;
export type EnvironmentConfig = AgentConfigDocument["environments"][number];
