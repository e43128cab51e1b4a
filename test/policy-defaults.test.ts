// The API server's defaults, as policies see them (src/policy/defaults.ts): applied to a copy, never to
// the object as written (messages, the artifact gate and pinning read that one), and never making a
// malformed object look valid.
import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import { admittedObject } from "../src/policy/defaults.ts";
import { parseManifests } from "../src/manifest/manifests.ts";

const parse = (yaml: string) => parseManifests(yaml, "m.yaml")[0]!.object;

describe("defaults", () => {
  it("defaults a Deployment's pod template, its containers, ports and volumes, on a copy", () => {
    const written = parse(`apiVersion: apps/v1
kind: Deployment
metadata: { name: web }
spec:
  selector: { matchLabels: { app: web } }
  template:
    spec:
      containers: [{ name: app, image: "nginx", ports: [{ containerPort: 80 }] }, { name: pinned, image: "nginx:1.27" }]
      volumes: [{ name: scratch }, { name: config, configMap: { name: c } }]`);
    const before = JSON.stringify(written);
    const admitted = admittedObject(written) as any;
    assert.equal(JSON.stringify(written), before, "the object as written is untouched");
    assert.equal(admitted.spec.replicas, 1);
    assert.deepEqual(admitted.spec.strategy, { type: "RollingUpdate", rollingUpdate: { maxUnavailable: "25%", maxSurge: "25%" } });
    const pod = admitted.spec.template.spec;
    assert.deepEqual(
      [pod.restartPolicy, pod.dnsPolicy, pod.schedulerName, pod.terminationGracePeriodSeconds, pod.securityContext],
      ["Always", "ClusterFirst", "default-scheduler", 30, {}],
    );
    assert.deepEqual(
      pod.containers.map((c: any) => c.imagePullPolicy),
      ["Always", "IfNotPresent"],
    );
    assert.equal(pod.containers[0].ports[0].protocol, "TCP");
    assert.deepEqual(pod.volumes, [
      { name: "scratch", emptyDir: {} },
      { name: "config", configMap: { name: "c", defaultMode: 420 } },
    ]);
  });

  it("labels a Namespace with its name, overwriting a value written, and defaults Service ports to TCP", () => {
    const ns = admittedObject(
      parse("apiVersion: v1\nkind: Namespace\nmetadata: { name: shop, labels: { kubernetes.io/metadata.name: other, team: a } }"),
    );
    assert.deepEqual(ns.metadata?.labels, { "kubernetes.io/metadata.name": "shop", team: "a" });
    const svc = admittedObject(
      parse("apiVersion: v1\nkind: Service\nmetadata: { name: web }\nspec: { ports: [{ port: 80 }, { port: 53, protocol: UDP }] }"),
    ) as any;
    assert.deepEqual(
      svc.spec.ports.map((p: any) => p.protocol),
      ["TCP", "UDP"],
    );
    assert.equal(svc.spec.type, "ClusterIP");
  });

  it("leaves malformed fields as they are, and a __proto__ key as data", () => {
    const odd = admittedObject(
      parse(
        '{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": "not a list", "__proto__": {"polluted": true}}}',
      ),
    ) as any;
    assert.equal(odd.spec.containers, "not a list");
    assert.equal(({} as any).polluted, undefined);
    assert.equal(Object.getPrototypeOf(odd.spec), Object.prototype);
    assert.equal(admittedObject(parse("apiVersion: v1\nkind: Pod\nmetadata: { name: p }\nspec: 5")).spec, 5);
  });
});
