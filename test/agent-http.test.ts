// Issue 15 §3: the agent's HTTP endpoints survive any request. Malformed request lines, Host headers
// and targets are 400s, a handler that fails is a 500 for that request only, a slow sender is cut
// off, a huge body is refused before it is read; the server answers the next request every time, and
// nothing escapes to end the process (the test runner would report it). Metrics behind a token.
import { strict as assert } from "node:assert";
import { connect } from "node:net";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { AgentMetrics } from "../src/agent/metrics.ts";
import { forgeDeliveryHeaders } from "../src/core/webhook-signature.ts";
import { MAX_WEBHOOK_BODY, startWebhook } from "../src/agent/webhook.ts";
import { tempDir } from "./helpers/tools.ts";

/** Sends raw bytes and resolves with everything the server answers before closing (or after `waitMs`). */
function raw(url: string, bytes: string, waitMs = 3000): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = connect(Number(port), hostname);
    let answer = "";
    const done = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve(answer);
    };
    const timer = setTimeout(done, waitMs);
    socket.on("data", (d) => (answer += d.toString("latin1")));
    socket.on("close", done);
    socket.on("error", done);
    socket.write(bytes, "latin1");
  });
}

const HOSTILE_REQUESTS: [string, string][] = [
  ["garbage request line", "\x00\x01\x02 nonsense\r\n\r\n"],
  ["a Host header with a space and brackets", "GET /metrics HTTP/1.1\r\nHost: [::1 evil\r\n\r\n"],
  ["two Host headers", "GET /metrics HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"],
  ["an absolute-form target", "GET http://evil.example/metrics HTTP/1.1\r\nHost: x\r\n\r\n"],
  ["a target of //", "GET //metrics HTTP/1.1\r\nHost: x\r\n\r\n"],
  ["a bad percent escape", "POST /hooks/%zz HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"],
  ["an asterisk target", "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n"],
  ["a header line without a colon", "GET /metrics HTTP/1.1\r\nHost: x\r\nbroken header\r\n\r\n"],
  ["a header of 100 KiB", `GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(100 * 1024)}\r\n\r\n`],
  ["a negative Content-Length", "POST /hooks/prod HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n"],
  ["a huge chunk size", "POST /hooks/prod HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\n"],
];

test("metrics and webhook: hostile requests get an error status, never end the server; it answers the next request", async (t) => {
  const dir = tempDir(t, "vigil-http-");
  const secretFile = join(dir, "secret");
  writeFileSync(secretFile, "a-long-random-shared-webhook-secret\n");
  const triggered: string[][] = [];
  const webhook = await startWebhook({ listen: "127.0.0.1:0", secretFile, environments: ["prod"], trigger: (e) => void triggered.push(e) });
  t.after(() => webhook.close());
  const metrics = await new AgentMetrics(["prod"]).serve("127.0.0.1:0");
  t.after(() => metrics.close());
  for (const url of [webhook.url, metrics.url]) {
    for (const [what, bytes] of HOSTILE_REQUESTS) {
      const answer = await raw(url, bytes);
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1] ?? 0);
      // An answer the parser or the handler chose, never a crash (a 500) or silence without closing.
      assert.ok(status !== 500, `${what} at ${url}: ${answer.slice(0, 80)}`);
      if (/absolute-form|\/\/|asterisk/.test(what)) assert.equal(status, 400, `${what} at ${url}: ${answer.slice(0, 80)}`);
    }
    // Still up.
    const res = await fetch(`${url}/${url === metrics.url ? "metrics" : "hooks/prod"}`, {
      method: url === metrics.url ? "GET" : "POST",
      body: url === metrics.url ? undefined : "{}",
    });
    assert.ok(res.status === 200 || res.status === 401, `after the hostile requests: ${res.status}`);
  }
  assert.deepEqual(triggered, [], "nothing hostile triggered a reconcile");
});

test("webhook: a slow sender is cut off at the request timeout, a huge body is refused unread, a handler that throws does not end the server", async (t) => {
  const dir = tempDir(t, "vigil-http-");
  const secret = "a-long-random-shared-webhook-secret";
  const secretFile = join(dir, "secret");
  writeFileSync(secretFile, secret);
  let failNext = true;
  const webhook = await startWebhook({
    listen: "127.0.0.1:0",
    secretFile,
    environments: ["prod"],
    trigger: () => {},
    onRequest: () => {
      if (failNext) {
        failNext = false;
        throw new Error("a bug in a handler");
      }
    },
    timeouts: { headersMs: 500, requestMs: 1000 },
  });
  t.after(() => webhook.close());

  // Slow headers, then a slow body: the server ends both within its timeouts.
  const started = Date.now();
  const slowHeaders = await raw(webhook.url, "POST /hooks/prod HTTP/1.1\r\nHost: x\r\n", 5000);
  assert.ok(Date.now() - started < 4000, "cut off, not kept open");
  assert.match(slowHeaders, /^$|^HTTP\/1\.1 (408|400)/);
  const slowBody = await raw(webhook.url, "POST /hooks/prod HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nx", 5000);
  assert.match(slowBody, /^$|^HTTP\/1\.1 (408|400)/);

  // A body larger than the limit is refused from its Content-Length, before it is read.
  const huge = await raw(webhook.url, `POST /hooks/prod HTTP/1.1\r\nHost: x\r\nContent-Length: ${MAX_WEBHOOK_BODY * 100}\r\n\r\n`);
  assert.match(huge, /^HTTP\/1\.1 413/);

  // The first handled request meets a callback that throws after answering: the server goes on.
  const body = JSON.stringify({ ref: "refs/heads/main", after: "1".repeat(40) });
  const first = await fetch(`${webhook.url}/hooks/prod`, {
    method: "POST",
    body,
    headers: forgeDeliveryHeaders(secret, "/hooks/prod", body),
  });
  assert.equal(first.status, 202, "the trigger was answered before the failing log callback");
  const again = JSON.stringify({ ref: "refs/heads/main", after: "2".repeat(40) });
  assert.equal(
    (await fetch(`${webhook.url}/hooks/prod`, { method: "POST", body: again, headers: forgeDeliveryHeaders(secret, "/hooks/prod", again) }))
      .status,
    202,
  );
});

test("metrics behind a token: 401 without it or with another, 200 with it", async (t) => {
  const metrics = await new AgentMetrics(["prod"]).serve("127.0.0.1:0", Buffer.from("a-metrics-token-of-some-length"));
  t.after(() => metrics.close());
  assert.equal((await fetch(`${metrics.url}/metrics`)).status, 401);
  assert.equal((await fetch(`${metrics.url}/metrics`, { headers: { authorization: "Bearer another-token-of-some-length" } })).status, 401);
  assert.equal((await fetch(`${metrics.url}/metrics`, { headers: { authorization: "Basic eDp5" } })).status, 401);
  const ok = await fetch(`${metrics.url}/metrics`, { headers: { authorization: "Bearer a-metrics-token-of-some-length" } });
  assert.equal(ok.status, 200);
  assert.match(await ok.text(), /vigil_reconcile_total/);
});

test("vigil agent --webhook-secret prints the path's secret a forge signs with; an unknown environment is bad input", async (t) => {
  const { vigil } = await import("./helpers/tools.ts");
  const { webhookSecretFor } = await import("../src/core/webhook-signature.ts");
  const dir = tempDir(t, "vigil-http-");
  writeFileSync(join(dir, "secret"), "a-long-random-shared-webhook-secret\n");
  const config = join(dir, "agent.yaml");
  writeFileSync(
    config,
    `apiVersion: vigil.dev/v1alpha1\nkind: AgentConfig\ntrustPolicy: trust.yaml\nwebhook: { listen: "127.0.0.1:0", secretFile: secret }\nenvironments:\n  - name: prod\n    source: { url: https://git.example.com/config.git }\n    cluster: { inCluster: true }\n    namespaces: [shop]\n`,
  );
  const printed = vigil(["agent", "--config", config, "--webhook-secret", "/hooks/prod"]);
  assert.equal(printed.status, 0, printed.stderr);
  assert.equal(printed.stdout.trim(), webhookSecretFor("a-long-random-shared-webhook-secret", "/hooks/prod"));
  assert.notEqual(printed.stdout.trim(), webhookSecretFor("a-long-random-shared-webhook-secret", "/hooks"), "one secret per path");
  const unknown = vigil(["agent", "--config", config, "--webhook-secret", "/hooks/nowhere"]);
  assert.equal(unknown.status, 2);
  assert.match(unknown.stderr, /--webhook-secret \/hooks\/nowhere: give \/hooks or \/hooks\/ENV for a configured environment \(prod\)/);
});
