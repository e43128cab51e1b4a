// The monitor's configuration file, in the agent's style (docs/monitor.md): where the inventory and the
// advisory database are, which folders of advisories to watch, the VEX documents, the audit log (the
// agent's `audit` block) and what each environment's findings do. Strict: an unknown field or a bad
// value is bad input naming file, line and field. Relative paths are taken from the file's folder.
import { dirname, isAbsolute, resolve } from "node:path";
import * as v from "valibot";
import { readInputText } from "../core/input-file.ts";
import { locate, parseYamlSource, validateYaml } from "../core/yaml-source.ts";
import { existsSync } from "node:fs";
import { InputError } from "../core/errors.ts";
import { parseDuration } from "../core/duration.ts";

const text = v.pipe(v.string(), v.minLength(1, "must not be empty"));
const name = v.pipe(v.string(), v.regex(/^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/, "must be a lowercase name of letters, digits, . and -"));

export const monitorConfigSchema = v.strictObject({
  apiVersion: v.literal("vigil.dev/v1alpha1"),
  kind: v.literal("MonitorConfig"),
  /** A folder for the embedded inventory. */
  inventory: text,
  /** The advisory database `vigil db import` writes: a folder or a postgres:// URL. */
  database: text,
  /** Folders of OSV advisories (JSON files, all.zip exports) imported whenever they change. */
  feeds: v.optional(v.array(text), []),
  vex: v.optional(v.array(text), []),
  /** The trust policy whose keys admitted what is deployed: when it changes, what it no longer trusts is flagged. */
  trustPolicy: v.optional(text),
  audit: v.optional(v.strictObject({ log: text, signingKeyFile: text })),
  /** Findings POSTed as JSON, signed with the secret as the agent's webhook checks (slack: a Slack-compatible body). */
  webhook: v.optional(
    v.strictObject({ url: v.pipe(v.string(), v.url("must be a URL")), secretFile: text, slack: v.optional(v.boolean()) }),
  ),
  /** Prometheus metrics of the open findings at http://LISTEN/metrics. */
  metrics: v.optional(v.strictObject({ listen: text })),
  /** The configuration repository (a path or URL, read only), looked at every `interval` for unusual activity; needs trustPolicy. */
  repository: v.optional(
    v.strictObject({
      location: text,
      interval: v.optional(v.pipe(v.string(), v.regex(/^(\d+[smhd])+$/, "must be a duration like 30s, 5m or 1h")), "1m"),
    }),
  ),
  /** Policies the live manifests are evaluated against again when they change, and every `interval` (exceptions expire). */
  policy: v.optional(
    v.strictObject({
      packs: v.optional(v.array(text), []),
      paths: v.optional(v.array(text), []),
      exceptions: v.optional(text),
      interval: v.optional(v.pipe(v.string(), v.regex(/^(\d+[smhd])+$/, "must be a duration like 30s, 5m or 1h")), "1h"),
    }),
  ),
  /**
   * Monitors sharing one inventory elect one leader on a coordination.k8s.io Lease (vigil-monitor in
   * `namespace`), as the agent's replicas do: only the leader writes and emits findings; the others wait.
   */
  leaderElection: v.optional(
    v.strictObject({
      namespace: name,
      kubeconfig: v.optional(text),
      context: v.optional(text),
      inCluster: v.optional(v.literal(true)),
      leaseDuration: v.optional(v.pipe(v.string(), v.regex(/^(\d+[smhd])+$/, "must be a duration like 15s")), "15s"),
    }),
  ),
  /** How often the shared stores are looked at for a `vigil db import` another process ran and deployments the agent recorded. */
  refreshInterval: v.optional(v.pipe(v.string(), v.regex(/^(\d+[smhd])+$/, "must be a duration like 5s or 1m")), "5s"),
  /** Each environment's cluster: its Pods are compared with the inventory every `interval`, and findings go to it as Events. */
  clusters: v.optional(
    v.array(
      v.strictObject({
        environment: name,
        kubeconfig: v.optional(text),
        context: v.optional(text),
        inCluster: v.optional(v.literal(true)),
        namespaces: v.optional(v.array(name)),
        interval: v.optional(v.pipe(v.string(), v.regex(/^(\d+[smhd])+$/, "must be a duration like 30s, 5m or 1h")), "30s"),
      }),
    ),
    [],
  ),
});

export type MonitorConfig = v.InferOutput<typeof monitorConfigSchema>;

export function loadMonitorConfig(file: string): MonitorConfig {
  const src = parseYamlSource(readInputText(file, "the monitor configuration"), file);
  const doc = validateYaml(monitorConfigSchema, src, "monitor configuration");
  const base = dirname(resolve(file));
  const abs = (p: string) => (isAbsolute(p) || /^postgres(ql)?:\/\//.test(p) ? p : resolve(base, p));
  // What is watched must be there: a typo would otherwise watch nothing, silently.
  const watched: [PropertyKey[], string][] = [
    ...(doc.policy?.paths ?? []).map((p, i): [PropertyKey[], string] => [["policy", "paths", i], p]),
    ...(doc.policy?.exceptions ? [[["policy", "exceptions"], doc.policy.exceptions] as [PropertyKey[], string]] : []),
    ...doc.feeds.map((p, i): [PropertyKey[], string] => [["feeds", i], p]),
    ...doc.vex.map((p, i): [PropertyKey[], string] => [["vex", i], p]),
    ...(doc.trustPolicy ? [[["trustPolicy"], doc.trustPolicy] as [PropertyKey[], string]] : []),
  ];
  for (const [path, p] of watched) if (!existsSync(abs(p))) throw new InputError(`${locate(src, path)}: ${abs(p)} does not exist`);
  if (doc.repository && !doc.trustPolicy)
    throw new InputError(
      `${locate(src, ["repository"])}: watching the repository needs trustPolicy (who may sign, which branches are environments')`,
    );
  if (doc.leaderElection && (doc.leaderElection.kubeconfig !== undefined) === (doc.leaderElection.inCluster === true)) {
    throw new InputError(`${locate(src, ["leaderElection"])}: give kubeconfig or inCluster: true (one of them)`);
  }
  if (doc.leaderElection && parseDuration(doc.leaderElection.leaseDuration, locate(src, ["leaderElection", "leaseDuration"])) < 2000) {
    throw new InputError(`${locate(src, ["leaderElection", "leaseDuration"])}: a lease shorter than 2s would lapse between renewals`);
  }
  doc.clusters.forEach((c, i) => {
    if ((c.kubeconfig !== undefined) === (c.inCluster === true))
      throw new InputError(`${locate(src, ["clusters", i])}: give kubeconfig or inCluster: true (one of them)`);
  });
  return {
    ...doc,
    inventory: abs(doc.inventory),
    database: abs(doc.database),
    feeds: doc.feeds.map(abs),
    vex: doc.vex.map(abs),
    ...(doc.trustPolicy && { trustPolicy: abs(doc.trustPolicy) }),
    ...(doc.repository && {
      repository: {
        ...doc.repository,
        location:
          isAbsolute(doc.repository.location) || /^[a-z+]+:\/\/|^[^/]+@[^/]+:/.test(doc.repository.location)
            ? doc.repository.location
            : resolve(base, doc.repository.location),
      },
    }),
    ...(doc.policy && {
      policy: { ...doc.policy, paths: doc.policy.paths.map(abs), ...(doc.policy.exceptions && { exceptions: abs(doc.policy.exceptions) }) },
    }),
    clusters: doc.clusters.map((c) => ({ ...c, ...(c.kubeconfig && { kubeconfig: abs(c.kubeconfig) }) })),
    ...(doc.leaderElection && {
      leaderElection: { ...doc.leaderElection, ...(doc.leaderElection.kubeconfig && { kubeconfig: abs(doc.leaderElection.kubeconfig) }) },
    }),
    ...(doc.webhook && { webhook: { ...doc.webhook, secretFile: abs(doc.webhook.secretFile) } }),
    ...(doc.audit && { audit: { log: abs(doc.audit.log), signingKeyFile: abs(doc.audit.signingKeyFile) } }),
  };
}
