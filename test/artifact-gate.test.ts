// The artifact gate as a user runs it: `vigil verify image --manifests … --trust …` against a real
// registry. Every image of the set is judged by the trust policy's images rules; the pinned manifests
// are written only when every image passed, and say exactly the digests that were verified.
import { strict as assert } from "node:assert";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { attestImage, signImage } from "../src/artifact/sign-image.ts";
import { imageUses } from "../src/artifact/images.ts";
import { parseManifests } from "../src/manifest/manifests.ts";
import { PREDICATE_TYPES } from "../src/sigstore/intoto.ts";
import { cosignKeyPair, signingRegistry, type CosignKeyPair, type SigningRegistry } from "./helpers/image-signing.ts";
import { pushTestImage } from "./helpers/registry.ts";
import { fileScope, hasTool, requireTools, vigil } from "./helpers/tools.ts";

const scope = fileScope();
let s: SigningRegistry;
let ci: CosignKeyPair;
let intruder: CosignKeyPair;

before(async () => {
  if (!hasTool("docker-registry") || !hasTool("cosign")) return;
  s = await signingRegistry(scope);
  ci = cosignKeyPair(s.dir, "ci");
  intruder = cosignKeyPair(s.dir, "intruder");
});

const trustPolicy = (host: string) => `apiVersion: vigil.dev/v1alpha1
kind: TrustPolicy
images:
  - pattern: "${host}/shop/**"
    signers: [{ key: ${JSON.stringify(ci.publicPem)} }]
    attestations:
      - predicateType: ${PREDICATE_TYPES.cyclonedx}
        fields: [{ path: metadata.component.name, equals: shop }]
  - pattern: "${host}/tools/*"
    allowUnsigned: true
`;

const deployment = (name: string, images: string[]) => `apiVersion: apps/v1
kind: Deployment
metadata: { name: ${name}, namespace: shop }
spec:
  selector: { matchLabels: { app: ${name} } }
  template:
    metadata: { labels: { app: ${name} } }
    spec:
      initContainers: [{ name: init, image: "${images[0]}" }]
      containers: [${images
        .slice(1)
        .map((image, i) => `{ name: c${i}, image: "${image}" }`)
        .join(", ")}]
`;

/** A new image under `repository` tagged v1, signed by `key` (and attested, an SBOM of "shop"). */
async function image(repository: string, key?: CosignKeyPair, attest = true): Promise<{ tag: string; digest: string }> {
  const name = `${s.registry.host}/${repository}`;
  const pushed = await pushTestImage(s.client.repository(name), { tag: "v1" });
  if (key) {
    await signImage(s.client, `${name}:v1`, key.signing);
    if (attest)
      await attestImage(
        s.client,
        `${name}:v1`,
        { bomFormat: "CycloneDX", specVersion: "1.5", metadata: { component: { name: "shop" } } },
        PREDICATE_TYPES.cyclonedx,
        key.signing,
      );
  }
  return { tag: `${name}:v1`, digest: pushed.descriptor.digest };
}

function gate(manifests: string, policy = trustPolicy(s.registry.host)) {
  const dir = s.dir;
  writeFileSync(join(dir, "trust.yaml"), policy);
  writeFileSync(join(dir, "manifests.yaml"), manifests);
  const pinned = join(dir, `pinned-${Math.random().toString(36).slice(2)}.yaml`);
  const out = vigil([
    "verify",
    "image",
    "--manifests",
    join(dir, "manifests.yaml"),
    "--trust",
    join(dir, "trust.yaml"),
    "--pinned",
    pinned,
    "--allow-http-registry",
    "--json",
  ]);
  return { ...out, pinned };
}

describe("artifact gate over manifests", () => {
  it("passes signed, attested and explicitly unsigned images, and writes the set pinned to what was verified", async (t) => {
    if (!requireTools(t, ["docker-registry", "cosign"])) return;
    const app = await image("shop/app", ci);
    const sidecar = await image("shop/sidecar", ci);
    const tool = await image("tools/migrate");
    const out = gate(deployment("app", [tool.tag, app.tag, sidecar.tag]));
    assert.equal(out.status, 0, out.stdout + out.stderr);
    const checks = out.json().checks as { status: string; subject: string; message: string; location: { line: number } }[];
    assert.deepEqual(
      checks.map((c) => c.status),
      ["pass", "pass", "pass"],
    );
    assert.match(checks[0]!.message, /runs unsigned, as the rule for .*tools\/\* .*allows; pinned to sha256:/);
    assert.match(
      checks[1]!.message,
      new RegExp(`signed by ecdsa-p256 SHA256:\\S+; attested https://cyclonedx.org/bom .*pinned to ${app.digest}`),
    );
    assert.equal(checks[1]!.subject, `Deployment/shop/app container c0: ${app.tag}`);
    const pinned = imageUses(parseManifests(readFileSync(out.pinned, "utf8"), "pinned.yaml")).map((u) => u.image);
    assert.deepEqual(pinned, [`${tool.tag}@${tool.digest}`, `${app.tag}@${app.digest}`, `${sidecar.tag}@${sidecar.digest}`]);
  });

  it("blocks an image no rule covers, one signed by another key, one missing its attestation, and writes nothing", async (t) => {
    if (!requireTools(t, ["docker-registry", "cosign"])) return;
    const good = await image("shop/good", ci);
    const stranger = await image("elsewhere/app", ci);
    const forged = await image("shop/forged", intruder);
    const bare = await image("shop/bare", ci, false);
    const out = gate(deployment("mixed", [good.tag, stranger.tag, forged.tag, bare.tag]));
    assert.equal(out.status, 1);
    const checks = out.json().checks as { status: string; message: string }[];
    assert.deepEqual(
      checks.map((c) => c.status),
      ["pass", "fail", "fail", "fail"],
    );
    assert.match(checks[1]!.message, /no rule in the trust policy's images covers .*elsewhere\/app/);
    assert.match(checks[2]!.message, /shop\/forged/);
    assert.match(checks[2]!.message, /signature/);
    assert.match(checks[3]!.message, /https:\/\/cyclonedx\.org\/bom/);
    assert.equal(existsSync(out.pinned), false, "nothing is pinned when an image is blocked");
  });

  it("blocks a tag moved after signing: the new image under the signed tag is not what was signed", async (t) => {
    if (!requireTools(t, ["docker-registry", "cosign"])) return;
    const signed = await image("shop/moving", ci);
    const moved = await pushTestImage(s.client.repository(`${s.registry.host}/shop/moving`), { tag: "v1" });
    assert.notEqual(moved.descriptor.digest, signed.digest);
    const out = gate(deployment("moving", [signed.tag, signed.tag]));
    assert.equal(out.status, 1);
    const checks = out.json().checks as { message: string }[];
    assert.match(checks[0]!.message, new RegExp(moved.descriptor.digest));
    assert.match(checks[0]!.message, /no signature for this digest|another digest/);
  });

  it("says a registry that cannot be reached is unavailable (exit 3), not a pass", async (t) => {
    if (!requireTools(t, ["docker-registry", "cosign"])) return;
    const out = gate(deployment("offline", ["127.0.0.1:9/shop/app:v1", "127.0.0.1:9/shop/app:v1"]), trustPolicy("127.0.0.1:9"));
    assert.equal(out.status, 3, out.stdout + out.stderr);
    assert.match((out.json().checks as { message: string }[])[0]!.message, /registry is reachable/);
  });

  it("refuses bad input with exit 2: an invalid image reference, a key in the policy that is not a key", async (t) => {
    if (!requireTools(t, ["docker-registry", "cosign"])) return;
    const out = gate(deployment("bad", ["Not A Reference", "x"]));
    assert.equal(out.status, 2);
    assert.match(out.stderr, /manifests\.yaml:1: Deployment\/shop\/bad init container init: image reference "Not A Reference"/);
    const app = await image("shop/keyless", ci);
    const broken = trustPolicy(s.registry.host).replace(JSON.stringify(ci.publicPem), '"not a key"');
    const badKey = gate(deployment("bad-key", [app.tag, app.tag]), broken);
    assert.equal(badKey.status, 2);
    assert.match(badKey.stderr, /trust\.yaml:4 images\[0\]: .*PEM/);
  });
});
