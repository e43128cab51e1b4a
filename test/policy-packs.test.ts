// The built-in policy packs (rbac-least-privilege, secrets-hygiene, supply-chain): for every policy a
// manifest that passes and one that fails, through the whole policy gate.
import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import type { Check } from "../src/core/verdict.ts";
import { policyChecks } from "../src/policy/gate.ts";
import { parseManifests } from "../src/manifest/manifests.ts";
import { loadPack } from "../src/policy/packs.ts";

// ---------------------------------------------------------------------------------------------------
// Running a pack

interface RunOptions {
  exceptions?: string[];
  now?: Date;
}

function run(pack: string, manifests: string[], options: RunOptions = {}): Check[] {
  return policyChecks({
    policies: loadPack(pack),
    manifests: parseManifests(manifests.join("\n---\n"), "manifests.yaml"),
    ...(options.exceptions ? { exceptions: parseManifests(options.exceptions.join("\n---\n"), ".vigil/exceptions/exceptions.yaml") } : {}),
    ...(options.now ? { now: options.now } : {}),
  });
}

/** The one check `rule` produced for `subject`. */
function checkOf(checks: Check[], rule: string, subject: string): Check {
  const found = checks.filter((c) => c.rule === rule && c.subject === subject);
  assert.equal(found.length, 1, `expected one ${rule} check for ${subject}, got:\n${JSON.stringify(checks, null, 2)}`);
  return found[0]!;
}

function assertFails(checks: Check[], rule: string, subject: string, ...messages: RegExp[]): Check {
  const c = checkOf(checks, rule, subject);
  assert.equal(c.status, "fail", `${rule} on ${subject}: ${c.message}`);
  for (const m of messages) assert.match(c.message, m);
  return c;
}

function assertPasses(checks: Check[], rule: string, subject: string): void {
  const c = checkOf(checks, rule, subject);
  assert.equal(c.status, "pass", `${rule} on ${subject}: ${c.message}`);
}

/** The rule did not apply to the subject at all. */
function assertNotApplied(checks: Check[], rule: string, subject: string): void {
  assert.deepEqual(
    checks.filter((c) => c.rule === rule && c.subject === subject),
    [],
  );
}

// ---------------------------------------------------------------------------------------------------
// Manifests

const indent = (text: string, by: number) => text.trim().replace(/^/gm, " ".repeat(by));

const namespace = (name: string, environment?: string) => `
apiVersion: v1
kind: Namespace
metadata:
  name: ${name}
${environment ? `  labels: { vigil.dev/environment: ${environment} }` : ""}
`;

/** A Role (with a namespace) or ClusterRole; `rules` are YAML flow mappings, one per rule. */
const role = (kind: "Role" | "ClusterRole", name: string, rules: string[], ns?: string) => `
apiVersion: rbac.authorization.k8s.io/v1
kind: ${kind}
metadata:
  name: ${name}
${ns ? `  namespace: ${ns}` : ""}
rules:
${rules.map((r) => `  - ${r}`).join("\n")}
`;

/** A RoleBinding (with a namespace) or ClusterRoleBinding of ClusterRole `clusterRole`; `subjects` are flow mappings. */
const roleBinding = (kind: "RoleBinding" | "ClusterRoleBinding", name: string, clusterRole: string, subjects: string[], ns?: string) => `
apiVersion: rbac.authorization.k8s.io/v1
kind: ${kind}
metadata:
  name: ${name}
${ns ? `  namespace: ${ns}` : ""}
roleRef: { apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: ${clusterRole} }
subjects:
${subjects.map((s) => `  - ${s}`).join("\n")}
`;

/** A container as YAML; `env` entries are flow mappings. */
const container = (name: string, image: string, env: string[] = []) => `
- name: ${name}
  image: "${image}"
${env.length ? `  env:\n${env.map((e) => `    - ${e}`).join("\n")}` : ""}
`;

/** A pod spec with the given containers (and optional init and ephemeral containers). */
const podSpec = (containers: string[], more: { initContainers?: string[]; ephemeralContainers?: string[] } = {}) =>
  [
    `containers:\n${indent(containers.join("\n"), 2)}`,
    ...(more.initContainers ? [`initContainers:\n${indent(more.initContainers.join("\n"), 2)}`] : []),
    ...(more.ephemeralContainers ? [`ephemeralContainers:\n${indent(more.ephemeralContainers.join("\n"), 2)}`] : []),
  ].join("\n");

const pod = (name: string, spec: string) => `
apiVersion: v1
kind: Pod
metadata: { name: ${name}, namespace: shop }
spec:
${indent(spec, 2)}
`;

const deployment = (name: string, spec: string) => `
apiVersion: apps/v1
kind: Deployment
metadata: { name: ${name}, namespace: shop }
spec:
  selector: { matchLabels: { app: ${name} } }
  template:
    metadata: { labels: { app: ${name} } }
    spec:
${indent(spec, 6)}
`;

const cronJob = (name: string, spec: string) => `
apiVersion: batch/v1
kind: CronJob
metadata: { name: ${name}, namespace: shop }
spec:
  schedule: "0 3 * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: OnFailure
${indent(spec, 10)}
`;

const secret = (name: string, body: string) => `
apiVersion: v1
kind: Secret
metadata: { name: ${name}, namespace: shop }
${body.trim()}
`;

const supplyChainConfig = (allowedRegistries: string, ns = "vigil-system") => `
apiVersion: v1
kind: ConfigMap
metadata: { name: vigil-supply-chain, namespace: ${ns} }
data:
  allowedRegistries: "${allowedRegistries}"
`;

const exception = (name: string, policies: string[], resource: string, expires: string) => `
apiVersion: vigil.dev/v1alpha1
kind: PolicyException
metadata: { name: ${name} }
spec:
  policies: [${policies.join(", ")}]
  resources: [${resource}]
  justification: The legacy billing job moves to the secrets operator in Q3 (TICKET-1234).
  expires: "${expires}"
`;

const digest = `sha256:${"0123456789abcdef".repeat(4)}`;

// ---------------------------------------------------------------------------------------------------

describe("policy packs: structure", () => {
  for (const pack of ["rbac-least-privilege", "secrets-hygiene", "supply-chain"]) {
    it(`${pack}: every file is one ValidatingAdmissionPolicy and its Deny binding`, () => {
      const byFile = Map.groupBy(loadPack(pack), (so) => so.file);
      assert.ok(byFile.size >= 3);
      for (const [file, objects] of byFile) {
        assert.deepEqual(
          objects.map((o) => o.object.kind),
          ["ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"],
          file,
        );
        const [policy, binding] = objects.map((o) => o.object as Record<string, any>);
        assert.ok(policy && binding);
        assert.equal(policy.apiVersion, "admissionregistration.k8s.io/v1", file);
        assert.equal(binding.spec.policyName, policy.metadata.name, file);
        assert.deepEqual(binding.spec.validationActions, ["Deny"], file);
      }
    });
  }
});

describe("rbac-least-privilege", () => {
  const pack = "rbac-least-privilege";
  const readPods = `{ apiGroups: [""], resources: [pods, pods/log], verbs: [get, list, watch] }`;

  it("rbac-no-wildcards: names the rule index and the wildcard verb, group or resource", () => {
    const checks = run(pack, [
      role("Role", "reader", [readPods], "shop"),
      role("Role", "lazy", [readPods, `{ apiGroups: [apps], resources: [deployments], verbs: ["*"] }`], "shop"),
      role("ClusterRole", "scaler", [`{ apiGroups: ["*"], resources: ["*/scale"], verbs: [update] }`]),
    ]);
    assertPasses(checks, "rbac-no-wildcards", "Role/shop/reader");
    assertFails(checks, "rbac-no-wildcards", "Role/shop/lazy", /^rules\[1\]: verb "\*": name the verbs/);
    assertFails(checks, "rbac-no-wildcards", "ClusterRole/scaler", /rules\[0\]: apiGroup "\*", resource "\*\/scale"/);
  });

  it("rbac-no-escalation-verbs: escalate, bind and impersonate", () => {
    const checks = run(pack, [
      role("ClusterRole", "reader", [readPods]),
      role("ClusterRole", "binder", [
        `{ apiGroups: [rbac.authorization.k8s.io], resources: [clusterroles], verbs: [get, bind, escalate] }`,
      ]),
      role("Role", "sudo", [readPods, `{ apiGroups: [""], resources: [users, serviceaccounts], verbs: [impersonate] }`], "shop"),
    ]);
    assertPasses(checks, "rbac-no-escalation-verbs", "ClusterRole/reader");
    assertFails(
      checks,
      "rbac-no-escalation-verbs",
      "ClusterRole/binder",
      /rules\[0\]: verb bind on clusterroles, verb escalate on clusterroles/,
    );
    assertFails(checks, "rbac-no-escalation-verbs", "Role/shop/sudo", /rules\[1\]: verb impersonate on users, serviceaccounts/);
  });

  it("rbac-no-cluster-secret-read: a ClusterRole reading secrets fails; a Role may", () => {
    const readSecrets = `{ apiGroups: [""], resources: [configmaps, secrets], verbs: [get, list, create] }`;
    const checks = run(pack, [
      role("ClusterRole", "config-reader", [`{ apiGroups: [""], resources: [configmaps], verbs: [get, list] }`]),
      role("ClusterRole", "secret-reader", [readPods, readSecrets]),
      role("Role", "secret-reader", [readSecrets], "shop"),
    ]);
    assertPasses(checks, "rbac-no-cluster-secret-read", "ClusterRole/config-reader");
    assertFails(
      checks,
      "rbac-no-cluster-secret-read",
      "ClusterRole/secret-reader",
      /rules\[1\]: verbs get, list on secrets: a ClusterRole reads Secrets in every namespace/,
    );
    assertNotApplied(checks, "rbac-no-cluster-secret-read", "Role/shop/secret-reader");
  });

  it("rbac-no-node-proxy", () => {
    const checks = run(pack, [
      role("ClusterRole", "node-reader", [`{ apiGroups: [""], resources: [nodes, nodes/metrics], verbs: [get, list] }`]),
      role("ClusterRole", "kubelet-api", [`{ apiGroups: [""], resources: [nodes/proxy], verbs: [get] }`]),
    ]);
    assertPasses(checks, "rbac-no-node-proxy", "ClusterRole/node-reader");
    assertFails(
      checks,
      "rbac-no-node-proxy",
      "ClusterRole/kubelet-api",
      /rules\[0\]: verbs get on nodes\/proxy: nodes\/proxy reaches the kubelet API/,
    );
  });

  it("rbac-no-admin-bindings: cluster-admin, admin and edit only for system subjects", () => {
    const checks = run(pack, [
      roleBinding("ClusterRoleBinding", "masters", "cluster-admin", [
        `{ kind: Group, name: "system:masters", apiGroup: rbac.authorization.k8s.io }`,
      ]),
      roleBinding("RoleBinding", "viewers", "view", [`{ kind: User, name: jane, apiGroup: rbac.authorization.k8s.io }`], "shop"),
      roleBinding("RoleBinding", "editors", "edit", [`{ kind: User, name: jane, apiGroup: rbac.authorization.k8s.io }`], "shop"),
      roleBinding("ClusterRoleBinding", "everyone", "cluster-admin", [
        `{ kind: Group, name: "system:masters", apiGroup: rbac.authorization.k8s.io }`,
        `{ kind: Group, name: "system:authenticated", apiGroup: rbac.authorization.k8s.io }`,
        `{ kind: ServiceAccount, name: deployer, namespace: ci }`,
      ]),
      roleBinding(
        "RoleBinding",
        "all-sa",
        "admin",
        [`{ kind: Group, name: "system:serviceaccounts:shop", apiGroup: rbac.authorization.k8s.io }`],
        "shop",
      ),
    ]);
    assertPasses(checks, "rbac-no-admin-bindings", "ClusterRoleBinding/masters");
    assertPasses(checks, "rbac-no-admin-bindings", "RoleBinding/shop/viewers");
    assertFails(checks, "rbac-no-admin-bindings", "RoleBinding/shop/editors", /roleRef ClusterRole edit is bound to User jane:/);
    const everyone = assertFails(
      checks,
      "rbac-no-admin-bindings",
      "ClusterRoleBinding/everyone",
      /cluster-admin is bound to Group system:authenticated, ServiceAccount ci\/deployer:/,
    );
    assert.doesNotMatch(everyone.message, /system:masters/);
    assertFails(
      checks,
      "rbac-no-admin-bindings",
      "RoleBinding/shop/all-sa",
      /ClusterRole admin is bound to Group system:serviceaccounts:shop/,
    );
  });

  it("rbac-no-exec-in-production: Roles in production namespaces, and every ClusterRole", () => {
    const exec = `{ apiGroups: [""], resources: [pods/exec, pods/attach], verbs: [create, get] }`;
    const checks = run(pack, [
      namespace("shop", "production"),
      namespace("sandbox", "development"),
      role("Role", "debugger", [readPods, exec], "shop"),
      role("Role", "reader", [readPods], "shop"),
      role("Role", "debugger", [exec], "sandbox"),
      role("ClusterRole", "debugger", [exec]),
    ]);
    assertFails(
      checks,
      "rbac-no-exec-in-production",
      "Role/shop/debugger",
      /rules\[1\]: verbs create, get on pods\/exec, pods\/attach: interactive access to containers in production namespace shop/,
    );
    assertPasses(checks, "rbac-no-exec-in-production", "Role/shop/reader");
    assertNotApplied(checks, "rbac-no-exec-in-production", "Role/sandbox/debugger");
    assertFails(
      checks,
      "rbac-no-exec-in-production",
      "ClusterRole/debugger",
      /rules\[0\]: verbs create, get on pods\/exec, pods\/attach: .*in a ClusterRole/,
    );
  });
});

describe("secrets-hygiene", () => {
  const pack = "secrets-hygiene";

  it("secrets-no-plaintext-secrets: data or stringData in clear fails; empty, SOPS-encrypted and non-Secret kinds pass", () => {
    const sopsMetadata = `
sops:
  mac: ENC[AES256_GCM,data:Zm9vYmFy,iv:aXY=,tag:dGFn,type:str]
  lastmodified: "2026-01-01T00:00:00Z"
  encrypted_regex: ^(data|stringData)$
  version: 3.9.0`;
    const checks = run(pack, [
      secret("plain", `type: Opaque\ndata: { password: aHVudGVyMg== }\nstringData: { token: abc }`),
      secret("empty", `type: kubernetes.io/service-account-token`),
      secret("sops", `type: Opaque\ndata:\n  password: ENC[AES256_GCM,data:q83vQ==,iv:aXY=,tag:dGFn,type:str]\n${sopsMetadata}`),
      secret(
        "half-sops",
        `type: Opaque\ndata:\n  password: ENC[AES256_GCM,data:q83vQ==,iv:aXY=,tag:dGFn,type:str]\n  username: YWRtaW4=\n${sopsMetadata}`,
      ),
      secret("fake-sops", `type: Opaque\ndata: { password: "ENC[not really]" }\nsops: { version: 3.9.0 }`),
      // A SealedSecret is not a Secret (its CRD makes it a known kind).
      `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: { name: sealedsecrets.bitnami.com }
spec:
  group: bitnami.com
  names: { kind: SealedSecret, plural: sealedsecrets }
  scope: Namespaced
  versions: [{ name: v1alpha1, served: true, storage: true }]`,
      `apiVersion: bitnami.com/v1alpha1
kind: SealedSecret
metadata: { name: sealed, namespace: shop }
spec: { encryptedData: { password: AgBy3i4OJSWK+PiTySYZZA== } }`,
    ]);
    assertFails(
      checks,
      "secrets-no-plaintext-secrets",
      "Secret/shop/plain",
      /^Secret holds values in clear \(data\.password, stringData\.token\): encrypt it with SOPS/,
    );
    assertPasses(checks, "secrets-no-plaintext-secrets", "Secret/shop/empty");
    assertPasses(checks, "secrets-no-plaintext-secrets", "Secret/shop/sops");
    assertFails(
      checks,
      "secrets-no-plaintext-secrets",
      "Secret/shop/half-sops",
      /^SOPS-encrypted Secret has values left unencrypted \(data\.username\)/,
    );
    assertFails(checks, "secrets-no-plaintext-secrets", "Secret/shop/fake-sops", /values in clear \(data\.password\)/);
    assert.deepEqual(
      checks.filter((c) => c.subject === "SealedSecret/shop/sealed").map((c) => c.status),
      ["skip"],
    ); // coverage only
  });

  it("secrets-no-credential-env-names: a literal value in a variable named like a credential (Deployment, CronJob, init containers)", () => {
    const fine = [
      `{ name: DB_PASSWORD, valueFrom: { secretKeyRef: { name: db, key: password } } }`,
      `{ name: LOG_LEVEL, value: debug }`,
      `{ name: API_TOKEN, value: "" }`,
    ];
    const checks = run(pack, [
      deployment("web", podSpec([container("web", "nginx:1.27", fine)])),
      deployment(
        "api",
        podSpec([container("api", "api:1", [...fine, `{ name: Stripe_Api_Key, value: "k-123" }`, `{ name: DB_PASSWD, value: hunter2 }`])]),
      ),
      cronJob(
        "backup",
        podSpec([container("backup", "backup:1")], {
          initContainers: [container("fetch", "fetch:1", [`{ name: GITHUB_TOKEN, value: "t0ken" }`])],
        }),
      ),
    ]);
    assertPasses(checks, "secrets-no-credential-env-names", "Deployment/shop/web");
    const api = assertFails(
      checks,
      "secrets-no-credential-env-names",
      "Deployment/shop/api",
      /^container api: env Stripe_Api_Key, DB_PASSWD: a literal value in a variable named like a credential; take it from a Secret/,
    );
    assert.doesNotMatch(api.message, /hunter2|k-123/);
    assertFails(checks, "secrets-no-credential-env-names", "CronJob/shop/backup", /^container fetch: env GITHUB_TOKEN:/);
  });

  it("secrets-no-credential-env-values: known credential formats whatever the name, never echoing the value", () => {
    const ghToken = `ghp_${"A1b2C3d4E5".repeat(4)}`;
    const checks = run(pack, [
      pod("plain", podSpec([container("app", "app:1", [`{ name: GREETING, value: "hello AKIA" }`])])),
      deployment(
        "leaky",
        podSpec([container("app", "app:1", [`{ name: GREETING, value: "${ghToken}" }`, `{ name: AWS_ID, value: AKIAIOSFODNN7EXAMPLE }`])]),
      ),
      pod(
        "debug",
        podSpec([container("app", "app:1")], {
          ephemeralContainers: [container("debug", "busybox:1", [`{ name: KEY, value: "-----BEGIN RSA PRIVATE KEY-----\\nMIIE" }`])],
        }),
      ),
      cronJob("notify", podSpec([container("notify", "notify:1", [`{ name: HOOK, value: "xoxb-123456789012-abcdefghij" }`])])),
    ]);
    assertPasses(checks, "secrets-no-credential-env-values", "Pod/shop/plain");
    const leaky = assertFails(
      checks,
      "secrets-no-credential-env-values",
      "Deployment/shop/leaky",
      /^container app: env GREETING holds a GitHub token, env AWS_ID holds an AWS access key id: .*rotate it/,
    );
    assert.ok(!leaky.message.includes(ghToken) && !leaky.message.includes("AKIAIOSFODNN7EXAMPLE"));
    assertFails(checks, "secrets-no-credential-env-values", "Pod/shop/debug", /^container debug: env KEY holds a PEM private key/);
    assertFails(checks, "secrets-no-credential-env-values", "CronJob/shop/notify", /^container notify: env HOOK holds a Slack token/);
  });
});

describe("supply-chain", () => {
  const pack = "supply-chain";
  const config = supplyChainConfig("registry.example.com/, ghcr.io/acme");

  it("supply-chain-image-digest: every image, init and ephemeral ones included, pinned by @sha256 digest", () => {
    const checks = run(pack, [
      config,
      deployment(
        "pinned",
        podSpec([container("web", `registry.example.com/web:1.4@${digest}`)], {
          initContainers: [container("migrate", `registry.example.com/migrate@${digest}`)],
        }),
      ),
      deployment(
        "tagged",
        podSpec([container("web", `registry.example.com/web@${digest}`)], {
          initContainers: [container("migrate", "registry.example.com/migrate:1.4")],
        }),
      ),
      pod("short", podSpec([container("app", `registry.example.com/app@sha256:0123abcd`)])),
      cronJob("nightly", podSpec([container("job", "ghcr.io/acme/job:2")])),
    ]);
    assertPasses(checks, "supply-chain-image-digest", "Deployment/shop/pinned");
    assertFails(
      checks,
      "supply-chain-image-digest",
      "Deployment/shop/tagged",
      /^container migrate image registry\.example\.com\/migrate:1\.4: not pinned by digest/,
    );
    assertFails(
      checks,
      "supply-chain-image-digest",
      "Pod/shop/short",
      /container app image registry\.example\.com\/app@sha256:0123abcd: not pinned/,
    );
    assertFails(checks, "supply-chain-image-digest", "CronJob/shop/nightly", /container job image ghcr\.io\/acme\/job:2: not pinned/);
  });

  it("supply-chain-no-latest: :latest, or neither tag nor digest, fails; a registry port is not a tag", () => {
    const checks = run(pack, [
      config,
      deployment("tagged", podSpec([container("web", "registry.example.com:5000/web:1.4")])),
      deployment("pinned", podSpec([container("web", `registry.example.com:5000/web@${digest}`)])),
      deployment("latest", podSpec([container("web", `registry.example.com/web:latest@${digest}`)])),
      cronJob("bare", podSpec([container("job", "registry.example.com:5000/job")], { initContainers: [container("init", "busybox")] })),
    ]);
    assertPasses(checks, "supply-chain-no-latest", "Deployment/shop/tagged");
    assertPasses(checks, "supply-chain-no-latest", "Deployment/shop/pinned");
    assertFails(
      checks,
      "supply-chain-no-latest",
      "Deployment/shop/latest",
      /container web image registry\.example\.com\/web:latest@sha256:\w+ is tagged latest/,
    );
    assertFails(
      checks,
      "supply-chain-no-latest",
      "CronJob/shop/bare",
      /^container job image registry\.example\.com:5000\/job has neither tag nor digest, so it means latest; container init image busybox has neither/,
    );
  });

  it("supply-chain-allowed-registries: prefixes from the vigil-supply-chain ConfigMap, Docker Hub names in full", () => {
    const checks = run(pack, [
      config,
      deployment(
        "ours",
        podSpec([container("web", `registry.example.com/shop/web@${digest}`), container("side", `ghcr.io/acme@${digest}`)], {
          initContainers: [container("init", `ghcr.io/acme/init@${digest}`)],
        }),
      ),
      deployment("lookalike", podSpec([container("web", `ghcr.io/acme-evil/web@${digest}`)])),
      cronJob("hub", podSpec([container("job", `nginx@${digest}`), container("tool", `bitnami/kubectl@${digest}`)])),
    ]);
    assertPasses(checks, "supply-chain-allowed-registries", "Deployment/shop/ours");
    assertFails(
      checks,
      "supply-chain-allowed-registries",
      "Deployment/shop/lookalike",
      /container web image ghcr\.io\/acme-evil\/web@sha256:\w+: not from an allowed registry \(allowed: registry\.example\.com\/, ghcr\.io\/acme\)/,
    );
    assertFails(
      checks,
      "supply-chain-allowed-registries",
      "CronJob/shop/hub",
      /container job image nginx@sha256:\w+ \(docker\.io\/library\/nginx@sha256:\w+\); container tool image bitnami\/kubectl@sha256:\w+ \(docker\.io\/bitnami\/kubectl@sha256:\w+\): not from an allowed/,
    );

    const hub = run(pack, [supplyChainConfig("docker.io/library/"), cronJob("hub", podSpec([container("job", `nginx@${digest}`)]))]);
    assertPasses(hub, "supply-chain-allowed-registries", "CronJob/shop/hub");
  });

  it("supply-chain-allowed-registries: a missing ConfigMap fails (parameterNotFoundAction Deny), so does an empty list", () => {
    const web = deployment("web", podSpec([container("web", `registry.example.com/web@${digest}`)]));
    for (const manifests of [[web], [supplyChainConfig("registry.example.com/", "default"), web]]) {
      assertFails(
        run(pack, manifests),
        "supply-chain-allowed-registries",
        "Deployment/shop/web",
        /no params of kind ConfigMap found for binding supply-chain-allowed-registries-binding \(parameterNotFoundAction: Deny\)/,
      );
    }
    assertFails(
      run(pack, [supplyChainConfig(" , "), web]),
      "supply-chain-allowed-registries",
      "Deployment/shop/web",
      /^ConfigMap vigil-system\/vigil-supply-chain has no data\.allowedRegistries: list the allowed registry prefixes/,
    );
  });
});

describe("policy packs: exceptions", () => {
  const billing = deployment("billing", podSpec([container("billing", "billing:3", [`{ name: DB_PASSWORD, value: hunter2 }`])]));
  const excepted = exception(
    "billing-db-password",
    ["secrets-no-credential-env-names"],
    `{ kind: Deployment, namespace: shop, name: "bill*" }`,
    "2027-01-31T00:00:00Z",
  );

  it("an unexpired PolicyException turns the failure into a skip naming the exception", () => {
    const checks = run("secrets-hygiene", [billing], { exceptions: [excepted], now: new Date("2026-06-01T00:00:00Z") });
    const c = checkOf(checks, "secrets-no-credential-env-names", "Deployment/shop/billing");
    assert.equal(c.status, "skip");
    assert.match(
      c.message,
      /^excepted by billing-db-password \(\.vigil\/exceptions\/exceptions\.yaml:\d+\) until 2027-01-31T00:00:00\.000Z: The legacy billing job/,
    );
    assert.match(c.message, /\[was: container billing: env DB_PASSWORD: a literal value/);
  });

  it("an expired one no longer applies, and the failure says so", () => {
    const checks = run("secrets-hygiene", [billing], { exceptions: [excepted], now: new Date("2027-02-01T00:00:00Z") });
    assertFails(
      checks,
      "secrets-no-credential-env-names",
      "Deployment/shop/billing",
      /exception billing-db-password .* expired 2027-01-31/,
    );
  });
});
