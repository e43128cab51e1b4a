// vigil ci on real images in a real registry (docker-registry), copied there by skopeo from OCI layouts:
// a clean image is scanned, signed and attested (SBOM and SLSA provenance from the CI's variables), and
// cosign verify, cosign verify-attestation and Vigil's artifact gate all accept the result; an image with
// a finding at --fail-on is blocked with nothing pushed; VEX and a higher threshold let it through; bad
// input is exit 2 naming the option or variable, an unreachable registry exit 3.
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { before, test } from "node:test";
import { verifyImage } from "../src/artifact/verify-image.ts";
import { detectCi, GITHUB_BUILD_TYPE } from "../src/ci/provenance.ts";
import { InputError } from "../src/core/errors.ts";
import { PREDICATE_TYPES } from "../src/sigstore/intoto.ts";
import {
  COSIGN_OFFLINE_VERIFY,
  COSIGN_PASSWORD,
  cosign,
  cosignKeyPair,
  signingRegistry,
  type CosignKeyPair,
  type SigningRegistry,
} from "./helpers/image-signing.ts";
import { advisoryStore } from "./helpers/advisories.ts";
import { ociImage, writeTree } from "./helpers/sbom-targets.ts";
import { GITHUB_ENV, GITLAB_ENV } from "./helpers/ci-env.ts";
import { fileScope, hasTool, requireTools, run, tempDir, vigil } from "./helpers/tools.ts";

const scope = fileScope();
const TOOLS = ["docker-registry", "cosign", "skopeo"];
let s: SigningRegistry;
let key: CosignKeyPair;
let dir: string;
let db: string;

/** Nothing of the machine's own CI leaks into a test's environment. */
const NO_CI = { GITHUB_ACTIONS: "", GITLAB_CI: "", COSIGN_PASSWORD };

before(async () => {
  dir = tempDir(scope, "vigil-ci-");
  db = join(dir, "db");
  (await advisoryStore(dir)).close();
  if (!TOOLS.every(hasTool)) return;
  s = await signingRegistry(scope);
  key = cosignKeyPair(s.dir, "ci");
});

/**
 * An image with lodash at `version` in node_modules, built as an OCI layout and copied to the registry by skopeo.
 * Each image's layer names its repository, so no two tests share a blob: the registry stores blobs once for all
 * repositories, and the tampered-layer test edits one in place.
 */
async function pushApp(repository: string, version: string): Promise<{ image: string; digest: string }> {
  const work = tempDir(scope, "vigil-ci-image-");
  const root = writeTree(join(work, "root"), {
    "app/package.json": JSON.stringify({ name: "shop", version: "1.0.0" }),
    "app/IMAGE": repository,
    "app/node_modules/lodash/package.json": JSON.stringify({ name: "lodash", version, license: "MIT" }),
    "app/server.js": "console.log('shop')\n",
  });
  const built = await ociImage(join(work, "layout"), "v1", [root], work);
  const image = `${s.registry.host}/${repository}:v1`;
  run("skopeo", ["--insecure-policy", "copy", "--dest-tls-verify=false", `oci:${join(work, "layout")}:v1`, `docker://${image}`]);
  return { image, digest: built.digest };
}

const ciArgs = (image: string, ...more: string[]) => ["ci", image, "--key", key.privatePath, "--db", db, "--allow-http-registry", ...more];

test("a clean image: scanned, signed, SBOM and provenance attested; cosign and the artifact gate verify it", async (t) => {
  if (!requireTools(t, TOOLS)) return;
  const { image, digest } = await pushApp("shop/web", "4.17.21");
  const sbomFile = join(dir, "web.cdx.json");
  const r = vigil([...ciArgs(image, "--json", "--sbom-output", sbomFile)], { env: { ...NO_CI, ...GITHUB_ENV } });
  assert.equal(r.status, 0, r.stderr + r.stdout);
  const verdict = r.json();
  assert.equal(verdict.verdict, "pass");
  assert.equal(verdict.subject.digest, digest);
  const step = (rule: string) => verdict.checks.find((c: { gate: string; rule: string }) => c.gate === "ci" && c.rule === rule);
  for (const rule of ["sbom", "sign", "attest-sbom", "attest-provenance"]) assert.equal(step(rule)?.status, "pass", rule);
  assert.match(step("attest-provenance").message, /https:\/\/github.com\/acme\/shop\/actions\/runs\/4242\/attempts\/1/);

  const pinned = `${s.registry.host}/shop/web@${digest}`;
  cosign(["verify", "--key", key.publicPath, ...COSIGN_OFFLINE_VERIFY, pinned], s.dir);
  const sbomStatement = attestation(
    cosign(["verify-attestation", "--key", key.publicPath, "--type", "cyclonedx", ...COSIGN_OFFLINE_VERIFY, pinned], s.dir),
  );
  assert.equal(sbomStatement.subject[0].digest.sha256, digest.slice("sha256:".length));
  assert.ok(sbomStatement.predicate.components.some((c: { purl: string }) => c.purl === "pkg:npm/lodash@4.17.21"));
  const provenance = attestation(
    cosign(["verify-attestation", "--key", key.publicPath, "--type", "slsaprovenance1", ...COSIGN_OFFLINE_VERIFY, pinned], s.dir),
  );
  assert.equal(provenance.predicate.buildDefinition.buildType, GITHUB_BUILD_TYPE);
  assert.equal(provenance.predicate.runDetails.builder.id, "https://github.com/acme/shop/.github/workflows/build.yml@refs/heads/main");
  assert.deepEqual(provenance.predicate.buildDefinition.resolvedDependencies, [
    { uri: "git+https://github.com/acme/shop@refs/heads/main", digest: { gitCommit: GITHUB_ENV.GITHUB_SHA } },
  ]);

  // Vigil's artifact gate: signed by the CI key, with both attestations, the provenance naming the workflow.
  const verified = await verifyImage(s.client, image, {
    signers: [{ key: key.publicPem }],
    attestations: [
      { predicateType: PREDICATE_TYPES.cyclonedx },
      {
        predicateType: PREDICATE_TYPES["slsa-provenance-v1"],
        fields: [{ path: "buildDefinition.externalParameters.workflow.repository", equals: "https://github.com/acme/shop" }],
      },
    ],
  });
  assert.equal(verified.digest, digest);
  // And the artifact gate's own command, with a trust policy requiring both attestations.
  writeFileSync(
    join(dir, "trust.yaml"),
    `apiVersion: vigil.dev/v1alpha1\nkind: TrustPolicy\nimages:\n  - pattern: "${s.registry.host}/shop/**"\n    signers: [{ key: ${JSON.stringify(key.publicPem)} }]\n    attestations:\n      - predicateType: ${PREDICATE_TYPES.cyclonedx}\n      - predicateType: ${PREDICATE_TYPES["slsa-provenance-v1"]}\n        fields: [{ path: runDetails.builder.id, equals: "https://github.com/acme/shop/.github/workflows/build.yml@refs/heads/main" }]\n`,
  );
  const gate = vigil(["verify", "image", image, "--trust", join(dir, "trust.yaml"), "--allow-http-registry", "--json"]);
  assert.equal(gate.status, 0, gate.stdout + gate.stderr);
  assert.equal(gate.json().verdict, "pass");
  // The SBOM attested is the one written with --sbom-output, the one that was scanned.
  assert.deepEqual(
    verified.attestations.find((a) => a.predicateType === PREDICATE_TYPES.cyclonedx)?.predicate,
    JSON.parse(run("cat", [sbomFile])),
  );
});

/** The in-toto statement of the first attestation cosign verify-attestation printed (one JSON per line). */
function attestation(out: string): any {
  const envelope = JSON.parse(out.trim().split("\n")[0]!);
  return JSON.parse(Buffer.from(envelope.payload, "base64").toString("utf8"));
}

test("a finding at --fail-on blocks (exit 1) and nothing is pushed; VEX or a higher threshold lets it through", async (t) => {
  if (!requireTools(t, TOOLS)) return;
  const { image, digest } = await pushApp("shop/api", "4.17.15");
  const blocked = vigil(ciArgs(image, "--no-provenance", "--json"), { env: NO_CI });
  assert.equal(blocked.status, 1, blocked.stderr);
  const verdict = blocked.json();
  const finding = verdict.checks.find((c: { rule: string }) => c.rule === "GHSA-p6mc-m468-83gw");
  assert.equal(finding.status, "fail");
  assert.equal(finding.subject, "pkg:npm/lodash@4.17.15");
  for (const rule of ["sign", "attest-sbom", "attest-provenance"]) {
    const c = verdict.checks.find((x: { gate: string; rule: string }) => x.gate === "ci" && x.rule === rule);
    assert.equal(c.status, "skip");
    assert.match(c.message, /the scan blocked this image/);
  }
  // Nothing was pushed: no referrer of the digest, so cosign finds no signature.
  const referrers = await s.client.repository(`${s.registry.host}/shop/api`).referrers(digest);
  assert.equal(referrers.length, 0);
  assert.throws(
    () => cosign(["verify", "--key", key.publicPath, ...COSIGN_OFFLINE_VERIFY, `${s.registry.host}/shop/api@${digest}`], s.dir),
    /no signatures found|no matching signatures/,
  );

  // The table a CI log shows names the advisory and the fix.
  const table = vigil(ciArgs(image, "--no-provenance"), { env: NO_CI });
  assert.equal(table.status, 1);
  assert.match(table.stdout, /FAIL\s+vulnerability\s+GHSA-p6mc-m468-83gw.*upgrade lodash to 4.17.19/);
  assert.match(table.stdout, /verdict: FAIL/);

  writeFileSync(
    join(dir, "lodash.vex.json"),
    JSON.stringify({
      "@context": "https://openvex.dev/ns/v0.2.0",
      "@id": "https://acme.example/vex/1",
      author: "acme",
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
  );
  const vexed = vigil(ciArgs(image, "--no-provenance", "--json", "--vex", join(dir, "lodash.vex.json")), { env: NO_CI });
  assert.equal(vexed.status, 0, vexed.stderr);
  assert.equal(vexed.json().checks.find((c: { rule: string }) => c.rule === "GHSA-p6mc-m468-83gw").status, "skip");
  const critical = vigil(ciArgs(image, "--no-provenance", "--json", "--fail-on", "critical"), { env: NO_CI });
  assert.equal(critical.status, 0, critical.stderr);
  assert.equal(critical.json().checks.find((c: { rule: string }) => c.rule === "GHSA-p6mc-m468-83gw").status, "warn");
  cosign(["verify", "--key", key.publicPath, ...COSIGN_OFFLINE_VERIFY, `${s.registry.host}/shop/api@${digest}`], s.dir);
});

test("a registry serving a tampered layer: blocked (exit 1) with the layer named, nothing signed", async (t) => {
  if (!requireTools(t, TOOLS)) return;
  const { image, digest } = await pushApp("shop/tampered", "4.17.21");
  const manifest = JSON.parse((await s.client.repository(`${s.registry.host}/shop/tampered`).getManifest(digest)).bytes.toString("utf8"));
  const layer: string = manifest.layers[0].digest;
  // The registry's own storage, edited behind its back: same size, other bytes.
  const data = join(s.registry.storage, "docker/registry/v2/blobs/sha256", layer.slice(7, 9), layer.slice(7), "data");
  const original = readFileSync(data);
  writeFileSync(data, Buffer.alloc(original.length, 0x1f));
  t.after(() => writeFileSync(data, original));
  const r = vigil(ciArgs(image, "--no-provenance"), { env: NO_CI });
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, new RegExp(layer.slice(7, 19)));
  assert.deepEqual(await s.client.repository(`${s.registry.host}/shop/tampered`).referrers(digest), []);
});

test("GitLab CI: the provenance names the project, commit, job and runner", async (t) => {
  if (!requireTools(t, TOOLS)) return;
  const { image, digest } = await pushApp("shop/worker", "4.17.21");
  const r = vigil(ciArgs(image, "--json"), { env: { ...NO_CI, ...GITLAB_ENV } });
  assert.equal(r.status, 0, r.stderr);
  const provenance = attestation(
    cosign(
      [
        "verify-attestation",
        "--key",
        key.publicPath,
        "--type",
        "slsaprovenance1",
        ...COSIGN_OFFLINE_VERIFY,
        `${s.registry.host}/shop/worker@${digest}`,
      ],
      s.dir,
    ),
  );
  assert.equal(provenance.predicate.runDetails.builder.id, "https://gitlab.example.com/acme/shop/-/runners/12");
  assert.equal(provenance.predicate.runDetails.metadata.invocationId, GITLAB_ENV.CI_JOB_URL);
  assert.equal(provenance.predicate.buildDefinition.buildType, "https://gitlab.com/gitlab-org/gitlab-runner/-/blob/v17.5.0/PROVENANCE.md");
  assert.deepEqual(provenance.predicate.buildDefinition.resolvedDependencies[0].digest, { gitCommit: GITLAB_ENV.CI_COMMIT_SHA });
});

test("provenance variables are read strictly: a missing or malformed one is bad input naming it", () => {
  assert.equal(detectCi({}), undefined);
  assert.equal(detectCi(GITHUB_ENV)?.name, "github-actions");
  const refused = (env: Record<string, string>, pattern: RegExp) =>
    assert.throws(
      () => detectCi(env),
      (e: unknown) => e instanceof InputError && pattern.test(e.message),
    );
  refused({ ...GITHUB_ENV, GITHUB_SHA: "main" }, /^GITHUB_SHA: "main" is not a commit id/);
  refused({ ...GITHUB_ENV, GITHUB_WORKFLOW_REF: "" }, /^GITHUB_WORKFLOW_REF: not set/);
  refused({ ...GITHUB_ENV, GITHUB_SERVER_URL: "http://github.com" }, /^GITHUB_SERVER_URL: .* is not an https:\/\/ URL/);
  refused(
    { ...GITHUB_ENV, GITHUB_SERVER_URL: "https://user:s3cret@github.com" },
    /^GITHUB_SERVER_URL: a URL with credentials in it; give the server's URL alone/,
  );
  assert.throws(
    () => detectCi({ ...GITHUB_ENV, GITHUB_SERVER_URL: "https://user:s3cret@github.com" }),
    (e: Error) => !e.message.includes("s3cret"),
  );
  refused({ ...GITHUB_ENV, GITHUB_REPOSITORY: "acme/shop\nrefs" }, /^GITHUB_REPOSITORY: /);
  refused({ ...GITLAB_ENV, CI_RUNNER_ID: "12; rm -rf /" }, /^CI_RUNNER_ID: .* is not a number/);
  refused({ ...GITLAB_ENV, CI_JOB_STARTED_AT: "yesterday" }, /^CI_JOB_STARTED_AT: .* is not an RFC 3339 time/);
});

test("bad input is exit 2 naming what is wrong; an unreachable registry is exit 3", async (t) => {
  if (!requireTools(t, TOOLS)) return;
  const image = `${s.registry.host}/shop/web:v1`;
  const cases: [string[], Record<string, string>, RegExp][] = [
    [["ci", image, "--db", db, "--no-provenance"], NO_CI, /give --key FILE or --keyless/],
    [["ci", image, "--key", key.privatePath, "--keyless", "--db", db, "--no-provenance"], NO_CI, /give --key or --keyless, not both/],
    [ciArgs(image, "--no-provenance", "--fail-on", "severe"), NO_CI, /--fail-on must be one of low, medium, high, critical/],
    [ciArgs(image), NO_CI, /no CI here to take provenance from .* --no-provenance/],
    [ciArgs(image), { ...NO_CI, ...GITHUB_ENV, GITHUB_RUN_ID: "latest" }, /GITHUB_RUN_ID: "latest" is not a number/],
    [
      ["ci", image, "--key", key.privatePath, "--db", join(dir, "no-db"), "--no-provenance", "--allow-http-registry"],
      NO_CI,
      /no vulnerability database here/,
    ],
    [ciArgs(image, "--no-provenance", "--vex", join(dir, "missing.vex.json")), NO_CI, /missing.vex.json: cannot read the VEX document/],
    [ciArgs("not a reference", "--no-provenance"), NO_CI, /image reference "not a reference"/],
    [ciArgs(image, "--no-provenance"), { ...NO_CI, COSIGN_PASSWORD: "wrong" }, /ci.key/],
  ];
  for (const [args, env, message] of cases) {
    const r = vigil(args, { env });
    assert.equal(r.status, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, message);
  }
  const unreachable = vigil(ciArgs("127.0.0.1:1/shop/web:v1", "--no-provenance"), { env: NO_CI });
  assert.equal(unreachable.status, 3, unreachable.stderr);
  assert.match(unreachable.stderr, /127\.0\.0\.1:1/);
  const help = vigil(["ci", "--help"]);
  assert.equal(help.status, 0);
  assert.match(help.stdout, /--keyless/);
});
