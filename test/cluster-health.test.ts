// Health of applied objects from the status a controller would write (no kubelet or controllers run
// here, so the tests write the status subresources themselves), and the agent's Events and status object.
import assert from "node:assert/strict";
import { test } from "node:test";
import { assessHealth, recordEvent, syncSet, writeStatusObject } from "../src/cluster/index.ts";
import { adminCluster, createNamespaces, kubeApi, kubeForFile, manifests } from "./helpers/cluster.ts";
import { requireKube } from "./helpers/kube.ts";

const kube = kubeForFile();

const template = `
    metadata: { labels: { app: x } }
    spec: { containers: [{ name: app, image: "registry.example/app@sha256:${"a".repeat(64)}" }] }`;

const set = `
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: { name: gizmos.example.com }
spec:
  group: example.com
  scope: Namespaced
  names: { plural: gizmos, singular: gizmo, kind: Gizmo }
  versions:
    - name: v1
      served: true
      storage: true
      subresources: { status: {} }
      schema: { openAPIV3Schema: { type: object, x-kubernetes-preserve-unknown-fields: true } }
---
apiVersion: apps/v1
kind: Deployment
metadata: { name: web, namespace: health }
spec:
  replicas: 2
  selector: { matchLabels: { app: x } }
  template:${template}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: { name: db, namespace: health }
spec:
  replicas: 1
  serviceName: db
  selector: { matchLabels: { app: x } }
  template:${template}
---
apiVersion: apps/v1
kind: DaemonSet
metadata: { name: agent, namespace: health }
spec:
  selector: { matchLabels: { app: x } }
  template:${template}
---
apiVersion: batch/v1
kind: Job
metadata: { name: migrate, namespace: health }
spec:
  template:
    metadata: { labels: { app: x } }
    spec: { restartPolicy: Never, containers: [{ name: app, image: "registry.example/app@sha256:${"a".repeat(64)}" }] }
---
apiVersion: example.com/v1
kind: Gizmo
metadata: { name: g, namespace: health }
spec: { size: 1 }
---
apiVersion: v1
kind: ConfigMap
metadata: { name: settings, namespace: health }
data: { a: "1" }
`;

async function setStatus(path: string, status: unknown): Promise<void> {
  const answer = await kubeApi(kube.cluster, "PATCH", `${path}/status`, { status }, { contentType: "application/merge-patch+json" });
  assert.equal(answer.status, 200, `${path}: ${JSON.stringify(answer.body)}`);
}

test("health: rollouts not yet observed are progressing; complete rollouts, a complete Job and a Ready resource are healthy; failures are degraded", async (t) => {
  if (!requireKube(t)) return;
  await createNamespaces(kube.cluster, "vigil-system", "health");
  const cluster = await adminCluster(kube.cluster, t);
  const objects = manifests(set, "envs/health/set.yaml");
  const applied = await syncSet(cluster, objects, {
    environment: "health",
    inventory: { namespace: "vigil-system", name: "inventory-health" },
    allowedNamespaces: ["health"],
    allowClusterScoped: true,
  });
  assert.equal(applied.complete, true, JSON.stringify(applied.objects));

  const states = async () => {
    const report = await assessHealth(cluster, objects, { environment: "health" });
    return { state: report.state, each: Object.fromEntries(report.resources.map((r) => [r.object.kind, `${r.state}: ${r.message}`])) };
  };
  assert.deepEqual(await states(), {
    state: "progressing",
    each: {
      CustomResourceDefinition: "healthy: exists",
      Deployment: "progressing: waiting for the rollout to be observed",
      StatefulSet: "progressing: waiting for the rollout to be observed",
      DaemonSet: "progressing: waiting for the rollout to be observed",
      Job: "progressing: 0 succeeded, 0 active",
      Gizmo: "healthy: exists",
      ConfigMap: "healthy: exists",
    },
  });

  // A rollout halfway, as the controllers would report it.
  await setStatus("/apis/apps/v1/namespaces/health/deployments/web", {
    observedGeneration: 1,
    replicas: 3,
    updatedReplicas: 2,
    readyReplicas: 2,
    availableReplicas: 1,
  });
  await setStatus("/apis/apps/v1/namespaces/health/statefulsets/db", {
    observedGeneration: 1,
    replicas: 1,
    readyReplicas: 0,
    availableReplicas: 0,
  });
  await setStatus("/apis/apps/v1/namespaces/health/daemonsets/agent", {
    observedGeneration: 1,
    currentNumberScheduled: 2,
    desiredNumberScheduled: 2,
    numberMisscheduled: 0,
    numberReady: 1,
    updatedNumberScheduled: 1,
    numberAvailable: 1,
  });
  await setStatus("/apis/example.com/v1/namespaces/health/gizmos/g", {
    conditions: [{ type: "Ready", status: "Unknown", reason: "Provisioning" }],
  });
  assert.deepEqual((await states()).each, {
    CustomResourceDefinition: "healthy: exists",
    Deployment: "progressing: 1 old replicas pending termination",
    StatefulSet: "progressing: 0 of 1 replicas ready",
    DaemonSet: "progressing: 1 of 2 scheduled pods updated",
    Job: "progressing: 0 succeeded, 0 active",
    Gizmo: "progressing: readiness unknown: Provisioning",
    ConfigMap: "healthy: exists",
  });

  // Rollouts complete, the Job done, the Gizmo ready.
  const now = new Date().toISOString().replace(/\.\d+Z$/, "Z");
  await setStatus("/apis/apps/v1/namespaces/health/deployments/web", {
    observedGeneration: 1,
    replicas: 2,
    updatedReplicas: 2,
    readyReplicas: 2,
    availableReplicas: 2,
  });
  await setStatus("/apis/apps/v1/namespaces/health/statefulsets/db", {
    observedGeneration: 1,
    replicas: 1,
    readyReplicas: 1,
    availableReplicas: 1,
    updatedReplicas: 1,
    currentRevision: "db-1",
    updateRevision: "db-1",
  });
  await setStatus("/apis/apps/v1/namespaces/health/daemonsets/agent", {
    observedGeneration: 1,
    currentNumberScheduled: 2,
    desiredNumberScheduled: 2,
    numberMisscheduled: 0,
    numberReady: 2,
    updatedNumberScheduled: 2,
    numberAvailable: 2,
  });
  await setStatus("/apis/batch/v1/namespaces/health/jobs/migrate", {
    startTime: now,
    completionTime: now,
    succeeded: 1,
    active: 0,
    ready: 0,
    terminating: 0,
    conditions: [
      { type: "SuccessCriteriaMet", status: "True", lastTransitionTime: now },
      { type: "Complete", status: "True", lastTransitionTime: now },
    ],
  });
  await setStatus("/apis/example.com/v1/namespaces/health/gizmos/g", {
    conditions: [{ type: "Ready", status: "True", reason: "Provisioned" }],
  });
  assert.deepEqual(await states(), {
    state: "healthy",
    each: {
      CustomResourceDefinition: "healthy: exists",
      Deployment: "healthy: 2 of 2 replicas updated and available",
      StatefulSet: "healthy: 1 of 1 replicas ready",
      DaemonSet: "healthy: 2 of 2 pods updated and available",
      Job: "healthy: complete",
      Gizmo: "healthy: Provisioned",
      ConfigMap: "healthy: exists",
    },
  });

  // A rollout past its deadline, and a Gizmo its controller says is broken.
  await setStatus("/apis/apps/v1/namespaces/health/deployments/web", {
    conditions: [
      {
        type: "Progressing",
        status: "False",
        reason: "ProgressDeadlineExceeded",
        message: 'ReplicaSet "web-1" has timed out progressing.',
      },
    ],
  });
  await setStatus("/apis/example.com/v1/namespaces/health/gizmos/g", {
    conditions: [{ type: "Ready", status: "False", reason: "QuotaExceeded", message: "no capacity left" }],
  });
  const broken = await states();
  assert.equal(broken.state, "degraded");
  assert.equal(broken.each.Deployment, 'degraded: rollout exceeded its progress deadline: ReplicaSet "web-1" has timed out progressing.');
  assert.equal(broken.each.Gizmo, "degraded: not ready: QuotaExceeded: no capacity left");

  // Reading one object at a time (no environment label to list by), and an object that does not exist.
  const missing = manifests(
    "apiVersion: v1\nkind: ConfigMap\nmetadata: { name: never-applied, namespace: health }\n",
    "envs/health/extra.yaml",
  );
  const direct = await assessHealth(cluster, [...objects.filter((o) => o.object.kind === "ConfigMap"), ...missing]);
  assert.equal(direct.state, "degraded");
  assert.deepEqual(
    direct.resources.map((r) => [r.object.name, r.state, r.message, `${r.object.file}:${r.object.line}`]),
    [
      ["settings", "healthy", "exists", "envs/health/set.yaml:59"],
      ["never-applied", "degraded", "does not exist", "envs/health/extra.yaml:1"],
    ],
  );
});

test("the agent's Events and status object", async (t) => {
  if (!requireKube(t)) return;
  await createNamespaces(kube.cluster, "agent-ns");
  const cluster = await adminCluster(kube.cluster, t);
  const name = await recordEvent(cluster, {
    namespace: "agent-ns",
    involvedObject: { apiVersion: "v1", kind: "ConfigMap", name: "vigil-status", namespace: "agent-ns" },
    reason: "GateFailed",
    message: "policy gate: 2 checks failed at abc1234",
    type: "Warning",
  });
  const event = await kubeApi(kube.cluster, "GET", `/api/v1/namespaces/agent-ns/events/${name}`);
  assert.equal(event.status, 200);
  assert.equal(event.body.reason, "GateFailed");
  assert.equal(event.body.type, "Warning");
  assert.equal(event.body.involvedObject.name, "vigil-status");
  assert.equal(event.body.source.component, "vigil");

  await writeStatusObject(cluster, {
    namespace: "agent-ns",
    data: { "prod.verdict": "pass", "prod.health": "progressing" },
    environment: "prod",
  });
  await writeStatusObject(cluster, { namespace: "agent-ns", data: { "prod.verdict": "pass", "prod.health": "healthy" } });
  const status = await kubeApi(kube.cluster, "GET", "/api/v1/namespaces/agent-ns/configmaps/vigil-status");
  assert.deepEqual(status.body.data, { "prod.verdict": "pass", "prod.health": "healthy" });
});
