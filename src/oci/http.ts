// HTTP for registries: kept-alive connections through undici, a trusted CA per host, plain HTTP only to
// loopback hosts or hosts explicitly marked insecure, redirects followed by hand (so that loops are
// caught, credentials never follow a request to another origin, and no redirect downgrades to plain
// HTTP), and a time limit on every stage: connecting, waiting for headers, a body that stalls, and the
// whole exchange. Nothing a registry does can make a request hang or fill memory.
import type { Agent, Dispatcher } from "undici";
import { InputError } from "../core/errors.ts";
import { RegistryError } from "./errors.ts";
import { isLoopbackHost } from "./reference.ts";

export interface HostOptions {
  /** "http" is allowed for loopback hosts, and for others only with `insecure: true`. Default "https". */
  scheme?: "https" | "http";
  /** PEM certificate(s) of the CA that issued this host's certificate; replaces the system roots for it. */
  ca?: string | Buffer;
  /** Allow plain HTTP to this non-loopback host: its API, redirects to it, a token realm on it. */
  insecure?: boolean;
}

export interface Timeouts {
  /** Establishing a connection (TCP and TLS). */
  connectMs: number;
  /** From sending a request to the end of the response headers. */
  headersMs: number;
  /** The longest pause while a body is arriving: a stalled transfer fails after this. */
  bodyIdleMs: number;
  /** The whole exchange, redirects and body included, for everything read into memory. */
  requestMs: number;
}

export interface TransportOptions {
  /** Per-host settings, keyed by host[:port] as written in image references. */
  hosts?: Record<string, HostOptions>;
  timeouts?: Partial<Timeouts>;
  /** Redirects followed for one request. Default 5. */
  maxRedirects?: number;
  /** Kept-alive connections per origin; requests beyond them wait their turn. Default 16. */
  connectionsPerHost?: number;
  userAgent?: string;
}

export const DEFAULT_TIMEOUTS: Timeouts = { connectMs: 10_000, headersMs: 30_000, bodyIdleMs: 30_000, requestMs: 120_000 };

export type Method = "GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE";

export interface HttpRequest {
  method: Method;
  url: URL;
  headers?: Record<string, string>;
  body?: Buffer;
  /** What is being fetched, for messages: "manifest registry/repo:tag". */
  what: string;
  /** Set false for streams of unbounded size: only the stall timeout then applies to the body. */
  deadline?: boolean;
}

export interface HttpResponse {
  status: number;
  headers: Dispatcher.ResponseData["headers"];
  /** The URL that finally answered, after redirects. */
  url: URL;
  body: Dispatcher.ResponseData["body"];
  what: string;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/**
 * undici is loaded on the first request, not at start-up: loading it (its HTTP parser is compiled from
 * WebAssembly) was two fifths of `vigil sbom`'s start-up, which local images and directories never need.
 */
let undici: Promise<typeof import("undici")> | undefined;
const loadUndici = () => (undici ??= import("undici"));

export class Transport {
  readonly timeouts: Timeouts;
  private readonly hosts: Record<string, HostOptions>;
  private readonly maxRedirects: number;
  private readonly userAgent: string;
  private readonly agentOptions: Agent.Options;
  /** One agent per trusted CA (the key: the host, or "" for the system's CAs), made on first use. */
  private readonly agents = new Map<string, Agent>();

  constructor(options: TransportOptions = {}) {
    this.hosts = options.hosts ?? {};
    for (const [host, config] of Object.entries(this.hosts)) {
      if (config.scheme === "http" && !this.plainHttpAllowed(host)) throw new InputError(plainHttpRefusal(host));
    }
    this.timeouts = { ...DEFAULT_TIMEOUTS, ...options.timeouts };
    this.maxRedirects = options.maxRedirects ?? 5;
    this.userAgent = options.userAgent ?? "vigil";
    this.agentOptions = {
      connections: options.connectionsPerHost ?? 16,
      keepAliveTimeout: 30_000,
      headersTimeout: this.timeouts.headersMs,
      bodyTimeout: this.timeouts.bodyIdleMs,
      connect: { timeout: this.timeouts.connectMs },
    };
  }

  /** The base URL of a host's API, by its configured scheme. */
  baseUrl(host: string): URL {
    return new URL(`${this.hosts[host]?.scheme ?? "https"}://${host}/`);
  }

  /** Refuses a URL we may not contact: anything but https, or http to a host not allowed plain HTTP. */
  checkUrl(url: URL, what: string): void {
    if (url.protocol === "https:") return;
    if (url.protocol === "http:" && this.plainHttpAllowed(url.host)) return;
    throw new RegistryError(
      `${what}: ${url.protocol === "http:" ? plainHttpRefusal(url.host) : `refused ${url.protocol} URL ${url.href}`}`,
    );
  }

  /** Sends a request, following redirects. The caller must read or dump the body. */
  async send(req: HttpRequest): Promise<HttpResponse> {
    const signal = req.deadline === false ? undefined : AbortSignal.timeout(this.timeouts.requestMs);
    let { method, url, body } = req;
    let headers: Record<string, string> = { "user-agent": this.userAgent, ...req.headers };
    const seen = new Set<string>();
    for (let redirects = 0; ; redirects++) {
      this.checkUrl(url, req.what);
      seen.add(`${method} ${url.href}`);
      const res = await this.exchange(method, url, headers, body, signal, req.what);
      if (!REDIRECTS.has(res.statusCode)) return { status: res.statusCode, headers: res.headers, url, body: res.body, what: req.what };
      await res.body.dump().catch(() => {});
      const location = firstHeader(res.headers, "location");
      if (!location)
        throw new RegistryError(`${req.what}: ${url.host} answered ${res.statusCode} without a Location`, { status: res.statusCode });
      const next = new URL(location, url);
      if (res.statusCode === 303 && method !== "HEAD") {
        method = "GET";
        body = undefined;
      }
      if (seen.has(`${method} ${next.href}`)) throw new RegistryError(`${req.what}: redirect loop at ${next.href}`);
      if (redirects + 1 > this.maxRedirects)
        throw new RegistryError(`${req.what}: more than ${this.maxRedirects} redirects (last to ${next.href})`);
      // Credentials are for the origin they were given to; blob storage behind a redirect gets none.
      if (next.origin !== url.origin) headers = withoutAuthorization(headers);
      url = next;
    }
  }

  async close(): Promise<void> {
    await Promise.all([...this.agents.values()].map((a) => a.close()));
  }

  private async exchange(
    method: Method,
    url: URL,
    headers: Record<string, string>,
    body: Buffer | undefined,
    signal: AbortSignal | undefined,
    what: string,
  ) {
    const { Agent, request } = await loadUndici();
    try {
      return await request(url, { method, headers, body, signal, dispatcher: this.agentFor(url.host, Agent) });
    } catch (e) {
      throw networkError(e, url, what, this.timeouts);
    }
  }

  private agentFor(host: string, AgentClass: typeof Agent): Agent {
    const ca = this.hosts[host]?.ca;
    const key = ca === undefined ? "" : host;
    let agent = this.agents.get(key);
    if (!agent) {
      agent = new AgentClass(
        ca === undefined ? this.agentOptions : { ...this.agentOptions, connect: { timeout: this.timeouts.connectMs, ca } },
      );
      this.agents.set(key, agent);
    }
    return agent;
  }

  private plainHttpAllowed(host: string): boolean {
    return isLoopbackHost(host) || this.hosts[host]?.insecure === true;
  }
}

function plainHttpRefusal(host: string): string {
  return `plain HTTP to ${host} refused: only loopback registries may be reached without TLS, unless the host is explicitly marked insecure`;
}

function withoutAuthorization(headers: Record<string, string>): Record<string, string> {
  const { authorization: _dropped, ...rest } = headers;
  return rest;
}

export function firstHeader(headers: HttpResponse["headers"], name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** Reads a whole body, refusing one larger than `maxBytes` before or while it arrives. */
export async function readBody(res: HttpResponse, maxBytes: number, timeouts: Timeouts): Promise<Buffer> {
  const tooLarge = () => new RegistryError(`${res.what}: ${res.url.host} sent more than the ${formatBytes(maxBytes)} allowed`);
  const declared = Number(firstHeader(res.headers, "content-length"));
  if (Number.isFinite(declared) && declared > maxBytes) {
    res.body.destroy();
    throw tooLarge();
  }
  const chunks: Buffer[] = [];
  let total = 0;
  try {
    for await (const chunk of res.body) {
      total += (chunk as Buffer).length;
      if (total > maxBytes) {
        res.body.destroy();
        throw tooLarge();
      }
      chunks.push(chunk as Buffer);
    }
  } catch (e) {
    if (e instanceof RegistryError) throw e;
    throw networkError(e, res.url, res.what, timeouts);
  }
  return Buffer.concat(chunks, total);
}

export function formatBytes(n: number): string {
  if (n >= 1 << 20 && n % (1 << 20) === 0) return `${n / (1 << 20)} MiB`;
  if (n >= 1 << 10 && n % (1 << 10) === 0) return `${n / (1 << 10)} KiB`;
  return `${n} bytes`;
}

const TLS_TRUST_CODES = new Set([
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "UNABLE_TO_GET_ISSUER_CERT",
  "CERT_UNTRUSTED",
]);

/** Turns what undici or the socket threw into a message that says which host and which stage failed. */
export function networkError(e: unknown, url: URL, what: string, timeouts: Timeouts): RegistryError {
  const err = e as { code?: string; name?: string; message?: string };
  const host = url.host;
  const seconds = (ms: number) => `${ms / 1000}s`;
  let why: string;
  if (err.name === "TimeoutError" || err.name === "AbortError")
    why = `no complete answer from ${host} within ${seconds(timeouts.requestMs)}`;
  else if (err.code === "UND_ERR_CONNECT_TIMEOUT") why = `could not connect to ${host} within ${seconds(timeouts.connectMs)}`;
  else if (err.code === "UND_ERR_HEADERS_TIMEOUT") why = `${host} sent no response within ${seconds(timeouts.headersMs)}`;
  else if (err.code === "UND_ERR_BODY_TIMEOUT") why = `${host} stalled: no data for ${seconds(timeouts.bodyIdleMs)} while sending the body`;
  else if (err.code === "ECONNREFUSED") why = `connection refused by ${host}`;
  else if (err.code === "ENOTFOUND" || err.code === "EAI_AGAIN") why = `cannot resolve ${url.hostname}`;
  else if (err.code !== undefined && TLS_TRUST_CODES.has(err.code))
    why = `TLS: the certificate of ${host} is not trusted (${err.code}); give the CA that issued it for this host`;
  else if (err.code === "ERR_TLS_CERT_ALTNAME_INVALID") why = `TLS: the certificate of ${host} is not valid for that name`;
  else if (err.code === "CERT_HAS_EXPIRED") why = `TLS: the certificate of ${host} has expired`;
  else if (err.code === "EPROTO" || err.code === "ERR_SSL_WRONG_VERSION_NUMBER")
    why = `TLS handshake with ${host} failed (does it speak plain HTTP?)`;
  else why = `${host}: ${err.message ?? String(e)}${err.code ? ` (${err.code})` : ""}`;
  return new RegistryError(`${what}: ${why}`, { cause: e });
}
