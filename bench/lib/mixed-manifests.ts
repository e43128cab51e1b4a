// A deterministic set of N manifests of mixed kinds, as a cluster's configuration repository holds
// them: workloads of every pod-template kind (restricted-compliant, baseline-only and violating pod
// specs), services, config, RBAC, network policies and the namespaces they live in. The same seed
// always gives the same files, so runs and engines see identical input.
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { stringify } from "yaml";

type Manifest = Record<string, unknown> & { kind: string };

/** mulberry32: small, fast and good enough to pick test data reproducibly. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

class Picker {
  readonly next: () => number;
  constructor(seed: number) {
    this.next = random(seed);
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  one<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.next() * xs.length)]!;
  }
  weighted<T>(entries: readonly (readonly [T, number])[]): T {
    let r = this.next() * entries.reduce((s, [, w]) => s + w, 0);
    for (const [v, w] of entries) if ((r -= w) < 0) return v;
    return entries[entries.length - 1]![0];
  }
  hex(n: number): string {
    return Array.from({ length: n }, () => Math.floor(this.next() * 16).toString(16)).join("");
  }
}

const namespaceCount = 50;
const namespaceName = (i: number) => `team-${String(i).padStart(2, "0")}`;

const images = [
  "registry.example.com/shop/api:1.4.2",
  "registry.example.com/shop/web:2.0.0",
  "ghcr.io/acme/worker:0.9.1",
  "ghcr.io/acme/ingest:3.1",
  "docker.io/library/redis:7.2",
  "nginx:1.27",
  "nginx",
  "quay.io/prometheus/node-exporter:latest",
  "bitnami/kubectl:1.30",
  "registry.internal:5000/tools/migrate:12",
];

/** Ways a pod spec breaks the Baseline level, each one change to an otherwise plain spec. */
const baselineViolations: ((spec: any, p: Picker) => void)[] = [
  (s) => (s.hostNetwork = true),
  (s) => (s.hostPID = true),
  (s) => (s.hostIPC = true),
  (s) => (s.containers[0].securityContext = { ...s.containers[0].securityContext, privileged: true }),
  (s, p) =>
    (s.containers[0].securityContext = {
      ...s.containers[0].securityContext,
      capabilities: { add: [p.one(["SYS_ADMIN", "NET_ADMIN", "SYS_PTRACE"])] },
    }),
  (s) => (s.volumes = [...(s.volumes ?? []), { name: "host", hostPath: { path: "/var/run/docker.sock" } }]),
  (s) => (s.containers[0].ports = [{ containerPort: 8080, hostPort: 8080 }]),
  (s) => (s.containers[0].securityContext = { ...s.containers[0].securityContext, seccompProfile: { type: "Unconfined" } }),
  (s) => (s.securityContext = { ...s.securityContext, sysctls: [{ name: "kernel.msgmax", value: "65536" }] }),
  (s) => (s.containers[0].securityContext = { ...s.containers[0].securityContext, seLinuxOptions: { type: "spc_t" } }),
  (s) => (s.containers[0].securityContext = { ...s.containers[0].securityContext, procMount: "Unmasked" }),
  (s) => (s.containers[0].securityContext = { ...s.containers[0].securityContext, appArmorProfile: { type: "Unconfined" } }),
  (s) => Object.assign(s, { hostNetwork: true, securityContext: { ...s.securityContext, windowsOptions: { hostProcess: true } } }),
  (s) => (s.containers[0].livenessProbe = { httpGet: { host: "10.0.0.1", path: "/healthz", port: 8080 } }),
  (s) => (s.containers[0].lifecycle = { preStop: { tcpSocket: { host: "metadata.internal", port: 80 } } }),
];

/** Settings near the edge of a level that the level still allows: both engines must accept them. */
const acceptedVariants: ((spec: any) => void)[] = [
  (s) =>
    (s.containers[0].securityContext = { ...s.containers[0].securityContext, capabilities: { drop: ["ALL"], add: ["NET_BIND_SERVICE"] } }),
  (s) => (s.securityContext = { ...s.securityContext, sysctls: [{ name: "net.ipv4.ip_unprivileged_port_start", value: "0" }] }),
  (s) =>
    (s.containers[0].securityContext = {
      ...s.containers[0].securityContext,
      seccompProfile: { type: "Localhost", localhostProfile: "profiles/app.json" },
    }),
  (s) => (s.containers[0].securityContext = { ...s.containers[0].securityContext, seLinuxOptions: { type: "container_init_t" } }),
  (s) => (s.containers[0].securityContext = { ...s.containers[0].securityContext, appArmorProfile: { type: "RuntimeDefault" } }),
  (s) => (s.containers[0].readinessProbe = { httpGet: { path: "/ready", port: 8080 } }),
  (s) =>
    (s.volumes = [
      ...(s.volumes ?? []),
      { name: "token", projected: { sources: [{ serviceAccountToken: { path: "token" } }] } },
      {
        name: "scratch",
        ephemeral: { volumeClaimTemplate: { spec: { accessModes: ["ReadWriteOnce"], resources: { requests: { storage: "1Gi" } } } } },
      },
    ]),
];

/** Ways a Baseline-compliant, otherwise restricted spec breaks only the Restricted level. */
const restrictedViolations: ((spec: any, p: Picker) => void)[] = [
  (s) => (s.securityContext = { ...s.securityContext, runAsNonRoot: false }),
  (s) => (s.containers[0].securityContext = { ...s.containers[0].securityContext, runAsUser: 0 }),
  (s) => (s.containers[0].securityContext = { ...s.containers[0].securityContext, allowPrivilegeEscalation: true }),
  (s) => (s.containers[0].securityContext = { ...s.containers[0].securityContext, capabilities: { drop: ["ALL"], add: ["CHOWN"] } }),
  (s) => (s.containers[0].securityContext = { ...s.containers[0].securityContext, capabilities: { drop: ["NET_RAW"] } }),
  (s) => delete s.securityContext.seccompProfile,
  (s) => (s.volumes = [...(s.volumes ?? []), { name: "nfs", nfs: { server: "nfs.example.com", path: "/exports" } }]),
];

function container(p: Picker, name: string, restricted: boolean): Record<string, unknown> {
  const c: Record<string, any> = {
    name,
    image: p.chance(0.3) ? `registry.example.com/shop/${name}@sha256:${p.hex(64)}` : p.one(images),
    resources: { requests: { cpu: "100m", memory: "128Mi" }, limits: { memory: "256Mi" } },
  };
  if (p.chance(0.5)) c.ports = [{ containerPort: p.one([80, 8080, 9090, 5432]) }];
  if (p.chance(0.3))
    c.env = [
      { name: "LOG_LEVEL", value: "info" },
      { name: "DB_HOST", value: "db.internal" },
    ];
  if (p.chance(0.04)) c.env = [...(c.env ?? []), { name: "DB_PASSWORD", value: "hunter2" }];
  if (p.chance(0.1)) c.env = [...(c.env ?? []), { name: "API_TOKEN", valueFrom: { secretKeyRef: { name: "api", key: "token" } } }];
  if (restricted) c.securityContext = { allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] }, readOnlyRootFilesystem: true };
  return c;
}

/** A pod spec: restricted-compliant, baseline-only (no security settings) or violating a level. */
function podSpec(p: Picker): Record<string, unknown> {
  const shape = p.weighted([
    ["restricted", 40],
    ["baseline", 30],
    ["breaks-restricted", 15],
    ["breaks-baseline", 15],
  ] as const);
  const restricted = shape === "restricted" || shape === "breaks-restricted";
  const spec: Record<string, any> = {
    containers: [container(p, "app", restricted), ...(p.chance(0.25) ? [container(p, "sidecar", restricted)] : [])],
  };
  if (p.chance(0.2)) spec.initContainers = [container(p, "init", restricted)];
  if (restricted) spec.securityContext = { runAsNonRoot: true, runAsUser: 10001, seccompProfile: { type: "RuntimeDefault" } };
  if (p.chance(0.4))
    spec.volumes = [
      { name: "config", configMap: { name: "app-config" } },
      { name: "tmp", emptyDir: {} },
    ];
  if (p.chance(0.25)) p.one(acceptedVariants)(spec);
  if (shape === "breaks-restricted") p.one(restrictedViolations)(spec, p);
  if (shape === "breaks-baseline") {
    p.one(baselineViolations)(spec, p);
    if (p.chance(0.3)) p.one(baselineViolations)(spec, p);
  }
  return spec;
}

const meta = (name: string, namespace: string, app: string) => ({ name, namespace, labels: { app, "app.kubernetes.io/part-of": "bench" } });
const template = (app: string, spec: Record<string, unknown>) => ({ metadata: { labels: { app } }, spec });

const kinds = {
  Pod: (p: Picker, name: string, ns: string): Manifest => ({
    apiVersion: "v1",
    kind: "Pod",
    metadata: meta(name, ns, name),
    spec: podSpec(p),
  }),
  Deployment: (p: Picker, name: string, ns: string): Manifest => ({
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: meta(name, ns, name),
    spec: { replicas: p.one([1, 2, 3]), selector: { matchLabels: { app: name } }, template: template(name, podSpec(p)) },
  }),
  StatefulSet: (p: Picker, name: string, ns: string): Manifest => ({
    apiVersion: "apps/v1",
    kind: "StatefulSet",
    metadata: meta(name, ns, name),
    spec: { serviceName: name, replicas: 3, selector: { matchLabels: { app: name } }, template: template(name, podSpec(p)) },
  }),
  DaemonSet: (p: Picker, name: string, ns: string): Manifest => ({
    apiVersion: "apps/v1",
    kind: "DaemonSet",
    metadata: meta(name, ns, name),
    spec: { selector: { matchLabels: { app: name } }, template: template(name, podSpec(p)) },
  }),
  Job: (p: Picker, name: string, ns: string): Manifest => ({
    apiVersion: "batch/v1",
    kind: "Job",
    metadata: meta(name, ns, name),
    spec: { backoffLimit: 2, template: template(name, { ...podSpec(p), restartPolicy: "Never" }) },
  }),
  CronJob: (p: Picker, name: string, ns: string): Manifest => ({
    apiVersion: "batch/v1",
    kind: "CronJob",
    metadata: meta(name, ns, name),
    spec: { schedule: "*/15 * * * *", jobTemplate: { spec: { template: template(name, { ...podSpec(p), restartPolicy: "OnFailure" }) } } },
  }),
  Service: (p: Picker, name: string, ns: string): Manifest => ({
    apiVersion: "v1",
    kind: "Service",
    metadata: meta(name, ns, name),
    spec: {
      type: p.weighted([
        ["ClusterIP", 8],
        ["LoadBalancer", 1],
        ["NodePort", 1],
      ] as const),
      selector: { app: name },
      ports: [{ port: 80, targetPort: 8080 }],
    },
  }),
  ConfigMap: (p: Picker, name: string, ns: string): Manifest => ({
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: meta(name, ns, name),
    data: { "app.properties": `mode=${p.one(["prod", "staging"])}\nthreads=${p.one([2, 4, 8])}\n`, FEATURE_FLAGS: "a,b,c" },
  }),
  Secret: (p: Picker, name: string, ns: string): Manifest =>
    p.chance(0.5)
      ? { apiVersion: "v1", kind: "Secret", metadata: meta(name, ns, name), type: "Opaque", data: { password: "aHVudGVyMg==" } }
      : {
          apiVersion: "v1",
          kind: "Secret",
          metadata: meta(name, ns, name),
          type: "Opaque",
          data: { password: `ENC[AES256_GCM,data:${p.hex(12)},type:str]` },
          sops: { mac: `ENC[AES256_GCM,data:${p.hex(32)},type:str]`, version: "3.9.0" },
        },
  ServiceAccount: (_p: Picker, name: string, ns: string): Manifest => ({
    apiVersion: "v1",
    kind: "ServiceAccount",
    metadata: meta(name, ns, name),
  }),
  Role: (p: Picker, name: string, ns: string): Manifest => ({
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "Role",
    metadata: meta(name, ns, name),
    rules: p.chance(0.8)
      ? [{ apiGroups: [""], resources: ["configmaps", "pods"], verbs: ["get", "list", "watch"] }]
      : [
          {
            apiGroups: p.one([["*"], [""]]),
            resources: p.one([["*"], ["pods/exec"], ["secrets"]]),
            verbs: p.one([["*"], ["create", "get"]]),
          },
        ],
  }),
  RoleBinding: (p: Picker, name: string, ns: string): Manifest => ({
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "RoleBinding",
    metadata: meta(name, ns, name),
    roleRef: p.chance(0.85)
      ? { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name }
      : { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: p.one(["admin", "edit", "view"]) },
    subjects: [{ kind: "ServiceAccount", name, namespace: ns }],
  }),
  ClusterRole: (p: Picker, name: string): Manifest => ({
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "ClusterRole",
    metadata: { name },
    rules: p.chance(0.7)
      ? [{ apiGroups: [""], resources: ["namespaces", "nodes"], verbs: ["get", "list"] }]
      : [{ apiGroups: [""], resources: p.one([["secrets"], ["nodes/proxy"], ["*"]]), verbs: p.one([["get", "list"], ["*"]]) }],
  }),
  ClusterRoleBinding: (p: Picker, name: string): Manifest => ({
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "ClusterRoleBinding",
    metadata: { name },
    roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: p.chance(0.8) ? name : "cluster-admin" },
    subjects: [
      p.chance(0.8)
        ? { kind: "ServiceAccount", name, namespace: "kube-system" }
        : { kind: "Group", name: "system:authenticated", apiGroup: "rbac.authorization.k8s.io" },
    ],
  }),
  NetworkPolicy: (p: Picker, name: string, ns: string): Manifest => ({
    apiVersion: "networking.k8s.io/v1",
    kind: "NetworkPolicy",
    metadata: meta(name, ns, name),
    spec: p.chance(0.5)
      ? { podSelector: {}, policyTypes: ["Ingress", "Egress"] }
      : {
          podSelector: { matchLabels: { app: name } },
          policyTypes: ["Ingress"],
          ingress: [{ from: [{ podSelector: { matchLabels: { role: "frontend" } } }], ports: [{ port: 8080 }] }],
        },
  }),
  Ingress: (_p: Picker, name: string, ns: string): Manifest => ({
    apiVersion: "networking.k8s.io/v1",
    kind: "Ingress",
    metadata: meta(name, ns, name),
    spec: {
      rules: [
        {
          host: `${name}.example.com`,
          http: { paths: [{ path: "/", pathType: "Prefix", backend: { service: { name, port: { number: 80 } } } }] },
        },
      ],
    },
  }),
  PodDisruptionBudget: (_p: Picker, name: string, ns: string): Manifest => ({
    apiVersion: "policy/v1",
    kind: "PodDisruptionBudget",
    metadata: meta(name, ns, name),
    spec: { minAvailable: 1, selector: { matchLabels: { app: name } } },
  }),
  HorizontalPodAutoscaler: (_p: Picker, name: string, ns: string): Manifest => ({
    apiVersion: "autoscaling/v2",
    kind: "HorizontalPodAutoscaler",
    metadata: meta(name, ns, name),
    spec: {
      scaleTargetRef: { apiVersion: "apps/v1", kind: "Deployment", name },
      minReplicas: 2,
      maxReplicas: 6,
      metrics: [{ type: "Resource", resource: { name: "cpu", target: { type: "Utilization", averageUtilization: 70 } } }],
    },
  }),
} as const;

/** Share of each kind among the manifests that are not Namespaces (percent, roughly a real repo). */
const kindMix: readonly (readonly [keyof typeof kinds, number])[] = [
  ["Deployment", 17],
  ["Service", 15],
  ["ConfigMap", 12],
  ["Pod", 7],
  ["StatefulSet", 4],
  ["DaemonSet", 3],
  ["Job", 4],
  ["CronJob", 4],
  ["Secret", 4],
  ["ServiceAccount", 5],
  ["Role", 5],
  ["RoleBinding", 5],
  ["ClusterRole", 2],
  ["ClusterRoleBinding", 1],
  ["NetworkPolicy", 5],
  ["Ingress", 3],
  ["PodDisruptionBudget", 2],
  ["HorizontalPodAutoscaler", 2],
];

function namespace(p: Picker, i: number): Manifest {
  const production = p.chance(0.3);
  return {
    apiVersion: "v1",
    kind: "Namespace",
    metadata: {
      name: namespaceName(i),
      labels: { "kubernetes.io/metadata.name": namespaceName(i), "vigil.dev/environment": production ? "production" : "staging" },
    },
  };
}

export interface MixedManifests {
  dir: string;
  count: number;
  byKind: Record<string, number>;
}

/** Writes `count` manifests (Namespaces first) into `dir`, 100 documents per YAML file. */
export function mixedManifests(dir: string, count: number, seed = 1): MixedManifests {
  const p = new Picker(seed);
  const manifests: Manifest[] = Array.from({ length: Math.min(namespaceCount, count) }, (_, i) => namespace(p, i));
  for (let i = manifests.length; i < count; i++) {
    const kind = p.weighted(kindMix);
    const ns = namespaceName(Math.floor(p.next() * namespaceCount));
    manifests.push(kinds[kind](p, `${kind.toLowerCase()}-${i}`, ns));
  }
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const perFile = 100;
  for (let f = 0; f * perFile < manifests.length; f++) {
    const docs = manifests.slice(f * perFile, (f + 1) * perFile).map((m) => stringify(m, { lineWidth: 0 }));
    writeFileSync(join(dir, `manifests-${String(f).padStart(3, "0")}.yaml`), docs.join("---\n"));
  }
  const byKind: Record<string, number> = {};
  for (const m of manifests) byKind[m.kind] = (byKind[m.kind] ?? 0) + 1;
  return { dir, count: manifests.length, byKind };
}
