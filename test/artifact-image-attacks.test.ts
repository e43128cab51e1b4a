// Attacks on image verification in a real registry, each refused with its reason: a tag moved after
// signing, signatures copied from another image, the wrong key, payloads and envelopes changed in the
// registry, a missing or non-conforming attestation, registry content that does not match its digest,
// keyless attestations for another image or identity; and bad requirements refused as bad input.
import { strict as assert } from "node:assert";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { ExitCode, InputError } from "../src/core/errors.ts";
import { attestImage, signImage } from "../src/artifact/sign-image.ts";
import { verifyImage, type ImageRequirements } from "../src/artifact/verify-image.ts";
import { anonymous } from "../src/oci/docker-config.ts";
import { OciContentError, RegistryError } from "../src/oci/errors.ts";
import { isIndex, MediaType, type Descriptor, type ImageManifest } from "../src/oci/manifest.ts";
import { RegistryClient, type RegistryRepository } from "../src/oci/registry.ts";
import { referrersTag } from "../src/oci/store.ts";
import { LEGACY_ANNOTATIONS } from "../src/sigstore/image.ts";
import { PREDICATE_TYPES } from "../src/sigstore/intoto.ts";
import { loadTrustedRootFile } from "../src/trust/trusted-root.ts";
import { cosignKeyPair, signingRegistry, type CosignKeyPair, type SigningRegistry } from "./helpers/image-signing.ts";
import { pushTestImage } from "./helpers/registry.ts";
import { fileScope, hasTool, requireSharedData, requireTools } from "./helpers/tools.ts";
import { asyncRefusal as refusal } from "./helpers/refusal.ts";

const DATA = new URL("../../shared/data/sigstore/", import.meta.url).pathname;
const CYCLONEDX = PREDICATE_TYPES.cyclonedx;
const sbom = { bomFormat: "CycloneDX", specVersion: "1.5", metadata: { component: { name: "app" } } };
const FORMATS = ["bundle-referrer", "legacy"] as const;

const scope = fileScope();
let s: SigningRegistry;
let ci: CosignKeyPair;
let other: CosignKeyPair;

before(async () => {
  if (!hasTool("docker-registry") || !hasTool("cosign")) return;
  s = await signingRegistry(scope);
  ci = cosignKeyPair(s.dir, "ci");
  other = cosignKeyPair(s.dir, "other");
});

function ready(t: Parameters<typeof requireTools>[0]): boolean {
  return requireTools(t, ["docker-registry", "cosign"]);
}

let images = 0;
/** A fresh image tagged v1 in its own repository. */
async function freshImage(
  name = "app",
): Promise<{ reference: string; digest: string; repository: string; repo: RegistryRepository; descriptor: Descriptor }> {
  const repository = `${s.registry.host}/attacks/${name}-${++images}`;
  const repo = s.client.repository(repository);
  const image = await pushTestImage(repo, { tag: "v1" });
  return { reference: `${repository}:v1`, digest: image.descriptor.digest, repository, repo, descriptor: image.descriptor };
}

const byCi = (extra: Partial<ImageRequirements> = {}): ImageRequirements => ({ signers: [{ key: ci.publicPem, name: "ci" }], ...extra });

async function imageManifest(repo: RegistryRepository, reference: string): Promise<ImageManifest> {
  const { manifest } = await repo.getManifest(reference);
  assert.ok(!isIndex(manifest));
  return manifest as ImageManifest;
}

/** The one bundle referrer of `digest`: its manifest and the bundle JSON. */
async function onlyReferrer(
  repo: RegistryRepository,
  digest: string,
): Promise<{ descriptor: Descriptor; manifest: ImageManifest; bundle: any }> {
  const [descriptor] = await repo.referrers(digest);
  const manifest = await imageManifest(repo, descriptor!.digest);
  return { descriptor: descriptor!, manifest, bundle: JSON.parse((await repo.getBlob(manifest.layers[0]!.digest)).toString()) };
}

/** A bundle referrer of `subject` holding `bundle`, made the only one listed in the referrers tag. */
async function replaceReferrers(repo: RegistryRepository, subject: Descriptor, bundle: unknown, predicateType: string): Promise<void> {
  const layer = await repo.putBlob(Buffer.from(JSON.stringify(bundle)));
  const config = await repo.putBlob(Buffer.from("{}"));
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.ociManifest,
      artifactType: "application/vnd.dev.sigstore.bundle.v0.3+json",
      config: { mediaType: MediaType.ociEmpty, ...config },
      layers: [{ mediaType: "application/vnd.dev.sigstore.bundle.v0.3+json", ...layer }],
      subject,
      annotations: { "dev.sigstore.bundle.predicateType": predicateType },
    }),
  );
  const descriptor = await repo.putManifest(manifest);
  await listReferrers(repo, subject.digest, [{ ...descriptor, artifactType: "application/vnd.dev.sigstore.bundle.v0.3+json" }]);
}

/** Overwrites the referrers tag of `digest` (what a registry without the referrers API serves). */
async function listReferrers(repo: RegistryRepository, digest: string, manifests: Descriptor[]): Promise<void> {
  await repo.putManifest(Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests })), {
    tag: referrersTag(digest),
  });
}

/** The file docker-registry keeps a blob in. */
function blobFile(digest: string): string {
  const hex = digest.slice("sha256:".length);
  return join(s.registry.storage, "docker/registry/v2/blobs/sha256", hex.slice(0, 2), hex, "data");
}

/**
 * Changes one byte of a stored JSON blob, keeping it JSON of the same size (the first key's first letter
 * in upper case): the registry still serves it, but it is not its digest's content any more.
 */
function corruptBlob(digest: string): void {
  const file = blobFile(digest);
  const bytes = readFileSync(file);
  const at = bytes.indexOf(0x22) + 1;
  bytes[at] = bytes[at]! & ~0x20;
  writeFileSync(file, bytes);
}

describe("a tag moved after signing", () => {
  for (const format of FORMATS) {
    it(`${format}: verifying the tag now refuses, saying there is no signature for the digest it names; the signed digest still verifies`, async (t) => {
      if (!ready(t)) return;
      const signed = await freshImage();
      await signImage(s.client, signed.reference, ci.signing, { format });
      const moved = await pushTestImage(signed.repo, { tag: "v1" });
      const e = await refusal(verifyImage(s.client, signed.reference, byCi()));
      assert.equal(e.step, "signature");
      assert.equal(e.code, "signature-missing");
      assert.match(
        e.message,
        new RegExp(`^${signed.reference.replace(/[.]/g, "\\.")} \\(${moved.descriptor.digest}\\) has no signature for this digest`),
      );
      assert.match(e.message, /or the tag now names another image than the one signed/);
      const pinned = await verifyImage(s.client, `${signed.repository}@${signed.digest}`, byCi());
      assert.equal(pinned.digest, signed.digest);
    });
  }
});

describe("a signature copied from another image's digest", () => {
  it("legacy: another digest's .sig manifest under this digest's tag is refused: it signs another image", async (t) => {
    if (!ready(t)) return;
    const signed = await freshImage();
    const target = await pushTestImage(signed.repo, { tag: "v2" });
    await signImage(s.client, signed.reference, ci.signing, { format: "legacy" });
    const { bytes } = await signed.repo.getManifest(`${referrersTag(signed.digest)}.sig`);
    await signed.repo.putManifest(bytes, { tag: `${referrersTag(target.descriptor.digest)}.sig` });
    const e = await refusal(verifyImage(s.client, `${signed.repository}:v2`, byCi()));
    assert.equal(e.step, "payload");
    assert.equal(e.code, "payload-invalid");
    assert.match(
      e.message,
      new RegExp(`layer 1: the signature is for image digest ${signed.digest}, not ${target.descriptor.digest}: it signs another image`),
    );
  });

  it("bundle: another digest's bundle in a referrer of this digest is refused: the statement is about another image", async (t) => {
    if (!ready(t)) return;
    const signed = await freshImage();
    const target = await pushTestImage(signed.repo, { tag: "v2" });
    await signImage(s.client, signed.reference, ci.signing);
    const { bundle } = await onlyReferrer(signed.repo, signed.digest);
    await replaceReferrers(signed.repo, target.descriptor, bundle, "https://sigstore.dev/cosign/sign/v1");
    const e = await refusal(verifyImage(s.client, `${signed.repository}:v2`, byCi()));
    assert.equal(e.step, "subject");
    assert.equal(e.code, "subject-mismatch");
    assert.match(e.message, new RegExp(`is about ${signed.digest}, not ${target.descriptor.digest}`));
  });

  it("bundle: another digest's referrer listed under this digest is refused: it is attached to another image", async (t) => {
    if (!ready(t)) return;
    const signed = await freshImage();
    const target = await pushTestImage(signed.repo, { tag: "v2" });
    await signImage(s.client, signed.reference, ci.signing);
    const { descriptor } = await onlyReferrer(signed.repo, signed.digest);
    await listReferrers(signed.repo, target.descriptor.digest, [descriptor]);
    const e = await refusal(verifyImage(s.client, `${signed.repository}:v2`, byCi()));
    assert.equal(e.step, "content");
    assert.equal(e.code, "signature-unreadable");
    assert.match(
      e.message,
      new RegExp(`referrer ${descriptor.digest}: it is attached to ${signed.digest}, not to ${target.descriptor.digest}`),
    );
  });
});

describe("the wrong key", () => {
  for (const format of FORMATS) {
    it(`${format}: a signature by a key the policy does not trust is refused, naming the trusted signers`, async (t) => {
      if (!ready(t)) return;
      const image = await freshImage();
      await signImage(s.client, image.reference, other.signing, { format });
      const e = await refusal(verifyImage(s.client, image.reference, byCi()));
      assert.equal(e.step, "signature");
      assert.equal(e.code, "signature-invalid");
      assert.match(e.message, /no signature on .* verifies with a trusted signer \(ci\): .*does not verify with the given key/);
    });
  }

  it("an attestation signed by an untrusted key does not count, even on an image the trusted key signed", async (t) => {
    if (!ready(t)) return;
    const image = await freshImage();
    await signImage(s.client, image.reference, ci.signing);
    await attestImage(s.client, image.reference, sbom, CYCLONEDX, other.signing);
    const e = await refusal(verifyImage(s.client, image.reference, byCi({ attestations: [{ predicateType: CYCLONEDX }] })));
    assert.equal(e.step, "signature");
    assert.match(
      e.message,
      /no https:\/\/cyclonedx\.org\/bom attestation of .* is signed by a trusted signer \(ci\) and passes the policy: referrer sha256:\w+: the signature does not verify/,
    );
  });
});

describe("content changed in the registry after signing", () => {
  it("legacy: a changed simple-signing payload under the original signature is refused", async (t) => {
    if (!ready(t)) return;
    const image = await freshImage();
    await signImage(s.client, image.reference, ci.signing, { format: "legacy" });
    const tag = `${referrersTag(image.digest)}.sig`;
    const manifest = await imageManifest(image.repo, tag);
    const payload = JSON.parse((await image.repo.getBlob(manifest.layers[0]!.digest)).toString());
    payload.optional = { approved: "yes" };
    const changed = await image.repo.putBlob(Buffer.from(JSON.stringify(payload)));
    const layers = [{ ...manifest.layers[0]!, ...changed }];
    await image.repo.putManifest(Buffer.from(JSON.stringify({ ...manifest, layers })), { tag });
    const e = await refusal(verifyImage(s.client, image.reference, byCi()));
    assert.equal(e.step, "signature");
    assert.match(e.message, /layer 1: the signature does not verify with the given key: the artifact was changed after signing/);
  });

  it("bundle: a changed DSSE payload under the original signature is refused", async (t) => {
    if (!ready(t)) return;
    const image = await freshImage();
    await attestImage(s.client, image.reference, sbom, CYCLONEDX, ci.signing);
    const { bundle } = await onlyReferrer(image.repo, image.digest);
    const statement = JSON.parse(Buffer.from(bundle.dsseEnvelope.payload, "base64").toString());
    statement.predicate.metadata.component.name = "web";
    bundle.dsseEnvelope.payload = Buffer.from(JSON.stringify(statement)).toString("base64");
    await replaceReferrers(image.repo, image.descriptor, bundle, CYCLONEDX);
    await signImage(s.client, image.reference, ci.signing);
    const e = await refusal(
      verifyImage(
        s.client,
        image.reference,
        byCi({ attestations: [{ predicateType: CYCLONEDX, fields: [{ path: "metadata.component.name", equals: "web" }] }] }),
      ),
    );
    assert.equal(e.step, "signature");
    assert.match(
      e.message,
      /attestation .* referrer sha256:\w+: the signature does not verify with the given key: the artifact was changed after signing/,
    );
  });

  it("legacy: a changed DSSE envelope in the .att tag is refused", async (t) => {
    if (!ready(t)) return;
    const image = await freshImage();
    await signImage(s.client, image.reference, ci.signing, { format: "legacy" });
    await attestImage(s.client, image.reference, sbom, CYCLONEDX, ci.signing, { format: "legacy" });
    const tag = `${referrersTag(image.digest)}.att`;
    const manifest = await imageManifest(image.repo, tag);
    const envelope = JSON.parse((await image.repo.getBlob(manifest.layers[0]!.digest)).toString());
    envelope.payload = Buffer.from(Buffer.from(envelope.payload, "base64").toString().replace('"app"', '"web"')).toString("base64");
    const changed = await image.repo.putBlob(Buffer.from(JSON.stringify(envelope)));
    await image.repo.putManifest(Buffer.from(JSON.stringify({ ...manifest, layers: [{ ...manifest.layers[0]!, ...changed }] })), { tag });
    const e = await refusal(verifyImage(s.client, image.reference, byCi({ attestations: [{ predicateType: CYCLONEDX }] })));
    assert.equal(e.step, "signature");
    assert.match(e.message, /\.att layer 1: the signature does not verify with the given key/);
  });

  for (const format of FORMATS) {
    it(`${format}: a stored blob that no longer matches its digest is refused, never passed`, async (t) => {
      if (!ready(t)) return;
      const image = await freshImage();
      await signImage(s.client, image.reference, ci.signing, { format });
      const layer =
        format === "legacy"
          ? (await imageManifest(image.repo, `${referrersTag(image.digest)}.sig`)).layers[0]!
          : (await onlyReferrer(image.repo, image.digest)).manifest.layers[0]!;
      // A new client: the first one keeps what it read (by digest) from before the corruption.
      const client = new RegistryClient({ hosts: { [s.registry.host]: s.registry.hostOptions }, credentials: anonymous });
      t.after(() => client.close());
      corruptBlob(layer.digest);
      const e = await refusal(verifyImage(client, image.reference, byCi()));
      assert.equal(e.step, "content");
      assert.match(
        e.message,
        new RegExp(`blob .*@${layer.digest}: content does not match its digest: expected ${layer.digest}, got sha256:`),
      );
    });
  }

  it("a pinned image whose manifest no longer matches its digest is refused as corrupt content (exit 1)", async (t) => {
    if (!ready(t)) return;
    const image = await freshImage();
    await signImage(s.client, image.reference, ci.signing);
    corruptBlob(image.digest);
    await assert.rejects(verifyImage(s.client, `${image.repository}@${image.digest}`, byCi()), (e: unknown) => {
      assert.ok(e instanceof OciContentError, String(e));
      assert.equal(e.exitCode, ExitCode.blocked);
      assert.match(e.message, /content does not match its digest/);
      return true;
    });
  });
});

describe("attestations the policy requires", () => {
  for (const format of FORMATS) {
    it(`${format}: a missing attestation is refused, naming the type and where it was looked for`, async (t) => {
      if (!ready(t)) return;
      const image = await freshImage();
      await signImage(s.client, image.reference, ci.signing, { format });
      await attestImage(s.client, image.reference, { buildDefinition: {} }, PREDICATE_TYPES["slsa-provenance-v1"], ci.signing, { format });
      const e = await refusal(verifyImage(s.client, image.reference, byCi({ attestations: [{ predicateType: CYCLONEDX }] })));
      assert.equal(e.step, "attestation");
      assert.equal(e.code, "attestation-missing");
      assert.match(
        e.message,
        new RegExp(
          `has no https://cyclonedx\\.org/bom attestation: none among its referrers or in its ${referrersTag(image.digest)}\\.att tag`,
        ),
      );
    });

    it(`${format}: a predicate field that does not match the policy is refused with the field, its value and the rule`, async (t) => {
      if (!ready(t)) return;
      const image = await freshImage();
      await signImage(s.client, image.reference, ci.signing, { format });
      await attestImage(s.client, image.reference, sbom, CYCLONEDX, ci.signing, { format });
      const exact = await refusal(
        verifyImage(
          s.client,
          image.reference,
          byCi({ attestations: [{ predicateType: CYCLONEDX, fields: [{ path: "metadata.component.name", equals: "web" }] }] }),
        ),
      );
      assert.equal(exact.step, "predicate");
      assert.equal(exact.code, "predicate-mismatch");
      assert.match(exact.message, /predicate field metadata\.component\.name is "app", but the policy requires "web"/);
      const pattern = await refusal(
        verifyImage(
          s.client,
          image.reference,
          byCi({ attestations: [{ predicateType: CYCLONEDX, fields: [{ path: "specVersion", matches: "1\\.6" }] }] }),
        ),
      );
      assert.match(pattern.message, /predicate field specVersion is "1\.5", which does not match the policy's pattern 1\\\.6/);
    });
  }

  it("what can change is read again: an image refused for a missing signature passes once signed, through the same client", async (t) => {
    if (!ready(t)) return;
    const image = await freshImage();
    await refusal(verifyImage(s.client, image.reference, byCi()));
    await signImage(s.client, image.reference, ci.signing);
    assert.equal((await verifyImage(s.client, image.reference, byCi())).signatures.length, 1);
  });
});

describe("keyless signers (certificate identities) through the registry", () => {
  /** The public v0.1 keyless DSSE bundle as a legacy .att layer (certificate, chain and Rekor bundle annotations). */
  async function pushKeylessAttestation(repo: RegistryRepository, digest: string): Promise<void> {
    const vector = JSON.parse(
      readFileSync(join(DATA, "sigstore-js/bundleV01-intoto-with-proof/bundleV01-intoto-with-proof.sigstore"), "utf8"),
    );
    const entry = vector.verificationMaterial.tlogEntries[0];
    const pem = (b64: string) => `-----BEGIN CERTIFICATE-----\n${b64.match(/.{1,64}/g)!.join("\n")}\n-----END CERTIFICATE-----\n`;
    const [leaf] = vector.verificationMaterial.x509CertificateChain.certificates.map((c: { rawBytes: string }) => pem(c.rawBytes));
    const rekor = {
      SignedEntryTimestamp: entry.inclusionPromise.signedEntryTimestamp,
      Payload: {
        body: entry.canonicalizedBody,
        integratedTime: Number(entry.integratedTime),
        logIndex: Number(entry.logIndex),
        logID: Buffer.from(entry.logId.keyId, "base64").toString("hex"),
      },
    };
    const layer = await repo.putBlob(Buffer.from(JSON.stringify(vector.dsseEnvelope)));
    const config = await repo.putBlob(Buffer.from(JSON.stringify({ rootfs: { type: "layers", diff_ids: [layer.digest] } })));
    const annotations = {
      [LEGACY_ANNOTATIONS.signature]: "",
      [LEGACY_ANNOTATIONS.certificate]: leaf,
      [LEGACY_ANNOTATIONS.rekorBundle]: JSON.stringify(rekor),
      predicateType: NPM_PUBLISH,
    };
    const manifest = {
      schemaVersion: 2,
      mediaType: MediaType.ociManifest,
      config: { mediaType: MediaType.ociConfig, ...config },
      layers: [{ mediaType: "application/vnd.dsse.envelope.v1+json", ...layer, annotations }],
    };
    await repo.putManifest(Buffer.from(JSON.stringify(manifest)), { tag: `${referrersTag(digest)}.att` });
  }
  const NPM_PUBLISH = "https://github.com/npm/attestation/tree/main/specs/publish/v0.1";
  const brian = { identity: "brian@dehamer.com", issuer: "https://github.com/login/oauth", name: "brian" };

  it("a keyless attestation is verified (certificate, Rekor entry, identity) and then refused for naming another artifact", async (t) => {
    if (!ready(t) || !requireSharedData(t, join(DATA, "cases.json"))) return;
    const trustedRoot = loadTrustedRootFile(join(DATA, "trusted_roots/sigstore-public-good.trusted_root.json"));
    const image = await freshImage();
    await signImage(s.client, image.reference, ci.signing);
    await pushKeylessAttestation(image.repo, image.digest);
    const requirements = {
      signers: [{ key: ci.publicPem, name: "ci" }, brian],
      attestations: [{ predicateType: NPM_PUBLISH }],
      trustedRoot,
    };
    const e = await refusal(verifyImage(s.client, image.reference, requirements));
    assert.equal(e.step, "subject");
    assert.match(e.message, new RegExp(`\\.att layer 1: the attestation is about sha512:7bea9f6e\\w+, not ${image.digest}`));
    const mallory = { identity: "mallory@example.com", issuer: "https://github.com/login/oauth" };
    const wrongIdentity = await refusal(
      verifyImage(s.client, image.reference, { ...requirements, signers: [{ key: ci.publicPem }, mallory] }),
    );
    assert.equal(wrongIdentity.step, "identity");
    assert.equal(wrongIdentity.code, "identity-mismatch");
    assert.match(wrongIdentity.message, /issued to brian@dehamer\.com .* but the policy expects mallory@example\.com/);
    const keysOnly = await refusal(verifyImage(s.client, image.reference, { ...requirements, signers: [{ key: ci.publicPem }] }));
    assert.match(keysOnly.message, /signed with a Fulcio certificate, and the policy trusts only keys/);
  });

  it("a key signature does not satisfy a policy that trusts only certificate identities", async (t) => {
    if (!ready(t) || !requireSharedData(t, join(DATA, "cases.json"))) return;
    const trustedRoot = loadTrustedRootFile(join(DATA, "trusted_roots/sigstore-public-good.trusted_root.json"));
    const image = await freshImage();
    await signImage(s.client, image.reference, ci.signing);
    const e = await refusal(verifyImage(s.client, image.reference, { signers: [brian], trustedRoot }));
    assert.equal(e.step, "identity");
    assert.equal(e.code, "identity-mismatch");
    assert.match(e.message, /signed with a key, and the policy trusts only certificate identities/);
  });
});

describe("bad requirements and unusable registries", () => {
  it("malformed requirements are InputError, before the registry is asked", async (t) => {
    if (!ready(t)) return;
    const reference = `${s.registry.host}/attacks/never-asked:v1`;
    const cases: [ImageRequirements, RegExp][] = [
      [{ signers: [] }, /needs at least one signer/],
      [{ signers: [{ key: "not a key", name: "ci" }] }, /signer ci: not a PEM file/],
      [
        { signers: [{ identity: "alice@example.com" }] },
        /signer 1: a certificate signer needs its issuer \(issuer or issuerRegexp\), or give a key: a certificate alone proves nothing/,
      ],
      [
        { signers: [{ issuer: "https://accounts.example.com" }] },
        /signer 1: a certificate signer needs its identity \(identity or identityRegexp\)/,
      ],
      [{ signers: [{ identity: "a", identityRegexp: "b", issuer: "c" }] }, /give identity or identityRegexp, not both/],
      [{ signers: [{ identityRegexp: "(", issuer: "https://x" }] }, /"\(" is not a valid RE2 regular expression/],
      [
        { signers: [{ identity: "alice@example.com", issuer: "https://accounts.example.com", name: "alice" }] },
        /signer alice: verifying a certificate identity needs a Sigstore trusted root/,
      ],
      [{ signers: [{ key: ci.publicPem }], attestations: [{ predicateType: "" }] }, /attestation 1: predicateType is required/],
      [
        { signers: [{ key: ci.publicPem }], attestations: [{ predicateType: CYCLONEDX, fields: [{ path: "a..b", equals: 1 }] }] },
        /field path "a\.\.b" is malformed/,
      ],
      [
        { signers: [{ key: ci.publicPem }], attestations: [{ predicateType: CYCLONEDX, fields: [{ path: "a", matches: "[" }] }] },
        /not a valid RE2/,
      ],
    ];
    for (const [requirements, reason] of cases) {
      await assert.rejects(verifyImage(s.client, reference, requirements), (e: unknown) => {
        assert.ok(e instanceof InputError, String(e));
        assert.match((e as Error).message, reason);
        return true;
      });
    }
    await assert.rejects(verifyImage(s.client, "Bad:Reference:", byCi()), /image reference "Bad:Reference:"/);
  });

  it("a missing image or an unreachable registry is the RegistryError src/oci throws (exit 3), not a verdict", async (t) => {
    if (!ready(t)) return;
    await assert.rejects(
      verifyImage(s.client, `${s.registry.host}/attacks/absent:v1`, byCi()),
      (e: unknown) => e instanceof RegistryError && e.status === 404 && e.exitCode === ExitCode.unavailable,
    );
    const closed = new RegistryClient({
      hosts: { "127.0.0.1:9": { scheme: "http" } },
      credentials: anonymous,
      timeouts: { connectMs: 2000 },
    });
    t.after(() => closed.close());
    await assert.rejects(
      verifyImage(closed, "127.0.0.1:9/team/app:v1", byCi()),
      (e: unknown) => e instanceof RegistryError && e.exitCode === ExitCode.unavailable,
    );
  });
});
