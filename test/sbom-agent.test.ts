// The SBOM of a deployed image as the agent gets it (sbomForImage): the CycloneDX attestation CI
// attached, used only when the image's signature and the attestation verify against trusted keys;
// otherwise one generated from the image's layers, cached by digest. Real registry, keys from cosign.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { before, test } from "node:test";
import { attestImage, signImage } from "../src/artifact/sign-image.ts";
import { sbomForImage } from "../src/sbom/index.ts";
import { PREDICATE_TYPES } from "../src/sigstore/intoto.ts";
import { cosignKeyPair, signingRegistry, type CosignKeyPair, type SigningRegistry } from "./helpers/image-signing.ts";
import { alpineRoot, ociImage, ALPINE_PACKAGES } from "./helpers/sbom-targets.ts";
import { fileScope, hasTool, run, tempDir } from "./helpers/tools.ts";

const scope = fileScope();
let s: SigningRegistry;
let trusted: CosignKeyPair;
let other: CosignKeyPair;
let layout: string;

const attested = {
  bomFormat: "CycloneDX",
  specVersion: "1.6",
  version: 1,
  components: [{ type: "library", name: "from-ci", version: "1.0.0", purl: "pkg:npm/from-ci@1.0.0" }],
};

before(async () => {
  if (!["docker-registry", "skopeo", "cosign"].every(hasTool)) return;
  s = await signingRegistry(scope);
  trusted = cosignKeyPair(s.dir, "trusted");
  other = cosignKeyPair(s.dir, "other");
  layout = join(tempDir(scope), "layout");
  await ociImage(layout, "v1", [alpineRoot().root], tempDir(scope));
});

function needed(t: { skip(m: string): void }): boolean {
  const missing = ["docker-registry", "skopeo", "cosign"].filter((p) => !hasTool(p));
  if (missing.length === 0) return true;
  if (process.env.CI === "true") throw new Error(`missing ${missing.join(", ")}`);
  t.skip(`missing ${missing.join(", ")}: run node scripts/setup.ts`);
  return false;
}

/** The Alpine image pushed under a new name, so each test has its own digest-keyed state. */
function push(name: string): string {
  const ref = `${s.registry.host}/sbom/${name}:v1`;
  run("skopeo", ["--insecure-policy", "copy", "--dest-tls-verify=false", `oci:${layout}:v1`, `docker://${ref}`]);
  return ref;
}

const trust = () => ({ signers: [{ key: trusted.publicPem }] });

test("a signed image's CycloneDX attestation, signed by a trusted key, is its SBOM", async (t) => {
  if (!needed(t)) return;
  const ref = push("attested");
  await signImage(s.client, ref, trusted.signing);
  await attestImage(s.client, ref, attested, PREDICATE_TYPES.cyclonedx, trusted.signing);
  const result = await sbomForImage(ref, { client: s.client, trust: trust() });
  assert.equal(result.origin, "attested");
  assert.deepEqual(
    result.inventory.components.map((c) => c.purl),
    ["pkg:npm/from-ci@1.0.0"],
  );
});

test("an attestation by an untrusted key, an invalid attested SBOM, or no trust rules: generated from the layers, then cached by digest", async (t) => {
  if (!needed(t)) return;
  const cacheDir = tempDir(t);
  const byOther = push("other-key");
  await signImage(s.client, byOther, trusted.signing);
  await attestImage(s.client, byOther, attested, PREDICATE_TYPES.cyclonedx, other.signing);
  const first = await sbomForImage(byOther, { client: s.client, trust: trust(), cacheDir });
  assert.equal(first.origin, "generated");
  assert.match(first.attestation ?? "", /attestation/);
  assert.equal(first.inventory.components.length, ALPINE_PACKAGES.length);
  assert.ok(existsSync(join(cacheDir, `${first.digest.replace(":", "-")}.json`)));
  const again = await sbomForImage(byOther, { client: s.client, trust: trust(), cacheDir });
  assert.equal(again.origin, "cache");
  assert.deepEqual(again.inventory.components, first.inventory.components);

  const invalid = push("invalid-sbom");
  await signImage(s.client, invalid, trusted.signing);
  await attestImage(s.client, invalid, { ...attested, components: [{ name: "no-type" }] }, PREDICATE_TYPES.cyclonedx, trusted.signing);
  const fromInvalid = await sbomForImage(invalid, { client: s.client, trust: trust() });
  assert.equal(fromInvalid.origin, fromInvalid.digest === first.digest ? "cache" : "generated");
  assert.match(fromInvalid.attestation ?? "", /not valid CycloneDX 1\.6: components\[0\]/);
  assert.ok(fromInvalid.inventory.components.every((c) => c.ecosystem === "apk"));

  const untrusting = await sbomForImage(invalid, { client: s.client });
  assert.match(untrusting.attestation ?? "", /no trust rules/);
});
