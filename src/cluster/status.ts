// What the agent tells the cluster about itself: Kubernetes Events on the objects concerned (what
// `kubectl describe` and `kubectl get events` show), and a status ConfigMap it server-side applies.
// Both are readable by far more people than the agent's credentials are: no credential in a URL reaches them.
import { hostname } from "node:os";
import { redactCredentials } from "../core/redact.ts";
import { apiFailure, type Cluster } from "./client.ts";
import { ENVIRONMENT_LABEL } from "./objects.ts";

export interface EventInput {
  /** Where the Event is stored: the involved object's namespace, or the agent's for cluster-scoped ones. */
  namespace: string;
  involvedObject: { apiVersion: string; kind: string; name: string; namespace?: string; uid?: string };
  /** CamelCase, e.g. ReconcileSucceeded, GateFailed. */
  reason: string;
  message: string;
  type?: "Normal" | "Warning";
}

/** The API server keeps a message of at most this many bytes in events.k8s.io; core/v1 accepts more, readers do not. */
const MAX_MESSAGE = 1024;

/** Records a core/v1 Event; returns its name. */
export async function recordEvent(cluster: Cluster, event: EventInput): Promise<string> {
  const now = new Date().toISOString();
  // Redacted before it is cut, so a cut never leaves part of a URL's token behind.
  const full = redactCredentials(event.message);
  const message = full.length > MAX_MESSAGE ? `${full.slice(0, MAX_MESSAGE - 3)}...` : full;
  const body = {
    apiVersion: "v1",
    kind: "Event",
    metadata: { generateName: `${event.involvedObject.name}.`, namespace: event.namespace },
    involvedObject: event.involvedObject,
    reason: event.reason,
    message,
    type: event.type ?? "Normal",
    source: { component: "vigil" },
    reportingComponent: "vigil.dev/agent",
    reportingInstance: hostname(),
    firstTimestamp: now,
    lastTimestamp: now,
    count: 1,
  };
  const answer = await cluster.call({
    verb: "create",
    method: "POST",
    path: `/api/v1/namespaces/${encodeURIComponent(event.namespace)}/events`,
    body,
  });
  if (answer.status !== 201)
    throw apiFailure(answer, `recording event ${event.reason} on ${event.involvedObject.kind} ${event.involvedObject.name}`);
  return String(answer.body?.metadata?.name);
}

export interface StatusObjectInput {
  namespace: string;
  /** Default "vigil-status". */
  name?: string;
  data: Record<string, string>;
  /** Labels the ConfigMap with vigil.dev/applied-by when it is one environment's status. */
  environment?: string;
  fieldManager?: string;
}

/**
 * Server-side applies a status ConfigMap. Keys Vigil applied before and leaves out now are removed (they
 * were only Vigil's); keys other managers added stay.
 */
export async function writeStatusObject(cluster: Cluster, input: StatusObjectInput): Promise<void> {
  const name = input.name ?? "vigil-status";
  const body = {
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: {
      name,
      namespace: input.namespace,
      labels: { "app.kubernetes.io/managed-by": "vigil", ...(input.environment && { [ENVIRONMENT_LABEL]: input.environment }) },
    },
    data: Object.fromEntries(Object.entries(input.data).map(([key, value]) => [key, redactCredentials(value)])),
  };
  const answer = await cluster.call({
    verb: "apply",
    method: "PATCH",
    path: `/api/v1/namespaces/${encodeURIComponent(input.namespace)}/configmaps/${encodeURIComponent(name)}`,
    query: { fieldManager: input.fieldManager ?? "vigil", force: "true" },
    body,
    contentType: "application/apply-patch+yaml",
  });
  if (answer.status !== 200 && answer.status !== 201) throw apiFailure(answer, `writing status ConfigMap ${input.namespace}/${name}`);
}
