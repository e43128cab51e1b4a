// The policy gate on several threads gives exactly the single-threaded checks, in the same order,
// with every lookup across the set (namespaces, vigil.objects) still seeing the whole set.
import { strict as assert } from "node:assert";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { checkSources } from "../src/policy/parallel.ts";
import { tempDir } from "./helpers/tools.ts";

const namespace = (i: number) => `apiVersion: v1
kind: Namespace
metadata: { name: team-${i}, labels: { vigil.dev/environment: ${i % 2 ? "production" : "staging"} } }`;
const denyIngress = (i: number) => `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: { name: default-deny, namespace: team-${i} }
spec: { podSelector: {}, policyTypes: [Ingress] }`;
const deployment = (i: number) => `apiVersion: apps/v1
kind: Deployment
metadata: { name: app-${i}, namespace: team-${i % 7} }
spec:
  selector: { matchLabels: { app: app-${i} } }
  template:
    metadata: { labels: { app: app-${i} } }
    spec:
      ${i % 3 ? "securityContext: { runAsNonRoot: true, seccompProfile: { type: RuntimeDefault } }" : "hostNetwork: true"}
      containers:
        - name: app
          image: registry.example.com/app@sha256:${"ab".repeat(32)}
          securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: [ALL] }, privileged: ${i % 5 === 0} }`;
const execRole = (i: number) => `apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: { name: debug-${i}, namespace: team-${i % 7} }
rules: [{ apiGroups: [""], resources: [pods/exec], verbs: [create] }]`;

describe("policy gate on several threads", () => {
  it("gives the same checks in the same order as one thread", async (t) => {
    const dir = tempDir(t);
    // Namespaces and NetworkPolicies at the end: the first shares must still see them.
    const docs = [
      ...Array.from({ length: 120 }, (_, i) => deployment(i)),
      ...Array.from({ length: 30 }, (_, i) => execRole(i)),
      ...Array.from({ length: 7 }, (_, i) => namespace(i)),
      ...[0, 2, 4].map(denyIngress),
    ];
    writeFileSync(join(dir, "a.yaml"), docs.slice(0, 80).join("\n---\n"));
    writeFileSync(join(dir, "b.yaml"), docs.slice(80).join("\n---\n"));
    const sources = { packs: ["pss-restricted", "network-isolation", "rbac-least-privilege"], policyPaths: [], manifestPaths: [dir] };

    const single = await checkSources(sources, { threads: 1 });
    const threaded = await checkSources(sources, { threads: 3, minShareBytes: 1000 });
    assert.deepEqual(threaded, single);
    const statuses = new Set(single.map((c) => `${c.rule} ${c.status}`));
    for (const expected of [
      "pss-host-namespaces fail",
      "pss-privileged fail",
      "network-workload-selected fail",
      "network-workload-selected pass",
      "rbac-no-exec-in-production fail",
    ]) {
      assert.ok(statuses.has(expected), `${expected} in ${[...statuses].join(", ")}`);
    }
  });
});
