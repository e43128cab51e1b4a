// DSSE envelopes and in-toto attestations: PAE, several signers and key ids, statements v1 and v0.1,
// CycloneDX / SPDX / SLSA provenance predicates and the policy that checks their fields; with real cosign.
import { strict as assert } from "node:assert";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { envelopeToJson, parseEnvelope, preAuthEncoding, signEnvelope, verifyEnvelope } from "../src/sigstore/dsse.ts";
import {
  INTOTO_PAYLOAD_TYPE,
  PREDICATE_TYPES,
  STATEMENT_V01,
  checkPredicate,
  checkSubject,
  makeStatement,
  parsePath,
  parseStatement,
  sha256Digest,
} from "../src/sigstore/intoto.ts";
import { generateSigningKey } from "../src/sigstore/keys.ts";
import { requireTools, run, tempDir, vigil } from "./helpers/tools.ts";
import { refusal } from "./helpers/refusal.ts";

const PASSWORD = { COSIGN_PASSWORD: "pw" };
const artifact = Buffer.from("app-1.0.tar.gz contents\n");
const digest = sha256Digest(artifact);

const slsa = {
  buildDefinition: {
    buildType: "https://actions.github.io/buildtypes/workflow/v1",
    externalParameters: {
      workflow: { ref: "refs/tags/v1.0", repository: "https://github.com/acme/app", path: ".github/workflows/release.yml" },
    },
  },
  runDetails: { builder: { id: "https://github.com/actions/runner/github-hosted" } },
};
const cyclonedx = { bomFormat: "CycloneDX", specVersion: "1.5", components: [{ name: "left-pad", version: "1.3.0" }] };
const spdx = { spdxVersion: "SPDX-2.3", SPDXID: "SPDXRef-DOCUMENT", name: "app" };

describe("DSSE envelopes", () => {
  it("signs the pre-authentication encoding the DSSE specification defines", () => {
    assert.equal(
      preAuthEncoding("http://example.com/HelloWorld", Buffer.from("hello world")).toString(),
      "DSSEv1 29 http://example.com/HelloWorld 11 hello world",
    );
    // Lengths are in bytes, not characters.
    assert.equal(preAuthEncoding("t", Buffer.from("é")).toString(), "DSSEv1 1 t 2 é");
  });

  it("counts distinct trusted keys towards a threshold, using key ids only to pair keys with signatures", () => {
    const [alice, bob, mallory] = [generateSigningKey(), generateSigningKey("ed25519"), generateSigningKey()];
    const envelope = signEnvelope("text/plain", Buffer.from("release"), [
      { key: alice, keyid: "alice" },
      { key: bob, keyid: "bob" },
    ]);
    const roundTrip = parseEnvelope(JSON.parse(JSON.stringify(envelopeToJson(envelope))), "envelope.json");
    const trusted = [
      { key: alice.publicKey, keyid: "alice", name: "alice" },
      { key: bob.publicKey, name: "bob" },
    ];
    assert.deepEqual(
      verifyEnvelope(roundTrip, trusted, 2).map((k) => k.name),
      ["alice", "bob"],
    );

    const one = refusal(() => verifyEnvelope(roundTrip, [trusted[0]!], 2));
    assert.match(one.message, /only 1 of the 2 required trusted keys signed/);
    // A trusted key whose id differs from the signature's is not tried against it.
    assert.match(
      refusal(() => verifyEnvelope(roundTrip, [{ key: alice.publicKey, keyid: "bob", name: "alice" }])).message,
      /no signature on the DSSE envelope .* verifies with the trusted key alice/,
    );
    assert.match(
      refusal(() => verifyEnvelope(roundTrip, [{ key: mallory.publicKey, name: "mallory" }])).message,
      /signed with another key, or altered after signing/,
    );
  });

  it("refuses an envelope whose payload or payload type was changed after signing", () => {
    const key = generateSigningKey();
    const envelope = signEnvelope(INTOTO_PAYLOAD_TYPE, makeStatement([{ name: "app", digest }], PREDICATE_TYPES.cyclonedx, cyclonedx), [
      { key },
    ]);
    const trusted = [{ key: key.publicKey, name: "ci" }];
    const payload = Buffer.from(envelope.payload.toString().replace("1.3.0", "6.6.6"));
    assert.equal(refusal(() => verifyEnvelope({ ...envelope, payload }, trusted)).step, "signature");
    assert.equal(refusal(() => verifyEnvelope({ ...envelope, payloadType: "application/json" }, trusted)).step, "signature");
    assert.equal(refusal(() => verifyEnvelope({ ...envelope, signatures: [] }, trusted)).message, "the DSSE envelope has no signatures");
  });

  it("reads envelope JSON strictly, naming the field", () => {
    const good = { payloadType: "text/plain", payload: "aGk=", signatures: [{ keyid: "", sig: "c2ln" }] };
    assert.throws(() => parseEnvelope({ ...good, extra: 1 }, "env.json"), /env\.json has an unknown field "extra"/);
    assert.throws(() => parseEnvelope({ ...good, payload: "aGk" + "!" }, "env.json"), /env\.json\.payload is not valid base64/);
    assert.throws(
      () => parseEnvelope({ ...good, signatures: [{ sig: "c2l" + "n=" }] }, "env.json"),
      /env\.json\.signatures\[0\]\.sig is not valid base64/,
    );
    assert.throws(() => parseEnvelope({ ...good, payloadType: "" }, "env.json"), /env\.json\.payloadType must be a non-empty string/);
  });
});

describe("in-toto statements and predicate policy", () => {
  it("reads Statement v1 and the v0.1 statements cosign makes, and matches subjects by digest", () => {
    const v1 = parseStatement(makeStatement([{ name: "app", digest }], PREDICATE_TYPES.spdx, spdx));
    assert.equal(checkSubject(v1, digest).name, "app");
    const v01 = parseStatement(
      Buffer.from(
        JSON.stringify({
          _type: STATEMENT_V01,
          subject: [{ name: "app", digest: { sha256: digest.slice(7).toUpperCase() } }],
          predicateType: PREDICATE_TYPES.spdx,
          predicate: spdx,
        }),
      ),
    );
    assert.equal(checkSubject(v01, digest).name, "app");
    const other = sha256Digest(Buffer.from("another artifact"));
    assert.match(
      refusal(() => checkSubject(v1, other)).message,
      new RegExp(`the attestation is about ${digest}, not ${other}: it was made for another artifact`),
    );
    assert.match(
      refusal(() => parseStatement(Buffer.from('{"_type":"https://example.com/Statement","subject":[],"predicateType":"x"}'))).message,
      /is not an in-toto Statement/,
    );
    assert.match(refusal(() => parseStatement(Buffer.from("not json"))).message, /not JSON/);
  });

  it("requires the predicate type and checks fields by exact value or pattern (CycloneDX, SPDX, SLSA provenance v1)", () => {
    const provenance = parseStatement(makeStatement([{ name: "app", digest }], PREDICATE_TYPES["slsa-provenance-v1"], slsa));
    checkPredicate(provenance, {
      predicateType: "https://slsa.dev/provenance/v1",
      fields: [
        { path: "buildDefinition.externalParameters.workflow.repository", equals: "https://github.com/acme/app" },
        { path: "buildDefinition.externalParameters.workflow.ref", matches: "refs/tags/v[0-9]+\\.[0-9]+" },
        { path: "runDetails.builder.id", matches: "https://github\\.com/actions/runner/.*" },
      ],
    });
    const forked = refusal(() =>
      checkPredicate(provenance, {
        predicateType: PREDICATE_TYPES["slsa-provenance-v1"],
        fields: [{ path: "buildDefinition.externalParameters.workflow.repository", equals: "https://github.com/evil/app" }],
      }),
    );
    assert.match(
      forked.message,
      /predicate field buildDefinition\.externalParameters\.workflow\.repository is "https:\/\/github\.com\/acme\/app", but the policy requires "https:\/\/github\.com\/evil\/app"/,
    );
    // A pattern must match the whole value, so a prefix is not enough.
    assert.match(
      refusal(() =>
        checkPredicate(provenance, {
          predicateType: PREDICATE_TYPES["slsa-provenance-v1"],
          fields: [{ path: "runDetails.builder.id", matches: "https://github\\.com" }],
        }),
      ).message,
      /does not match the policy's pattern/,
    );
    assert.match(
      refusal(() => checkPredicate(provenance, { predicateType: PREDICATE_TYPES.cyclonedx })).message,
      /predicate type is https:\/\/slsa\.dev\/provenance\/v1, but https:\/\/cyclonedx\.org\/bom is required/,
    );

    const sbom = parseStatement(makeStatement([{ name: "app", digest }], PREDICATE_TYPES.cyclonedx, cyclonedx));
    checkPredicate(sbom, {
      predicateType: PREDICATE_TYPES.cyclonedx,
      fields: [
        { path: "specVersion", equals: "1.5" },
        { path: "components[0].name", equals: "left-pad" },
      ],
    });
    assert.match(
      refusal(() =>
        checkPredicate(sbom, { predicateType: PREDICATE_TYPES.cyclonedx, fields: [{ path: "components[3].name", equals: "x" }] }),
      ).message,
      /components\[3\]\.name is missing/,
    );
    const spdxDoc = parseStatement(makeStatement([{ name: "app", digest }], PREDICATE_TYPES.spdx, spdx));
    checkPredicate(spdxDoc, { predicateType: PREDICATE_TYPES.spdx, fields: [{ path: '["spdxVersion"]', matches: "SPDX-2\\.[0-9]" }] });
  });

  it("parses field paths, and refuses malformed ones and non-RE2 patterns as bad input", () => {
    assert.deepEqual(parsePath('a.b[2]["c.d"].e'), ["a", "b", 2, "c.d", "e"]);
    assert.throws(() => parsePath("a..b"), /field path "a\.\.b" is malformed at character 2/);
    assert.throws(() => parsePath(""), /a field path is empty/);
    const statement = parseStatement(makeStatement([{ name: "app", digest }], PREDICATE_TYPES.cyclonedx, cyclonedx));
    assert.throws(
      () => checkPredicate(statement, { predicateType: PREDICATE_TYPES.cyclonedx, fields: [{ path: "specVersion", matches: "(?=1)" }] }),
      /not a valid RE2 regular expression/,
    );
  });
});

describe("vigil attest blob and verify blob with attestations", () => {
  function setup(t: import("node:test").TestContext) {
    const dir = tempDir(t);
    writeFileSync(join(dir, "app.tar.gz"), artifact);
    writeFileSync(join(dir, "provenance.json"), JSON.stringify(slsa));
    writeFileSync(join(dir, "bom.json"), JSON.stringify(cyclonedx));
    assert.equal(vigil(["generate-key-pair"], { cwd: dir, env: PASSWORD }).status, 0);
    return dir;
  }
  const verify = (dir: string, ...args: string[]) =>
    vigil(["verify", "blob", "app.tar.gz", "--key", "cosign.pub", "--insecure-ignore-tlog", ...args], { cwd: dir });

  it("attests SLSA provenance and verifies it against a field policy; a policy the provenance does not meet blocks", (t) => {
    const dir = setup(t);
    const made = vigil(
      [
        "attest",
        "blob",
        "app.tar.gz",
        "--key",
        "cosign.key",
        "--predicate",
        "provenance.json",
        "--type",
        "slsa-provenance-v1",
        "--bundle",
        "prov.bundle",
      ],
      { cwd: dir, env: PASSWORD },
    );
    assert.equal(made.status, 0, made.stderr);
    const ok = verify(
      dir,
      "--bundle",
      "prov.bundle",
      "--type",
      PREDICATE_TYPES["slsa-provenance-v1"],
      "--predicate-field",
      "buildDefinition.externalParameters.workflow.repository=https://github.com/acme/app",
      "--predicate-field-regexp",
      "runDetails.builder.id=https://github\\.com/actions/.*",
      "--json",
    );
    assert.equal(ok.status, 0, ok.stdout + ok.stderr);
    assert.deepEqual(
      ok.json().checks.map((c: { rule: string; status: string }) => `${c.rule}:${c.status}`),
      ["signature:pass", "transparency-log:skip", "subject:pass", "predicate:pass"],
    );

    const wrongRepo = verify(
      dir,
      "--bundle",
      "prov.bundle",
      "--type",
      PREDICATE_TYPES["slsa-provenance-v1"],
      "--predicate-field",
      "buildDefinition.externalParameters.workflow.repository=https://github.com/acme/other",
    );
    assert.equal(wrongRepo.status, 1);
    assert.match(wrongRepo.stdout, /FAIL\s+artifact\s+predicate\s+.*but the policy requires "https:\/\/github\.com\/acme\/other"/);
    const wrongType = verify(dir, "--bundle", "prov.bundle", "--type", PREDICATE_TYPES.cyclonedx);
    assert.equal(wrongType.status, 1);
    assert.match(wrongType.stdout, /predicate type is https:\/\/slsa\.dev\/provenance\/v1, but https:\/\/cyclonedx\.org\/bom is required/);

    writeFileSync(join(dir, "app.tar.gz"), "a different build\n");
    const otherArtifact = verify(dir, "--bundle", "prov.bundle");
    assert.equal(otherArtifact.status, 1);
    assert.match(otherArtifact.stdout, /FAIL\s+artifact\s+subject\s+.*made for another artifact/);
  });

  it("interoperates with cosign: cosign attest-blob (Statement v0.1) verifies in Vigil, Vigil's attestation in cosign verify-blob-attestation", (t) => {
    if (!requireTools(t, ["cosign"])) return;
    const dir = setup(t);
    run(
      "cosign",
      [
        "attest-blob",
        "--key",
        "cosign.key",
        "--predicate",
        "bom.json",
        "--type",
        "cyclonedx",
        "--bundle",
        "cosign.bundle",
        "--tlog-upload=false",
        "--use-signing-config=false",
        "-y",
        "app.tar.gz",
      ],
      { cwd: dir, env: PASSWORD },
    );
    const payload = JSON.parse(
      Buffer.from(JSON.parse(readFileSync(join(dir, "cosign.bundle"), "utf8")).dsseEnvelope.payload, "base64").toString(),
    );
    assert.equal(payload._type, STATEMENT_V01);
    const ok = verify(
      dir,
      "--bundle",
      "cosign.bundle",
      "--type",
      PREDICATE_TYPES.cyclonedx,
      "--predicate-field",
      "components[0].version=1.3.0",
    );
    assert.equal(ok.status, 0, ok.stdout + ok.stderr);

    assert.equal(
      vigil(
        [
          "attest",
          "blob",
          "app.tar.gz",
          "--key",
          "cosign.key",
          "--predicate",
          "bom.json",
          "--type",
          "cyclonedx",
          "--bundle",
          "vigil.bundle",
        ],
        { cwd: dir, env: PASSWORD },
      ).status,
      0,
    );
    run(
      "cosign",
      [
        "verify-blob-attestation",
        "--key",
        "cosign.pub",
        "--bundle",
        "vigil.bundle",
        "--insecure-ignore-tlog",
        "--type",
        "cyclonedx",
        "app.tar.gz",
      ],
      { cwd: dir },
    );
  });

  it("blocks a bundle whose DSSE envelope was altered after signing", (t) => {
    const dir = setup(t);
    assert.equal(
      vigil(
        ["attest", "blob", "app.tar.gz", "--key", "cosign.key", "--predicate", "bom.json", "--type", "cyclonedx", "--bundle", "b.json"],
        { cwd: dir, env: PASSWORD },
      ).status,
      0,
    );
    const bundle = JSON.parse(readFileSync(join(dir, "b.json"), "utf8"));
    const statement = JSON.parse(Buffer.from(bundle.dsseEnvelope.payload, "base64").toString());
    statement.predicate.components[0].version = "6.6.6";
    bundle.dsseEnvelope.payload = Buffer.from(JSON.stringify(statement)).toString("base64");
    writeFileSync(join(dir, "b.json"), JSON.stringify(bundle));
    const out = verify(dir, "--bundle", "b.json");
    assert.equal(out.status, 1);
    assert.match(out.stdout, /FAIL\s+artifact\s+signature\s+.*does not verify with the given key/);
  });
});
