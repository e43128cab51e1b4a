// Which resource serves a kind (apps/v1 Deployment → deployments, namespaced), learnt from the API
// server's discovery documents one group-version at a time, only for the group-versions a set uses, and
// kept for the Cluster's life. A kind a cached group-version does not list is asked again once (a CRD may
// have been added since). Kinds defined by a CRD in the set being applied are taken from that CRD.
import { splitApiVersion } from "../manifest/resources.ts";
import { apiFailure, type Cluster } from "./client.ts";

export interface ResourceInfo {
  group: string;
  version: string;
  kind: string;
  /** The plural resource name in URLs: deployments. */
  resource: string;
  namespaced: boolean;
}

export class Discovery {
  private readonly cluster: Cluster;
  /** Per apiVersion: its kinds, or null when the server does not serve that group-version. */
  private readonly served = new Map<string, Promise<Map<string, ResourceInfo> | null>>();

  constructor(cluster: Cluster) {
    this.cluster = cluster;
  }

  /** The resource for a kind, or undefined when the server does not serve it (as far as it said). */
  async lookup(apiVersion: string, kind: string): Promise<ResourceInfo | undefined> {
    const kinds = await this.groupVersion(apiVersion);
    return kinds?.get(kind);
  }

  /** Forgets what the server said about a group-version (a kind it did not list may exist now). */
  refresh(apiVersion: string): void {
    this.served.delete(apiVersion);
  }

  /**
   * Resolves many kinds at once, keyed "apiVersion|kind". A group-version that lacks one of its kinds is
   * asked once more (a CRD may have been added since it was cached), at most once per call.
   */
  async resolve(kinds: Iterable<{ apiVersion: string; kind: string }>): Promise<Map<string, ResourceInfo | undefined>> {
    const out = new Map<string, ResourceInfo | undefined>();
    const refreshed = new Set<string>();
    for (const { apiVersion, kind } of kinds) {
      const key = `${apiVersion}|${kind}`;
      if (out.has(key)) continue;
      let info = await this.lookup(apiVersion, kind);
      if (!info && !refreshed.has(apiVersion)) {
        refreshed.add(apiVersion);
        this.refresh(apiVersion);
        info = await this.lookup(apiVersion, kind);
      }
      out.set(key, info);
    }
    return out;
  }

  private groupVersion(apiVersion: string): Promise<Map<string, ResourceInfo> | null> {
    let pending = this.served.get(apiVersion);
    if (!pending) {
      pending = this.fetch(apiVersion);
      this.served.set(apiVersion, pending);
      // A failure is not remembered: the next lookup asks again.
      pending.catch(() => this.served.delete(apiVersion));
    }
    return pending;
  }

  private async fetch(apiVersion: string): Promise<Map<string, ResourceInfo> | null> {
    const { group, version } = splitApiVersion(apiVersion);
    const path = group === "" ? `/api/${version}` : `/apis/${group}/${version}`;
    const answer = await this.cluster.call({ verb: "get", method: "GET", path });
    if (answer.status === 404) return null;
    if (answer.status !== 200) throw apiFailure(answer, `discovery of ${apiVersion} on ${this.cluster.name}`);
    const kinds = new Map<string, ResourceInfo>();
    for (const r of (answer.body?.resources ?? []) as { name: string; kind: string; namespaced: boolean }[]) {
      // Subresources (deployments/status, deployments/scale) are listed too; they are not kinds of their own.
      if (typeof r.name !== "string" || r.name.includes("/") || typeof r.kind !== "string") continue;
      kinds.set(r.kind, { group, version, kind: r.kind, resource: r.name, namespaced: r.namespaced === true });
    }
    return kinds;
  }
}

export function apiVersionOf(group: string, version: string): string {
  return group === "" ? version : `${group}/${version}`;
}

/** The URL path of a resource collection (no name) or of one object. */
export function resourcePath(info: ResourceInfo, namespace: string | undefined, name?: string): string {
  const base = info.group === "" ? `/api/${info.version}` : `/apis/${info.group}/${info.version}`;
  const ns = info.namespaced && namespace !== undefined ? `/namespaces/${encodeURIComponent(namespace)}` : "";
  return `${base}${ns}/${info.resource}${name === undefined ? "" : `/${encodeURIComponent(name)}`}`;
}
