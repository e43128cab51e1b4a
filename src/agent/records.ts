// Records from what the agent already has after a reconcile: its verdict (every gate's checks), the
// pinned objects it applied and src/cluster's result for each. The agent appends them in one batch:
//
//   await log.append([reconcileRecord({...}), ...applyRecords({...})]);
import type { SyncResult } from "../cluster/sync.ts";
import { formatChanges } from "../cluster/fields.ts";
import { imageUses } from "../artifact/images.ts";
import type { Check, Verdict } from "../core/verdict.ts";
import { describeObject, type SourcedObject } from "../manifest/manifests.ts";
import type { AuditRecord, Payload } from "../api/audit-record.ts";
import type { KindDeclaration } from "../manifest/workloads.ts";

export interface ReconcileInput {
  environment: string;
  /** The repository as shown to people (credentials already redacted). */
  repo: string;
  ref?: string;
  /** The revision applied before this reconcile: the range checked is (from, revision]. */
  from?: string;
  /** The commit the gates ran on (absent when it could not be fetched). */
  revision?: string;
  verdict: Verdict;
  applied: boolean;
  time?: Date;
}

/** One reconcile: its commit range, who signed each commit (from the revision gate's checks), each gate's outcome. */
export function reconcileRecord(input: ReconcileInput): AuditRecord {
  const checks = input.verdict.checks.map(plainCheck);
  return {
    kind: "reconcile",
    time: (input.time ?? new Date()).toISOString(),
    environment: input.environment,
    payload: {
      repo: input.repo,
      ...(input.ref && { ref: input.ref }),
      ...(input.from && { from: input.from }),
      ...(input.revision && { revision: input.revision }),
      verdict: input.verdict.verdict,
      applied: input.applied,
      commits: commitSigners(checks),
      gates: gateSummaries(checks),
      checks,
    },
  };
}

/** A check as the record keeps it (exactly the Check fields; anything extra a caller added is left out). */
function plainCheck(c: Check): Check {
  return {
    gate: c.gate,
    rule: c.rule,
    status: c.status,
    subject: c.subject,
    message: c.message,
    code: c.code,
    ...(c.location && { location: { file: c.location.file, line: c.location.line } }),
    ...(c.admits && { admits: c.admits.map(({ kind, subject, signer, key }) => ({ kind, subject, signer, key })) }),
  };
}

/** The revision gate's passing commit-signature checks name who signed each commit they accepted, and with which key. */
function commitSigners(checks: readonly Check[]): Payload<"reconcile">["commits"] {
  const commits = new Map<string, Payload<"reconcile">["commits"][number]>();
  for (const c of checks) {
    if (c.gate !== "revision" || c.rule !== "commit-signature" || !/^[0-9a-f]{40}([0-9a-f]{24})?$/.test(c.subject)) continue;
    const signed = c.status === "pass" ? c.admits?.find((a) => a.kind === "commit" && a.subject === c.subject) : undefined;
    commits.set(c.subject, { commit: c.subject, ...(signed && { signer: signed.signer, key: signed.key }) });
  }
  return [...commits.values()];
}

function gateSummaries(checks: readonly Check[]): Payload<"reconcile">["gates"] {
  const gates = new Map<string, Payload<"reconcile">["gates"][number]>();
  for (const c of checks) {
    const g = gates.get(c.gate) ?? { gate: c.gate, verdict: "pass" as const, pass: 0, fail: 0, warn: 0, skip: 0 };
    g[c.status]++;
    if (c.status === "fail") g.verdict = "fail";
    gates.set(c.gate, g);
  }
  return [...gates.values()];
}

export interface ApplyInput {
  environment: string;
  /** The revision the set was rendered from. */
  revision: string;
  /** Its tree: what promotion compares (a later apply of another tree ends a soak). */
  tree?: string;
  /** The set as applied: pinned to the digests the artifact gate verified. */
  objects: readonly SourcedObject[];
  /** Where the trust policy says kinds Kubernetes does not define keep their images. */
  kinds?: readonly KindDeclaration[];
  /** src/cluster's outcome for the set. */
  sync: Pick<SyncResult, "objects">;
  time?: Date;
}

/** The apply, and the prune and drift records when the sync pruned or found drift: [apply, prune?, drift?]. */
export function applyRecords(input: ApplyInput): AuditRecord[] {
  const time = (input.time ?? new Date()).toISOString();
  const base = { time, environment: input.environment };
  const applied = input.sync.objects.filter((r) => r.action !== "prune" && r.action !== "orphan");
  const pruned = input.sync.objects.filter((r) => r.action === "prune");
  const drifted = input.sync.objects.filter((r) => r.action === "drift");
  const records: AuditRecord[] = [
    {
      ...base,
      kind: "apply",
      payload: {
        revision: input.revision,
        ...(input.tree && { tree: input.tree }),
        objects: applied.map((r) => ({
          ...ref(r.object),
          action: r.action as Payload<"apply">["objects"][number]["action"],
          images: imagesOf(r.object, input.objects, input.kinds),
        })),
      },
    },
  ];
  if (pruned.length > 0)
    records.push({ ...base, kind: "prune", payload: { revision: input.revision, objects: pruned.map((r) => ref(r.object)) } });
  if (drifted.length > 0) {
    records.push({
      ...base,
      kind: "drift",
      payload: {
        revision: input.revision,
        objects: drifted.map((r) => ({ ...ref(r.object), restored: r.restored === true, changes: formatChanges(r.changes ?? []) })),
      },
    });
  }
  return records;
}

export interface DeploymentInput {
  environment: string;
  revision: { commit: string; tree: string };
  /** The signed record's DSSE envelope as JSON (signDeploymentRecord's). */
  envelope: string;
  time?: Date;
}

/** The agent's signed record of a healthy deploy, carried by the log for promotion to read. */
export function deploymentRecord(input: DeploymentInput): AuditRecord {
  const { environment, time, revision, envelope } = input;
  return {
    kind: "deployment",
    time: (time ?? new Date()).toISOString(),
    environment,
    payload: { revision: { commit: revision.commit, tree: revision.tree }, envelope },
  };
}

export interface ClaimsInput {
  environment: string;
  /** Claims seen for the first time: the ref each was read from, its digest and its envelope as stored. */
  claims: readonly { ref: string; digest: string; envelope: string }[];
  time?: Date;
}

/** The claims the agent saw for the first time: their first sighting, and the copy that outlives a deleted ref. */
export function claimsRecord(input: ClaimsInput): AuditRecord {
  const claims = input.claims.map(({ ref, digest, envelope }) => ({ ref, digest, envelope }));
  return { kind: "claims", time: (input.time ?? new Date()).toISOString(), environment: input.environment, payload: { claims } };
}

export interface ApprovalInput {
  environment: string;
  revision: string;
  signer: string;
  key?: string;
  promotedFrom?: string;
  time?: Date;
}

export function approvalRecord(input: ApprovalInput): AuditRecord {
  const { environment, time, ...payload } = input;
  return { kind: "approval", time: (time ?? new Date()).toISOString(), environment, payload };
}

type Ref = SyncResult["objects"][number]["object"];

function ref(o: Ref): { apiVersion: string; kind: string; namespace?: string; name: string } {
  return { apiVersion: o.apiVersion, kind: o.kind, ...(o.namespace && { namespace: o.namespace }), name: o.name };
}

/** The images an applied object runs: from its manifest in the set (the one at its file and line). */
function imagesOf(
  o: Ref,
  set: readonly SourcedObject[],
  kinds: readonly KindDeclaration[] = [],
): Payload<"apply">["objects"][number]["images"] {
  const source = set.find(
    (so) => so.file === o.file && so.line === o.line && so.object.kind === o.kind && so.object.metadata?.name === o.name,
  );
  if (!source) return [];
  return imageUses([source], kinds).map((u) => ({
    // "Deployment shop/web container app" → "container app"
    container: u.where.slice(describeObject(source.object).length + 1),
    image: u.image,
    ...(u.reference.digest && { digest: u.reference.digest }),
  }));
}
