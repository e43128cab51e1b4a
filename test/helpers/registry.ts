// A real OCI registry for tests: Debian's docker-registry (distribution v2.8) on a free loopback port
// with a temporary storage directory, optionally behind htpasswd (Basic) or token (Bearer) auth and
// TLS from a test CA; plus a token server that signs JWTs the registry trusts, and a way to push a
// small but real image (gzipped tar layers, a config whose diff_ids match them, a manifest).
import { spawn, type ChildProcess } from "node:child_process";
import { createHash, createPrivateKey, randomBytes, sign, X509Certificate } from "node:crypto";
import { writeFileSync, readFileSync, mkdirSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createNetServer, type Server as NetServer, type Socket } from "node:net";
import { join } from "node:path";
import type { TestContext } from "node:test";
import { gzipSync } from "node:zlib";
import * as tar from "tar-stream";
import { Agent, request } from "undici";
import { MediaType, type Descriptor } from "../../src/oci/manifest.ts";
import type { HostOptions } from "../../src/oci/http.ts";
import type { ImageStore } from "../../src/oci/store.ts";
import { run, tempDir } from "./tools.ts";

type After = Pick<TestContext, "after">;

// ---------------------------------------------------------------------------------------------------
// A test CA (openssl): certificates for a TLS registry and for a token server's signing key

export interface TestTlsCa {
  dir: string;
  /** The CA certificate, PEM: what a client must be given to trust the registry. */
  caPem: string;
  caFile: string;
  /** Issues a certificate for 127.0.0.1 and localhost; returns the paths of its PEM certificate and key. */
  issue(name: string): { cert: string; key: string };
}

export function makeTlsCa(t: After): TestTlsCa {
  const ca = makeCa(tempDir(t, "vigil-ca-"), "vigil test CA");
  return {
    ...ca,
    issue: (name) => ca.issueLeaf(name, `/CN=${name}`, "extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n"),
  };
}

/** A P-256 CA made by openssl in `dir`; leaves carry the given subject and extra extension lines. */
export function makeCa(
  dir: string,
  commonName: string,
): {
  dir: string;
  caFile: string;
  caPem: string;
  issueLeaf(name: string, subject: string, extensions: string): { cert: string; key: string };
} {
  const ecKey = (name: string) =>
    run("openssl", ["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", `${name}.key`], { cwd: dir });
  ecKey("ca");
  run(
    "openssl",
    [
      "req",
      "-x509",
      "-new",
      "-key",
      "ca.key",
      "-subj",
      `/CN=${commonName}`,
      "-days",
      "2",
      "-out",
      "ca.pem",
      "-addext",
      "basicConstraints=critical,CA:TRUE",
      "-addext",
      "keyUsage=critical,keyCertSign",
    ],
    { cwd: dir },
  );
  const caFile = join(dir, "ca.pem");
  return {
    dir,
    caFile,
    caPem: readFileSync(caFile, "utf8"),
    issueLeaf(name, subject, extensions) {
      ecKey(name);
      run("openssl", ["req", "-new", "-key", `${name}.key`, "-subj", subject, "-out", `${name}.csr`], { cwd: dir });
      writeFileSync(join(dir, `${name}.ext`), `basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n${extensions}`);
      run(
        "openssl",
        [
          "x509",
          "-req",
          "-in",
          `${name}.csr`,
          "-CA",
          "ca.pem",
          "-CAkey",
          "ca.key",
          "-CAcreateserial",
          "-days",
          "2",
          "-extfile",
          `${name}.ext`,
          "-out",
          `${name}.pem`,
        ],
        { cwd: dir },
      );
      return { cert: join(dir, `${name}.pem`), key: join(dir, `${name}.key`) };
    },
  };
}

// ---------------------------------------------------------------------------------------------------
// The registry

export interface RegistryOptions {
  /** Basic auth through an htpasswd file (bcrypt, made by apache2-utils' htpasswd -B). */
  htpasswd?: { username: string; password: string };
  /** Bearer token auth: the registry trusts tokens from this server. */
  token?: TokenServer;
  /** Serve HTTPS with a certificate from this CA. */
  tls?: TestTlsCa;
}

export interface TestRegistry {
  /** host:port, as written in image references. */
  host: string;
  /** The registry's base URL (http:// or https://). */
  url: string;
  storage: string;
  /** Settings a RegistryClient needs for this host: `{ hosts: { [host]: hostOptions } }`. */
  hostOptions: HostOptions;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  const server = createNetServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Starts docker-registry and stops it when the test ends. */
export async function startRegistry(t: After, options: RegistryOptions = {}): Promise<TestRegistry> {
  const dir = tempDir(t, "vigil-registry-");
  const storage = join(dir, "storage");
  mkdirSync(storage);
  const config: Record<string, unknown> = {
    version: "0.1",
    log: { level: "error", accesslog: { disabled: true } },
    // The blob-descriptor cache as in Debian's packaged config.yml: without it every request stats the
    // storage again, and the registry, not the client, is what a benchmark measures.
    storage: { filesystem: { rootdirectory: storage }, cache: { blobdescriptor: "inmemory" }, delete: { enabled: true } },
  };
  if (options.htpasswd) {
    const file = join(dir, "htpasswd");
    writeFileSync(file, run("htpasswd", ["-nbB", options.htpasswd.username, options.htpasswd.password]).trim() + "\n");
    config.auth = { htpasswd: { realm: "vigil-test", path: file } };
  }
  if (options.token) {
    const bundle = join(dir, "token-ca.pem");
    writeFileSync(bundle, options.token.caPem);
    config.auth = {
      token: { realm: options.token.realm, service: options.token.service, issuer: options.token.issuer, rootcertbundle: bundle },
    };
  }
  const tls = options.tls?.issue(`registry-${randomBytes(4).toString("hex")}`);
  const scheme = tls ? "https" : "http";
  // The free port may be taken by someone else before the registry binds it: then try another.
  for (let attempt = 1; ; attempt++) {
    const host = `127.0.0.1:${await freePort()}`;
    config.http = { addr: host, secret: randomBytes(16).toString("hex"), ...(tls && { tls: { certificate: tls.cert, key: tls.key } }) };
    const configFile = join(dir, "config.yml");
    writeFileSync(configFile, JSON.stringify(config));
    const child = spawn("docker-registry", ["serve", configFile], { stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr!.on("data", (d) => (stderr += d));
    const stop = () => stopChild(child);
    t.after(stop);
    try {
      await waitForRegistry(child, `${scheme}://${host}/v2/`, options.tls?.caPem, () => stderr);
    } catch (e) {
      await stop();
      if (attempt < 3 && /address already in use/.test(stderr)) continue;
      throw e;
    }
    const hostOptions: HostOptions = options.tls ? { scheme: "https", ca: options.tls.caPem } : { scheme: "http" };
    return { host, url: `${scheme}://${host}`, storage, hostOptions, stop };
  }
}

/** Waits until the registry itself (not whatever else may be on the port) answers /v2/. */
async function waitForRegistry(child: ChildProcess, url: string, ca: string | undefined, stderr: () => string): Promise<void> {
  const agent = new Agent({ connect: { ca } });
  try {
    for (const deadline = Date.now() + 15_000; Date.now() < deadline; ) {
      if (child.exitCode !== null) throw new Error(`docker-registry exited (${child.exitCode}): ${stderr()}`);
      try {
        const res = await request(url, { dispatcher: agent });
        await res.body.dump();
        if (res.headers["docker-distribution-api-version"] === "registry/2.0") return;
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`docker-registry did not answer at ${url} within 15s: ${stderr()}`);
  } finally {
    await agent.close();
  }
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once("exit", () => resolve());
    child.kill("SIGTERM");
  });
}

// ---------------------------------------------------------------------------------------------------
// A token server (the distribution token spec) whose JWTs docker-registry trusts

export interface TokenServer {
  realm: string;
  service: string;
  issuer: string;
  /** The CA that issued the signing certificate: the registry's rootcertbundle. */
  caPem: string;
  /** Every token request received, for assertions. */
  requests: { method: string; scope: string[]; user?: string; grant?: string }[];
}

export interface TokenServerOptions {
  ca: TestTlsCa;
  users?: Record<string, string>;
  /** Refresh tokens (docker config `identitytoken`) and the user each stands for. */
  refreshTokens?: Record<string, string>;
  /** Allow anonymous pulls of these repositories. */
  publicRepositories?: string[];
  /** Token lifetime in seconds. */
  expiresIn?: number;
}

/** A token endpoint on loopback: checks Basic credentials or a refresh token, grants what the user asked. */
export async function startTokenServer(t: After, options: TokenServerOptions): Promise<TokenServer> {
  const { cert, key } = options.ca.issue("token-signer");
  const signingKey = createPrivateKey(readFileSync(key));
  const x5c = [
    Buffer.from(new X509Certificate(readFileSync(cert)).raw).toString("base64"),
    Buffer.from(new X509Certificate(options.ca.caPem).raw).toString("base64"),
  ];
  const port = await freePort();
  const server: TokenServer = {
    realm: `http://127.0.0.1:${port}/token`,
    service: "vigil-test-registry",
    issuer: "vigil-test-issuer",
    caPem: options.ca.caPem,
    requests: [],
  };
  const issue = (user: string | undefined, scopes: string[]) => {
    const access = scopes.flatMap((scope) => {
      const [type, name, actions] = scope.split(":");
      const granted =
        user !== undefined || options.publicRepositories?.includes(name!)
          ? actions!.split(",").filter((a) => user !== undefined || a === "pull")
          : [];
      return granted.length ? [{ type, name, actions: granted }] : [];
    });
    const now = Math.floor(Date.now() / 1000);
    const header = { typ: "JWT", alg: "ES256", x5c };
    const claims = {
      iss: server.issuer,
      sub: user ?? "",
      aud: server.service,
      exp: now + (options.expiresIn ?? 300),
      nbf: now - 5,
      iat: now,
      jti: randomBytes(8).toString("hex"),
      access,
    };
    const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString("base64url");
    const payload = `${b64(header)}.${b64(claims)}`;
    const signature = sign("sha256", Buffer.from(payload), { key: signingKey, dsaEncoding: "ieee-p1363" });
    return `${payload}.${signature.toString("base64url")}`;
  };
  const http = createServer(async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url!, server.realm);
    const body = new URLSearchParams(await readAll(req));
    const params = req.method === "POST" ? body : url.searchParams;
    const scope = params
      .getAll("scope")
      .flatMap((s) => s.split(" "))
      .filter(Boolean);
    const grant = params.get("grant_type") ?? undefined;
    let user: string | undefined;
    let refused = false;
    if (grant === "refresh_token") {
      user = options.refreshTokens?.[params.get("refresh_token") ?? ""];
      refused = user === undefined;
    } else if (req.headers.authorization?.startsWith("Basic ")) {
      const [name, password] = Buffer.from(req.headers.authorization.slice(6), "base64").toString().split(":");
      refused = options.users?.[name!] !== password;
      user = refused ? undefined : name;
    }
    server.requests.push({ method: req.method!, scope, ...(user !== undefined && { user }), ...(grant !== undefined && { grant }) });
    if (refused) {
      res.writeHead(401, { "content-type": "application/json" }).end(JSON.stringify({ details: "bad credentials" }));
      return;
    }
    const token = issue(user, scope);
    const answer =
      grant === "refresh_token"
        ? { access_token: token, expires_in: options.expiresIn ?? 300 }
        : { token, expires_in: options.expiresIn ?? 300 };
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(answer));
  });
  await listen(t, http, port);
  return server;
}

async function readAll(req: IncomingMessage): Promise<string> {
  let text = "";
  for await (const chunk of req) text += chunk;
  return text;
}

/** Listens on loopback until the test ends, then closes the server and any connection still open. */
export async function listen(t: After, server: Server | NetServer, port = 0): Promise<number> {
  const sockets = new Set<Socket>();
  server.on("connection", (socket: Socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  t.after(
    () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  );
  return (server.address() as { port: number }).port;
}

// ---------------------------------------------------------------------------------------------------
// Test images

export interface TestImage {
  descriptor: Descriptor;
  manifest: Buffer;
  config: Buffer;
  /** The gzipped layer blobs, in order. */
  layers: Buffer[];
}

/** A gzipped tar holding one file of random content, and the sha256 of the uncompressed tar (its diff_id). */
export async function randomLayer(size = 1024, name = `file-${randomBytes(4).toString("hex")}`): Promise<{ blob: Buffer; diffId: string }> {
  const pack = tar.pack();
  pack.entry({ name, mtime: new Date(0) }, randomBytes(size));
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of pack) chunks.push(Buffer.from(chunk as Uint8Array));
  const tarBytes = Buffer.concat(chunks);
  return { blob: gzipSync(tarBytes), diffId: `sha256:${createHash("sha256").update(tarBytes).digest("hex")}` };
}

/** Builds an image of random layers and pushes it into a store (registry or layout) through Vigil's client. */
export async function pushTestImage(
  store: ImageStore,
  options: { tag?: string; layers?: number; layerSize?: number; format?: "oci" | "docker" } = {},
): Promise<TestImage> {
  const docker = options.format === "docker";
  const built = await Promise.all(Array.from({ length: options.layers ?? 2 }, () => randomLayer(options.layerSize)));
  const config = Buffer.from(
    JSON.stringify({
      architecture: "amd64",
      os: "linux",
      config: {},
      rootfs: { type: "layers", diff_ids: built.map((l) => l.diffId) },
    }),
  );
  const layerType = docker ? MediaType.dockerLayerGzip : MediaType.ociLayerGzip;
  const layers: Descriptor[] = [];
  for (const { blob } of built) layers.push({ mediaType: layerType, ...(await store.putBlob(blob)) });
  const configDescriptor = { mediaType: docker ? MediaType.dockerConfig : MediaType.ociConfig, ...(await store.putBlob(config)) };
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: docker ? MediaType.dockerManifest : MediaType.ociManifest,
      config: configDescriptor,
      layers,
    }),
  );
  const descriptor = await store.putManifest(manifest, options.tag === undefined ? {} : { tag: options.tag });
  return { descriptor, manifest, config, layers: built.map((l) => l.blob) };
}
