// The console's API over a real audit log, inventory and git repository, through real HTTPS (the
// client trusts only the console's certificate): what each route answers, who may call it, that every
// call is logged without its credential, that it is read-only, and that a log that stops verifying is
// never served from again.
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { Agent, fetch } from "undici";
import { openCheckpoint } from "../src/audit/checkpoint.ts";
import { leafHash } from "../src/audit/hash.ts";
import { parseVerifierKey } from "../src/audit/note.ts";
import { verifyInclusion } from "../src/audit/proof.ts";
import { AuditLog } from "../src/audit/log.ts";
import { loadConsoleConfig } from "../src/console/config.ts";
import { routes } from "../src/console/routes.ts";
import { startConsole, type RunningConsole } from "../src/console/server.ts";
import { logStores } from "./helpers/audit.ts";
import { makeConsoleFixture, type ConsoleFixture } from "./helpers/console-fixture.ts";
import { fileScope, tempDir, vigil } from "./helpers/tools.ts";

const scope = fileScope();
/** A database on a real PostgreSQL, started on first use and stopped when the file's tests end. */
const postgresLog = logStores().find((s) => s.name === "postgres")!;
let shared: Promise<{ world: ConsoleFixture; console: RunningConsole; dir: string }> | undefined;

/** One world and console for the read-only tests (they change nothing). */
function sharedConsole() {
  shared ??= (async () => {
    const dir = tempDir(scope);
    const world = await makeConsoleFixture(dir);
    const running = await startConsole(loadConsoleConfig(world.configFile));
    scope.after(() => running.close());
    return { world, console: running, dir };
  })();
  return shared;
}

/** HTTPS that trusts the console's own certificate and nothing else. */
function client(running: RunningConsole) {
  const dispatcher = new Agent({ connect: { ca: running.certificate } });
  return async (path: string, token?: string, init: { method?: string; headers?: Record<string, string> } = {}) => {
    const response = await fetch(new URL(path, running.url), {
      ...init,
      dispatcher,
      headers: { ...(token && { authorization: `Bearer ${token}` }), ...init.headers },
    });
    const text = await response.text();
    let body: any = text;
    try {
      body = JSON.parse(text);
    } catch {}
    return { status: response.status, headers: response.headers, body, text };
  };
}

test("the OpenAPI document is served, describes every route and its role, and every route needs credentials", async () => {
  const { console: running } = await sharedConsole();
  const get = client(running);
  const doc = await get("/api/v1/openapi.json");
  assert.equal(doc.status, 200);
  assert.equal(doc.body.openapi, "3.1.0");
  assert.deepEqual(Object.keys(doc.body.paths).sort(), [...routes.map((r) => r.path), "/api/v1/sign-in"].sort());
  assert.deepEqual((await get("/api/v1/sign-in")).body, {}, "no OIDC configured: tokens only");
  for (const r of routes) {
    assert.deepEqual(doc.body.paths[r.path].get.security, [{ bearer: [] }]);
    assert.match(doc.body.paths[r.path].get.description, new RegExp(r.role));
    const concrete = r.path.replace("{name}", "prod").replace("{index}", "0");
    const refused = await get(concrete);
    assert.equal(refused.status, 401, concrete);
    assert.match(refused.headers.get("www-authenticate") ?? "", /^Bearer/);
  }
});

test("bearer tokens: unknown, malformed and missing credentials are refused; a viewer may not read the audit log; every call is logged without the token", async () => {
  const { console: running, world, dir } = await sharedConsole();
  const get = client(running);
  assert.match((await get("/api/v1/me", "vigil_not-a-token")).body.error, /unknown bearer token/);
  assert.match(
    (await get("/api/v1/me", undefined, { headers: { authorization: `Basic ${world.tokens.auditor}` } })).body.error,
    /not "Bearer TOKEN"/,
  );
  // Over the server's header limit: refused before it is read (431).
  assert.equal((await get("/api/v1/me", "x".repeat(20_000))).status, 431);
  assert.equal((await get("/api/v1/me", "x".repeat(16_500).slice(0, 15_000))).status, 401);
  assert.deepEqual((await get("/api/v1/me", world.tokens.viewer)).body, { name: "victor", role: "viewer", via: "token" });
  const denied = await get("/api/v1/audit/search", world.tokens.viewer);
  assert.equal(denied.status, 403);
  assert.match(denied.body.error, /needs the auditor role; victor is a viewer/);
  assert.equal((await get("/api/v1/audit/search", world.tokens.auditor)).status, 200);
  assert.equal((await get("/api/v1/nothing", world.tokens.auditor)).status, 404);

  await new Promise((r) => setTimeout(r, 100));
  const log = readFileSync(join(dir, "access.log"), "utf8");
  for (const token of [world.tokens.auditor, world.tokens.viewer]) assert.ok(!log.includes(token), "a token reached the access log");
  const calls = log
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l));
  assert.ok(
    calls.some(
      (c) => c.caller === "victor" && c.path === "/api/v1/audit/search" && c.status === 403 && c.refused === "needs the auditor role",
    ),
  );
  assert.ok(calls.some((c) => c.caller === "alice" && c.role === "auditor" && c.path === "/api/v1/audit/search" && c.status === 200));
  assert.ok(calls.some((c) => c.caller === null && c.status === 401 && c.refused === "unknown bearer token"));
});

test("the console is read-only: every method but GET and HEAD is refused", async () => {
  const { console: running, world } = await sharedConsole();
  const get = client(running);
  for (const method of ["POST", "PUT", "PATCH", "DELETE"]) {
    const r = await get("/api/v1/environments", world.tokens.auditor, { method });
    assert.equal(r.status, 405, method);
    assert.equal(r.headers.get("allow"), "GET, HEAD");
  }
  assert.equal((await get(`/api/v1/audit/search?resource=${"a".repeat(9000)}`, world.tokens.auditor)).status, 414);
});

test("environments: what runs in prod, who approved it, its health and findings; what waits and why", async () => {
  const { console: running, world } = await sharedConsole();
  const get = client(running);
  const { body } = await get("/api/v1/environments", world.tokens.viewer);
  const prod = body.environments.find((e: any) => e.name === "prod");
  assert.equal(prod.state, "waiting for approval");
  assert.equal(prod.running.revision, world.commits.second);
  assert.deepEqual(
    prod.approvedBy.map((a: any) => a.name),
    ["bob", "carol"],
  );
  assert.equal(prod.health.status, "healthy");
  assert.deepEqual(prod.findings, { critical: 1, high: 0, medium: 1, low: 0, info: 0, none: 0, unknown: 0 });
  assert.equal(prod.latestReconcile.revision, world.commits.third);
  assert.match(prod.latestReconcile.blockedBy[0].message, /1 of 2 approvals/);
  const staging = body.environments.find((e: any) => e.name === "staging");
  assert.equal(staging.state, "running");

  const detail = (await get("/api/v1/environments/prod", world.tokens.viewer)).body;
  assert.equal(detail.resources.length, 3);
  assert.deepEqual(
    detail.chains.running.stages.map((s: any) => s.stage),
    ["commits", "signers", "approvals", "policies", "images", "vulnerabilities", "applied"],
  );
  const byStage = Object.fromEntries(detail.chains.running.stages.map((s: any) => [s.stage, s]));
  assert.equal(byStage.approvals.summary, "approved by bob, carol");
  assert.equal(byStage.vulnerabilities.status, "fail", "a critical finding is open on a running image");
  assert.equal(byStage.applied.status, "pass");
  assert.equal(detail.chains.latest.stages.find((s: any) => s.stage === "approvals").status, "fail");
  assert.equal(detail.chains.latest.stages.find((s: any) => s.stage === "applied").status, "pending");
  assert.equal((await get("/api/v1/environments/qa", world.tokens.viewer)).status, 404);
  assert.equal((await get("/api/v1/environments/Not%20A%20Name", world.tokens.viewer)).status, 400);
});

test("explain: the chain behind a resource and an image digest, each entry's proof verifying against the signed checkpoint", async () => {
  const { console: running, world } = await sharedConsole();
  const get = client(running);
  for (const target of ["Deployment/shop/web", world.digest]) {
    const { status, body } = await get(`/api/v1/explain?env=prod&target=${encodeURIComponent(target)}`, world.tokens.viewer);
    assert.equal(status, 200, target);
    assert.ok(body.links.some((l: any) => l.link === "approval" && /bob/.test(l.detail)));
    // The console reads only the environment's entries its index names; vigil audit explain reads the whole log: the same answer.
    const cli = vigil(["audit", "explain", target, "--env", "prod", "--log", world.logDir, "--key", world.verifierKey, "--json"]);
    assert.equal(cli.status, 0, cli.stderr);
    assert.deepEqual(body.links, cli.json().links);
    const checkpoint = openCheckpoint(body.checkpoint.note, parseVerifierKey(world.verifierKey));
    for (const e of body.entries) {
      assert.equal(leafHash(Buffer.from(e.data, "utf8")).toString("hex"), e.leafHash);
      verifyInclusion(
        e.index,
        checkpoint.size,
        Buffer.from(e.leafHash, "hex"),
        e.proof.hashes.map((h: string) => Buffer.from(h, "hex")),
        checkpoint.root,
      );
    }
  }
  assert.equal((await get("/api/v1/explain?env=prod&target=Deployment/shop/absent", world.tokens.viewer)).status, 404);
  assert.match((await get("/api/v1/explain?env=prod&target=not%20a%20target", world.tokens.viewer)).body.error, /neither a resource/);
  assert.match((await get("/api/v1/explain?env=prod", world.tokens.viewer)).body.error, /target is required/);
});

test("entries: the record, its exact bytes and its proof; out of range and malformed indices are refused", async () => {
  const { console: running, world } = await sharedConsole();
  const get = client(running);
  const { body } = await get("/api/v1/entries/3", world.tokens.viewer);
  assert.equal(body.record.payload.signer, "bob");
  assert.equal(leafHash(Buffer.from(body.data)).toString("hex"), body.leafHash);
  assert.equal((await get("/api/v1/entries/9", world.tokens.viewer)).status, 404);
  assert.equal((await get("/api/v1/entries/-1", world.tokens.viewer)).status, 400);
  assert.equal((await get("/api/v1/entries/1e3", world.tokens.viewer)).status, 400);
});

test("audit search by person, commit, resource, kind, environment and time, paged; export as JSON lines; checkpoint history verified", async () => {
  const { console: running, world } = await sharedConsole();
  const get = client(running);
  const search = async (q: string) => (await get(`/api/v1/audit/search?${q}`, world.tokens.auditor)).body;
  assert.deepEqual(
    (await search("person=carol")).entries.map((e: any) => e.index),
    [4],
  );
  assert.deepEqual(
    (await search(`commit=${world.commits.third.slice(0, 8)}`)).entries.map((e: any) => e.kind),
    ["reconcile"],
  );
  assert.deepEqual(
    (await search("resource=deployment/shop/web")).entries.map((e: any) => [e.kind, e.environment]),
    [
      ["apply", "prod"],
      ["apply", "staging"],
    ],
  );
  assert.deepEqual(
    (await search("kind=deployment&env=staging")).entries.map((e: any) => e.index),
    [2],
  );
  assert.deepEqual(
    (await search("since=2026-12-01T09:12:00Z&until=2026-12-01T09:14:00Z")).entries.map((e: any) => e.index),
    [7, 6, 5],
  );
  const first = await search("limit=4");
  assert.deepEqual(
    first.entries.map((e: any) => e.index),
    [8, 7, 6, 5],
  );
  assert.equal(first.next, 5);
  assert.deepEqual(
    (await search(`limit=4&before=${first.next}`)).entries.map((e: any) => e.index),
    [4, 3, 2, 1],
  );
  assert.match(
    (await get("/api/v1/audit/search?since=yesterday", world.tokens.auditor)).body.error,
    /since: "yesterday" is not an RFC 3339 time/,
  );
  assert.match(
    (await get("/api/v1/audit/search?limit=100000", world.tokens.auditor)).body.error,
    /limit: must be a whole number from 0 to 500/,
  );

  const exported = await get("/api/v1/audit/export?env=prod", world.tokens.auditor);
  assert.equal(exported.status, 200);
  assert.match(exported.headers.get("content-type") ?? "", /application\/x-ndjson/);
  const lines = exported.text
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l));
  assert.deepEqual(
    lines.map((l) => l.index),
    [3, 4, 5, 6, 7, 8],
  );
  assert.ok(lines.every((l) => l.environment === "prod" && /^[0-9a-f]{64}$/.test(l.leafHash)));

  const cps = (await get("/api/v1/audit/checkpoints", world.tokens.auditor)).body;
  assert.equal(cps.total, 5);
  assert.deepEqual(
    cps.checkpoints.map((c: any) => c.size),
    [9, 8, 3, 2, 0],
  );
  assert.ok(cps.checkpoints.every((c: any) => c.verified));
});

test("findings by environment and severity with their history; approvals waiting with the exact commit, its diff and the command", async () => {
  const { console: running, world } = await sharedConsole();
  const get = client(running);
  const f = (await get("/api/v1/findings?env=prod&severity=critical", world.tokens.viewer)).body;
  assert.equal(f.total, 1);
  assert.equal(f.findings[0].rule, "GHSA-35jh-r3h4-6jhm");
  assert.deepEqual(
    f.history.map((d: any) => [d.day, d.critical, d.medium]),
    [
      ["2026-12-02", 1, 0],
      ["2026-12-03", 1, 1],
    ],
  );
  assert.match(
    (await get("/api/v1/findings?severity=urgent", world.tokens.viewer)).body.error,
    /not critical, high, medium, low, info, none or unknown/,
  );

  const { pending } = (await get("/api/v1/approvals", world.tokens.viewer)).body;
  assert.equal(pending.length, 1);
  assert.equal(pending[0].environment, "prod");
  assert.equal(pending[0].revision, world.commits.third);
  assert.equal(pending[0].from, world.commits.second);
  assert.match(pending[0].diff.text, /-replicas: 2\n\+replicas: 3/);
  assert.equal(pending[0].command.split("\n")[1], `vigil approve --repo . --env prod --rev ${world.commits.third} --key ~/.ssh/id_ed25519`);
  assert.match(pending[0].command, /^git clone https:\/\/git\.example\.com\/shop\/config\.git config/);
  assert.match(pending[0].command, /git push origin 'refs\/vigil\/approvals\/\*:refs\/vigil\/approvals\/\*'$/);
});

test("a log edited while the console serves it: the edit is refused with the entry named, and nothing is served from the log after", async (t) => {
  const dir = tempDir(t);
  const world = await makeConsoleFixture(dir);
  const running = await startConsole(loadConsoleConfig(world.configFile));
  t.after(() => running.close());
  const get = client(running);
  assert.equal((await get("/api/v1/environments", world.tokens.auditor)).status, 200);
  // Entry 3 (bob's approval) changed in place, same length: "bob" becomes "eve".
  const file = join(world.logDir, "entries");
  const bytes = readFileSync(file);
  const at = bytes.indexOf('"signer":"bob"');
  bytes.write('"signer":"eve"', at);
  writeFileSync(file, bytes);
  const edited = await get("/api/v1/entries/3", world.tokens.auditor);
  assert.equal(edited.status, 500);
  assert.match(edited.body.error, /the audit log does not verify; nothing from it is served: entry 3: its bytes do not match/);
  const after = await get("/api/v1/audit/search", world.tokens.auditor);
  assert.equal(after.status, 500);
});

test("the console follows the log as the agent appends to it", async (t) => {
  const world = await makeConsoleFixture(tempDir(t));
  const running = await startConsole(loadConsoleConfig(world.configFile));
  t.after(() => running.close());
  const get = client(running);
  assert.equal((await get("/api/v1/audit/search?person=carol", world.tokens.auditor)).body.entries.length, 1);
  const log = await AuditLog.open(world.logDir, { signingKeyFile: world.keyFile });
  await log.append([
    { kind: "approval", time: "2026-12-01T09:30:00Z", environment: "prod", payload: { revision: world.commits.third, signer: "carol" } },
  ]);
  await log.append([
    {
      kind: "break-glass",
      time: "2026-12-01T09:40:00Z",
      environment: "prod",
      payload: {
        object: { apiVersion: "apps/v1", kind: "Deployment", namespace: "shop", name: "hotfix" },
        operation: "CREATE",
        user: "oncall@example.com",
        signer: "carol",
        key: "ssh-ed25519 SHA256:carolkey",
        reason: "INC-42: payments down",
        token: "sha256:" + "e".repeat(64),
        notAfter: "2026-12-01T10:40:00Z",
        images: ["registry.example.com/shop/hotfix:1"],
      },
    },
  ]);
  await log.close();
  await new Promise((r) => setTimeout(r, 1100));
  const found = (await get("/api/v1/audit/search?person=carol", world.tokens.auditor)).body;
  assert.deepEqual(
    found.entries.map((e: any) => e.index),
    [10, 9, 4],
  );
  assert.equal(found.total, 11);
  // A break-glass admission is found by who asked for it, and by what it let in.
  assert.deepEqual(
    (await get("/api/v1/audit/search?person=oncall", world.tokens.auditor)).body.entries.map((e: any) => e.kind),
    ["break-glass"],
  );
  assert.deepEqual(
    (await get("/api/v1/audit/search?resource=deployment/shop/hotfix", world.tokens.auditor)).body.entries.map((e: any) => e.index),
    [10],
  );
  const entry = (await get("/api/v1/entries/9", world.tokens.viewer)).body;
  assert.equal(entry.proof.treeSize, 11);
});

test("the console over a log kept in PostgreSQL: the same answers, proofs, and entries appended later", async (t) => {
  const location = postgresLog.location(t);
  if (!location) return;
  const world = await makeConsoleFixture(tempDir(t), { log: location });
  const running = await startConsole(loadConsoleConfig(world.configFile));
  t.after(() => running.close());
  const get = client(running);
  const prod = (await get("/api/v1/environments", world.tokens.viewer)).body.environments.find((e: any) => e.name === "prod");
  assert.equal(prod.running.revision, world.commits.second);
  assert.deepEqual(
    prod.approvedBy.map((a: any) => a.name),
    ["bob", "carol"],
  );
  const log = await AuditLog.open(location, { signingKeyFile: world.keyFile });
  await log.append([
    { kind: "approval", time: "2026-12-01T09:30:00Z", environment: "prod", payload: { revision: world.commits.third, signer: "carol" } },
  ]);
  await log.close();
  await new Promise((r) => setTimeout(r, 1100));
  const entry = (await get("/api/v1/entries/9", world.tokens.viewer)).body;
  const checkpoint = openCheckpoint(entry.checkpoint.note, parseVerifierKey(world.verifierKey));
  verifyInclusion(
    9,
    checkpoint.size,
    leafHash(Buffer.from(entry.data)),
    entry.proof.hashes.map((h: string) => Buffer.from(h, "hex")),
    checkpoint.root,
  );
  assert.equal(entry.record.payload.signer, "carol");
});
