// The agent's small HTTP servers (webhook, metrics): node:http, listening on "host:port" from the
// configuration, closed with the agent.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { InputError } from "../core/errors.ts";

/** How long a client may take to send its headers, and its whole request: a slow sender is cut off. */
export const HEADERS_TIMEOUT_MS = 10_000;
export const REQUEST_TIMEOUT_MS = 30_000;

/**
 * A server that survives any request: a handler's error (thrown or rejected) is a 500 for that request
 * only, a request the parser refuses (a malformed Host, header or URL) is a 400, and slow senders time
 * out. The path is parsed here, strictly: a request target that is not an absolute path is a 400.
 */
export function robustServer(
  handle: (req: IncomingMessage, res: ServerResponse, path: string) => void | Promise<void>,
  timeouts: { headersMs?: number; requestMs?: number } = {},
): Server {
  const headersMs = timeouts.headersMs ?? HEADERS_TIMEOUT_MS;
  // Node checks the timeouts on this period: often enough that a slow sender is cut off near its limit.
  const server = createServer({ connectionsCheckingInterval: Math.min(1000, Math.max(100, headersMs / 4)) }, (req, res) => {
    const fail = (status: number, text: string) => {
      if (!res.headersSent) res.writeHead(status, { "content-type": "text/plain; charset=utf-8", connection: "close" });
      res.end(`${text}\n`);
    };
    const path = pathOf(req.url);
    if (path === undefined) return fail(400, "bad request target");
    try {
      Promise.resolve(handle(req, res, path)).catch(() => fail(500, "internal error"));
    } catch {
      fail(500, "internal error");
    }
  });
  server.headersTimeout = headersMs;
  server.requestTimeout = timeouts.requestMs ?? REQUEST_TIMEOUT_MS;
  server.on("clientError", (_error, socket) => {
    if (socket.writable) socket.end("HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n");
    else socket.destroy();
  });
  return server;
}

/** The path of an origin-form request target ("/hooks/a?x"), or undefined for anything else. */
function pathOf(url: string | undefined): string | undefined {
  if (!url || !url.startsWith("/") || url.startsWith("//")) return undefined;
  try {
    return new URL(url, "http://agent.invalid").pathname;
  } catch {
    return undefined;
  }
}

/** "host:port" or "[v6]:port"; port 0 picks a free one (tests). */
export function parseListen(listen: string, where: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-f:.]+)\]|([^:\s]+)):(\d{1,5})$/i.exec(listen);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new InputError(`${where}: "${listen}" is not HOST:PORT (e.g. 0.0.0.0:8080)`);
  return { host: (m[1] ?? m[2])!, port };
}

/** Listens and resolves with "http://host:port" as bound. */
export function listenOn(server: Server, listen: string, where: string): Promise<string> {
  const { host, port } = parseListen(listen, where);
  return new Promise((resolve, reject) => {
    server.once("error", (e: NodeJS.ErrnoException) =>
      reject(new InputError(`${where}: cannot listen on ${listen}: ${e.code ?? e.message}`)),
    );
    server.listen(port, host, () => {
      const address = server.address();
      const bound = typeof address === "object" && address ? address.port : port;
      resolve(`http://${host.includes(":") ? `[${host}]` : host}:${bound}`);
    });
  });
}

export function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
