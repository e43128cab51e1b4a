// The admission webhook's configuration file (docs/admission.md), in the agent's style: strict, an
// unknown field or a bad value is bad input naming file, line and field; relative paths are taken from
// the file's folder.
import { existsSync } from "node:fs";
import { dirname, isAbsolute, resolve } from "node:path";
import * as v from "valibot";
import { parseDuration } from "../core/duration.ts";
import { InputError } from "../core/errors.ts";
import { readInputText } from "../core/input-file.ts";
import { locate, parseYamlSource, validateYaml } from "../core/yaml-source.ts";

const text = v.pipe(v.string(), v.minLength(1, "must not be empty"));
const name = v.pipe(v.string(), v.regex(/^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/, "must be a lowercase name of letters, digits, . and -"));
const duration = v.pipe(v.string(), v.regex(/^(\d+[smhd])+$/, "must be a duration like 30s, 5m or 1h"));
const hostPort = v.pipe(v.string(), v.regex(/^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]*):\d{1,5}$/, "must be HOST:PORT"));

const admissionConfigSchema = v.strictObject({
  apiVersion: v.literal("vigil.dev/v1alpha1"),
  kind: v.literal("AdmissionConfig"),
  /** The monitor's inventory: a folder (embedded store) or a postgres:// URL. */
  inventory: text,
  /** The trust policy whose admins may sign break-glass tokens. */
  trustPolicy: text,
  /** The agent's own namespace: excluded from the webhook (deadlock), and where the TLS Secret lives. */
  namespace: v.optional(name, "vigil-system"),
  /** Where the webhook listens (HTTPS, one path: /validate). */
  listen: v.optional(hostPort, "0.0.0.0:8443"),
  cluster: v.union([v.strictObject({ inCluster: v.literal(true) }), v.strictObject({ kubeconfig: text, context: v.optional(text) })]),
  webhook: v.optional(
    v.strictObject({
      /** The ValidatingWebhookConfiguration Vigil keeps. */
      name: v.optional(name, "vigil-admission"),
      /** How the API server reaches the webhook: a Service in `namespace`, or a URL (outside the cluster, tests). */
      service: v.optional(
        v.strictObject({ name, port: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(65535)), 443) }),
      ),
      url: v.optional(v.pipe(v.string(), v.url("must be a URL"), v.startsWith("https://", "must be an https:// URL"))),
      /** The API server's wait for an answer (1 to 30 seconds, the API's bounds). */
      timeoutSeconds: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(30)), 5),
      /** Namespaces left out besides the agent's and kube-system (e.g. the namespace of a CNI). */
      excludeNamespaces: v.optional(v.array(name), []),
    }),
    {},
  ),
  tls: v.optional(
    v.strictObject({
      /** The Secret in `namespace` that holds the CA and the serving certificate every replica serves. */
      secret: v.optional(name, "vigil-admission-tls"),
      /** The serving certificate's lifetime; a new one is issued when a third of it is left. */
      validity: v.optional(duration, "7d"),
      /** The CA's lifetime; a new CA joins the caBundle when a third of it is left. */
      caValidity: v.optional(duration, "365d"),
      /** How often each replica reads the Secret again (rotation by another replica). */
      checkInterval: v.optional(duration, "1m"),
    }),
    {},
  ),
  breakGlass: v.optional(
    v.strictObject({
      /** The longest a token may live (from its notBefore to its notAfter). */
      maxLifetime: v.optional(duration, "1h"),
    }),
    {},
  ),
  audit: v.optional(v.strictObject({ log: text, signingKeyFile: text })),
  /** How often the verified digests are read again from the inventory (an image the copy lacks reads them at once). */
  refresh: v.optional(duration, "5s"),
  environments: v.pipe(
    v.array(
      v.strictObject({
        name,
        /** The namespaces the environment deploys to: its verified digests admit Pods there. */
        namespaces: v.pipe(v.array(name), v.minLength(1, "must name at least one namespace")),
        /** Fail closed (the API server refuses when the webhook cannot answer) unless set to Ignore. */
        failurePolicy: v.optional(v.picklist(["Fail", "Ignore"]), "Fail"),
      }),
    ),
    v.minLength(1, "must name at least one environment"),
  ),
});

type Document = v.InferOutput<typeof admissionConfigSchema>;

export interface AdmissionConfig extends Omit<Document, "tls" | "breakGlass" | "refresh"> {
  tls: { secret: string; validityMs: number; caValidityMs: number; checkIntervalMs: number };
  breakGlass: { maxLifetimeMs: number };
  refreshMs: number;
  /** Namespaces the webhook configuration leaves out: the agent's, kube-system and excludeNamespaces. */
  excluded: string[];
}

export function loadAdmissionConfig(file: string): AdmissionConfig {
  const src = parseYamlSource(readInputText(file, "the admission configuration"), file);
  return resolveAdmissionConfig(validateYaml(admissionConfigSchema, src, "admission configuration"), file, (path) => locate(src, path));
}

function resolveAdmissionConfig(doc: Document, file: string, where: (path: PropertyKey[]) => string): AdmissionConfig {
  const base = dirname(resolve(file));
  const abs = (p: string) => (isAbsolute(p) || /^postgres(ql)?:\/\//.test(p) ? p : resolve(base, p));
  if ((doc.webhook.service === undefined) === (doc.webhook.url === undefined))
    throw new InputError(`${where(["webhook"])}: give service or url (one of them)`);
  const trustPolicy = abs(doc.trustPolicy);
  if (!existsSync(trustPolicy)) throw new InputError(`${where(["trustPolicy"])}: ${trustPolicy} does not exist`);
  const excluded = [...new Set([doc.namespace, "kube-system", ...doc.webhook.excludeNamespaces])];
  // One namespace, one environment: otherwise which digests admit a Pod there would depend on order.
  const owner = new Map<string, string>();
  doc.environments.forEach((e, i) => {
    e.namespaces.forEach((ns, j) => {
      const at = where(["environments", i, "namespaces", j]);
      if (excluded.includes(ns))
        throw new InputError(
          `${at}: ${ns} is left out of the webhook (the agent's namespace, kube-system or excludeNamespaces); an environment cannot deploy there`,
        );
      const other = owner.get(ns);
      if (other !== undefined) throw new InputError(`${at}: ${ns} is already environment ${other}'s`);
      owner.set(ns, e.name);
    });
  });
  return {
    ...doc,
    inventory: abs(doc.inventory),
    trustPolicy,
    ...(doc.audit && { audit: { log: abs(doc.audit.log), signingKeyFile: abs(doc.audit.signingKeyFile) } }),
    cluster: "kubeconfig" in doc.cluster ? { ...doc.cluster, kubeconfig: abs(doc.cluster.kubeconfig) } : doc.cluster,
    tls: {
      secret: doc.tls.secret,
      validityMs: parseDuration(doc.tls.validity, where(["tls", "validity"])),
      caValidityMs: parseDuration(doc.tls.caValidity, where(["tls", "caValidity"])),
      checkIntervalMs: parseDuration(doc.tls.checkInterval, where(["tls", "checkInterval"])),
    },
    breakGlass: { maxLifetimeMs: parseDuration(doc.breakGlass.maxLifetime, where(["breakGlass", "maxLifetime"])) },
    refreshMs: parseDuration(doc.refresh, where(["refresh"])),
    excluded,
  };
}
