// The second line behind the policy gate's offline schema check: before the first write of a revision,
// the whole set goes to the API server as a server-side dry run (dryRun=All), so validation, defaulting
// and every admission plugin and webhook of the real cluster judge the exact objects that would be
// applied. An object it refuses fails the check with the server's words, and nothing is written.
import { check, type Check } from "../core/verdict.ts";
import type { SourcedObject } from "../manifest/manifests.ts";
import type { Cluster } from "./client.ts";
import { describeRef } from "../manifest/manifests.ts";
import { REFUSAL_CODES, syncSet, SyncRefused, type SyncOptions } from "./sync.ts";

export const DRY_RUN_GATE = "dry-run";

/**
 * The dry run's verdict on a set: a failing check per object the API server would refuse, or one
 * passing check. Objects in a namespace, or of a custom kind, that the set itself creates cannot be
 * simulated before they exist; they are counted and named in the passing check's message.
 */
export async function dryRunChecks(
  cluster: Cluster,
  objects: readonly SourcedObject[],
  options: Omit<SyncOptions, "dryRun" | "beforeWrite">,
): Promise<Check[]> {
  let result: Awaited<ReturnType<typeof syncSet>>;
  try {
    result = await syncSet(cluster, objects, { ...options, dryRun: true });
  } catch (e) {
    if (!(e instanceof SyncRefused)) throw e;
    return e.refusals.map((r) => ({
      ...check({ gate: DRY_RUN_GATE, rule: r.rule, status: "fail", subject: r.object, message: r.reason, code: REFUSAL_CODES[r.rule] }),
      ...(r.file && { location: { file: r.file, line: r.line ?? 1 } }),
    }));
  }
  const refused = result.objects.filter((r) => r.action === "rejected");
  if (refused.length > 0) {
    return refused.map((r) => ({
      ...check({
        gate: DRY_RUN_GATE,
        rule: "accepted",
        status: "fail",
        subject: describeRef(r.object),
        message: `the API server refuses it in a server-side dry run: ${r.message ?? "no reason given"}; nothing of this revision was written`,
        code: "api-server-rejected",
      }),
      ...(r.object.file && { location: { file: r.object.file, line: r.object.line ?? 1 } }),
    }));
  }
  const deferred = result.objects.filter((r) => r.deferred === true);
  const note =
    deferred.length > 0
      ? `; ${deferred.length} object(s) in namespaces or of kinds the revision creates could not be simulated before they exist`
      : "";
  return [
    check({
      gate: DRY_RUN_GATE,
      rule: "accepted",
      status: "pass",
      subject: options.environment,
      message: `the API server accepts all ${result.objects.length} objects in a server-side dry run${note}`,
      code: "api-server-accepted",
    }),
  ];
}
