// Signing and verifying images in a real registry (docker-registry), interoperating with cosign v3 both
// ways: what `cosign sign/attest --key` pushes (v3's bundles as referrers, and the legacy .sig/.att tags)
// passes verifyImage, and what `vigil sign/attest` pushes passes `cosign verify --key` and
// `cosign verify-attestation --key --type`, offline, with no transparency log.
import { strict as assert } from "node:assert";
import diagnostics from "node:diagnostics_channel";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { attestImage, signImage } from "../src/artifact/sign-image.ts";
import { verifyImage, type ImageRequirements } from "../src/artifact/verify-image.ts";
import { anonymous } from "../src/oci/docker-config.ts";
import { isIndex } from "../src/oci/manifest.ts";
import { RegistryClient } from "../src/oci/registry.ts";
import { referrersTag } from "../src/oci/store.ts";
import { COSIGN_SIGNATURE_PREDICATE } from "../src/sigstore/image.ts";
import { PREDICATE_TYPES } from "../src/sigstore/intoto.ts";
import {
  COSIGN_OFFLINE_SIGNING,
  COSIGN_OFFLINE_VERIFY,
  COSIGN_PASSWORD,
  cosign,
  cosignKeyPair,
  signingRegistry,
  type CosignKeyPair,
  type SigningRegistry,
} from "./helpers/image-signing.ts";
import { pushTestImage } from "./helpers/registry.ts";
import { fileScope, hasTool, requireTools, vigil } from "./helpers/tools.ts";

const SLSA_V1 = PREDICATE_TYPES["slsa-provenance-v1"];
const CYCLONEDX = PREDICATE_TYPES.cyclonedx;
const provenance = {
  buildDefinition: {
    buildType: "https://actions.github.io/buildtypes/workflow/v1",
    externalParameters: { workflow: { repository: "https://github.com/acme/app", ref: "refs/heads/main" } },
  },
  runDetails: { builder: { id: "https://github.com/actions/runner" } },
};
const sbom = { bomFormat: "CycloneDX", specVersion: "1.5", metadata: { component: { type: "application", name: "app" } }, components: [] };

const scope = fileScope();
let s: SigningRegistry;
let ci: CosignKeyPair;
let files: { provenance: string; sbom: string };

before(async () => {
  if (!hasTool("docker-registry") || !hasTool("cosign")) return;
  s = await signingRegistry(scope);
  ci = cosignKeyPair(s.dir, "ci");
  files = { provenance: join(s.dir, "provenance.json"), sbom: join(s.dir, "sbom.json") };
  writeFileSync(files.provenance, JSON.stringify(provenance));
  writeFileSync(files.sbom, JSON.stringify(sbom));
});

/** A fresh image in its own repository: "host/name:v1" and its digest. */
async function freshImage(name: string): Promise<{ reference: string; digest: string; repository: string }> {
  const repository = `${s.registry.host}/${name}`;
  const image = await pushTestImage(s.client.repository(repository), { tag: "v1" });
  return { reference: `${repository}:v1`, digest: image.descriptor.digest, repository };
}

/** The policy the lead's gate builds from a trust policy: the ci key, provenance from acme's workflow, an SBOM of "app". */
function requirements(): ImageRequirements {
  return {
    signers: [{ key: ci.publicPem, name: "ci" }],
    attestations: [
      {
        predicateType: SLSA_V1,
        fields: [{ path: "buildDefinition.externalParameters.workflow.repository", equals: "https://github.com/acme/app" }],
      },
      { predicateType: CYCLONEDX, fields: [{ path: "metadata.component.name", matches: "app|web" }] },
    ],
  };
}

const ciSigner = /^ci \(ecdsa-p256 SHA256:/;

/** The paths of the HTTP requests the client sends while `fn` runs (undici's diagnostics channel). */
async function requestsDuring(fn: () => Promise<unknown>): Promise<string[]> {
  const paths: string[] = [];
  const record = (message: unknown) => void paths.push((message as { request: { path: string } }).request.path);
  diagnostics.subscribe("undici:request:create", record);
  try {
    await fn();
  } finally {
    diagnostics.unsubscribe("undici:request:create", record);
  }
  return paths;
}

describe("images signed and attested by cosign pass verifyImage", () => {
  it("cosign v3's default layout: Sigstore bundles as referrers (through the referrers tag, as docker-registry has no referrers API)", async (t) => {
    if (!requireTools(t, ["docker-registry", "cosign"])) return;
    const image = await freshImage("cosign/bundles");
    cosign(["sign", "--key", ci.privatePath, ...COSIGN_OFFLINE_SIGNING, `${image.repository}@${image.digest}`], s.dir);
    cosign(
      [
        "attest",
        "--key",
        ci.privatePath,
        "--type",
        "slsaprovenance1",
        "--predicate",
        files.provenance,
        ...COSIGN_OFFLINE_SIGNING,
        `${image.repository}@${image.digest}`,
      ],
      s.dir,
    );
    cosign(
      [
        "attest",
        "--key",
        ci.privatePath,
        "--type",
        "cyclonedx",
        "--predicate",
        files.sbom,
        ...COSIGN_OFFLINE_SIGNING,
        `${image.repository}@${image.digest}`,
      ],
      s.dir,
    );
    // Nothing under the legacy tags: these are bundles only.
    assert.deepEqual((await s.client.repository(image.repository).tags()).sort(), [referrersTag(image.digest), "v1"]);

    const verified = await verifyImage(s.client, image.reference, requirements());
    assert.equal(verified.reference, image.reference);
    assert.equal(verified.digest, image.digest);
    assert.equal(verified.signatures.length, 1);
    assert.equal(verified.signatures[0]!.format, "bundle-referrer");
    assert.match(verified.signatures[0]!.signer, ciSigner);
    assert.deepEqual(
      verified.attestations.map((a) => [a.predicateType, a.format]),
      [
        [SLSA_V1, "bundle-referrer"],
        [CYCLONEDX, "bundle-referrer"],
      ],
    );
  });

  it("only the bundles the policy needs are fetched when the referrers list names their predicate types (as Vigil's does; cosign's does not)", async (t) => {
    if (!requireTools(t, ["docker-registry", "cosign"])) return;
    const vigilSigned = await freshImage("vigil/only-needed");
    await signImage(s.client, vigilSigned.reference, ci.signing);
    await attestImage(s.client, vigilSigned.reference, sbom, CYCLONEDX, ci.signing);
    const cosignSigned = await freshImage("cosign/only-needed");
    cosign(["sign", "--key", ci.privatePath, ...COSIGN_OFFLINE_SIGNING, `${cosignSigned.repository}@${cosignSigned.digest}`], s.dir);
    cosign(
      [
        "attest",
        "--key",
        ci.privatePath,
        "--type",
        "cyclonedx",
        "--predicate",
        files.sbom,
        ...COSIGN_OFFLINE_SIGNING,
        `${cosignSigned.repository}@${cosignSigned.digest}`,
      ],
      s.dir,
    );

    // A client of its own each time, so nothing comes from the content cache of an earlier verification.
    const bundleManifestsFetched = async (image: { reference: string }, req: ImageRequirements) => {
      const client = new RegistryClient({ hosts: { [s.registry.host]: s.registry.hostOptions }, credentials: anonymous });
      t.after(() => client.close());
      const paths = await requestsDuring(() => verifyImage(client, image.reference, req));
      return paths.filter((path) => /\/manifests\/sha256:/.test(path)).length;
    };
    const signatureOnly = { signers: [{ key: ci.publicPem }] };
    const withSbom = { ...signatureOnly, attestations: [{ predicateType: CYCLONEDX }] };
    assert.equal(await bundleManifestsFetched(vigilSigned, signatureOnly), 1, "the SBOM's bundle is skipped by its listed predicate type");
    assert.equal(await bundleManifestsFetched(vigilSigned, withSbom), 2);
    // cosign's list has no annotations: each bundle's manifest is read to learn what it holds.
    assert.equal(await bundleManifestsFetched(cosignSigned, signatureOnly), 2);
    assert.equal(await bundleManifestsFetched(cosignSigned, withSbom), 2);
  });

  it("cosign's legacy layout (--new-bundle-format=false): simple signing in the .sig tag, DSSE envelopes in the .att tag", async (t) => {
    if (!requireTools(t, ["docker-registry", "cosign"])) return;
    const image = await freshImage("cosign/legacy");
    const legacy = [...COSIGN_OFFLINE_SIGNING, "--new-bundle-format=false"];
    cosign(["sign", "--key", ci.privatePath, ...legacy, `${image.repository}@${image.digest}`], s.dir);
    cosign(
      [
        "attest",
        "--key",
        ci.privatePath,
        "--type",
        "slsaprovenance1",
        "--predicate",
        files.provenance,
        ...legacy,
        `${image.repository}@${image.digest}`,
      ],
      s.dir,
    );
    cosign(
      [
        "attest",
        "--key",
        ci.privatePath,
        "--type",
        "cyclonedx",
        "--predicate",
        files.sbom,
        ...legacy,
        `${image.repository}@${image.digest}`,
      ],
      s.dir,
    );
    const tag = referrersTag(image.digest);
    assert.deepEqual((await s.client.repository(image.repository).tags()).sort(), [`${tag}.att`, `${tag}.sig`, "v1"]);

    const verified = await verifyImage(s.client, image.reference, requirements());
    assert.equal(verified.digest, image.digest);
    assert.deepEqual(
      verified.signatures.map((x) => x.format),
      ["legacy-sig-tag"],
    );
    assert.match(verified.signatures[0]!.signer, ciSigner);
    assert.deepEqual(
      verified.attestations.map((a) => [a.predicateType, a.format]),
      [
        [SLSA_V1, "legacy-att-tag"],
        [CYCLONEDX, "legacy-att-tag"],
      ],
    );
  });

  it("an image pinned by digest is verified at that digest, whatever its tags say", async (t) => {
    if (!requireTools(t, ["docker-registry", "cosign"])) return;
    const image = await freshImage("cosign/pinned");
    cosign(["sign", "--key", ci.privatePath, ...COSIGN_OFFLINE_SIGNING, `${image.repository}@${image.digest}`], s.dir);
    await pushTestImage(s.client.repository(image.repository), { tag: "v1" });
    const pinned = `${image.repository}@${image.digest}`;
    const verified = await verifyImage(s.client, pinned, { signers: [{ key: ci.publicPem }] });
    assert.equal(verified.reference, pinned);
    assert.equal(verified.digest, image.digest);
  });
});

describe("images signed and attested by Vigil pass cosign verify and verify-attestation", () => {
  /** vigil sign and vigil attest on IMAGE, as a user runs them. */
  function vigilSignAndAttest(reference: string, format: string[]) {
    const env = { COSIGN_PASSWORD };
    const signed = vigil(["sign", reference, "--key", ci.privatePath, "-a", "env=prod", "--allow-http-registry", "--json", ...format], {
      env,
    });
    assert.equal(signed.status, 0, signed.stderr);
    for (const [type, predicate] of [
      ["slsaprovenance1", files.provenance],
      ["cyclonedx", files.sbom],
    ]) {
      const attested = vigil(
        ["attest", reference, "--key", ci.privatePath, "--type", type!, "--predicate", predicate!, "--allow-http-registry", ...format],
        { env },
      );
      assert.equal(attested.status, 0, attested.stderr);
      assert.match(attested.stderr, /^attested \(https:\/\/.*\) .* at sha256:[0-9a-f]{64} with ecdsa-p256 SHA256:/);
    }
    return signed.json();
  }

  /** cosign verifies the signature (and its -a annotation) and both attestations, offline. */
  function cosignAccepts(reference: string, digest: string, extra: string[] = []) {
    const verified = JSON.parse(
      cosign(["verify", "--key", ci.publicPath, ...COSIGN_OFFLINE_VERIFY, "-a", "env=prod", ...extra, reference], s.dir),
    );
    assert.equal(verified[0].critical.image["docker-manifest-digest"], digest);
    assert.equal(verified[0].optional.env, "prod");
    assert.throws(
      () => cosign(["verify", "--key", ci.publicPath, ...COSIGN_OFFLINE_VERIFY, "-a", "env=dev", ...extra, reference], s.dir),
      /missing or incorrect annotation/,
    );
    for (const [type, predicateType] of [
      ["slsaprovenance1", SLSA_V1],
      ["cyclonedx", CYCLONEDX],
    ]) {
      const out = cosign(
        ["verify-attestation", "--key", ci.publicPath, ...COSIGN_OFFLINE_VERIFY, "--type", type!, ...extra, reference],
        s.dir,
      );
      const statements = out
        .trim()
        .split("\n")
        .map((line) => JSON.parse(Buffer.from(JSON.parse(line).payload, "base64").toString()));
      assert.ok(
        statements.some((st) => st.predicateType === predicateType && st.subject[0].digest.sha256 === digest.slice("sha256:".length)),
        out,
      );
    }
  }

  it("the default (cosign v3's bundles as referrers): cosign verify --key -a and verify-attestation --type accept them", async (t) => {
    if (!requireTools(t, ["docker-registry", "cosign"])) return;
    const image = await freshImage("vigil/bundles");
    const signed = vigilSignAndAttest(image.reference, []);
    assert.equal(signed.digest, image.digest);
    assert.equal(signed.format, "bundle-referrer");
    assert.match(signed.key, /^ecdsa-p256 SHA256:/);
    const repo = s.client.repository(image.repository);
    const referrers = await repo.referrers(image.digest);
    assert.equal(referrers.length, 3);
    assert.ok(referrers.some((r) => r.digest === signed.pushed));
    // The referrer is cosign's shape: artifact type, empty config, one bundle layer, the image as subject.
    const referrer = await repo.getManifest(signed.pushed);
    assert.ok(!isIndex(referrer.manifest));
    if (isIndex(referrer.manifest)) return;
    assert.equal(referrer.manifest.artifactType, "application/vnd.dev.sigstore.bundle.v0.3+json");
    assert.equal(referrer.manifest.subject?.digest, image.digest);
    assert.equal(referrer.manifest.annotations?.["dev.sigstore.bundle.predicateType"], COSIGN_SIGNATURE_PREDICATE);

    cosignAccepts(image.reference, image.digest);
    const verified = await verifyImage(s.client, image.reference, requirements());
    assert.deepEqual(
      verified.signatures.map((x) => x.format),
      ["bundle-referrer"],
    );
    assert.deepEqual(
      verified.attestations.map((a) => a.format),
      ["bundle-referrer", "bundle-referrer"],
    );
  });

  it("the legacy layout (--format legacy): cosign accepts it with its default and with --new-bundle-format=false", async (t) => {
    if (!requireTools(t, ["docker-registry", "cosign"])) return;
    const image = await freshImage("vigil/legacy");
    const signed = vigilSignAndAttest(image.reference, ["--format", "legacy"]);
    assert.equal(signed.format, "legacy");
    assert.equal(signed.tag, `${referrersTag(image.digest)}.sig`);
    cosignAccepts(image.reference, image.digest);
    cosignAccepts(image.reference, image.digest, ["--new-bundle-format=false"]);
    const verified = await verifyImage(s.client, image.reference, requirements());
    assert.deepEqual(
      verified.signatures.map((x) => x.format),
      ["legacy-sig-tag"],
    );
    assert.deepEqual(
      verified.attestations.map((a) => a.format),
      ["legacy-att-tag", "legacy-att-tag"],
    );
  });

  it("a second signer is added next to the first, in both layouts, and each signer is found", async (t) => {
    if (!requireTools(t, ["docker-registry", "cosign"])) return;
    const release = cosignKeyPair(s.dir, "release");
    for (const format of ["bundle-referrer", "legacy"] as const) {
      const image = await freshImage(`vigil/two-signers-${format}`);
      await signImage(s.client, image.reference, ci.signing, { format });
      await signImage(s.client, image.reference, release.signing, { format });
      for (const key of [ci, release]) {
        const verified = await verifyImage(s.client, image.reference, { signers: [{ key: key.publicPem }] });
        assert.equal(verified.signatures.length, 1, `${format}: only the trusted key's signature counts`);
        cosign(["verify", "--key", key.publicPath, ...COSIGN_OFFLINE_VERIFY, image.reference], s.dir);
      }
      const both = await verifyImage(s.client, image.reference, {
        signers: [
          { key: ci.publicPem, name: "ci" },
          { key: release.publicPem, name: "release" },
        ],
      });
      assert.deepEqual(both.signatures.map((x) => x.signer.split(" ")[0]).sort(), ["ci", "release"]);
    }
  });

  it("attestImage takes any predicate type URI, and the policy's field rules are checked on it", async (t) => {
    if (!requireTools(t, ["docker-registry", "cosign"])) return;
    const image = await freshImage("vigil/custom-type");
    const type = "https://example.com/attestations/review/v1";
    await signImage(s.client, image.reference, ci.signing);
    await attestImage(s.client, image.reference, { reviewers: ["alice", "bob"], approved: true }, type, ci.signing);
    const verified = await verifyImage(s.client, image.reference, {
      signers: [{ key: ci.publicPem }],
      attestations: [
        {
          predicateType: type,
          fields: [
            { path: "approved", equals: true },
            { path: "reviewers[1]", equals: "bob" },
          ],
        },
      ],
    });
    assert.deepEqual(
      verified.attestations.map((a) => a.predicateType),
      [type],
    );
    cosign(["verify-attestation", "--key", ci.publicPath, ...COSIGN_OFFLINE_VERIFY, "--type", type, image.reference], s.dir);
  });
});

describe("vigil sign and vigil attest: what they print, and bad input", () => {
  it("sign resolves the tag and prints what it signed; --json gives the digest, format and pushed manifest", async (t) => {
    if (!requireTools(t, ["docker-registry", "cosign"])) return;
    const image = await freshImage("cli/output");
    const out = vigil(["sign", image.reference, "--key", ci.privatePath, "--allow-http-registry"], { env: { COSIGN_PASSWORD } });
    assert.equal(out.status, 0, out.stderr);
    assert.match(
      out.stderr,
      new RegExp(
        `^signed ${image.reference.replace(/[.]/g, "\\.")} at ${image.digest} with ecdsa-p256 SHA256:\\S+; pushed as referrer sha256:[0-9a-f]{64}\\n$`,
      ),
    );
    const legacy = vigil(["sign", image.reference, "--key", ci.privatePath, "--allow-http-registry", "--format", "legacy", "--json"], {
      env: { COSIGN_PASSWORD },
    });
    assert.equal(legacy.status, 0, legacy.stderr);
    assert.deepEqual(Object.keys(legacy.json()).sort(), ["digest", "format", "key", "pushed", "reference", "tag"]);
  });

  it("bad input is refused with exit 2 and names what is wrong", async (t) => {
    if (!requireTools(t, ["docker-registry", "cosign"])) return;
    const image = await freshImage("cli/bad-input");
    const env = { COSIGN_PASSWORD };
    const cases: [string[], RegExp, NodeJS.ProcessEnv?][] = [
      [["sign", "--key", ci.privatePath], /give exactly one IMAGE/],
      [["sign", image.reference], /--key is required/],
      [["sign", "Not/A/Reference:", "--key", ci.privatePath], /image reference "Not\/A\/Reference:"/],
      [["sign", image.reference, "--key", ci.privatePath, "--format", "v2"], /--format must be bundle or legacy, not "v2"/],
      [["sign", image.reference, "--key", ci.privatePath, "-a", "novalue"], /--annotation must be KEY=VALUE, not "novalue"/],
      [["sign", image.reference, "--key", ci.privatePath, "--allow-http-registry"], /password|decrypt/i, { COSIGN_PASSWORD: "wrong" }],
      [["attest", image.reference, "--key", ci.privatePath, "--predicate", files.sbom], /--type is required/],
      [
        ["attest", image.reference, "--key", ci.privatePath, "--predicate", files.sbom, "--type", "sbom please"],
        /--type must be a URI or one of .*cyclonedx.*, not "sbom please"/,
      ],
      [
        ["attest", image.reference, "--key", ci.privatePath, "--predicate", ci.publicPath, "--type", "cyclonedx"],
        /ci\.pub: the predicate is not JSON/,
      ],
      [
        ["attest", image.reference, "--key", ci.privatePath, "--predicate", join(s.dir, "absent.json"), "--type", "cyclonedx"],
        /absent\.json: cannot read the file: ENOENT/,
      ],
      // Plain HTTP is for loopback registries only, even when asked for.
      [
        ["sign", "registry.example.com/team/app:v1", "--key", ci.privatePath, "--allow-http-registry"],
        /plain HTTP to registry\.example\.com refused/,
      ],
    ];
    for (const [args, reason, extraEnv] of cases) {
      const out = vigil(args, { env: { ...env, ...extraEnv } });
      assert.equal(out.status, 2, `${args.join(" ")}: ${out.stderr}`);
      assert.match(out.stderr, reason, args.join(" "));
    }
  });

  it("a registry that cannot be used is exit 3: an image that is not there, a registry that does not answer", async (t) => {
    if (!requireTools(t, ["docker-registry", "cosign"])) return;
    const env = { COSIGN_PASSWORD };
    const missing = vigil(["sign", `${s.registry.host}/cli/absent:v1`, "--key", ci.privatePath, "--allow-http-registry"], { env });
    assert.equal(missing.status, 3, missing.stderr);
    assert.match(missing.stderr, /cli\/absent:v1: not found \(404\)/);
    const closed = vigil(
      [
        "attest",
        "127.0.0.1:9/team/app:v1",
        "--key",
        ci.privatePath,
        "--type",
        "cyclonedx",
        "--predicate",
        files.sbom,
        "--allow-http-registry",
      ],
      { env },
    );
    assert.equal(closed.status, 3, closed.stderr);
    assert.match(closed.stderr, /127\.0\.0\.1:9/);
  });
});
