// Pod Security Standards v1.37 in the packs, with the version selectable per namespace as PodSecurity
// admission selects it (the pod-security.kubernetes.io/enforce-version label), and PodTemplates checked
// like every kind that embeds a pod template.
import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import { policyChecks } from "../src/policy/gate.ts";
import { parseManifests } from "../src/manifest/manifests.ts";
import { loadPack } from "../src/policy/packs.ts";

function check(yaml: string, pack = "pss-baseline") {
  return policyChecks({ manifests: parseManifests(yaml, "set.yaml"), policies: loadPack(pack) });
}

const namespace = (version?: string) => `apiVersion: v1
kind: Namespace
metadata:
  name: shop
${version ? `  labels: { pod-security.kubernetes.io/enforce-version: "${version}" }\n` : ""}---
`;

const podWithSysctl = (name: string) => `apiVersion: v1
kind: Pod
metadata: { name: web, namespace: shop }
spec:
  securityContext: { sysctls: [{ name: ${name}, value: "1" }] }
  containers: [{ name: app, image: registry.example.com/app:1 }]
`;

const sysctlVerdict = (yaml: string) => check(yaml).filter((c) => c.rule === "pss-sysctls" && c.subject.startsWith("Pod/")).map((c) => c.status);

describe("pss-sysctls follows the namespace's enforce-version", () => {
  it("allows v1.37's new safe sysctls at latest, when unlabelled, and at v1.37", () => {
    for (const label of [undefined, "latest", "v1.37"]) {
      assert.deepEqual(sysctlVerdict(namespace(label) + podWithSysctl("net.ipv4.tcp_slow_start_after_idle")), ["pass"], String(label));
      assert.deepEqual(sysctlVerdict(namespace(label) + podWithSysctl("net.ipv4.tcp_notsent_lowat")), ["pass"], String(label));
    }
  });

  it("refuses them where the namespace enforces an earlier version, and each earlier addition before its version", () => {
    assert.deepEqual(sysctlVerdict(namespace("v1.36") + podWithSysctl("net.ipv4.tcp_notsent_lowat")), ["fail"]);
    assert.deepEqual(sysctlVerdict(namespace("v1.31") + podWithSysctl("net.ipv4.tcp_rmem")), ["fail"]);
    assert.deepEqual(sysctlVerdict(namespace("v1.32") + podWithSysctl("net.ipv4.tcp_rmem")), ["pass"]);
    assert.deepEqual(sysctlVerdict(namespace("v1.28") + podWithSysctl("net.ipv4.tcp_fin_timeout")), ["fail"]);
    assert.deepEqual(sysctlVerdict(namespace("v1.26") + podWithSysctl("net.ipv4.ip_local_reserved_ports")), ["fail"]);
    assert.deepEqual(sysctlVerdict(namespace("v1.26") + podWithSysctl("kernel.shm_rmid_forced")), ["pass"]);
  });

  it("never allows an unsafe sysctl, whatever the version", () => {
    for (const label of [undefined, "v1.20", "v1.37", "latest"]) {
      assert.deepEqual(sysctlVerdict(namespace(label) + podWithSysctl("kernel.msgmax")), ["fail"], String(label));
    }
  });
});

describe("PodTemplates are checked as pods", () => {
  it("fails a privileged PodTemplate and passes a harmless one", () => {
    const template = (privileged: boolean) => `apiVersion: v1
kind: PodTemplate
metadata: { name: batch, namespace: shop }
template:
  metadata: { labels: { app: batch } }
  spec:
    containers: [{ name: app, image: registry.example.com/app:1, securityContext: { privileged: ${privileged} } }]
`;
    const verdict = (yaml: string) => check(yaml).filter((c) => c.rule === "pss-privileged").map((c) => [c.subject, c.status]);
    assert.deepEqual(verdict(template(true)), [["PodTemplate/shop/batch", "fail"]]);
    assert.deepEqual(verdict(template(false)), [["PodTemplate/shop/batch", "pass"]]);
  });
});
