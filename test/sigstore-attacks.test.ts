// Attacks on `vigil verify blob` and bad input, each blocked with its reason: wrong key, right
// certificate but another identity or issuer, a certificate with no trusted time, tampered payload and
// envelope, mangled base64, malformed bundle JSON (named by file and field), missing flags.
import { strict as assert } from "node:assert";
import { copyFileSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it, type TestContext } from "node:test";
import { requireSharedData, tempDir, vigil } from "./helpers/tools.ts";

const DATA = new URL("../../shared/data/sigstore/", import.meta.url).pathname;
const PRODUCTION_ROOT = join(DATA, "trusted_roots/sigstore-public-good.trusted_root.json");
const IDENTITY =
  "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main";
const ISSUER = "https://token.actions.githubusercontent.com";
const identityFlags = ["--certificate-identity", IDENTITY, "--certificate-oidc-issuer", ISSUER];

/** A copy of a public vector's bundle and artifact in a temporary folder, changed by `mutate`. */
function vector(
  t: TestContext,
  name: string,
  mutate: (bundle: any) => void = () => {},
): { dir: string; bundle: string; artifact: string } | undefined {
  if (!requireSharedData(t, join(DATA, "cases.json"))) return undefined;
  const dir = tempDir(t);
  const bundle = JSON.parse(readFileSync(join(DATA, "conformance", name, "bundle.sigstore.json"), "utf8"));
  mutate(bundle);
  writeFileSync(join(dir, "bundle.json"), JSON.stringify(bundle));
  copyFileSync(join(DATA, "artifacts/a.txt"), join(dir, "a.txt"));
  return { dir, bundle: join(dir, "bundle.json"), artifact: join(dir, "a.txt") };
}

function verify(v: { bundle: string; artifact: string }, ...args: string[]) {
  return vigil(["verify", "blob", v.artifact, "--bundle", v.bundle, "--trusted-root", PRODUCTION_ROOT, ...args]);
}

/** Exit 1 with exactly one failing check, of `rule`, whose message matches `reason`. */
function assertBlocked(out: ReturnType<typeof vigil>, rule: string, reason: RegExp): void {
  assert.equal(out.status, 1, out.stdout + out.stderr);
  const failed = out.json().checks.filter((c: { status: string }) => c.status === "fail");
  assert.equal(failed.length, 1, JSON.stringify(failed));
  assert.equal(failed[0].rule, rule, failed[0].message);
  assert.match(failed[0].message, reason);
}

describe("verify blob: attacks are blocked with their reason", () => {
  it("passes the untouched vector (the baseline the attacks below change)", (t) => {
    const v = vector(t, "happy-path-v0.3");
    if (!v) return;
    const out = verify(v, ...identityFlags, "--json");
    assert.equal(out.status, 0, out.stdout + out.stderr);
    assert.match(
      out.json().checks[0].message,
      /^signed by https:\/\/github\.com\/sigstore-conformance\/.* \(issuer https:\/\/token\.actions\.githubusercontent\.com\), signed at 20\d\d-/,
    );
  });

  it("blocks a signature by another key", (t) => {
    const dir = tempDir(t);
    const env = { COSIGN_PASSWORD: "pw" };
    writeFileSync(join(dir, "a.txt"), "artifact\n");
    assert.equal(vigil(["generate-key-pair", "--output-key-prefix", "signer"], { cwd: dir, env }).status, 0);
    assert.equal(vigil(["generate-key-pair", "--output-key-prefix", "other"], { cwd: dir, env }).status, 0);
    assert.equal(vigil(["sign", "blob", "a.txt", "--key", "signer.key", "--bundle", "a.bundle"], { cwd: dir, env }).status, 0);
    const out = vigil(["verify", "blob", "a.txt", "--bundle", "a.bundle", "--key", "other.pub", "--insecure-ignore-tlog", "--json"], {
      cwd: dir,
    });
    assertBlocked(out, "signature", /does not verify with the given key: the artifact was changed after signing, or another key signed it/);
    // Without a log entry the right key passes only when that is accepted explicitly.
    const root = ["--trusted-root", PRODUCTION_ROOT];
    assertBlocked(
      vigil(["verify", "blob", "a.txt", "--bundle", "a.bundle", "--key", "signer.pub", ...root, "--json"], { cwd: dir }),
      "transparency-log",
      /no transparency-log entry.*\(--insecure-ignore-tlog\)/,
    );
    // A key bundle must not pass as a certificate identity, nor a certificate bundle under --key.
    const asIdentity = vigil(["verify", "blob", "a.txt", "--bundle", "a.bundle", ...identityFlags, "--insecure-ignore-tlog", "--json"], {
      cwd: dir,
    });
    assertBlocked(asIdentity, "identity", /signed with a key, not a certificate/);
  });

  it("blocks the right certificate authority's certificate for another identity or another issuer", (t) => {
    const v = vector(t, "happy-path-v0.3");
    if (!v) return;
    assertBlocked(
      verify(v, "--certificate-identity", "alice@example.com", "--certificate-oidc-issuer", ISSUER, "--json"),
      "identity",
      /issued to https:\/\/github\.com\/sigstore-conformance\/.* by the OIDC issuer https:\/\/token\.actions\.githubusercontent\.com, but the policy expects alice@example\.com from https:\/\/token/,
    );
    assertBlocked(
      verify(v, "--certificate-identity", IDENTITY, "--certificate-oidc-issuer", "https://accounts.google.com", "--json"),
      "identity",
      /but the policy expects .* from https:\/\/accounts\.google\.com/,
    );
    // Patterns are unanchored as cosign's, so a pattern must say what it means: this one names another org.
    assertBlocked(
      verify(v, "--certificate-identity-regexp", "^https://github\\.com/acme/", "--certificate-oidc-issuer", ISSUER, "--json"),
      "identity",
      /policy expects \/\^https:\/\/github\\\.com\/acme\/\//,
    );
    const matching = verify(
      v,
      "--certificate-identity-regexp",
      "^https://github\\.com/sigstore-conformance/",
      "--certificate-oidc-issuer-regexp",
      "^https://token\\.actions\\.githubusercontent\\.com$",
    );
    assert.equal(matching.status, 0, matching.stdout);
    assert.equal(verify(v, "--certificate-identity", IDENTITY, "--certificate-oidc-issuer", ISSUER, "--key", "x.pub").status, 2);
  });

  it("blocks a short-lived certificate when nothing trusted vouches for when it signed", (t) => {
    // Without the signed entry timestamp the log entry still proves inclusion, but not a time within the
    // certificate's ten minutes; the certificate has long expired.
    const v = vector(t, "happy-path-v0.3", (b) => delete b.verificationMaterial.tlogEntries[0].inclusionPromise);
    if (!v) return;
    assertBlocked(
      verify(v, ...identityFlags, "--json"),
      "timestamp",
      /no verified signing time .* so its certificate's validity cannot be checked/,
    );
    // Rekor v2 entries carry no time at all: the RFC 3161 timestamp is the only one, and taking it away blocks.
    const rekor2 = vector(t, "rekor2-happy-path", (b) => delete b.verificationMaterial.timestampVerificationData);
    if (!rekor2) return;
    const out = vigil([
      "verify",
      "blob",
      rekor2.artifact,
      "--bundle",
      rekor2.bundle,
      "--trusted-root",
      join(DATA, "conformance/rekor2-happy-path/trusted_root.json"),
      ...identityFlags,
      "--json",
    ]);
    assertBlocked(out, "timestamp", /no verified signing time/);
  });

  it("blocks a changed artifact, and a bundle whose signature or DSSE envelope was changed", (t) => {
    const v = vector(t, "happy-path-v0.3");
    if (!v) return;
    writeFileSync(v.artifact, "not what was signed\n");
    assertBlocked(verify(v, ...identityFlags, "--json"), "signature", /the file's sha256 digest differs from the one the bundle signs/);

    const resigned = vector(t, "happy-path-v0.3", (b) => {
      const sig = Buffer.from(b.messageSignature.signature, "base64");
      sig[sig.length - 1]! ^= 1;
      b.messageSignature.signature = sig.toString("base64");
    });
    if (!resigned) return;
    assertBlocked(verify(resigned, ...identityFlags, "--json"), "transparency-log", /not for this signature/);

    const envelope = vector(t, "happy-path-intoto-in-dsse-v3", (b) => {
      const statement = JSON.parse(Buffer.from(b.dsseEnvelope.payload, "base64").toString());
      statement.predicateType = "https://example.com/forged";
      b.dsseEnvelope.payload = Buffer.from(JSON.stringify(statement)).toString("base64");
    });
    if (!envelope) return;
    assertBlocked(verify(envelope, ...identityFlags, "--json"), "transparency-log", /DSSE payload hash mismatch/);
  });

  it("refuses truncated or invalid base64 as bad input naming file and field (exit 2)", (t) => {
    const truncated = vector(t, "happy-path-v0.3", (b) => (b.messageSignature.signature = b.messageSignature.signature.slice(0, -3)));
    if (!truncated) return;
    let out = verify(truncated, ...identityFlags);
    assert.equal(out.status, 2);
    assert.match(out.stderr, /bundle\.json: messageSignature\.signature is not valid base64/);
    const garbage = vector(t, "happy-path-v0.3", (b) => (b.verificationMaterial.certificate.rawBytes = "MII$$$"));
    if (!garbage) return;
    out = verify(garbage, ...identityFlags);
    assert.equal(out.status, 2);
    assert.match(out.stderr, /bundle\.json: verificationMaterial\.certificate\.rawBytes is not valid base64/);
  });

  it("refuses malformed bundle JSON naming the file and the field (exit 2)", (t) => {
    const v = vector(t, "happy-path-v0.3");
    if (!v) return;
    const original = readFileSync(v.bundle, "utf8");
    const cases: [string, RegExp][] = [
      [original.slice(0, 200), /bundle\.json: the bundle is not valid JSON/],
      [JSON.stringify({ ...JSON.parse(original), surprise: true }), /bundle\.json: the bundle has an unknown field "surprise"/],
      [original.replace('"mediaType":', '"mediatype":'), /bundle\.json: the bundle has an unknown field "mediatype"/],
      [
        JSON.stringify({
          ...JSON.parse(original),
          verificationMaterial: { ...JSON.parse(original).verificationMaterial, tlogEntries: [{ logIndex: "x" }] },
        }),
        /bundle\.json: verificationMaterial\.tlogEntries\[0\]\.logIndex must be an integer/,
      ],
      ["[]", /bundle\.json: the bundle must be a JSON object/],
    ];
    for (const [text, reason] of cases) {
      writeFileSync(v.bundle, text);
      const out = verify(v, ...identityFlags);
      assert.equal(out.status, 2, out.stdout);
      assert.match(out.stderr, reason);
      assert.doesNotMatch(out.stderr, /\n\s+at /, "no stack trace");
    }
    const missing = vigil(["verify", "blob", v.artifact, "--bundle", join(v.dir, "nope.json"), ...identityFlags]);
    assert.equal(missing.status, 2);
    assert.match(missing.stderr, /nope\.json: cannot read the bundle: ENOENT/);
  });

  it("refuses usage that proves nothing: no identity, half an identity, no trusted root (exit 2)", (t) => {
    const v = vector(t, "happy-path-v0.3");
    if (!v) return;
    const noIdentity = vigil(["verify", "blob", v.artifact, "--bundle", v.bundle, "--trusted-root", PRODUCTION_ROOT]);
    assert.equal(noIdentity.status, 2);
    assert.match(noIdentity.stderr, /a certificate alone proves nothing about who signed/);
    assert.equal(
      vigil(["verify", "blob", v.artifact, "--bundle", v.bundle, "--trusted-root", PRODUCTION_ROOT, "--certificate-identity", IDENTITY])
        .status,
      2,
    );
    const noRoot = vigil(["verify", "blob", v.artifact, "--bundle", v.bundle, ...identityFlags]);
    assert.equal(noRoot.status, 2);
    assert.match(noRoot.stderr, /needs a Sigstore trusted root .*: pass --trusted-root FILE/);
    const badPattern = verify(v, "--certificate-identity-regexp", "(?<=x)", "--certificate-oidc-issuer", ISSUER);
    assert.equal(badPattern.status, 2);
    assert.match(badPattern.stderr, /is not a valid RE2 regular expression/);
  });
});
