// The console's HTTPS server: the read-only JSON API (described by the OpenAPI document it serves at
// /api/v1/openapi.json, built from the same route table that dispatches), the web console's files, and
// for every API call: authenticate, authorise by role, answer, log. Only GET and HEAD exist; nothing
// the console does writes to the log, the inventory or the repository.
import { createWriteStream, type WriteStream } from "node:fs";
import { createServer, type Server } from "node:https";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { AuditLog } from "../audit/log.ts";
import { IntegrityError } from "../audit/proof.ts";
import { ExitCode, InputError, VigilError } from "../core/errors.ts";
import { openInventory, type InventoryStore } from "../monitor/inventory.ts";
import { Authenticator, type Caller } from "./auth.ts";
import type { ConsoleConfig, Role } from "./config.ts";
import { LogIndex } from "./index-log.ts";
import { openApiDocument, routes, type Route } from "./routes.ts";
import { staticFiles, type StaticFile } from "./static.ts";
import { serverCertificate } from "./tls.ts";
import { NotFound, type Sources } from "./views.ts";

export interface RunningConsole {
  url: string;
  /** SHA-256 fingerprint of the certificate served. */
  fingerprint: string;
  /** The certificate, PEM: what a client pins or trusts. */
  certificate: Buffer;
  close(): Promise<void>;
}

const MAX_URL = 8 * 1024;
const RANK: Record<Role, number> = { viewer: 1, auditor: 2 };
const SECURITY_HEADERS = {
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "x-frame-options": "DENY",
  "strict-transport-security": "max-age=31536000",
  "cross-origin-opener-policy": "same-origin",
  "cross-origin-resource-policy": "same-origin",
};

/** Opens what the configuration names, verifies the log up to its latest checkpoint, and listens. */
export async function startConsole(config: ConsoleConfig): Promise<RunningConsole> {
  const certificate = serverCertificate(config.tls);
  const log = await AuditLog.open(config.audit.log, { verifierKey: config.audit.verifierKey });
  let inventory: InventoryStore | undefined;
  try {
    const index = new LogIndex(log);
    await index.refresh();
    inventory = config.inventory ? await openInventory(config.inventory) : undefined;
    const sources: Sources = { log, index, ...(inventory && { inventory }), ...(config.repository && { repository: config.repository }) };
    const accessLog = config.accessLog ? createWriteStream(config.accessLog, { flags: "a", mode: 0o600 }) : undefined;
    const signIn = config.oidc ? { oidc: { issuer: config.oidc.issuer, clientId: config.oidc.audience, scopes: config.oidc.scopes } } : {};
    const handler = new Handler(
      sources,
      new Authenticator(config),
      staticFiles(config.oidc ? await issuerOrigins(config.oidc.issuer) : []),
      accessLog,
      signIn,
    );
    const server = createServer(
      { cert: certificate.cert, key: certificate.key, minVersion: "TLSv1.2" },
      (req, res) => void handler.handle(req, res),
    );
    server.headersTimeout = 10_000;
    server.requestTimeout = 60_000;
    await listen(server, config.listen);
    const { address, port } = server.address() as AddressInfo;
    const host = address.includes(":") ? `[${address}]` : address;
    return {
      url: `https://${host === "127.0.0.1" || host === "[::1]" ? "localhost" : host}:${port}/`,
      fingerprint: certificate.fingerprint,
      certificate: certificate.cert,
      async close() {
        server.closeAllConnections();
        await new Promise((resolve) => server.close(resolve));
        accessLog?.end();
        await inventory?.close();
        await log.close();
      },
    };
  } catch (e) {
    await inventory?.close();
    await log.close();
    throw e;
  }
}

/**
 * The origins the page calls to sign a person in: the issuer's (discovery) and its token endpoint's, read
 * from its discovery document now. An issuer away at start still lets tokens in; only the page's sign-in
 * then waits for a restart.
 */
async function issuerOrigins(issuer: string): Promise<string[]> {
  const origins = new Set([new URL(issuer).origin]);
  try {
    const response = await fetch(`${issuer.replace(/\/$/, "")}/.well-known/openid-configuration`, {
      signal: AbortSignal.timeout(5_000),
      redirect: "error",
    });
    const discovery = (await response.json()) as { token_endpoint?: unknown };
    if (typeof discovery.token_endpoint === "string") origins.add(new URL(discovery.token_endpoint).origin);
  } catch {
    // Unreachable or unreadable: the issuer's own origin is all the page may call.
  }
  return [...origins];
}

function listen(server: Server, listenOn: string): Promise<void> {
  const split = listenOn.lastIndexOf(":");
  const host = listenOn.slice(0, split).replace(/^\[|\]$/g, "");
  const port = Number(listenOn.slice(split + 1));
  return new Promise((resolve, reject) => {
    server.once("error", (e: NodeJS.ErrnoException) =>
      reject(
        e.code === "EADDRINUSE" || e.code === "EACCES" || e.code === "EADDRNOTAVAIL"
          ? new VigilError(`cannot listen on ${listenOn}: ${e.code}`, ExitCode.unavailable)
          : e,
      ),
    );
    server.listen(port, host, () => resolve());
  });
}

class Handler {
  readonly #sources: Sources;
  readonly #auth: Authenticator;
  readonly #files: Map<string, StaticFile>;
  readonly #accessLog: WriteStream | undefined;
  #broken: IntegrityError | undefined;
  /** How a person signs in (public: it names the issuer and the client id, nothing secret). */
  readonly #signIn: unknown;

  constructor(sources: Sources, auth: Authenticator, files: Map<string, StaticFile>, accessLog: WriteStream | undefined, signIn: unknown) {
    this.#signIn = signIn;
    this.#sources = sources;
    this.#auth = auth;
    this.#files = files;
    this.#accessLog = accessLog;
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    for (const [k, v] of Object.entries(SECURITY_HEADERS)) res.setHeader(k, v);
    const started = Date.now();
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.setHeader("allow", "GET, HEAD");
      return this.#json(res, 405, { error: "the console is read-only: only GET and HEAD" });
    }
    if ((req.url ?? "").length > MAX_URL) return this.#json(res, 414, { error: `the URL is over ${MAX_URL} bytes` });
    const url = new URL(req.url ?? "/", "https://console.invalid");
    if (url.pathname === "/api/v1/openapi.json") return this.#json(res, 200, openApiDocument());
    if (url.pathname === "/api/v1/sign-in") return this.#json(res, 200, this.#signIn);
    if (!url.pathname.startsWith("/api/")) return this.#static(url.pathname, res);
    const found = routes.map((r) => ({ route: r, params: r.match(url.pathname) })).find((m) => m.params);
    let caller: Caller | undefined;
    let status = 0;
    let refused: string | undefined;
    try {
      const auth = await this.#auth.authenticate(req.headers.authorization);
      if ("refused" in auth) {
        refused = auth.refused;
        if (auth.status === 401) res.setHeader("www-authenticate", 'Bearer realm="vigil-console"');
        return this.#json(res, (status = auth.status), { error: auth.refused });
      }
      caller = auth.caller;
      // Once the log failed verification, nothing read from it is trusted again until the console restarts.
      if (this.#broken) throw this.#broken;
      if (!found) return this.#json(res, (status = 404), { error: `no API ${url.pathname} (see /api/v1/openapi.json)` });
      if (RANK[caller.role] < RANK[found.route.role]) {
        refused = `needs the ${found.route.role} role`;
        return this.#json(res, (status = 403), {
          error: `${url.pathname} needs the ${found.route.role} role; ${caller.name} is a ${caller.role}`,
        });
      }
      status = await this.#answer(found.route, found.params!, url.searchParams, caller, res);
    } catch (e) {
      status = this.#failure(e, res);
    } finally {
      this.#logCall({ caller, method: req.method, path: url.pathname, query: url.search, status, refused, ms: Date.now() - started });
    }
  }

  async #answer(
    route: Route,
    params: Record<string, string>,
    query: URLSearchParams,
    caller: Caller,
    res: ServerResponse,
  ): Promise<number> {
    const result = await route.handle({ sources: this.#sources, params, query, caller });
    if (result && typeof result === "object" && Symbol.asyncIterator in result) {
      res.writeHead(200, {
        "content-type": "application/x-ndjson; charset=utf-8",
        "cache-control": "no-store",
        "content-disposition": 'attachment; filename="vigil-audit.jsonl"',
      });
      for await (const line of result as AsyncIterable<string>) {
        // A client that went away ends the export (waiting for a drain that never comes would keep it forever).
        if (!res.write(line)) await new Promise((r) => (res.once("drain", r), res.once("close", r)));
        if (res.destroyed) break;
      }
      res.end();
      return 200;
    }
    this.#json(res, 200, result);
    return 200;
  }

  /** An error as a status: what the caller did wrong (400, 404), a log that does not verify (500, never served), a store away (503). */
  #failure(e: unknown, res: ServerResponse): number {
    if (res.headersSent) {
      res.destroy();
      return 500;
    }
    if (e instanceof NotFound) return (this.#json(res, 404, { error: e.message }), 404);
    if (e instanceof InputError) return (this.#json(res, 400, { error: e.message }), 400);
    if (e instanceof IntegrityError) {
      this.#broken ??= e;
      return (this.#json(res, 500, { error: `the audit log does not verify; nothing from it is served: ${e.message}` }), 500);
    }
    // A decision the log does not hold (explain found no apply of the target) is an answer: not found.
    if (e instanceof VigilError && e.exitCode === ExitCode.blocked) return (this.#json(res, 404, { error: e.message }), 404);
    if (e instanceof VigilError && e.exitCode === ExitCode.unavailable) return (this.#json(res, 503, { error: e.message }), 503);
    process.stderr.write(`console: internal error: ${(e as Error).stack ?? String(e)}\n`);
    return (this.#json(res, 500, { error: "internal error (logged by the console)" }), 500);
  }

  #json(res: ServerResponse, status: number, body: unknown): void {
    res.writeHead(status, {
      "content-type": "application/json; charset=utf-8",
      "cache-control": "no-store",
      "content-security-policy": "default-src 'none'; frame-ancestors 'none'",
    });
    res.end(JSON.stringify(body));
  }

  #static(path: string, res: ServerResponse): void {
    const file = this.#files.get(path === "/" ? "/index.html" : path);
    if (!file) return this.#json(res, 404, { error: `no file ${path}` });
    res.writeHead(200, { "content-type": file.type, "cache-control": "no-cache", "content-security-policy": file.csp });
    res.end(file.body);
  }

  /** One JSON line per API call: who, with which role, what, the answer; never the credential. */
  #logCall(call: {
    caller: Caller | undefined;
    method: string | undefined;
    path: string;
    query: string;
    status: number;
    refused: string | undefined;
    ms: number;
  }): void {
    const line =
      JSON.stringify({
        time: new Date().toISOString(),
        caller: call.caller?.name ?? null,
        role: call.caller?.role ?? null,
        via: call.caller?.via ?? null,
        method: call.method,
        path: call.path,
        query: call.query,
        status: call.status,
        ...(call.refused && { refused: call.refused }),
        ms: call.ms,
      }) + "\n";
    if (this.#accessLog) this.#accessLog.write(line);
    else process.stderr.write(line);
  }
}
