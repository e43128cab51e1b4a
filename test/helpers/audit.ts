// Audit log fixtures: a signing key in a file, records of every kind, and the stores to run each test
// on (a directory, and a database on a real PostgreSQL started once per test file).
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { TestContext } from "node:test";
import { generateSignerKey } from "../../src/audit/note.ts";
import type { AuditRecord } from "../../src/api/audit-record.ts";
import type { ReconcileInput } from "../../src/agent/records.ts";
import type { SyncResult } from "../../src/cluster/sync.ts";
import { check, makeVerdict } from "../../src/core/verdict.ts";
import type { SourcedObject } from "../../src/manifest/manifests.ts";
import { requirePostgres, startPostgres, type TestPostgres } from "./postgres.ts";
import { fileScope, tempDir } from "./tools.ts";

export interface LogKey {
  file: string;
  verifierKey: string;
  signerKey: string;
}

export function makeLogKey(dir: string, name = "example.com/audit/test"): LogKey {
  const { signerKey, verifierKey } = generateSignerKey(name);
  const file = join(dir, `${name.replace(/\W/g, "-")}.key`);
  writeFileSync(file, signerKey + "\n", { mode: 0o600 });
  return { file, verifierKey, signerKey };
}

/** A finding: the smallest record, numbered so a test can tell them apart. */
export function finding(n: number, environment = "prod"): AuditRecord {
  return {
    kind: "finding",
    time: new Date(Date.UTC(2026, 0, 1, 0, 0, n % 60)).toISOString(),
    environment,
    payload: { subject: `subject-${n}`, rule: "test", severity: "low", message: `finding ${n}` },
  };
}

export interface StoreKind {
  name: "directory" | "postgres";
  /** A new, empty log location, or undefined when the test was skipped (no PostgreSQL outside CI). */
  location(t: TestContext): string | undefined;
}

/** The two stores. The PostgreSQL server starts on first use and stops when the file's tests end. */
export function logStores(): StoreKind[] {
  const scope = fileScope();
  let server: TestPostgres | undefined;
  let databases = 0;
  return [
    { name: "directory", location: (t) => join(tempDir(t), "log") },
    {
      name: "postgres",
      location(t) {
        const bin = requirePostgres(t);
        if (!bin) return undefined;
        server ??= startPostgres(scope, bin);
        return server.database(`audit_${process.pid}_${++databases}`);
      },
    },
  ];
}

const ALICE_COMMIT = "1".repeat(40);
const BOB_COMMIT = "2".repeat(40);
export const SHOP_DIGEST = `sha256:${"a".repeat(64)}`;
export const SHOP_IMAGE = `registry.example.com/shop/app:1.4@${SHOP_DIGEST}`;

/** A passing reconcile of prod at BOB_COMMIT: two signed commits, a policy and an artifact verdict on Deployment shop/web. */
export function shopReconcile(): ReconcileInput {
  return {
    environment: "prod",
    repo: "https://git.example.com/shop/config.git",
    ref: "main",
    from: "0".repeat(40),
    revision: BOB_COMMIT,
    applied: true,
    verdict: makeVerdict({ environment: "prod", revision: BOB_COMMIT }, [
      check({
        gate: "revision",
        rule: "commit-signature",
        status: "pass",
        code: "signature-trusted",
        subject: ALICE_COMMIT,
        message: "signed by alice (ssh-ed25519 SHA256:alicekey)",
        admits: [{ kind: "commit", subject: ALICE_COMMIT, signer: "alice", key: "ssh-ed25519 SHA256:alicekey" }],
      }),
      check({
        gate: "revision",
        rule: "commit-signature",
        status: "pass",
        code: "signature-trusted",
        subject: BOB_COMMIT,
        message: "signed by bob (ssh-ed25519 SHA256:bobkey)",
        admits: [{ kind: "commit", subject: BOB_COMMIT, signer: "bob", key: "ssh-ed25519 SHA256:bobkey" }],
      }),
      check({
        gate: "render",
        rule: "objects",
        status: "pass",
        code: "objects-rendered",
        subject: `envs/prod@${BOB_COMMIT.slice(0, 12)}`,
        message: "2 objects",
      }),
      check({
        gate: "policy",
        rule: "pss-restricted/run-as-non-root",
        status: "pass",
        code: "policy-passed",
        subject: "Deployment shop/web",
        message: "runs as non-root",
      }),
      check({
        gate: "policy",
        rule: "coverage",
        status: "skip",
        code: "no-policy-applies",
        subject: "ConfigMap shop/settings",
        message: "no policy applies to this resource",
      }),
      check({
        gate: "artifact",
        rule: "image-signature",
        status: "pass",
        code: "image-signed",
        subject: "Deployment shop/web container app: registry.example.com/shop/app:1.4",
        message: `signed by ci; attested https://cyclonedx.org/bom (ci); rule registry.example.com/shop/** (trust.yaml:20); pinned to ${SHOP_DIGEST}`,
      }),
    ]),
  };
}

/** The pinned set of that reconcile and what src/cluster did with it (a Deployment created, a ConfigMap drifted, one pruned). */
export function shopDeployment(): { objects: SourcedObject[]; sync: Pick<SyncResult, "objects"> } {
  const web = {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name: "web", namespace: "shop" },
    spec: { template: { spec: { containers: [{ name: "app", image: SHOP_IMAGE }] } } },
  };
  const settings = { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "settings", namespace: "shop" }, data: { a: "1" } };
  const objects = [
    { object: web, file: "envs/prod/web.yaml", line: 1 },
    { object: settings, file: "envs/prod/settings.yaml", line: 1 },
  ];
  const ref = (o: typeof web | typeof settings, file: string) => ({
    apiVersion: o.apiVersion,
    kind: o.kind,
    namespace: "shop",
    name: o.metadata.name,
    file,
    line: 1,
  });
  return {
    objects,
    sync: {
      objects: [
        { object: ref(web, "envs/prod/web.yaml"), action: "create" },
        {
          object: ref(settings, "envs/prod/settings.yaml"),
          action: "drift",
          restored: true,
          changes: [{ path: "data.a", from: "2", to: "1" }],
        },
        { object: { apiVersion: "v1", kind: "Service", namespace: "shop", name: "old" }, action: "prune" },
      ],
    },
  };
}
