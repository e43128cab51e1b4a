// Registries that lie, stall, loop or flood, served by small in-test HTTP servers on loopback: every
// one is refused with a message naming the reference and what went wrong, and nothing hangs. Also a
// registry that implements the OCI 1.1 referrers API, which docker-registry does not.
import assert from "node:assert/strict";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { createServer as createNetServer } from "node:net";
import { test, type TestContext } from "node:test";
import { ExitCode } from "../src/core/errors.ts";
import { digestOf } from "../src/oci/digest.ts";
import { anonymous, staticCredentials, type CredentialSource } from "../src/oci/docker-config.ts";
import { OciContentError, RegistryError } from "../src/oci/errors.ts";
import { MediaType } from "../src/oci/manifest.ts";
import { RegistryClient, type RegistryClientOptions } from "../src/oci/registry.ts";
import { referrersTag } from "../src/oci/store.ts";
import { listen } from "./helpers/registry.ts";

type Handler = (req: IncomingMessage, res: ServerResponse, body: Buffer) => void;

interface Served {
  host: string;
  requests: { method: string; url: string; accept?: string; authorization?: string }[];
  /** TCP connections accepted so far. */
  connections: number;
}

async function serve(t: TestContext, handler: Handler): Promise<Served> {
  const served: Served = { host: "", requests: [], connections: 0 };
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const { accept, authorization } = req.headers;
    served.requests.push({ method: req.method!, url: req.url!, ...(accept && { accept }), ...(authorization && { authorization }) });
    handler(req, res, Buffer.concat(chunks));
  });
  server.on("connection", () => served.connections++);
  served.host = `127.0.0.1:${await listen(t, server)}`;
  return served;
}

function clientFor(
  t: TestContext,
  hosts: string[],
  options: Partial<RegistryClientOptions> = {},
  credentials: CredentialSource = anonymous,
): RegistryClient {
  const client = new RegistryClient({
    hosts: Object.fromEntries(hosts.map((h) => [h, { scheme: "http" as const }])),
    credentials,
    timeouts: { connectMs: 500, headersMs: 500, bodyIdleMs: 500, requestMs: 5000 },
    ...options,
  });
  t.after(() => client.close());
  return client;
}

const image = Buffer.from(
  JSON.stringify({
    schemaVersion: 2,
    mediaType: MediaType.ociManifest,
    config: { mediaType: MediaType.ociConfig, digest: digestOf(Buffer.from("{}")), size: 2 },
    layers: [],
  }),
);
const imageDigest = digestOf(image);
const otherDigest = digestOf(Buffer.from("something else"));

const content = { "content-type": MediaType.ociManifest };
const refusedContent = (pattern: RegExp) => (e: Error) =>
  e instanceof OciContentError && e.exitCode === ExitCode.blocked && pattern.test(e.message);
const refusedRegistry = (pattern: RegExp) => (e: Error) =>
  e instanceof RegistryError && e.exitCode === ExitCode.unavailable && pattern.test(e.message);

test("a manifest whose bytes do not match the digest asked for is refused, naming both digests", async (t) => {
  const s = await serve(t, (_req, res) => res.writeHead(200, content).end(image));
  const repo = clientFor(t, [s.host]).repository(`${s.host}/app`);
  await assert.rejects(
    repo.getManifest(otherDigest),
    refusedContent(
      new RegExp(`manifest ${s.host}/app@${otherDigest}: content does not match its digest: expected ${otherDigest}, got ${imageDigest}`),
    ),
  );
  await assert.rejects(repo.resolve(otherDigest), OciContentError);
});

test("a tag whose Docker-Content-Digest does not match the bytes sent is refused", async (t) => {
  const lying = await serve(t, (_req, res) => res.writeHead(200, { ...content, "docker-content-digest": otherDigest }).end(image));
  await assert.rejects(
    clientFor(t, [lying.host]).repository(`${lying.host}/app`).getManifest("v1"),
    refusedContent(
      new RegExp(`manifest ${lying.host}/app:v1: content does not match its digest: expected ${otherDigest}, got ${imageDigest}`),
    ),
  );
  const malformed = await serve(t, (_req, res) => res.writeHead(200, { ...content, "docker-content-digest": "sha256:nothex" }).end(image));
  await assert.rejects(
    clientFor(t, [malformed.host]).repository(`${malformed.host}/app`).getManifest("v1"),
    refusedContent(/malformed Docker-Content-Digest "sha256:nothex"/),
  );
});

test("a tag is resolved by fetching and hashing its manifest, with every supported type accepted; HEAD without Docker-Content-Digest falls back to that", async (t) => {
  const s = await serve(t, (req, res) => res.writeHead(200, content).end(req.method === "HEAD" ? undefined : image));
  const client = clientFor(t, [s.host]);
  const descriptor = await client.resolve(`${s.host}/app:v1`);
  assert.deepEqual(descriptor, { mediaType: MediaType.ociManifest, digest: imageDigest, size: image.length });
  assert.deepEqual(
    s.requests.map((r) => r.method),
    ["GET"],
  );
  assert.deepEqual(await client.repository(`${s.host}/app`).headManifest("v1"), descriptor);
  assert.deepEqual(
    s.requests.map((r) => r.method),
    ["GET", "HEAD", "GET"],
  );
  for (const { accept } of s.requests) {
    assert.equal(
      accept,
      [MediaType.ociIndex, MediaType.dockerManifestList, MediaType.ociManifest, MediaType.dockerManifest].join(", "),
      "every supported type is accepted",
    );
  }
});

test("requests share kept-alive connections, at most connectionsPerHost at once", async (t) => {
  const s = await serve(t, (_req, res) => setTimeout(() => res.writeHead(200, content).end(image), 20));
  const sequential = clientFor(t, [s.host]).repository(`${s.host}/app`);
  for (let i = 0; i < 10; i++) await sequential.getManifest(imageDigest);
  // undici may open a second socket while the first is being handed back to the pool; never ten.
  assert.ok(s.connections <= 2, `ten requests one after another took ${s.connections} connections`);
  const before = s.connections;
  const limited = clientFor(t, [s.host], { connectionsPerHost: 3 }).repository(`${s.host}/app`);
  await Promise.all(Array.from({ length: 30 }, () => limited.getManifest(imageDigest)));
  assert.equal(s.connections - before, 3, "thirty requests at once, three connections");
});

test("a Content-Type that contradicts the manifest's mediaType is refused", async (t) => {
  const s = await serve(t, (_req, res) => res.writeHead(200, { "content-type": MediaType.dockerManifest }).end(image));
  await assert.rejects(
    clientFor(t, [s.host]).repository(`${s.host}/app`).getManifest("v1"),
    refusedContent(/declared media type application\/vnd.docker.distribution.manifest.v2\+json does not match/),
  );
  const html = await serve(t, (_req, res) => res.writeHead(200, { "content-type": "text/html" }).end("<html></html>"));
  await assert.rejects(clientFor(t, [html.host]).repository(`${html.host}/app`).getManifest("v1"), refusedContent(/not valid JSON/));
});

test("a manifest over 4 MiB is refused, announced or not", async (t) => {
  const huge = Buffer.alloc((4 << 20) + 1, 0x20);
  const announced = await serve(t, (_req, res) => res.writeHead(200, { ...content, "content-length": huge.length }).end(huge));
  await assert.rejects(
    clientFor(t, [announced.host]).repository(`${announced.host}/app`).getManifest("v1"),
    refusedRegistry(/manifest .*app:v1: .* sent more than the 4 MiB allowed/),
  );
  const chunked = await serve(t, (_req, res) => {
    res.writeHead(200, content);
    for (let i = 0; i < 5; i++) res.write(Buffer.alloc(1 << 20, 0x20));
    res.end();
  });
  await assert.rejects(
    clientFor(t, [chunked.host]).repository(`${chunked.host}/app`).getManifest("v1"),
    refusedRegistry(/sent more than the 4 MiB allowed/),
  );
  const limited = clientFor(t, [chunked.host], { maxManifestBytes: 1024 });
  await assert.rejects(limited.repository(`${chunked.host}/app`).getManifest("v1"), refusedRegistry(/sent more than the 1 KiB allowed/));
});

test("blobs: wrong content, a size other than the descriptor's, or over the caller's limit are refused", async (t) => {
  const blob = Buffer.from("layer bytes");
  const s = await serve(t, (_req, res) => res.writeHead(200, { "content-type": "application/octet-stream" }).end(blob));
  const repo = clientFor(t, [s.host]).repository(`${s.host}/app`);
  assert.deepEqual(await repo.getBlob(digestOf(blob)), blob);
  assert.deepEqual(await repo.getBlob(digestOf(blob, "sha512")), blob);
  await assert.rejects(repo.getBlob(digestOf(Buffer.from("x"), "sha512")), refusedContent(/expected sha512:[a-f0-9]{128}, got sha512:/));
  await assert.rejects(
    repo.getBlob(otherDigest),
    refusedContent(new RegExp(`blob ${s.host}/app@${otherDigest}: content does not match its digest`)),
  );
  await assert.rejects(repo.getBlob(digestOf(blob), { size: 4 }), refusedRegistry(/sent more than the 4 bytes allowed/));
  await assert.rejects(repo.getBlob(digestOf(blob), { size: 40 }), refusedContent(/content is 11 bytes, its descriptor says 40/));
  await assert.rejects(repo.getBlob(digestOf(blob), { maxBytes: 5 }), refusedRegistry(/sent more than the 5 bytes allowed/));
  const stream = await repo.openBlob(otherDigest);
  await assert.rejects(
    async () => {
      for await (const _ of stream);
    },
    refusedContent(/content does not match its digest/),
  );
});

test("a redirect loop and a redirect chain past the limit are refused", async (t) => {
  const loop = await serve(t, (req, res) =>
    res.writeHead(302, { location: req.url!.startsWith("/v2/") ? "/elsewhere" : "/v2/app/manifests/v1" }).end(),
  );
  await assert.rejects(
    clientFor(t, [loop.host]).repository(`${loop.host}/app`).getManifest("v1"),
    refusedRegistry(new RegExp(`manifest ${loop.host}/app:v1: redirect loop at http://${loop.host}/v2/app/manifests/v1`)),
  );
  let hops = 0;
  const chain = await serve(t, (_req, res) => res.writeHead(307, { location: `/hop${++hops}` }).end());
  await assert.rejects(
    clientFor(t, [chain.host]).repository(`${chain.host}/app`).getManifest("v1"),
    refusedRegistry(/more than 5 redirects \(last to .*\/hop6\)/),
  );
  assert.equal(chain.requests.length, 6);
});

test("a redirect to blob storage elsewhere gets no credentials; one to plain HTTP off loopback is refused", async (t) => {
  const blob = Buffer.from("stored elsewhere");
  const storage = await serve(t, (_req, res) => res.writeHead(200).end(blob));
  const registry = await serve(t, (req, res) => {
    if (!req.headers.authorization) return res.writeHead(401, { "www-authenticate": 'Basic realm="test"' }).end();
    if (req.url!.includes("downgrade")) return res.writeHead(302, { location: "http://storage.example.com/blob" }).end();
    res.writeHead(307, { location: `http://${storage.host}/blob?signature=x` }).end();
  });
  // localhost and 127.0.0.1 are different origins, as a storage host would be.
  const client = clientFor(t, [registry.host, storage.host], {}, staticCredentials({ [registry.host]: { username: "u", password: "p" } }));
  const repo = client.repository(`${registry.host}/app`);
  assert.deepEqual(await repo.getBlob(digestOf(blob)), blob);
  assert.ok(registry.requests.some((r) => r.authorization?.startsWith("Basic ")));
  assert.deepEqual(
    storage.requests.map((r) => r.authorization),
    [undefined],
    "the storage host saw no Authorization",
  );
  const downgrade = client.repository(`${registry.host}/downgrade`);
  await assert.rejects(downgrade.getBlob(digestOf(blob)), refusedRegistry(/plain HTTP to storage.example.com refused/));
});

test("a token realm on plain HTTP off loopback is refused before anything is sent to it", async (t) => {
  const s = await serve(t, (_req, res) =>
    res.writeHead(401, { "www-authenticate": 'Bearer realm="http://auth.example.com/token",service="x"' }).end(),
  );
  await assert.rejects(
    clientFor(t, [s.host]).resolve(`${s.host}/app:v1`),
    refusedRegistry(/token for 127.0.0.1:\d+: plain HTTP to auth.example.com refused/),
  );
  const noRealm = await serve(t, (_req, res) => res.writeHead(401, { "www-authenticate": 'Bearer service="x"' }).end());
  await assert.rejects(
    clientFor(t, [noRealm.host]).resolve(`${noRealm.host}/app:v1`),
    refusedRegistry(/the Bearer challenge has no valid realm/),
  );
  const noChallenge = await serve(t, (_req, res) => res.writeHead(401).end());
  await assert.rejects(
    clientFor(t, [noChallenge.host]).resolve(`${noChallenge.host}/app:v1`),
    refusedRegistry(/requires authentication but sent no Basic or Bearer challenge/),
  );
});

test("nothing hangs: no headers, a stalled body, a trickle, a silent TLS handshake", async (t) => {
  const silent = await serve(t, () => {});
  let started = performance.now();
  await assert.rejects(
    clientFor(t, [silent.host]).resolve(`${silent.host}/app:v1`),
    refusedRegistry(new RegExp(`${silent.host} sent no response within 0.5s`)),
  );
  assert.ok(performance.now() - started < 3000);

  const stalled = await serve(t, (_req, res) => {
    res.writeHead(200, { ...content, "content-length": 1000 });
    res.write("{");
  });
  await assert.rejects(
    clientFor(t, [stalled.host]).repository(`${stalled.host}/app`).getManifest("v1"),
    refusedRegistry(/stalled: no data for 0.5s while sending the body/),
  );

  const trickle = await serve(t, (_req, res) => {
    res.writeHead(200, content);
    const timer = setInterval(() => res.write(" "), 100);
    res.on("close", () => clearInterval(timer));
  });
  started = performance.now();
  await assert.rejects(
    clientFor(t, [trickle.host], { timeouts: { requestMs: 1000, bodyIdleMs: 500 } })
      .repository(`${trickle.host}/app`)
      .getManifest("v1"),
    refusedRegistry(/no complete answer from .* within 1s/),
  );
  assert.ok(performance.now() - started < 4000);

  const port = await listen(
    t,
    createNetServer(() => {}),
  );
  const host = `127.0.0.1:${port}`;
  const client = new RegistryClient({ hosts: { [host]: { scheme: "https" } }, credentials: anonymous, timeouts: { connectMs: 500 } });
  t.after(() => client.close());
  await assert.rejects(client.resolve(`${host}/app:v1`), refusedRegistry(new RegExp(`could not connect to ${host} within 0.5s`)));
});

test("errors from the registry carry its status and code; a page link to another origin is refused", async (t) => {
  const failing = await serve(t, (_req, res) =>
    res
      .writeHead(500, { "content-type": "application/json" })
      .end(JSON.stringify({ errors: [{ code: "UNKNOWN", message: "storage on fire" }] })),
  );
  await assert.rejects(
    clientFor(t, [failing.host]).resolve(`${failing.host}/app:v1`),
    (e: Error) =>
      e instanceof RegistryError && e.status === 500 && e.code === "UNKNOWN" && /answered 500 UNKNOWN: storage on fire/.test(e.message),
  );
  const denied = await serve(t, (_req, res) => res.writeHead(403).end());
  await assert.rejects(clientFor(t, [denied.host]).resolve(`${denied.host}/app:v1`), refusedRegistry(/access denied \(403\)/));

  const paged = await serve(t, (req, res) => {
    const second = req.url!.includes("last=b");
    const link = second
      ? '<http://registry.example.com/v2/app/tags/list?last=c>; rel="next"'
      : `</v2/app/tags/list?n=2&last=b>; rel="next"`;
    res
      .writeHead(200, { "content-type": "application/json", link })
      .end(JSON.stringify({ name: "app", tags: second ? ["c"] : ["a", "b"] }));
  });
  await assert.rejects(
    clientFor(t, [paged.host]).repository(`${paged.host}/app`).tags(),
    refusedRegistry(/links the next page to another origin \(http:\/\/registry.example.com\)/),
  );
  assert.equal(paged.requests.length, 2, "the second page came from the same origin");
});

/** A registry implementing the OCI 1.1 referrers API (with artifactType filtering and pages) and OCI-Subject on push. */
async function referrersRegistry(t: TestContext, options: { filters: boolean }) {
  const stored = new Map<string, { type: string; body: Buffer }>();
  const referrers = [1, 2, 3].map((i) => ({
    mediaType: MediaType.ociManifest,
    digest: digestOf(Buffer.from(`r${i}`)),
    size: 10,
    artifactType: i === 2 ? "application/vnd.example.sbom" : "application/vnd.example.sig",
  }));
  const served = await serve(t, (req, res, body) => {
    const url = new URL(req.url!, "http://x");
    const ref = /^\/v2\/app\/referrers\/(sha256:[a-f0-9]{64})$/.exec(url.pathname);
    if (ref) {
      const type = url.searchParams.get("artifactType");
      const page = url.searchParams.get("page") === "2" ? referrers.slice(2) : referrers.slice(0, 2);
      const listed = options.filters && type ? page.filter((d) => d.artifactType === type) : page;
      const headers: Record<string, string> = { "content-type": MediaType.ociIndex };
      if (options.filters && type) headers["oci-filters-applied"] = "artifactType";
      if (url.searchParams.get("page") !== "2")
        headers.link = `<${url.pathname}?page=2${type ? `&artifactType=${encodeURIComponent(type)}` : ""}>; rel="next"`;
      return res.writeHead(200, headers).end(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: listed }));
    }
    const manifest = /^\/v2\/app\/manifests\/(.+)$/.exec(url.pathname);
    if (manifest && req.method === "PUT") {
      stored.set(manifest[1]!, { type: req.headers["content-type"]!, body });
      const subject = JSON.parse(body.toString()).subject?.digest;
      return res.writeHead(201, { "docker-content-digest": digestOf(body), ...(subject && { "oci-subject": subject }) }).end();
    }
    res.writeHead(404).end();
  });
  return { ...served, stored, referrers };
}

test("the OCI 1.1 referrers API: pages followed, the registry's artifactType filter trusted when it says it applied it", async (t) => {
  const s = await referrersRegistry(t, { filters: true });
  const repo = clientFor(t, [s.host]).repository(`${s.host}/app`);
  assert.deepEqual(await repo.referrers(imageDigest), s.referrers);
  assert.deepEqual(await repo.referrers(imageDigest, { artifactType: "application/vnd.example.sig" }), [s.referrers[0], s.referrers[2]]);
  assert.ok(
    s.requests.every((r) => !r.url.includes(referrersTag(imageDigest))),
    "no fallback to the tag schema",
  );
});

test("the OCI 1.1 referrers API: a registry that ignores the filter is filtered by the client", async (t) => {
  const s = await referrersRegistry(t, { filters: false });
  const repo = clientFor(t, [s.host]).repository(`${s.host}/app`);
  assert.deepEqual(await repo.referrers(imageDigest, { artifactType: "application/vnd.example.sbom" }), [s.referrers[1]]);
});

test("pushing a referrer to a registry that answers OCI-Subject leaves the referrers tag alone", async (t) => {
  const s = await referrersRegistry(t, { filters: true });
  const repo = clientFor(t, [s.host]).repository(`${s.host}/app`);
  const referrer = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.ociManifest,
      artifactType: "application/vnd.example.sig",
      config: { mediaType: MediaType.ociEmpty, digest: digestOf(Buffer.from("{}")), size: 2 },
      layers: [],
      subject: { mediaType: MediaType.ociManifest, digest: imageDigest, size: image.length },
    }),
  );
  const descriptor = await repo.putManifest(referrer);
  assert.equal(descriptor.digest, digestOf(referrer));
  assert.deepEqual([...s.stored.keys()], [descriptor.digest]);
  assert.equal(s.stored.get(descriptor.digest)!.type, MediaType.ociManifest);
});

test("a referrers API answer that is not an OCI image index is refused", async (t) => {
  const s = await serve(t, (_req, res) => res.writeHead(200, { "content-type": MediaType.ociManifest }).end(image));
  await assert.rejects(
    clientFor(t, [s.host]).repository(`${s.host}/app`).referrers(imageDigest),
    refusedContent(/the referrers API answered with application\/vnd.oci.image.manifest.v1\+json, not an OCI image index/),
  );
});

test("a registry without the referrers API is asked once; then only the fallback tag, and a repository it does not know changes nothing", async (t) => {
  const s = await serve(t, (req, res) => {
    if (req.url!.includes("/referrers/")) {
      // distribution 2.8: an unknown route is a bare 404; an unknown repository has an error code.
      const unknownRepo = req.url!.startsWith("/v2/missing/");
      res.writeHead(404, unknownRepo ? { "content-type": "application/json" } : {});
      return res.end(
        unknownRepo ? JSON.stringify({ errors: [{ code: "NAME_UNKNOWN", message: "repository name not known" }] }) : "404 page not found\n",
      );
    }
    res.writeHead(404, { "content-type": "application/json" });
    res.end(JSON.stringify({ errors: [{ code: "MANIFEST_UNKNOWN", message: "manifest unknown" }] }));
  });
  const client = clientFor(t, [s.host]);
  const other = digestOf(Buffer.from("other"));
  assert.deepEqual(await client.repository(`${s.host}/missing`).referrers(imageDigest), []);
  assert.equal(s.requests.filter((r) => r.url.includes("/referrers/")).length, 1);
  await client.repository(`${s.host}/app`).referrers(imageDigest);
  assert.equal(s.requests.filter((r) => r.url.includes("/referrers/")).length, 2, "NAME_UNKNOWN did not mark the registry");
  await client.repository(`${s.host}/app`).referrers(other);
  await client.repository(`${s.host}/other`).referrers(imageDigest);
  assert.equal(s.requests.filter((r) => r.url.includes("/referrers/")).length, 2, "the bare 404 did");
  assert.equal(s.requests.filter((r) => r.url.includes(referrersTag(other))).length, 1, "the fallback tag is still read");
});

test("many images at once on a registry without the referrers API: one asks it, the others wait for its answer", async (t) => {
  const s = await serve(t, (req, res) => {
    if (req.url!.includes("/referrers/")) return res.writeHead(404).end("404 page not found\n");
    res
      .writeHead(404, { "content-type": "application/json" })
      .end(JSON.stringify({ errors: [{ code: "MANIFEST_UNKNOWN", message: "manifest unknown" }] }));
  });
  const client = clientFor(t, [s.host]);
  const digests = Array.from({ length: 20 }, (_, i) => digestOf(Buffer.from(`image ${i}`)));
  const found = await Promise.all(digests.map((d) => client.repository(`${s.host}/app`).referrers(d)));
  assert.deepEqual(
    found,
    digests.map(() => []),
  );
  assert.equal(s.requests.filter((r) => r.url.includes("/referrers/")).length, 1);
  assert.equal(s.requests.filter((r) => r.url.includes("/manifests/sha256-")).length, 20, "every image's fallback tag is read");
});
