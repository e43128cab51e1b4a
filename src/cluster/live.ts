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
export async function listLabelled(
  cluster: Cluster,
  environment: string,
  wanted: { info: ResourceInfo; namespace?: string | undefined }[],
  forbidden?: Set<string>,
): Promise<Map<string, any>> {
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
  // A caller that passes `forbidden` learns which (resource, namespace) it may not list instead of failing.
  const addOrForbid = (info: ResourceInfo, namespace: string | undefined, items: any[] | "forbidden") => {
    if (items === "forbidden") forbidden?.add(listKey(info, namespace));
    else add(info, items);
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
          for (const ns of namespaces)
            addOrForbid(info, ns, await listAll(cluster, resourcePath(info, ns), selector, forbidden !== undefined));
        } else {
          add(
            info,
            all.filter((obj) => namespaces.has(obj?.metadata?.namespace)),
          );
        }
      });
    } else {
      for (const ns of namespaces)
        lists.push(async () => addOrForbid(info, ns, await listAll(cluster, resourcePath(info, ns), selector, forbidden !== undefined)));
    }
  }
  await inPool(lists, 8, (list) => list());
  return found;
}

/** The key `forbidden` holds for a (resource, namespace) whose LIST the server refused. */
export function listKey(info: ResourceInfo, namespace: string | undefined): string {
  return `${info.group}/${info.resource}/${info.namespaced ? (namespace ?? "") : ""}`;
}

const METADATA_LIST = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1";
const METADATA = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1";

/**
 * Whether objects exist, whoever made them, and their metadata (labels, annotations, managedFields):
 * metadata only, so no Secret's value is read. One LIST per (resource, namespace), never across
 * namespaces (another tenant's objects are none of Vigil's business); where the LIST is refused, one
 * GET per object; "forbidden" where that is refused too.
 */
export async function findExisting(
  cluster: Cluster,
  wanted: { key: string; info: ResourceInfo; namespace?: string | undefined; name: string }[],
  concurrency = 8,
): Promise<Map<string, any | "forbidden">> {
  const groups = new Map<string, { info: ResourceInfo; namespace: string | undefined; items: typeof wanted }>();
  for (const w of wanted) {
    const k = listKey(w.info, w.namespace);
    let g = groups.get(k);
    if (!g) groups.set(k, (g = { info: w.info, namespace: w.info.namespaced ? w.namespace : undefined, items: [] }));
    g.items.push(w);
  }
  const found = new Map<string, any | "forbidden">();
  await inPool([...groups.values()], concurrency, async ({ info, namespace, items }) => {
    // A handful of names cost fewer bytes fetched one by one than a namespace's whole list.
    const listed = items.length > 3 ? await listAll(cluster, resourcePath(info, namespace), undefined, true, METADATA_LIST) : "forbidden";
    if (listed !== "forbidden") {
      const byName = new Map(listed.map((obj) => [obj?.metadata?.name, obj]));
      for (const w of items) if (byName.has(w.name)) found.set(w.key, byName.get(w.name));
      return;
    }
    await inPool(items, concurrency, async (w) => {
      const answer = await cluster.call({ verb: "get", method: "GET", path: resourcePath(info, namespace, w.name), accept: METADATA });
      if (answer.status === 200) found.set(w.key, answer.body);
      else if (answer.status === 403) found.set(w.key, "forbidden");
      else if (answer.status !== 404) throw apiFailure(answer, `reading ${resourcePath(info, namespace, w.name)}`);
    });
  });
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
async function listAll(
  cluster: Cluster,
  path: string,
  labelSelector: string | undefined,
  forbiddenAllowed: boolean,
  accept?: string,
): Promise<any[] | "forbidden"> {
  const out: any[] = [];
  let next: string | undefined;
  do {
    const answer = await cluster.call({
      verb: "list",
      method: "GET",
      path,
      query: { labelSelector, limit: "500", continue: next },
      ...(accept && { accept }),
    });
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
