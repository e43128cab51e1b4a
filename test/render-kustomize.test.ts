// Render, Kustomize overlays: built by the pinned kustomize exactly as kustomize builds them (its own
// output is the reference), each object attributed to the file it came from; and everything that would
// run code, fetch from outside the signed revision or read outside its boundary refused with its
// reason before kustomize runs (the refusal tests point at a kustomize that does not exist: had Vigil
// run it, they would see "unavailable", not the refusal).
import { strict as assert } from "node:assert";
import { mkdirSync, readFileSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { describe, it, type TestContext } from "node:test";
import { ExitCode, UnavailableError } from "../src/core/errors.ts";
import { parseManifests } from "../src/manifest/manifests.ts";
import { DEFAULT_KUSTOMIZE_PATH, KUSTOMIZE_VERSION, kustomizeBinary, renderDirectory } from "../src/render/index.ts";
import { checkout, renderRefusal, writeTree } from "./helpers/render-fixture.ts";
import { requireTools, run, tempDir } from "./helpers/tools.ts";

const base = {
  "base/kustomization.yaml": "resources:\n- deployment.yaml\n- service.yaml\n",
  "base/deployment.yaml": `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: registry.example.com/web:1.0
        envFrom: [{configMapRef: {name: web-config}}]
`,
  "base/service.yaml": `apiVersion: v1
kind: ServiceAccount
metadata: {name: web}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
`,
};

const overlay = {
  ...base,
  "components/debug/kustomization.yaml": `apiVersion: kustomize.config.k8s.io/v1alpha1
kind: Component
commonAnnotations: {example.com/debug: "true"}
`,
  "envs/prod/kustomization.yaml": `apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: shop
namePrefix: prod-
labels:
- pairs: {env: prod}
  includeSelectors: false
resources:
- ../../base
components:
- ../../components/debug
images:
- name: registry.example.com/web
  newTag: "1.1"
patches:
- path: replicas.yaml
- target: {kind: Service, name: web}
  patch: |-
    - op: replace
      path: /spec/ports/0/port
      value: 8443
configMapGenerator:
- name: web-config
  literals: [MODE=production]
  files: [settings.properties]
`,
  "envs/prod/replicas.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec: {replicas: 3}\n",
  "envs/prod/settings.properties": "cache=on\n",
};

/** kustomize's own build of a folder: the reference. */
function kustomizeItself(dir: string): unknown[] {
  return parseManifests(run(kustomizeBinary(), ["build", dir]), "kustomize").map((s) => s.object);
}

function needKustomize(t: TestContext): boolean {
  return requireTools(t, ["kustomize"]);
}

/** A kustomize that is not there: a refusal made before kustomize runs is the only way to see InputError. */
const notRun = { kustomize: "/nonexistent/kustomize" };

describe("render: kustomize overlays", () => {
  it("builds an overlay (base, component, patches, namePrefix, namespace, images, configMapGenerator) as kustomize does", async (t) => {
    if (!needKustomize(t)) return;
    const root = checkout(t, overlay);
    const rendered = await renderDirectory(root, "envs/prod");
    assert.deepEqual(
      rendered.map((s) => s.object),
      kustomizeItself(join(root, "envs/prod")),
    );
    const byKind = Object.fromEntries(rendered.map((s) => [s.object.kind, s]));
    // The generated ConfigMap is named with its content hash, and the Deployment refers to that name.
    const cm = byKind.ConfigMap!.object;
    assert.match(cm.metadata!.name!, /^prod-web-config-[a-z0-9]{10}$/);
    assert.deepEqual(cm.data, { MODE: "production", "settings.properties": "cache=on\n" });
    const deployment = byKind.Deployment!.object as any;
    assert.equal(deployment.spec.replicas, 3);
    assert.equal(deployment.spec.template.spec.containers[0].image, "registry.example.com/web:1.1");
    assert.equal(deployment.spec.template.spec.containers[0].envFrom[0].configMapRef.name, cm.metadata!.name);
    assert.deepEqual(deployment.metadata, {
      name: "prod-web",
      namespace: "shop",
      labels: { env: "prod" },
      annotations: { "example.com/debug": "true" },
    });
    assert.equal((byKind.Service!.object as any).spec.ports[0].port, 8443);
  });

  it("attributes each object to the file it came from, generated ones to the kustomization, and leaves no origin annotation", async (t) => {
    if (!needKustomize(t)) return;
    const root = checkout(t, overlay);
    const rendered = await renderDirectory(root, "envs/prod");
    assert.deepEqual(rendered.map((s) => [s.object.kind, s.file, s.line]).sort(), [
      ["ConfigMap", "envs/prod/kustomization.yaml", 1],
      ["Deployment", "base/deployment.yaml", 1],
      ["Service", "base/service.yaml", 5],
      ["ServiceAccount", "base/service.yaml", 1],
    ]);
    assert.ok(rendered.every((s) => !JSON.stringify(s.object).includes("config.kubernetes.io/origin")));
  });

  it("keeps the top kustomization's sortOptions and buildMetadata, and reads a file named Kustomization", async (t) => {
    if (!needKustomize(t)) return;
    const root = checkout(t, {
      ...base,
      "envs/prod/Kustomization": `resources: [../../base, extra.yaml]
sortOptions: {order: fifo}
buildMetadata: [originAnnotations, managedByLabel]
`,
      "envs/prod/extra.yaml": "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n",
    });
    const rendered = await renderDirectory(root, "envs/prod");
    const reference = kustomizeItself(join(root, "envs/prod"));
    // fifo keeps the listed order (legacy order would put the Namespace first); the origin annotations
    // the kustomization asks for are kept, and say the same as kustomize's own.
    assert.deepEqual(
      rendered.map((s) => (s.object as any).kind),
      ["Deployment", "ServiceAccount", "Service", "Namespace"],
    );
    assert.deepEqual(
      rendered.map((s) => (s.object as any).metadata.labels),
      reference.map((o: any) => o.metadata.labels),
    );
    assert.deepEqual(
      rendered.map((s) => (s.object as any).metadata.annotations["config.kubernetes.io/origin"]),
      reference.map((o: any) => o.metadata.annotations["config.kubernetes.io/origin"]),
    );
    assert.equal(rendered[3]!.file, "envs/prod/extra.yaml");
  });

  it("reports a kustomization that fails to build as bad input, naming it and giving kustomize's message", async (t) => {
    if (!needKustomize(t)) return;
    const root = checkout(t, {
      ...base,
      "envs/prod/kustomization.yaml": "resources: [../../base]\npatches:\n- path: missing-target.yaml\n",
      "envs/prod/missing-target.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: api}\nspec: {replicas: 2}\n",
    });
    const e = await renderRefusal(renderDirectory(root, "envs/prod"));
    assert.equal(e.exitCode, ExitCode.badInput);
    assert.match(
      e.message,
      /^envs\/prod\/kustomization\.yaml: kustomize build failed: .*no resource matches strategic merge patch "Deployment\.v1\.apps\/api/s,
    );
    assert.ok(!e.message.includes(root), "files are named relative to the revision, not the checkout's location");
  });

  it("stops kustomize at the time limit and the output limit", async (t) => {
    if (!needKustomize(t)) return;
    const root = checkout(t, overlay);
    assert.match(
      (await renderRefusal(renderDirectory(root, "envs/prod", { maxOutputBytes: 200 }))).message,
      /kustomize rendered more than 200 bytes/,
    );
    assert.match(
      (await renderRefusal(renderDirectory(root, "envs/prod", { timeoutMs: 1 }))).message,
      /kustomize did not finish within 0\.001 s/,
    );
  });

  it("runs kustomize under a memory limit (issue 15 §3): a build that needs more is refused naming the limit", async (t) => {
    if (!needKustomize(t)) return;
    const root = checkout(t, overlay);
    // 64 MiB is less than Go's runtime alone asks for: any build passes the limit, so this shows it is enforced.
    const refused = await renderRefusal(renderDirectory(root, "envs/prod", { memoryLimitBytes: 64 << 20 }));
    assert.equal(refused.exitCode, ExitCode.badInput);
    assert.match(refused.message, /^envs\/prod\/kustomization\.yaml: kustomize needed more than its memory limit of 64 MiB/);
    assert.ok((await renderDirectory(root, "envs/prod")).length > 0, "the default limit builds the overlay");
  });

  it("refuses a kustomize binary that is missing or not the pinned release (unavailable, exit 3)", async (t) => {
    const root = checkout(t, overlay);
    const missing = await renderDirectory(root, "envs/prod", notRun).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(missing instanceof UnavailableError && missing.exitCode === ExitCode.unavailable);
    assert.match(missing.message, /kustomize v5\.8\.2 is not at \/nonexistent\/kustomize: run "node scripts\/setup\.ts"/);
    const other = await renderDirectory(root, "envs/prod", { kustomize: "/bin/echo" }).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(other instanceof UnavailableError);
    assert.match(other.message, /\/bin\/echo is kustomize version, not the pinned v5\.8\.2/);
  });
});

describe("render: kustomizations refused before kustomize runs", () => {
  /** Renders envs/prod of a checkout of `files`, with `kustomization` as its kustomization, and returns the refusal. */
  async function refused(t: TestContext, kustomization: string, files: Record<string, string> = {}): Promise<string> {
    const root = checkout(t, { ...base, ...files, "envs/prod/kustomization.yaml": kustomization });
    const e = await renderRefusal(renderDirectory(root, "envs/prod", notRun));
    assert.equal(e.exitCode, ExitCode.badInput);
    return e.message;
  }

  it("an exec KRM function, inline", async (t) => {
    const message = await refused(
      t,
      `resources: [../../base]
transformers:
- |
  apiVersion: example.com/v1
  kind: AddSidecar
  metadata:
    name: sidecar
    annotations:
      config.kubernetes.io/function: |
        exec:
          path: ./add-sidecar.sh
`,
    );
    assert.match(
      message,
      /^envs\/prod\/kustomization\.yaml:3 transformers\[0\]: example\.com\/v1 AddSidecar has the config\.kubernetes\.io\/function annotation: a KRM function runs a program or a container/,
    );
  });

  it("a container KRM function in a generators file, and the legacy annotation", async (t) => {
    const gen = `apiVersion: example.com/v1
kind: SecretsFromVault
metadata:
  name: vault
  annotations:
    config.kubernetes.io/function: |
      container:
        image: example.com/vault-generator:1
`;
    assert.match(
      await refused(t, "generators: [gen.yaml]\n", { "envs/prod/gen.yaml": gen }),
      /^envs\/prod\/kustomization\.yaml:1 generators\[0\]: example\.com\/v1 SecretsFromVault has the config\.kubernetes\.io\/function annotation/,
    );
    const legacy = gen.replace("config.kubernetes.io/function", "config.k8s.io/function");
    assert.match(
      await refused(t, "validators: [v.yaml]\n", { "envs/prod/v.yaml": legacy }),
      /validators\[0\]: .* has the config\.k8s\.io\/function annotation/,
    );
  });

  it("a plugin kustomize would look up as an external (Go or exec) plugin", async (t) => {
    const message = await refused(
      t,
      "transformers:\n- |\n  apiVersion: someteam.example.com/v1\n  kind: ChartInflator\n  metadata: {name: x}\n",
    );
    assert.match(
      message,
      /transformers\[0\]: someteam\.example\.com\/v1 ChartInflator is not a builtin plugin \(apiVersion: builtin\): kustomize would look it up as an external plugin, which runs code/,
    );
    assert.match(
      await refused(t, "generators:\n- |\n  apiVersion: builtin\n  kind: HelmChartInflationGenerator\n  metadata: {name: x}\n"),
      /builtin HelmChartInflationGenerator runs the helm program/,
    );
    assert.match(
      await refused(t, "transformers:\n- |\n  apiVersion: builtin\n  kind: RunScript\n  metadata: {name: x}\n"),
      /builtin RunScript is not one of kustomize v5\.8\.2's builtin plugins/,
    );
  });

  it("a plugin entry that is neither YAML objects Vigil can read nor a file (kustomize's parser might read it differently)", async (t) => {
    assert.match(
      await refused(t, 'transformers:\n- "apiVersion: builtin\\n\\tkind: X"\n'),
      /transformers\[0\]: neither plugin configs written inline that Vigil can read \(YAML objects\) nor a file in the revision/,
    );
    assert.match(await refused(t, "transformers: [missing.yaml]\n"), /transformers\[0\]: neither plugin configs/);
    assert.match(
      await refused(t, "resources: [../../base]\npatchesStrategicMerge: [missing.yaml]\n"),
      /patchesStrategicMerge\[0\]: neither a strategic merge patch written inline/,
    );
  });

  it("helmCharts, also in a base", async (t) => {
    assert.match(
      await refused(t, "helmCharts:\n- name: redis\n  repo: https://charts.example.com\n"),
      /^envs\/prod\/kustomization\.yaml:2 helmCharts: Helm charts are not rendered: inflating a chart runs the helm program/,
    );
    const message = await refused(t, "resources: [../../base, ../../charts]\n", {
      "charts/kustomization.yaml": "resources: []\nhelmGlobals: {chartHome: charts}\n",
    });
    assert.match(message, /^charts\/kustomization\.yaml:2 helmGlobals: Helm charts are not rendered/);
  });

  it("remote resources: a URL, an scp-style Git address, and a Git base that is not in the revision", async (t) => {
    assert.match(
      await refused(t, "resources:\n- https://github.com/kubernetes-sigs/kustomize//examples/helloWorld?ref=v5.8.2\n"),
      /^envs\/prod\/kustomization\.yaml:2 resources\[0\]: "https:\/\/github\.com\/.*" is a URL \(https:\/\/\): a remote base would bypass the signed revision\. Vendor it into the repository/,
    );
    assert.match(
      await refused(t, "resources:\n- git@github.com:example/config.git//base\n"),
      /resources\[0\]: .* is a remote Git repository \(scp-style address\): a remote base would bypass the signed revision/,
    );
    assert.match(
      await refused(t, "bases:\n- github.com/example/config/base?ref=v1\n"),
      /bases\[0\]: "github\.com\/example\/config\/base\?ref=v1" is not in the revision .*kustomize would try to fetch it as a remote Git base, which Vigil refuses/,
    );
  });

  it("a file kustomize would download: a patch or a generator's file given as a URL", async (t) => {
    assert.match(
      await refused(t, "resources: [../../base]\npatches:\n- path: https://example.com/patch.yaml\n"),
      /patches\[0\]\.path: "https:\/\/example\.com\/patch\.yaml" is a URL \(https:\/\/\): kustomize would download it/,
    );
    assert.match(
      await refused(t, "configMapGenerator:\n- name: c\n  files: [conf=http://169.254.169.254/latest/meta-data]\n"),
      /configMapGenerator\[0\]\.files\[0\]: "http:\/\/169\.254\.169\.254\/latest\/meta-data" is a URL/,
    );
  });

  it("a base whose path escapes the root with ../, and one reached through a symbolic link out of it", async (t) => {
    const root = checkout(t, { ...base, "envs/prod/kustomization.yaml": "resources: [../../../outside]\n" });
    writeTree(join(root, ".."), {
      "outside/kustomization.yaml": "resources: [cm.yaml]\n",
      "outside/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: unsigned}\n",
    });
    const e = await renderRefusal(renderDirectory(root, "envs/prod", notRun));
    assert.match(
      e.message,
      /^envs\/prod\/kustomization\.yaml:1 resources\[0\]: "\.\.\/\.\.\/\.\.\/outside" leaves the revision's root: everything rendered must come from the signed revision/,
    );
    const linked = checkout(t, { ...base, "envs/prod/kustomization.yaml": "resources: [base]\n" });
    symlinkSync(join(root, "..", "outside"), join(linked, "envs/prod/base"));
    assert.match(
      (await renderRefusal(renderDirectory(linked, "envs/prod", notRun))).message,
      /resources\[0\]: "base" leaves the revision's root/,
    );
  });

  it("a kustomization file that is a symbolic link out of its folder is not even read", async (t) => {
    const { "base/kustomization.yaml": _, ...baseFiles } = base;
    const root = checkout(t, { ...baseFiles, "envs/prod/kustomization.yaml": "resources: [../../base]\n" });
    writeTree(join(root, ".."), { "private.yaml": "password: [not yaml\n" });
    symlinkSync(join(root, "..", "private.yaml"), join(root, "base", "kustomization.yaml"));
    const e = await renderRefusal(renderDirectory(root, "envs/prod", notRun));
    assert.match(e.message, /^base\/kustomization\.yaml: a symbolic link out of its folder/);
    assert.ok(!e.message.includes("password"));
  });

  it("a file outside the kustomization's folder (kustomize's root-only rule), and an absolute path", async (t) => {
    const files = { "envs/shared/ns.yaml": "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n" };
    assert.match(
      await refused(t, "resources: [../../base, ../shared/ns.yaml]\n", files),
      /resources\[1\]: "\.\.\/shared\/ns\.yaml" is outside the kustomization's folder: kustomize's root-only load restriction forbids files from elsewhere/,
    );
    assert.match(
      await refused(t, "resources: [../../base]\npatches: [{path: ../shared/ns.yaml}]\n", files),
      /patches\[0\]\.path: "\.\.\/shared\/ns\.yaml" is outside the kustomization's folder/,
    );
    assert.match(await refused(t, "resources: [/etc]\n"), /resources\[0\]: "\/etc" is an absolute path/);
  });

  it("a field kustomize v5.8.2 does not have", async (t) => {
    assert.match(
      await refused(t, "resources: [../../base]\nremoteResources: [x]\n"),
      /^envs\/prod\/kustomization\.yaml:2 remoteResources: unknown field "remoteResources"/,
    );
  });

  it("a refusal deep in the tree names the base's own kustomization", async (t) => {
    const message = await refused(t, "resources: [../../base, ../../apps/api]\n", {
      "apps/api/kustomization.yaml": "resources: [../../lib/remote]\n",
      "lib/remote/kustomization.yaml": "resources:\n- ssh://git@example.com/lib.git\n",
    });
    assert.match(message, /^lib\/remote\/kustomization\.yaml:2 resources\[0\]: "ssh:\/\/git@example\.com\/lib\.git" is a URL \(ssh:\/\/\)/);
  });
});

describe("render: kustomize's own refusals agree", () => {
  // What kustomize does with the same input without Vigil's checks: it refuses the plugins itself
  // (no --enable-alpha-plugins), so Vigil's check is a clearer message and a second line of defence.
  it("kustomize without plugin flags refuses an external plugin too", (t) => {
    if (!needKustomize(t)) return;
    const dir = tempDir(t);
    mkdirSync(join(dir, "env"));
    writeTree(dir, {
      "env/kustomization.yaml": "transformers:\n- |\n  apiVersion: example.com/v1\n  kind: AddSidecar\n  metadata: {name: x}\n",
    });
    assert.throws(
      () => run(kustomizeBinary(), ["build", join(dir, "env")], { env: {} }),
      /external plugins disabled; unable to load external plugin 'AddSidecar'/,
    );
  });
});

describe("the kustomize release", () => {
  it("is pinned once: the setup build and deploy's image install the release the render stage checks for", () => {
    const containerfile = readFileSync(join(import.meta.dirname, "../deploy/image/Containerfile"), "utf8");
    assert.equal(/^ARG KUSTOMIZE_VERSION=(\S+)$/m.exec(containerfile)?.[1], KUSTOMIZE_VERSION);
    assert.match(containerfile, new RegExp(`COPY --from=kustomize \\S+ ${DEFAULT_KUSTOMIZE_PATH}$`, "m"));
    const product = readFileSync(join(import.meta.dirname, "../src/render/kustomize.ts"), "utf8");
    assert.doesNotMatch(product, /from "[^"]*scripts\//, "product code does not import the test install");
  });
});
