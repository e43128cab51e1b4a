// x509 (gitsign-style) commit signatures through the whole gate: `vigil verify commits --trusted-root`.
import { strict as assert } from "node:assert";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { TestRepo, writePolicy, type Signer } from "./helpers/git-fixture.ts";
import { requireTools, tempDir, vigil } from "./helpers/tools.ts";
import { TEST_ISSUER, TestCa, cmsSignProgram } from "./helpers/x509-fixture.ts";

describe("revision gate with x509 signatures", () => {
  it("passes a commit whose certificate chains to the trusted root and names a policy signer; refuses without the root or for another identity", (t) => {
    if (!requireTools(t, ["git", "openssl"])) return;
    const root = tempDir(t);
    const ca = new TestCa(root, "ca");
    const program = cmsSignProgram(join(root, "cms-sign.sh"));
    const leaf = ca.leaf({ email: "carol@example.com" });
    const carol: Signer = {
      name: "carol",
      email: "carol@example.com",
      policyEntry: {},
      gitConfig: ["-c", "gpg.format=x509", "-c", `gpg.x509.program=${program}`, "-c", "user.signingkey=carol"],
    };
    const trustedRoot = join(root, "trusted_root.json");
    writeFileSync(trustedRoot, JSON.stringify(ca.trustedRootJson()));
    const trust = writePolicy(join(root, "trust.yaml"), {
      signers: [{ name: "carol", sigstore: { identity: "carol@example.com", issuer: TEST_ISSUER } }],
      paths: [{ pattern: "**", owners: ["carol"] }],
    });
    const repo = new TestRepo(join(root, "repo"));
    process.env.VIGIL_X509_SIGNER = leaf;
    t.after(() => delete process.env.VIGIL_X509_SIGNER);
    repo.commit({ "app.yaml": "a: 1\n" }, carol);

    let out = vigil(["verify", "commits", "--repo", repo.dir, "--trust", trust, "--trusted-root", trustedRoot, "--json"]);
    assert.equal(out.status, 0, out.stdout + out.stderr);
    assert.match(out.json().checks[0].message, /signed by carol \(x509 carol@example\.com \(issuer https:\/\/issuer\.example\)/);

    out = vigil(["verify", "commits", "--repo", repo.dir, "--trust", trust, "--json"]);
    assert.equal(out.status, 1);
    assert.match(out.json().checks[0].message, /--trusted-root/);

    const other = writePolicy(join(root, "other.yaml"), {
      signers: [{ name: "carol", sigstore: { identity: "carol@evil.test", issuer: TEST_ISSUER } }],
      paths: [{ pattern: "**", owners: ["carol"] }],
    });
    out = vigil(["verify", "commits", "--repo", repo.dir, "--trust", other, "--trusted-root", trustedRoot, "--json"]);
    assert.equal(out.status, 1);
    assert.match(out.json().checks[0].message, /carol@example\.com/);

    writeFileSync(join(root, "broken.json"), "{ not json");
    out = vigil(["verify", "commits", "--repo", repo.dir, "--trust", trust, "--trusted-root", join(root, "broken.json")]);
    assert.equal(out.status, 2);
    assert.match(out.stderr, /broken\.json/);
  });
});
