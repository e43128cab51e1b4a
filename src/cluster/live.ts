// Reading live objects in few requests: the objects carrying an environment's label, by LIST per
// resource and namespace (or across namespaces when allowed), and a small pool for running requests
// side by side.
import { apiFailure, type Cluster } from "./client.ts";
import { apiVersionOf, resourcePath, type ResourceInfo } from "./discovery.ts";
import { ENVIRONMENT_LABEL, identity } from "./objects.ts";

/** Resources Vigil may not list across namespaces (403 once): listed per namespace from then on. */
const namespaceListsOnly = new WeakMap<Cluster, Set<string>>();

/**
 * The live objects carrying the environment's label, by identity, for the given (resource, namespace)
 * pairs: one LIST per pair, or one across namespaces for a resource in three namespaces or more.
 */
export async function listLabelled(cluster: Cluster, environment: string, wanted: { info: ResourceInfo; namespace?: string | undefined }[]): Promise<Map<string, any>> {
  const byResource = new Map<string, { info: ResourceInfo; namespaces: Set<string | undefined> }>();
  for (const { info, namespace } of wanted) {
    const rk = `${info.group}/${info.version}/${info.resource}`;
    let entry = byResource.get(rk);
    if (!entry) byResource.set(rk, (entry = { info, namespaces: new Set() }));
    entry.namespaces.add(info.namespaced ? namespace : undefined);
  }
  const selector = `${ENVIRONMENT_LABEL}=${environment}`;
  const found = new Map<string, any>();
  const add = (info: ResourceInfo, items: any[]) => {
    for (const obj of items) identityOfLive(info, obj, found);
  };
  const perNamespace = namespaceListsOnly.get(cluster) ?? new Set();
  namespaceListsOnly.set(cluster, perNamespace);
  const lists: (() => Promise<void>)[] = [];
  for (const [rk, { info, namespaces }] of byResource) {
    if (info.namespaced && namespaces.size >= 3 && !perNamespace.has(rk)) {
      lists.push(async () => {
        const all = await listAll(cluster, resourcePath(info, undefined), selector, true);
        if (all === "forbidden") {
          perNamespace.add(rk);
          for (const ns of namespaces) add(info, (await listAll(cluster, resourcePath(info, ns), selector, false)) as any[]);
        } else {
          add(info, all.filter((obj) => namespaces.has(obj?.metadata?.namespace)));
        }
      });
    } else {
      for (const ns of namespaces) lists.push(async () => add(info, (await listAll(cluster, resourcePath(info, ns), selector, false)) as any[]));
    }
  }
  await inPool(lists, 8, (list) => list());
  return found;
}

function identityOfLive(info: ResourceInfo, obj: any, into: Map<string, any>): void {
  const name = obj?.metadata?.name;
  if (typeof name !== "string") return;
  const namespace = typeof obj.metadata.namespace === "string" ? obj.metadata.namespace : undefined;
  // A LIST's items leave out apiVersion and kind; put them back so that a listed object reads like a fetched one.
  obj.apiVersion ??= apiVersionOf(info.group, info.version);
  obj.kind ??= info.kind;
  into.set(identity({ apiVersion: apiVersionOf(info.group, info.version), kind: info.kind, ...(namespace && { namespace }), name }), obj);
}

/** Every page of a labelled LIST. A 404 (a kind no longer served) is an empty list. */
async function listAll(cluster: Cluster, path: string, labelSelector: string, forbiddenAllowed: boolean): Promise<any[] | "forbidden"> {
  const out: any[] = [];
  let next: string | undefined;
  do {
    const answer = await cluster.call({ verb: "list", method: "GET", path, query: { labelSelector, limit: "500", continue: next } });
    if (answer.status === 403 && forbiddenAllowed) return "forbidden";
    if (answer.status === 404) return out;
    if (answer.status !== 200) throw apiFailure(answer, `listing ${path}`);
    out.push(...((answer.body?.items ?? []) as any[]));
    next = answer.body?.metadata?.continue || undefined;
  } while (next);
  return out;
}

/**
 * Runs `fn` over `items`, at most `n` at a time. The first error stops new work; it is thrown once the
 * running ones have finished, so nothing is left running behind the caller's back.
 */
export async function inPool<T>(items: readonly T[], n: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async () => {
    while (!failure && next < items.length) {
      const item = items[next++]!;
      try {
        await fn(item);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, worker));
  if (failure) throw failure.error;
}
