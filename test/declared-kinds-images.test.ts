// A kind Kubernetes does not define keeps its images where the trust policy's `kinds` says (an
// operator's custom resource: spec.runner.ref, a field no name-based search takes for an image). The artifact gate verifies them there; every other
// reader of a set's images must find them there too, or a verified image goes unrecorded (the admission
// webhook then refuses the Pods the operator makes from it), unscanned (the vulnerability gate) and
// unwatched (the monitor). Each reader, given the declarations, finds the declared image; without them
// it would not.
import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import { prepareAdmission } from "../src/agent/admission-policies.ts";
import { applyRecords } from "../src/agent/records.ts";
import type { VerifiedImage } from "../src/admission/verified.ts";
import type { SourcedObject } from "../src/manifest/manifests.ts";
import type { KindDeclaration } from "../src/manifest/workloads.ts";
import { openInventory } from "../src/monitor/inventory.ts";
import { recordDeployment } from "../src/monitor/record.ts";
import { pinnedImages } from "../src/vuln/gate.ts";
import { tempDir } from "./helpers/tools.ts";

const DIGEST = `sha256:${"4d".repeat(32)}`;
const IMAGE = `registry.example.com/ops/runner:2.1@${DIGEST}`;
const KINDS: KindDeclaration[] = [{ group: "ops.example.com", kind: "Runner", images: ["spec.runner.ref"] }];
const runner: SourcedObject = {
  file: "envs/prod/runner.yaml",
  line: 1,
  object: {
    apiVersion: "ops.example.com/v1",
    kind: "Runner",
    metadata: { name: "nightly", namespace: "shop" },
    spec: { runner: { ref: IMAGE } },
  },
};

test("the vulnerability gate judges the images a declared kind keeps where the trust policy says", () => {
  assert.deepEqual(pinnedImages([runner], KINDS), [{ image: IMAGE, digest: DIGEST }]);
  assert.deepEqual(pinnedImages([runner]), [], "without the declaration the image is not seen: the agent passes it");
});

test("the agent records a declared kind's verified digest before its write, so the webhook admits what the operator makes from it", async () => {
  const recorded: VerifiedImage[] = [];
  const checks = await prepareAdmission({
    environment: { name: "prod", namespaces: ["shop"] },
    revision: "1".repeat(40),
    objects: [runner],
    kinds: KINDS,
    recordVerified: async (_env, _rev, images) => void recorded.push(...images),
  });
  assert.deepEqual(checks, []);
  assert.deepEqual(recorded, [{ image: IMAGE, digest: DIGEST }]);
});

test("the monitor's inventory holds a declared kind as a workload running its image", async (t) => {
  const inventory = await openInventory(join(tempDir(t), "inventory"));
  t.after(() => inventory.close());
  const deployment = { revision: "1".repeat(40), verdict: "pass" as const, sbomFor: async () => undefined };
  const { workloads } = await recordDeployment(inventory, "prod", [runner], { ...deployment, kinds: KINDS }, "2026-12-07T00:00:00Z");
  assert.deepEqual(
    workloads.map((w) => [w.workload, w.images.map((i) => i.digest)]),
    [["Runner shop/nightly", [DIGEST]]],
  );
});

test("the audit log's apply record names the image a declared kind runs", () => {
  const [apply] = applyRecords({
    environment: "prod",
    revision: "1".repeat(40),
    objects: [runner],
    kinds: KINDS,
    sync: {
      objects: [
        {
          object: { apiVersion: "ops.example.com/v1", kind: "Runner", namespace: "shop", name: "nightly", file: runner.file, line: 1 },
          action: "create",
        },
      ],
    },
  });
  const objects = (apply!.payload as { objects: { images: { image: string; digest?: string }[] }[] }).objects;
  assert.deepEqual(
    objects[0]!.images.map((i) => [i.image, i.digest]),
    [[IMAGE, DIGEST]],
  );
});
