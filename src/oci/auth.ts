// Registry authentication, as docker and the distribution token spec do it. A registry that wants
// credentials answers 401 with a WWW-Authenticate challenge: Basic (send the username and password)
// or Bearer realm/service/scope (get a token from the realm, with the credentials if there are any,
// anonymously otherwise, and send that). We remember each registry's challenge, so later requests
// carry their authorization from the start, and cache tokens per registry and scope until they expire.
import { Lru } from "../core/lru.ts";
import { RegistryError } from "./errors.ts";
import { readBody, type Transport } from "./http.ts";
import type { CredentialLookup, CredentialSource } from "./docker-config.ts";

export interface Challenge {
  scheme: "basic" | "bearer";
  params: Record<string, string>;
}

const AUTH_PARAM = /\s*([A-Za-z][\w!#$%&'*+.^`|~-]*)\s*(?:=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,"]*)))?\s*,?/y;

/** Parses a WWW-Authenticate header (RFC 7235) into its challenges; schemes other than Basic and Bearer are skipped. */
export function parseChallenges(header: string): Challenge[] {
  const challenges: { scheme: string; params: Record<string, string> }[] = [];
  let current: (typeof challenges)[number] | undefined;
  AUTH_PARAM.lastIndex = 0;
  for (let m = AUTH_PARAM.exec(header); m && m[0] !== ""; m = AUTH_PARAM.exec(header)) {
    const [, name, quoted, token] = m;
    if (quoted === undefined && token === undefined) {
      current = { scheme: name!.toLowerCase(), params: {} };
      challenges.push(current);
    } else if (current) {
      current.params[name!.toLowerCase()] = quoted !== undefined ? quoted.replace(/\\(.)/g, "$1") : token!;
    }
  }
  return challenges.filter((c): c is Challenge => c.scheme === "basic" || c.scheme === "bearer");
}

/**
 * Scopes ("repository:team/app:pull,push") merged per resource, so that a challenge asking for "pull"
 * adds nothing to "pull,push" and the same access always has the same cache key.
 */
export function mergeScopes(scopes: string[]): string[] {
  const actions = new Map<string, Set<string>>();
  for (const scope of scopes) {
    const colon = scope.lastIndexOf(":");
    const resource = scope.slice(0, colon);
    const set = actions.get(resource) ?? new Set<string>();
    for (const action of scope.slice(colon + 1).split(",")) if (action) set.add(action);
    actions.set(resource, set);
  }
  return [...actions].map(([resource, set]) => `${resource}:${[...set].sort().join(",")}`).sort();
}

interface Token {
  value: string;
  expiresAt: number;
}

/** Tokens live at least this long when the server does not say (the token spec's default). */
const DEFAULT_TOKEN_SECONDS = 60;
const MAX_TOKEN_RESPONSE = 1 << 20;

export class Authenticator {
  private readonly transport: Transport;
  private readonly credentials: CredentialSource;
  private readonly challenges = new Map<string, Challenge>();
  private readonly tokens = new Lru<string, Promise<Token>>(1024);

  constructor(transport: Transport, credentials: CredentialSource) {
    this.transport = transport;
    this.credentials = credentials;
  }

  /**
   * The Authorization header for a request to `registry` needing `scopes` ("repository:team/app:pull"),
   * once the registry's challenge is known; undefined before that, or for Basic without credentials.
   */
  async authorization(registry: string, scopes: string[], refresh = false): Promise<string | undefined> {
    const challenge = this.challenges.get(registry);
    if (!challenge) return undefined;
    const found = this.credentials(registry);
    if (challenge.scheme === "basic") {
      const c = found.credentials;
      return c && "username" in c ? `Basic ${Buffer.from(`${c.username}:${c.password}`).toString("base64")}` : undefined;
    }
    return `Bearer ${(await this.token(registry, challenge, scopes, found, refresh)).value}`;
  }

  /** Records the challenge of a 401 answer; returns the scopes it asks for, to add to the next token request. */
  learn(registry: string, wwwAuthenticate: string | undefined, what: string): string[] {
    const challenge = parseChallenges(wwwAuthenticate ?? "")[0];
    if (!challenge)
      throw new RegistryError(`${what}: ${registry} requires authentication but sent no Basic or Bearer challenge`, { status: 401 });
    this.challenges.set(registry, challenge);
    return challenge.params.scope?.split(" ").filter(Boolean) ?? [];
  }

  /** Why a request stayed unauthorized, for the message: no credentials, a helper we do not run, or refused ones. */
  explainRefusal(registry: string): string {
    const found = this.credentials(registry);
    if (found.credentials) return `${registry} refused the credentials`;
    return (
      found.note ??
      `${registry} requires authentication and no credentials are configured for it (docker login writes them to the docker config)`
    );
  }

  /** A cached token for these scopes while it is valid; one fetch at a time per scope otherwise. */
  private async token(registry: string, challenge: Challenge, scopes: string[], found: CredentialLookup, refresh: boolean): Promise<Token> {
    const merged = mergeScopes(scopes);
    const key = `${registry} ${challenge.params.realm} ${merged.join(" ")}`;
    const cached = this.tokens.get(key);
    if (cached && !refresh) {
      const token = await cached.catch(() => undefined);
      if (token && token.expiresAt > Date.now()) return token;
      const newer = this.tokens.get(key);
      if (newer && newer !== cached) return newer;
    }
    const fetching = this.fetchToken(registry, challenge, merged, found);
    this.tokens.set(key, fetching);
    return fetching;
  }

  private async fetchToken(registry: string, challenge: Challenge, scopes: string[], found: CredentialLookup): Promise<Token> {
    const what = `token for ${registry}`;
    const realm = challenge.params.realm;
    if (!realm || !URL.canParse(realm)) throw new RegistryError(`${what}: the Bearer challenge has no valid realm (${realm ?? "none"})`);
    const url = new URL(realm);
    this.transport.checkUrl(url, what);
    const creds = found.credentials;
    const form = new URLSearchParams();
    if (challenge.params.service) form.set("service", challenge.params.service);
    for (const scope of scopes) form.append("scope", scope);
    let res;
    if (creds && "identityToken" in creds) {
      // OAuth2 refresh-token grant (the token spec's "oauth" flow), as docker does with an identity token.
      form.set("grant_type", "refresh_token");
      form.set("refresh_token", creds.identityToken);
      form.set("client_id", "vigil");
      res = await this.transport.send({
        method: "POST",
        url,
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: Buffer.from(form.toString()),
        what,
      });
    } else {
      for (const [k, v] of form) url.searchParams.append(k, v);
      const headers: Record<string, string> = creds
        ? { authorization: `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString("base64")}` }
        : {};
      res = await this.transport.send({ method: "GET", url, headers, what });
    }
    const body = await readBody(res, MAX_TOKEN_RESPONSE, this.transport.timeouts);
    if (res.status === 401 || res.status === 403) {
      throw new RegistryError(
        `${what}: the token server ${url.origin} refused ${creds ? "the credentials" : "anonymous access"} (${res.status})${creds ? "" : `; ${this.explainRefusal(registry)}`}`,
        { status: 401 },
      );
    }
    if (res.status !== 200)
      throw new RegistryError(`${what}: the token server ${url.origin} answered ${res.status}`, { status: res.status });
    return parseTokenResponse(body, what);
  }
}

function parseTokenResponse(body: Buffer, what: string): Token {
  let doc: { token?: unknown; access_token?: unknown; expires_in?: unknown };
  try {
    doc = JSON.parse(body.toString("utf8"));
  } catch {
    throw new RegistryError(`${what}: the token server's answer is not JSON`);
  }
  const value = typeof doc.token === "string" && doc.token !== "" ? doc.token : doc.access_token;
  if (typeof value !== "string" || value === "") throw new RegistryError(`${what}: the token server's answer has no token`);
  const seconds = typeof doc.expires_in === "number" && doc.expires_in > 0 ? doc.expires_in : DEFAULT_TOKEN_SECONDS;
  // Renew a little early, so a token never expires between being chosen and being checked.
  return { value, expiresAt: Date.now() + Math.max(seconds - 10, 1) * 1000 };
}
