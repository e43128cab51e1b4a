// The webhook: a push from the Git host makes an environment reconcile now instead of at its next
// interval. It only wakes the loop: the reconcile fetches and verifies the revision as always, so
// nothing in the request is trusted for content. Still, only a caller holding the shared secret may
// trigger (a fetch and the gates cost time), and each delivery is bound to its path and counted once:
//
// - Vigil's own form binds everything: `X-Vigil-Delivery: <id>` and `X-Vigil-Signature-256:
//   sha256=<hex HMAC-SHA256 of "POST <path>\n<id>\n" followed by the body>`.
// - A forge's form (GitHub, Gitea, Forgejo): `X-Hub-Signature-256: sha256=<hex HMAC of the body>` with
//   the path's own secret, webhookSecretFor(secret, path) (`vigil agent --webhook-secret PATH` prints
//   it), so a delivery signed for one environment's path is refused on another's; the forge's delivery
//   id header (X-GitHub-Delivery, X-Gitea-Delivery) is required.
// A delivery id or signature seen before (for a day; kept where every replica sees them, deliveries.ts)
// is a replay: 409, no trigger.
// The signatures are src/core/webhook-signature.ts. GitLab's plain token is not accepted (a secret sent as is could be replayed by anyone who sees one).
//
//   POST /hooks/<environment>   reconcile that environment
//   POST /hooks                 reconcile every environment
// 202 triggered; 400 no delivery id or a bad path; 401 unsigned or wrongly signed (checked before
// anything else is revealed, including whether an environment exists); 404 unknown environment or
// path; 405 not POST; 409 a replay; 413 body too large; 503 the trigger could not be passed on to the
// leader (triggers.ts), so the Git host should redeliver.
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import { closeServer, listenOn, robustServer } from "./http.ts";
import { boundWebhookPayload, readWebhookSecret, verifyWebhookSignature, webhookSecretFor } from "../core/webhook-signature.ts";
import type { DeliveryStore } from "./deliveries.ts";

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
  /** Where deliveries seen are kept; default this process's memory. The agent passes one every replica shares (deliveries.ts). */
  deliveries?: DeliveryStore;
  /** For tests: how long a client may take over its headers and its whole request (default 10 s and 30 s). */
  timeouts?: { headersMs?: number; requestMs?: number };
}

export interface Webhook {
  url: string;
  close(): Promise<void>;
}

/** Delivery ids and signatures accepted lately: a second sighting is a replay. Bounded in count and age. */
export class DeliveryLog implements DeliveryStore {
  private readonly seen = new Map<string, number>();
  private readonly max: number;
  private readonly ttlMs: number;
  constructor(max = 100_000, ttlMs = 24 * 3600_000) {
    this.max = max;
    this.ttlMs = ttlMs;
  }

  /** True the first time any of `keys` is offered (and records them all); false for a replay. */
  firstTime(keys: readonly string[], now = Date.now()): boolean {
    for (const [key, at] of this.seen) {
      if (now - at < this.ttlMs && this.seen.size <= this.max) break;
      this.seen.delete(key);
    }
    if (keys.some((k) => this.seen.has(k))) return false;
    for (const k of keys) this.seen.set(k, now);
    return true;
  }
}

/** The forge delivery id headers Vigil reads, in order. */
const DELIVERY_HEADERS = ["x-vigil-delivery", "x-github-delivery", "x-gitea-delivery", "x-gogs-delivery"] as const;

export async function startWebhook(options: WebhookOptions): Promise<Webhook> {
  const secret = readWebhookSecret(options.secretFile);
  const known = new Set(options.environments);
  const deliveries = options.deliveries ?? new DeliveryLog();
  const server: Server = robustServer((req, res, path) => handle(req, res, path), options.timeouts);
  const answer = (res: ServerResponse, status: number, text: string, path = "", environments?: string[]) => {
    if (!res.headersSent) {
      res.writeHead(status, {
        "content-type": "text/plain; charset=utf-8",
        ...(status === 401 && { "www-authenticate": 'HMAC-SHA256 header="X-Hub-Signature-256"' }),
      });
      res.end(`${text}\n`);
    }
    options.onRequest?.({ status, path, ...(environments && { environments }) });
  };

  async function handle(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    const m = /^\/hooks(?:\/([a-z0-9][a-z0-9.-]{0,252}))?\/?$/.exec(path);
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
    const bound = m[1] === undefined ? "/hooks" : `/hooks/${m[1]}`;
    const delivery = DELIVERY_HEADERS.map((h) => req.headers[h]).find((v): v is string => typeof v === "string");
    const own = req.headers["x-vigil-signature-256"];
    const signed =
      own !== undefined
        ? typeof req.headers["x-vigil-delivery"] === "string" &&
          verifyWebhookSignature(secret, boundWebhookPayload(bound, req.headers["x-vigil-delivery"], body), own)
        : verifyWebhookSignature(webhookSecretFor(secret, bound), body, req.headers["x-hub-signature-256"]);
    if (!signed) {
      return answer(
        res,
        401,
        `the delivery is not signed for ${bound}: X-Vigil-Signature-256 over the path, X-Vigil-Delivery and the body with the shared secret, or X-Hub-Signature-256 over the body with the path's secret (vigil agent --webhook-secret ${bound})`,
        path,
      );
    }
    if (delivery === undefined || !/^[\x21-\x7e]{1,200}$/.test(delivery))
      return answer(res, 400, `a delivery id is required (${DELIVERY_HEADERS.join(", ")})`, path);
    const signature = String(own ?? req.headers["x-hub-signature-256"]).toLowerCase();
    let first: boolean;
    try {
      first = await deliveries.firstTime([`id ${delivery}`, `sig ${signature}`]);
    } catch (e) {
      // Not known to be new: not accepted, and the forge redelivers.
      res.setHeader("retry-after", "10");
      return answer(
        res,
        503,
        `whether delivery ${delivery} was seen before cannot be told now: ${e instanceof Error ? e.message : String(e)}`,
        path,
      );
    }
    if (!first) return answer(res, 409, `delivery ${delivery} was accepted before: a replay triggers nothing`, path);
    let environments: string[];
    if (m[1] === undefined) environments = [...known];
    else {
      if (!known.has(m[1])) return answer(res, 404, `no environment "${m[1]}" here`, path);
      environments = [m[1]];
    }
    try {
      await options.trigger(environments);
    } catch (e) {
      res.setHeader("retry-after", "10");
      return answer(
        res,
        503,
        `the trigger could not be passed on to the leader: ${e instanceof Error ? e.message : String(e)}`,
        path,
        environments,
      );
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
