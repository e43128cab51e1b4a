// Registry credentials come from docker's config.json as `docker login` writes it; credential helpers
// are named, not run; and WWW-Authenticate challenges parse as RFC 7235 writes them.
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { InputError } from "../src/core/errors.ts";
import { mergeScopes, parseChallenges } from "../src/oci/auth.ts";
import { dockerConfigCredentials, dockerConfigPath } from "../src/oci/docker-config.ts";
import { tempDir } from "./helpers/tools.ts";

function configDir(t: Parameters<typeof tempDir>[0], config: unknown): NodeJS.ProcessEnv {
  const dir = tempDir(t, "vigil-docker-config-");
  writeFileSync(join(dir, "config.json"), typeof config === "string" ? config : JSON.stringify(config));
  return { DOCKER_CONFIG: dir };
}

const b64 = (s: string) => Buffer.from(s).toString("base64");

test("docker config: auth, username/password and identitytoken entries, under any key spelling", (t) => {
  const env = configDir(t, {
    auths: {
      "https://index.docker.io/v1/": { auth: b64("hubuser:hub:pass") },
      "registry.example.com": { username: "alice", password: "s3cret" },
      "https://ghcr.io": { auth: b64("ignored:x"), identitytoken: "refresh-123" },
      "Quay.IO/v2/": { auth: b64("bob:pw") },
      "empty.example.com": {},
    },
  });
  const credentials = dockerConfigCredentials(env);
  assert.deepEqual(credentials("docker.io"), { credentials: { username: "hubuser", password: "hub:pass" } });
  assert.deepEqual(credentials("registry.example.com"), { credentials: { username: "alice", password: "s3cret" } });
  assert.deepEqual(credentials("ghcr.io"), { credentials: { identityToken: "refresh-123" } });
  assert.deepEqual(credentials("quay.io"), { credentials: { username: "bob", password: "pw" } });
  assert.deepEqual(credentials("empty.example.com"), {});
  assert.deepEqual(credentials("other.example.com"), {});
  assert.equal(dockerConfigPath(env), join(env.DOCKER_CONFIG!, "config.json"));
});

test("docker config: a missing file means anonymous access", (t) => {
  const credentials = dockerConfigCredentials({ DOCKER_CONFIG: tempDir(t) });
  assert.deepEqual(credentials("docker.io"), {});
});

test("docker config: credential helpers are named as unsupported for the registries they hold", (t) => {
  const env = configDir(t, {
    credsStore: "desktop",
    credHelpers: { "123.dkr.ecr.us-east-1.amazonaws.com": "ecr-login" },
    auths: { "registry.example.com": { auth: b64("a:b") } },
  });
  const credentials = dockerConfigCredentials(env);
  const ecr = credentials("123.dkr.ecr.us-east-1.amazonaws.com");
  assert.equal(ecr.credentials, undefined);
  assert.match(ecr.note!, /docker-credential-ecr-login, which Vigil does not run/);
  assert.match(credentials("docker.io").note!, /credential helper docker-credential-desktop/);
  assert.deepEqual(credentials("registry.example.com"), { credentials: { username: "a", password: "b" } });
});

test("docker config: a malformed file or entry is an input error naming the file and field", (t) => {
  const cases: [unknown, RegExp][] = [
    ["{not json", /config\.json: not valid JSON/],
    [[], /must be a JSON object/],
    [{ auths: [] }, /"auths" must be an object/],
    [{ auths: { "r.io": { auth: "!!!" } } }, /auths\."r\.io"\.auth must be base64 of "username:password"/],
    [{ auths: { "r.io": { auth: b64("nocolon") } } }, /auths\."r\.io"\.auth must be base64/],
    [{ auths: { "r.io": { username: 7 } } }, /auths\."r\.io"\.username must be a string/],
  ];
  for (const [config, message] of cases) {
    const credentials = dockerConfigCredentials(configDir(t, config));
    assert.throws(
      () => credentials("r.io"),
      (e: Error) => e instanceof InputError && message.test(e.message) && e.message.includes("config.json"),
      message.source,
    );
  }
});

test("challenges: Bearer with quoted parameters (commas and spaces inside), Basic, unknown schemes skipped", () => {
  assert.deepEqual(
    parseChallenges(
      'Bearer realm="https://auth.example.com/token",service="registry.example.com",scope="repository:a/b:pull,push repository:c:pull",error="insufficient_scope"',
    ),
    [
      {
        scheme: "bearer",
        params: {
          realm: "https://auth.example.com/token",
          service: "registry.example.com",
          scope: "repository:a/b:pull,push repository:c:pull",
          error: "insufficient_scope",
        },
      },
    ],
  );
  assert.deepEqual(parseChallenges('Basic realm="Registry Realm"'), [{ scheme: "basic", params: { realm: "Registry Realm" } }]);
  assert.deepEqual(parseChallenges('Negotiate, bearer realm=https://a/t, service="s\\"q"'), [
    { scheme: "bearer", params: { realm: "https://a/t", service: 's"q' } },
  ]);
  assert.deepEqual(parseChallenges(""), []);
});

test("token scopes merge per repository, so pull and pull,push ask for one token", () => {
  assert.deepEqual(mergeScopes(["repository:team/app:pull,push", "repository:team/app:pull"]), ["repository:team/app:pull,push"]);
  assert.deepEqual(mergeScopes(["repository:b:pull", "repository:a:push", "repository:a:pull"]), [
    "repository:a:pull,push",
    "repository:b:pull",
  ]);
  assert.deepEqual(mergeScopes(["repository:localhost:5000/app:pull"]), ["repository:localhost:5000/app:pull"]);
});
