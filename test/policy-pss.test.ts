// The Pod Security Standards packs (pss-baseline, pss-restricted): agreement with the labelled corpus
// in shared/data/pss, hand-written cases for what the corpus leaves out, and the pack-include mechanism.
import { strict as assert } from "node:assert";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import type { Check } from "../src/core/verdict.ts";
import { policyChecks } from "../src/policy/gate.ts";
import { parseManifestFile, parseManifests, type SourcedObject } from "../src/manifest/manifests.ts";
import { loadPack, loadPacks } from "../src/policy/packs.ts";
import { requireSharedData, tempDir, vigil } from "./helpers/tools.ts";

const BASELINE = [
  "pss-host-process",
  "pss-host-namespaces",
  "pss-privileged",
  "pss-capabilities-baseline",
  "pss-host-path",
  "pss-host-ports",
  "pss-apparmor",
  "pss-selinux",
  "pss-proc-mount",
  "pss-seccomp-baseline",
  "pss-sysctls",
  "pss-host-probes",
];
const RESTRICTED_ONLY = [
  "pss-volume-types",
  "pss-privilege-escalation",
  "pss-run-as-non-root",
  "pss-run-as-user",
  "pss-seccomp-restricted",
  "pss-capabilities-restricted",
  "pss-proc-mount-restricted",
];

const policyNames = (objects: SourcedObject[]) =>
  objects.filter((so) => so.object.kind === "ValidatingAdmissionPolicy").map((so) => so.object.metadata?.name ?? "");

// ---------------------------------------------------------------------------------------------------
// Packs that include packs

describe("pss packs: structure and includes", () => {
  it("pss-restricted is the whole restricted level: its own policies and every baseline policy, once", () => {
    assert.deepEqual(policyNames(loadPack("pss-baseline")).sort(), [...BASELINE].sort());
    assert.deepEqual(policyNames(loadPack("pss-restricted")).sort(), [...BASELINE, ...RESTRICTED_ONLY].sort());
    for (const names of [
      ["pss-baseline", "pss-restricted"],
      ["pss-restricted", "pss-baseline"],
      ["pss-restricted", "pss-restricted"],
    ]) {
      assert.deepEqual(policyNames(loadPacks(names)).sort(), [...BASELINE, ...RESTRICTED_ONLY].sort(), names.join(" + "));
    }
  });

  it("vigil policy check --pack pss-baseline --pack pss-restricted loads each policy once and enforces both levels", (t) => {
    const dir = tempDir(t);
    const file = join(dir, "pod.yaml");
    writeFileSync(file, JSON.stringify(pod("web", { containers: [{ name: "app", image: "registry.example.com/app:1.0" }] })));
    const out = vigil(["policy", "check", "--json", "--pack", "pss-baseline", "--pack", "pss-restricted", file]);
    assert.equal(out.status, 1, out.stderr);
    const checks = out.json().checks as Check[];
    assert.deepEqual([...new Set(checks.map((c) => c.rule))].sort(), [...BASELINE, ...RESTRICTED_ONLY].sort());
    assert.equal(checks.length, BASELINE.length + RESTRICTED_ONLY.length);
    assert.deepEqual(
      checks
        .filter((c) => c.status === "fail")
        .map((c) => c.rule)
        .sort(),
      ["pss-capabilities-restricted", "pss-privilege-escalation", "pss-run-as-non-root", "pss-seccomp-restricted"],
    );
  });

  it("every file is one policy over Pods and every pod-template kind, and its Deny binding", () => {
    const byFile = Map.groupBy(loadPack("pss-restricted"), (so) => so.file);
    assert.equal(byFile.size, BASELINE.length + RESTRICTED_ONLY.length);
    for (const [file, objects] of byFile) {
      const [policy, binding] = objects.map((o) => o.object as Record<string, any>);
      assert.deepEqual(
        objects.map((o) => o.object.kind),
        ["ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"],
        file,
      );
      assert.equal(binding!.spec.policyName, policy!.metadata.name, file);
      assert.deepEqual(binding!.spec.validationActions, ["Deny"], file);
      assert.deepEqual(
        policy!.spec.matchConstraints.resourceRules.flatMap((r: any) => r.resources).sort(),
        [
          "cronjobs",
          "daemonsets",
          "deployments",
          "jobs",
          "pods",
          "pods/ephemeralcontainers",
          "podtemplates",
          "replicasets",
          "replicationcontrollers",
          "statefulsets",
        ],
        file,
      );
    }
  });
});

// ---------------------------------------------------------------------------------------------------
// The corpus (shared/data/pss, see its README.md)

const CORPUS = fileURLToPath(new URL("../../shared/data/pss/", import.meta.url));

interface CorpusCase {
  name: string;
  file: string;
  level: "baseline" | "restricted";
  control_scope: "single-control" | "whole-level";
  pss_control: string;
  expect: "pass" | "fail";
}

/** The corpus's name for a single control → the policy that implements it. */
const POLICY_OF_CONTROL: Record<string, string> = {
  HostProcess: "pss-host-process",
  "Host Namespaces": "pss-host-namespaces",
  "Privileged Containers": "pss-privileged",
  "Capabilities (baseline)": "pss-capabilities-baseline",
  "HostPath Volumes": "pss-host-path",
  "Host Ports": "pss-host-ports",
  "Host Ports (Kyverno alternate: allowed range 5000-6000)": "pss-host-ports",
  AppArmor: "pss-apparmor",
  SELinux: "pss-selinux",
  "/proc Mount Type": "pss-proc-mount",
  "Seccomp (baseline)": "pss-seccomp-baseline",
  Sysctls: "pss-sysctls",
  "Volume Types": "pss-volume-types",
  "Privilege Escalation": "pss-privilege-escalation",
  "Running as Non-root": "pss-run-as-non-root",
  "Running as Non-root user": "pss-run-as-user",
  "Seccomp (restricted)": "pss-seccomp-restricted",
  "Capabilities (restricted)": "pss-capabilities-restricted",
};

/**
 * The corpus cases whose label disagrees with the Pod Security Standards (Kubernetes documentation,
 * checked against k8s.io/pod-security-admission v0.36): the packs follow the standard.
 */
const DISAGREEMENTS: { reason: string; cases: string[] }[] = [
  {
    reason:
      "Kyverno's non-standard Host Ports variant allows hostPort 5000-6000; the standard allows only an unset or 0 hostPort " +
      "(unless a cluster configures a known list, which Vigil does not)",
    cases: [
      ...[
        "CronJob/goodcronjob01-new",
        "CronJob/goodcronjob05",
        "CronJob/goodcronjob06",
        "CronJob/goodcronjob08",
        "CronJob/goodcronjob09",
        "CronJob/goodcronjob10",
        "Deployment/gooddeployment01-new",
        "Deployment/gooddeployment05",
        "Deployment/gooddeployment06",
        "Deployment/gooddeployment08",
        "Deployment/gooddeployment09",
        "Deployment/gooddeployment10",
        "Pod/goodpod02-new",
        "Pod/goodpod04-new",
        "Pod/goodpod05",
        "Pod/goodpod06",
        "Pod/goodpod08",
        "Pod/goodpod09",
        "Pod/goodpod10",
      ].map((c) => `baseline/disallow-host-ports-range/chainsaw/${c}`),
      ...[
        "CronJob/goodcronjob05",
        "CronJob/goodcronjob06",
        "CronJob/goodcronjob08",
        "CronJob/goodcronjob09",
        "CronJob/goodcronjob10",
        "Deployment/gooddeployment05",
        "Deployment/gooddeployment06",
        "Deployment/gooddeployment08",
        "Deployment/gooddeployment09",
        "Deployment/gooddeployment10",
        "Pod/goodpod05",
        "Pod/goodpod06",
        "Pod/goodpod08",
        "Pod/goodpod09",
        "Pod/goodpod10",
      ].map((c) => `baseline/disallow-host-ports-range/kyverno-test/${c}`),
    ],
  },
  {
    reason:
      "the pod has its own user namespace (hostUsers: false): since v1.35 the baseline /proc Mount Type control allows any " +
      "procMount there (the restricted level does not)",
    cases: ["Pod/badpod01", "Pod/badpod02", "Pod/badpod03", "Pod/badpod04", "Pod/badpod05"].map(
      (c) => `baseline/disallow-proc-mount/chainsaw/${c}`,
    ),
  },
  {
    reason: "the SELinux type container_engine_t is allowed by the standard since v1.31; Kyverno's policy does not allow it",
    cases: ["CronJob/badcronjob01-new", "Deployment/baddeployment01-new", "Pod/badpod01-new", "Pod/badpod03-new", "Pod/badpod04-new"].map(
      (c) => `baseline/disallow-selinux/chainsaw/${c}`,
    ),
  },
];

describe("pss packs: the Pod Security Standards corpus", () => {
  it("agrees with every labelled case, except the listed disagreements with the standard", (t) => {
    if (!requireSharedData(t, join(CORPUS, "cases.json"))) return;
    const cases = JSON.parse(readFileSync(join(CORPUS, "cases.json"), "utf8")) as CorpusCase[];
    const disagreeing: string[] = [];
    const agreed = { baseline: 0, restricted: 0 };
    const total = { baseline: 0, restricted: 0 };
    for (const level of ["baseline", "restricted"] as const) {
      // One run per level (compiling the policies once); each case is one file, so its checks are found by file.
      const levelCases = cases.filter((c) => c.level === level);
      const files = levelCases.map((c) => join(CORPUS, c.file));
      const checks = Map.groupBy(
        policyChecks({ policies: loadPack(`pss-${level}`), manifests: files.flatMap(parseManifestFile) }),
        (k) => k.location?.file,
      );
      levelCases.forEach((c, i) => {
        let judged = checks.get(files[i]) ?? [];
        if (c.control_scope === "single-control") {
          const policy = POLICY_OF_CONTROL[c.pss_control];
          assert.ok(policy, `${c.name}: no policy for the control "${c.pss_control}"`);
          judged = judged.filter((k) => k.rule === policy);
        }
        assert.ok(judged.length > 0, `${c.name}: no check was made`);
        const verdict = judged.some((k) => k.status === "fail") ? "fail" : "pass";
        total[level]++;
        if (verdict === c.expect) agreed[level]++;
        else disagreeing.push(c.name);
      });
    }
    t.diagnostic(`baseline ${agreed.baseline}/${total.baseline}, restricted ${agreed.restricted}/${total.restricted}`);
    assert.deepEqual(disagreeing.sort(), DISAGREEMENTS.flatMap((d) => d.cases).sort());
    assert.equal(total.baseline + total.restricted, cases.length);
  });
});

// ---------------------------------------------------------------------------------------------------
// Hand-written cases

type Kind = "Pod" | "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet" | "ReplicationController" | "Job" | "CronJob";
type Json = Record<string, unknown>;

/** A container that meets the restricted level, with `securityContext` fields replaced or added. */
function container(name: string, securityContext: Json = {}, more: Json = {}): Json {
  return {
    name,
    image: "registry.example.com/app:1.0",
    securityContext: {
      allowPrivilegeEscalation: false,
      runAsNonRoot: true,
      seccompProfile: { type: "RuntimeDefault" },
      capabilities: { drop: ["ALL"] },
      ...securityContext,
    },
    ...more,
  };
}

/** A resource of `kind` whose pod (or pod template) has `spec` and, optionally, annotations. */
function workload(kind: Kind, name: string, spec: Json, annotations?: Record<string, string>): Json {
  const podMetadata = { labels: { app: name }, ...(annotations ? { annotations } : {}) };
  const metadata = { name, namespace: "shop" };
  const template = { metadata: podMetadata, spec };
  const selector = { matchLabels: { app: name } };
  switch (kind) {
    case "Pod":
      return { apiVersion: "v1", kind, metadata: { ...metadata, ...podMetadata }, spec };
    case "ReplicationController":
      return { apiVersion: "v1", kind, metadata, spec: { selector: { app: name }, template } };
    case "Job":
      return { apiVersion: "batch/v1", kind, metadata, spec: { template } };
    case "CronJob":
      return { apiVersion: "batch/v1", kind, metadata, spec: { schedule: "0 3 * * *", jobTemplate: { spec: { template } } } };
    default:
      return { apiVersion: "apps/v1", kind, metadata, spec: { selector, template } };
  }
}
const pod = (name: string, spec: Json, annotations?: Record<string, string>) => workload("Pod", name, spec, annotations);

function run(pack: string, objects: Json[]): Check[] {
  return policyChecks({
    policies: loadPack(pack),
    manifests: parseManifests(objects.map((o) => JSON.stringify(o)).join("\n---\n"), "manifests.yaml"),
  });
}

const subject = (o: Json) => `${o.kind}/shop/${(o.metadata as Json).name}`;

function checkOf(checks: Check[], rule: string, o: Json): Check {
  const found = checks.filter((c) => c.rule === rule && c.subject === subject(o));
  assert.equal(found.length, 1, `expected one ${rule} check for ${subject(o)}, got:\n${JSON.stringify(checks, null, 2)}`);
  return found[0]!;
}

function assertFails(checks: Check[], rule: string, o: Json, ...messages: RegExp[]): void {
  const c = checkOf(checks, rule, o);
  assert.equal(c.status, "fail", `${rule} on ${subject(o)}: ${c.message}`);
  for (const m of messages) assert.match(c.message, m);
}

function assertPasses(checks: Check[], rule: string, o: Json): void {
  const c = checkOf(checks, rule, o);
  assert.equal(c.status, "pass", `${rule} on ${subject(o)}: ${c.message}`);
}

const KINDS: Kind[] = ["Pod", "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "ReplicationController", "Job", "CronJob"];

describe("pss-baseline", () => {
  const pack = "pss-baseline";

  it("finds the pod spec of every pod-template kind", () => {
    const bad = KINDS.map((kind) => workload(kind, `bad-${kind.toLowerCase()}`, { containers: [container("app", { privileged: true })] }));
    const good = KINDS.map((kind) => workload(kind, `good-${kind.toLowerCase()}`, { containers: [container("app")] }));
    const checks = run(pack, [...bad, ...good]);
    for (const o of bad) assertFails(checks, "pss-privileged", o, /^container app securityContext\.privileged is true: .*set it to false/);
    for (const o of good) for (const rule of BASELINE) assertPasses(checks, rule, o);
  });

  it("pss-host-process: pod and container windowsOptions.hostProcess, ephemeral containers included", () => {
    const hostProcess = { windowsOptions: { hostProcess: true } };
    const podLevel = workload("Job", "pod-level", {
      os: { name: "windows" },
      securityContext: hostProcess,
      containers: [container("app")],
    });
    const ephemeral = pod("ephemeral", { containers: [container("app")], ephemeralContainers: [container("debug", hostProcess)] });
    const off = pod("off", { containers: [container("app", { windowsOptions: { hostProcess: false } })] });
    const checks = run(pack, [podLevel, ephemeral, off]);
    assertFails(checks, "pss-host-process", podLevel, /^pod securityContext\.windowsOptions\.hostProcess is true/);
    assertFails(checks, "pss-host-process", ephemeral, /^container debug securityContext\.windowsOptions\.hostProcess is true/);
    assertPasses(checks, "pss-host-process", off);
  });

  it("pss-host-namespaces: hostNetwork, hostPID, hostIPC", () => {
    const shared = workload("DaemonSet", "agent", { hostNetwork: true, hostPID: true, hostIPC: false, containers: [container("app")] });
    const isolated = pod("isolated", { hostNetwork: false, containers: [container("app")] });
    const checks = run(pack, [shared, isolated]);
    assertFails(checks, "pss-host-namespaces", shared, /^pod spec sets hostNetwork: true, hostPID: true: /);
    assertPasses(checks, "pss-host-namespaces", isolated);
  });

  it("pss-privileged: init and ephemeral containers", () => {
    const init = workload("StatefulSet", "db", {
      initContainers: [container("setup", { privileged: true })],
      containers: [container("db")],
    });
    const ephemeral = pod("debugged", { containers: [container("app")], ephemeralContainers: [container("debug", { privileged: true })] });
    const checks = run(pack, [init, ephemeral]);
    assertFails(checks, "pss-privileged", init, /container setup/);
    assertFails(checks, "pss-privileged", ephemeral, /container debug/);
  });

  it("pss-capabilities-baseline: only the default set, names compared exactly", () => {
    const defaults = pod("defaults", {
      containers: [container("app", { capabilities: { add: ["NET_BIND_SERVICE", "CHOWN", "SYS_CHROOT"] } })],
    });
    const extra = pod("extra", {
      containers: [container("app")],
      ephemeralContainers: [container("debug", { capabilities: { add: ["CHOWN", "SYS_ADMIN", "CAP_KILL"] } })],
    });
    const checks = run(pack, [defaults, extra]);
    assertPasses(checks, "pss-capabilities-baseline", defaults);
    assertFails(
      checks,
      "pss-capabilities-baseline",
      extra,
      /^container debug securityContext\.capabilities\.add has SYS_ADMIN, CAP_KILL: add no capability beyond the default set \(AUDIT_WRITE, /,
    );
  });

  it("pss-host-path: hostPath volumes", () => {
    const hostPath = workload("ReplicaSet", "logs", {
      containers: [container("app")],
      volumes: [
        { name: "cache", emptyDir: {} },
        { name: "varlog", hostPath: { path: "/var/log" } },
      ],
    });
    const emptyDir = pod("scratch", { containers: [container("app")], volumes: [{ name: "cache", emptyDir: {} }] });
    const checks = run(pack, [hostPath, emptyDir]);
    assertFails(checks, "pss-host-path", hostPath, /^volume varlog is a hostPath volume: /);
    assertPasses(checks, "pss-host-path", emptyDir);
  });

  it("pss-host-ports: any hostPort other than 0, in any range", () => {
    const bound = workload("ReplicationController", "web", {
      containers: [
        container(
          "app",
          {},
          {
            ports: [
              { containerPort: 80, hostPort: 5555 },
              { containerPort: 81, hostPort: 0 },
            ],
          },
        ),
      ],
    });
    const unbound = pod("web", {
      containers: [container("app", {}, { ports: [{ containerPort: 80 }, { containerPort: 81, hostPort: 0 }] })],
    });
    const checks = run(pack, [bound, unbound]);
    assertFails(checks, "pss-host-ports", bound, /^container app sets hostPort 5555: .*expose the port with a Service/);
    assertPasses(checks, "pss-host-ports", unbound);
  });

  it("pss-apparmor: pod and container appArmorProfile, and the pod template's annotations", () => {
    const prefix = "container.apparmor.security.beta.kubernetes.io/";
    const allowed = pod(
      "allowed",
      {
        securityContext: { appArmorProfile: { type: "RuntimeDefault" } },
        containers: [container("app", { appArmorProfile: { type: "Localhost", localhostProfile: "k8s-app" } })],
      },
      { [`${prefix}app`]: "localhost/k8s-app", [`${prefix}other`]: "runtime/default" },
    );
    const podField = pod("pod-field", { securityContext: { appArmorProfile: { type: "Unconfined" } }, containers: [container("app")] });
    const ephemeral = pod("ephemeral", {
      containers: [container("app")],
      ephemeralContainers: [container("debug", { appArmorProfile: { type: "Unconfined" } })],
    });
    const annotated = workload("Deployment", "annotated", { containers: [container("app")] }, { [`${prefix}app`]: "unconfined" });
    // The workload's own annotations are not the pod's.
    const ownAnnotation = {
      ...workload("Deployment", "own-annotation", { containers: [container("app")] }),
      metadata: { name: "own-annotation", namespace: "shop", annotations: { [`${prefix}app`]: "unconfined" } },
    };
    const checks = run(pack, [allowed, podField, ephemeral, annotated, ownAnnotation]);
    assertPasses(checks, "pss-apparmor", allowed);
    assertFails(checks, "pss-apparmor", podField, /^pod securityContext\.appArmorProfile\.type is Unconfined: /);
    assertFails(checks, "pss-apparmor", ephemeral, /^container debug securityContext\.appArmorProfile\.type is Unconfined/);
    assertFails(checks, "pss-apparmor", annotated, /^annotation container\.apparmor\.security\.beta\.kubernetes\.io\/app is unconfined: /);
    assertPasses(checks, "pss-apparmor", ownAnnotation);
  });

  it("pss-selinux: container types (container_engine_t included), never a user or role", () => {
    const types = pod("types", {
      securityContext: { seLinuxOptions: { type: "container_t", level: "s0:c123,c456" } },
      containers: [container("app", { seLinuxOptions: { type: "container_engine_t" } })],
      initContainers: [container("init", { seLinuxOptions: { type: "" } })],
    });
    const custom = workload("Job", "custom", {
      securityContext: { seLinuxOptions: { role: "sysadm_r" } },
      containers: [container("app", { seLinuxOptions: { type: "spc_t", user: "sysadm_u" } })],
    });
    const checks = run(pack, [types, custom]);
    assertPasses(checks, "pss-selinux", types);
    assertFails(
      checks,
      "pss-selinux",
      custom,
      /^pod securityContext\.seLinuxOptions sets role sysadm_r; container app securityContext\.seLinuxOptions sets type spc_t, user sysadm_u: /,
    );
  });

  it("pss-proc-mount: Unmasked fails, except in a pod with its own user namespace", () => {
    const unmasked = { containers: [container("app", { procMount: "Unmasked" })] };
    const hostUsers = pod("host-users", unmasked);
    const userNamespace = pod("user-namespace", { hostUsers: false, ...unmasked });
    const fine = pod("default", { containers: [container("app", { procMount: "Default" })] });
    const checks = run(pack, [hostUsers, userNamespace, fine]);
    assertFails(checks, "pss-proc-mount", hostUsers, /^container app securityContext\.procMount is Unmasked: /);
    assertPasses(checks, "pss-proc-mount", userNamespace);
    assertPasses(checks, "pss-proc-mount", fine);
  });

  it("pss-seccomp-baseline: unset, RuntimeDefault and Localhost pass; Unconfined fails anywhere", () => {
    const unset = pod("unset", { containers: [{ name: "app", image: "registry.example.com/app:1.0" }] });
    const localhost = pod("localhost", {
      containers: [container("app", { seccompProfile: { type: "Localhost", localhostProfile: "p.json" } })],
    });
    const ephemeral = pod("ephemeral", {
      containers: [container("app")],
      ephemeralContainers: [container("debug", { seccompProfile: { type: "Unconfined" } })],
    });
    const podLevel = workload("CronJob", "pod-level", {
      securityContext: { seccompProfile: { type: "Unconfined" } },
      containers: [container("app")],
    });
    const checks = run(pack, [unset, localhost, ephemeral, podLevel]);
    assertPasses(checks, "pss-seccomp-baseline", unset);
    assertPasses(checks, "pss-seccomp-baseline", localhost);
    assertFails(checks, "pss-seccomp-baseline", ephemeral, /^container debug securityContext\.seccompProfile\.type is Unconfined: /);
    assertFails(checks, "pss-seccomp-baseline", podLevel, /^pod securityContext\.seccompProfile\.type is Unconfined/);
  });

  it("pss-sysctls: the v1.36 safe set, names exactly as written", () => {
    const safe = pod("safe", {
      securityContext: {
        sysctls: [
          { name: "net.ipv4.tcp_rmem", value: "4096 87380 16777216" },
          { name: "net.ipv4.ip_local_reserved_ports", value: "8080" },
        ],
      },
      containers: [container("app")],
    });
    const unsafe = pod("unsafe", {
      securityContext: {
        sysctls: [
          { name: "kernel.shm_rmid_forced", value: "1" },
          { name: "kernel.msgmax", value: "65536" },
          { name: "net/ipv4/tcp_syncookies", value: "1" },
        ],
      },
      containers: [container("app")],
    });
    const checks = run(pack, [safe, unsafe]);
    assertPasses(checks, "pss-sysctls", safe);
    assertFails(checks, "pss-sysctls", unsafe, /^pod securityContext\.sysctls sets kernel\.msgmax, net\/ipv4\/tcp_syncookies: /);
  });

  it("pss-host-probes: a host in any probe or lifecycle hook", () => {
    const probes = workload("Job", "probes", {
      containers: [
        container(
          "app",
          {},
          {
            livenessProbe: { httpGet: { host: "10.0.0.1", port: 80 } },
            readinessProbe: { tcpSocket: { host: "", port: 80 } },
            lifecycle: { preStop: { tcpSocket: { host: "metadata.internal", port: 80 } } },
          },
        ),
      ],
    });
    const local = pod("local", {
      containers: [
        container(
          "app",
          {},
          { startupProbe: { httpGet: { path: "/healthz", port: 80 } }, lifecycle: { postStart: { httpGet: { port: 80, host: "" } } } },
        ),
      ],
    });
    const checks = run(pack, [probes, local]);
    assertFails(
      checks,
      "pss-host-probes",
      probes,
      /^container app sets livenessProbe\.httpGet\.host 10\.0\.0\.1, lifecycle\.preStop\.tcpSocket\.host metadata\.internal: /,
    );
    assertPasses(checks, "pss-host-probes", local);
  });

  it("Windows pods are held to the baseline like any other", () => {
    const windows = pod("windows", {
      os: { name: "windows" },
      securityContext: { windowsOptions: { hostProcess: true } },
      hostNetwork: true,
      containers: [{ name: "app", image: "mcr.microsoft.com/app:1" }],
    });
    const checks = run(pack, [windows]);
    assertFails(checks, "pss-host-process", windows);
    assertFails(checks, "pss-host-namespaces", windows);
  });
});

describe("pss-restricted", () => {
  const pack = "pss-restricted";

  it("a pod that meets the restricted level passes all of its policies, baseline ones included", () => {
    const good = KINDS.map((kind) =>
      workload(kind, `good-${kind.toLowerCase()}`, {
        securityContext: { runAsUser: 1000 },
        containers: [container("app", { capabilities: { drop: ["ALL"], add: ["NET_BIND_SERVICE"] } })],
        initContainers: [container("init")],
        volumes: [{ name: "config", configMap: { name: "app" } }],
      }),
    );
    const checks = run(pack, good);
    for (const o of good) for (const rule of [...BASELINE, ...RESTRICTED_ONLY]) assertPasses(checks, rule, o);
  });

  it("pss-volume-types: the allowed types only; a volume that names no type is an emptyDir, as the API server defaults it", () => {
    const allowed = pod("allowed", {
      containers: [container("app")],
      volumes: [
        { name: "a", configMap: { name: "c" } },
        { name: "b", csi: { driver: "secrets-store.csi.k8s.io" } },
        { name: "c", downwardAPI: {} },
        { name: "d", emptyDir: {} },
        { name: "e", ephemeral: { volumeClaimTemplate: { spec: {} } } },
        { name: "f", image: { reference: "registry.example.com/data:1" } },
        { name: "g", persistentVolumeClaim: { claimName: "data" } },
        { name: "h", projected: { sources: [] } },
        { name: "i", secret: { secretName: "s" } },
      ],
    });
    const restricted = workload("StatefulSet", "restricted", {
      containers: [container("app")],
      volumes: [
        { name: "data", persistentVolumeClaim: { claimName: "data" } },
        { name: "share", nfs: { server: "nfs.example.com", path: "/" } },
        { name: "bare" },
      ],
    });
    const checks = run(pack, [allowed, restricted]);
    assertPasses(checks, "pss-volume-types", allowed);
    assertFails(
      checks,
      "pss-volume-types",
      restricted,
      /^volume share is not of an allowed type \(configMap, csi, .*\): mount other storage through a persistentVolumeClaim/,
    );
  });

  it("pss-privilege-escalation: false in every container; Windows pods exempt", () => {
    const unset = pod("unset", { containers: [container("app")], ephemeralContainers: [{ name: "debug", image: "busybox:1" }] });
    const allowed = workload("DaemonSet", "allowed", { containers: [container("app", { allowPrivilegeEscalation: true })] });
    const windows = pod("windows", { os: { name: "windows" }, containers: [{ name: "app", image: "mcr.microsoft.com/app:1" }] });
    const checks = run(pack, [unset, allowed, windows]);
    assertFails(checks, "pss-privilege-escalation", unset, /^container debug: set securityContext\.allowPrivilegeEscalation to false/);
    assertFails(checks, "pss-privilege-escalation", allowed, /^container app: /);
    assertPasses(checks, "pss-privilege-escalation", windows);
  });

  it("pss-run-as-non-root: pod-level true covers containers; an explicit false fails; user namespaces exempt", () => {
    const bare = (name: string) => ({ name, image: "registry.example.com/app:1.0" });
    const podLevel = pod("pod-level", {
      securityContext: { runAsNonRoot: true },
      containers: [bare("app")],
      initContainers: [bare("init")],
    });
    const containerFalse = pod("container-false", {
      securityContext: { runAsNonRoot: true },
      containers: [container("app", { runAsNonRoot: false })],
    });
    const podFalse = workload("Job", "pod-false", { securityContext: { runAsNonRoot: false }, containers: [container("app")] });
    const unset = pod("unset", { containers: [bare("app")], ephemeralContainers: [bare("debug")] });
    const userNamespace = pod("user-namespace", { hostUsers: false, containers: [bare("app")] });
    const checks = run(pack, [podLevel, containerFalse, podFalse, unset, userNamespace]);
    assertPasses(checks, "pss-run-as-non-root", podLevel);
    assertFails(checks, "pss-run-as-non-root", containerFalse, /^container app securityContext\.runAsNonRoot is false: /);
    assertFails(checks, "pss-run-as-non-root", podFalse, /^pod securityContext\.runAsNonRoot is false: /);
    assertFails(
      checks,
      "pss-run-as-non-root",
      unset,
      /^container app does not set securityContext\.runAsNonRoot, nor does the pod; container debug /,
    );
    assertPasses(checks, "pss-run-as-non-root", userNamespace);
  });

  it("pss-run-as-user: user 0 at pod or container level; user namespaces exempt", () => {
    const root = workload("CronJob", "root", {
      securityContext: { runAsUser: 0 },
      containers: [container("app", { runAsUser: 1000 })],
      initContainers: [container("init", { runAsUser: 0 })],
    });
    const nonRoot = pod("non-root", { securityContext: { runAsUser: 1000 }, containers: [container("app")] });
    const userNamespace = pod("user-namespace", { hostUsers: false, securityContext: { runAsUser: 0 }, containers: [container("app")] });
    const checks = run(pack, [root, nonRoot, userNamespace]);
    assertFails(checks, "pss-run-as-user", root, /^pod securityContext\.runAsUser is 0; container init securityContext\.runAsUser is 0: /);
    assertPasses(checks, "pss-run-as-user", nonRoot);
    assertPasses(checks, "pss-run-as-user", userNamespace);
  });

  it("pss-seccomp-restricted: a profile for every container, the pod's or its own; Windows pods exempt", () => {
    const bare = (name: string, seccompProfile?: Json) => ({
      name,
      image: "registry.example.com/app:1.0",
      ...(seccompProfile ? { securityContext: { seccompProfile } } : {}),
    });
    const podLevel = pod("pod-level", { securityContext: { seccompProfile: { type: "RuntimeDefault" } }, containers: [bare("app")] });
    const override = pod("override", {
      securityContext: { seccompProfile: { type: "RuntimeDefault" } },
      containers: [bare("app", { type: "Unconfined" })],
    });
    const missing = pod("missing", {
      containers: [bare("app", { type: "Localhost", localhostProfile: "p.json" })],
      ephemeralContainers: [bare("debug")],
    });
    const windows = pod("windows", { os: { name: "windows" }, containers: [bare("app")] });
    const checks = run(pack, [podLevel, override, missing, windows]);
    assertPasses(checks, "pss-seccomp-restricted", podLevel);
    assertFails(checks, "pss-seccomp-restricted", override, /^container app securityContext\.seccompProfile\.type is Unconfined: /);
    assertFails(checks, "pss-seccomp-restricted", missing, /^container debug has no seccomp profile, nor does the pod: /);
    assertPasses(checks, "pss-seccomp-restricted", windows);
  });

  it("pss-capabilities-restricted: drop ALL, add at most NET_BIND_SERVICE; Windows pods exempt", () => {
    const noDrop = pod("no-drop", {
      containers: [container("app", { capabilities: { drop: ["NET_RAW"] } })],
      ephemeralContainers: [{ name: "debug", image: "busybox:1" }],
    });
    const adds = workload("Deployment", "adds", {
      containers: [container("app", { capabilities: { drop: ["ALL"], add: ["NET_BIND_SERVICE", "CHOWN"] } })],
    });
    const windows = pod("windows", { os: { name: "windows" }, containers: [{ name: "app", image: "mcr.microsoft.com/app:1" }] });
    const checks = run(pack, [noDrop, adds, windows]);
    assertFails(
      checks,
      "pss-capabilities-restricted",
      noDrop,
      /^container app does not drop ALL capabilities; container debug does not drop ALL capabilities: /,
    );
    assertFails(checks, "pss-capabilities-restricted", adds, /^container app adds CHOWN: /);
    assertPasses(checks, "pss-capabilities-restricted", windows);
  });

  it("pss-proc-mount-restricted: Unmasked fails in a user namespace too", () => {
    const userNamespace = pod("user-namespace", { hostUsers: false, containers: [container("app", { procMount: "Unmasked" })] });
    const checks = run(pack, [userNamespace]);
    assertPasses(checks, "pss-proc-mount", userNamespace);
    assertFails(checks, "pss-proc-mount-restricted", userNamespace, /^container app securityContext\.procMount is Unmasked: /);
  });
});
