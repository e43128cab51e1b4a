// deploy/admission.yaml on a real API server: installed as an admin would (kubectl apply --server-side),
// the webhook's pod is admitted under Pod Security "restricted", and `vigil admission` running as its
// service account (and nothing more) can do all it does: issue its Secret, keep its webhook
// configuration, use break-glass tokens up, and rotate; it cannot read other Secrets or touch workloads.
// The agent's service account can install and remove the packs' policies and bindings.
import { strict as assert } from "node:assert";
import { X509Certificate } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { startAdmission } from "../src/admission/admission.ts";
import { prepareAdmission } from "../src/agent/admission-policies.ts";
import { loadAdmissionConfig } from "../src/admission/config.ts";
import { ensureServingMaterial } from "../src/admission/tls.ts";
import { connectCluster } from "../src/cluster/index.ts";
import { loadManifests } from "../src/manifest/manifests.ts";
import { kubeApi, kubeForFile } from "./helpers/cluster.ts";
import { SshSigner, writePolicy } from "./helpers/git-fixture.ts";
import { kubectlBinary, requireKube } from "./helpers/kube.ts";
import { freePort } from "./helpers/registry.ts";
import { requireTools, run, tempDir } from "./helpers/tools.ts";

const kube = kubeForFile();
const deploy = new URL("../deploy/", import.meta.url).pathname;
const ACCOUNT = "system:serviceaccount:vigil-system:vigil-admission";
const AGENT = "system:serviceaccount:vigil-system:vigil-agent";

test("deploy/admission.yaml: the pod meets 'restricted', the service account can run the webhook and nothing else, and the agent's can install the packs", async (t) => {
  if (!requireKube(t, [kubectlBinary]) || !requireTools(t, ["ssh-keygen"])) return;
  const cluster = kube.cluster;
  const kubectl = (...args: string[]) => run(kubectlBinary, ["--kubeconfig", cluster.admin.kubeconfigPath, ...args]);
  kubectl(
    "apply",
    "--server-side",
    "--field-manager",
    "vigil-install",
    "-f",
    join(deploy, "00-namespace.yaml"),
    "-f",
    join(deploy, "admission.yaml"),
  );
  assert.equal((await kubeApi(cluster, "POST", "/api/v1/namespaces", { metadata: { name: "shop" } })).status, 201);

  const deployment = loadManifests([join(deploy, "admission.yaml")]).find((s) => s.object.kind === "Deployment")!.object as any;
  assert.equal(deployment.spec.replicas, 2);
  const pod = {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name: "admission-pod", labels: deployment.spec.template.metadata.labels },
    spec: deployment.spec.template.spec,
  };
  await kubeApi(cluster, "POST", "/api/v1/namespaces/vigil-system/serviceaccounts", { metadata: { name: "default" } });
  const admitted = await kubeApi(cluster, "POST", "/api/v1/namespaces/vigil-system/pods?dryRun=All", pod);
  assert.equal(admitted.status, 201, JSON.stringify(admitted.body));

  // The webhook as its service account alone (a client certificate with its user name and groups).
  const account = cluster.user(ACCOUNT, ["system:serviceaccounts", "system:serviceaccounts:vigil-system"]);
  const dir = tempDir(t, "vigil-admission-install-");
  const alice = new SshSigner(dir, "alice");
  const trust = writePolicy(join(dir, "trust.yaml"), {
    signers: [alice.policyEntry],
    admins: { members: ["alice"], threshold: 1 },
    paths: [{ pattern: "**", owners: ["alice"] }],
  });
  const port = await freePort();
  const configFile = join(dir, "admission.yaml");
  writeFileSync(
    configFile,
    `apiVersion: vigil.dev/v1alpha1
kind: AdmissionConfig
inventory: ${join(dir, "inventory")}
trustPolicy: ${trust}
listen: 127.0.0.1:${port}
cluster: { kubeconfig: ${account.kubeconfigPath} }
webhook: { url: "https://127.0.0.1:${port}" }
environments:
  - { name: shop-production, namespaces: [shop] }
`,
  );
  const running = await startAdmission(loadAdmissionConfig(configFile), () => {});
  t.after(() => running.stop());
  await running.checkCertificates();
  const vwc = await kubeApi(cluster, "GET", "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/vigil-admission");
  assert.equal(vwc.status, 200);

  // The agent, as its own service account, installs the packs (and removes them): its ClusterRole suffices.
  const agent = cluster.user(AGENT, ["system:serviceaccounts", "system:serviceaccounts:vigil-system"]);
  const asAgent = await connectCluster({ kubeconfig: agent.kubeconfigPath });
  t.after(() => asAgent.close());
  const environment = { name: "shop-production", namespaces: ["shop"] };
  const install = (packs: string[]) =>
    prepareAdmission({ environment, revision: "0".repeat(40), objects: [], policies: { cluster: asAgent, packs, exceptions: [] } });
  const [installed] = await install(["pss-restricted"]);
  assert.equal(installed!.status, "pass", installed!.message);
  const bindingPath = "/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicybindings/vigil-shop-production-pss-run-as-non-root";
  assert.equal((await kubeApi(cluster, "GET", bindingPath)).status, 200);
  const [removed] = await install([]);
  assert.match(removed!.message, /removed: .*binding vigil-shop-production-pss-run-as-non-root/);
  assert.equal((await kubeApi(cluster, "GET", bindingPath)).status, 404);

  // Nothing more: no other Secret, no workload.
  const can = async (resourceAttributes: Record<string, string>) => {
    const review = await kubeApi(cluster, "POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews", {
      apiVersion: "authorization.k8s.io/v1",
      kind: "SubjectAccessReview",
      spec: { user: ACCOUNT, groups: account.groups, resourceAttributes },
    });
    return review.body.status.allowed === true;
  };
  assert.equal(await can({ namespace: "vigil-system", verb: "get", resource: "secrets", name: "vigil-agent-state" }), false);
  // Break-glass tokens are used up by creating a ConfigMap; nothing else of ConfigMaps (the agent's among them).
  assert.equal(await can({ namespace: "vigil-system", verb: "create", resource: "configmaps" }), true);
  for (const verb of ["get", "update", "patch", "delete", "list"])
    assert.equal(await can({ namespace: "vigil-system", verb, resource: "configmaps", name: "vigil-triggers" }), false, verb);
  // The packs are the agent's to install, no more the webhook's.
  assert.equal(await can({ verb: "create", group: "admissionregistration.k8s.io", resource: "validatingadmissionpolicybindings" }), false);
  assert.equal(await can({ namespace: "shop", verb: "create", resource: "pods" }), false);
  assert.equal(
    await can({ verb: "patch", group: "admissionregistration.k8s.io", resource: "validatingwebhookconfigurations", name: "someone-elses" }),
    false,
  );
  assert.equal(
    await can({
      verb: "delete",
      group: "admissionregistration.k8s.io",
      resource: "validatingwebhookconfigurations",
      name: "vigil-admission",
    }),
    false,
  );
});

test("two replicas starting at once make one certificate: the second's write conflicts (409) and it serves what the first wrote", async (t) => {
  if (!requireKube(t)) return;
  const cluster = kube.cluster;
  await kubeApi(cluster, "POST", "/api/v1/namespaces", { metadata: { name: "replicas" } });
  const admin = await connectCluster({ kubeconfig: cluster.admin.kubeconfigPath });
  t.after(() => admin.close());
  const settings = {
    namespace: "replicas",
    secret: "vigil-admission-tls",
    validityMs: 3600_000,
    caValidityMs: 86_400_000,
    names: { dns: ["vigil-admission.replicas.svc"], ips: [] },
  };
  const published: string[] = [];
  const [a, b] = await Promise.all([0, 1].map(() => ensureServingMaterial(admin, settings, async (bundle) => void published.push(bundle))));
  assert.equal(a!.certPem, b!.certPem, "both replicas serve one certificate");
  assert.equal(a!.caBundle, b!.caBundle);
  const stored = await kubeApi(cluster, "GET", "/api/v1/namespaces/replicas/secrets/vigil-admission-tls");
  assert.equal(Buffer.from(stored.body.data["tls.crt"], "base64").toString(), a!.certPem);
  assert.ok(published.includes(a!.caBundle), "the bundle was published before the Secret was written");
  assert.match(new X509Certificate(a!.certPem).subjectAltName!, /DNS:vigil-admission\.replicas\.svc/);
});
