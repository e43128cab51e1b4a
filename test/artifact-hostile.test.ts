// Hostile registries and envelopes, against a real registry with cosign-made signatures: a referrer that
// cannot be read, is malformed or oversized does not block a validly signed image; referrers read per
// image are bounded in count and bytes; envelopes whose payloadType is not in-toto are refused as cosign
// refuses them; rules can require signature annotations (cosign verify -a); a bundle that is present but
// not a signature is named as such; a chain ending in a trusted root is accepted, any other root refused.
import { strict as assert } from "node:assert";
import { execFile } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { createServer } from "node:net";
import type { AddressInfo, Socket } from "node:net";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { signImage } from "../src/artifact/sign-image.ts";
import { verifyImage, type ImageRequirements } from "../src/artifact/verify-image.ts";
import { MediaType, type Descriptor, type ImageIndex } from "../src/oci/manifest.ts";
import type { RegistryRepository } from "../src/oci/registry.ts";
import { RegistryError } from "../src/oci/errors.ts";
import { referrersTag } from "../src/oci/store.ts";
import { bundleToJson, keyDsseBundle } from "../src/sigstore/bundle.ts";
import { signEnvelope } from "../src/sigstore/dsse.ts";
import { COSIGN_SIGNATURE_PREDICATE, LEGACY_ANNOTATIONS, legacyLayerBundle } from "../src/sigstore/image.ts";
import { makeStatement, PREDICATE_TYPES } from "../src/sigstore/intoto.ts";
import { loadTrustedRootFile } from "../src/trust/trusted-root.ts";
import { verifyBundle } from "../src/sigstore/verify.ts";
import {
  COSIGN_OFFLINE_SIGNING,
  cosign,
  cosignKeyPair,
  signingRegistry,
  type CosignKeyPair,
  type SigningRegistry,
} from "./helpers/image-signing.ts";
import { pushTestImage } from "./helpers/registry.ts";
import { asyncRefusal, refusal } from "./helpers/refusal.ts";
import { fileScope, hasTool, requireSharedData, requireTools, run, tempDir, vigil } from "./helpers/tools.ts";

const BUNDLE = "application/vnd.dev.sigstore.bundle.v0.3+json";
const DATA = new URL("../../shared/data/sigstore/", import.meta.url).pathname;
const scope = fileScope();
let s: SigningRegistry;
let ci: CosignKeyPair;

before(async () => {
  if (!hasTool("docker-registry") || !hasTool("cosign")) return;
  s = await signingRegistry(scope);
  ci = cosignKeyPair(s.dir, "ci");
});

const ready = (t: Parameters<typeof requireTools>[0]) => requireTools(t, ["docker-registry", "cosign"]);
const byCi = (extra: Partial<ImageRequirements> = {}): ImageRequirements => ({ signers: [{ key: ci.publicPem, name: "ci" }], ...extra });

let images = 0;
async function freshImage(): Promise<{
  repository: string;
  reference: string;
  digest: string;
  repo: RegistryRepository;
  descriptor: Descriptor;
}> {
  const repository = `${s.registry.host}/hostile/app-${++images}`;
  const repo = s.client.repository(repository);
  const image = await pushTestImage(repo, { tag: "v1" });
  return {
    repository,
    reference: `${repository}@${image.descriptor.digest}`,
    digest: image.descriptor.digest,
    repo,
    descriptor: image.descriptor,
  };
}

/** A bundle referrer of `subject` whose one layer is `layer` (pushed or not), added to those listed. */
async function addReferrer(repo: RegistryRepository, subject: Descriptor, layer: Descriptor, listedSize?: number): Promise<Descriptor> {
  const config = await repo.putBlob(Buffer.from("{}"));
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.ociManifest,
      artifactType: BUNDLE,
      config: { mediaType: MediaType.ociEmpty, ...config },
      layers: [layer],
      subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.size },
      annotations: { "dev.sigstore.bundle.predicateType": COSIGN_SIGNATURE_PREDICATE },
    }),
  );
  // Pushed by digest, the client lists it in the referrers tag (docker-registry has no referrers API).
  const pushed = await repo.putManifest(manifest);
  if (listedSize !== undefined) {
    // A registry that lies about the referrer's size in the listing.
    const tag = referrersTag(subject.digest);
    const { manifest: index } = await repo.getManifest(tag);
    const manifests = (index as ImageIndex).manifests.map((d) => (d.digest === pushed.digest ? { ...d, size: listedSize } : d));
    await repo.putManifest(Buffer.from(JSON.stringify({ ...index, manifests })), { tag });
  }
  return pushed;
}

/** The file docker-registry keeps a blob in. */
function blobFile(digest: string): string {
  const hex = digest.slice("sha256:".length);
  return join(s.registry.storage, "docker/registry/v2/blobs/sha256", hex.slice(0, 2), hex, "data");
}

/** An unreadable referrer (its bundle's content gone from the registry's storage), a malformed one, and
 *  one whose bundle claims 200 MiB. */
async function hostileReferrers(repo: RegistryRepository, subject: Descriptor): Promise<void> {
  const lost = await repo.putBlob(Buffer.from(`{"lost": ${Math.random()}}`));
  await addReferrer(repo, subject, { mediaType: BUNDLE, ...lost });
  rmSync(blobFile(lost.digest));
  const garbage = await repo.putBlob(Buffer.from("{ this is not a bundle"));
  await addReferrer(repo, subject, { mediaType: BUNDLE, ...garbage });
  const small = await repo.putBlob(Buffer.from(`{"small": ${Math.random()}}`));
  await addReferrer(repo, subject, { mediaType: BUNDLE, digest: small.digest, size: 200 << 20 });
}

describe("hostile referrers beside a cosign signature", () => {
  it("an unreadable, a malformed and an oversized referrer do not block the image cosign signed", async (t) => {
    if (!ready(t)) return;
    const image = await freshImage();
    cosign(["sign", "--key", ci.privatePath, ...COSIGN_OFFLINE_SIGNING, image.reference], s.dir);
    await hostileReferrers(image.repo, image.descriptor);
    const verified = await verifyImage(s.client, image.reference, byCi());
    assert.deepEqual(
      verified.signatures.map((x) => x.format),
      ["bundle-referrer"],
    );
  });

  it("without a signature, each hostile referrer is named with what was wrong with it", async (t) => {
    if (!ready(t)) return;
    const image = await freshImage();
    await hostileReferrers(image.repo, image.descriptor);
    const listedLarge = await image.repo.putBlob(Buffer.from(`{"large": ${Math.random()}}`));
    await addReferrer(image.repo, image.descriptor, { mediaType: BUNDLE, ...listedLarge }, 5 << 20);
    // Nothing verifies and the registry failed to serve one referrer: the image could not be checked (exit 3).
    const e = await verifyImage(s.client, image.reference, byCi()).then(
      () => assert.fail("verified"),
      (x: unknown) => x as RegistryError,
    );
    assert.ok(e instanceof RegistryError);
    assert.equal(e.exitCode, 3);
    assert.match(e.message, /the registry failed to serve referrer sha256:\w+ \(blob /);
    assert.match(e.message, /malformed registry content: .*the bundle is not valid JSON/);
    assert.match(e.message, /oversized bundle: 209715200 bytes, over the limit of 67108864/);
    assert.match(e.message, /oversized manifest: 5242880 bytes, over the limit of 1048576/);
  });

  it("bounds the referrers read per image, in number and in bytes", async (t) => {
    if (!ready(t)) return;
    const image = await freshImage();
    await hostileReferrers(image.repo, image.descriptor);
    const counted = await verifyImage(s.client, image.reference, byCi({ limits: { maxReferrers: 2 } })).then(
      () => assert.fail("verified"),
      (x: unknown) => x as Error,
    );
    assert.match(counted.message, /1 more referrers: not read: the registry lists 3 bundles for the image, over the limit of 2/);
    const signed = await freshImage();
    cosign(["sign", "--key", ci.privatePath, ...COSIGN_OFFLINE_SIGNING, signed.reference], s.dir);
    const bytes = await asyncRefusal(verifyImage(s.client, signed.reference, byCi({ limits: { maxTotalBytes: 100 } })));
    assert.match(bytes.message, /would take the image's signatures and attestations past 100 bytes/);
  });
});

describe("envelope types", () => {
  it("a correctly signed DSSE envelope whose payloadType is not in-toto is refused, as cosign refuses it", async (t) => {
    if (!ready(t)) return;
    const image = await freshImage();
    const statement = makeStatement([{ name: image.repository, digest: image.digest }], COSIGN_SIGNATURE_PREDICATE, {});
    const envelope = signEnvelope("application/json", statement, [{ key: ci.signing, keyid: "" }]);
    const bundle = await image.repo.putBlob(Buffer.from(JSON.stringify(bundleToJson(keyDsseBundle(envelope, ci.signing.publicKey)))));
    await addReferrer(image.repo, image.descriptor, { mediaType: BUNDLE, ...bundle });
    const e = await asyncRefusal(verifyImage(s.client, image.reference, byCi()));
    assert.match(e.message, /invalid payloadType "application\/json" on the DSSE envelope: expected application\/vnd\.in-toto\+json/);
  });

  it("a bundle that is present but not a signature is named as such", async (t) => {
    if (!ready(t)) return;
    const image = await freshImage();
    const sbom = join(s.dir, "sbom.json");
    writeFileSync(sbom, JSON.stringify({ bomFormat: "CycloneDX", specVersion: "1.5" }));
    cosign(
      ["attest", "--key", ci.privatePath, "--type", "cyclonedx", "--predicate", sbom, ...COSIGN_OFFLINE_SIGNING, image.reference],
      s.dir,
    );
    const e = await asyncRefusal(verifyImage(s.client, image.reference, byCi()));
    assert.match(
      e.message,
      new RegExp(
        `has no signature for this digest: its referrers hold 1 Sigstore bundle, but none is a signature \\(${PREDICATE_TYPES.cyclonedx.replace(/[.]/g, "\\.")}\\)`,
      ),
    );
  });
});

describe("signature annotations (cosign verify -a)", () => {
  it("a rule's annotations must be on the signature cosign made, with the same values", async (t) => {
    if (!ready(t)) return;
    const image = await freshImage();
    cosign(["sign", "--key", ci.privatePath, "-a", "env=prod", "-a", "team=shop", ...COSIGN_OFFLINE_SIGNING, image.reference], s.dir);
    const ok = await verifyImage(s.client, image.reference, byCi({ annotations: { env: "prod" } }));
    assert.equal(ok.signatures.length, 1);
    const e = await asyncRefusal(verifyImage(s.client, image.reference, byCi({ annotations: { env: "staging", approved: "yes" } })));
    assert.match(
      e.message,
      /missing or incorrect annotation: the policy requires env="staging" \(it has "prod"\), approved="yes" \(it has none\)/,
    );
  });

  it("legacy signatures carry them in the payload's optional section; the trust policy's rule requires them", async (t) => {
    if (!ready(t)) return;
    const image = await freshImage();
    await signImage(s.client, image.reference, ci.signing, { format: "legacy", annotations: { env: "prod" } });
    await verifyImage(s.client, image.reference, byCi({ annotations: { env: "prod" } }));
    const policy = (env: string) =>
      `apiVersion: vigil.dev/v1alpha1\nkind: TrustPolicy\nimages:\n  - pattern: "${s.registry.host}/hostile/**"\n    signers: [{ key: ${JSON.stringify(ci.publicPem)} }]\n    annotations: { env: ${env} }\n`;
    for (const [env, status] of [
      ["prod", 0],
      ["staging", 1],
    ] as const) {
      writeFileSync(join(s.dir, "annotations.trust.yaml"), policy(env));
      const out = vigil([
        "verify",
        "image",
        image.reference,
        "--trust",
        join(s.dir, "annotations.trust.yaml"),
        "--allow-http-registry",
        "--json",
      ]);
      assert.equal(out.status, status, out.stdout + out.stderr);
      if (status === 1)
        assert.match(out.json().checks[0].message, /missing or incorrect annotation: the policy requires env="staging" \(it has "prod"\)/);
    }
  });
});

describe("certificate chains that include a root", () => {
  it("accept the trusted root's own root at the end of the chain, and refuse any other root", (t) => {
    if (!requireSharedData(t, join(DATA, "cases.json")) || !requireTools(t, ["openssl"])) return;
    const vector = JSON.parse(readFileSync(join(DATA, "conformance/happy-path-v0.1/bundle.sigstore.json"), "utf8"));
    const trustedRoot = loadTrustedRootFile(join(DATA, "trusted_roots/sigstore-public-good.trusted_root.json"));
    const der = vector.verificationMaterial.x509CertificateChain.certificates.map((c: { rawBytes: string }) =>
      Buffer.from(c.rawBytes, "base64"),
    );
    const leaf = new X509Certificate(der[0]);
    const ca = trustedRoot.certificateAuthorities.find((a) => a.chain.some((c) => c.subject === leaf.issuer))!;
    const entry = vector.verificationMaterial.tlogEntries[0];
    const rekor = {
      SignedEntryTimestamp: entry.inclusionPromise.signedEntryTimestamp,
      Payload: {
        body: entry.canonicalizedBody,
        integratedTime: Number(entry.integratedTime),
        logIndex: Number(entry.logIndex),
        logID: Buffer.from(entry.logId.keyId, "base64").toString("hex"),
      },
    };
    const layer = (chain: X509Certificate[]) => ({
      payload: readFileSync(join(DATA, "artifacts/a.txt")),
      annotations: {
        [LEGACY_ANNOTATIONS.signature]: vector.messageSignature.signature,
        [LEGACY_ANNOTATIONS.certificate]: leaf.toString(),
        [LEGACY_ANNOTATIONS.chain]: chain.map((c) => c.toString()).join(""),
        [LEGACY_ANNOTATIONS.rekorBundle]: JSON.stringify(rekor),
      },
    });
    const options = {
      trustedRoot,
      signer: {
        identities: [
          {
            subject: { regexp: "^https://github\\.com/sigstore-conformance/" },
            issuer: { exact: "https://token.actions.githubusercontent.com" },
          },
        ],
      },
    };
    const withRoot = layer(ca.chain);
    assert.equal(verifyBundle(legacyLayerBundle(withRoot), withRoot.payload, options).tlogEntries, 1);

    const dir = tempDir(t);
    run(
      "openssl",
      [
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-subj",
        "/O=sigstore.dev/CN=sigstore",
        "-days",
        "1",
        "-keyout",
        "key.pem",
        "-out",
        "root.pem",
      ],
      { cwd: dir },
    );
    const impostor = layer([...ca.chain.slice(0, -1), new X509Certificate(readFileSync(join(dir, "root.pem")))]);
    const e = refusal(() => verifyBundle(legacyLayerBundle(impostor), impostor.payload, options));
    assert.equal(e.step, "certificate");
    assert.match(
      e.message,
      /includes a self-signed root \(certificate \d\) that is not one of the trusted root's certificate authorities, byte for byte/,
    );
    const inTheMiddle = layer([ca.chain.at(-1)!, ...ca.chain.slice(0, -1)]);
    assert.match(
      refusal(() => verifyBundle(legacyLayerBundle(inTheMiddle), inTheMiddle.payload, options)).message,
      /self-signed root \(certificate 1\) that is not at the end of the chain/,
    );
  });
});

describe("registry timeouts", () => {
  it("--registry-timeout bounds a registry that accepts and never answers (exit 3); a bad duration is bad input (exit 2)", async (t) => {
    const sockets = new Set<Socket>();
    const silent = createServer((socket) => void sockets.add(socket)); // accepts connections, never answers
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    t.after(() => {
      for (const socket of sockets) socket.destroy();
      return new Promise((resolve) => silent.close(resolve));
    });
    const port = (silent.address() as AddressInfo).port;
    const dir = tempDir(t);
    writeFileSync(
      join(dir, "trust.yaml"),
      `apiVersion: vigil.dev/v1alpha1\nkind: TrustPolicy\nimages:\n  - { pattern: "127.0.0.1:${port}/**", allowUnsigned: true }\n`,
    );
    const started = Date.now();
    const out = await vigilAsync([
      "verify",
      "image",
      `127.0.0.1:${port}/app:1`,
      "--trust",
      join(dir, "trust.yaml"),
      "--allow-http-registry",
      "--registry-timeout",
      "1s",
      "--json",
    ]);
    assert.equal(out.status, 3, out.stdout + out.stderr);
    assert.ok(Date.now() - started < 20_000, "gave up within the timeout, not the 2-minute default");
    const bad = await vigilAsync([
      "verify",
      "image",
      `127.0.0.1:${port}/app:1`,
      "--trust",
      join(dir, "trust.yaml"),
      "--registry-timeout",
      "soon",
    ]);
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /--registry-timeout: invalid duration "soon"/);
  });
});

/** The CLI without blocking the event loop (the silent registry above runs in this process). */
function vigilAsync(args: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [new URL("../src/cli/main.ts", import.meta.url).pathname, ...args],
      { encoding: "utf8" },
      (error, stdout, stderr) => resolve({ status: error ? (typeof error.code === "number" ? error.code : 1) : 0, stdout, stderr }),
    );
  });
}
