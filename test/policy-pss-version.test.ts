// Pod Security Standards v1.37 in the packs, with the version selectable per namespace as PodSecurity
// admission selects it (the pod-security.kubernetes.io/enforce-version label), and PodTemplates checked
// like every kind that embeds a pod template.
import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import { policyChecks } from "../src/policy/gate.ts";
import { parseManifests } from "../src/manifest/manifests.ts";
import { loadPack } from "../src/policy/packs.ts";
import { kubeApi, kubeForFile } from "./helpers/cluster.ts";
import { requireKube } from "./helpers/kube.ts";

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

const sysctlVerdict = (yaml: string) =>
  check(yaml)
    .filter((c) => c.rule === "pss-sysctls" && c.subject.startsWith("Pod/"))
    .map((c) => c.status);

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
    const verdict = (yaml: string) =>
      check(yaml)
        .filter((c) => c.rule === "pss-privileged")
        .map((c) => [c.subject, c.status]);
    assert.deepEqual(verdict(template(true)), [["PodTemplate/shop/batch", "fail"]]);
    assert.deepEqual(verdict(template(false)), [["PodTemplate/shop/batch", "pass"]]);
  });
});

// Every control's version history, against PodSecurity admission itself: the same pods go to a real API
// server as dry runs into namespaces enforcing restricted at one version each, and through the
// pss-restricted pack with the same namespaces; the decisions must agree at every version.
describe("the packs decide as PodSecurity admission at each version", () => {
  const kube = kubeForFile();
  const versions = ["v1.18", "v1.21", "v1.22", "v1.24", "v1.25", "v1.30", "v1.31", "v1.33", "v1.34", "v1.35", "v1.37"];
  const secure =
    "runAsNonRoot: true, allowPrivilegeEscalation: false, capabilities: { drop: [ALL] }, seccompProfile: { type: RuntimeDefault }";
  const pods: Record<string, { spec: string; annotations?: string }> = {
    restricted: { spec: `containers: [{ name: app, image: app:1, securityContext: { ${secure} } }]` },
    "no seccomp profile": {
      spec: "containers: [{ name: app, image: app:1, securityContext: { runAsNonRoot: true, allowPrivilegeEscalation: false, capabilities: { drop: [ALL] } } }]",
    },
    "capabilities not dropped": {
      spec: "containers: [{ name: app, image: app:1, securityContext: { runAsNonRoot: true, allowPrivilegeEscalation: false, seccompProfile: { type: RuntimeDefault } } }]",
    },
    "run as user 0": {
      spec: `securityContext: { runAsUser: 0 }\n  containers: [{ name: app, image: app:1, securityContext: { ${secure} } }]`,
    },
    "root in a user namespace": {
      spec: `hostUsers: false\n  securityContext: { runAsUser: 0 }\n  containers: [{ name: app, image: app:1, securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: [ALL] }, seccompProfile: { type: RuntimeDefault } } }]`,
    },
    "unmasked /proc in a user namespace": {
      spec: `hostUsers: false\n  containers: [{ name: app, image: app:1, securityContext: { ${secure}, procMount: Unmasked } }]`,
    },
    "SELinux container_engine_t": {
      spec: `containers: [{ name: app, image: app:1, securityContext: { ${secure}, seLinuxOptions: { type: container_engine_t } } }]`,
    },
    "probe with a host": {
      spec: `containers: [{ name: app, image: app:1, securityContext: { ${secure} }, livenessProbe: { tcpSocket: { port: 80, host: 10.0.0.1 } } }]`,
    },
    "Windows pod without Linux settings": {
      spec: "os: { name: windows }\n  securityContext: { runAsNonRoot: true }\n  containers: [{ name: app, image: app:1 }]",
    },
    "unconfined seccomp annotation": {
      spec: `containers: [{ name: app, image: app:1, securityContext: { runAsNonRoot: true, allowPrivilegeEscalation: false, capabilities: { drop: [ALL] } } }]`,
      annotations: "seccomp.security.alpha.kubernetes.io/pod: unconfined",
    },
  };
  const nsName = (v: string) => `pss-${v.replace(".", "-")}`;
  const namespaces = versions
    .map(
      (v) => `apiVersion: v1
kind: Namespace
metadata:
  name: ${nsName(v)}
  labels: { pod-security.kubernetes.io/enforce: restricted, pod-security.kubernetes.io/enforce-version: "${v}" }`,
    )
    .join("\n---\n");
  const podYaml = (ns: string, name: string, p: { spec: string; annotations?: string }) => `apiVersion: v1
kind: Pod
metadata: { name: ${name}, namespace: ${ns}${p.annotations ? `, annotations: { ${p.annotations} }` : ""} }
spec:
  ${p.spec}`;

  it("agrees with the API server on every pod at every version", async (t) => {
    if (!requireKube(t)) return;
    for (const ns of parseManifests(namespaces, "ns.yaml")) {
      const name = ns.object.metadata!.name!;
      assert.equal((await kubeApi(kube.cluster, "POST", "/api/v1/namespaces", ns.object)).status, 201);
      assert.equal(
        (await kubeApi(kube.cluster, "POST", `/api/v1/namespaces/${name}/serviceaccounts`, { metadata: { name: "default" } })).status,
        201,
      );
    }
    const policies = loadPack("pss-restricted");
    const disagreements: string[] = [];
    const differByVersion = new Set<string>();
    for (const [i, [label, p]] of Object.entries(pods).entries()) {
      const verdicts: boolean[] = [];
      for (const v of versions) {
        const manifest = parseManifests(podYaml(nsName(v), `pod-${i}`, p), "pod.yaml")[0]!;
        const api = await kubeApi(kube.cluster, "POST", `/api/v1/namespaces/${nsName(v)}/pods?dryRun=All`, manifest.object);
        assert.ok(api.status === 201 || api.status === 403, `${label} at ${v}: ${api.status} ${api.body?.message}`);
        const checks = policyChecks({ manifests: [...parseManifests(namespaces, "ns.yaml"), manifest], policies }).filter((c) =>
          c.subject.startsWith("Pod/"),
        );
        const vigilAllows = !checks.some((c) => c.status === "fail");
        verdicts.push(vigilAllows);
        if ((api.status === 201) !== vigilAllows) {
          disagreements.push(
            `${label} at ${v}: API server ${api.status === 201 ? "allows" : `forbids (${api.body.message})`}, Vigil ${
              vigilAllows
                ? "allows"
                : `blocks (${checks
                    .filter((c) => c.status === "fail")
                    .map((c) => c.message)
                    .join(" | ")})`
            }`,
          );
        }
      }
      if (new Set(verdicts).size > 1) differByVersion.add(label);
    }
    assert.deepEqual(disagreements, []);
    // The comparison covers version differences, not only agreement.
    assert.ok(differByVersion.size >= 7, `only ${[...differByVersion].join(", ")} changed with the version`);
  });
});
