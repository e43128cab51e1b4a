// Sinks beyond the audit log and Events: the webhook (signed as the agent's incoming webhook verifies,
// checked here by a real HTTP receiver with the agent's own verification; Slack-compatible body; an
// unreachable receiver reported, the findings still recorded) and Prometheus metrics.
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { join } from "node:path";
import { test } from "node:test";
import { boundWebhookPayload, verifyWebhookSignature } from "../src/core/webhook-signature.ts";
import { findingMetrics, webhookSink } from "../src/monitor/sinks.ts";
import { feed, openMonitor, osv, sboms, workloads } from "./helpers/monitor-fixture.ts";
import { tempDir } from "./helpers/tools.ts";

const SECRET = Buffer.from("a webhook secret of enough length to matter");

async function receiver(t: { after(fn: () => unknown): void }) {
  const received: { verified: boolean; body: any }[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req
      .on("data", (c) => chunks.push(c))
      .on("end", () => {
        const body = Buffer.concat(chunks);
        const delivery = String(req.headers["x-vigil-delivery"]);
        received.push({
          verified: verifyWebhookSignature(SECRET, boundWebhookPayload(req.url!, delivery, body), req.headers["x-vigil-signature-256"]),
          body: JSON.parse(body.toString()),
        });
        res.writeHead(204).end();
      });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.after(() => server.close());
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}/hooks/findings`, received };
}

const images = { "web:1": ["pkg:npm/lodash@4.17.20"] };
const advisory = osv({
  id: "GHSA-lodash-0001",
  modified: "2026-11-01T00:00:00Z",
  ecosystem: "npm",
  name: "lodash",
  fixed: "4.17.21",
  severity: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N",
});

test("findings reach a webhook signed as the agent verifies, as JSON or a Slack-compatible text", async (t) => {
  const dir = tempDir(t);
  const json = await receiver(t);
  const slack = await receiver(t);
  const f = await openMonitor(dir, {
    sinks: [webhookSink({ url: json.url, secret: SECRET }), webhookSink({ url: slack.url, secret: SECRET, slack: true })],
  });
  t.after(() => f.close());
  await f.monitor.recordDeployment("prod", workloads("shop", { web: ["web:1"] }), {
    revision: "a".repeat(40),
    verdict: "pass",
    sbomFor: sboms(images),
  });
  await f.monitor.importAdvisories([feed(join(dir, "feed"), [advisory])]);
  assert.equal(json.received.length, 1, "a change with nothing opened or closed is not sent");
  assert.ok(json.received[0]!.verified);
  assert.equal(json.received[0]!.body.trigger, "advisories");
  assert.deepEqual(
    json.received[0]!.body.opened.map((x: any) => [x.workload, x.rule, x.severity]),
    [["Deployment shop/web", "GHSA-lodash-0001", "high"]],
  );
  assert.ok(slack.received[0]!.verified);
  assert.match(
    slack.received[0]!.body.text,
    /^Vigil \(advisories\): 1 finding\(s\) opened, 0 closed\n• prod Deployment shop\/web: affected by GHSA-lodash-0001 \(severity high, fixed in 4\.17\.21\)$/,
  );
});

test("a webhook whose signature is made with another secret does not verify; an unreachable receiver is reported and the findings stay recorded", async (t) => {
  const dir = tempDir(t);
  const other = await receiver(t);
  const errors: string[] = [];
  const f = await openMonitor(dir, {
    sinks: [
      webhookSink({ url: other.url, secret: Buffer.from("another secret") }),
      webhookSink({ url: "http://127.0.0.1:9/hooks", secret: SECRET, onError: (m) => errors.push(m) }),
    ],
  });
  t.after(() => f.close());
  await f.monitor.recordDeployment("prod", workloads("shop", { web: ["web:1"] }), {
    revision: "a".repeat(40),
    verdict: "pass",
    sbomFor: sboms(images),
  });
  await f.monitor.importAdvisories([feed(join(dir, "feed"), [advisory])]);
  assert.equal(other.received[0]!.verified, false);
  assert.equal(errors.length, 1);
  assert.match(errors[0]!, /^webhook http:\/\/127\.0\.0\.1:9\/hooks: /);
  assert.equal((await f.inventory.findings()).length, 1);
});

test("Prometheus metrics count open findings per environment, type, severity and suppression", () => {
  const base = {
    key: "k",
    type: "advisory" as const,
    subject: "pkg:npm/a@1",
    rule: "GHSA-1",
    workload: "Deployment a/b",
    image: "i",
    digest: "d",
    since: "2026-12-01T00:00:00Z",
    action: "",
  };
  const text = findingMetrics([
    { ...base, environment: "prod", severity: "high" },
    { ...base, environment: "prod", severity: "high" },
    { ...base, environment: "prod", severity: "high", suppressed: { status: "not_affected" } },
    { ...base, environment: 'stag"ing', type: "untrusted-key", severity: "high" },
  ]);
  assert.equal(
    text,
    [
      "# HELP vigil_monitor_findings Open findings about what is deployed.",
      "# TYPE vigil_monitor_findings gauge",
      'vigil_monitor_findings{environment="prod",type="advisory",severity="high",suppressed="false"} 2',
      'vigil_monitor_findings{environment="prod",type="advisory",severity="high",suppressed="true"} 1',
      'vigil_monitor_findings{environment="stag\\"ing",type="untrusted-key",severity="high",suppressed="false"} 1',
      "",
    ].join("\n"),
  );
});
