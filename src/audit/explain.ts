// "Why is this running?": the chain of recorded decisions that put a resource or an image in an
// environment. The latest apply that wrote it gives the revision and the image digests; the reconcile
// that passed that revision gives the commit range, who signed each commit, and every gate's verdict on
// it (policy checks on the resource, signatures and attestations of its images); approval records give
// who approved the revision. Every link names its entry, and every entry comes with an inclusion proof
// in the latest signed checkpoint, verified before it is shown.
import { ExitCode, InputError, VigilError } from "../core/errors.ts";
import type { RecordedCheck } from "../core/verdict.ts";
import { parseReference } from "../oci/reference.ts";
import type { AuditLog, InclusionProof, LogEntry } from "./log.ts";
import { objectName } from "./record.ts";
import type { AuditRecord, Payload } from "../api/audit-record.ts";

export type ExplainTarget =
  | { resource: { kind: string; namespace?: string; name: string } }
  | { image: { name?: string; tag?: string; digest?: string; written: string } };

export interface ExplainLink {
  index: number;
  /** resource, image, commits, signer, approval, gate, policy, artifact, approvals, promotion */
  link: string;
  detail: string;
}

export interface Explanation {
  environment: string;
  target: string;
  revision: string;
  links: ExplainLink[];
  /** One per entry the links name, in the latest checkpoint's tree. */
  proofs: InclusionProof[];
}

type ApplyObject = Payload<"apply">["objects"][number];
type Found<K extends AuditRecord["kind"]> = { index: number; record: Extract<AuditRecord, { kind: K }> };

const RUNNING: readonly ApplyObject["action"][] = ["create", "update", "unchanged", "drift"];
const CHUNK = 2048;

/** "Deployment/shop/web" or "Deployment/web" (a capitalised kind), else an image reference or a digest. */
export function parseExplainTarget(text: string): ExplainTarget {
  const resource = /^([A-Z][A-Za-z0-9]*)\/(?:([a-z0-9][a-z0-9-]*)\/)?([a-z0-9][a-z0-9.:-]*)$/.exec(text);
  if (resource) return { resource: { kind: resource[1]!, ...(resource[2] && { namespace: resource[2] }), name: resource[3]! } };
  if (/^sha(256|512):[0-9a-f]+$/.test(text)) return { image: { digest: text, written: text } };
  try {
    const ref = parseReference(text);
    // A reference without tag or digest names the repository: any tag matches.
    const tag = /[:@]/.test(text.slice(text.lastIndexOf("/") + 1)) ? ref.tag : undefined;
    return {
      image: { name: `${ref.registry}/${ref.repository}`, ...(tag && { tag }), ...(ref.digest && { digest: ref.digest }), written: text },
    };
  } catch {
    throw new InputError(`"${text}" is neither a resource (Kind/namespace/name, e.g. Deployment/shop/web) nor an image reference`);
  }
}

/**
 * `candidates`, when given, are the only entries read (any order): the indices of the environment's
 * apply, reconcile and approval records, from an index over the log such as the console keeps. Without
 * it, the whole log is read from its end.
 */
export async function explain(
  log: AuditLog,
  target: ExplainTarget,
  environment: string,
  candidates?: readonly number[],
): Promise<Explanation> {
  const what =
    "resource" in target
      ? `${target.resource.kind}/${target.resource.namespace ? `${target.resource.namespace}/` : ""}${target.resource.name}`
      : target.image.written;
  const size = (await log.latest()).size;
  let apply: Found<"apply"> | undefined;
  let reconcile: Found<"reconcile"> | undefined;
  const approvals: Found<"approval">[] = [];
  for await (const e of candidates ? only(log, candidates, size) : backwards(log, size)) {
    if (e.record.environment !== environment) continue;
    const r = e.record;
    if (!apply) {
      if (r.kind === "apply" && r.payload.objects.some((o) => matches(o, target))) apply = { index: e.index, record: r };
    } else if (
      r.kind === "reconcile" &&
      r.payload.revision === apply.record.payload.revision &&
      r.payload.verdict === "pass" &&
      !(reconcile && checkedCommits(reconcile.record))
    ) {
      // The agent records a reconcile every interval; one that found the revision already applied
      // checked no commits, so the earlier one that did says who signed them.
      reconcile = { index: e.index, record: r };
    } else if (r.kind === "approval" && r.payload.revision === apply.record.payload.revision) {
      approvals.push({ index: e.index, record: r });
    }
  }
  // Running with no recorded decision behind it is a finding, not a usage error: exit 1.
  if (!apply)
    throw new VigilError(`no apply in ${environment} recorded ${what}: the log holds no decision that put it there`, ExitCode.blocked);
  const objects = apply.record.payload.objects.filter((o) => matches(o, target));
  const links = [
    ...applyLinks(apply, objects),
    ...(reconcile
      ? reconcileLinks(reconcile, objects)
      : [
          {
            index: apply.index,
            link: "reconcile",
            detail: `no passing reconcile of ${apply.record.payload.revision} recorded before this apply`,
          },
        ]),
    ...approvals.reverse().map((a) => ({
      index: a.index,
      link: "approval",
      detail: `approved by ${a.record.payload.signer}${a.record.payload.key ? ` (${a.record.payload.key})` : ""}${a.record.payload.promotedFrom ? `, promoted from ${a.record.payload.promotedFrom}` : ""}, ${a.record.time}`,
    })),
  ];
  const indices = [...new Set(links.map((l) => l.index))].sort((a, b) => a - b);
  const proofs = [];
  for (const index of indices) proofs.push(await log.prove(index));
  return { environment, target: what, revision: apply.record.payload.revision, links, proofs };
}

/** Whether the reconcile checked the revision's commits (it did not when the revision was already applied). */
function checkedCommits(r: Extract<AuditRecord, { kind: "reconcile" }>): boolean {
  return r.payload.from !== r.payload.revision;
}

/** The given entries below `size`, from the last to the first, each read (and checked) on its own. */
async function* only(log: AuditLog, indices: readonly number[], size: number): AsyncIterable<LogEntry> {
  for (const index of [...new Set(indices)].filter((i) => i < size).sort((a, b) => b - a)) yield log.entry(index);
}

/** The log from its end back to its start, in chunks. */
async function* backwards(log: AuditLog, size: number): AsyncIterable<LogEntry> {
  for (let end = size; end > 0; end -= CHUNK) {
    const chunk: LogEntry[] = [];
    for await (const e of log.entries(Math.max(0, end - CHUNK), end)) chunk.push(e);
    yield* chunk.reverse();
  }
}

function matches(o: ApplyObject, target: ExplainTarget): boolean {
  if (!RUNNING.includes(o.action)) return false;
  if ("resource" in target) {
    const t = target.resource;
    return o.kind === t.kind && o.name === t.name && (t.namespace === undefined || o.namespace === t.namespace);
  }
  return o.images.some((i) => imageMatches(i, target.image));
}

function imageMatches(i: ApplyObject["images"][number], t: Extract<ExplainTarget, { image: unknown }>["image"]): boolean {
  if (t.digest && i.digest !== t.digest) return false;
  if (!t.name) return true;
  const ref = parseReference(i.image);
  return `${ref.registry}/${ref.repository}` === t.name && (t.tag === undefined || ref.tag === t.tag);
}

function applyLinks(apply: Found<"apply">, objects: ApplyObject[]): ExplainLink[] {
  const { index, record } = apply;
  return objects.flatMap((o) => [
    { index, link: "resource", detail: `${objectName(o)} (${o.apiVersion}) ${o.action} at ${record.payload.revision}, ${record.time}` },
    ...o.images.map((i) => ({
      index,
      link: "image",
      detail: `${objectName(o)} ${i.container}: ${i.image}${i.digest ? "" : " (not pinned to a digest: the artifact gate did not run)"}`,
    })),
  ]);
}

function reconcileLinks(reconcile: Found<"reconcile">, objects: ApplyObject[]): ExplainLink[] {
  const { index, record } = reconcile;
  const p = record.payload;
  const link = (name: string, detail: string) => ({ index, link: name, detail });
  const bySigner = new Map<string, string[]>();
  for (const c of p.commits) {
    const who = c.signer ? `${c.signer}${c.key ? ` (${c.key})` : ""}` : "(not signed)";
    bySigner.set(who, [...(bySigner.get(who) ?? []), c.commit.slice(0, 12)]);
  }
  const names = new Set(objects.map(objectName));
  const about = (c: RecordedCheck) => names.has(c.subject) || [...names].some((n) => c.subject.startsWith(`${n} `));
  return [
    link(
      "commits",
      `${p.from ? `${p.from.slice(0, 12)}..` : "up to "}${p.revision}: ${p.commits.length} commit${p.commits.length === 1 ? "" : "s"} checked in ${p.repo}${p.ref ? ` (${p.ref})` : ""}, ${record.time}`,
    ),
    ...[...bySigner].map(([who, commits]) =>
      link("signer", `${who} signed ${commits.length}: ${commits.slice(0, 5).join(", ")}${commits.length > 5 ? ", …" : ""}`),
    ),
    ...p.gates.map((g) => link("gate", `${g.gate}: ${g.verdict} (${g.pass} pass, ${g.fail} fail, ${g.warn} warn, ${g.skip} skip)`)),
    ...p.checks
      .filter((c) => c.gate === "revision" && c.rule === "trust-policy-change")
      .map((c) => link("trust-policy", `${c.subject.slice(0, 12)}: ${c.message}`)),
    ...p.checks
      .filter((c) => (c.gate === "policy" || c.gate === "artifact") && about(c))
      .map((c) => link(c.gate, `${c.status} ${c.rule}: ${c.subject}: ${c.message}`)),
    // Approvals and promotion are about the revision, not one resource: what counted for it.
    ...p.checks
      .filter((c) => (c.gate === "approvals" || c.gate === "promotion") && c.status === "pass")
      .map((c) => link(c.gate, `${c.rule}: ${c.subject}: ${c.message}`)),
  ];
}
