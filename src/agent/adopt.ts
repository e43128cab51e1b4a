// `vigil agent adopt`: a person lets an environment take over objects that exist in the cluster and
// were not made by it (issue 15 §2). Without it, such an object is a conflict that the environment
// neither writes nor prunes. Adopting is a decision, so it is checked and recorded before anything
// changes:
//
// 1. every object is named KIND[.GROUP]/NAMESPACE/NAME (or KIND[.GROUP]/NAME when cluster-scoped), and
//    must be inside the environment's fence: one of its namespaces (or, cluster-scoped, one of those
//    Namespaces or allowClusterScoped);
// 2. every object must exist, and belong to no other environment (its applied-by label, or another
//    environment's adopt annotation); one the environment already owns needs nothing;
// 3. who adopts is the API server's answer about the caller (a SelfSubjectReview), never a flag;
// 4. the adoption (objects, who, why) is appended to the agent's audit log, verified first against the
//    checkpoint the agent keeps; only then is each live object annotated vigil.dev/adopt=ENV, as the
//    caller (so their RBAC decides), on the resourceVersion that was checked.
// All or nothing: one refusal and nothing is recorded or written.
import { loadAgentConfig } from "./config.ts";
import type { EnvironmentConfig } from "../api/agent-config.ts";
import { AgentAudit, configMapKeeper } from "./audit.ts";
import { fieldManagerOf } from "./deploy.ts";
import { ADOPT_ANNOTATION, connectCluster, ENVIRONMENT_LABEL, nameProblem, namespaceProblem, type Cluster } from "../cluster/index.ts";
import { apiFailure } from "../cluster/client.ts";
import { ExitCode, InputError, UnavailableError } from "../core/errors.ts";
import { loadTrustPolicyFile } from "../trust/policy.ts";
import { redactUrl } from "../audit/store.ts";

/** Longer reasons belong in a ticket the reason names. */
const MAX_REASON = 1000;

export interface AdoptOptions {
  configFile: string;
  environment: string;
  /** KIND[.GROUP]/NAMESPACE/NAME or KIND[.GROUP]/NAME. */
  objects: readonly string[];
  reason: string;
  /** Connect with this kubeconfig instead of the environment's cluster settings (an in-cluster environment from a workstation). */
  kubeconfig?: string;
  context?: string;
}

export interface AdoptedObject {
  /** As given. */
  argument: string;
  apiVersion: string;
  kind: string;
  namespace?: string;
  name: string;
  outcome: "adopted" | "already" | "refused";
  message: string;
}

export interface AdoptResult {
  environment: string;
  /** Who the API server says the caller is. */
  user: string;
  reason: string;
  objects: AdoptedObject[];
  /** Where the adoption was recorded (log entries), when it was. */
  recorded?: string;
  exitCode: ExitCode;
}

interface Target {
  argument: string;
  group: string;
  kindWord: string;
  namespace?: string;
  name: string;
}

export async function adoptObjects(options: AdoptOptions): Promise<AdoptResult> {
  const config = loadAgentConfig(options.configFile);
  const env = config.doc.environments.find((e) => e.name === options.environment);
  if (!env)
    throw new InputError(
      `--env ${options.environment}: no such environment in ${options.configFile} (configured: ${config.doc.environments.map((e) => e.name).join(", ")})`,
    );
  const reason = options.reason.trim();
  if (reason === "" || reason.length > MAX_REASON || /[\u0000-\u0008\u000b-\u001f\u007f]/.test(reason)) {
    throw new InputError(`--reason: say why, in 1 to ${MAX_REASON} characters of text (it is recorded in the audit log)`);
  }
  if (!config.doc.audit)
    throw new InputError(
      `${options.configFile}: adopting is recorded in the agent's audit log, and this configuration has none (audit.log); without it, an adoption would leave no record of who decided it`,
    );
  if (options.objects.length === 0)
    throw new InputError("name at least one object: KIND[.GROUP]/NAMESPACE/NAME, or KIND[.GROUP]/NAME when cluster-scoped");
  const targets = options.objects.map(parseTarget);

  const cluster = await connectCluster(connection(env, options));
  try {
    const user = await whoAmI(cluster);
    const objects: AdoptedObject[] = [];
    const live = new Map<AdoptedObject, Live>();
    for (const target of targets) {
      const judged = await judge(cluster, target, env);
      objects.push(judged.object);
      if (judged.live) live.set(judged.object, judged.live);
    }
    const base = { environment: env.name, user, reason, objects };
    const refused = objects.filter((o) => o.outcome === "refused");
    if (refused.length > 0) return { ...base, exitCode: ExitCode.blocked };
    const adopting = objects.filter((o) => o.outcome === "adopted");
    if (adopting.length === 0) return { ...base, exitCode: ExitCode.ok };

    // Recorded first: nothing is adopted that the log does not say who decided and why.
    const trust = await loadTrustPolicyFile(config.doc.trustPolicy);
    const audit = (await AgentAudit.open(config, trust, {
      keeper: configMapKeeper(cluster, config.doc.namespace, redactUrl(config.doc.audit.log)),
    }))!;
    let recorded: string;
    try {
      recorded = await audit.appendRecords([
        {
          kind: "adopt",
          time: new Date().toISOString(),
          environment: env.name,
          payload: {
            user,
            reason,
            objects: adopting.map((o) => ({
              apiVersion: o.apiVersion,
              kind: o.kind,
              ...(o.namespace && { namespace: o.namespace }),
              name: o.name,
            })),
          },
        },
      ]);
    } finally {
      await audit.close();
    }
    for (const o of adopting) await annotate(cluster, o, env.name, live.get(o)!);
    return { ...base, recorded, exitCode: ExitCode.ok };
  } finally {
    await cluster.close();
  }
}

/** KIND[.GROUP]/NAMESPACE/NAME or KIND[.GROUP]/NAME, checked as the API server checks names. */
function parseTarget(argument: string): Target {
  const parts = argument.split("/");
  const bad = (why: string) =>
    new InputError(
      `${argument}: ${why}; name objects as KIND[.GROUP]/NAMESPACE/NAME (configmap/shop/settings, deployment.apps/shop/web) or KIND[.GROUP]/NAME when cluster-scoped`,
    );
  if (parts.length < 2 || parts.length > 3 || parts.some((p) => p === "")) throw bad("not an object reference");
  const m = /^([A-Za-z][A-Za-z0-9]{0,62})(?:\.([a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?))?$/.exec(parts[0]!);
  if (!m) throw bad(`"${parts[0]}" is not a kind`);
  const namespace = parts.length === 3 ? parts[1] : undefined;
  const name = parts[parts.length - 1]!;
  const namespaceWrong = namespace === undefined ? undefined : namespaceProblem(namespace);
  if (namespaceWrong) throw bad(`namespace ${namespaceWrong}`);
  const nameWrong = nameProblem(m[2] ?? "", m[1]!, name);
  if (nameWrong) throw bad(`name ${nameWrong}`);
  return { argument, group: m[2] ?? "", kindWord: m[1]!, ...(namespace !== undefined && { namespace }), name };
}

function connection(env: EnvironmentConfig, options: AdoptOptions) {
  if (options.kubeconfig) return { kubeconfig: options.kubeconfig, ...(options.context && { context: options.context }) };
  if (options.context) throw new InputError("--context needs --kubeconfig");
  return "inCluster" in env.cluster
    ? { inCluster: true as const }
    : { kubeconfig: env.cluster.kubeconfig, ...(env.cluster.context && { context: env.cluster.context }) };
}

/** The caller's user name, as the API server authenticated it. */
async function whoAmI(cluster: Cluster): Promise<string> {
  const answer = await cluster.call({
    verb: "create",
    method: "POST",
    path: "/apis/authentication.k8s.io/v1/selfsubjectreviews",
    body: { apiVersion: "authentication.k8s.io/v1", kind: "SelfSubjectReview" },
  });
  const user = answer.body?.status?.userInfo?.username;
  if (answer.status !== 201 || typeof user !== "string" || user === "")
    throw apiFailure(answer, "asking the API server who is adopting (SelfSubjectReview)");
  return user;
}

interface Resource {
  apiVersion: string;
  kind: string;
  plural: string;
  namespaced: boolean;
}

/** The resource a kind word names: its kind, singular or plural name, any case; in the given group, else the core group, else the one group that has it. */
async function resolve(cluster: Cluster, target: Target): Promise<Resource> {
  const versions = target.group === "" ? ["v1", ...(await groupVersions(cluster))] : await groupVersions(cluster, target.group);
  const word = target.kindWord.toLowerCase();
  const found: Resource[] = [];
  for (const apiVersion of versions) {
    const answer = await cluster.call({
      verb: "get",
      method: "GET",
      path: apiVersion.includes("/") ? `/apis/${apiVersion}` : `/api/${apiVersion}`,
    });
    if (answer.status !== 200) throw apiFailure(answer, `discovery of ${apiVersion}`);
    for (const r of (answer.body?.resources ?? []) as { name: string; singularName?: string; kind: string; namespaced: boolean }[]) {
      if (r.name.includes("/")) continue;
      if ([r.kind.toLowerCase(), r.name, r.singularName].includes(word))
        found.push({ apiVersion, kind: r.kind, plural: r.name, namespaced: r.namespaced === true });
    }
    // The core group wins, as kubectl's short names do.
    if (apiVersion === "v1" && found.length > 0) break;
  }
  const groups = new Set(found.map((f) => f.apiVersion));
  if (found.length === 0)
    throw new InputError(
      `${target.argument}: the API server serves no kind "${target.kindWord}"${target.group ? ` in group ${target.group}` : ""}`,
    );
  if (groups.size > 1)
    throw new InputError(
      `${target.argument}: "${target.kindWord}" is a kind of several groups (${[...groups].join(", ")}): name one, as KIND.GROUP`,
    );
  return found[0]!;
}

/** The preferred version of one group, or of every group the server serves. */
async function groupVersions(cluster: Cluster, group?: string): Promise<string[]> {
  const answer = await cluster.call({ verb: "get", method: "GET", path: group ? `/apis/${group}` : "/apis" });
  if (group && answer.status === 404) return [];
  if (answer.status !== 200) throw apiFailure(answer, `discovery of ${group ?? "the API groups"}`);
  const list = group ? [answer.body] : (answer.body?.groups ?? []);
  return list
    .map((g: { preferredVersion?: { groupVersion?: string } }) => g?.preferredVersion?.groupVersion)
    .filter((v: unknown): v is string => typeof v === "string");
}

/** Whether the object may be adopted by the environment: inside its fence, present, and no other environment's. */
/** The object's URL and the version that was judged. */
interface Live {
  path: string;
  resourceVersion: string;
}

async function judge(cluster: Cluster, target: Target, env: EnvironmentConfig): Promise<{ object: AdoptedObject; live?: Live }> {
  const resource = await resolve(cluster, target);
  const object = {
    argument: target.argument,
    apiVersion: resource.apiVersion,
    kind: resource.kind,
    ...(target.namespace && { namespace: target.namespace }),
    name: target.name,
  };
  const refuse = (message: string) => ({ object: { ...object, outcome: "refused" as const, message } });
  if (resource.namespaced && target.namespace === undefined)
    throw new InputError(`${target.argument}: ${resource.kind} is namespaced: name it as ${target.kindWord}/NAMESPACE/${target.name}`);
  if (!resource.namespaced && target.namespace !== undefined)
    throw new InputError(`${target.argument}: ${resource.kind} is cluster-scoped: name it as ${target.kindWord}/${target.name}`);
  if (resource.namespaced && !env.namespaces.includes(target.namespace!)) {
    return refuse(
      `namespace ${target.namespace} is outside environment ${env.name}'s namespaces (${env.namespaces.join(", ")}): it may not adopt there`,
    );
  }
  const ownNamespace = resource.kind === "Namespace" && resource.apiVersion === "v1" && env.namespaces.includes(target.name);
  if (!resource.namespaced && !ownNamespace && !env.allowClusterScoped) {
    return refuse(
      `${resource.kind} is cluster-scoped, and environment ${env.name} may hold cluster-scoped objects only with allowClusterScoped`,
    );
  }
  const path = `${resource.apiVersion.includes("/") ? `/apis/${resource.apiVersion}` : `/api/${resource.apiVersion}`}${target.namespace ? `/namespaces/${target.namespace}` : ""}/${resource.plural}/${encodeURIComponent(target.name)}`;
  const answer = await cluster.call({ verb: "get", method: "GET", path });
  if (answer.status === 404) throw new InputError(`${target.argument}: ${describe(object)} does not exist: there is nothing to adopt`);
  if (answer.status === 403)
    return refuse(`you may not read ${describe(object)} (${answer.body?.message ?? "forbidden"}): adopting needs read and patch on it`);
  if (answer.status !== 200) throw apiFailure(answer, `reading ${describe(object)}`);
  const metadata = answer.body?.metadata ?? {};
  const owner = metadata.labels?.[ENVIRONMENT_LABEL];
  const adoptedFor = metadata.annotations?.[ADOPT_ANNOTATION];
  const managers = ((metadata.managedFields ?? []) as { manager?: string }[]).map((m) => m.manager);
  if (owner !== undefined && owner !== env.name)
    return refuse(
      `it belongs to environment ${owner} (${ENVIRONMENT_LABEL}=${owner}): one environment per object; remove it from ${owner}'s revision first`,
    );
  if (adoptedFor !== undefined && adoptedFor !== env.name)
    return refuse(`it is adopted by environment ${adoptedFor} already (${ADOPT_ANNOTATION}=${adoptedFor})`);
  if (owner === env.name || adoptedFor === env.name || managers.includes(fieldManagerOf(env.name))) {
    return {
      object: {
        ...object,
        outcome: "already",
        message: `already environment ${env.name}'s${adoptedFor === env.name ? " (adopted before)" : ""}: nothing to do`,
      },
    };
  }
  const by = [...new Set(managers.filter((m): m is string => typeof m === "string"))];
  return {
    object: {
      ...object,
      outcome: "adopted",
      message: `adopted by environment ${env.name}${by.length > 0 ? `, taken from ${by.join(", ")}` : ""}: the next reconcile applies it, and it is never pruned`,
    },
    live: { path, resourceVersion: String(metadata.resourceVersion) },
  };
}

/** The adopt annotation, as the caller, on the version that was judged (a change since is a conflict, not an adoption). */
async function annotate(cluster: Cluster, o: AdoptedObject, environment: string, { path, resourceVersion }: Live): Promise<void> {
  const answer = await cluster.call({
    verb: "patch",
    method: "PATCH",
    path,
    query: { fieldManager: "vigil-adopt" },
    body: { metadata: { resourceVersion, annotations: { [ADOPT_ANNOTATION]: environment } } },
    contentType: "application/merge-patch+json",
  });
  if (answer.status === 409)
    throw new UnavailableError(
      `${describe(o)} changed while it was being adopted; the adoption is recorded but not applied: run vigil agent adopt again`,
    );
  if (answer.status !== 200)
    throw apiFailure(answer, `annotating ${describe(o)} ${ADOPT_ANNOTATION}=${environment} (the adoption is recorded in the audit log)`);
}

function describe(o: { kind: string; namespace?: string; name: string }): string {
  return `${o.kind} ${o.namespace ? `${o.namespace}/` : ""}${o.name}`;
}
