// Keyless signing in vigil ci, as far as it can be exercised with no Fulcio or Rekor reachable: the
// Sigstore signing config read strictly (which services, which API versions, valid when), the CI's
// identity token taken from the environment (GitLab's SIGSTORE_ID_TOKEN, GitHub Actions' ID-token request)
// and checked before use, and an unreachable Fulcio failing the pipeline with exit 3 after the scan, with
// nothing pushed and the token in no output. Issuing a certificate and logging in Rekor need the real
// services and are not tested here (see docs/ci.md).
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { join } from "node:path";
import { before, test } from "node:test";
import { identityToken, parseSigningConfig, SIGNING_CONFIG_MEDIA_TYPE } from "../src/ci/keyless.ts";
import { InputError } from "../src/core/errors.ts";
import { importAdvisories } from "../src/vuln/import.ts";
import { SqliteStore } from "../src/vuln/sqlite-store.ts";
import { signingRegistry, type SigningRegistry } from "./helpers/image-signing.ts";
import { freePort, listen, pushTestImage } from "./helpers/registry.ts";
import { fileScope, requireTools, tempDir, vigil } from "./helpers/tools.ts";

const scope = fileScope();
let dir: string;

before(() => {
  dir = tempDir(scope, "vigil-keyless-");
});

const service = (url: string, majorApiVersion: number, start = "2022-01-01T00:00:00Z", end?: string) => ({
  url,
  majorApiVersion,
  validFor: { start, ...(end && { end }) },
  operator: "example.org",
});
const config = (over: Record<string, unknown> = {}) =>
  JSON.stringify({
    mediaType: SIGNING_CONFIG_MEDIA_TYPE,
    caUrls: [service("https://fulcio.example.org", 1)],
    oidcUrls: [service("https://oauth2.example.org/auth", 1)],
    // A Rekor v2 log first, as the public-good config lists it now: Vigil speaks Rekor v1 and takes that one.
    rekorTlogUrls: [service("https://log2025.rekor.example.org", 2), service("https://rekor.example.org/", 1)],
    tsaUrls: [service("https://timestamp.example.org/api/v1/timestamp", 1)],
    rekorTlogConfig: { selector: "ANY" },
    tsaConfig: { selector: "ANY" },
    ...over,
  });

/** A JWT as a CI issues it (its signature is Fulcio's to check, so any bytes stand for it here). */
function jwt(claims: Record<string, unknown>): string {
  const part = (o: unknown) => Buffer.from(JSON.stringify(o)).toString("base64url");
  return `${part({ alg: "RS256", typ: "JWT" })}.${part(claims)}.${Buffer.from("signature").toString("base64url")}`;
}
const inAnHour = () => Math.floor(Date.now() / 1000) + 3600;
const GITLAB_CLAIMS = { iss: "https://gitlab.example.com", sub: "project_path:acme/shop:ref_type:branch:ref:main", aud: "sigstore" };

test("signing config: the first Fulcio and Rekor of an API version Vigil speaks, valid now", () => {
  assert.deepEqual(parseSigningConfig(config(), "sc.json"), { fulcio: "https://fulcio.example.org", rekor: "https://rekor.example.org" });
  // An expired CA is passed over for the next one; a future one is not yet used.
  const rotated = config({
    caUrls: [
      service("https://old-fulcio.example.org", 1, "2020-01-01T00:00:00Z", "2021-01-01T00:00:00Z"),
      service("https://fulcio.example.org", 1),
      service("https://next.example.org", 1, "2999-01-01T00:00:00Z"),
    ],
  });
  assert.equal(parseSigningConfig(rotated, "sc.json").fulcio, "https://fulcio.example.org");
});

test("signing config: refusals name the file and field", () => {
  const refused = (text: string, pattern: RegExp) =>
    assert.throws(
      () => parseSigningConfig(text, "sc.json"),
      (e: unknown) => e instanceof InputError && pattern.test(e.message),
    );
  refused("{", /^sc.json: not JSON/);
  refused(
    config({ mediaType: "application/vnd.dev.sigstore.signingconfig.v0.1+json" }),
    /^sc.json: mediaType .* is not application\/vnd.dev.sigstore.signingconfig.v0.2\+json/,
  );
  refused(config({ caUrls: [service("http://fulcio.example.org", 1)] }), /^sc.json: caUrls\[0\].url must be an https:\/\/ URL/);
  refused(
    config({ caUrls: [service("https://user:pw@fulcio.example.org", 1)] }),
    /^sc.json: caUrls\[0\].url must be an https:\/\/ URL without credentials/,
  );
  refused(
    config({ caUrls: [{ url: "https://fulcio.example.org", majorApiVersion: 1 }] }),
    /^sc.json: caUrls\[0\].validFor must have an RFC 3339 start/,
  );
  refused(
    config({ caUrls: [service("https://fulcio.example.org", 1, "2020-01-01T00:00:00Z", "2021-01-01T00:00:00Z")] }),
    /^sc.json: caUrls lists no service of major API version 1 valid now/,
  );
  refused(
    config({ rekorTlogUrls: [service("https://log2025.rekor.example.org", 2)] }),
    /^sc.json: rekorTlogUrls lists no service of major API version 1/,
  );
  refused(config({ rekorTlogUrls: undefined }), /^sc.json: rekorTlogUrls is missing or not a list/);
});

test("identity token: SIGSTORE_ID_TOKEN first, checked for shape and expiry; none is bad input saying how to get one", async () => {
  const token = jwt({ ...GITLAB_CLAIMS, exp: inAnHour() });
  assert.equal(await identityToken({ SIGSTORE_ID_TOKEN: token }), token);
  const refused = (env: Record<string, string>, pattern: RegExp) =>
    assert.rejects(identityToken(env), (e: unknown) => e instanceof InputError && pattern.test(e.message));
  await refused({ SIGSTORE_ID_TOKEN: jwt({ ...GITLAB_CLAIMS, exp: 1_000_000 }) }, /SIGSTORE_ID_TOKEN has expired/);
  await refused({ SIGSTORE_ID_TOKEN: "not-a-jwt" }, /SIGSTORE_ID_TOKEN is not a JWT/);
  await refused({ SIGSTORE_ID_TOKEN: jwt({ iss: "https://gitlab.example.com", exp: inAnHour() }) }, /lacks its iss or sub claim/);
  await refused({}, /id-token: write/);
});

test("identity token: GitHub Actions' ID-token request, with its bearer token and audience sigstore", async () => {
  const token = jwt({
    iss: "https://token.actions.githubusercontent.com",
    sub: "repo:acme/shop:ref:refs/heads/main",
    aud: "sigstore",
    exp: inAnHour(),
  });
  const seen: { audience: string | null; authorization?: string }[] = [];
  // The endpoint as the runner's ID-token service answers it ({"value": token}).
  const server = createServer((req, res) => {
    const url = new URL(req.url!, "http://127.0.0.1");
    seen.push({
      audience: url.searchParams.get("audience"),
      ...(req.headers.authorization && { authorization: req.headers.authorization }),
    });
    if (req.headers.authorization !== "Bearer runner-request-token") return void res.writeHead(401).end("{}");
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ count: 1, value: token }));
  });
  const port = await listen(scope, server);
  const env = {
    ACTIONS_ID_TOKEN_REQUEST_URL: `http://127.0.0.1:${port}/_apis/distributedtask/token?api-version=2.0`,
    ACTIONS_ID_TOKEN_REQUEST_TOKEN: "runner-request-token",
  };
  assert.equal(await identityToken(env), token);
  assert.deepEqual(seen[0], { audience: "sigstore", authorization: "Bearer runner-request-token" });
  // The bearer token never travels in the clear to anything but loopback.
  await assert.rejects(
    identityToken({ ...env, ACTIONS_ID_TOKEN_REQUEST_URL: "http://token.example.org/x" }),
    (e: unknown) => e instanceof InputError && /must be https/.test(e.message),
  );
  // A refused request is bad input, and the bearer token is not repeated in the message.
  await assert.rejects(
    identityToken({ ...env, ACTIONS_ID_TOKEN_REQUEST_TOKEN: "stale" }),
    (e: unknown) => e instanceof InputError && /HTTP 401/.test(e.message) && !e.message.includes("stale"),
  );
});

test("vigil ci --keyless: Fulcio unreachable is exit 3 after the scan, nothing is pushed, the token is in no output", async (t) => {
  if (!requireTools(t, ["docker-registry"])) return;
  const s: SigningRegistry = await signingRegistry(scope);
  const pushed = await pushTestImage(s.client.repository(`${s.registry.host}/shop/app`), { tag: "v1" });
  writeFileSync(join(dir, "advisories.json"), "[]");
  const db = join(dir, "db");
  const store = SqliteStore.open(db, { create: true });
  await importAdvisories(store, [join(dir, "advisories.json")]);
  store.close();
  const closed = await freePort();
  const signingConfig = join(dir, "signing-config.json");
  writeFileSync(
    signingConfig,
    config({ caUrls: [service(`https://127.0.0.1:${closed}`, 1)], rekorTlogUrls: [service(`https://127.0.0.1:${closed}`, 1)] }),
  );
  const token = jwt({ ...GITLAB_CLAIMS, exp: inAnHour() });
  const r = vigil(
    [
      "ci",
      `${s.registry.host}/shop/app:v1`,
      "--keyless",
      "--signing-config",
      signingConfig,
      "--db",
      db,
      "--no-provenance",
      "--allow-http-registry",
    ],
    { env: { SIGSTORE_ID_TOKEN: token, GITHUB_ACTIONS: "", GITLAB_CI: "" } },
  );
  assert.equal(r.status, 3, r.stderr);
  assert.match(r.stderr, new RegExp(`Fulcio \\(https://127.0.0.1:${closed}\\) is unreachable`));
  assert.match(r.stderr, /vigil ci: scan…/);
  assert.ok(!r.stderr.includes(token) && !r.stdout.includes(token));
  assert.deepEqual(await s.client.repository(`${s.registry.host}/shop/app`).referrers(pushed.descriptor.digest), []);
  // Without a signing config, or without a token, nothing starts.
  const noConfig = vigil(["ci", `${s.registry.host}/shop/app:v1`, "--keyless", "--db", db, "--no-provenance"], {
    env: { SIGSTORE_SIGNING_CONFIG: "", SIGSTORE_ID_TOKEN: token },
  });
  assert.equal(noConfig.status, 2);
  assert.match(noConfig.stderr, /--keyless needs a Sigstore signing config/);
  const noToken = vigil(
    ["ci", `${s.registry.host}/shop/app:v1`, "--keyless", "--signing-config", signingConfig, "--db", db, "--no-provenance"],
    { env: { SIGSTORE_ID_TOKEN: "", ACTIONS_ID_TOKEN_REQUEST_URL: "", ACTIONS_ID_TOKEN_REQUEST_TOKEN: "" } },
  );
  assert.equal(noToken.status, 2);
  assert.match(noToken.stderr, /needs an OIDC identity token/);
  const withKey = vigil([
    "ci",
    `${s.registry.host}/shop/app:v1`,
    "--key",
    join(dir, "x.key"),
    "--signing-config",
    signingConfig,
    "--db",
    db,
    "--no-provenance",
  ]);
  assert.equal(withKey.status, 2);
  assert.match(withKey.stderr, /--signing-config is for --keyless/);
});
