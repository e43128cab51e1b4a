// The vulnerability gate on images in a real registry: each image's SBOM is the predicate of its
// CycloneDX attestation, signed with a cosign key and verified by the artifact gate's verifyImage; the
// gate blocks an image with a finding at the environment's threshold, passes a clean one, blocks an
// image with no SBOM, and lets the environment's VEX suppress a finding (kept visible as skip).
import assert from "node:assert/strict";
import { before, test } from "node:test";
import { attestImage, signImage } from "../src/artifact/sign-image.ts";
import { verifyImage } from "../src/artifact/verify-image.ts";
import { PREDICATE_TYPES } from "../src/sigstore/intoto.ts";
import { sbomFromAttestations, vulnerabilityGate, type GateImage } from "../src/vuln/gate.ts";
import type { SqliteStore } from "../src/vuln/sqlite-store.ts";
import { parseVex } from "../src/vuln/vex.ts";
import { advisoryStore, lodashSbom } from "./helpers/advisories.ts";
import { cosignKeyPair, signingRegistry, type CosignKeyPair, type SigningRegistry } from "./helpers/image-signing.ts";
import { pushTestImage } from "./helpers/registry.ts";
import { fileScope, hasTool, requireTools, tempDir } from "./helpers/tools.ts";

const scope = fileScope();
let s: SigningRegistry;
let ci: CosignKeyPair;
let store: SqliteStore;

before(async () => {
  const dir = tempDir(scope);
  store = await advisoryStore(dir);
  scope.after(() => store.close());
  if (!hasTool("docker-registry") || !hasTool("cosign")) return;
  s = await signingRegistry(scope);
  ci = cosignKeyPair(s.dir, "ci");
});

const sbom = lodashSbom;

/** An image pushed, signed, attested with an SBOM (unless none), and verified as the artifact gate verifies it. */
async function verifiedImage(
  repository: string,
  bom?: object,
): Promise<{ image: GateImage; attestations: { predicateType: string; predicate?: unknown }[] }> {
  const name = `${s.registry.host}/${repository}`;
  const pushed = await pushTestImage(s.client.repository(name), { tag: "v1" });
  await signImage(s.client, `${name}:v1`, ci.signing);
  if (bom) await attestImage(s.client, `${name}:v1`, bom, PREDICATE_TYPES.cyclonedx, ci.signing);
  const verified = await verifyImage(s.client, `${name}@${pushed.descriptor.digest}`, {
    signers: [{ key: ci.publicPem }],
    ...(bom && { attestations: [{ predicateType: PREDICATE_TYPES.cyclonedx }] }),
  });
  return { image: { image: `${name}:v1`, digest: verified.digest }, attestations: verified.attestations };
}

test("blocks an image with a finding at the threshold, passes a clean one, blocks one without an SBOM; VEX suppresses", async (t) => {
  if (!requireTools(t, ["docker-registry", "cosign"])) return;
  const vulnerable = await verifiedImage("shop/api", sbom("4.17.15"));
  const clean = await verifiedImage("shop/web", sbom("4.17.21"));
  const bare = await verifiedImage("shop/worker");
  const images = [vulnerable, clean, bare];
  const sbomFor = async (i: GateImage) => sbomFromAttestations(images.find((x) => x.image.digest === i.digest)!.attestations);
  const checks = await vulnerabilityGate(
    images.map((x) => x.image),
    { store, failOn: "high", sbomFor },
  );
  const finding = checks.find((c) => c.rule === "GHSA-p6mc-m468-83gw")!;
  assert.equal(finding.status, "fail");
  assert.equal(finding.subject, "pkg:npm/lodash@4.17.15");
  assert.match(
    finding.message,
    new RegExp(`^in ${s.registry.host}/shop/api:v1@${vulnerable.image.digest}: HIGH 7.4 in lodash 4.17.15.*fixed in 4.17.19`),
  );
  const perImage = (digest: string) => checks.find((c) => c.rule === "image" && c.subject.endsWith(digest));
  assert.equal(perImage(vulnerable.image.digest)?.status, "fail");
  assert.equal(perImage(clean.image.digest)?.status, "pass");
  const missing = checks.find((c) => c.rule === "sbom")!;
  assert.equal(missing.status, "fail");
  assert.match(missing.message, /no verified SBOM for this image/);
  // Only the clean image: the gate passes. The vulnerable one under a critical threshold: a warning.
  assert.ok((await vulnerabilityGate([clean.image], { store, failOn: "high", sbomFor })).every((c) => c.status === "pass"));
  const critical = await vulnerabilityGate([vulnerable.image], { store, failOn: "critical", sbomFor });
  assert.ok(critical.every((c) => c.status !== "fail"));
  const vex = parseVex(
    JSON.stringify({
      "@context": "https://openvex.dev/ns/v0.2.0",
      "@id": "x",
      author: "a",
      timestamp: "2024-01-01T00:00:00Z",
      version: 1,
      statements: [
        {
          vulnerability: { name: "CVE-2020-8203" },
          products: [{ "@id": "pkg:npm/lodash" }],
          status: "not_affected",
          justification: "vulnerable_code_not_in_execute_path",
        },
      ],
    }),
    "env.vex.json",
  );
  const suppressed = await vulnerabilityGate([vulnerable.image], { store, failOn: "high", vex, sbomFor });
  assert.equal(suppressed.find((c) => c.rule === "GHSA-p6mc-m468-83gw")?.status, "skip");
  assert.equal(suppressed.find((c) => c.rule === "image")?.status, "pass");
});
