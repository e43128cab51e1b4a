// Webhook triggers that reach a standby replica. The Git host's push lands on whichever replica the
// Service picks, and only the leader reconciles; the replicas may not talk to each other (deploy/'s
// NetworkPolicy lets nothing in but the webhook and metrics ports, and opening pod-to-pod traffic for
// this would widen what a compromised pod could reach). So they meet where they already meet, the API
// server: a standby that verified the webhook's signature records the trigger on the ConfigMap
// vigil-triggers in the agent's namespace, one key per environment whose value changes on every
// trigger, and every replica watches that ConfigMap; the leader reconciles each environment whose
// value changed. Not on the Lease: a leader whose renew meets another writer's change gets 409 and
// loses its leadership.
//
// Nothing is lost across reconnects or a change of leader: each (re)connection lists the ConfigMap
// first and compares every value with the last one seen, then watches from that list's
// resourceVersion; a replica that becomes leader reconciles every environment anyway. A standby answers
// the Git host 202 only once the trigger is recorded, and 503 when it could not be (the host can
// redeliver). The request is still never trusted for content: the leader fetches and verifies as always.
import { randomBytes } from "node:crypto";
import { apiFailure, type Cluster, type WatchEvent } from "../cluster/client.ts";

export const TRIGGERS_NAME = "vigil-triggers";

const collection = (namespace: string) => `/api/v1/namespaces/${encodeURIComponent(namespace)}/configmaps`;
const where = (namespace: string) => `ConfigMap ${namespace}/${TRIGGERS_NAME}`;

/** Records a trigger of these environments for the leader: a new value under each one's key. */
export async function recordTrigger(cluster: Cluster, namespace: string, environments: readonly string[], by: string): Promise<void> {
  // Unique per trigger, so that a second trigger is a change even within the same millisecond.
  const stamp = `${new Date().toISOString()} ${by} ${randomBytes(6).toString("hex")}`;
  const data = Object.fromEntries(environments.map((e) => [e, stamp]));
  for (let attempt = 1; ; attempt++) {
    // A merge patch touches only these keys, so two replicas recording at once both land.
    const patched = await cluster.call({
      verb: "patch",
      method: "PATCH",
      path: `${collection(namespace)}/${TRIGGERS_NAME}`,
      body: { data },
      contentType: "application/merge-patch+json",
    });
    if (patched.status === 200) return;
    if (patched.status !== 404) throw apiFailure(patched, `recording the webhook's trigger on ${where(namespace)}`);
    const created = await cluster.call({
      verb: "create",
      method: "POST",
      path: collection(namespace),
      body: {
        apiVersion: "v1",
        kind: "ConfigMap",
        metadata: { name: TRIGGERS_NAME, namespace, labels: { "app.kubernetes.io/managed-by": "vigil" } },
        data,
      },
    });
    if (created.status === 201) return;
    // Another replica created it meanwhile: patch it.
    if (created.status !== 409 || attempt >= 3) throw apiFailure(created, `creating ${where(namespace)} for the webhook's trigger`);
  }
}

export interface TriggerWatchOptions {
  cluster: Cluster;
  namespace: string;
  /** Environments whose value changed since the last one seen. */
  onTrigger(environments: string[]): void;
  onError?(error: unknown): void;
  /** How long one watch runs before the server ends it and it is made again. Default 300 s. */
  timeoutSeconds?: number;
}

/** Watches vigil-triggers and reports each environment whose value changes; reconnects until stop(). */
export class TriggerWatch {
  private readonly options: TriggerWatchOptions;
  private readonly abort = new AbortController();
  /** The ConfigMap's data as last seen; undefined until the first list (which triggers nothing). */
  private seen: Map<string, string> | undefined;
  private running: Promise<void> | undefined;
  private listed!: () => void;
  /** Resolves once the first list was tried: triggers recorded after it succeeded are seen. */
  readonly ready = new Promise<void>((resolve) => (this.listed = resolve));

  constructor(options: TriggerWatchOptions) {
    this.options = options;
  }

  start(): void {
    this.running ??= this.run();
  }

  async stop(): Promise<void> {
    this.abort.abort();
    this.listed();
    await this.running;
  }

  private async run(): Promise<void> {
    const { signal } = this.abort;
    let failures = 0;
    while (!signal.aborted) {
      const started = performance.now();
      try {
        const resourceVersion = await this.list().finally(this.listed);
        await this.watchFrom(resourceVersion);
        // A watch the server ends at once, again and again, is waited out like a failure.
        failures = performance.now() - started < 1000 ? failures + 1 : 0;
      } catch (e) {
        if (signal.aborted) break;
        this.options.onError?.(e);
        failures++;
      }
      if (failures > 0) await sleep(Math.min(250 * 2 ** (failures - 1), 10_000), signal);
    }
  }

  /** Lists the ConfigMap (by name, which RBAC can limit) and returns the list's resourceVersion. */
  private async list(): Promise<string> {
    const { cluster, namespace } = this.options;
    const answer = await cluster.call({
      verb: "list",
      method: "GET",
      path: collection(namespace),
      query: { fieldSelector: `metadata.name=${TRIGGERS_NAME}` },
    });
    if (answer.status !== 200) throw apiFailure(answer, `listing ${where(namespace)} (the agent needs list and watch on it)`);
    this.observe(answer.body?.items?.[0]?.data);
    return String(answer.body?.metadata?.resourceVersion ?? "");
  }

  private async watchFrom(resourceVersion: string): Promise<void> {
    const { cluster, namespace } = this.options;
    // Ends this watch alone (after an ERROR event), or with the whole TriggerWatch.
    const ended = new AbortController();
    const end = () => ended.abort();
    this.abort.signal.addEventListener("abort", end, { once: true });
    const answer = await cluster
      .watch(
        {
          path: collection(namespace),
          query: { fieldSelector: `metadata.name=${TRIGGERS_NAME}`, resourceVersion, allowWatchBookmarks: "true" },
          timeoutSeconds: this.options.timeoutSeconds ?? 300,
          signal: ended.signal,
        },
        (event: WatchEvent) => {
          if (ended.signal.aborted) return;
          if (event.type === "ADDED" || event.type === "MODIFIED") this.observe(event.object?.data);
          else if (event.type === "DELETED") this.seen = new Map();
          // 410 Gone (the resourceVersion is too old) or another error: list again, which compares every value.
          else if (event.type === "ERROR") end();
        },
      )
      .finally(() => this.abort.signal.removeEventListener("abort", end));
    if (answer) throw apiFailure(answer, `watching ${where(namespace)} (the agent needs list and watch on it)`);
  }

  private observe(data: Record<string, unknown> | undefined): void {
    const next = new Map(Object.entries(data ?? {}).filter((e): e is [string, string] => typeof e[1] === "string"));
    const before = this.seen;
    this.seen = next;
    if (!before) return;
    const changed = [...next].filter(([key, value]) => before.get(key) !== value).map(([key]) => key);
    if (changed.length > 0) this.options.onTrigger(changed);
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
  });
}
