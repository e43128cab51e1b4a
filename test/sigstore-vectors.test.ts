// The public Sigstore verification vectors in ../shared/data/sigstore: every case runs through
// `vigil verify blob` as a user runs it (image cases through the library's image verification), and
// must pass or fail as the case expects. The flags come from each case's fields alone.
import { strict as assert } from "node:assert";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { parseBundle } from "../src/sigstore/bundle.ts";
import { VerificationFailure } from "../src/sigstore/failure.ts";
import { verifyImageBundle } from "../src/sigstore/image.ts";
import { loadTrustedRootFile } from "../src/trust/trusted-root.ts";
import { requireSharedData, vigil } from "./helpers/tools.ts";

const DATA = new URL("../../shared/data/sigstore/", import.meta.url).pathname;

interface Case {
  name: string;
  expect: "pass" | "fail";
  reason: string;
  bundle: string;
  artifact: string | null;
  artifact_digest: string | null;
  artifact_role: string;
  trusted_root: string;
  policy:
    | { type: "certificate-identity"; certificate_identity: string; certificate_oidc_issuer: string }
    | { type: "certificate-identity-regexp"; certificate_identity_regexp: string; certificate_oidc_issuer_regexp: string }
    | { type: "public-key"; public_key: string }
    | { type: "none" };
}

const cases: Case[] = (() => {
  try {
    return JSON.parse(readFileSync(join(DATA, "cases.json"), "utf8"));
  } catch {
    return [];
  }
})();

const path = (p: string) => join(DATA, p);
const isImage = (c: Case) => /OCI image/.test(c.artifact_role);

function policyFlags(c: Case): string[] {
  switch (c.policy.type) {
    case "public-key":
      return ["--key", path(c.policy.public_key)];
    case "certificate-identity":
      return ["--certificate-identity", c.policy.certificate_identity, "--certificate-oidc-issuer", c.policy.certificate_oidc_issuer];
    case "certificate-identity-regexp":
      return [
        "--certificate-identity-regexp",
        c.policy.certificate_identity_regexp,
        "--certificate-oidc-issuer-regexp",
        c.policy.certificate_oidc_issuer_regexp,
      ];
    case "none":
      // No identity policy upstream: any identity, said explicitly, as cosign users say it.
      return ["--certificate-identity-regexp", ".*", "--certificate-oidc-issuer-regexp", ".*"];
  }
}

function artifactFlags(c: Case): string[] {
  if (c.artifact) return [path(c.artifact)];
  if (c.artifact_digest) return ["--digest", c.artifact_digest];
  return ["--skip-subject-check"];
}

/** Runs a case through the CLI; returns whether it verified and the reason shown when it did not. */
function runCli(c: Case): { passed: boolean; reason: string } {
  const out = vigil([
    "verify",
    "blob",
    ...artifactFlags(c),
    "--bundle",
    path(c.bundle),
    "--trusted-root",
    path(c.trusted_root),
    ...policyFlags(c),
    "--json",
  ]);
  if (out.status === 0) return { passed: true, reason: "" };
  assert.ok(out.status === 1 || out.status === 2, `${c.name}: exit ${out.status} is neither blocked nor bad input: ${out.stderr}`);
  const reason =
    out.status === 1
      ? out
          .json()
          .checks.filter((k: { status: string }) => k.status === "fail")
          .map((k: { rule: string; message: string }) => `${k.rule}: ${k.message}`)
          .join("; ")
      : out.stderr;
  return { passed: false, reason };
}

/** Runs an image case through verifyImageBundle with the case's digest, root and policy. */
function runImage(c: Case): { passed: boolean; reason: string } {
  const bundle = parseBundle(readFileSync(path(c.bundle), "utf8"), c.bundle);
  const statement = JSON.parse(Buffer.from(bundle.content.$case === "dsseEnvelope" ? bundle.content.dsseEnvelope.payload : []).toString());
  const p = c.policy;
  assert.equal(p.type, "certificate-identity-regexp", "image cases carry a regexp identity policy");
  if (p.type !== "certificate-identity-regexp") return { passed: false, reason: "" };
  try {
    verifyImageBundle(bundle, c.artifact_digest!, {
      trustedRoot: loadTrustedRootFile(path(c.trusted_root)),
      signer: {
        identities: [{ subject: { regexp: p.certificate_identity_regexp }, issuer: { regexp: p.certificate_oidc_issuer_regexp } }],
      },
      attestation: { predicateType: statement.predicateType },
    });
    return { passed: true, reason: "" };
  } catch (e) {
    if (!(e instanceof VerificationFailure)) throw e;
    return { passed: false, reason: `${e.step}: ${e.message}` };
  }
}

describe("Sigstore verification vectors", () => {
  const outcomes: { name: string; ok: boolean }[] = [];

  it("has the shared vectors", (t) => {
    if (!requireSharedData(t, join(DATA, "cases.json"))) return;
    assert.ok(cases.length > 0, "cases.json lists no case");
  });

  for (const c of cases) {
    it(`${c.name} must ${c.expect}`, () => {
      const { passed, reason } = isImage(c) ? runImage(c) : runCli(c);
      outcomes.push({ name: c.name, ok: passed === (c.expect === "pass") });
      if (c.expect === "pass") {
        assert.ok(passed, `${c.name} should verify (${c.reason}) but was refused: ${reason}`);
      } else {
        assert.ok(!passed, `${c.name} should be refused (${c.reason}) but verified`);
        // A refusal says why in words a person can act on: a named step and a sentence, or the file and field.
        assert.match(reason, /\w+: .{20,}/, `${c.name}: the refusal gives no reason: ${reason}`);
      }
    });
  }

  it("reports how many vectors behave as expected", () => {
    const right = outcomes.filter((o) => o.ok).length;
    console.log(
      `Sigstore vectors: ${right} of ${cases.length} as expected (${cases.filter((c) => c.expect === "pass").length} pass, ${cases.filter((c) => c.expect === "fail").length} fail cases)`,
    );
    assert.equal(right, cases.length);
  });
});
