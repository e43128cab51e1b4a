// A loopback git server over smart HTTP that wants a token: git's own http-backend (CGI) behind a small
// node:http server that answers 401 until the request carries HTTP Basic credentials whose password is
// the token, as a forge does for "x-access-token:TOKEN".
import { spawn } from "node:child_process";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { createInterface } from "node:readline";
import { text } from "node:stream/consumers";
import { fileURLToPath } from "node:url";
import { run } from "./tools.ts";

export interface GitHttpServer {
  /** http://127.0.0.1:PORT/ ; repositories are under it by their directory name. */
  base: string;
  /** Requests answered, with whether they carried the token. */
  requests: { path: string; authorized: boolean }[];
}

/**
 * Serves every repository under `root` (bare or not) to clients that present `token`. The server runs in
 * its own process: the tests run vigil with spawnSync, which would otherwise stop it from answering.
 */
export async function startGitHttpServer(scope: { after(fn: () => unknown): void }, root: string, token: string): Promise<GitHttpServer> {
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), root], { stdio: ["pipe", "pipe", "inherit"] });
  child.stdin.end(token); // never on a command line
  scope.after(() => void child.kill());
  const requests: GitHttpServer["requests"] = [];
  const lines = createInterface({ input: child.stdout });
  const base = await new Promise<string>((resolve, reject) => {
    child.once("exit", (code) => reject(new Error(`git HTTP server exited (${code}) before it listened`)));
    lines.on("line", (line) => {
      const message = JSON.parse(line) as { base?: string; path?: string; authorized?: boolean };
      if (message.base) resolve(message.base);
      else requests.push({ path: message.path!, authorized: message.authorized! });
    });
  });
  return { base, requests };
}

/** The server process: one JSON line with its base URL, then one per request. */
async function serve(root: string, token: string): Promise<void> {
  const backend = `${run("git", ["--exec-path"]).trim()}/git-http-backend`;
  const server = createServer((req, res) => {
    const authorized = basicPassword(req) === token;
    process.stdout.write(JSON.stringify({ path: req.url ?? "", authorized }) + "\n");
    if (!authorized) {
      res.writeHead(401, { "WWW-Authenticate": 'Basic realm="vigil-test"' }).end("token required\n");
      return;
    }
    serveCgi(backend, root, req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  process.stdout.write(JSON.stringify({ base: `http://127.0.0.1:${(server.address() as AddressInfo).port}/` }) + "\n");
}

function basicPassword(req: IncomingMessage): string | undefined {
  const header = req.headers.authorization;
  if (!header?.startsWith("Basic ")) return undefined;
  const decoded = Buffer.from(header.slice(6), "base64").toString("utf8");
  return decoded.slice(decoded.indexOf(":") + 1);
}

/** Runs http-backend for one request (RFC 3875 variables in, a CGI header block and body out). */
function serveCgi(backend: string, root: string, req: IncomingMessage, res: ServerResponse): void {
  const url = new URL(req.url ?? "/", "http://127.0.0.1");
  const cgi = spawn(backend, [], {
    env: {
      PATH: process.env.PATH,
      GIT_PROJECT_ROOT: root,
      GIT_HTTP_EXPORT_ALL: "1",
      REQUEST_METHOD: req.method ?? "GET",
      PATH_INFO: decodeURIComponent(url.pathname),
      QUERY_STRING: url.search.slice(1),
      CONTENT_TYPE: req.headers["content-type"] ?? "",
      REMOTE_USER: "reader",
      REMOTE_ADDR: "127.0.0.1",
      ...(req.headers["git-protocol"] && { GIT_PROTOCOL: String(req.headers["git-protocol"]) }),
      ...(req.headers["content-encoding"] && { HTTP_CONTENT_ENCODING: String(req.headers["content-encoding"]) }),
    },
    stdio: ["pipe", "pipe", "ignore"],
  });
  req.pipe(cgi.stdin);
  let head = Buffer.alloc(0);
  let headerDone = false;
  cgi.stdout.on("data", (chunk: Buffer) => {
    if (headerDone) return void res.write(chunk);
    head = Buffer.concat([head, chunk]);
    const end = head.indexOf("\r\n\r\n");
    if (end === -1) return;
    headerDone = true;
    const headers: Record<string, string> = {};
    let status = 200;
    for (const line of head.subarray(0, end).toString("latin1").split("\r\n")) {
      const colon = line.indexOf(":");
      const name = line.slice(0, colon).trim();
      const value = line.slice(colon + 1).trim();
      if (name.toLowerCase() === "status") status = Number.parseInt(value, 10);
      else headers[name] = value;
    }
    res.writeHead(status, headers);
    res.write(head.subarray(end + 4));
  });
  cgi.on("close", () => res.end());
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await serve(process.argv[2]!, await text(process.stdin));
