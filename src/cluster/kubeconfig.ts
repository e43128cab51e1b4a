// Where the cluster is and who we are to it, read the way kubectl reads it: a kubeconfig file and one of
// its contexts (client certificates, tokens, token files, exec credential plugins, impersonation), or the
// in-cluster service account. @kubernetes/client-node's KubeConfig does the reading; we take the TLS
// material and headers it produces and send requests ourselves (docs/cluster.md says why).
import { existsSync, readFileSync } from "node:fs";
import { isIPv6 } from "node:net";
import { homedir } from "node:os";
import { delimiter, join } from "node:path";
import type { KubeConfig } from "@kubernetes/client-node";
import { InputError, UnavailableError } from "../core/errors.ts";

export interface KubeconfigOptions {
  /** A kubeconfig file; default $KUBECONFIG (its first file), else ~/.kube/config. */
  kubeconfig?: string;
  /** A context of that file; default its current-context. */
  context?: string;
  /** The pod's service account (token, CA and the KUBERNETES_SERVICE_* address), as in a cluster. */
  inCluster?: boolean;
  /**
   * Where inCluster reads the service account's files (token, ca.crt). Default, and in production
   * always: the path the kubelet mounts, /var/run/secrets/kubernetes.io/serviceaccount. Only code that
   * calls connectCluster can change it (tests); the agent's configuration and the CLI cannot.
   */
  serviceAccountDir?: string;
}

/** Where the kubelet mounts a pod's service account token, its cluster's CA and its namespace. */
export const SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";

/** What a request needs to reach and authenticate to the API server. */
export interface Credentials {
  tls: { ca?: Buffer; cert?: Buffer; key?: Buffer; servername?: string };
  /** Authorization (bearer or basic) and Impersonate-User when the kubeconfig's user says "as". */
  headers: Record<string, string>;
}

export interface LoadedConfig {
  server: URL;
  /** "context NAME of FILE" or "the in-cluster service account", for messages. */
  source: string;
  /** Fresh credentials: exec plugins and token files are re-run or re-read as client-node caches allow. */
  credentials(): Promise<Credentials>;
}

export async function loadKubeconfig(options: KubeconfigOptions): Promise<LoadedConfig> {
  // Loaded only when a cluster is used: the package is large and its import takes about half a second.
  const { KubeConfig } = await import("@kubernetes/client-node");
  const kc = new KubeConfig();
  let source: string;
  /** The in-cluster token's file, read again whenever credentials are asked for (the kubelet rotates it). */
  let tokenFile: string | undefined;
  if (options.inCluster) {
    if (options.kubeconfig || options.context) throw new InputError("inCluster cannot be combined with a kubeconfig or context");
    const host = process.env.KUBERNETES_SERVICE_HOST;
    const port = process.env.KUBERNETES_SERVICE_PORT;
    if (!host || !port)
      throw new InputError("inCluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set (not running in a pod?)");
    const dir = options.serviceAccountDir ?? SERVICE_ACCOUNT_DIR;
    tokenFile = join(dir, "token");
    if (!existsSync(tokenFile))
      throw new InputError(`inCluster: no service account token at ${tokenFile} (is automountServiceAccountToken off for the pod?)`);
    // What client-node's loadFromCluster() sets up, except the token: client-node would keep it for a
    // minute even after the server refused it (401); here it is read afresh after a 401 and whenever
    // the Cluster renews its credentials (every 30 s), so a token the kubelet rotated is used at once.
    kc.loadFromClusterAndUser(
      {
        name: "in-cluster",
        server: `https://${isIPv6(host) ? `[${host}]` : host}:${port}`,
        caFile: join(dir, "ca.crt"),
        skipTLSVerify: false,
      },
      { name: "in-cluster" },
    );
    source = `the in-cluster service account (${dir})`;
  } else {
    const file = options.kubeconfig ?? defaultKubeconfig();
    try {
      kc.loadFromFile(file);
    } catch (e) {
      throw new InputError(`${file}: not a readable kubeconfig: ${(e as Error).message}`);
    }
    if (options.context !== undefined) {
      if (!kc.getContextObject(options.context)) {
        throw new InputError(
          `${file}: no context "${options.context}" (it has ${
            kc
              .getContexts()
              .map((c) => `"${c.name}"`)
              .join(", ") || "none"
          })`,
        );
      }
      kc.setCurrentContext(options.context);
    }
    const context = kc.getCurrentContext();
    if (!context || !kc.getContextObject(context)) throw new InputError(`${file}: no current-context; name one with context`);
    source = `context "${context}" of ${file}`;
  }
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new InputError(`${source}: names no cluster`);
  if (!kc.getCurrentUser()) throw new InputError(`${source}: names no user`);
  // Fail closed: a server whose certificate is not checked could be anyone.
  if (cluster.skipTLSVerify)
    throw new InputError(
      `${source}: insecure-skip-tls-verify is not accepted; give the cluster's CA (certificate-authority or certificate-authority-data)`,
    );
  if (cluster.proxyUrl) throw new InputError(`${source}: proxy-url is not supported`);
  let server: URL;
  try {
    server = new URL(cluster.server);
  } catch {
    throw new InputError(`${source}: server "${cluster.server}" is not a URL`);
  }
  if (server.protocol !== "https:") throw new InputError(`${source}: server ${cluster.server} is not https`);
  const loaded: LoadedConfig = {
    server,
    source,
    credentials: async () => {
      const credentials = await credentialsOf(kc, source);
      if (tokenFile) credentials.headers.authorization = `Bearer ${readToken(tokenFile, source)}`;
      return credentials;
    },
  };
  await loaded.credentials(); // bad files or a failing exec plugin are reported now, not at the first request
  return loaded;
}

function readToken(file: string, source: string): string {
  let token: string;
  try {
    token = readFileSync(file, "utf8").trim();
  } catch (e) {
    throw new UnavailableError(`${source}: cannot read the token ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, {
      cause: e,
    });
  }
  if (token === "" || /\s/.test(token)) throw new UnavailableError(`${source}: ${file} does not hold a token`);
  return token;
}

function defaultKubeconfig(): string {
  const fromEnv = process.env.KUBECONFIG?.split(delimiter).find((f) => f.length > 0);
  if (fromEnv) return fromEnv;
  const file = join(homedir(), ".kube", "config");
  // client-node would fall back to http://localhost:8080 without credentials; we refuse instead.
  if (!existsSync(file)) throw new InputError("no kubeconfig: name one, set KUBECONFIG, or create ~/.kube/config");
  return file;
}

async function credentialsOf(kc: KubeConfig, source: string): Promise<Credentials> {
  const opts: { ca?: Buffer; cert?: Buffer; key?: Buffer; servername?: string; auth?: string; headers?: Record<string, string> } = {};
  try {
    await kc.applyToHTTPSOptions(opts);
  } catch (e) {
    // A certificate file that cannot be read, or an exec plugin that failed or printed nonsense.
    throw new UnavailableError(`${source}: cannot get credentials: ${(e as Error).message}`, { cause: e });
  }
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(opts.headers ?? {})) headers[name.toLowerCase()] = String(value);
  if (opts.auth) headers.authorization = `Basic ${Buffer.from(opts.auth).toString("base64")}`;
  const tls: Credentials["tls"] = {};
  if (opts.ca) tls.ca = opts.ca;
  if (opts.cert) tls.cert = opts.cert;
  if (opts.key) tls.key = opts.key;
  if (opts.servername) tls.servername = opts.servername;
  return { tls, headers };
}
