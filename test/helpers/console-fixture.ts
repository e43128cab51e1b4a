// A world for the console's tests and benchmark: a real configuration repository (git), an audit log
// written with src/audit's own record builders (staging and prod deployed, approved and recorded healthy;
// a newer prod revision waiting for a second approval), a monitor inventory with open findings, and the
// console's configuration with an auditor's and a viewer's token. `resources` and `filler` scale it.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { reconcileRecord } from "../../src/agent/records.ts";
import { AuditLog } from "../../src/audit/log.ts";
import type { AuditRecord } from "../../src/api/audit-record.ts";
import { newToken } from "../../src/cli/commands/console.ts";
import { check, makeVerdict, type Check } from "../../src/core/verdict.ts";
import { findingKey, type MonitorFinding } from "../../src/monitor/findings.ts";
import { openInventory } from "../../src/monitor/inventory.ts";
import { makeLogKey } from "./audit.ts";
import { run } from "./tools.ts";

export interface ConsoleFixture {
  configFile: string;
  logDir: string;
  /** The log's signing key file, for a test that appends as the agent would. */
  keyFile: string;
  verifierKey: string;
  repo: string;
  commits: { first: string; second: string; third: string };
  tokens: { auditor: string; viewer: string };
  digest: string;
}

const REPO_URL = "https://git.example.com/shop/config.git";
export const WEB_IMAGE = "registry.example.com/shop/web:2.1";

export const digestOf = (n: number) => `sha256:${n.toString(16).padStart(64, "0")}`;

function commit(repo: string, who: string, file: string, content: string, message: string): string {
  writeFileSync(join(repo, file), content);
  run("git", ["add", "-A"], { cwd: repo });
  run("git", ["-c", `user.name=${who}`, "-c", `user.email=${who}@example.com`, "commit", "-q", "--no-gpg-sign", "-m", message], {
    cwd: repo,
  });
  return run("git", ["rev-parse", "HEAD"], { cwd: repo }).trim();
}

function signatures(commits: string[], signer: string): Check[] {
  return commits.map((c) =>
    check({
      gate: "revision",
      rule: "commit-signature",
      status: "pass",
      code: "signature-trusted",
      subject: c,
      message: `signed by ${signer} (ssh-ed25519 SHA256:${signer}key)`,
      admits: [{ kind: "commit", subject: c, signer, key: `ssh-ed25519 SHA256:${signer}key` }],
    }),
  );
}

function applyRecord(environment: string, revision: string, resources: number, time: Date): AuditRecord {
  const objects = Array.from({ length: resources }, (_, i) => ({
    apiVersion: "apps/v1",
    kind: "Deployment",
    namespace: "shop",
    name: i === 0 ? "web" : `service-${i}`,
    action: "create" as const,
    images: [
      {
        container: "app",
        image: i === 0 ? WEB_IMAGE : `registry.example.com/shop/service-${i % 50}:1.0`,
        digest: digestOf(i === 0 ? 1 : 100 + (i % 50)),
      },
    ],
  }));
  return { kind: "apply", time: time.toISOString(), environment, payload: { revision, objects } };
}

function passing(
  environment: string,
  from: string | undefined,
  revision: string,
  commits: string[],
  extra: Check[],
  time: Date,
): AuditRecord {
  return reconcileRecord({
    environment,
    repo: REPO_URL,
    ref: "main",
    ...(from && { from }),
    revision,
    applied: true,
    time,
    verdict: makeVerdict({ environment, revision }, [
      ...signatures(commits, "alice"),
      check({
        gate: "policy",
        rule: "pss-restricted/run-as-non-root",
        status: "pass",
        code: "policy-passed",
        subject: "Deployment shop/web",
        message: "runs as non-root",
      }),
      check({
        gate: "artifact",
        rule: "image-signature",
        status: "pass",
        code: "image-signed",
        subject: "Deployment shop/web container app: " + WEB_IMAGE,
        message: `signed by ci; pinned to ${digestOf(1)}`,
      }),
      check({
        gate: "vulnerability",
        rule: "scan",
        status: "pass",
        code: "vulnerabilities-within-threshold",
        subject: WEB_IMAGE,
        message: "no advisory at or above high",
      }),
      ...extra,
    ]),
  });
}

/** `log`: where the audit log is kept (a directory or a postgres:// URL); DIR/audit by default. */
export async function makeConsoleFixture(
  dir: string,
  options: { resources?: number; filler?: number; log?: string } = {},
): Promise<ConsoleFixture> {
  const resources = options.resources ?? 3;
  const repo = join(dir, "config-repo");
  run("git", ["init", "-q", "-b", "main", repo]);
  const first = commit(repo, "alice", "web.yaml", "replicas: 1\n", "OPS-1: web");
  const second = commit(repo, "alice", "web.yaml", "replicas: 2\n", "OPS-2: two replicas");
  const third = commit(repo, "alice", "web.yaml", "replicas: 3\n", "OPS-3: three replicas");

  const key = makeLogKey(dir, "example.com/vigil/console");
  const logDir = options.log ?? join(dir, "audit");
  const log = await AuditLog.open(logDir, { signingKeyFile: key.file });
  const at = (minutes: number) => new Date(Date.UTC(2026, 11, 1, 9, minutes));
  const approvalsPass = [
    check({
      gate: "approvals",
      rule: "approvals",
      status: "pass",
      code: "approvals-met",
      subject: second,
      message: "2 of 2 approvals from group:platform: bob, carol",
    }),
  ];
  const envelope = JSON.stringify({ payloadType: "application/vnd.in-toto+json", payload: "e30=", signatures: [{ sig: "c2ln" }] });
  await log.append([passing("staging", undefined, second, [first, second], [], at(0)), applyRecord("staging", second, resources, at(1))]);
  await log.append([
    {
      kind: "deployment",
      time: at(2).toISOString(),
      environment: "staging",
      payload: { revision: { commit: second, tree: "5".repeat(40) }, envelope },
    },
  ]);
  await log.append([
    {
      kind: "approval",
      time: at(10).toISOString(),
      environment: "prod",
      payload: { revision: second, signer: "bob", key: "ssh-ed25519 SHA256:bobkey" },
    },
    {
      kind: "approval",
      time: at(11).toISOString(),
      environment: "prod",
      payload: { revision: second, signer: "carol", key: "ssh-ed25519 SHA256:carolkey" },
    },
    passing("prod", undefined, second, [first, second], approvalsPass, at(12)),
    applyRecord("prod", second, resources, at(13)),
    {
      kind: "deployment",
      time: at(14).toISOString(),
      environment: "prod",
      payload: { revision: { commit: second, tree: "5".repeat(40) }, envelope },
    },
  ]);
  await log.append([
    reconcileRecord({
      environment: "prod",
      repo: REPO_URL,
      ref: "main",
      from: second,
      revision: third,
      applied: false,
      time: at(20),
      verdict: makeVerdict({ environment: "prod", revision: third }, [
        ...signatures([third], "alice"),
        check({
          gate: "approvals",
          rule: "approvals",
          status: "fail",
          code: "approvals-missing",
          subject: third,
          message: "1 of 2 approvals from group:platform (bob); excludeAuthors: alice may not approve: ask carol to run vigil approve",
        }),
      ]),
    }),
  ]);
  for (let n = 0; n < (options.filler ?? 0); n += 1000) {
    const batch = Array.from(
      { length: Math.min(1000, options.filler! - n) },
      (_, i): AuditRecord => ({
        kind: "finding",
        time: new Date(Date.UTC(2026, 10, 1) + (n + i) * 1000).toISOString(),
        environment: (n + i) % 2 ? "prod" : "staging",
        payload: { subject: `pkg:npm/left-pad@1.${(n + i) % 100}.0`, rule: `GHSA-test-${n + i}`, severity: "low", message: "filler" },
      }),
    );
    await log.append(batch);
  }
  await log.close();

  const inventory = await openInventory(join(dir, "inventory"));
  const finding = (environment: string, severity: MonitorFinding["severity"], advisory: string, since: string): MonitorFinding => ({
    key: findingKey(environment, "Deployment shop/web", digestOf(1), "pkg:npm/lodash@4.17.20", advisory),
    type: "advisory",
    subject: "pkg:npm/lodash@4.17.20",
    rule: advisory,
    environment,
    workload: "Deployment shop/web",
    image: WEB_IMAGE,
    digest: digestOf(1),
    severity,
    since,
    action: "upgrade lodash to 4.17.21 in " + WEB_IMAGE,
    purl: "pkg:npm/lodash@4.17.20",
    advisory,
    fixed: ["4.17.21"],
  });
  await inventory.updateFindings({
    opened: [
      finding("prod", "critical", "GHSA-35jh-r3h4-6jhm", "2026-12-02T08:00:00Z"),
      finding("prod", "medium", "GHSA-29mw-wpgm-hmr9", "2026-12-03T08:00:00Z"),
      finding("staging", "critical", "GHSA-35jh-r3h4-6jhm", "2026-12-02T09:00:00Z"),
    ],
    changed: [],
    closed: [],
  });
  await inventory.close();

  const auditor = newToken("alice", "auditor");
  const viewer = newToken("victor", "viewer");
  const configFile = join(dir, "console.yaml");
  writeFileSync(
    configFile,
    `apiVersion: vigil.dev/v1alpha1
kind: ConsoleConfig
listen: 127.0.0.1:0
tls: { generate: localhost }
audit:
  log: "${logDir}"
  verifierKey: "${key.verifierKey}"
inventory: inventory
repository: config-repo
accessLog: access.log
tokens:
  - { name: alice, role: auditor, sha256: ${auditor.entry.sha256} }
  - { name: victor, role: viewer, sha256: ${viewer.entry.sha256} }
`,
  );
  return {
    configFile,
    logDir,
    keyFile: key.file,
    verifierKey: key.verifierKey,
    repo,
    commits: { first, second, third },
    tokens: { auditor: auditor.token, viewer: viewer.token },
    digest: digestOf(1),
  };
}
