// No image goes unchecked: `vigil verify image --manifests` against a real registry with images signed
// by Vigil's cosign-compatible signer, on kinds Vigil has no table entry for. Images are found in pod
// specs and container lists wherever they appear (Argo Rollouts, Knative Services, Argo Workflows,
// PodTemplates, image volumes), and a kind Kubernetes does not define is blocked until the trust policy
// says where its images are or that it carries none. Nothing is pinned unless the verdict passes.
import { strict as assert } from "node:assert";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { signImage } from "../src/artifact/sign-image.ts";
import { cosignKeyPair, signingRegistry, type CosignKeyPair, type SigningRegistry } from "./helpers/image-signing.ts";
import { pushTestImage } from "./helpers/registry.ts";
import { fileScope, hasTool, requireTools, vigil } from "./helpers/tools.ts";

const scope = fileScope();
let s: SigningRegistry;
let ci: CosignKeyPair;

before(async () => {
  if (!hasTool("docker-registry") || !hasTool("cosign")) return;
  s = await signingRegistry(scope);
  ci = cosignKeyPair(s.dir, "ci");
});

const policy = (kinds = "") => `apiVersion: vigil.dev/v1alpha1
kind: TrustPolicy
images:
  - pattern: "${s.registry.host}/signed/**"
    signers: [{ key: ${JSON.stringify(ci.publicPem)} }]
${kinds ? `kinds:\n${kinds}` : ""}`;

type Checks = { status: string; rule: string; subject: string; message: string; code?: string }[];

function gate(name: string, manifests: string, trust = policy()) {
  writeFileSync(join(s.dir, `${name}.trust.yaml`), trust);
  writeFileSync(join(s.dir, `${name}.yaml`), manifests);
  const pinned = join(s.dir, `${name}.pinned.yaml`);
  const out = vigil([
    "verify",
    "image",
    "--manifests",
    join(s.dir, `${name}.yaml`),
    "--trust",
    join(s.dir, `${name}.trust.yaml`),
    "--pinned",
    pinned,
    "--allow-http-registry",
    "--json",
  ]);
  return { ...out, pinned, checks: () => out.json().checks as Checks };
}

async function image(repository: string, sign: boolean): Promise<{ tag: string; digest: string }> {
  const name = `${s.registry.host}/${repository}`;
  const pushed = await pushTestImage(s.client.repository(name), { tag: "v1" });
  if (sign) await signImage(s.client, `${name}:v1`, ci.signing);
  return { tag: `${name}:v1`, digest: pushed.descriptor.digest };
}

const rollout = (img: string) => `apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: { name: web, namespace: shop }
spec:
  strategy: { canary: { steps: [{ setWeight: 20 }] } }
  template:
    spec:
      containers: [{ name: web, image: "${img}" }]
`;

describe("artifact gate: images in every kind", () => {
  it("checks a CRD's pod template (Argo Rollout) and still blocks the undeclared kind, writing nothing", async (t) => {
    if (!requireTools(t, ["docker-registry", "cosign"])) return;
    const unsigned = await image("signed/rollout", false);
    const out = gate("rollout", rollout(unsigned.tag));
    assert.equal(out.status, 1, out.stdout + out.stderr);
    const checks = out.checks();
    assert.deepEqual(
      checks.map((c) => [c.rule, c.status]),
      [
        ["image-signature", "fail"],
        ["image-locations", "fail"],
      ],
    );
    assert.equal(checks[0]!.subject, `Rollout/shop/web container web: ${unsigned.tag}`);
    assert.match(
      checks[1]!.message,
      /Rollout \(argoproj\.io\) is not a Kubernetes kind .*add \{ group: "argoproj\.io", kind: Rollout \} under kinds in .* with where its images are, as lists of field paths: images \(image references\), podSpecs \(pod specs\), containerLists \(lists of containers\) or containers \(single containers\); or with carriesNoImages: true if it runs none$/,
    );
    assert.equal(checks[1]!.code, "undeclared-kind");
    assert.equal(existsSync(out.pinned), false);
  });

  it("passes a declared kind whose images are signed, and pins them where they were found", async (t) => {
    if (!requireTools(t, ["docker-registry", "cosign"])) return;
    const web = await image("signed/knative", true);
    const knative = `apiVersion: serving.knative.dev/v1
kind: Service
metadata: { name: hello, namespace: shop }
spec:
  template:
    spec:
      containers: [{ image: "${web.tag}" }]
`;
    const out = gate("knative", knative, policy(`  - { group: serving.knative.dev, kind: Service, carriesNoImages: true }\n`));
    assert.equal(out.status, 0, out.stdout + out.stderr);
    assert.deepEqual(
      out.checks().map((c) => c.status),
      ["pass"],
    );
    assert.match(readFileSync(out.pinned, "utf8"), new RegExp(`image: ${web.tag}@${web.digest}`));
  });

  it("finds Argo Workflow containers and scripts, and a declared path the finder could not guess", async (t) => {
    if (!requireTools(t, ["docker-registry", "cosign"])) return;
    const step = await image("signed/step", true);
    const script = await image("signed/script", true);
    const base = await image("unlisted/base", true);
    const workflow = `apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: { name: build, namespace: ci }
spec:
  entrypoint: main
  builder: { baseImage: "${base.tag}" }
  templates:
    - name: main
      container: { image: "${step.tag}", command: [make] }
    - name: report
      script: { image: "${script.tag}", source: "echo done" }
`;
    const undeclared = gate("workflow", workflow);
    assert.equal(undeclared.status, 1);
    const blocked = undeclared.checks();
    assert.deepEqual(
      blocked.map((c) => c.status),
      ["pass", "pass", "fail"],
    );
    assert.match(blocked[2]!.message, /fields that may hold images: spec\.builder\.baseImage/);
    const declared = gate(
      "workflow-declared",
      workflow,
      policy(`  - { group: argoproj.io, kind: Workflow, images: ["spec.builder.baseImage", "spec.templates[*].container.image"] }\n`),
    );
    assert.equal(declared.status, 1, "the declared base image is checked, and no rule covers it");
    const checks = declared.checks();
    assert.deepEqual(
      checks.map((c) => c.status),
      ["pass", "pass", "fail"],
    );
    assert.match(checks[2]!.subject, /Workflow\/ci\/build spec\.builder\.baseImage: .*unlisted\/base:v1/);
    assert.match(checks[2]!.message, /no rule in the trust policy's images covers/);
    assert.equal(checks[2]!.code, "no-image-rule");
  });

  it("checks PodTemplates and image volumes", async (t) => {
    if (!requireTools(t, ["docker-registry", "cosign"])) return;
    const app = await image("signed/app", true);
    const models = await image("signed/models", false);
    const podTemplate = `apiVersion: v1
kind: PodTemplate
metadata: { name: batch, namespace: shop }
template:
  spec:
    containers: [{ name: app, image: "${app.tag}" }]
    volumes:
      - name: models
        image: { reference: "${models.tag}", pullPolicy: IfNotPresent }
`;
    const out = gate("podtemplate", podTemplate);
    assert.equal(out.status, 1);
    const checks = out.checks();
    assert.deepEqual(
      checks.map((c) => [c.subject.replace(/:.*/, ""), c.status]),
      [
        ["PodTemplate/shop/batch container app", "pass"],
        ["PodTemplate/shop/batch volume models (image)", "fail"],
      ],
    );
    assert.equal(existsSync(out.pinned), false);
  });

  it("passes a declared kind without images, fails an empty set, and refuses a bad declared path (exit 2)", async (t) => {
    if (!requireTools(t, ["docker-registry", "cosign"])) return;
    const certificate = `apiVersion: cert-manager.io/v1
kind: Certificate
metadata: { name: web, namespace: shop }
spec: { secretName: web-tls, dnsNames: [shop.example.com] }
`;
    assert.equal(gate("cert", certificate).status, 1, "undeclared: blocked");
    const declared = gate(
      "cert-declared",
      certificate,
      policy(`  - { group: cert-manager.io, kind: Certificate, carriesNoImages: true }\n`),
    );
    assert.equal(declared.status, 0, declared.stdout + declared.stderr);
    assert.match(declared.checks()[0]!.message, /run no images/);
    const empty = gate("empty", "");
    assert.equal(empty.status, 1);
    assert.match(empty.checks()[0]!.message, /no manifests under .*empty\.yaml/);
    assert.equal(existsSync(empty.pinned), false);
    const bad = gate("bad-path", certificate, policy(`  - { group: cert-manager.io, kind: Certificate, images: ["spec..image"] }\n`));
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /bad-path\.trust\.yaml:\d+ kinds\[0\]\.images\[0\]: "spec\.\.image" is not a field path/);
  });
});
