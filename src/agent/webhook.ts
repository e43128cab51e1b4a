// The webhook: a push from the Git host makes an environment reconcile now instead of at its next
// interval. It only wakes the loop: the reconcile fetches and verifies the revision as always, so
// nothing in the request is trusted for content. Still, only a caller holding the shared secret may
// trigger (a fetch and the gates cost time): the body must carry an HMAC-SHA256 signature in GitHub's
// format, `X-Hub-Signature-256: sha256=<hex>`, compared in constant time. Gitea and Forgejo send the
// same header; GitLab's plain token is not accepted (a secret sent as is could be replayed by anyone
// who sees one request).
//
//   POST /hooks/<environment>   reconcile that environment
//   POST /hooks                 reconcile every environment
// 202 triggered; 401 unsigned or wrongly signed (checked before anything else is revealed, including
// whether an environment exists); 404 unknown environment or path; 405 not POST; 413 body too large;
// 503 the trigger could not be passed on to the leader (triggers.ts), so the Git host should redeliver.
import { createHmac, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { InputError } from "../core/errors.ts";
import { closeServer, listenOn } from "./http.ts";
import { readInputText } from "../core/input-file.ts";

/** Push payloads are small; a larger body is refused before it is all read. */
export const MAX_WEBHOOK_BODY = 1024 * 1024;

export interface WebhookOptions {
  listen: string;
  secretFile: string;
  environments: readonly string[];
  /** Wakes these environments' reconciles (or records the trigger for the leader); a failure is a 503. */
  trigger(environments: string[]): void | Promise<void>;
  /** Each request's outcome, for the log (never the body or the signature). */
  onRequest?(outcome: { status: number; path: string; environments?: string[] }): void;
}

export interface Webhook {
  url: string;
  close(): Promise<void>;
}

export function readWebhookSecret(file: string): Buffer {
  const secret = readInputText(file, "the webhook secret").replace(/\r?\n$/, "");
  if (secret.length < 16) throw new InputError(`${file}: the webhook secret is ${secret.length === 0 ? "empty" : "shorter than 16 characters"}; use a long random one`);
  return Buffer.from(secret, "utf8");
}

/** "sha256=<hex>" for a body, as the Git host computes it. */
export function signWebhookBody(secret: Buffer | string, body: Buffer | string): string {
  return `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`;
}

/** Whether the header is the body's signature; constant time in the signature's content. */
export function verifyWebhookSignature(secret: Buffer, body: Buffer, header: string | string[] | undefined): boolean {
  if (typeof header !== "string" || !/^sha256=[0-9a-f]{64}$/i.test(header)) return false;
  const expected = createHmac("sha256", secret).update(body).digest();
  return timingSafeEqual(expected, Buffer.from(header.slice("sha256=".length), "hex"));
}

export async function startWebhook(options: WebhookOptions): Promise<Webhook> {
  const secret = readWebhookSecret(options.secretFile);
  const known = new Set(options.environments);
  const server: Server = createServer((req, res) => {
    void handle(req, res).catch(() => answer(res, 500, "internal error"));
  });
  const answer = (res: ServerResponse, status: number, text: string, path = "", environments?: string[]) => {
    if (!res.headersSent) {
      res.writeHead(status, { "content-type": "text/plain; charset=utf-8", ...(status === 401 && { "www-authenticate": 'HMAC-SHA256 header="X-Hub-Signature-256"' }) });
      res.end(`${text}\n`);
    }
    options.onRequest?.({ status, path, ...(environments && { environments }) });
  };

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = new URL(req.url ?? "/", "http://webhook").pathname;
    const m = /^\/hooks(?:\/([^/]+))?\/?$/.exec(path);
    if (!m) return answer(res, 404, "not found: POST /hooks/<environment> or /hooks", path);
    if (req.method !== "POST") {
      res.setHeader("allow", "POST");
      return answer(res, 405, "only POST", path);
    }
    const declared = Number(req.headers["content-length"] ?? 0);
    if (declared > MAX_WEBHOOK_BODY) {
      res.setHeader("connection", "close");
      answer(res, 413, `the body is larger than ${MAX_WEBHOOK_BODY} bytes`, path);
      req.destroy();
      return;
    }
    const body = await readBody(req);
    if (!body) {
      res.setHeader("connection", "close");
      answer(res, 413, `the body is larger than ${MAX_WEBHOOK_BODY} bytes`, path);
      req.destroy();
      return;
    }
    if (!verifyWebhookSignature(secret, body, req.headers["x-hub-signature-256"])) {
      return answer(res, 401, "the X-Hub-Signature-256 header is missing or is not the body's HMAC-SHA256 with the shared secret", path);
    }
    let environments: string[];
    if (m[1] === undefined) environments = [...known];
    else {
      const name = decodeURIComponent(m[1]);
      if (!known.has(name)) return answer(res, 404, `no environment "${name}" here`, path);
      environments = [name];
    }
    try {
      await options.trigger(environments);
    } catch (e) {
      res.setHeader("retry-after", "10");
      return answer(res, 503, `the trigger could not be passed on to the leader: ${e instanceof Error ? e.message : String(e)}`, path, environments);
    }
    answer(res, 202, `reconciling ${environments.join(", ")}`, path, environments);
  }

  const url = await listenOn(server, options.listen, "webhook.listen");
  return { url, close: () => closeServer(server) };
}

/** The body, or undefined once it passes the limit (whatever Content-Length said). */
function readBody(req: IncomingMessage): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_WEBHOOK_BODY) {
        req.pause();
        resolve(undefined);
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}
