// Requests to the Kubernetes API server: one kept-alive undici Agent per cluster (TLS with the
// kubeconfig's CA and client certificate), headers from the kubeconfig's user (refreshed on a schedule and
// after a 401), optionally impersonating a user such as a service account, a time limit on every request,
// bounded retries with backoff when the server is unreachable or overloaded, and a count of every request
// made, by verb, that the benchmark and tests read. A server that cannot be reached is exit 3, named.
import { Agent, request, type Dispatcher } from "undici";
import { ExitCode, InputError, UnavailableError, VigilError } from "../core/errors.ts";
import { Discovery } from "./discovery.ts";
import { loadKubeconfig, type Credentials, type KubeconfigOptions, type LoadedConfig } from "./kubeconfig.ts";

export interface ConnectOptions extends KubeconfigOptions {
  /**
   * Act as this user (the Impersonate-User header), e.g. "system:serviceaccount:NS:NAME": the requests
   * are then allowed exactly what that user's RBAC allows. Replaces any "as" in the kubeconfig.
   */
  impersonate?: string;
  timeouts?: { connectMs?: number; requestMs?: number };
  /** Retries of one request after a network failure, 429 or 502/503/504: attempts in all, and a deadline. */
  retry?: { attempts?: number; deadlineMs?: number };
  /** Kept-alive connections to the API server; requests beyond them wait. Default 16. */
  connections?: number;
  /**
   * How long credentials are used before they are asked of the kubeconfig (or read from the in-cluster
   * token file) again. Default 30 s; a 401 asks again at once.
   */
  credentialsRefreshMs?: number;
}

/** What a request does, as Kubernetes names it; "dryRun" is an apply the server only simulates. */
export type Verb = "get" | "list" | "watch" | "create" | "apply" | "patch" | "update" | "delete" | "dryRun";
const WRITES = new Set<Verb>(["create", "apply", "patch", "update", "delete"]);

export interface RequestCounts {
  total: number;
  /** Requests that may change the cluster: create, apply, update, delete (not dry runs). */
  writes: number;
  byVerb: Partial<Record<Verb, number>>;
}

/** Counts every request sent, retries included (each is a request the server saw or might have). */
export class RequestCounter implements RequestCounts {
  total = 0;
  writes = 0;
  byVerb: Partial<Record<Verb, number>> = {};

  add(verb: Verb): void {
    this.total++;
    if (WRITES.has(verb)) this.writes++;
    this.byVerb[verb] = (this.byVerb[verb] ?? 0) + 1;
  }

  snapshot(): RequestCounts {
    return { total: this.total, writes: this.writes, byVerb: { ...this.byVerb } };
  }

  /** The requests made since `earlier` (a snapshot). */
  since(earlier: RequestCounts): RequestCounts {
    const byVerb: Partial<Record<Verb, number>> = {};
    for (const [verb, n] of Object.entries(this.byVerb) as [Verb, number][]) {
      const d = n - (earlier.byVerb[verb] ?? 0);
      if (d > 0) byVerb[verb] = d;
    }
    return { total: this.total - earlier.total, writes: this.writes - earlier.writes, byVerb };
  }
}

export type Method = "GET" | "POST" | "PUT" | "PATCH" | "DELETE";

export interface ApiRequest {
  verb: Verb;
  method: Method;
  /** /api/v1/… or /apis/GROUP/VERSION/… */
  path: string;
  query?: Record<string, string | undefined>;
  /** An object is sent as JSON. */
  body?: unknown;
  contentType?: string;
  accept?: string;
}

export interface ApiAnswer {
  status: number;
  /** Parsed JSON, or the text when the server did not answer JSON. */
  body: any;
}

/** One event of a watch: ADDED, MODIFIED, DELETED, BOOKMARK, or ERROR (then `object` is a Status). */
export interface WatchEvent {
  type: string;
  object: any;
}

export interface WatchRequest {
  /** The collection: /api/v1/namespaces/NS/configmaps… */
  path: string;
  /** resourceVersion, fieldSelector…; watch=1 is added. */
  query?: Record<string, string | undefined>;
  /** The server ends the watch after this long; the caller then watches again. */
  timeoutSeconds: number;
  /** Aborting ends the watch (watch() then resolves). */
  signal?: AbortSignal;
}

/** A request the API server refused or failed; exit 1 (blocked) unless it is a matter of availability. */
export class KubeApiError extends VigilError {
  readonly status: number;
  readonly reason: string | undefined;
  constructor(message: string, status: number, reason?: string, exitCode: ExitCode = ExitCode.blocked) {
    super(message, exitCode);
    this.status = status;
    this.reason = reason;
  }
}

/** A watch event line longer than this is refused (a watched object is at most a few MiB). */
const MAX_WATCH_LINE = 16 * 1024 * 1024;

/** The error for an answer the caller cannot go on without: "WHAT: 403 Forbidden: <server's message>". */
export function apiFailure(answer: ApiAnswer, what: string): KubeApiError {
  return new KubeApiError(`${what}: ${describeAnswer(answer)}`, answer.status, answer.body?.reason);
}

/** "403 Forbidden: <the server's message>" */
export function describeAnswer(answer: ApiAnswer): string {
  const body = answer.body;
  const message =
    typeof body === "object" && body !== null
      ? (body.message ?? JSON.stringify(body))
      : String(body ?? "")
          .trim()
          .slice(0, 500);
  const reason = typeof body === "object" && body?.reason ? ` ${body.reason}` : "";
  return `${answer.status}${reason}: ${message}`;
}

const RETRY_STATUSES = new Set([429, 502, 503, 504]);
const MAX_BODY_BYTES = 256 * 1024 * 1024;
/** How long credentials from the kubeconfig are reused before asking it again (exec plugins cache too). */
const CREDENTIALS_TTL_MS = 30_000;
const DEFAULTS = { connectMs: 10_000, requestMs: 30_000, attempts: 5, deadlineMs: 30_000 };

/** A connection to one API server as one user. Cheap to keep; close() when done. */
export class Cluster {
  /** The API server, as the kubeconfig names it. */
  readonly server: URL;
  /** Where the credentials came from, for messages. */
  readonly source: string;
  readonly impersonate: string | undefined;
  readonly requests = new RequestCounter();
  /** Kinds the server serves, learnt as they are needed and kept for this Cluster's life. */
  readonly discovery: Discovery;
  private readonly config: LoadedConfig;
  private readonly options: Required<Pick<ConnectOptions, "connections" | "credentialsRefreshMs">> & typeof DEFAULTS;
  private credentials: { value: Credentials; at: number } | undefined;
  private agent: Agent | undefined;
  private agentTls: Credentials["tls"] | undefined;
  private closed = false;

  constructor(config: LoadedConfig, options: ConnectOptions) {
    this.config = config;
    this.server = config.server;
    this.source = config.source;
    this.impersonate = options.impersonate;
    this.options = {
      connections: options.connections ?? 16,
      credentialsRefreshMs: options.credentialsRefreshMs ?? CREDENTIALS_TTL_MS,
      connectMs: options.timeouts?.connectMs ?? DEFAULTS.connectMs,
      requestMs: options.timeouts?.requestMs ?? DEFAULTS.requestMs,
      attempts: Math.max(1, options.retry?.attempts ?? DEFAULTS.attempts),
      deadlineMs: options.retry?.deadlineMs ?? DEFAULTS.deadlineMs,
    };
    this.discovery = new Discovery(this);
  }

  /** "https://host:port" for messages. */
  get name(): string {
    return this.server.origin;
  }

  /**
   * Sends a request and returns the server's answer, whatever its status. Network failures, timeouts,
   * 429 and 502–504 are retried with backoff; when attempts or the deadline run out, UnavailableError
   * (exit 3) naming the server. A 401 after fresh credentials is UnavailableError too.
   */
  async call(req: ApiRequest): Promise<ApiAnswer> {
    if (this.closed) throw new Error(`${this.name}: the cluster connection is closed`);
    const started = Date.now();
    const deadline = started + this.options.deadlineMs;
    let refreshed = false;
    for (let attempt = 1; ; attempt++) {
      const mayRetry = (delay: number) => attempt < this.options.attempts && Date.now() + delay < deadline;
      const delay = backoff(attempt);
      let answer: ApiAnswer & { retryAfterMs?: number };
      try {
        this.requests.add(req.verb);
        answer = await this.send(req);
      } catch (e) {
        if (e instanceof VigilError) throw e;
        if (!mayRetry(delay)) {
          throw new UnavailableError(
            `cannot reach the Kubernetes API server ${this.name} (${req.method} ${req.path}): ${networkReason(e)}${attemptsNote(attempt, started)}`,
            { cause: e },
          );
        }
        await sleep(delay);
        continue;
      }
      if (answer.status === 401) {
        if (!refreshed) {
          // A token that expired, or a rotated client certificate: ask the kubeconfig again, once.
          this.credentials = undefined;
          refreshed = true;
          continue;
        }
        throw new UnavailableError(
          `the Kubernetes API server ${this.name} did not accept the credentials from ${this.source} (401 Unauthorized)`,
        );
      }
      if (RETRY_STATUSES.has(answer.status)) {
        const wait = Math.min(answer.retryAfterMs ?? delay, 10_000);
        if (mayRetry(wait)) {
          await sleep(wait);
          continue;
        }
        throw new UnavailableError(
          `the Kubernetes API server ${this.name} is unavailable (${req.method} ${req.path}): ${describeAnswer(answer)}${attemptsNote(attempt, started)}`,
        );
      }
      return answer;
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.agent?.close();
    this.agent = undefined;
  }

  /**
   * Watches a collection: calls onEvent with each event as the server sends it. Resolves when the
   * server ends the watch (its timeoutSeconds) or the signal aborts; throws when the connection fails.
   * Not retried here: the caller watches again from what it has seen (or lists again, after a 410).
   * Answers other than 200 are returned for the caller to judge (a 401 also drops the cached
   * credentials, so the next call reads them afresh).
   */
  async watch(req: WatchRequest, onEvent: (event: WatchEvent) => void): Promise<ApiAnswer | undefined> {
    if (this.closed) throw new Error(`${this.name}: the cluster connection is closed`);
    this.requests.add("watch");
    const credentials = await this.currentCredentials();
    const url = this.url(req.path, { ...req.query, watch: "1", timeoutSeconds: String(req.timeoutSeconds) });
    let res: Dispatcher.ResponseData;
    try {
      res = await request(url, {
        method: "GET",
        headers: this.headers(credentials, "application/json"),
        dispatcher: this.dispatcher(credentials.tls),
        // Silence longer than the server's own timeout means the connection is gone.
        bodyTimeout: (req.timeoutSeconds + 30) * 1000,
        ...(req.signal && { signal: req.signal }),
      });
    } catch (e) {
      if (req.signal?.aborted) return undefined;
      throw new UnavailableError(`cannot watch ${req.path} on the Kubernetes API server ${this.name}: ${networkReason(e)}`, { cause: e });
    }
    if (res.statusCode !== 200) {
      if (res.statusCode === 401) this.credentials = undefined;
      const text = await readText(res, `GET ${req.path}`);
      let body: unknown = text;
      try {
        body = JSON.parse(text);
      } catch {
        // not JSON: the text is the message
      }
      return { status: res.statusCode, body };
    }
    let pending = "";
    // A character may be split between chunks: decode as a stream.
    const decoder = new TextDecoder();
    try {
      for await (const chunk of res.body) {
        pending += decoder.decode(chunk as Buffer, { stream: true });
        let newline: number;
        while ((newline = pending.indexOf("\n")) >= 0) {
          const line = pending.slice(0, newline).trim();
          pending = pending.slice(newline + 1);
          if (line !== "") onEvent(JSON.parse(line) as WatchEvent);
        }
        if (pending.length > MAX_WATCH_LINE) throw new Error(`a watch event longer than ${MAX_WATCH_LINE} bytes`);
      }
    } catch (e) {
      res.body.destroy();
      if (req.signal?.aborted) return undefined;
      throw new UnavailableError(`the watch of ${req.path} on the Kubernetes API server ${this.name} broke off: ${networkReason(e)}`, {
        cause: e,
      });
    }
    return undefined;
  }

  private url(path: string, query: Record<string, string | undefined> = {}): URL {
    const url = new URL(path, this.server);
    for (const [k, v] of Object.entries(query)) if (v !== undefined) url.searchParams.set(k, v);
    return url;
  }

  private headers(credentials: Credentials, accept: string): Record<string, string> {
    const headers: Record<string, string> = { ...credentials.headers, accept, "user-agent": "vigil" };
    if (this.impersonate !== undefined) headers["impersonate-user"] = this.impersonate;
    return headers;
  }

  private async send(req: ApiRequest): Promise<ApiAnswer & { retryAfterMs?: number }> {
    const credentials = await this.currentCredentials();
    const url = this.url(req.path, req.query);
    const headers = this.headers(credentials, req.accept ?? "application/json");
    let body: string | undefined;
    if (req.body !== undefined) {
      body = typeof req.body === "string" ? req.body : JSON.stringify(req.body);
      headers["content-type"] = req.contentType ?? "application/json";
    }
    const res = await request(url, {
      method: req.method,
      headers,
      body,
      dispatcher: this.dispatcher(credentials.tls),
      signal: AbortSignal.timeout(this.options.requestMs),
    });
    const text = await readText(res, `${req.method} ${req.path}`);
    const contentType = String(res.headers["content-type"] ?? "");
    let parsed: unknown = text;
    if (contentType.includes("json") && text.length > 0) {
      try {
        parsed = JSON.parse(text);
      } catch {
        throw new KubeApiError(
          `${this.name} answered ${req.method} ${req.path} with JSON that does not parse`,
          res.statusCode,
          undefined,
          ExitCode.unavailable,
        );
      }
    }
    const retryAfter = Number(res.headers["retry-after"]);
    return { status: res.statusCode, body: parsed, ...(Number.isFinite(retryAfter) && { retryAfterMs: retryAfter * 1000 }) };
  }

  private async currentCredentials(): Promise<Credentials> {
    if (!this.credentials || Date.now() - this.credentials.at > this.options.credentialsRefreshMs) {
      this.credentials = { value: await this.config.credentials(), at: Date.now() };
    }
    return this.credentials.value;
  }

  /** One Agent while the TLS material stays the same; a new one when a certificate was rotated. */
  private dispatcher(tls: Credentials["tls"]): Dispatcher {
    if (this.agent && this.agentTls && sameTls(this.agentTls, tls)) return this.agent;
    const old = this.agent;
    this.agent = new Agent({
      connections: this.options.connections,
      keepAliveTimeout: 30_000,
      headersTimeout: this.options.requestMs,
      bodyTimeout: this.options.requestMs,
      connect: { ...tls, timeout: this.options.connectMs },
    });
    this.agentTls = tls;
    void old?.close().catch(() => {});
    return this.agent;
  }
}

/** Reads the configuration and makes a Cluster; no request is sent until one is needed. */
export async function connectCluster(options: ConnectOptions = {}): Promise<Cluster> {
  if (options.impersonate !== undefined && !/^\S+$/.test(options.impersonate)) {
    throw new InputError(`impersonate: "${options.impersonate}" is not a user name (e.g. system:serviceaccount:NAMESPACE:NAME)`);
  }
  return new Cluster(await loadKubeconfig(options), options);
}

function sameTls(a: Credentials["tls"], b: Credentials["tls"]): boolean {
  const eq = (x?: Buffer, y?: Buffer) => (x === undefined ? y === undefined : y !== undefined && x.equals(y));
  return eq(a.ca, b.ca) && eq(a.cert, b.cert) && eq(a.key, b.key) && a.servername === b.servername;
}

async function readText(res: Dispatcher.ResponseData, what: string): Promise<string> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of res.body) {
    total += (chunk as Buffer).length;
    if (total > MAX_BODY_BYTES) {
      res.body.destroy();
      throw new UnavailableError(`${what}: the API server sent more than ${MAX_BODY_BYTES} bytes`);
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks, total).toString("utf8");
}

/** 250 ms, 500 ms, 1 s, 2 s, 4 s… with ±20 % jitter, so that many waiting requests do not return at once. */
function backoff(attempt: number): number {
  const base = Math.min(250 * 2 ** (attempt - 1), 4_000);
  return Math.round(base * (0.8 + Math.random() * 0.4));
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function networkReason(e: unknown): string {
  const err = e as { code?: string; name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (err.code === "UND_ERR_CONNECT_TIMEOUT") return "timed out connecting";
  if (err.name === "TimeoutError" || err.code === "UND_ERR_HEADERS_TIMEOUT" || err.code === "UND_ERR_BODY_TIMEOUT")
    return "timed out waiting for an answer";
  return err.cause?.code ?? err.code ?? err.cause?.message ?? err.message ?? String(e);
}

function attemptsNote(attempts: number, started: number): string {
  return attempts > 1 ? ` (${attempts} attempts over ${((Date.now() - started) / 1000).toFixed(1)} s)` : "";
}

/** Every item of a LIST of `path` with this label selector, page by page; any answer but 200 is thrown, naming `what`. */
export async function listItems(cluster: Cluster, path: string, labelSelector: string, what: string): Promise<any[]> {
  const items: any[] = [];
  let next: string | undefined;
  do {
    const answer = await cluster.call({ verb: "list", method: "GET", path, query: { labelSelector, limit: "500", continue: next } });
    if (answer.status !== 200) throw apiFailure(answer, `listing ${what}`);
    items.push(...answer.body.items);
    next = answer.body.metadata?.continue || undefined;
  } while (next);
  return items;
}
