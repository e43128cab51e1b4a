// Who is calling: a bearer token from the configuration (compared as SHA-256 digests, in constant time),
// or an OIDC ID token from the configured issuer (a JWT whose signature, issuer, audience and times are
// checked against the issuer's published keys), mapped to a role. Anything else is refused with the
// reason; the token itself is never logged or echoed.
import { createHash, createPublicKey, timingSafeEqual, verify, type JsonWebKey, type KeyObject } from "node:crypto";
import type { ConsoleConfig, Role } from "./config.ts";

export interface Caller {
  name: string;
  role: Role;
  /** "token" or the OIDC issuer. */
  via: string;
}

export type Authentication = { caller: Caller } | { refused: string; status: 401 | 403 };

/** A bearer credential longer than this is refused unread. */
const MAX_CREDENTIAL = 16 * 1024;
/** Leeway for clocks that differ between the issuer and this machine. */
const CLOCK_SKEW_SECONDS = 60;
const JWKS_TTL_MS = 10 * 60_000;
/** An unknown key id refetches the issuer's keys, but not more often than this (a stream of forged kids costs one fetch). */
const JWKS_REFETCH_MS = 30_000;
const FETCH_TIMEOUT_MS = 5_000;
const MAX_DOCUMENT = 1024 * 1024;

export function tokenDigest(token: string): Buffer {
  return createHash("sha256").update(token, "utf8").digest();
}

interface KnownToken {
  name: string;
  role: Role;
  digest: Buffer;
}

export class Authenticator {
  readonly #tokens: KnownToken[];
  readonly #oidc: OidcVerifier | undefined;

  constructor(config: Pick<ConsoleConfig, "tokens" | "oidc">) {
    this.#tokens = config.tokens.map((t) => ({ name: t.name, role: t.role, digest: Buffer.from(t.sha256, "hex") }));
    this.#oidc = config.oidc && new OidcVerifier(config.oidc);
  }

  async authenticate(header: string | undefined): Promise<Authentication> {
    if (header === undefined) return { refused: "no credentials: send Authorization: Bearer TOKEN", status: 401 };
    const match = /^Bearer ([\x21-\x7e]+)$/.exec(header);
    if (!match) return { refused: 'the Authorization header is not "Bearer TOKEN"', status: 401 };
    const credential = match[1]!;
    if (credential.length > MAX_CREDENTIAL) return { refused: `the bearer credential is over ${MAX_CREDENTIAL} bytes`, status: 401 };
    if (this.#oidc && looksLikeJwt(credential)) return this.#oidc.authenticate(credential);
    const digest = tokenDigest(credential);
    // Every configured token is compared, so the time taken does not say which one came close.
    let found: KnownToken | undefined;
    for (const t of this.#tokens) if (timingSafeEqual(t.digest, digest)) found = t;
    if (!found) return { refused: "unknown bearer token", status: 401 };
    return { caller: { name: found.name, role: found.role, via: "token" } };
  }
}

const looksLikeJwt = (text: string) => /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/.test(text);

type OidcConfig = NonNullable<ConsoleConfig["oidc"]>;

/** The JOSE algorithms accepted, each with how node:crypto verifies it. "none" and HMAC never are. */
const ALGORITHMS: Record<string, { hash: string | null; kty: string; options?: object }> = {
  RS256: { hash: "sha256", kty: "RSA" },
  RS384: { hash: "sha384", kty: "RSA" },
  RS512: { hash: "sha512", kty: "RSA" },
  PS256: { hash: "sha256", kty: "RSA", options: { padding: 6, saltLength: 32 } },
  ES256: { hash: "sha256", kty: "EC", options: { dsaEncoding: "ieee-p1363" } },
  ES384: { hash: "sha384", kty: "EC", options: { dsaEncoding: "ieee-p1363" } },
  EdDSA: { hash: null, kty: "OKP" },
};

class OidcVerifier {
  readonly #config: OidcConfig;
  #keys: { at: number; byKid: Map<string, { key: KeyObject; kty: string }> } | undefined;
  #lastFetch = 0;

  constructor(config: OidcConfig) {
    this.#config = config;
  }

  async authenticate(jwt: string): Promise<Authentication> {
    const refuse = (why: string): Authentication => ({ refused: `OIDC token: ${why}`, status: 401 });
    const [head, body, sig] = jwt.split(".") as [string, string, string];
    const header = decodeJson(head);
    const claims = decodeJson(body);
    if (!header || !claims) return refuse("its header or claims are not base64url JSON objects");
    const alg = ALGORITHMS[String(header.alg)];
    if (!alg) return refuse(`algorithm ${JSON.stringify(header.alg)} is not accepted (RS256, RS384, RS512, PS256, ES256, ES384, EdDSA)`);
    if (typeof header.kid !== "string") return refuse("its header names no key (kid)");
    let key: { key: KeyObject; kty: string } | undefined;
    try {
      key = await this.#key(header.kid);
    } catch (e) {
      return { refused: `OIDC issuer ${this.#config.issuer} unavailable: ${(e as Error).message}`, status: 401 };
    }
    if (!key) return refuse(`the issuer publishes no key ${JSON.stringify(header.kid)}`);
    if (key.kty !== alg.kty) return refuse(`key ${header.kid} is ${key.kty}, not a key for ${String(header.alg)}`);
    const signed = Buffer.from(`${head}.${body}`, "ascii");
    const signature = Buffer.from(sig, "base64url");
    let valid = false;
    try {
      valid = verify(alg.hash, signed, { key: key.key, ...alg.options } as Parameters<typeof verify>[2], signature);
    } catch {
      valid = false;
    }
    if (!valid) return refuse("the signature does not verify with the issuer's key");
    const now = Math.floor(Date.now() / 1000);
    if (claims.iss !== this.#config.issuer) return refuse(`issued by ${JSON.stringify(claims.iss)}, not ${this.#config.issuer}`);
    const aud = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
    if (!aud.includes(this.#config.audience)) return refuse(`not issued to ${this.#config.audience} (aud ${JSON.stringify(claims.aud)})`);
    if (typeof claims.exp !== "number") return refuse("it has no expiry (exp)");
    if (claims.exp + CLOCK_SKEW_SECONDS < now) return refuse(`expired at ${new Date(claims.exp * 1000).toISOString()}`);
    if (typeof claims.nbf === "number" && claims.nbf - CLOCK_SKEW_SECONDS > now) return refuse("not valid yet (nbf)");
    if (typeof claims.iat === "number" && claims.iat - CLOCK_SKEW_SECONDS > now) return refuse("issued in the future (iat)");
    const name = [claims.email, claims.preferred_username, claims.sub].find(
      (c): c is string => typeof c === "string" && c.length > 0 && c.length <= 256,
    );
    if (!name) return refuse("it names nobody (email, preferred_username or sub)");
    const raw = claims[this.#config.groupsClaim];
    const groups = typeof raw === "string" ? [raw] : Array.isArray(raw) ? raw.filter((g): g is string => typeof g === "string") : [];
    const role: Role | undefined = groups.some((g) => this.#config.roles.auditor.includes(g))
      ? "auditor"
      : groups.some((g) => this.#config.roles.viewer.includes(g))
        ? "viewer"
        : undefined;
    if (!role) return { refused: `${name} is in no group the console gives a role to (claim ${this.#config.groupsClaim})`, status: 403 };
    return { caller: { name, role, via: this.#config.issuer } };
  }

  /** The issuer's key with this id, from its JWKS (discovered at ISSUER/.well-known/openid-configuration). */
  async #key(kid: string): Promise<{ key: KeyObject; kty: string } | undefined> {
    const fresh = this.#keys && Date.now() - this.#keys.at < JWKS_TTL_MS;
    if (fresh && this.#keys!.byKid.has(kid)) return this.#keys!.byKid.get(kid);
    if (!fresh || Date.now() - this.#lastFetch > JWKS_REFETCH_MS) {
      this.#lastFetch = Date.now();
      this.#keys = { at: Date.now(), byKid: await this.#fetchKeys() };
    }
    return this.#keys?.byKid.get(kid);
  }

  async #fetchKeys(): Promise<Map<string, { key: KeyObject; kty: string }>> {
    const issuer = this.#config.issuer;
    const discovery = await fetchJson(`${issuer.replace(/\/$/, "")}/.well-known/openid-configuration`);
    // OpenID Connect Discovery §4.3: the document must name the issuer it was fetched for.
    if (discovery.issuer !== issuer) throw new Error(`its discovery document names issuer ${JSON.stringify(discovery.issuer)}`);
    if (typeof discovery.jwks_uri !== "string") throw new Error("its discovery document has no jwks_uri");
    const jwksUri = new URL(discovery.jwks_uri);
    if (jwksUri.protocol !== "https:" && !(jwksUri.protocol === "http:" && new URL(issuer).protocol === "http:"))
      throw new Error("its jwks_uri is not https://");
    const jwks = await fetchJson(jwksUri.href);
    const byKid = new Map<string, { key: KeyObject; kty: string }>();
    for (const jwk of Array.isArray(jwks.keys) ? jwks.keys.slice(0, 100) : []) {
      if (typeof jwk?.kid !== "string" || typeof jwk.kty !== "string" || (jwk.use !== undefined && jwk.use !== "sig")) continue;
      try {
        byKid.set(jwk.kid, { key: createPublicKey({ key: jwk as JsonWebKey, format: "jwk" }), kty: jwk.kty });
      } catch {
        // A key node:crypto cannot read is skipped: a token naming it is refused as signed by an unknown key.
      }
    }
    return byKid;
  }
}

function decodeJson(part: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(Buffer.from(part, "base64url").toString("utf8"));
    return value !== null && typeof value === "object" && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

async function fetchJson(url: string): Promise<Record<string, any>> {
  const response = await fetch(url, { signal: AbortSignal.timeout(FETCH_TIMEOUT_MS), redirect: "error" });
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  const body = await response.arrayBuffer();
  if (body.byteLength > MAX_DOCUMENT) throw new Error(`${url}: over ${MAX_DOCUMENT} bytes`);
  const value: unknown = JSON.parse(Buffer.from(body).toString("utf8"));
  if (value === null || typeof value !== "object") throw new Error(`${url}: not a JSON object`);
  return value as Record<string, any>;
}
