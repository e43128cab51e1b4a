// `vigil admission`: the validating admission webhook, put together. It reads what Vigil verified from
// the monitor's inventory, serves HTTPS with a certificate it issues and rotates, keeps its webhook
// configuration (caBundle included) in the cluster, and answers each AdmissionReview with decide(). One
// JSON line per decision goes to `log`. The environments' policy packs are the agent's to install
// (src/agent/admission-policies.ts): one installer, the one that knows each revision's exceptions.
import { isIP } from "node:net";
import type { Server } from "node:https";
import { openAuditLog, type AuditLog } from "../audit/index.ts";
import { connectCluster, type Cluster } from "../cluster/client.ts";
import { buildKeyring } from "../trust/keyring.ts";
import { expandPrincipals, loadTrustPolicyFile } from "../trust/policy.ts";
import { verifyBreakGlass, type BreakGlassContext, type BreakGlassGrant } from "./break-glass.ts";
import { useBreakGlassToken } from "./break-glass-ledger.ts";
import { applyClusterObjects, webhookConfiguration } from "./cluster-objects.ts";
import type { AdmissionConfig } from "./config.ts";
import { decide, type AdmissionRequest, type DecisionContext } from "./decide.ts";
import { serveWebhook, setMaterial } from "./server.ts";
import { ensureServingMaterial, type ServingMaterial, type TlsSettings } from "./tls.ts";
import { VerifiedImages } from "./verified.ts";
import type { ServingNames } from "./certificates.ts";

/** The copy of the inventory is refused once it is this many refresh intervals old (at least 30 s). */
const STALE_REFRESHES = 3;
const MIN_STALE_MS = 30_000;

export interface RunningAdmission {
  server: Server;
  /** The port it listens on (useful with port 0). */
  port: number;
  /** Reads the Secret again, rotating if due, and serves what it holds. */
  checkCertificates(): Promise<ServingMaterial>;
  stop(): Promise<void>;
}

export async function startAdmission(config: AdmissionConfig, log: (line: Record<string, unknown>) => void): Promise<RunningAdmission> {
  const cluster = await connectCluster("inCluster" in config.cluster ? { inCluster: true } : config.cluster);
  const opened: { audit?: AuditLog; verified?: VerifiedImages } = {};
  try {
    opened.verified = await VerifiedImages.open(config.inventory, environmentNames(config), config.refreshMs, (error) =>
      log({ time: new Date().toISOString(), error }),
    );
    if (config.audit) opened.audit = await openAuditLog(config.audit.log, { signingKeyFile: config.audit.signingKeyFile });
    const breakGlass = await breakGlassContext(config);
    const tls = tlsSettings(config);
    const publish = (bundle: string) => applyClusterObjects(cluster, [webhookConfiguration(config, bundle)]);
    let material = await ensureServingMaterial(cluster, tls, publish);
    const ctx = decisionContext(config, opened.verified, opened.audit, breakGlass, cluster);
    const server = await serveWebhook(
      config.listen,
      material,
      async (request) => {
        const decision = await decide(request, ctx);
        log({
          time: new Date().toISOString(),
          uid: request.uid,
          operation: request.operation,
          kind: request.kind.kind,
          namespace: request.namespace,
          name: request.name || request.object?.metadata?.name,
          user: request.userInfo.username,
          dryRun: request.dryRun,
          allowed: decision.allowed,
          rule: decision.rule,
          environment: decision.environment,
          images: decision.images,
          ...(decision.allowed && decision.rule !== "break-glass" ? {} : { message: decision.message }),
        });
        return decision;
      },
      (message) => log({ time: new Date().toISOString(), error: message }),
    );
    // Listening first: the configuration sends requests here as soon as the API server reads it.
    await applyClusterObjects(cluster, [webhookConfiguration(config, material.caBundle)]);
    // Every check also applies the webhook configuration again: one deleted or edited by hand is
    // restored within a check interval.
    const checkCertificates = async () => {
      const next = await ensureServingMaterial(cluster, tls, publish);
      if (next.certPem !== material.certPem) setMaterial(server, next);
      await applyClusterObjects(cluster, [webhookConfiguration(config, next.caBundle)]);
      material = next;
      return next;
    };
    const timer = setInterval(() => {
      checkCertificates().catch((e) => log({ time: new Date().toISOString(), error: `certificates: ${(e as Error).message}` }));
      breakGlass.reload().catch((e) => log({ time: new Date().toISOString(), error: `trust policy: ${(e as Error).message}` }));
    }, config.tls.checkIntervalMs);
    timer.unref();
    const address = server.address();
    return {
      server,
      port: typeof address === "object" && address ? address.port : 0,
      checkCertificates,
      async stop() {
        clearInterval(timer);
        await new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeAllConnections();
        await close(cluster, opened);
      },
    };
  } catch (e) {
    await close(cluster, opened);
    throw e;
  }
}

async function close(cluster: Cluster, opened: { audit?: AuditLog; verified?: VerifiedImages }): Promise<void> {
  opened.verified?.close();
  await opened.audit?.close();
  await cluster.close();
}

export function environmentNames(config: Pick<AdmissionConfig, "environments">): string[] {
  return config.environments.map((e) => e.name);
}

/** The names the serving certificate must carry: the URL's host, or the Service's DNS names. */
function servingNames(config: AdmissionConfig): ServingNames {
  if (config.webhook.url) {
    const host = new URL(config.webhook.url).hostname.replace(/^\[|\]$/g, "");
    return isIP(host) ? { dns: [], ips: [host] } : { dns: [host], ips: [] };
  }
  const svc = `${config.webhook.service!.name}.${config.namespace}.svc`;
  return { dns: [svc, `${svc}.cluster.local`], ips: [] };
}

function tlsSettings(config: AdmissionConfig): TlsSettings {
  return {
    namespace: config.namespace,
    secret: config.tls.secret,
    validityMs: config.tls.validityMs,
    caValidityMs: config.tls.caValidityMs,
    names: servingNames(config),
  };
}

export interface ReloadableBreakGlass {
  current(): Omit<BreakGlassContext, "now">;
  reload(): Promise<void>;
}

/** The trust policy's keys and admins, read again every certificate check (a revoked admin stops counting). */
export async function breakGlassContext(config: AdmissionConfig): Promise<ReloadableBreakGlass> {
  const load = async () => {
    const policy = await loadTrustPolicyFile(config.trustPolicy);
    return {
      keyring: await buildKeyring(policy),
      admins: expandPrincipals(policy.doc, policy.doc.admins?.members ?? []),
      maxLifetimeMs: config.breakGlass.maxLifetimeMs,
    };
  };
  let value = await load();
  return {
    current: () => value,
    async reload() {
      value = await load();
    },
  };
}

/** How each request is judged: the inventory's copy, the trust policy's admins, the audit log; break-glass tokens are used up in `cluster`. */
export function decisionContext(
  config: AdmissionConfig,
  verified: VerifiedImages,
  audit: AuditLog | undefined,
  breakGlass: ReloadableBreakGlass,
  cluster: Cluster,
): DecisionContext {
  const environments = new Map<string, { name: string }>();
  for (const e of config.environments) for (const ns of e.namespaces) environments.set(ns, { name: e.name });
  const staleAfterMs = Math.max(MIN_STALE_MS, STALE_REFRESHES * config.refreshMs);
  return {
    environmentOf: (namespace) => environments.get(namespace),
    images: (environment, fresh) => (fresh ? verified.afterMiss(environment) : Promise.resolve(verified.current(environment))),
    stale: () =>
      verified.ageMs() > staleAfterMs
        ? `the inventory (${verified.location}) has not been read for ${Math.round(verified.ageMs() / 1000)} s`
        : undefined,
    verifyBreakGlass: (token, target) => verifyBreakGlass(token, target, { ...breakGlass.current(), now: new Date() }),
    recordBreakGlass: (grant, request, images) => recordBreakGlass(cluster, config.namespace, audit, grant, request, images),
  };
}

/**
 * Uses the token up (atomically, across replicas: break-glass-ledger.ts) and records who and why. A dry
 * run (kubectl --dry-run=server) checks the token but neither uses it nor records it. Without an audit
 * log, break-glass is refused: an admission nobody can trace is what the webhook exists to prevent. A
 * token used up whose record then fails to append is spent and its object refused (fail closed).
 */
async function recordBreakGlass(
  cluster: Cluster,
  namespace: string,
  audit: AuditLog | undefined,
  grant: BreakGlassGrant,
  request: AdmissionRequest,
  images: string[],
): Promise<void> {
  if (!audit) throw new Error("break-glass needs an audit log (audit in the admission configuration), and none is configured");
  if (request.dryRun) return;
  const { claim } = grant;
  const user = request.userInfo.username || "(unknown)";
  await useBreakGlassToken(cluster, namespace, grant, {
    object: { kind: claim.kind, namespace: claim.namespace, name: claim.name },
    operation: request.operation,
    user,
    uid: request.uid,
  });
  const apiVersion = request.kind.group ? `${request.kind.group}/${request.kind.version}` : request.kind.version;
  await audit.append([
    {
      kind: "break-glass",
      time: new Date().toISOString(),
      payload: {
        object: { apiVersion, kind: claim.kind, namespace: claim.namespace, name: claim.name },
        operation: request.operation,
        user,
        signer: grant.signer,
        key: grant.key,
        reason: claim.reason,
        token: claim.id,
        notAfter: claim.notAfter,
        images,
      },
    },
  ]);
}
