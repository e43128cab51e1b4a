// The chain a revision passes through before anything is applied: revision gate → approval and
// promotion gate → secrets gate → render → policy gate → artifact gate → decrypt (SOPS) →
// vulnerability gate → server-side dry run. Each step reads what the steps before it
// established (the verified commit, the rendered objects) and adds checks; the first step with a
// failing check ends the chain, so nothing after it runs and nothing is written. A gate that can run
// is on unless the signed trust policy's environments[].gates turns it off.
import { join } from "node:path";
import { approvalGate, type MonitorPromotionChecks, type SeenClaim } from "../approvals/index.ts";
import type { Evidence } from "../audit/evidence.ts";
import { artifactChecks } from "../artifact/gate.ts";
import { check, type Check } from "../core/verdict.ts";
import type { TrustPolicy } from "../trust/policy.ts";
import type { ExportedTree } from "../git/export-tree.ts";
import type { Repo } from "../git/repo.ts";
import type { RegistryClient } from "../oci/registry.ts";
import { policyChecks } from "../policy/gate.ts";
import { isException } from "../policy/exceptions.ts";
import { loadManifests, type KubeObject, type SourcedObject } from "../manifest/manifests.ts";
import { nameProblem, namespaceProblem } from "../cluster/names.ts";
import { loadPacks } from "../policy/packs.ts";
import { renderRevision, type RenderOptions } from "../render/index.ts";
import { openRevisionGate } from "../revision/gate.ts";
import { rollbackJudge } from "../approvals/rollback.ts";
import type { TrustedRoot } from "../trust/trusted-root.ts";
import { ALWAYS_RUN } from "./config.ts";
import type { EnvironmentConfig, GateName } from "../api/agent-config.ts";
import { TreeWalker } from "../git/changes.ts";
import { PolicyChain } from "../revision/policy-chain.ts";
import { secretChecks } from "../secrets/checks.ts";
import { decryptSopsObjects, isSopsObject, SopsError, type SopsKeys } from "../secrets/sops.ts";
import { InputError } from "../core/errors.ts";
import { pinnedImages, vulnerabilityGate, type VulnerabilityGateOptions } from "../vuln/gate.ts";

/** What a reconcile knows, filled in step by step. */
export interface Candidate {
  env: EnvironmentConfig;
  repo: Repo;
  trust: TrustPolicy;
  trustedRoot?: TrustedRoot;
  registry: RegistryClient;
  /** Policy gate inputs: the agent's defaults, then the environment's. */
  policy: { packs: string[]; policies: string[]; exceptions?: string };
  /** Set by the policy gate: the PolicyExceptions it used (the admission policies carry them). */
  policyExceptions?: SourcedObject[];
  /** The branch or tag to deploy. */
  ref: string;
  /** The folder inside the repository. */
  path: string;
  /** Limits on rendering (the agent's configuration's limits). */
  render?: RenderOptions;
  /** The last revision applied to this environment; the revision gate refuses to move back from it. */
  lastApplied?: string;
  /**
   * What the audit log proves, verified: first sightings (the trusted time keys are judged at), the
   * claims seen before (one deleted from the refs blocks), the agent's deployment records and applies.
   */
  evidence?: Evidence;
  /** Claims the approval gate read from refs/vigil/, for the log to record. */
  claimsSeen: SeenClaim[];
  /** The monitor's promotion checks (open findings under block-promotion), when the agent feeds a monitor. */
  monitorChecks?: MonitorPromotionChecks;
  /** Set by the revision gate: the commit that verified. */
  commit?: string;
  /** Set by render when kustomize needed the verified commit's tree on disk: there until the reconcile ends. */
  tree?: ExportedTree;
  /** Set by render, pinned to image digests by the artifact gate: what will be applied. */
  objects?: SourcedObject[];
  /** The server-side dry run of the whole set before the first write (src/cluster/dry-run.ts's dryRunChecks, bound to the environment's cluster and sync options); skipped when unset. */
  dryRun?: (objects: SourcedObject[]) => Promise<Check[]>;
  /** The agent's SOPS keys (its sops.secret), read once per reconcile when a SOPS-encrypted object needs them; unset when none is configured. */
  sopsKeys?: () => Promise<SopsKeys>;
  /**
   * The environment's vulnerability gate, when its configuration names a database: opens the store and
   * the VEX files, and says how to find an image's SBOM. `close` is called when the gate is done.
   */
  vulnerability?: () => Promise<
    Omit<VulnerabilityGateOptions, "sbomFor"> & { sbomFor: VulnerabilityGateOptions["sbomFor"]; close(): Promise<void> }
  >;
}

/** A gate the signed trust policy may turn off: the configurable gates and the dry run. */
type TrustGate = GateName | "dry-run";

interface Step {
  name: string;
  /** A gate the configuration may leave out (but for ALWAYS_RUN's); the steps without one always run. */
  gate?: TrustGate;
  /** Whether the step can run for this candidate (a database or keys configured…); when not, it is left out silently. */
  enabled?(c: Candidate): boolean;
  run(c: Candidate): Promise<Check[]>;
}

const steps: Step[] = [
  { name: "revision", gate: "revision", run: revisionGate },
  // On the commit the revision gate verified; before render, so an unapproved revision is not even read.
  { name: "approvals", gate: "approvals", run: (c) => approvalGate({ ...c, onClaimSeen: (claim) => c.claimsSeen.push(claim) }) },
  // What the range the revision gate verified adds (tokens, keys), before anything of it is read further.
  { name: "secrets", gate: "secrets", run: secretsGate },
  { name: "render", run: render },
  { name: "policy", gate: "policy", run: policyGate },
  { name: "artifact", gate: "artifact", run: artifactGate },
  // SOPS-encrypted manifests replaced by their decrypted objects, in memory only, for what follows and the apply.
  { name: "decrypt", run: decrypt },
  { name: "vulnerability", gate: "vulnerability", enabled: (c) => c.vulnerability !== undefined, run: vulnerabilityStep },
  // Last, on the pinned objects: the API server itself judges the exact set before anything is written.
  {
    name: "dry-run",
    gate: "dry-run",
    enabled: (c) => c.dryRun !== undefined,
    run: (c) => (c.dryRun && c.objects ? c.dryRun(c.objects) : Promise.resolve([])),
  },
];

/**
 * Runs the chain; returns every check made. The candidate is ready to apply only if none failed.
 * `seconds` receives each step's time under its name (where a reconcile's time goes).
 */
export async function runGates(c: Candidate, seconds: Record<string, number> = {}): Promise<Check[]> {
  const checks: Check[] = [];
  const off = gatesOff(c.trust, c.env.name);
  for (const step of steps) {
    if (step.gate && off.has(step.gate)) {
      // Off only by the signed trust policy, and said so in every verdict.
      checks.push(
        check({
          gate: step.gate,
          rule: "gate-off",
          status: "skip",
          subject: c.env.name,
          message: `the ${step.gate} gate is off for ${c.env.name} by the trust policy ${off.get(step.gate)}`,
          code: "gate-off",
        }),
      );
      continue;
    }
    if (step.enabled && !step.enabled(c)) continue;
    if (step.gate && step.gate !== "dry-run" && !c.env.gates.includes(step.gate) && !ALWAYS_RUN.includes(step.gate)) continue;
    const started = performance.now();
    const made = await step.run(c);
    seconds[step.name] = (performance.now() - started) / 1000;
    checks.push(...made);
    if (made.some((x) => x.status === "fail")) break;
  }
  return checks;
}

async function revisionGate(c: Candidate): Promise<Check[]> {
  const environment = c.trust.doc.environments.some((e) => e.name === c.env.name) ? c.env.name : undefined;
  const gate = await openRevisionGate({
    repo: c.repo,
    rootPolicy: c.trust,
    to: c.ref,
    ...(c.lastApplied && { from: c.lastApplied }),
    ...(environment && { environment }),
    ...(c.trustedRoot && { trustedRoot: c.trustedRoot }),
    ...(c.evidence && { firstSeen: (id: string) => c.evidence!.firstSeen(id) }),
    judgeRollback: rollbackJudge(c.repo, new Date(), c.evidence),
  });
  const checks: Check[] = [];
  for await (const x of gate.checks()) checks.push(x);
  // The commit is the one the checks were made for: a branch that moves meanwhile changes nothing.
  c.commit = gate.subject.revision;
  return checks;
}

async function render(c: Candidate): Promise<Check[]> {
  if (!c.commit) throw new Error("render needs the revision gate's verified commit");
  const rendered = await renderRevision(c.repo, c.commit, c.path, c.render);
  if (rendered.tree) c.tree = rendered.tree;
  c.objects = rendered.objects;
  if (c.objects.length === 0) {
    return [
      check({
        gate: "render",
        rule: "objects",
        status: "fail",
        subject: `${c.path}@${c.commit.slice(0, 12)}`,
        message: `nothing to deploy: ${c.path} holds no Kubernetes objects at this revision`,
        code: "no-objects",
      }),
    ];
  }
  const refused = [...badNames(c.objects), ...selfPolicies(c.objects)];
  if (refused.length > 0) return refused;
  return [
    check({
      gate: "render",
      rule: "objects",
      status: "pass",
      subject: `${c.path}@${c.commit.slice(0, 12)}`,
      message: `${c.objects.length} objects`,
      code: "objects-rendered",
    }),
  ];
}

/** Objects whose name the API server would reject ("..", "a/b"…): bad input, refused before any request. */
function badNames(objects: readonly SourcedObject[]): Check[] {
  return objects.flatMap((s) => {
    const m = s.object.metadata ?? {};
    const name = typeof m.name === "string" ? m.name : "";
    const problem =
      (typeof s.object.apiVersion === "string" && typeof s.object.kind === "string" && name !== ""
        ? nameProblem(groupOf(s.object.apiVersion), s.object.kind, name)
        : undefined) ?? (typeof m.namespace === "string" && m.namespace !== "" ? namespaceProblem(m.namespace) : undefined);
    return problem
      ? [
          {
            ...check({
              gate: "render",
              rule: "name",
              status: "fail",
              subject: `${s.file}:${s.line}`,
              message: `${problem}; the API server would reject it`,
              code: "invalid-name",
            }),
            location: { file: s.file, line: s.line },
          },
        ]
      : [];
  });
}

const groupOf = (apiVersion: string) => (apiVersion.includes("/") ? apiVersion.slice(0, apiVersion.indexOf("/")) : "");

/** Kinds that would change the policy gate's own rules: they come from the trust policy's sources, never from the set they judge. */
const isGateRule = (o: KubeObject) =>
  (groupOf(String(o.apiVersion)) === "admissionregistration.k8s.io" &&
    (o.kind === "ValidatingAdmissionPolicy" || o.kind === "ValidatingAdmissionPolicyBinding")) ||
  isException(o);

function selfPolicies(objects: readonly SourcedObject[]): Check[] {
  return objects
    .filter((s) => isGateRule(s.object))
    .map((s) => ({
      ...check({
        gate: "render",
        rule: "policy-source",
        status: "fail",
        subject: `${s.file}:${s.line}`,
        message: `${s.object.kind} ${String(s.object.metadata?.name ?? "")} is in the environment's own manifests: policies, bindings and PolicyExceptions come only from the sources the trust policy names (environments[].policySources) or the agent's policy inputs, never from the set they judge. Move it there`,
        code: "policy-in-manifests",
      }),
      location: { file: s.file, line: s.line },
    }));
}

async function policyGate(c: Candidate): Promise<Check[]> {
  // The trust policy's sources for this environment, read from the verified commit: folders owned by
  // those it names in `paths` (the security team), so their changes pass the revision gate as theirs.
  const sources = c.trust.doc.environments.find((e) => e.name === c.env.name)?.policySources ?? [];
  const fromRepo = (
    await Promise.all(sources.map((path) => renderRevision(c.repo, c.commit!, path, c.render).then((r) => (r.tree?.remove(), r.objects))))
  ).flat();
  const policies = [...loadPacks(c.policy.packs), ...loadManifests(c.policy.policies), ...fromRepo.filter((s) => !isException(s.object))];
  if (policies.length === 0) {
    return [
      check({
        gate: "policy",
        rule: "configured",
        status: "fail",
        subject: c.env.name,
        message:
          "the policy gate is on but no pack or policy is configured: name packs or policies in the agent configuration, or turn the gate off for this environment in the trust policy",
        code: "no-policy-configured",
      }),
    ];
  }
  const exceptions = [
    ...(c.policy.exceptions ? loadManifests([c.policy.exceptions]) : []),
    ...fromRepo.filter((s) => isException(s.object)),
  ];
  c.policyExceptions = exceptions;
  return policyChecks({ manifests: c.objects ?? [], policies, kinds: c.trust.doc.kinds, ...(exceptions.length > 0 && { exceptions }) });
}

/** Gates the trust policy turns off for the environment, each with who decided it (the policy and its admins). */
function gatesOff(trust: TrustPolicy, environment: string): Map<TrustGate, string> {
  const index = trust.doc.environments.findIndex((e) => e.name === environment);
  const gates = trust.doc.environments[index]?.gates ?? {};
  const admins = trust.doc.admins ? `, admins ${trust.doc.admins.members.join(", ")} (threshold ${trust.doc.admins.threshold})` : "";
  return new Map(
    Object.entries(gates)
      .filter(([, on]) => on === false)
      .map(([gate]) => [gate as TrustGate, `(${trust.where(["environments", index, "gates", gate])}${admins})`]),
  );
}

async function artifactGate(c: Candidate): Promise<Check[]> {
  const result = await artifactChecks(c.objects ?? [], {
    policy: c.trust,
    client: c.registry,
    ...(c.trustedRoot && { trustedRoot: c.trustedRoot }),
  });
  if (result.pinned) c.objects = result.pinned;
  return result.checks;
}

/**
 * The secrets gate over the range the revision gate checked (the last applied revision to the verified
 * commit), with the allowlist of the trust policy in force at that commit. Its checks never hold a secret.
 */
async function secretsGate(c: Candidate): Promise<Check[]> {
  if (!c.commit) throw new Error("the secrets gate needs the revision gate's verified commit");
  const trees = new TreeWalker(c.repo.objects);
  let policy: TrustPolicy;
  try {
    const chain = await PolicyChain.create(c.repo, trees, c.trust, c.trustedRoot);
    policy = (await chain.inTree(await trees.commitTree(c.commit))).policy;
  } catch (e) {
    return [
      check({
        gate: "secrets",
        rule: "allowlist",
        status: "fail",
        subject: c.commit,
        message: `the trust policy at ${c.commit.slice(0, 12)} cannot be read for its secrets allowlist: ${(e as Error).message}`,
        code: "trust-policy-invalid",
      }),
    ];
  }
  const checks = await secretChecks(c.repo, { to: c.commit, ...(c.lastApplied && { from: c.lastApplied }) }, policy);
  return checks.length > 0
    ? checks
    : [
        check({
          gate: "secrets",
          rule: "added",
          status: "pass",
          subject: c.commit.slice(0, 12),
          message: `no secret added ${c.lastApplied ? `since ${c.lastApplied.slice(0, 12)}` : "in the revision's history"}`,
          code: "no-secrets",
        }),
      ];
}

/**
 * SOPS-encrypted objects replaced by their file's decrypted objects (the file read again from the verified
 * commit, its MAC checked). A failure is a failing check with the error's message only: never a value or a key.
 */
async function decrypt(c: Candidate): Promise<Check[]> {
  const objects = c.objects ?? [];
  const encrypted = objects.filter((s) => isSopsObject(s.object));
  if (encrypted.length === 0) return [];
  const files = [...new Set(encrypted.map((s) => s.file))];
  if (!c.sopsKeys) {
    return files.map((file) =>
      check({
        gate: "decrypt",
        rule: "sops-keys",
        status: "fail",
        subject: file,
        message: `${file} is SOPS-encrypted but the agent has no decryption keys: name a Secret holding them in the agent configuration (sops: { secret: NAME })`,
        code: "no-decryption-keys",
      }),
    );
  }
  if (c.tree) {
    // Kustomize rewrites objects (namespaces, labels), which changes what the MAC covers: decrypting the
    // file as committed would apply something other than what the build made.
    return files.map((file) =>
      check({
        gate: "decrypt",
        rule: "sops-kustomize",
        status: "fail",
        subject: file,
        message: `${file} is SOPS-encrypted in a Kustomize environment: SOPS files are decrypted for plain-manifest environments only (docs/secrets.md)`,
        code: "sops-in-kustomize",
      }),
    );
  }
  const trees = new TreeWalker(c.repo.objects);
  const readSource = async (file: string): Promise<Buffer> => {
    const id = await trees.blobAt(await trees.commitTree(c.commit!), file);
    const object = id ? await c.repo.objects.read(id) : null;
    if (object?.type !== "blob") throw new InputError(`${file}: not in the revision ${c.commit!.slice(0, 12)}`);
    return object.data;
  };
  try {
    const decrypted = await decryptSopsObjects(objects, readSource, await c.sopsKeys());
    // The artifact gate judged the images of what it could read: an encrypted file may not bring its own.
    const unjudged = decrypted.filter((s) => files.includes(s.file));
    try {
      pinnedImages(unjudged, c.trust.doc.kinds);
    } catch {
      return [
        check({
          gate: "decrypt",
          rule: "sops-images",
          status: "fail",
          subject: files.join(", "),
          message:
            "a SOPS-encrypted file holds objects that run images, which the artifact gate could not judge encrypted: keep workloads out of encrypted files",
          code: "sops-runs-images",
        }),
      ];
    }
    c.objects = decrypted;
  } catch (e) {
    if (!(e instanceof SopsError) && !(e instanceof InputError)) throw e;
    return [
      check({ gate: "decrypt", rule: "sops", status: "fail", subject: files.join(", "), message: e.message, code: "decryption-failed" }),
    ];
  }
  return [
    check({
      gate: "decrypt",
      rule: "sops",
      status: "pass",
      subject: files.join(", "),
      message: `${files.length} SOPS file(s) decrypted in memory, MAC verified`,
      code: "decrypted",
    }),
  ];
}

async function vulnerabilityStep(c: Candidate): Promise<Check[]> {
  const options = await c.vulnerability!();
  try {
    return await vulnerabilityGate(pinnedImages(c.objects ?? [], c.trust.doc.kinds), options);
  } finally {
    await options.close();
  }
}

/** The folder to render: the environment's, else the trust policy's for it, else the repository root. */
export function environmentPath(env: EnvironmentConfig, trust: TrustPolicy): string {
  const path = env.source.path ?? trust.doc.environments.find((e) => e.name === env.name)?.path ?? ".";
  return join(".", path);
}
