// Keyless signing in CI, as cosign does it: an ephemeral key; an OIDC identity token from the CI's
// environment; a short-lived certificate for that key and identity from Fulcio (API v2,
// /api/v2/signingCert, with proof of possession); every signed DSSE statement logged in Rekor (API v1, a
// "dsse" entry); the certificate and the log entry put in a v0.3 Sigstore bundle, pushed as the image's
// referrer. Which Fulcio and Rekor is read from a Sigstore signing config (signing_config.v0.2), the file
// the Sigstore services publish through TUF; nothing is assumed.
//
// The token is a credential: it goes to Fulcio only, is never printed, and is cut out of any message
// built from a service's answer.
import { X509Certificate, createPublicKey, type KeyObject } from "node:crypto";
import { request } from "undici";
import { InputError, UnavailableError } from "../core/errors.ts";
import { readInputText } from "../core/input-file.ts";
import { attachBundle } from "../artifact/sign-image.ts";
import { isLoopbackHost, type ImageReference, type RegistryClient } from "../oci/index.ts";
import { parseBundle } from "../sigstore/bundle.ts";
import { envelopeToJson, signEnvelope } from "../sigstore/dsse.ts";
import { COSIGN_SIGNATURE_PREDICATE } from "../sigstore/image.ts";
import { INTOTO_PAYLOAD_TYPE, makeStatement } from "../sigstore/intoto.ts";
import { generateSigningKey, publicKeyPem, signData, type SigningKey } from "../sigstore/keys.ts";
import type { Env } from "./provenance.ts";
import type { ImageSigner } from "./signer.ts";

export const SIGNING_CONFIG_MEDIA_TYPE = "application/vnd.dev.sigstore.signingconfig.v0.2+json";
/** Fulcio's /api/v2 is major API version 1 in a signing config; Rekor's /api/v1 is 1 (Rekor v2 is 2). */
const FULCIO_API = 1;
const REKOR_API = 1;
const MAX_ANSWER_BYTES = 1 << 20;
const TIMEOUT_MS = 30_000;

export interface SigningServices {
  fulcio: string;
  rekor: string;
}

// ---------------------------------------------------------------------------------------------------
// The signing config

/** The Fulcio and Rekor to use: the first of each, in the file's order, valid at `now` and of an API version Vigil speaks. */
export function parseSigningConfig(text: string, source: string, now = new Date()): SigningServices {
  let doc: any;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new InputError(`${source}: not JSON (${(e as Error).message})`);
  }
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) throw new InputError(`${source}: a signing config is a JSON object`);
  if (doc.mediaType !== SIGNING_CONFIG_MEDIA_TYPE) {
    throw new InputError(
      `${source}: mediaType ${JSON.stringify(doc.mediaType)} is not ${SIGNING_CONFIG_MEDIA_TYPE} (older signing configs name no API versions and validity)`,
    );
  }
  return {
    fulcio: pickService(doc.caUrls, "caUrls", FULCIO_API, source, now),
    rekor: pickService(doc.rekorTlogUrls, "rekorTlogUrls", REKOR_API, source, now),
  };
}

function pickService(list: unknown, field: string, api: number, source: string, now: Date): string {
  if (!Array.isArray(list)) throw new InputError(`${source}: ${field} is missing or not a list`);
  list.forEach((service, i) => checkService(service, `${source}: ${field}[${i}]`));
  const usable = (list as Service[]).find((s) => s.majorApiVersion === api && validAt(s.validFor, now));
  if (!usable) throw new InputError(`${source}: ${field} lists no service of major API version ${api} valid now (${now.toISOString()})`);
  return usable.url.replace(/\/+$/, "");
}

interface Service {
  url: string;
  majorApiVersion: number;
  validFor: { start: string; end?: string };
}

function checkService(value: unknown, at: string): void {
  const s = value as Partial<Service> | null;
  if (typeof s !== "object" || s === null) throw new InputError(`${at} is not an object`);
  if (typeof s.url !== "string" || !isHttpsUrl(s.url))
    throw new InputError(`${at}.url must be an https:// URL without credentials (got ${JSON.stringify(s.url)})`);
  if (!Number.isInteger(s.majorApiVersion)) throw new InputError(`${at}.majorApiVersion must be an integer`);
  const v = s.validFor;
  if (typeof v !== "object" || v === null || !isTime(v.start) || (v.end !== undefined && !isTime(v.end))) {
    throw new InputError(`${at}.validFor must have an RFC 3339 start (and optionally end)`);
  }
}

function isHttpsUrl(text: string): boolean {
  try {
    const url = new URL(text);
    return url.protocol === "https:" && !url.username && !url.password;
  } catch {
    return false;
  }
}

const isTime = (t: unknown): t is string =>
  typeof t === "string" && /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/.test(t) && !Number.isNaN(Date.parse(t));
const validAt = (v: Service["validFor"], now: Date) =>
  Date.parse(v.start) <= now.getTime() && (v.end === undefined || now.getTime() < Date.parse(v.end));

// ---------------------------------------------------------------------------------------------------
// The identity token

/**
 * The CI's OIDC token for audience "sigstore": SIGSTORE_ID_TOKEN when set (GitLab's id_tokens, and what
 * cosign reads), else requested from GitHub Actions (ACTIONS_ID_TOKEN_REQUEST_URL and _TOKEN, present
 * when the workflow grants id-token: write).
 */
export async function identityToken(env: Env): Promise<string> {
  if (env.SIGSTORE_ID_TOKEN) return checkToken(env.SIGSTORE_ID_TOKEN, "SIGSTORE_ID_TOKEN");
  const url = env.ACTIONS_ID_TOKEN_REQUEST_URL;
  const bearer = env.ACTIONS_ID_TOKEN_REQUEST_TOKEN;
  if (!url || !bearer) {
    throw new InputError(
      "--keyless needs an OIDC identity token: set SIGSTORE_ID_TOKEN (GitLab: id_tokens with aud sigstore), or in GitHub Actions grant the job `permissions: id-token: write`",
    );
  }
  let address: URL;
  try {
    address = new URL(url);
  } catch {
    throw new InputError("ACTIONS_ID_TOKEN_REQUEST_URL is not a URL");
  }
  if (address.protocol !== "https:" && !(address.protocol === "http:" && isLoopbackHost(address.host))) {
    throw new InputError(
      "ACTIONS_ID_TOKEN_REQUEST_URL must be https (plain http only to loopback): its bearer token must not travel in the clear",
    );
  }
  address.searchParams.set("audience", "sigstore");
  const answer = await postOrGet(
    address,
    { method: "GET", headers: { authorization: `Bearer ${bearer}`, accept: "application/json" } },
    "GitHub's ID-token service",
    [bearer],
  );
  const value = (answer as { value?: unknown }).value;
  if (typeof value !== "string") throw new UnavailableError('GitHub\'s ID-token service answered without a token (no "value")');
  return checkToken(value, "the token GitHub Actions issued");
}

interface TokenClaims {
  iss: string;
  sub: string;
  email?: string;
  exp: number;
}

/** The token's shape and expiry, checked before anything is signed; Fulcio verifies its signature. */
function checkToken(token: string, what: string): string {
  tokenClaims(token, what);
  return token;
}

function tokenClaims(token: string, what: string): TokenClaims {
  const parts = token.split(".");
  if (parts.length !== 3 || token.length > 64 * 1024) throw new InputError(`${what} is not a JWT (three base64url parts)`);
  let claims: any;
  try {
    claims = JSON.parse(Buffer.from(parts[1]!, "base64url").toString("utf8"));
  } catch {
    throw new InputError(`${what}: its claims are not JSON`);
  }
  if (typeof claims?.iss !== "string" || typeof claims.sub !== "string") throw new InputError(`${what} lacks its iss or sub claim`);
  if (typeof claims.exp !== "number" || claims.exp * 1000 <= Date.now())
    throw new InputError(`${what} has expired (exp ${claims.exp}); request a new one in this job`);
  return claims as TokenClaims;
}

/** What Fulcio's proof of possession signs: the email for the email issuers, else the subject (as Sigstore's clients do). */
function challengeSubject(claims: TokenClaims): string {
  const emailIssuers = ["https://accounts.google.com", "https://oauth2.sigstore.dev/auth"];
  return emailIssuers.includes(claims.iss) && typeof claims.email === "string" ? claims.email : claims.sub;
}

// ---------------------------------------------------------------------------------------------------
// Fulcio and Rekor

/** A certificate chain (leaf first, DER) for `key` and the token's identity, from Fulcio's /api/v2/signingCert. */
export async function requestCertificate(fulcio: string, token: string, key: SigningKey): Promise<Buffer[]> {
  const claims = tokenClaims(token, "the identity token");
  const body = {
    credentials: { oidcIdentityToken: token },
    publicKeyRequest: {
      publicKey: { algorithm: "ECDSA", content: publicKeyPem(key.publicKey) },
      proofOfPossession: signData(key, Buffer.from(challengeSubject(claims))).toString("base64"),
    },
  };
  const answer = (await postOrGet(new URL(`${fulcio}/api/v2/signingCert`), jsonPost(body), `Fulcio (${fulcio})`, [token])) as any;
  const chain = answer?.signedCertificateEmbeddedSct?.chain?.certificates ?? answer?.signedCertificateDetachedSct?.chain?.certificates;
  if (!Array.isArray(chain) || chain.length === 0 || !chain.every((c: unknown) => typeof c === "string")) {
    throw new UnavailableError(`Fulcio (${fulcio}) answered without a certificate chain`);
  }
  const certificates = chain.map((pem: string) => {
    try {
      return new X509Certificate(pem);
    } catch (e) {
      throw new UnavailableError(`Fulcio (${fulcio}) returned a malformed certificate: ${(e as Error).message}`);
    }
  });
  // Fail closed: a certificate for any other key would sign nothing of ours.
  if (!samePublicKey(certificates[0]!.publicKey, key.publicKey))
    throw new UnavailableError(`Fulcio (${fulcio}) issued a certificate for another public key; refusing it`);
  return certificates.map((c) => Buffer.from(c.raw));
}

function samePublicKey(a: KeyObject, b: KeyObject): boolean {
  return a.export({ format: "der", type: "spki" }).equals(createPublicKey(b).export({ format: "der", type: "spki" }));
}

/** Logs a DSSE envelope in Rekor (/api/v1/log/entries, kind dsse 0.0.1) and returns the bundle's tlog entry. */
export async function logEnvelope(rekor: string, envelope: ReturnType<typeof envelopeToJson>, leaf: Buffer): Promise<unknown> {
  const certPem = new X509Certificate(leaf).toString();
  const body = {
    apiVersion: "0.0.1",
    kind: "dsse",
    spec: { proposedContent: { envelope: JSON.stringify(envelope), verifiers: [Buffer.from(certPem).toString("base64")] } },
  };
  const answer = (await postOrGet(new URL(`${rekor}/api/v1/log/entries`), jsonPost(body), `Rekor (${rekor})`, [])) as Record<string, any>;
  const entries = Object.values(answer ?? {});
  const entry = entries[0];
  const proof = entry?.verification?.inclusionProof;
  if (
    entries.length !== 1 ||
    typeof entry.body !== "string" ||
    !Number.isInteger(entry.logIndex) ||
    !Number.isInteger(entry.integratedTime) ||
    typeof entry.logID !== "string" ||
    !/^[0-9a-f]{64}$/.test(entry.logID) ||
    typeof entry.verification?.signedEntryTimestamp !== "string"
  ) {
    throw new UnavailableError(
      `Rekor (${rekor}) answered without a complete log entry (body, logIndex, integratedTime, logID, signedEntryTimestamp)`,
    );
  }
  const hex = (h: unknown) => Buffer.from(String(h), "hex").toString("base64");
  return {
    logIndex: String(entry.logIndex),
    logId: { keyId: hex(entry.logID) },
    kindVersion: { kind: "dsse", version: "0.0.1" },
    integratedTime: String(entry.integratedTime),
    inclusionPromise: { signedEntryTimestamp: entry.verification.signedEntryTimestamp },
    ...(proof &&
      Array.isArray(proof.hashes) &&
      typeof proof.checkpoint === "string" && {
        inclusionProof: {
          logIndex: String(proof.logIndex),
          rootHash: hex(proof.rootHash),
          treeSize: String(proof.treeSize),
          hashes: proof.hashes.map(hex),
          checkpoint: { envelope: proof.checkpoint },
        },
      }),
    canonicalizedBody: entry.body,
  };
}

const jsonPost = (body: unknown) => ({
  method: "POST" as const,
  headers: { "content-type": "application/json", accept: "application/json" },
  body: JSON.stringify(body),
});

/** One HTTPS exchange with bounded time and size. Unreachable or failing is exit 3; a refused identity is bad input (exit 2). */
async function postOrGet(
  url: URL,
  init: { method: "GET" | "POST"; headers: Record<string, string>; body?: string },
  who: string,
  secrets: string[],
): Promise<unknown> {
  const hide = (text: string) => secrets.reduce((t, s) => (s ? t.split(s).join("[redacted]") : t), text);
  let res: Awaited<ReturnType<typeof request>>;
  try {
    res = await request(url, { ...init, headersTimeout: TIMEOUT_MS, bodyTimeout: TIMEOUT_MS, maxRedirections: 0 } as Parameters<
      typeof request
    >[1]);
  } catch (e) {
    throw new UnavailableError(`${who} is unreachable: ${hide((e as Error).message)}`);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res.body) {
    size += (chunk as Buffer).length;
    if (size > MAX_ANSWER_BYTES) {
      res.body.destroy();
      throw new UnavailableError(`${who} answered with more than ${MAX_ANSWER_BYTES} bytes`);
    }
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks).toString("utf8");
  if (res.statusCode === 400 || res.statusCode === 401 || res.statusCode === 403) {
    throw new InputError(`${who} refused the request (HTTP ${res.statusCode}): ${hide(text.slice(0, 300))}`);
  }
  if (res.statusCode < 200 || res.statusCode > 299)
    throw new UnavailableError(`${who} answered HTTP ${res.statusCode}: ${hide(text.slice(0, 300))}`);
  try {
    return JSON.parse(text);
  } catch {
    throw new UnavailableError(`${who} answered with something other than JSON`);
  }
}

// ---------------------------------------------------------------------------------------------------
// The signer

export interface KeylessOptions {
  signingConfigPath: string;
  env: Env;
}

/**
 * A signer that, on first use, makes an ephemeral key, takes the CI's identity token and gets Fulcio's
 * certificate for them (once, shared by the signature and both attestations), then logs each statement
 * in Rekor and pushes its bundle. The key never leaves the process.
 */
export async function keylessSigner(options: KeylessOptions): Promise<ImageSigner> {
  const services = parseSigningConfig(readInputText(options.signingConfigPath, "the signing config"), options.signingConfigPath);
  const token = await identityToken(options.env);
  const claims = tokenClaims(token, "the identity token");
  const key = generateSigningKey();
  let chain: Promise<Buffer[]> | undefined;
  const certificate = () => (chain ??= requestCertificate(services.fulcio, token, key));
  const publish = async (client: RegistryClient, image: ImageReference, predicateType: string, predicate: unknown) => {
    const statement = makeStatement([{ name: `${image.registry}/${image.repository}`, digest: image.digest! }], predicateType, predicate);
    const envelope = envelopeToJson(signEnvelope(INTOTO_PAYLOAD_TYPE, statement, [{ key, keyid: "" }]));
    const [leaf] = await certificate();
    const tlogEntry = await logEnvelope(services.rekor, envelope, leaf!);
    const bundle = JSON.stringify({
      mediaType: "application/vnd.dev.sigstore.bundle.v0.3+json",
      verificationMaterial: { certificate: { rawBytes: leaf!.toString("base64") }, tlogEntries: [tlogEntry] },
      dsseEnvelope: envelope,
    });
    parseBundle(bundle, "the bundle made for Rekor's entry"); // what is pushed reads back as a bundle
    return attachBundle(client, image, Buffer.from(bundle), predicateType);
  };
  return {
    description: `keyless (${claims.iss}, ${claims.sub}) via ${services.fulcio} and ${services.rekor}`,
    sign: (client, image) => publish(client, image, COSIGN_SIGNATURE_PREDICATE, {}),
    attest: (client, image, predicate, predicateType) => publish(client, image, predicateType, predicate),
  };
}
