// A writer process for the audit tests: appends BATCHES batches of SIZE findings named NAME-i to the log,
// and prints "INDEX SUBJECT" for each record once its append was acknowledged. BATCHES 0: until killed.
//   node audit-writer.ts LOCATION KEYFILE NAME BATCHES SIZE
import { AuditLog } from "../../src/audit/log.ts";

const [location, keyFile, name, batches, size] = process.argv.slice(2) as [string, string, string, string, string];
const log = await AuditLog.open(location, { signingKeyFile: keyFile });
process.stdout.write(`ready ${(await log.latest()).size}\n`);
let n = 0;
for (let b = 0; Number(batches) === 0 || b < Number(batches); b++) {
  const count = Number(size) > 0 ? Number(size) : 1 + Math.floor(Math.random() * 8);
  const records = Array.from({ length: count }, () => ({
    kind: "finding" as const,
    time: new Date().toISOString(),
    environment: "prod",
    payload: { subject: `${name}-${n++}`, rule: "test", severity: "low" as const, message: "written by audit-writer" },
  }));
  const appended = await log.append(records);
  process.stdout.write(appended.map((a, i) => `${a.index} ${records[i]!.payload.subject}\n`).join(""));
}
await log.close();
