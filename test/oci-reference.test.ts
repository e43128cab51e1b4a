// Image references parse as docker parses them, and digests are checked before anything is trusted.
import assert from "node:assert/strict";
import { test } from "node:test";
import { InputError } from "../src/core/errors.ts";
import { digestOf, digestVerifier, verifyDigest } from "../src/oci/digest.ts";
import { OciContentError } from "../src/oci/errors.ts";
import { formatReference, isLoopbackHost, parseReference, registryApiHost } from "../src/oci/reference.ts";
import { referrersTag } from "../src/oci/store.ts";

const D256 = `sha256:${"a".repeat(64)}`;
const D512 = `sha512:${"b".repeat(128)}`;

test("references: docker's defaults for registry, library/ and latest", () => {
  const cases: [string, string][] = [
    ["alpine", "docker.io/library/alpine:latest"],
    ["alpine:3.20", "docker.io/library/alpine:3.20"],
    ["team/app", "docker.io/team/app:latest"],
    ["index.docker.io/library/alpine", "docker.io/library/alpine:latest"],
    ["docker.io/alpine", "docker.io/library/alpine:latest"],
    ["ghcr.io/org/team/app:v1.2.3", "ghcr.io/org/team/app:v1.2.3"],
    ["localhost/app", "localhost/app:latest"],
    ["localhost:5000/app:dev", "localhost:5000/app:dev"],
    ["127.0.0.1:5000/a/b", "127.0.0.1:5000/a/b:latest"],
    ["[::1]:5000/app", "[::1]:5000/app:latest"],
    ["Registry.Example.com/app", "Registry.Example.com/app:latest"],
    ["my_app/x.y-z__w", "docker.io/my_app/x.y-z__w:latest"],
    [`ghcr.io/org/app@${D256}`, `ghcr.io/org/app@${D256}`],
    [`ghcr.io/org/app:v1@${D256}`, `ghcr.io/org/app:v1@${D256}`],
    [`app@${D512}`, `docker.io/library/app@${D512}`],
  ];
  for (const [input, canonical] of cases) assert.equal(formatReference(parseReference(input)), canonical, input);
  assert.deepEqual(parseReference(`localhost:5000/app:v1@${D256}`), {
    registry: "localhost:5000",
    repository: "app",
    tag: "v1",
    digest: D256,
  });
  assert.equal(registryApiHost("docker.io"), "registry-1.docker.io");
  assert.equal(registryApiHost("ghcr.io"), "ghcr.io");
});

test("references: malformed ones are refused, naming the reference and what is wrong", () => {
  const cases: [string, RegExp][] = [
    ["", /no repository name/],
    ["team/App", /must be lowercase/],
    ["ghcr.io/Team/app", /must be lowercase/],
    ["app:-bad", /invalid tag "-bad"/],
    [`app:${"t".repeat(129)}`, /invalid tag/],
    ["ghcr.io/app..x", /invalid repository path component "app..x"/],
    ["ghcr.io/a//b", /invalid repository path component ""/],
    ["ghcr.io/-app", /invalid repository path component/],
    ["bad_host.io:x/app", /invalid registry/],
    ["app@sha256:abc", /is not a digest/],
    [`app@md5:${"a".repeat(32)}`, /unsupported digest algorithm "md5"/],
    [`app@sha256:${"A".repeat(64)}`, /is not a digest/],
    [`ghcr.io/${"a".repeat(64)}`, /64-character hex/],
    [`ghcr.io/${"a/".repeat(130)}a`, /longer than 255/],
  ];
  for (const [input, message] of cases) {
    assert.throws(
      () => parseReference(input),
      (e: Error) => e instanceof InputError && message.test(e.message) && e.message.includes(`"${input}"`),
      input,
    );
  }
});

test("loopback hosts are the only ones plain HTTP needs no permission for", () => {
  for (const host of ["localhost", "localhost:5000", "127.0.0.1", "127.1.2.3:80", "[::1]:5000"]) assert.ok(isLoopbackHost(host), host);
  for (const host of ["localhost.example.com", "128.0.0.1", "10.0.0.1:5000", "registry.local", "127.0.0.1.nip.io"])
    assert.ok(!isLoopbackHost(host), host);
});

test("digests: sha256 and sha512 content is verified, a mismatch names both digests", () => {
  const bytes = Buffer.from("hello");
  verifyDigest(bytes, digestOf(bytes), "blob x");
  verifyDigest(bytes, digestOf(bytes, "sha512"), "blob x");
  const wrong = digestOf(Buffer.from("other"));
  assert.throws(
    () => verifyDigest(bytes, wrong, "blob reg/app@x"),
    (e: Error) =>
      e instanceof OciContentError &&
      e.message.includes("blob reg/app@x") &&
      e.message.includes(wrong) &&
      e.message.includes(digestOf(bytes)),
  );
  assert.throws(() => verifyDigest(bytes, `sha1:${"a".repeat(40)}`, "blob x"), /unsupported digest algorithm "sha1"/);
});

test("digests: a streamed blob fails at its end when content or size is wrong", async () => {
  const bytes = Buffer.from("streamed content");
  const collect = async (expected: string, size?: number) => {
    const verifier = digestVerifier(expected, "blob s", size);
    verifier.end(bytes);
    const chunks: Buffer[] = [];
    for await (const c of verifier) chunks.push(c as Buffer);
    return Buffer.concat(chunks);
  };
  assert.deepEqual(await collect(digestOf(bytes), bytes.length), bytes);
  await assert.rejects(collect(D256), (e: Error) => e instanceof OciContentError && e.message.includes(D256));
  await assert.rejects(collect(digestOf(bytes), 3), /larger than its descriptor's size 3/);
  await assert.rejects(collect(digestOf(bytes), 100), /16 bytes, its descriptor says 100/);
});

test("the referrers tag schema: <alg>-<hex>, the hex cut to 64 characters", () => {
  assert.equal(referrersTag(D256), `sha256-${"a".repeat(64)}`);
  assert.equal(referrersTag(D512), `sha512-${"b".repeat(64)}`);
});
