// OIDC at the console: a real issuer on loopback (discovery document and JWKS over HTTP) signs ID
// tokens with RSA and ECDSA keys; the console accepts those its configuration lets in, with the role
// their groups name, and refuses every forged, expired, misdirected or unsigned one with the reason.
import assert from "node:assert/strict";
import { createHash, createSign, generateKeyPairSync, randomBytes, sign, type KeyObject } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { Agent, fetch } from "undici";
import { loadConsoleConfig } from "../src/console/config.ts";
import { startConsole } from "../src/console/server.ts";
import { launchChromium, screenshot } from "./helpers/browser.ts";
import { makeConsoleFixture } from "./helpers/console-fixture.ts";
import { tempDir } from "./helpers/tools.ts";

const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 });
const ec = generateKeyPairSync("ec", { namedCurve: "P-256" });
const stranger = generateKeyPairSync("rsa", { modulusLength: 2048 });

interface Issuer {
  url: string;
  requests: number;
  /** Redirect URIs registered for the client "vigil-console". */
  redirects: Set<string>;
  close(): Promise<void>;
}

/**
 * An OpenID provider on loopback: its discovery document and JWKS, and the authorization code flow with
 * PKCE for a public client (the person "sam", already signed in at the provider, is sent straight back).
 */
async function startIssuer(): Promise<Issuer> {
  const state = { url: "", requests: 0, redirects: new Set<string>() };
  const codes = new Map<string, { challenge: string; nonce: string; redirect: string }>();
  const server: Server = createServer(async (req, res) => {
    state.requests++;
    res.setHeader("content-type", "application/json");
    res.setHeader("access-control-allow-origin", "*");
    const url = new URL(req.url ?? "/", state.url);
    if (url.pathname === "/authorize") {
      const q = url.searchParams;
      if (
        q.get("client_id") !== "vigil-console" ||
        !state.redirects.has(q.get("redirect_uri") ?? "") ||
        q.get("code_challenge_method") !== "S256" ||
        !q.get("code_challenge")
      ) {
        res.statusCode = 400;
        return res.end(JSON.stringify({ error: "invalid_request" }));
      }
      const code = randomBytes(16).toString("hex");
      codes.set(code, { challenge: q.get("code_challenge")!, nonce: q.get("nonce") ?? "", redirect: q.get("redirect_uri")! });
      res.statusCode = 302;
      res.setHeader("location", `${q.get("redirect_uri")}?${new URLSearchParams({ code, state: q.get("state") ?? "" })}`);
      return res.end();
    }
    if (url.pathname === "/token" && req.method === "POST") {
      let body = "";
      for await (const chunk of req) body += chunk;
      const form = new URLSearchParams(body);
      const grant = codes.get(form.get("code") ?? "");
      codes.delete(form.get("code") ?? "");
      const verified =
        grant &&
        createHash("sha256")
          .update(form.get("code_verifier") ?? "")
          .digest("base64url") === grant.challenge &&
        form.get("redirect_uri") === grant.redirect;
      if (!verified) {
        res.statusCode = 400;
        return res.end(JSON.stringify({ error: "invalid_grant" }));
      }
      const now = Math.floor(Date.now() / 1000);
      const idToken = jwt(
        { alg: "RS256", kid: "rsa-1" },
        {
          iss: state.url,
          aud: "vigil-console",
          sub: "u-1",
          email: "sam@example.com",
          groups: ["security-auditors"],
          nonce: grant.nonce,
          iat: now,
          exp: now + 300,
        },
        rsa.privateKey,
      );
      return res.end(JSON.stringify({ id_token: idToken, token_type: "Bearer", expires_in: 300 }));
    }
    if (req.url === "/.well-known/openid-configuration") {
      return res.end(
        JSON.stringify({
          issuer: state.url,
          jwks_uri: `${state.url}/jwks`,
          authorization_endpoint: `${state.url}/authorize`,
          token_endpoint: `${state.url}/token`,
          id_token_signing_alg_values_supported: ["RS256", "ES256"],
          code_challenge_methods_supported: ["S256"],
        }),
      );
    }
    if (req.url === "/jwks") {
      const jwk = (key: KeyObject, kid: string, alg: string) => ({ ...key.export({ format: "jwk" }), kid, alg, use: "sig" });
      return res.end(JSON.stringify({ keys: [jwk(rsa.publicKey, "rsa-1", "RS256"), jwk(ec.publicKey, "ec-1", "ES256")] }));
    }
    res.statusCode = 404;
    res.end("{}");
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return Object.assign(state, { close: () => new Promise<void>((resolve) => server.close(() => resolve())) });
}

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");

function jwt(header: Record<string, unknown>, claims: Record<string, unknown>, key: KeyObject | null): string {
  const input = `${b64(header)}.${b64(claims)}`;
  if (!key) return `${input}.`;
  const signature =
    header.alg === "ES256"
      ? sign("sha256", Buffer.from(input), { key, dsaEncoding: "ieee-p1363" })
      : createSign("sha256").update(input).sign(key);
  return `${input}.${signature.toString("base64url")}`;
}

test("OIDC ID tokens: roles from groups; forged, expired, misdirected and unsigned tokens refused with the reason", async (t) => {
  const issuer = await startIssuer();
  t.after(() => issuer.close());
  const dir = tempDir(t);
  const world = await makeConsoleFixture(dir);
  const configFile = join(dir, "console-oidc.yaml");
  writeFileSync(
    configFile,
    `apiVersion: vigil.dev/v1alpha1
kind: ConsoleConfig
listen: 127.0.0.1:0
tls: { generate: localhost }
audit: { log: audit, verifierKey: "${world.verifierKey}" }
oidc:
  issuer: ${issuer.url}
  audience: vigil-console
  roles: { auditor: [security-auditors], viewer: [engineering] }
`,
  );
  const running = await startConsole(loadConsoleConfig(configFile));
  t.after(() => running.close());
  const dispatcher = new Agent({ connect: { ca: running.certificate } });
  const call = async (path: string, token: string) => {
    const r = await fetch(new URL(path, running.url), { dispatcher, headers: { authorization: `Bearer ${token}` } });
    return { status: r.status, body: (await r.json()) as any };
  };
  const now = Math.floor(Date.now() / 1000);
  const claims = (extra: Record<string, unknown> = {}) => ({
    iss: issuer.url,
    aud: "vigil-console",
    sub: "u-1",
    email: "sam@example.com",
    groups: ["security-auditors"],
    iat: now,
    exp: now + 300,
    ...extra,
  });
  const rs = { alg: "RS256", kid: "rsa-1", typ: "JWT" };

  const auditor = await call("/api/v1/audit/search", jwt(rs, claims(), rsa.privateKey));
  assert.equal(auditor.status, 200);
  assert.deepEqual(
    (await call("/api/v1/me", jwt({ alg: "ES256", kid: "ec-1" }, claims({ aud: ["other", "vigil-console"] }), ec.privateKey))).body,
    { name: "sam@example.com", role: "auditor", via: issuer.url },
  );
  const viewer = jwt(rs, claims({ groups: "engineering" }), rsa.privateKey);
  assert.equal((await call("/api/v1/environments", viewer)).status, 200);
  assert.equal((await call("/api/v1/audit/search", viewer)).status, 403);

  const refusals: [string, string, number, RegExp][] = [
    ["no group with a role", jwt(rs, claims({ groups: ["sales"] }), rsa.privateKey), 403, /in no group the console gives a role to/],
    ["expired", jwt(rs, claims({ exp: now - 3600 }), rsa.privateKey), 401, /expired at/],
    ["no expiry", jwt(rs, { ...claims(), exp: undefined }, rsa.privateKey), 401, /no expiry/],
    ["not yet valid", jwt(rs, claims({ nbf: now + 3600 }), rsa.privateKey), 401, /not valid yet/],
    ["another audience", jwt(rs, claims({ aud: "grafana" }), rsa.privateKey), 401, /not issued to vigil-console/],
    ["another issuer", jwt(rs, claims({ iss: "https://evil.example.com" }), rsa.privateKey), 401, /issued by "https:\/\/evil.example.com"/],
    ["signed by a stranger's key under the issuer's kid", jwt(rs, claims(), stranger.privateKey), 401, /signature does not verify/],
    [
      "claims changed after signing",
      (() => {
        const [h, , s] = jwt(rs, claims({ groups: ["engineering"] }), rsa.privateKey).split(".");
        return `${h}.${b64(claims())}.${s}`;
      })(),
      401,
      /signature does not verify/,
    ],
    ["alg none", jwt({ alg: "none", kid: "rsa-1" }, claims(), null), 401, /algorithm "none" is not accepted/],
    ["HS256 keyed with the public key", jwt({ alg: "HS256", kid: "rsa-1" }, claims(), null), 401, /algorithm "HS256" is not accepted/],
    [
      "an EC key named for an RSA algorithm",
      jwt({ alg: "RS256", kid: "ec-1" }, claims(), rsa.privateKey),
      401,
      /key ec-1 is EC, not a key for RS256/,
    ],
    ["an unknown kid", jwt({ alg: "RS256", kid: "rsa-9" }, claims(), rsa.privateKey), 401, /publishes no key "rsa-9"/],
    ["names nobody", jwt(rs, { ...claims(), sub: undefined, email: undefined }, rsa.privateKey), 401, /names nobody/],
    ["not JSON", "e30.bm90IGpzb24.c2ln", 401, /not base64url JSON objects/],
  ];
  for (const [what, token, status, reason] of refusals) {
    const r = await call("/api/v1/me", token);
    assert.equal(r.status, status, what);
    assert.match(r.body.error, reason, what);
  }
  // Forged kids do not make the console hammer the issuer: one refetch per 30 s at most.
  const before = issuer.requests;
  for (let i = 0; i < 5; i++) await call("/api/v1/me", jwt({ alg: "RS256", kid: `forged-${i}` }, claims(), rsa.privateKey));
  assert.ok(issuer.requests - before <= 2, `${issuer.requests - before} requests to the issuer for 5 forged kids`);
});

test("OIDC issuer unavailable: refused as unauthenticated, saying the issuer could not be reached", async (t) => {
  const issuer = await startIssuer();
  const url = issuer.url;
  await issuer.close();
  const dir = tempDir(t);
  const world = await makeConsoleFixture(dir);
  const configFile = join(dir, "console-oidc.yaml");
  writeFileSync(
    configFile,
    `apiVersion: vigil.dev/v1alpha1
kind: ConsoleConfig
listen: 127.0.0.1:0
tls: { generate: localhost }
audit: { log: audit, verifierKey: "${world.verifierKey}" }
oidc: { issuer: "${url}", audience: vigil-console, roles: { viewer: [engineering] } }
`,
  );
  const running = await startConsole(loadConsoleConfig(configFile));
  t.after(() => running.close());
  const r = await fetch(new URL("/api/v1/me", running.url), {
    dispatcher: new Agent({ connect: { ca: running.certificate } }),
    headers: {
      authorization: `Bearer ${jwt({ alg: "RS256", kid: "rsa-1" }, { iss: url, aud: "vigil-console", sub: "x", exp: 9e9 }, rsa.privateKey)}`,
    },
  });
  assert.equal(r.status, 401);
  assert.match(((await r.json()) as any).error, new RegExp(`OIDC issuer ${url} unavailable`));
});

test("a person signs in to the web console with the OIDC issuer (authorization code with PKCE) and gets the role their groups name", async (t) => {
  const context = await launchChromium(t);
  if (!context) return;
  const issuer = await startIssuer();
  t.after(() => issuer.close());
  const dir = tempDir(t);
  const world = await makeConsoleFixture(dir);
  const configFile = join(dir, "console-oidc.yaml");
  writeFileSync(
    configFile,
    `apiVersion: vigil.dev/v1alpha1
kind: ConsoleConfig
listen: 127.0.0.1:0
tls: { generate: localhost }
audit: { log: "${world.logDir}", verifierKey: "${world.verifierKey}" }
oidc: { issuer: "${issuer.url}", audience: vigil-console, roles: { auditor: [security-auditors] } }
`,
  );
  const running = await startConsole(loadConsoleConfig(configFile));
  t.after(() => running.close());
  issuer.redirects.add(running.url);
  const page = await context.newPage();
  await page.goto(running.url);
  await page.getByRole("button", { name: `Sign in with ${new URL(issuer.url).host}` }).click();
  await page.getByRole("heading", { name: "Environments" }).waitFor();
  await page.getByText("sam@example.com (auditor)").waitFor();
  assert.equal(new URL(page.url()).search, "", "the code does not stay in the address bar");
  await screenshot(page, "10-oidc-signed-in");

  // A code replayed, or a return this tab did not start, signs nobody in.
  await page.evaluate(() => sessionStorage.clear());
  await page.goto(`${running.url}?code=replayed&state=forged`);
  await page.getByRole("alert").waitFor();
  assert.match(await page.getByRole("alert").innerText(), /not started here/);
});
