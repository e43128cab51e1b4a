// Credentials never printed (issue 14 §9): a token in a repository URL, or given as a token file, appears
// in no output channel. The redaction itself, then every command against a loopback git server that
// really wants the token, searched in stdout and stderr, table and --json, successes and errors.
import { strict as assert } from "node:assert";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { before, test } from "node:test";
import { setTimeout as delay } from "node:timers/promises";
import { redactUrl } from "../src/audit/store.ts";
import { redactCredentials } from "../src/core/redact.ts";
import { SshSigner, soleOwnerPolicy, TestRepo } from "./helpers/git-fixture.ts";
import { startGitHttpServer, type GitHttpServer } from "./helpers/git-http.ts";
import { fileScope, run, tempDir, vigil } from "./helpers/tools.ts";

test("a store's PostgreSQL URL shows neither the password in its userinfo nor one in its query", () => {
  assert.equal(
    redactUrl("postgres://vigil:pw@127.0.0.1:5432/db?password=s3cret&sslmode=disable&sslpassword=k3y"),
    "postgres://vigil:***@127.0.0.1:5432/db?password=***&sslmode=disable&sslpassword=***",
  );
  assert.equal(redactUrl("postgresql://h/db?sslmode=require"), "postgresql://h/db?sslmode=require");
  // The userinfo runs to the last "@", as the URL parser reads it: no part of the password is left.
  assert.equal(redactUrl("postgres://u:p@ss word@h/db"), "postgres://u:***@h/db");
  assert.equal(redactUrl("postgres://[::1/db"), "postgres://(unparsable URL)");
  assert.equal(redactUrl("/var/lib/vigil/audit"), "/var/lib/vigil/audit");
});

test("userinfo is blanked in every URL of a line, whatever the token holds", () => {
  const cases: [string, string][] = [
    ["cannot fetch https://x-access-token:ghp_a@b@github.com/o/r.git: 403", "cannot fetch https://***@github.com/o/r.git: 403"],
    ["https://TOKEN@gitlab.example/g/r.git", "https://***@gitlab.example/g/r.git"],
    ["from http://u:p1@h1/a to https://u:p2@h2/b", "from http://***@h1/a to https://***@h2/b"],
    [
      '{"repo":"https://x:t0k@127.0.0.1:8443/r.git","note":"mail me@example.com"}',
      '{"repo":"https://***@127.0.0.1:8443/r.git","note":"mail me@example.com"}',
    ],
    ["ssh://git@github.com/o/r.git and git@github.com:o/r.git", "ssh://git@github.com/o/r.git and git@github.com:o/r.git"],
    ["ssh://deploy:hunter2@host/r.git", "ssh://***@host/r.git"],
    ["https://h/r.git?access_token=abc&ref=main&private_token=x#frag", "https://h/r.git?access_token=***&ref=main&private_token=***#frag"],
    ["https://h/r?password=p&x-api-key=k&sig=s", "https://h/r?password=***&x-api-key=***&sig=***"],
    ["plain text, no URL: user@example.com", "plain text, no URL: user@example.com"],
    ["/local/path/repo", "/local/path/repo"],
    // A URL with no userinfo keeps an "@" in its path: a Sigstore workflow identity names who signed.
    [
      "signed by https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main",
      "signed by https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main",
    ],
    ["https://[::1]:8443/p@q and https://localhost/a@b", "https://[::1]:8443/p@q and https://localhost/a@b"],
    // …but a bare token holding a raw "/" is no host name, and is blanked whole.
    ["https://abc/def@github.com/o/r.git", "https://***@github.com/o/r.git"],
  ];
  for (const [input, expected] of cases) assert.equal(redactCredentials(input), expected, input);
});

test("redaction fails closed: URLs run together lose everything up to the last @, and it stays linear", () => {
  assert.equal(redactCredentials("https://a:t1@h1/r,https://b:t2@h2/r"), "https://***@h2/r");
  const many = "x https://u:tok@h/r ".repeat(50_000);
  const started = performance.now();
  const out = redactCredentials(many + "a://".repeat(100_000));
  assert.ok(performance.now() - started < 2000);
  assert.ok(!out.includes("tok@"));
});

// --- against a real git server that wants the token --------------------------------------------------------

const scope = fileScope();
const TOKEN_CORE = "s3cr3tT0kenVa1ue";
const TOKEN = `tk@${TOKEN_CORE}`; // an "@" inside the token, as some forges' tokens have
/** Every form the token could leak in: as typed in a URL, raw, and inside a Basic header. */
const secretForms = [TOKEN_CORE, encodeURIComponent(TOKEN), Buffer.from(`x-access-token:${TOKEN}`).toString("base64")];

function assertNoSecret(channel: string, text: string): void {
  for (const form of secretForms) assert.ok(!text.includes(form), `${channel} contains the token (${form}):\n${text}`);
}

/** Every file under `dir`, for the places a command writes (its cache). */
function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: "utf8" })
    .map((f) => join(dir, f))
    .filter((f) => statSync(f).isFile());
}

interface Fixture {
  dir: string;
  server: GitHttpServer;
  policy: string;
  first: string;
  url: string;
  cache: string;
}
let fixture: Fixture;
before(async () => {
  fixture = await makeFixture();
});

async function makeFixture(): Promise<Fixture> {
  const dir = tempDir(scope);
  const alice = new SshSigner(dir, "alice");
  const repo = new TestRepo(join(dir, "work"));
  const first = repo.commit({ "envs/prod/a.yaml": "a: 1" }, alice);
  repo.commit({ "envs/prod/a.yaml": "a: 2" }, alice);
  run("git", ["clone", "-q", "--bare", repo.dir, join(dir, "served", "config.git")]);
  const server = await startGitHttpServer(scope, join(dir, "served"), TOKEN);
  const policy = soleOwnerPolicy(join(dir, "trust.yaml"), alice, "prod");
  const url = `${server.base.replace("http://", `http://x-access-token:${encodeURIComponent(TOKEN)}@`)}config.git`;
  return { dir, server, policy, first, url, cache: join(dir, "cache") };
}

function vigilWithCache(args: string[]): ReturnType<typeof vigil> {
  return vigil(args, { env: { XDG_CACHE_HOME: fixture.cache } });
}

test("vigil verify commits with a token in --repo: the fetch uses it, no output shows it", async () => {
  const runs = {
    table: vigilWithCache(["verify", "commits", "--repo", fixture.url, "--trust", fixture.policy]),
    json: vigilWithCache(["verify", "commits", "--repo", fixture.url, "--trust", fixture.policy, "--json"]),
    env: vigilWithCache([
      "verify",
      "commits",
      "--repo",
      fixture.url,
      "--trust",
      fixture.policy,
      "--env",
      "prod",
      "--from",
      fixture.first,
      "--json",
    ]),
  };
  await delay(200); // the server's report of each request, read once vigil (run synchronously) has finished
  assert.ok(
    fixture.server.requests.some((r) => r.authorized),
    "the server saw the token: the fetch used the real URL",
  );
  for (const [name, r] of Object.entries(runs)) {
    assert.equal(r.status, 0, `${name}: ${r.stdout}${r.stderr}`);
    assertNoSecret(`${name} stdout`, r.stdout);
    assertNoSecret(`${name} stderr`, r.stderr);
  }
  const redactedUrl = `${fixture.server.base.replace("http://", "http://***@")}config.git`;
  assert.equal(runs.json.json().subject.repo, redactedUrl);
  assert.match(runs.table.stdout, new RegExp(`^repo: ${redactedUrl.replace(/[.*?+/]/g, "\\$&")}$`, "m"));
  for (const file of filesUnder(fixture.cache)) {
    if (file.includes("/objects/")) continue; // compressed git objects of the repository itself
    assertNoSecret(file, readFileSync(file, "latin1"));
  }
});

test("errors name the repository without its token: a revision that does not exist (exit 2), a wrong token (exit 3)", () => {
  const missing = vigilWithCache([
    "verify",
    "commits",
    "--repo",
    fixture.url,
    "--trust",
    fixture.policy,
    "--to",
    "no-such-branch",
    "--json",
  ]);
  assert.equal(missing.status, 2, missing.stderr);
  assert.match(missing.stderr, /revision "no-such-branch" does not exist in http:\/\/\*\*\*@127\.0\.0\.1:\d+\/config\.git/);
  assertNoSecret("error stderr", missing.stderr + missing.stdout);

  const wrong = fixture.url.replace(encodeURIComponent(TOKEN), `wrong${TOKEN_CORE.slice(0, 4)}`);
  const refused = vigilWithCache(["verify", "commits", "--repo", wrong, "--trust", fixture.policy, "--debug"]);
  assert.equal(refused.status, 3, refused.stderr);
  assert.match(refused.stderr, /cannot fetch http:\/\/\*\*\*@127\.0\.0\.1:\d+\/config\.git/);
  assert.ok(!refused.stderr.includes(`wrong${TOKEN_CORE.slice(0, 4)}`), refused.stderr);
  assertNoSecret("fetch error", refused.stderr + refused.stdout);
});

test("vigil verify release with a token in --repo: table, --json and an error, none shows it", () => {
  const runs = [
    vigilWithCache(["verify", "release", "--repo", fixture.url, "--trust", fixture.policy, "--env", "prod"]),
    vigilWithCache(["verify", "release", "--repo", fixture.url, "--trust", fixture.policy, "--env", "prod", "--json"]),
    vigilWithCache(["verify", "release", "--repo", fixture.url, "--trust", fixture.policy, "--env", "prod", "--rev", "no-such-tag"]),
  ];
  assert.deepEqual(
    runs.map((r) => r.status),
    [0, 0, 2],
    runs.map((r) => r.stderr).join("\n"),
  );
  assert.match(runs[1]!.json().subject.repo, /^http:\/\/\*\*\*@127\.0\.0\.1:\d+\/config\.git$/);
  runs.forEach((r, i) => {
    assertNoSecret(`release ${i} stdout`, r.stdout);
    assertNoSecret(`release ${i} stderr`, r.stderr);
  });
});
