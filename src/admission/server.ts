// The webhook's HTTPS server: one port, one endpoint (POST /validate, an AdmissionReview v1 in and
// out), nothing else (every other path and method is 404 or 405). Bodies are bounded (the API server
// sends at most an object and its old version, 3 MiB each) and so is the time a client may take to send
// one. A request the server cannot read is answered 400: the API server then applies the webhook's
// failure policy, which is Fail unless an environment chose otherwise.
import { createServer, type Server } from "node:https";
import type { IncomingMessage, ServerResponse } from "node:http";
import { InputError } from "../core/errors.ts";
import { WEBHOOK_PATH } from "./cluster-objects.ts";
import type { AdmissionRequest, Decision } from "./decide.ts";
import type { ServingMaterial } from "./tls.ts";

export const MAX_REVIEW_BYTES = 8 * 1024 * 1024;
/** A client that has not sent its whole request in this time is cut off (the API server's own timeout is at most 30 s). */
const REQUEST_TIMEOUT_MS = 30_000;
/**
 * The API servers keep a few connections each; anyone else who reaches the port can only hold
 * connections open (an answer goes to whoever asked, never to the API server), so they are bounded.
 */
const MAX_CONNECTIONS = 1024;

type ReviewHandler = (request: AdmissionRequest) => Promise<Decision>;

export function parseListen(listen: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:]+)\]|([A-Za-z0-9.-]*)):(\d{1,5})$/.exec(listen);
  const port = Number(m?.[3]);
  if (!m || port > 65535) throw new InputError(`listen: ${JSON.stringify(listen)} is not HOST:PORT`);
  return { host: m[1] ?? (m[2] || "0.0.0.0"), port };
}

/** Starts the server; `setMaterial` on the result serves a rotated certificate to new connections. */
export function serveWebhook(
  listen: string,
  material: ServingMaterial,
  handle: ReviewHandler,
  onError: (message: string) => void,
): Promise<Server> {
  const { host, port } = parseListen(listen);
  const server = createServer(
    { cert: material.certPem, key: material.keyPem, minVersion: "TLSv1.2", requestTimeout: REQUEST_TIMEOUT_MS, headersTimeout: 10_000 },
    (req, res) => {
      answer(req, res, handle).catch((e) => {
        onError(`answering a review: ${(e as Error).message}`);
        if (!res.headersSent) res.writeHead(500).end();
        else res.destroy();
      });
    },
  );
  server.maxConnections = MAX_CONNECTIONS;
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve(server);
    });
  });
}

export function setMaterial(server: Server, material: ServingMaterial): void {
  server.setSecureContext({ cert: material.certPem, key: material.keyPem });
}

async function answer(req: IncomingMessage, res: ServerResponse, handle: ReviewHandler): Promise<void> {
  const path = (req.url ?? "").split("?")[0];
  if (path !== WEBHOOK_PATH) return void res.writeHead(404).end();
  if (req.method !== "POST") return void res.writeHead(405, { allow: "POST" }).end();
  const body = await readBody(req);
  if (body === undefined) return void res.writeHead(413).end(`an AdmissionReview is at most ${MAX_REVIEW_BYTES} bytes\n`);
  const request = parseReview(body);
  if (typeof request === "string") return void res.writeHead(400, { "content-type": "text/plain" }).end(`${request}\n`);
  const decision = await handle(request);
  const response = {
    uid: request.uid,
    allowed: decision.allowed,
    ...(!decision.allowed && { status: { code: 403, reason: "Forbidden", message: decision.message } }),
    ...(decision.allowed && decision.rule === "break-glass" && { warnings: [decision.message] }),
    auditAnnotations: { rule: decision.rule },
  };
  res
    .writeHead(200, { "content-type": "application/json" })
    .end(JSON.stringify({ apiVersion: "admission.k8s.io/v1", kind: "AdmissionReview", response }));
}

function readBody(req: IncomingMessage): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers["content-length"] ?? 0);
    if (declared > MAX_REVIEW_BYTES) {
      req.resume();
      return resolve(undefined);
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > MAX_REVIEW_BYTES) {
        req.destroy();
        resolve(undefined);
      } else chunks.push(c);
    });
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

/** The request of an AdmissionReview v1, or why it is not one. */
function parseReview(body: Buffer): AdmissionRequest | string {
  let review: any;
  try {
    review = JSON.parse(body.toString("utf8"));
  } catch {
    return "the body is not JSON";
  }
  if (review?.apiVersion !== "admission.k8s.io/v1" || review?.kind !== "AdmissionReview")
    return "the body is not an admission.k8s.io/v1 AdmissionReview";
  const r = review.request;
  if (typeof r !== "object" || r === null) return "the AdmissionReview has no request";
  if (typeof r.uid !== "string" || r.uid === "") return "request.uid is missing";
  if (typeof r.operation !== "string") return "request.operation is missing";
  if (typeof r.kind?.kind !== "string") return "request.kind is missing";
  return {
    uid: r.uid,
    kind: { group: String(r.kind.group ?? ""), version: String(r.kind.version ?? ""), kind: r.kind.kind },
    ...(typeof r.subResource === "string" && { subResource: r.subResource }),
    ...(typeof r.name === "string" && { name: r.name }),
    ...(typeof r.namespace === "string" && { namespace: r.namespace }),
    operation: r.operation,
    userInfo: {
      ...(typeof r.userInfo?.username === "string" && { username: r.userInfo.username }),
      groups: Array.isArray(r.userInfo?.groups) ? r.userInfo.groups.filter((g: unknown) => typeof g === "string") : [],
    },
    ...(r.object != null && { object: r.object }),
    ...(r.oldObject != null && { oldObject: r.oldObject }),
    dryRun: r.dryRun === true,
  };
}
