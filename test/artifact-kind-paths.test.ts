// A trust policy's `kinds` entry may say where a custom kind keeps pod specs, lists of containers and
// single containers: a Tekton Task's `spec.steps`, an Argo Workflows template's `container`. The
// artifact gate verifies every image there (a real registry, images signed by Vigil's cosign-compatible
// signer) and refuses a declared place that holds no readable container; an undeclared kind with an
// image-shaped field stays blocked beside the declared ones.
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

const declarations = `  - { group: tekton.dev, kind: Task, containerLists: ["spec.steps", "spec.sidecars"] }
  - { group: argoproj.io, kind: Workflow, containers: ["spec.templates[*].container", "spec.templates[*].script"] }
`;

const policy = (kinds = declarations) => `apiVersion: vigil.dev/v1alpha1
kind: TrustPolicy
images:
  - pattern: "${s.registry.host}/signed/**"
    signers: [{ key: ${JSON.stringify(ci.publicPem)} }]
kinds:
${kinds}`;

type Checks = { status: string; rule: string; subject: string; message: string }[];

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

async function image(repository: string, sign: boolean): Promise<string> {
  const name = `${s.registry.host}/${repository}`;
  await pushTestImage(s.client.repository(name), { tag: "v1" });
  if (sign) await signImage(s.client, `${name}:v1`, ci.signing);
  return `${name}:v1`;
}

// A Tekton Task as tekton.dev/v1 writes it: steps and sidecars are container lists under names the
// finder does not know.
const task = (steps: string, sidecars = "[]") => `apiVersion: tekton.dev/v1
kind: Task
metadata: { name: build, namespace: ci }
spec:
  params: [{ name: revision, type: string }]
  steps: ${steps}
  sidecars: ${sidecars}
`;

// An Argo Workflow whose templates hold single containers.
const workflow = (container: string, script: string) => `apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: { generateName: release-, name: release, namespace: ci }
spec:
  entrypoint: main
  templates:
    - name: main
      steps: [[{ name: build, template: build }], [{ name: report, template: report }]]
    - name: build
      container: ${container}
    - name: report
      script: ${script}
`;

describe("artifact gate: container lists and single containers a trust policy declares", () => {
  it("verifies a Task's steps and sidecars and a Workflow's containers, and pins them where they are", async (t) => {
    if (!requireTools(t, ["docker-registry", "cosign"])) return;
    const compile = await image("signed/compile", true);
    const cache = await image("signed/cache", true);
    const build = await image("signed/build", true);
    const report = await image("signed/report", true);
    const out = gate(
      "declared",
      [
        task(`[{ name: compile, image: "${compile}", script: "make" }]`, `[{ name: cache, image: "${cache}" }]`),
        workflow(`{ image: "${build}", command: [make] }`, `{ image: "${report}", source: "echo done" }`),
      ].join("---\n"),
    );
    assert.equal(out.status, 0, out.stdout + out.stderr);
    const checks = out.checks();
    assert.deepEqual(
      checks.map((c) => [c.subject.replace(/: .*/, ""), c.status]),
      [
        ["Task/ci/build container compile (spec.steps[0])", "pass"],
        ["Task/ci/build container cache (spec.sidecars[0])", "pass"],
        ["Workflow/ci/release container (spec.templates[1].container)", "pass"],
        ["Workflow/ci/release container (spec.templates[2].script)", "pass"],
      ],
    );
    const pinned = readFileSync(out.pinned, "utf8");
    for (const img of [compile, cache, build, report]) assert.match(pinned, new RegExp(`image: ${img}@sha256:[0-9a-f]{64}`));
  });

  it("blocks an unsigned step, and an undeclared kind with an image-shaped field beside the declared ones", async (t) => {
    if (!requireTools(t, ["docker-registry", "cosign"])) return;
    const unsigned = await image("signed/unsigned-step", false);
    const base = await image("signed/base", true);
    const pipeline = `apiVersion: example.dev/v1
kind: Builder
metadata: { name: images, namespace: ci }
spec: { builder: { baseImage: "${base}" } }
`;
    const out = gate("blocked", [task(`[{ name: compile, image: "${unsigned}" }]`), pipeline].join("---\n"));
    assert.equal(out.status, 1, out.stdout + out.stderr);
    const checks = out.checks();
    assert.deepEqual(
      checks.map((c) => [c.rule, c.status]),
      [
        ["image-signature", "fail"],
        ["image-locations", "fail"],
      ],
    );
    assert.equal(checks[0]!.subject, `Task/ci/build container compile (spec.steps[0]): ${unsigned}`);
    assert.match(checks[1]!.message, /Builder \(example\.dev\) is not a Kubernetes kind.*spec\.builder\.baseImage/s);
    assert.equal(existsSync(out.pinned), false);
  });

  it("refuses a declared step without an image, a declared container that is not one, and a bad path (exit 2)", async (t) => {
    if (!requireTools(t, ["docker-registry", "cosign"])) return;
    const noImage = gate("no-image", task(`[{ name: compile, script: "make" }]`));
    assert.equal(noImage.status, 2, noImage.stdout + noImage.stderr);
    assert.match(noImage.stderr, /no-image\.yaml:1: Task\/ci\/build container compile \(spec\.steps\[0\]\) has no image/);
    const notContainer = gate("not-container", workflow('"registry.example.com/x:1"', "{ image: registry.example.com/y:1 }"));
    assert.equal(notContainer.status, 2, notContainer.stdout + notContainer.stderr);
    assert.match(
      notContainer.stderr,
      /spec\.templates\[1\]\.container.*declared as a container, it is not a mapping, as the trust policy's kinds says/,
    );
    const notList = gate("not-list", task("{ name: compile, image: registry.example.com/x:1 }"));
    assert.equal(notList.status, 2, notList.stdout + notList.stderr);
    assert.match(notList.stderr, /spec\.steps: declared as a container list, it is not a list/);
    const badPath = gate("bad-path", task("[]"), policy(`  - { group: tekton.dev, kind: Task, containerLists: ["spec.steps[x]"] }\n`));
    assert.equal(badPath.status, 2);
    assert.match(badPath.stderr, /bad-path\.trust\.yaml:\d+ kinds\[0\]\.containerLists\[0\]: "spec\.steps\[x\]" is not a field path/);
    const empty = gate("empty-entry", task("[]"), policy(`  - { group: tekton.dev, kind: Task }\n`));
    assert.equal(empty.status, 2);
    assert.match(
      empty.stderr,
      /kinds\[0\].*say where its images are \(images, podSpecs, containerLists or containers\), or write carriesNoImages: true/,
    );
  });
});
