// A real Kubernetes API server for tests: kube-apiserver and etcd, built by scripts/setup.ts at the
// versions pinned in tools/ (see docs/kube-test-cluster.md), on free loopback ports with a temporary
// data directory. HTTPS with a test CA; users authenticate with client certificates (CN = user name,
// O = groups) and RBAC decides what they may do, so least-privilege roles can be tested for real. The
// admin is in system:masters. No kubelet, scheduler or controller-manager runs: nothing acts on the
// objects (tests set status subresources themselves), and a deleted namespace stays Terminating.
import { spawn, type ChildProcess } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestContext } from "node:test";
import { Agent, request } from "undici";
import { kubeBin } from "../../scripts/kube-build.ts";
import { freePort, makeCa } from "./registry.ts";

// A test context, or anything that runs cleanups at the end (a file-wide cluster collects them itself).
export type After = { after(fn: () => unknown): void };

export const kubeApiServerBinary = join(kubeBin, "kube-apiserver");
export const etcdBinary = join(kubeBin, "etcd");
export const kubectlBinary = join(kubeBin, "kubectl");

const clusterBinaries = [etcdBinary, kubeApiServerBinary];

export function missingKubeBinaries(binaries = clusterBinaries): string[] {
  return binaries.filter((b) => !existsSync(b));
}

/**
 * The cluster's binaries, and any other (kubectlBinary) the test names. In CI (CI=true) a missing one
 * fails the test; on a developer's machine the test is skipped with the command that builds them,
 * never silently.
 */
export function requireKube(t: TestContext, others: string[] = []): boolean {
  const missing = missingKubeBinaries([...clusterBinaries, ...others]);
  if (missing.length === 0) return true;
  const message = `missing ${missing.join(", ")}: run "node scripts/setup.ts" to build them (several minutes, once)`;
  if (process.env.CI === "true") throw new Error(message);
  t.skip(message);
  return false;
}

export interface KubeUser {
  name: string;
  groups: string[];
  certFile: string;
  keyFile: string;
  /** A kubeconfig for this user alone (certificates inline), for kubectl or a client that reads one. */
  kubeconfigPath: string;
  /** An undici dispatcher that trusts the cluster's CA and presents this user's certificate. */
  dispatcher: Agent;
}

export interface KubeCluster {
  /** https://127.0.0.1:PORT */
  url: string;
  /** The CA that signed the serving certificate and every client certificate. */
  caPem: string;
  caFile: string;
  /** CN=admin, O=system:masters: may do anything, RBAC aside. */
  admin: KubeUser;
  /** Credentials for another user (RBAC grants it nothing until a test binds a role to it). */
  user(name: string, groups?: string[]): KubeUser;
  /** Milliseconds from spawning etcd to kube-apiserver's /readyz answering ok. */
  startupMs: number;
  /** Kills only kube-apiserver (etcd and the data stay), as an API server that goes away would. */
  stopApiServer(): Promise<void>;
  /** Starts kube-apiserver again on the same port and data; resolves when it is ready. */
  startApiServer(): Promise<void>;
  /** Stops both processes; also done when the test ends. */
  stop(): Promise<void>;
}

/** Starts etcd and kube-apiserver and stops them when the test ends. */
export async function startKubeApiServer(t: After): Promise<KubeCluster> {
  // Removed by stop(), once etcd no longer writes into it.
  const dir = mkdtempSync(join(tmpdir(), "vigil-kube-"));
  const pki = makePki(dir);
  const agents: Agent[] = [];
  const makeUser = (name: string, groups: string[]): KubeUser => {
    const { cert, key, stem } = pki.client(name, groups);
    const dispatcher = new Agent({ connect: { ca: pki.caPem, cert: readFileSync(cert, "utf8"), key: readFileSync(key, "utf8") } });
    agents.push(dispatcher);
    return { name, groups, certFile: cert, keyFile: key, kubeconfigPath: join(dir, `${stem}.kubeconfig`), dispatcher };
  };
  const admin = makeUser("admin", ["system:masters"]);

  let etcd: Process | undefined;
  let apiServer: Process | undefined;
  const stopApiServer = async () => {
    // SIGKILL: its graceful shutdown takes seconds, and nothing it holds outlives the test.
    await apiServer?.stop("SIGKILL");
    apiServer = undefined;
  };
  const stopProcesses = async () => {
    await stopApiServer();
    await etcd?.stop("SIGTERM");
    etcd = undefined;
  };
  const stop = async () => {
    await stopProcesses();
    await Promise.all(agents.splice(0).map((a) => a.close()));
    rmSync(dir, { recursive: true, force: true });
  };
  t.after(stop);

  // A free port may be taken before the process binds it: then start over on new ones.
  for (let attempt = 1; ; attempt++) {
    const started = Date.now();
    const [etcdClient, etcdPeer, securePort] = [await freePort(), await freePort(), await freePort()];
    const url = `https://127.0.0.1:${securePort}`;
    const apiServerArgs = [
      `--etcd-servers=http://127.0.0.1:${etcdClient}`,
      "--bind-address=127.0.0.1",
      "--advertise-address=127.0.0.1",
      `--secure-port=${securePort}`,
      `--cert-dir=${join(dir, "apiserver-certs")}`,
      `--tls-cert-file=${pki.serving.cert}`,
      `--tls-private-key-file=${pki.serving.key}`,
      `--client-ca-file=${pki.caFile}`,
      "--authorization-mode=RBAC",
      "--service-account-issuer=https://kubernetes.default.svc",
      `--service-account-key-file=${pki.serviceAccount.publicKey}`,
      `--service-account-signing-key-file=${pki.serviceAccount.privateKey}`,
      "--service-cluster-ip-range=10.96.0.0/16",
      // Nothing to reconcile: no node, no other API server, and a loopback address in the kubernetes
      // service's endpoints would be invalid anyway.
      "--endpoint-reconciler-type=none",
      // Priority and fairness adds its own bootstrap objects and queueing; tests measure Vigil, not it.
      "--enable-priority-and-fairness=false",
      "--profiling=false",
    ];
    const startApiServer = async () => {
      apiServer = spawnProcess(kubeApiServerBinary, apiServerArgs);
      await waitFor(apiServer, "kube-apiserver", async () => {
        const res = await request(`${url}/readyz`, { dispatcher: admin.dispatcher });
        const body = await res.body.text();
        return res.statusCode === 200 && body === "ok";
      });
    };
    try {
      etcd = spawnProcess(etcdBinary, [
        "--name=vigil-test",
        `--data-dir=${join(dir, "etcd")}`,
        `--listen-client-urls=http://127.0.0.1:${etcdClient}`,
        `--advertise-client-urls=http://127.0.0.1:${etcdClient}`,
        `--listen-peer-urls=http://127.0.0.1:${etcdPeer}`,
        `--initial-advertise-peer-urls=http://127.0.0.1:${etcdPeer}`,
        `--initial-cluster=vigil-test=http://127.0.0.1:${etcdPeer}`,
        "--log-level=error",
        // The data is thrown away after the test: durability only costs time.
        "--unsafe-no-fsync",
        // One member elects itself; with the default timings that can take a second.
        "--heartbeat-interval=20",
        "--election-timeout=200",
      ]);
      await waitFor(etcd, "etcd", async () => {
        const res = await request(`http://127.0.0.1:${etcdClient}/health`);
        const body = await res.body.text();
        return res.statusCode === 200 && JSON.parse(body).health === "true";
      });
      await startApiServer();
    } catch (e) {
      const portTaken = [etcd, apiServer].some((p) => p && /address already in use/.test(p.log()));
      await stopProcesses();
      if (attempt < 3 && portTaken) continue;
      throw e;
    }
    writeKubeconfig(admin, url, pki.caPem);
    return {
      url,
      caPem: pki.caPem,
      caFile: pki.caFile,
      admin,
      user(name, groups = []) {
        const user = makeUser(name, groups);
        writeKubeconfig(user, url, pki.caPem);
        return user;
      },
      startupMs: Date.now() - started,
      stopApiServer,
      startApiServer,
      stop,
    };
  }
}

// ---------------------------------------------------------------------------------------------------
// Processes

interface Process {
  child: ChildProcess;
  /** The end of what it wrote to stdout and stderr, for error messages. */
  log(): string;
  stop(signal: NodeJS.Signals): Promise<void>;
}

const LOG_TAIL = 64 * 1024;

function spawnProcess(binary: string, args: string[]): Process {
  // setpriv --pdeathsig: the kernel kills the server when the test process dies, however it dies, so a
  // crashed or timed-out test leaves no orphan holding ports and memory.
  const child = spawn("setpriv", ["--pdeathsig", "SIGKILL", "--", binary, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  let log = "";
  const keep = (chunk: Buffer) => {
    log += chunk.toString();
    if (log.length > 2 * LOG_TAIL) log = log.slice(-LOG_TAIL);
  };
  child.stdout!.on("data", keep);
  child.stderr!.on("data", keep);
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  return {
    child,
    log: () => log.slice(-LOG_TAIL),
    stop(signal) {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

/** Polls until ready() is true; fails at once if the process exits, with the end of its log. */
async function waitFor(p: Process, name: string, ready: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (true) {
    const { exitCode, signalCode } = p.child;
    if (exitCode !== null || signalCode !== null) throw new Error(`${name} exited (${exitCode ?? signalCode}):\n${p.log().slice(-4000)}`);
    try {
      if (await ready()) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`${name} was not ready within ${timeoutMs / 1000}s:\n${p.log().slice(-4000)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

// ---------------------------------------------------------------------------------------------------
// Certificates and keys (openssl, as the other test CAs)

interface Pki {
  caPem: string;
  caFile: string;
  serving: { cert: string; key: string };
  serviceAccount: { publicKey: string; privateKey: string };
  /** A client certificate for a user; stem names its files. */
  client(name: string, groups: string[]): { cert: string; key: string; stem: string };
}

function makePki(parent: string): Pki {
  const dir = join(parent, "pki");
  mkdirSync(dir);
  const ca = makeCa(dir, "vigil test kubernetes CA");
  const issue = ca.issueLeaf;
  // The key that signs service account tokens, and its public half that verifies them.
  const sa = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
  const serviceAccount = { publicKey: join(dir, "sa.pub"), privateKey: join(dir, "sa.key") };
  writeFileSync(serviceAccount.publicKey, sa.publicKey.export({ type: "spki", format: "pem" }));
  writeFileSync(serviceAccount.privateKey, sa.privateKey.export({ type: "pkcs8", format: "pem" }));
  return {
    caPem: ca.caPem,
    caFile: ca.caFile,
    serving: issue("apiserver", "/CN=kube-apiserver", "extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n"),
    serviceAccount,
    client(name, groups) {
      if (!/^[a-z0-9][a-z0-9.:@_-]*$/i.test(name) || groups.some((g) => !/^[a-z0-9][a-z0-9.:_-]*$/i.test(g)))
        throw new Error(`not a test user name or group: ${name} ${groups}`);
      // Kubernetes reads the user from CN and the groups from O.
      const subject = `${groups.map((g) => `/O=${g}`).join("")}/CN=${name}`;
      const stem = `user-${name.replace(/[^a-z0-9.-]/gi, "_")}`;
      return { ...issue(stem, subject, "extendedKeyUsage=clientAuth\n"), stem };
    },
  };
}

/** A kubeconfig with everything inline (JSON is YAML, and kubectl reads either). */
function writeKubeconfig(user: KubeUser, server: string, caPem: string): void {
  const b64 = (s: string) => Buffer.from(s).toString("base64");
  const config = {
    apiVersion: "v1",
    kind: "Config",
    clusters: [{ name: "vigil-test", cluster: { server, "certificate-authority-data": b64(caPem) } }],
    users: [
      {
        name: user.name,
        user: {
          "client-certificate-data": b64(readFileSync(user.certFile, "utf8")),
          "client-key-data": b64(readFileSync(user.keyFile, "utf8")),
        },
      },
    ],
    contexts: [{ name: "vigil-test", context: { cluster: "vigil-test", user: user.name } }],
    "current-context": "vigil-test",
  };
  writeFileSync(user.kubeconfigPath, JSON.stringify(config, null, 2));
}
