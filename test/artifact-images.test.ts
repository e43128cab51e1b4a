// The images a set of manifests would run (every pod-carrying kind, every container list), and the
// manifests pinned to the digests that were verified.
import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import { imageUses, pinImages } from "../src/artifact/images.ts";
import { parseManifests } from "../src/manifest/manifests.ts";

const digest = `sha256:${"a".repeat(64)}`;
const other = `sha256:${"b".repeat(64)}`;
const manifests = () =>
  parseManifests(
    `apiVersion: v1
kind: Pod
metadata: { name: debug, namespace: shop }
spec:
  containers: [{ name: sh, image: busybox }]
  ephemeralContainers: [{ name: probe, image: "ghcr.io/acme/probe:1.0@${digest}" }]
---
apiVersion: batch/v1
kind: CronJob
metadata: { name: nightly, namespace: shop }
spec:
  schedule: "0 0 * * *"
  jobTemplate:
    spec:
      template:
        spec:
          initContainers: [{ name: migrate, image: "registry.example.com/shop/migrate:2" }]
          containers: [{ name: job, image: "registry.example.com/shop/job:2" }]
---
apiVersion: v1
kind: ConfigMap
metadata: { name: not-a-workload, namespace: shop }
data: { image: "evil.example.com/x:1" }
`,
    "shop.yaml",
  );

describe("images in manifests", () => {
  it("finds every container of every pod-carrying kind, with where it is", () => {
    const uses = imageUses(manifests());
    assert.deepEqual(
      uses.map((u) => [u.image, u.where, u.source.line]),
      [
        ["busybox", "Pod/shop/debug container sh", 1],
        [`ghcr.io/acme/probe:1.0@${digest}`, "Pod/shop/debug ephemeral container probe", 1],
        ["registry.example.com/shop/migrate:2", "CronJob/shop/nightly init container migrate", 8],
        ["registry.example.com/shop/job:2", "CronJob/shop/nightly container job", 8],
      ],
    );
    assert.deepEqual(uses[0]!.reference, { registry: "docker.io", repository: "library/busybox", tag: "latest" });
  });

  it("refuses a container without an image, or with an invalid reference, naming file, line and container", () => {
    const missing = parseManifests("apiVersion: v1\nkind: Pod\nmetadata: { name: p }\nspec: { containers: [{ name: app }] }\n", "p.yaml");
    assert.throws(() => imageUses(missing), /p\.yaml:1: Pod\/p container app has no image/);
    const invalid = parseManifests(
      "apiVersion: v1\nkind: Pod\nmetadata: { name: p }\nspec: { containers: [{ name: app, image: 'Bad/UPPER:x' }] }\n",
      "p.yaml",
    );
    assert.throws(() => imageUses(invalid), /p\.yaml:1: Pod\/p container app: image reference "Bad\/UPPER:x"/);
  });

  it("pins every image to its verified digest without touching the objects it was given", () => {
    const input = manifests();
    const digests = new Map([
      ["busybox", other],
      [`ghcr.io/acme/probe:1.0@${digest}`, digest],
      ["registry.example.com/shop/migrate:2", digest],
      ["registry.example.com/shop/job:2", other],
    ]);
    const pinnedSet = pinImages(input, digests);
    assert.deepEqual(
      imageUses(pinnedSet).map((u) => u.image),
      [
        `busybox@${other}`,
        `ghcr.io/acme/probe:1.0@${digest}`,
        `registry.example.com/shop/migrate:2@${digest}`,
        `registry.example.com/shop/job:2@${other}`,
      ],
    );
    assert.equal(imageUses(input)[0]!.image, "busybox", "the input is unchanged");
    assert.equal(pinnedSet[2], input[2], "objects without images are passed through");
  });

  it("never leaves an image unpinned, nor pins a digest-pinned image to another digest", () => {
    assert.throws(() => pinImages(manifests(), new Map()), /no verified digest for busybox/);
    const wrong = new Map([
      ["busybox", other],
      [`ghcr.io/acme/probe:1.0@${digest}`, other],
    ]);
    assert.throws(() => pinImages(manifests(), wrong), /was verified at sha256:b/);
  });
});
