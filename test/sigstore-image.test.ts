// Image signatures as cosign makes them, verified for one manifest digest: the simple-signing payload
// (legacy layout, byte for byte as cosign writes it) and cosign v3's DSSE bundles; a signature for
// another digest is refused with that reason. Registry access is src/oci's; these take the parts.
import { strict as assert } from "node:assert";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { bundleToJson, keyDsseBundle, parseBundle } from "../src/sigstore/bundle.ts";
import { signEnvelope } from "../src/sigstore/dsse.ts";
import {
  COSIGN_SIGNATURE_PREDICATE,
  LEGACY_ANNOTATIONS,
  legacyLayerBundle,
  verifyImageBundle,
  verifyLegacyImageAttestation,
  verifyLegacyImageSignature,
} from "../src/sigstore/image.ts";
import { INTOTO_PAYLOAD_TYPE, PREDICATE_TYPES, makeStatement, sha256Digest } from "../src/sigstore/intoto.ts";
import { generateSigningKey, loadPublicKey } from "../src/sigstore/keys.ts";
import { buildSimpleSigning, checkSignedDigest, parseSimpleSigning } from "../src/sigstore/simple-signing.ts";
import { loadTrustedRootFile } from "../src/trust/trusted-root.ts";
import { verifyBundle } from "../src/sigstore/verify.ts";
import { requireSharedData, requireTools, run, tempDir } from "./helpers/tools.ts";
import { refusal } from "./helpers/refusal.ts";

const DATA = new URL("../../shared/data/sigstore/", import.meta.url).pathname;
const imageDigest = sha256Digest(Buffer.from('{"schemaVersion":2}'));
const otherDigest = sha256Digest(Buffer.from('{"schemaVersion":2,"other":true}'));

/** A v0.1 bundle's certificate chain and Rekor entry, as cosign's legacy layer annotations carry them. */
function legacyMaterial(vector: any): {
  leaf: string;
  chain: string[];
  rekor: { SignedEntryTimestamp: string; Payload: { body: string; integratedTime: number; logIndex: number; logID: string } };
} {
  const entry = vector.verificationMaterial.tlogEntries[0];
  const pem = (b64: string) => `-----BEGIN CERTIFICATE-----\n${b64.match(/.{1,64}/g)!.join("\n")}\n-----END CERTIFICATE-----\n`;
  const [leaf, ...chain] = vector.verificationMaterial.x509CertificateChain.certificates.map((c: { rawBytes: string }) => pem(c.rawBytes));
  const rekor = {
    SignedEntryTimestamp: entry.inclusionPromise.signedEntryTimestamp,
    Payload: {
      body: entry.canonicalizedBody,
      integratedTime: Number(entry.integratedTime),
      logIndex: Number(entry.logIndex),
      logID: Buffer.from(entry.logId.keyId, "base64").toString("hex"),
    },
  };
  return { leaf, chain, rekor };
}

describe("cosign's simple-signing payload", () => {
  it("is built byte for byte as cosign writes it, and read back", (t) => {
    if (!requireTools(t, ["cosign"])) return;
    const fromCosign = run("cosign", ["generate", `registry.example/team/app@${imageDigest}`]).trim();
    const ours = buildSimpleSigning({ dockerReference: "registry.example/team/app", manifestDigest: imageDigest, optional: null });
    assert.equal(ours.toString(), fromCosign);
    assert.deepEqual(parseSimpleSigning(Buffer.from(fromCosign)), {
      dockerReference: "registry.example/team/app",
      manifestDigest: imageDigest,
      optional: null,
    });
  });

  it("is parsed strictly: unknown critical fields, another type or a malformed digest are refused", () => {
    const doc = JSON.parse(
      buildSimpleSigning({ dockerReference: "r/app", manifestDigest: imageDigest, optional: { tag: "v1" } }).toString(),
    );
    const payload = (mutate: (d: any) => void) => {
      const copy = structuredClone(doc);
      mutate(copy);
      return Buffer.from(JSON.stringify(copy));
    };
    assert.match(
      refusal(() => parseSimpleSigning(payload((d) => (d.critical.image.extra = 1)))).message,
      /critical\.image has the unknown critical field "extra"/,
    );
    assert.match(
      refusal(() => parseSimpleSigning(payload((d) => (d.critical.type = "atomic container signature")))).message,
      /critical\.type is "atomic container signature"/,
    );
    assert.match(
      refusal(() => parseSimpleSigning(payload((d) => (d.critical.image["docker-manifest-digest"] = "latest")))).message,
      /not a digest/,
    );
    assert.match(refusal(() => parseSimpleSigning(payload((d) => delete d.critical.identity))).message, /critical lacks "identity"/);
  });

  it("binds the signature to one digest: a payload for another digest is refused with that reason", () => {
    const payload = parseSimpleSigning(buildSimpleSigning({ dockerReference: "r/app", manifestDigest: otherDigest, optional: null }));
    const e = refusal(() => checkSignedDigest(payload, imageDigest));
    assert.equal(e.step, "payload");
    assert.equal(
      e.message,
      `the signature is for image digest ${otherDigest}, not ${imageDigest}: it signs another image (or another version of it)`,
    );
  });
});

describe("legacy cosign image signatures (signature layer and annotations)", () => {
  it("verifies cosign's key signature of the payload for the right digest only", (t) => {
    if (!requireTools(t, ["cosign"])) return;
    const dir = tempDir(t);
    const env = { COSIGN_PASSWORD: "pw" };
    run("cosign", ["generate-key-pair"], { cwd: dir, env });
    writeFileSync(join(dir, "payload.json"), run("cosign", ["generate", `registry.example/app@${imageDigest}`]).trim());
    run(
      "cosign",
      [
        "sign-blob",
        "--key",
        "cosign.key",
        "--new-bundle-format=false",
        "--tlog-upload=false",
        "--use-signing-config=false",
        "--output-signature",
        "sig",
        "-y",
        "payload.json",
      ],
      { cwd: dir, env },
    );
    const layer = {
      payload: readFileSync(join(dir, "payload.json")),
      annotations: { [LEGACY_ANNOTATIONS.signature]: readFileSync(join(dir, "sig"), "utf8").trim() },
    };
    const key = loadPublicKey(readFileSync(join(dir, "cosign.pub"), "utf8"), "cosign.pub");
    const verified = verifyLegacyImageSignature(layer, imageDigest, { signer: { key }, requireTlog: false });
    assert.equal(verified.payload?.manifestDigest, imageDigest);
    assert.match(
      refusal(() => verifyLegacyImageSignature(layer, otherDigest, { signer: { key }, requireTlog: false })).message,
      /the signature is for image digest .*, not /,
    );
    assert.equal(
      refusal(() => verifyLegacyImageSignature(layer, imageDigest, { signer: { key: generateSigningKey().publicKey }, requireTlog: false }))
        .step,
      "signature",
    );
    const unsigned = { ...layer, annotations: {} };
    assert.match(
      refusal(() => verifyLegacyImageSignature(unsigned, imageDigest, { signer: { key }, requireTlog: false })).message,
      /dev\.cosignproject\.cosign\/signature annotation is missing/,
    );
  });

  it("checks the certificate, chain and Rekor bundle annotations as a v0.1 bundle", (t) => {
    if (!requireSharedData(t, join(DATA, "cases.json"))) return;
    // The public happy-path v0.1 vector, taken apart into the annotations cosign writes.
    const vector = JSON.parse(readFileSync(join(DATA, "conformance/happy-path-v0.1/bundle.sigstore.json"), "utf8"));
    const { leaf, chain, rekor } = legacyMaterial(vector);
    const layer = {
      payload: readFileSync(join(DATA, "artifacts/a.txt")),
      annotations: {
        [LEGACY_ANNOTATIONS.signature]: vector.messageSignature.signature,
        [LEGACY_ANNOTATIONS.certificate]: leaf,
        [LEGACY_ANNOTATIONS.chain]: chain.join(""),
        [LEGACY_ANNOTATIONS.rekorBundle]: JSON.stringify(rekor),
      },
    };
    const options = {
      trustedRoot: loadTrustedRootFile(join(DATA, "trusted_roots/sigstore-public-good.trusted_root.json")),
      signer: {
        identities: [
          {
            subject: { regexp: "^https://github\\.com/sigstore-conformance/" },
            issuer: { exact: "https://token.actions.githubusercontent.com" },
          },
        ],
      },
    };
    const verified = verifyBundle(legacyLayerBundle(layer), layer.payload, options);
    assert.equal(verified.tlogEntries, 1);
    const forged = {
      ...layer,
      annotations: {
        ...layer.annotations,
        [LEGACY_ANNOTATIONS.rekorBundle]: JSON.stringify({
          ...rekor,
          Payload: { ...rekor.Payload, integratedTime: rekor.Payload.integratedTime + 60 },
        }),
      },
    };
    assert.equal(refusal(() => verifyBundle(legacyLayerBundle(forged), layer.payload, options)).step, "transparency-log");
  });
});

describe("legacy cosign image attestations (DSSE envelope layers of the .att tag)", () => {
  /** A public v0.1 DSSE bundle (Fulcio certificate, Rekor intoto entry) taken apart into an attestation layer. */
  function attestationLayer(mutate: (envelope: any) => void = () => {}) {
    const vector = JSON.parse(
      readFileSync(join(DATA, "sigstore-js/bundleV01-intoto-with-proof/bundleV01-intoto-with-proof.sigstore"), "utf8"),
    );
    const { leaf, chain, rekor } = legacyMaterial(vector);
    const envelope = structuredClone(vector.dsseEnvelope);
    mutate(envelope);
    const annotations: Record<string, string> = {
      [LEGACY_ANNOTATIONS.signature]: "",
      [LEGACY_ANNOTATIONS.certificate]: leaf,
      [LEGACY_ANNOTATIONS.rekorBundle]: JSON.stringify(rekor),
    };
    if (chain.length > 0) annotations[LEGACY_ANNOTATIONS.chain] = chain.join("");
    return { payload: Buffer.from(JSON.stringify(envelope)), annotations };
  }
  const subject =
    "sha512:7bea9f6e7ff37f5fab0b36bf061200fff03099fd2fd696b91d04bc5e4f225eb9fd6e0cadcad54ba980f43fb352a99e8810b4e0abeb5c0ef2cf9108cd1f258b36";
  const npmPublish = "https://github.com/npm/attestation/tree/main/specs/publish/v0.1";
  const options = () => ({
    trustedRoot: loadTrustedRootFile(join(DATA, "trusted_roots/sigstore-public-good.trusted_root.json")),
    signer: { identities: [{ subject: { exact: "brian@dehamer.com" }, issuer: { exact: "https://github.com/login/oauth" } }] },
    attestation: { predicateType: npmPublish },
  });

  it("verifies the envelope, certificate identity and Rekor entry of a keyless attestation layer", (t) => {
    if (!requireSharedData(t, join(DATA, "cases.json"))) return;
    const verified = verifyLegacyImageAttestation(attestationLayer(), subject, options());
    assert.equal(verified.statement?.predicateType, npmPublish);
    assert.equal(verified.tlogEntries, 1);
    assert.match(verified.signer, /^brian@dehamer\.com \(issuer https:\/\/github\.com\/login\/oauth\)$/);
  });

  it("refuses it for another digest, another identity, another predicate type, or a changed envelope", (t) => {
    if (!requireSharedData(t, join(DATA, "cases.json"))) return;
    assert.equal(refusal(() => verifyLegacyImageAttestation(attestationLayer(), imageDigest, options())).step, "subject");
    const otherIdentity = {
      ...options(),
      signer: { identities: [{ subject: { exact: "mallory@example.com" }, issuer: { exact: "https://github.com/login/oauth" } }] },
    };
    assert.equal(refusal(() => verifyLegacyImageAttestation(attestationLayer(), subject, otherIdentity)).step, "identity");
    const sbom = { ...options(), attestation: { predicateType: PREDICATE_TYPES.cyclonedx } };
    assert.match(
      refusal(() => verifyLegacyImageAttestation(attestationLayer(), subject, sbom)).message,
      /predicate type is https:\/\/github\.com\/npm/,
    );
    const changed = attestationLayer(
      (env) =>
        (env.payload = Buffer.from(Buffer.from(env.payload, "base64").toString().replace("sigstore@1.0.0", "sigstore@6.6.6")).toString(
          "base64",
        )),
    );
    const tampered = refusal(() => verifyLegacyImageAttestation(changed, subject, options()));
    // The Rekor entry records the payload's hash, so the change shows there before the signature is tried.
    assert.equal(tampered.step, "transparency-log");
    assert.match(tampered.message, /not for this signature \(DSSE payload hash mismatch\)/);
    const notJson = { ...attestationLayer(), payload: Buffer.from("not an envelope") };
    assert.match(refusal(() => verifyLegacyImageAttestation(notJson, subject, options())).message, /not a JSON DSSE envelope/);
  });
});

describe("cosign v3 image signatures and attestations (Sigstore bundles as referrers)", () => {
  const key = generateSigningKey();
  const signer = { key: key.publicKey, name: "ci" };
  /** A referrer bundle as a registry hands it over: JSON text, read back. */
  function bundleFor(digest: string, predicateType: string, predicate: unknown) {
    const envelope = signEnvelope(
      INTOTO_PAYLOAD_TYPE,
      makeStatement([{ name: "registry.example/app", digest }], predicateType, predicate),
      [{ key }],
    );
    return parseBundle(JSON.stringify(bundleToJson(keyDsseBundle(envelope, key.publicKey))), "referrer");
  }

  it("verifies a signature statement for the image, and refuses it for another digest", () => {
    const signature = bundleFor(imageDigest, COSIGN_SIGNATURE_PREDICATE, {});
    const verified = verifyImageBundle(signature, imageDigest, { signer, requireTlog: false });
    assert.equal(verified.statement?.predicateType, COSIGN_SIGNATURE_PREDICATE);
    const e = refusal(() => verifyImageBundle(signature, otherDigest, { signer, requireTlog: false }));
    assert.equal(e.step, "subject");
    assert.match(e.message, new RegExp(`about ${imageDigest}, not ${otherDigest}`));
  });

  it("takes an attestation only under an attestation policy, and a signature only as a signature", () => {
    const sbom = bundleFor(imageDigest, PREDICATE_TYPES.cyclonedx, { bomFormat: "CycloneDX", specVersion: "1.5" });
    assert.match(
      refusal(() => verifyImageBundle(sbom, imageDigest, { signer, requireTlog: false })).message,
      /predicate type is https:\/\/cyclonedx\.org\/bom, but https:\/\/sigstore\.dev\/cosign\/sign\/v1 is required/,
    );
    const attestation = { predicateType: PREDICATE_TYPES.cyclonedx, fields: [{ path: "specVersion", equals: "1.5" }] };
    assert.equal(
      verifyImageBundle(sbom, imageDigest, { signer, requireTlog: false, attestation }).statement?.predicateType,
      PREDICATE_TYPES.cyclonedx,
    );
    assert.throws(() => verifyImageBundle(sbom, "latest", { signer, requireTlog: false, attestation }), /is not a digest like sha256/);
  });
});
