// The server-side dry run before the first write (src/cluster/dry-run.ts), against a real API server: a
// set the server accepts passes and nothing is written; one object the server's validation refuses (a
// rule no offline schema carries) fails with the server's words, and nothing of the set is written.
import assert from "node:assert/strict";
import { test } from "node:test";
import { dryRunChecks } from "../src/cluster/dry-run.ts";
import { adminCluster, createNamespaces, kubeApi, kubeForFile, manifests } from "./helpers/cluster.ts";
import { requireKube } from "./helpers/kube.ts";

const kube = kubeForFile();
const options = (ns: string) => ({
  environment: "dry",
  inventory: { namespace: ns, name: "vigil-inventory-dry" },
  allowedNamespaces: [ns],
  fieldManager: "vigil-dry",
});

const service = (ns: string, ports: string) =>
  `apiVersion: v1\nkind: Service\nmetadata: { name: web, namespace: ${ns} }\nspec: { ports: ${ports} }`;
const configMap = (ns: string) => `apiVersion: v1\nkind: ConfigMap\nmetadata: { name: settings, namespace: ${ns} }\ndata: { mode: strict }`;

test("a set the API server accepts passes the dry run, and nothing is written", async (t) => {
  if (!requireKube(t)) return;
  await createNamespaces(kube.cluster, "dry-ok");
  const cluster = await adminCluster(kube.cluster, t);
  const checks = await dryRunChecks(
    cluster,
    manifests(`${configMap("dry-ok")}\n---\n${service("dry-ok", "[{ port: 80 }]")}`),
    options("dry-ok"),
  );
  assert.deepEqual(
    checks.map((c) => [c.gate, c.status]),
    [["dry-run", "pass"]],
  );
  assert.match(checks[0]!.message, /accepts all 2 objects in a server-side dry run/);
  assert.equal((await kubeApi(kube.cluster, "GET", "/api/v1/namespaces/dry-ok/configmaps/settings")).status, 404);
});

test("an object the server refuses fails with the server's reason, and nothing of the set is written", async (t) => {
  if (!requireKube(t)) return;
  await createNamespaces(kube.cluster, "dry-bad");
  const cluster = await adminCluster(kube.cluster, t);
  // Two ports without names: schema-valid, refused by the API server's validation.
  const set = manifests(`${configMap("dry-bad")}\n---\n${service("dry-bad", "[{ port: 80 }, { port: 443 }]")}`, "envs/dry/set.yaml");
  const checks = await dryRunChecks(cluster, set, options("dry-bad"));
  assert.deepEqual(
    checks.map((c) => [c.subject, c.status]),
    [["Service dry-bad/web", "fail"]],
  );
  assert.match(checks[0]!.message, /the API server refuses it in a server-side dry run: .*spec\.ports\[0\]\.name: Required value/);
  assert.deepEqual(checks[0]!.location, { file: "envs/dry/set.yaml", line: 6 });
  assert.equal((await kubeApi(kube.cluster, "GET", "/api/v1/namespaces/dry-bad/configmaps/settings")).status, 404);
  assert.equal((await kubeApi(kube.cluster, "GET", "/api/v1/namespaces/vigil/configmaps/vigil-inventory-dry")).status, 404);
});
