// The serving certificate every replica serves, kept in one Secret (type kubernetes.io/tls) in the
// agent's namespace: tls.crt and tls.key, ca.crt (the CA that signs them), ca.key, and ca-bundle.crt
// (every CA the API server must trust: the current one and, during a CA rotation, the one before).
// Any replica issues a new serving certificate when a third of the old one's life is left, and a new CA
// when a third of the CA's is left; it writes the webhook configuration's caBundle first and the Secret
// second (with its resourceVersion, so two replicas rotating at once cannot both win), so the API
// server trusts a CA before any replica serves a certificate it signed. Replicas read the Secret again
// every checkInterval and serve what it holds.
import { X509Certificate } from "node:crypto";
import { apiFailure, type Cluster } from "../cluster/client.ts";
import { issueCa, issueServing, splitPem, type Issued, type ServingNames } from "./certificates.ts";

export interface ServingMaterial {
  certPem: string;
  keyPem: string;
  /** Every CA the API server must trust, PEM, newest first. */
  caBundle: string;
}

interface Stored extends ServingMaterial {
  ca: Issued;
}

export interface TlsSettings {
  namespace: string;
  secret: string;
  validityMs: number;
  caValidityMs: number;
  names: ServingNames;
}

/** The Secret's material, made or rotated as needed; `publishBundle` runs before a new CA's certificate is served. */
export async function ensureServingMaterial(
  cluster: Cluster,
  s: TlsSettings,
  publishBundle: (bundle: string) => Promise<unknown>,
  now = new Date(),
): Promise<ServingMaterial> {
  for (let attempt = 1; ; attempt++) {
    const { stored, resourceVersion } = await readSecret(cluster, s);
    const next = await renew(stored, s, now);
    if (next === stored) return stored;
    if (next.caBundle !== stored?.caBundle) await publishBundle(next.caBundle);
    const written = await writeSecret(cluster, s, next, resourceVersion);
    if (written) return next;
    if (attempt >= 3) throw new Error(`the Secret ${s.namespace}/${s.secret} keeps changing under this replica's writes`);
    // Another replica rotated at the same moment: serve what it wrote.
  }
}

/** The material to store: `stored` itself when nothing needs to change. */
async function renew(stored: Stored | undefined, s: TlsSettings, now: Date): Promise<Stored> {
  const ca =
    stored && !expiresSoon(stored.ca.certPem, s.caValidityMs, now)
      ? stored.ca
      : await issueCa(`vigil-admission-ca-${now.toISOString().slice(0, 10)}`, s.caValidityMs, now);
  const keepLeaf = stored && ca === stored.ca && !expiresSoon(stored.certPem, s.validityMs, now) && coversNames(stored.certPem, s.names);
  if (keepLeaf && stored) return stored;
  const leaf = await issueServing(ca, s.names, s.validityMs, now);
  // The bundle: the CA that signs now, then older ones still valid (a replica may serve their certificates until it reads the Secret).
  const older = stored ? splitPem(stored.caBundle).filter((p) => p !== ca.certPem && new Date(new X509Certificate(p).validTo) > now) : [];
  return { ca, certPem: leaf.certPem, keyPem: leaf.keyPem, caBundle: [ca.certPem, ...older].join("") };
}

/** Less than a third of its lifetime left (lifetimeMs as configured, so a shortened lifetime takes effect). */
function expiresSoon(certPem: string, lifetimeMs: number, now: Date): boolean {
  const cert = new X509Certificate(certPem);
  const left = Date.parse(cert.validTo) - now.getTime();
  return left < lifetimeMs / 3 || Date.parse(cert.validFrom) > now.getTime();
}

function coversNames(certPem: string, names: ServingNames): boolean {
  const san = new X509Certificate(certPem).subjectAltName ?? "";
  return names.dns.every((d) => san.includes(`DNS:${d}`)) && names.ips.every((ip) => san.includes(`IP Address:${ip}`));
}

const secretPath = (s: TlsSettings) => `/api/v1/namespaces/${s.namespace}/secrets/${s.secret}`;

/** The Secret's material (undefined when there is none, or it is incomplete or unreadable: then it is replaced whole). */
async function readSecret(cluster: Cluster, s: TlsSettings): Promise<{ stored?: Stored; resourceVersion?: string }> {
  const answer = await cluster.call({ verb: "get", method: "GET", path: secretPath(s) });
  if (answer.status === 404) return {};
  if (answer.status !== 200) throw apiFailure(answer, `reading the Secret ${s.namespace}/${s.secret}`);
  const resourceVersion = String(answer.body?.metadata?.resourceVersion ?? "");
  const data = (answer.body?.data ?? {}) as Record<string, string>;
  const text = (k: string) => Buffer.from(data[k] ?? "", "base64").toString("utf8");
  const stored = {
    certPem: text("tls.crt"),
    keyPem: text("tls.key"),
    caBundle: text("ca-bundle.crt"),
    ca: { certPem: text("ca.crt"), keyPem: text("ca.key") },
  };
  try {
    for (const pem of [stored.certPem, stored.ca.certPem]) new X509Certificate(pem);
  } catch {
    return { resourceVersion };
  }
  if (!stored.keyPem || !stored.ca.keyPem || !stored.caBundle.includes(stored.ca.certPem)) return { resourceVersion };
  return { stored, resourceVersion };
}

/** Creates or replaces the Secret; false when another replica changed it first (409). */
async function writeSecret(cluster: Cluster, s: TlsSettings, m: Stored, resourceVersion: string | undefined): Promise<boolean> {
  const b64 = (t: string) => Buffer.from(t).toString("base64");
  const body = {
    apiVersion: "v1",
    kind: "Secret",
    type: "kubernetes.io/tls",
    metadata: {
      name: s.secret,
      namespace: s.namespace,
      labels: { "app.kubernetes.io/managed-by": "vigil" },
      ...(resourceVersion && { resourceVersion }),
    },
    data: {
      "tls.crt": b64(m.certPem),
      "tls.key": b64(m.keyPem),
      "ca.crt": b64(m.ca.certPem),
      "ca.key": b64(m.ca.keyPem),
      "ca-bundle.crt": b64(m.caBundle),
    },
  };
  const answer = resourceVersion
    ? await cluster.call({ verb: "update", method: "PUT", path: secretPath(s), body })
    : await cluster.call({ verb: "create", method: "POST", path: `/api/v1/namespaces/${s.namespace}/secrets`, body });
  if (answer.status === 409) return false;
  if (answer.status !== 200 && answer.status !== 201) throw apiFailure(answer, `writing the Secret ${s.namespace}/${s.secret}`);
  return true;
}
