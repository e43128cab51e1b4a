// Unusual activity in the configuration repository, found by comparing its refs with the snapshot the
// monitor kept the last time (the seeds' advice to audit the repository itself):
//   - a deployed revision no longer reachable from its environment's branch (a force-push);
//   - a new branch or tag named as an environment's branch (refs/tags/main beside refs/heads/main);
//   - commits by signers the trust policy does not know, on any branch (the revision gate's signature
//     checks over what each branch gained);
//   - a change to the trust policy (.vigil/) proposed on a branch that is no environment's;
//   - refs under refs/vigil/ (approvals, co-signatures, deployment records) deleted.
// The first is a state (it closes when the revision is reachable again or no longer deployed); the
// others are events, each kept open under a key naming the ref and the objects concerned.
import type { TrustPolicy } from "../trust/policy.ts";
import { git, type Repo } from "../git/repo.ts";
import { openRevisionGate } from "../revision/gate.ts";
import { findingKey, type MonitorFinding } from "./findings.ts";
import type { DeployedWorkload } from "../api/inventory.ts";

export type Refs = Map<string, string>;

/** Every ref and the object it names. */
export async function readRefs(repo: Repo): Promise<Refs> {
  const out = await git(repo.gitDir, ["for-each-ref", "--format=%(refname)%00%(objectname)"]);
  return new Map(
    out
      .split("\n")
      .filter(Boolean)
      .map((line) => line.split("\0") as [string, string]),
  );
}

export const UNREACHABLE = "revision-unreachable";

/** Commits looked at per moved branch: a push of a whole foreign history is reported, not walked forever. */
const MAX_COMMITS = 10_000;

export async function repositoryActivity(
  repo: Repo,
  policy: TrustPolicy,
  previous: Refs | undefined,
  current: Refs,
  workloads: DeployedWorkload[],
  since: string,
): Promise<MonitorFinding[]> {
  const branches = new Map(policy.doc.environments.flatMap((e) => (e.branch ? [[e.name, e.branch] as const] : [])));
  const protectedNames = new Set(branches.values());
  const found: MonitorFinding[] = [];
  const finding = (
    environment: string,
    workload: string,
    subject: string,
    rule: string,
    severity: "high" | "medium",
    action: string,
    ...keyParts: string[]
  ): MonitorFinding => ({
    key: findingKey(environment, workload, subject, rule, ...keyParts),
    type: "repository",
    subject,
    rule,
    environment,
    workload,
    image: "",
    digest: "",
    severity,
    since,
    action,
  });

  // Deployed revisions still on their branch.
  const seen = new Set<string>();
  for (const w of workloads) {
    const branch = branches.get(w.environment);
    if (!branch || seen.has(`${w.environment} ${w.revision}`)) continue;
    seen.add(`${w.environment} ${w.revision}`);
    const head = current.get(`refs/heads/${branch}`);
    if (head && (await isAncestor(repo, w.revision, head))) continue;
    found.push(
      finding(
        w.environment,
        `branch ${branch}`,
        w.revision,
        UNREACHABLE,
        "high",
        `the deployed revision ${w.revision} is no longer reachable from ${branch}${head ? ` (now ${head})` : " (the branch is gone)"}: history was rewritten; find who force-pushed, and deploy a revision on the branch`,
      ),
    );
  }
  if (!previous) return found;

  for (const [ref, id] of current) {
    const before = previous.get(ref);
    if (before === id) continue;
    const short = ref.replace(/^refs\/(heads|tags)\//, "");
    if (before === undefined && protectedNames.has(short) && !isEnvironmentBranch(ref, protectedNames)) {
      found.push(
        finding(
          "",
          ref,
          id,
          "protected-name-created",
          "high",
          `${ref} was created with the name of an environment's branch: a tool or person resolving "${short}" may take it instead; delete it`,
          id,
        ),
      );
    }
    if (!ref.startsWith("refs/heads/")) continue;
    found.push(
      ...(await unknownSigners(repo, policy, ref, before, id, current, branches)).map((c) =>
        finding("", ref, c.subject, "unknown-signer", "high", c.message, c.subject),
      ),
    );
    if (
      !isEnvironmentBranch(ref, protectedNames) &&
      (await changesTrustPolicy(repo, before ?? (await baseOf(repo, id, current, branches)), id))
    ) {
      found.push(
        finding(
          "",
          ref,
          id,
          "trust-policy-proposed",
          "medium",
          `${ref} changes .vigil/ (the trust policy): review it before any admin co-signs it`,
          id,
        ),
      );
    }
  }
  for (const [ref, id] of previous) {
    if (ref.startsWith("refs/vigil/") && !current.has(ref)) {
      found.push(
        finding(
          "",
          ref,
          id,
          "vigil-ref-deleted",
          "high",
          `${ref} (an approval, co-signature or deployment record) was deleted from the repository: find who deleted it; the audit log keeps what it recorded`,
          id,
        ),
      );
    }
  }
  return found.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

function isEnvironmentBranch(ref: string, protectedNames: Set<string>): boolean {
  return ref.startsWith("refs/heads/") && protectedNames.has(ref.slice("refs/heads/".length));
}

async function isAncestor(repo: Repo, ancestor: string, head: string): Promise<boolean> {
  try {
    await git(repo.gitDir, ["merge-base", "--is-ancestor", ancestor, head]);
    return true;
  } catch {
    return false;
  }
}

/** Where a new branch left the environments' branches (what it adds is judged from there). */
async function baseOf(repo: Repo, id: string, current: Refs, branches: Map<string, string>): Promise<string | undefined> {
  for (const branch of new Set(branches.values())) {
    const head = current.get(`refs/heads/${branch}`);
    if (!head) continue;
    try {
      return (await git(repo.gitDir, ["merge-base", id, head])).trim() || undefined;
    } catch {
      // no common history with this branch
    }
  }
  return undefined;
}

/** The revision gate's signature checks over what the branch gained: failures are unknown or bad signers. */
async function unknownSigners(
  repo: Repo,
  policy: TrustPolicy,
  ref: string,
  before: string | undefined,
  id: string,
  current: Refs,
  branches: Map<string, string>,
) {
  const from = before && (await isAncestor(repo, before, id)) ? before : await baseOf(repo, id, current, branches);
  const gate = await openRevisionGate({ repo, rootPolicy: policy, to: id, ...(from && { from }) });
  const out: { subject: string; message: string }[] = [];
  let n = 0;
  for await (const c of gate.checks()) {
    if (c.rule === "commit-signature" && c.status === "fail") out.push({ subject: c.subject, message: `on ${ref}: ${c.message}` });
    if (++n > MAX_COMMITS * 4) break;
  }
  return out;
}

async function changesTrustPolicy(repo: Repo, from: string | undefined, to: string): Promise<boolean> {
  const range = from ? [`${from}..${to}`] : [to];
  const out = await git(repo.gitDir, ["log", "--format=", "--name-only", `--max-count=${MAX_COMMITS}`, ...range, "--", ".vigil"]);
  return out.trim() !== "";
}
