// The trust policy's images rules: who must sign what, validated with messages that name the rule.
import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import { imageRules } from "../src/artifact/gate.ts";
import { parseTrustPolicy } from "../src/trust/policy.ts";

const policy = (images: string, signers = "") =>
  parseTrustPolicy(`apiVersion: vigil.dev/v1alpha1\nkind: TrustPolicy\n${signers}images:\n${images}`, "trust.yaml", () => "");

describe("trust policy images rules", () => {
  it("accepts keys, named sigstore signers, identities (exact or pattern), attestations with fields", async () => {
    const p = await policy(
      `  - pattern: "registry.example.com/team/**"
    signers:
      - key: "-----BEGIN PUBLIC KEY-----"
      - signer: carol
      - { identityRegexp: "^https://github.com/acme/", issuer: "https://token.actions.githubusercontent.com" }
    attestations:
      - predicateType: https://slsa.dev/provenance/v1
        fields: [{ path: buildDefinition.externalParameters.workflow.repository, equals: "https://github.com/acme/app" }]
  - { pattern: "docker.io/library/*", allowUnsigned: true }
`,
      "signers:\n  - { name: carol, sigstore: { identity: carol@example.com, issuer: https://accounts.example.com } }\n",
    );
    assert.equal(p.doc.images.length, 2);
  });

  it("refuses rules that would let an image through by accident, naming file, line and field", async () => {
    const cases: [string, RegExp][] = [
      ['  - pattern: "a.io/**"\n', /trust\.yaml:4 images\[0\]: give signers, or allowUnsigned: true/],
      [
        '  - { pattern: "a.io/**", allowUnsigned: true, signers: [{ key: k }] }\n',
        /images\[0\]\.allowUnsigned: a rule that allows unsigned images cannot also require signers/,
      ],
      ['  - { pattern: "a.io/**", signers: [{ signer: nobody }] }\n', /images\[0\]\.signers\[0\]\.signer: unknown signer "nobody"/],
      [
        '  - { pattern: "a.io/**", signers: [{ identity: a@b.c }] }\n',
        /images\[0\]\.signers\[0\]: give exactly one of issuer or issuerRegexp/,
      ],
      [
        '  - { pattern: "a.io/**", signers: [{ identity: a, identityRegexp: b, issuer: c }] }\n',
        /give exactly one of identity or identityRegexp/,
      ],
      ['  - { pattern: "a.io/**", signers: [{ kee: k }] }\n', /images\[0\]\.signers\[0\]/],
      [
        '  - { pattern: "a.io/**", signers: [{ key: k }], attestations: [{ predicateType: t, fields: [{ path: p }] }] }\n',
        /images\[0\]\.attestations\[0\]\.fields\[0\]/,
      ],
    ];
    for (const [images, expected] of cases) await assert.rejects(policy(images), expected, images);
  });

  it("lets the most specific pattern decide, whatever the order", async () => {
    const p = await policy(`  - { pattern: "registry.example.com/**", signers: [{ key: broad }] }
  - { pattern: "registry.example.com/team/app", signers: [{ key: narrow }] }
  - { pattern: "registry.example.com/team/*", allowUnsigned: true }
`);
    const rules = imageRules(p);
    assert.equal(rules.ruleFor("registry.example.com/team/app")!.pattern, "registry.example.com/team/app");
    assert.equal(rules.ruleFor("registry.example.com/team/other")!.pattern, "registry.example.com/team/*");
    assert.equal(rules.ruleFor("registry.example.com/team/deep/other")!.pattern, "registry.example.com/**");
    assert.equal(rules.ruleFor("ghcr.io/team/app"), undefined);
  });
});
