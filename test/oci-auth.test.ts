// Authentication and transport security against the real registry: htpasswd (Basic) auth, the token
// (Bearer) flow with a token server whose JWTs docker-registry verifies, docker config credentials,
// and TLS from a test CA that the client trusts only when it is given.
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { test, type TestContext } from "node:test";
import { ExitCode, InputError } from "../src/core/errors.ts";
import { anonymous, dockerConfigCredentials, staticCredentials, type CredentialSource } from "../src/oci/docker-config.ts";
import { RegistryError } from "../src/oci/errors.ts";
import { RegistryClient } from "../src/oci/registry.ts";
import { makeTlsCa, pushTestImage, startRegistry, startTokenServer, type RegistryOptions, type TestRegistry } from "./helpers/registry.ts";
import { requireTools, tempDir } from "./helpers/tools.ts";

const alice = { username: "alice", password: "correct horse" };

async function registryWith(t: TestContext, options: RegistryOptions): Promise<TestRegistry | undefined> {
  if (!requireTools(t, ["docker-registry", "openssl", "htpasswd"])) return undefined;
  return startRegistry(t, options);
}

function clientFor(
  t: TestContext,
  registry: TestRegistry,
  credentials: CredentialSource,
  hostOptions = registry.hostOptions,
): RegistryClient {
  const client = new RegistryClient({ hosts: { [registry.host]: hostOptions }, credentials });
  t.after(() => client.close());
  return client;
}

function dockerConfig(t: TestContext, auths: Record<string, unknown>, extra: Record<string, unknown> = {}): CredentialSource {
  const dir = tempDir(t, "vigil-docker-config-");
  writeFileSync(join(dir, "config.json"), JSON.stringify({ auths, ...extra }));
  return dockerConfigCredentials({ DOCKER_CONFIG: dir });
}

const refusedWith = (pattern: RegExp) => (e: Error) => e instanceof RegistryError && pattern.test(e.message);
const unauthorized = (pattern: RegExp) => (e: Error) =>
  e instanceof RegistryError && e.status === 401 && e.exitCode === ExitCode.unavailable && pattern.test(e.message);

test("TLS: the registry's certificate is trusted only with the CA that issued it", async (t) => {
  const ca = makeTlsCa(t);
  const registry = await registryWith(t, { tls: ca });
  if (!registry) return;
  const trusted = clientFor(t, registry, anonymous);
  const image = await pushTestImage(trusted.repository(`${registry.host}/app`), { tag: "v1" });
  assert.equal((await trusted.resolve(`${registry.host}/app:v1`)).digest, image.descriptor.digest);

  const untrusted = clientFor(t, registry, anonymous, { scheme: "https" });
  await assert.rejects(
    untrusted.resolve(`${registry.host}/app:v1`),
    (e: Error) =>
      e instanceof RegistryError &&
      e.message.includes(`TLS: the certificate of ${registry.host} is not trusted`) &&
      e.message.includes("give the CA"),
  );
  const otherCa = makeTlsCa(t);
  const wrongCa = clientFor(t, registry, anonymous, { scheme: "https", ca: otherCa.caPem });
  await assert.rejects(wrongCa.resolve(`${registry.host}/app:v1`), /is not trusted/);
  const plain = clientFor(t, registry, anonymous, { scheme: "http" });
  await assert.rejects(
    plain.resolve(`${registry.host}/app:v1`),
    refusedWith(/answered 400 Client sent an HTTP request to an HTTPS server/),
  );
  const plainRegistry = await startRegistry(t);
  const tlsToPlain = clientFor(t, plainRegistry, anonymous, { scheme: "https" });
  await assert.rejects(
    tlsToPlain.resolve(`${plainRegistry.host}/app:v1`),
    refusedWith(new RegExp(`TLS handshake with ${plainRegistry.host} failed \\(does it speak plain HTTP\\?\\)`)),
  );
});

test("plain HTTP is refused for a host that is not loopback unless it is marked insecure", () => {
  assert.throws(
    () => new RegistryClient({ hosts: { "registry.example.com": { scheme: "http" } }, credentials: anonymous }),
    (e: Error) => e instanceof InputError && /plain HTTP to registry.example.com refused: only loopback registries/.test(e.message),
  );
  assert.throws(() => new RegistryClient({ hosts: { "10.0.0.5:5000": { scheme: "http" } }, credentials: anonymous }), InputError);
  const allowed = new RegistryClient({
    hosts: { "registry.example.com": { scheme: "http", insecure: true }, "localhost:5000": { scheme: "http" } },
    credentials: anonymous,
  });
  void allowed.close();
});

test("Basic auth (htpasswd, over TLS): credentials from docker's config.json push and pull", async (t) => {
  const registry = await registryWith(t, { htpasswd: alice, tls: makeTlsCa(t) });
  if (!registry) return;
  const credentials = dockerConfig(t, {
    [`https://${registry.host}`]: { auth: Buffer.from(`${alice.username}:${alice.password}`).toString("base64") },
  });
  const client = clientFor(t, registry, credentials);
  const repo = client.repository(`${registry.host}/team/app`);
  const image = await pushTestImage(repo, { tag: "v1" });
  assert.deepEqual((await repo.getManifest("v1")).bytes, image.manifest);
  assert.deepEqual(await repo.tags(), ["v1"]);
});

test("Basic auth: no credentials, or wrong ones, fail with a message that says which", async (t) => {
  const registry = await registryWith(t, { htpasswd: alice, tls: makeTlsCa(t) });
  if (!registry) return;
  await assert.rejects(
    clientFor(t, registry, anonymous).resolve(`${registry.host}/team/app:v1`),
    unauthorized(new RegExp(`${registry.host} requires authentication and no credentials are configured for it`)),
  );
  await assert.rejects(
    clientFor(t, registry, staticCredentials({ [registry.host]: { username: "alice", password: "wrong" } })).resolve(
      `${registry.host}/team/app:v1`,
    ),
    unauthorized(new RegExp(`${registry.host} refused the credentials`)),
  );
  const helper = dockerConfig(t, {}, { credHelpers: { [registry.host]: "secretservice" } });
  await assert.rejects(
    clientFor(t, registry, helper).resolve(`${registry.host}/team/app:v1`),
    unauthorized(/credential helper docker-credential-secretservice, which Vigil does not run/),
  );
});

test("Bearer tokens: the registry's challenge leads to the token server, one token per scope is reused", async (t) => {
  if (!requireTools(t, ["docker-registry", "openssl"])) return;
  const ca = makeTlsCa(t);
  const tokens = await startTokenServer(t, { ca, users: { alice: alice.password }, publicRepositories: ["public/app"] });
  const registry = await startRegistry(t, { token: tokens });
  const client = clientFor(t, registry, staticCredentials({ [registry.host]: alice }));
  const repo = client.repository(`${registry.host}/team/app`);
  const image = await pushTestImage(repo, { tag: "v1", layers: 4 });
  for (let i = 0; i < 5; i++) await repo.getManifest("v1");
  assert.deepEqual((await repo.getManifest(image.descriptor.digest)).bytes, image.manifest);
  assert.deepEqual(
    tokens.requests.map((r) => r.user),
    ["alice", "alice"],
    "one token for push, one for pull, each reused",
  );
  assert.deepEqual(
    tokens.requests.map((r) => r.scope.join(" ")),
    ["repository:team/app:pull,push", "repository:team/app:pull"],
  );
  assert.equal(tokens.requests[0]!.method, "GET");

  const publicRepo = client.repository(`${registry.host}/public/app`);
  const shared = await pushTestImage(publicRepo, { tag: "v1" });
  const stranger = clientFor(t, registry, anonymous);
  assert.equal(
    (await stranger.resolve(`${registry.host}/public/app:v1`)).digest,
    shared.descriptor.digest,
    "anonymous token for a public pull",
  );
  await assert.rejects(
    stranger.resolve(`${registry.host}/team/app:v1`),
    unauthorized(/requires authentication and no credentials are configured/),
  );
  await assert.rejects(
    pushTestImage(stranger.repository(`${registry.host}/public/app`)),
    unauthorized(/requires authentication/),
    "anonymous tokens do not push",
  );
});

test("Bearer tokens: refused credentials name the token server; an identity token uses the OAuth2 refresh grant", async (t) => {
  if (!requireTools(t, ["docker-registry", "openssl"])) return;
  const ca = makeTlsCa(t);
  const tokens = await startTokenServer(t, { ca, users: { alice: alice.password }, refreshTokens: { "refresh-abc": "alice" } });
  const registry = await startRegistry(t, { token: tokens });
  const wrong = clientFor(t, registry, staticCredentials({ [registry.host]: { username: "alice", password: "nope" } }));
  await assert.rejects(
    wrong.resolve(`${registry.host}/team/app:v1`),
    unauthorized(new RegExp(`the token server ${tokens.realm.replace("/token", "")} refused the credentials \\(401\\)`)),
  );

  const withIdentity = clientFor(
    t,
    registry,
    dockerConfig(t, { [registry.host]: { auth: Buffer.from("<token>:").toString("base64"), identitytoken: "refresh-abc" } }),
  );
  const image = await pushTestImage(withIdentity.repository(`${registry.host}/team/app`), { tag: "v1" });
  assert.equal((await withIdentity.resolve(`${registry.host}/team/app:v1`)).digest, image.descriptor.digest);
  const grants = tokens.requests.filter((r) => r.grant === "refresh_token");
  assert.ok(grants.length >= 1 && grants.every((r) => r.method === "POST" && r.user === "alice"));
});

test("Bearer tokens: an expired token is replaced before use", async (t) => {
  if (!requireTools(t, ["docker-registry", "openssl"])) return;
  const ca = makeTlsCa(t);
  // 11 s of validity is kept for 1 s: the client renews 10 s early.
  const tokens = await startTokenServer(t, { ca, users: { alice: alice.password }, expiresIn: 11 });
  const registry = await startRegistry(t, { token: tokens });
  const client = clientFor(t, registry, staticCredentials({ [registry.host]: alice }));
  const repo = client.repository(`${registry.host}/team/app`);
  await pushTestImage(repo, { tag: "v1" });
  await repo.getManifest("v1");
  const before = tokens.requests.length;
  await repo.getManifest("v1");
  assert.equal(tokens.requests.length, before, "still valid: reused");
  await new Promise((r) => setTimeout(r, 1200));
  await repo.getManifest("v1");
  assert.equal(tokens.requests.length, before + 1, "expired: renewed");
});
