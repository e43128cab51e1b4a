// Audit log fixtures: a signing key in a file, records of every kind, and the stores to run each test
// on (a directory, and a database on a real PostgreSQL started once per test file).
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { TestContext } from "node:test";
import { generateSignerKey } from "../../src/audit/note.ts";
import type { AuditRecord } from "../../src/audit/record.ts";
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
  return { kind: "finding", time: new Date(Date.UTC(2026, 0, 1, 0, 0, n % 60)).toISOString(), environment, payload: { subject: `subject-${n}`, rule: "test", severity: "low", message: `finding ${n}` } };
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
