// Vigil's own install (deploy/): it passes every built-in policy pack with `vigil policy check`, grants
// no wildcard and nothing cluster-wide, and a real API server accepts it: Pod Security admission at the
// restricted level admits the agent's pod, and RBAC lets the agent do what it needs (its lease, events,
// status and inventories; applying as an environment's service account) and nothing else.
import { strict as assert } from "node:assert";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { Agent, request, type Dispatcher } from "undici";
import { loadManifests, type KubeObject } from "../src/manifest/manifests.ts";
import { packNames } from "../src/policy/packs.ts";
import { kubectlBinary, missingKubeBinaries, requireKube, startKubeApiServer, type KubeCluster } from "./helpers/kube.ts";
import { run, tempDir, vigil } from "./helpers/tools.ts";

const deploy = new URL("../deploy/", import.meta.url).pathname;
const installFiles = () => loadManifests([deploy]).filter((s) => !s.file.includes("/exceptions/"));
const objects = (): KubeObject[] => installFiles().map((s) => s.object);
const named = (kind: string, name: string) => objects().find((o) => o.kind === kind && o.metadata?.name === name)!;

const AGENT = "system:serviceaccount:vigil-system:vigil-agent";
const DEPLOYER = "system:serviceaccount:vigil-system:vigil-deployer-shop";
const serviceAccountGroups = (namespace: string) => [
  "system:serviceaccounts",
  `system:serviceaccounts:${namespace}`,
  "system:authenticated",
];

describe("deploy/: Vigil's policy packs", () => {
  it("pass with every built-in pack (the impersonation grant excepted, by name, until its review date)", (t) => {
    // supply-chain-allowed-registries takes its registries from a ConfigMap the cluster's owner writes;
    // the install does not decide that for them, so the test gives Vigil's own registry.
    const params = join(tempDir(t), "registries.yaml");
    writeFileSync(
      params,
      JSON.stringify({
        apiVersion: "v1",
        kind: "ConfigMap",
        metadata: { name: "vigil-supply-chain", namespace: "vigil-system" },
        data: { allowedRegistries: "ghcr.io/vigil-dev/" },
      }),
    );
    const packs = packNames();
    assert.ok(packs.length >= 6, `built-in packs: ${packs.join(", ")}`);
    const r = vigil([
      "policy",
      "check",
      ...packs.flatMap((p) => ["--pack", p]),
      "--policy",
      params,
      "--exceptions",
      join(deploy, "exceptions"),
      "-o",
      "json",
      deploy,
    ]);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    const checks: { status: string; rule: string; subject: string; message: string }[] = r.json().checks;
    const notPassing = checks.filter((c) => c.status === "fail" || c.status === "warn");
    assert.deepEqual(notPassing, [], "no policy fails or warns on the install");
    // The exceptions in use: the impersonation Role and the deployer's binding; anything else excepted would show here.
    const excepted = checks.filter((c) => c.status === "skip" && c.rule !== "coverage").map((c) => [c.rule, c.subject]);
    assert.deepEqual(excepted, [
      ["rbac-no-escalation-verbs", "Role/vigil-system/vigil-agent-impersonate"],
      ["cluster-effect-role-binding-reach", "RoleBinding/shop/vigil-deployer"],
    ]);
    // Not a vacuous pass: every restricted-level control was evaluated on the agent's Deployment.
    const onAgent = new Set(
      checks.filter((c) => c.subject === "Deployment/vigil-system/vigil-agent" && c.status === "pass").map((c) => c.rule),
    );
    for (const rule of [
      "pss-run-as-non-root",
      "pss-seccomp-restricted",
      "pss-privilege-escalation",
      "pss-capabilities-restricted",
      "pss-volume-types",
      "supply-chain-image-digest",
      "network-workload-selected",
      "network-default-deny-ingress",
    ]) {
      assert.ok(onAgent.has(rule), `${rule} passed on the agent's Deployment`);
    }
  });

  it("grant no wildcard and nothing cluster-wide; impersonation names service accounts one by one", () => {
    const all = objects();
    // The exceptions (deploy/admission.yaml): the admission webhook keeps its own cluster-scoped
    // ValidatingWebhookConfiguration, and the agent the packs' policies and bindings; their rights are
    // tested in admission-install.
    const clusterWide = all.filter((o) => o.kind === "ClusterRole" || o.kind === "ClusterRoleBinding");
    const admission = new Set(["vigil-admission", "vigil-agent-admission-policies"]);
    assert.deepEqual(
      clusterWide.filter((o) => !admission.has(o.metadata?.name ?? "")).map((o) => o.metadata?.name),
      [],
      "no ClusterRole or ClusterRoleBinding",
    );
    for (const role of clusterWide.filter((o) => o.kind === "ClusterRole")) {
      const groups = new Set((role.rules as Record<string, string[]>[]).flatMap((r) => r.apiGroups!));
      assert.deepEqual([...groups], ["admissionregistration.k8s.io"], "the admission ClusterRoles reach admission configuration only");
    }
    const roles = all.filter((o) => o.kind === "Role");
    assert.ok(roles.length >= 3);
    for (const role of roles) {
      for (const [i, rule] of (role.rules as Record<string, string[]>[]).entries()) {
        const where = `Role ${role.metadata?.namespace}/${role.metadata?.name} rules[${i}]`;
        for (const field of ["verbs", "apiGroups", "resources", "resourceNames"]) {
          assert.ok(!(rule[field] ?? []).some((v) => v.includes("*")), `${where}.${field} has a wildcard`);
        }
        assert.ok(!rule.verbs!.some((v) => v === "escalate" || v === "bind"), `${where} grants escalate or bind`);
        if (rule.verbs!.includes("impersonate")) {
          assert.deepEqual([rule.apiGroups, rule.resources], [[""], ["serviceaccounts"]], `${where} impersonates only service accounts`);
          assert.ok((rule.resourceNames ?? []).length > 0, `${where} names the accounts it may impersonate`);
        }
      }
    }
  });

  it("pin the agent's image by digest, run two replicas, and keep the example config in step with the RBAC", () => {
    const deployment = named("Deployment", "vigil-agent") as any;
    assert.equal(deployment.spec.replicas, 2);
    assert.match(deployment.spec.template.spec.containers[0].image, /^ghcr\.io\/vigil-dev\/vigil@sha256:[0-9a-f]{64}$/);
    const config = String((named("ConfigMap", "vigil-agent-config") as any).data["agent.yaml"]);
    const accounts = [...config.matchAll(/serviceAccount: (\S+)\/(\S+)/g)].map((m) => [m[1], m[2]]);
    const impersonable = (named("Role", "vigil-agent-impersonate") as any).rules[0].resourceNames as string[];
    assert.ok(accounts.length > 0);
    for (const [namespace, name] of accounts) {
      assert.equal(namespace, "vigil-system", "environment accounts live beside the agent");
      assert.ok(impersonable.includes(name!), `the agent may impersonate ${name}`);
      assert.ok(named("ServiceAccount", name!), `the example defines ${name}`);
    }
  });
  it("mount the agent's config from the ConfigMap, at the path the agent's args name the config the ConfigMap holds, at the path its args name", () => {
    const deployment = named("Deployment", "vigil-agent") as any;
    const container = deployment.spec.template.spec.containers[0];
    const configPath = container.args[container.args.indexOf("--config") + 1];
    const mount = container.volumeMounts.find((m: any) => configPath.startsWith(`${m.mountPath}/`));
    const volume = deployment.spec.template.spec.volumes.find((v: any) => v.name === mount.name);
    assert.equal(volume.configMap.name, "vigil-agent-config");
    assert.ok((named("ConfigMap", "vigil-agent-config") as any).data[configPath.slice(mount.mountPath.length + 1)]);
  });
});

describe("deploy/: a real API server", () => {
  let cluster: KubeCluster;
  const cleanups: (() => unknown)[] = [];
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });
  before(async () => {
    if (missingKubeBinaries([kubectlBinary]).length > 0) return;
    cluster = await startKubeApiServer({ after: (fn) => void cleanups.push(fn) });
    // Server-side apply as an admin would install it: the numbered files in order (the Namespace
    // first), then the example environment.
    const kubectl = (...args: string[]) => run(kubectlBinary, ["--kubeconfig", cluster.admin.kubeconfigPath, ...args]);
    kubectl("apply", "--server-side", "--field-manager", "vigil-install", "-f", deploy);
    kubectl("apply", "--server-side", "--field-manager", "vigil-install", "-f", join(deploy, "example-environment"));
  });

  async function api(
    method: Dispatcher.HttpMethod,
    path: string,
    opts: { body?: unknown; as?: Dispatcher; headers?: Record<string, string>; contentType?: string } = {},
  ): Promise<{ status: number; body: any }> {
    const res = await request(`${cluster.url}${path}`, {
      method,
      dispatcher: opts.as ?? cluster.admin.dispatcher,
      headers: {
        accept: "application/json",
        ...(opts.body !== undefined && { "content-type": opts.contentType ?? "application/json" }),
        ...opts.headers,
      },
      ...(opts.body !== undefined && { body: JSON.stringify(opts.body) }),
    });
    const text = await res.body.text();
    return { status: res.statusCode, body: text.startsWith("{") ? JSON.parse(text) : text };
  }

  it("admits the agent's pod under Pod Security 'restricted', and refuses it without allowPrivilegeEscalation: false", async (t) => {
    if (!requireKube(t, [kubectlBinary])) return;
    const template = (named("Deployment", "vigil-agent") as any).spec.template;
    const pod = { apiVersion: "v1", kind: "Pod", metadata: { name: "agent-pod", labels: template.metadata.labels }, spec: template.spec };
    const admitted = await api("POST", "/api/v1/namespaces/vigil-system/pods?dryRun=All", { body: pod });
    assert.equal(admitted.status, 201, JSON.stringify(admitted.body));
    // The control: Pod Security admission is on and enforcing in vigil-system.
    const loose = structuredClone(pod);
    delete loose.spec.containers[0].securityContext.allowPrivilegeEscalation;
    const refused = await api("POST", "/api/v1/namespaces/vigil-system/pods?dryRun=All", { body: loose });
    assert.equal(refused.status, 403);
    assert.match(refused.body.message, /violates PodSecurity "restricted:latest": allowPrivilegeEscalation != false/);
  });

  it("lets the agent keep its lease, events, status, inventories and webhook triggers in vigil-system, and nothing else as itself", async (t) => {
    if (!requireKube(t, [kubectlBinary])) return;
    const can = async (resourceAttributes: Record<string, string>) => {
      const review = await api("POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews", {
        body: {
          apiVersion: "authorization.k8s.io/v1",
          kind: "SubjectAccessReview",
          spec: { user: AGENT, groups: serviceAccountGroups("vigil-system"), resourceAttributes },
        },
      });
      assert.equal(review.status, 201, JSON.stringify(review.body));
      return review.body.status.allowed === true;
    };
    const ns = "vigil-system";
    const allowed: Record<string, string>[] = [
      { namespace: ns, verb: "create", group: "coordination.k8s.io", resource: "leases" },
      { namespace: ns, verb: "get", group: "coordination.k8s.io", resource: "leases", name: "vigil-agent" },
      { namespace: ns, verb: "update", group: "coordination.k8s.io", resource: "leases", name: "vigil-agent" },
      { namespace: ns, verb: "create", resource: "events" },
      { namespace: ns, verb: "create", resource: "configmaps" },
      { namespace: ns, verb: "update", resource: "configmaps", name: "vigil-inventory-shop-production" },
      { namespace: ns, verb: "patch", resource: "configmaps", name: "vigil-triggers" },
      { namespace: ns, verb: "list", resource: "configmaps", name: "vigil-triggers" },
      // The leader lists the break-glass records to remove the expired ones (it may get any ConfigMap here anyway).
      { namespace: ns, verb: "list", resource: "configmaps" },
      { namespace: ns, verb: "watch", resource: "configmaps", name: "vigil-triggers" },
      { namespace: ns, verb: "impersonate", resource: "serviceaccounts", name: "vigil-deployer-shop" },
      { namespace: ns, verb: "get", resource: "secrets", name: "vigil-agent-state" },
      { namespace: ns, verb: "create", resource: "secrets" },
    ];
    const denied: Record<string, string>[] = [
      { namespace: ns, verb: "update", group: "coordination.k8s.io", resource: "leases", name: "someone-elses-lease" },
      { namespace: ns, verb: "get", resource: "secrets", name: "vigil-agent" },
      { namespace: ns, verb: "list", resource: "secrets" },
      { namespace: ns, verb: "update", resource: "secrets", name: "vigil-agent-state" },
      { namespace: ns, verb: "watch", resource: "configmaps" },
      { namespace: ns, verb: "watch", resource: "configmaps", name: "vigil-status-shop-production" },
      { namespace: "shop", verb: "watch", resource: "configmaps", name: "vigil-triggers" },
      { namespace: ns, verb: "impersonate", resource: "serviceaccounts", name: "vigil-agent" },
      { namespace: "shop", verb: "impersonate", resource: "serviceaccounts", name: "default" },
      { verb: "impersonate", resource: "users", name: "admin" },
      { verb: "impersonate", resource: "groups", name: "system:masters" },
      { namespace: "shop", verb: "create", group: "apps", resource: "deployments" },
      { namespace: "shop", verb: "create", resource: "configmaps" },
      { namespace: ns, verb: "update", group: "apps", resource: "deployments", name: "vigil-agent" },
      { namespace: ns, verb: "create", group: "rbac.authorization.k8s.io", resource: "roles" },
      { verb: "list", resource: "namespaces" },
      { verb: "get", group: "apiextensions.k8s.io", resource: "customresourcedefinitions" },
    ];
    for (const a of allowed) assert.equal(await can(a), true, `the agent may ${JSON.stringify(a)}`);
    for (const a of denied) assert.equal(await can(a), false, `the agent may not ${JSON.stringify(a)}`);
  });

  it("applies as the environment's account with the agent's own token, in shop only; any other identity is refused", async (t) => {
    if (!requireKube(t, [kubectlBinary])) return;
    // A token for the agent's service account, as its pod would have mounted.
    const tokenRequest = await api("POST", "/api/v1/namespaces/vigil-system/serviceaccounts/vigil-agent/token", {
      body: { apiVersion: "authentication.k8s.io/v1", kind: "TokenRequest", spec: { expirationSeconds: 600 } },
    });
    assert.equal(tokenRequest.status, 201, JSON.stringify(tokenRequest.body));
    const asAgent = new Agent({ connect: { ca: cluster.caPem } });
    cleanups.push(() => asAgent.close());
    const apply = (namespace: string, impersonate?: string) =>
      api("PATCH", `/api/v1/namespaces/${namespace}/configmaps/probe?fieldManager=vigil`, {
        as: asAgent,
        contentType: "application/apply-patch+yaml",
        headers: { authorization: `Bearer ${tokenRequest.body.status.token}`, ...(impersonate && { "impersonate-user": impersonate }) },
        body: { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "probe", namespace }, data: { from: "vigil" } },
      });
    const applied = await apply("shop", DEPLOYER);
    assert.equal(applied.status, 201, JSON.stringify(applied.body));
    assert.equal(applied.body.metadata.managedFields[0].manager, "vigil");
    // The deployer's rights end at shop; the agent's own rights do not reach shop; no other account.
    const outside = await apply("vigil-system", DEPLOYER);
    assert.equal(outside.status, 403);
    assert.match(
      outside.body.message,
      /User "system:serviceaccount:vigil-system:vigil-deployer-shop" cannot patch resource "configmaps" in API group "" in the namespace "vigil-system"/,
    );
    assert.equal((await apply("shop")).status, 403, "the agent cannot write to shop as itself");
    const other = await apply("shop", "system:serviceaccount:shop:default");
    assert.equal(other.status, 403);
    assert.match(other.body.message, /cannot impersonate resource "serviceaccounts" in API group "" in the namespace "shop"/);
    assert.equal((await apply("shop", "admin")).status, 403, "no user can be impersonated");
  });
});
