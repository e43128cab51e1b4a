// The providers' rules one by one: for each, a token in the provider's published format (fresh random
// characters every run, never a real credential) is found by that rule alone, at its line, with the
// fingerprint of the secret; and a decoy that looks like it (a wrong length or alphabet, a placeholder,
// the public half of a pair) is not found at all. The linear-time check over hostile text covers every
// rule in secrets-scanner.test.ts.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { test } from "node:test";
import { secretRules } from "../src/secrets/rules.ts";
import { fingerprintOf, scanText } from "../src/secrets/scan-text.ts";

const UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const LOWER = "abcdefghijklmnopqrstuvwxyz";
const DIGITS = "0123456789";
const ALNUM = UPPER + LOWER + DIGITS;
const HEX = "0123456789abcdef";
const B64 = ALNUM + "+/";

function pick(alphabet: string, n: number): string {
  const bytes = randomBytes(n * 4);
  return Array.from({ length: n }, (_, i) => alphabet[bytes.readUInt32BE(i * 4) % alphabet.length]).join("");
}
const uuid = () => `${pick(HEX, 8)}-${pick(HEX, 4)}-${pick(HEX, 4)}-${pick(HEX, 4)}-${pick(HEX, 12)}`;

interface Case {
  rule: string;
  /** A line leaking a fresh token, and the secret the fingerprint is of. */
  leak(): { line: string; secret: string };
  decoy: string;
}

const token = (prefixName: string, secret: string) => ({ line: `${prefixName}: ${secret}`, secret });

const base64Pem = (header: string) =>
  Buffer.from(`-----BEGIN ${header}-----\n${pick(B64, 64)}\n${pick(B64, 64)}\n-----END ${header}-----\n`).toString("base64");

const cases: Case[] = [
  { rule: "alibaba-secret-key", leak: () => token("alibaba_secret", pick(ALNUM, 30)), decoy: "alibaba_secret: ${ALIBABA_SECRET}" },
  {
    rule: "aws-session-token",
    leak: () => token("aws_session_token", pick(B64, 300)),
    decoy: "aws_session_token: <session token from sts assume-role>",
  },
  {
    rule: "azure-shared-access-key",
    leak: () => {
      const k = pick(B64, 43) + "=";
      return { line: `connection: Endpoint=sb://shop.servicebus.windows.net/;SharedAccessKeyName=send;SharedAccessKey=${k}`, secret: k };
    },
    decoy: "connection: Endpoint=sb://shop.servicebus.windows.net/;SharedAccessKeyName=send;SharedAccessKey=${KEY}",
  },
  {
    rule: "azure-sas-token",
    leak: () => {
      const sig = pick(ALNUM, 40) + "%3D";
      return { line: `url: https://shop.blob.core.windows.net/c/f?sv=2022-11-02&ss=b&srt=o&sp=r&se=2030-01-01&sig=${sig}`, secret: sig };
    },
    decoy: "url: https://shop.blob.core.windows.net/c/f?sv=2022-11-02&sig=REDACTED",
  },
  {
    rule: "openshift-user-token",
    leak: () => token("value", "sha256~" + pick(ALNUM + "_-", 43)),
    decoy: "digest: sha256:" + "ab".repeat(32),
  },
  { rule: "cloudflare-origin-ca-key", leak: () => token("value", `v1.0-${pick(HEX, 24)}-${pick(HEX, 146)}`), decoy: "version: v1.0-beta" },
  { rule: "yandex-api-key", leak: () => token("value", "AQVN" + pick(ALNUM + "_-", 36)), decoy: "value: AQVN-short" },
  { rule: "scalingo-api-token", leak: () => token("value", "tk-us-" + pick(ALNUM + "_-", 48)), decoy: "value: tk-us-east" },
  {
    rule: "tailscale-key",
    leak: () => token("value", `tskey-auth-${pick(ALNUM, 12)}-${pick(ALNUM, 32)}`),
    decoy: "value: tskey-auth-XXXX",
  },
  { rule: "render-api-key", leak: () => token("value", "rnd_" + pick(ALNUM, 32)), decoy: "value: rnd_seed" },
  { rule: "netlify-token", leak: () => token("value", "nfp_" + pick(ALNUM, 36)), decoy: "value: nfp_example" },
  { rule: "supabase-token", leak: () => token("value", "sbp_" + pick(HEX, 40)), decoy: "value: sbp_" + "g".repeat(40) },
  {
    rule: "jfrog-identity-token",
    leak: () => token("artifactory_token", pick(LOWER + DIGITS, 64)),
    decoy: "artifactory_url: https://acme.jfrog.io/artifactory",
  },
  {
    rule: "gitlab-cicd-job-token",
    leak: () => token("value", `glcbt-${pick(ALNUM, 2)}_${pick(ALNUM, 20)}`),
    decoy: "value: glcbt-$CI_JOB_TOKEN",
  },
  { rule: "gitlab-feed-token", leak: () => token("value", "glft-" + pick(ALNUM, 20)), decoy: "value: glft-short" },
  { rule: "gitlab-kubernetes-agent-token", leak: () => token("value", "glagent-" + pick(ALNUM, 50)), decoy: "value: glagent-config" },
  { rule: "gitlab-oauth-app-secret", leak: () => token("value", "gloas-" + pick(ALNUM, 64)), decoy: "value: gloas-" + pick(ALNUM, 20) },
  { rule: "gitlab-scim-token", leak: () => token("value", "glsoat-" + pick(ALNUM, 20)), decoy: "value: glsoat-" + pick(ALNUM, 8) },
  { rule: "gitlab-incoming-mail-token", leak: () => token("value", "glimt-" + pick(ALNUM, 25)), decoy: "value: glimt-" + pick(ALNUM, 10) },
  {
    rule: "gitlab-feature-flag-client-token",
    leak: () => token("value", "glffct-" + pick(ALNUM, 20)),
    decoy: "value: glffct-" + pick(ALNUM, 6),
  },
  { rule: "buildkite-token", leak: () => token("value", "bkua_" + pick(HEX, 40)), decoy: "value: bkua_" + pick(HEX, 12) },
  {
    rule: "harness-api-key",
    leak: () => token("value", `pat.${pick(ALNUM, 22)}.${pick(ALNUM, 24)}.${pick(ALNUM, 20)}`),
    decoy: "path: pat.config.yaml",
  },
  { rule: "sourcegraph-access-token", leak: () => token("value", `sgp_${pick(HEX, 16)}_${pick(HEX, 40)}`), decoy: "value: sgp_local" },
  { rule: "sonarqube-token", leak: () => token("value", "squ_" + pick(HEX, 40)), decoy: "value: squ_" + "z".repeat(40) },
  {
    rule: "slack-legacy-token",
    leak: () => token("value", `xoxs-${pick(DIGITS, 10)}-${pick(DIGITS, 10)}-${pick(DIGITS, 10)}-${pick(HEX, 32)}`),
    decoy: "value: xoxs-example",
  },
  {
    rule: "slack-config-token",
    leak: () => token("value", `xoxe.xoxp-1-${pick(UPPER + DIGITS, 164)}`),
    decoy: "value: xoxe.xoxp-1-REDACTED",
  },
  {
    rule: "discord-bot-token",
    leak: () => token("discord_bot", `M${pick(ALNUM, 23)}.${pick(ALNUM, 6)}.${pick(ALNUM + "_-", 30)}`),
    decoy: "discord_bot: ${DISCORD_TOKEN}",
  },
  { rule: "stripe-webhook-secret", leak: () => token("value", "whsec_" + pick(ALNUM, 32)), decoy: "value: whsec_..." },
  {
    rule: "square-oauth-secret",
    leak: () => token("value", "sq0csp-" + pick(ALNUM + "_-", 43)),
    decoy: "value: sq0csp-" + pick(ALNUM, 10),
  },
  { rule: "brevo-api-key", leak: () => token("value", `xkeysib-${pick(HEX, 64)}-${pick(ALNUM, 16)}`), decoy: "value: xkeysib-<your-key>" },
  { rule: "shippo-api-token", leak: () => token("value", "shippo_live_" + pick(HEX, 40)), decoy: "value: shippo_live_<token>" },
  { rule: "duffel-api-token", leak: () => token("value", "duffel_live_" + pick(ALNUM + "_-", 43)), decoy: "value: duffel_test_key" },
  { rule: "easypost-api-token", leak: () => token("value", "EZAK" + pick(ALNUM, 54)), decoy: "value: EZAK" + pick(ALNUM, 10) },
  {
    rule: "flutterwave-secret-key",
    leak: () => token("value", `FLWSECK_TEST-${pick("abcdefgh0123456789", 32)}-X`),
    decoy: "value: FLWSECK_TEST-xxxx-X",
  },
  {
    rule: "dynatrace-api-token",
    leak: () => token("value", `dt0c01.${pick(UPPER + DIGITS, 24)}.${pick(UPPER + DIGITS, 64)}`),
    decoy: "value: dt0c01.EXAMPLE",
  },
  { rule: "infracost-api-token", leak: () => token("value", "ico-" + pick(ALNUM, 32)), decoy: "icon: ico-" + pick(LOWER, 8) },
  { rule: "prefect-api-token", leak: () => token("value", "pnu_" + pick(ALNUM, 36)), decoy: "value: pnu_" + pick(ALNUM, 12) },
  { rule: "readme-api-token", leak: () => token("value", "rdme_" + pick(LOWER + DIGITS, 70)), decoy: "file: rdme_notes.md" },
  { rule: "frameio-api-token", leak: () => token("value", "fio-u-" + pick(ALNUM + "_-", 64)), decoy: "value: fio-u-short" },
  { rule: "typeform-api-token", leak: () => token("value", "tfp_" + pick(ALNUM, 59)), decoy: "value: tfp_" + pick(ALNUM, 20) },
  { rule: "contentful-token", leak: () => token("value", "CFPAT-" + pick(ALNUM + "_-", 43)), decoy: "value: CFPAT-xxxx" },
  {
    rule: "airtable-pat",
    leak: () => token("value", `pat${pick(ALNUM, 14)}.${pick(HEX, 64)}`),
    decoy: "mountPath: /var/run/secrets/patches.d",
  },
  { rule: "adobe-client-secret", leak: () => token("value", "p8e-" + pick(ALNUM, 32)), decoy: "value: p8e-" + pick(ALNUM, 8) },
  {
    rule: "defined-networking-api-token",
    leak: () => token("value", `dnkey-${pick(LOWER + DIGITS, 26)}-${pick(LOWER + DIGITS, 52)}`),
    decoy: "value: dnkey-example",
  },
  {
    rule: "mapbox-secret-token",
    leak: () => token("value", `sk.eyJ1${pick(ALNUM, 60)}.${pick(ALNUM, 22)}`),
    decoy: `value: pk.eyJ1${pick(ALNUM, 60)}.${pick(ALNUM, 22)}`,
  },
  { rule: "dropbox-token", leak: () => token("value", "sl." + pick(ALNUM + "_-", 140)), decoy: "host: tls.example.com" },
  {
    rule: "onepassword-service-account-token",
    leak: () => token("value", "ops_eyJ" + pick(ALNUM, 300)),
    decoy: "value: ops_eyJ" + pick(ALNUM, 20),
  },
  {
    rule: "onepassword-secret-key",
    leak: () =>
      token(
        "value",
        `A3-${pick(UPPER + DIGITS, 6)}-${pick(UPPER + DIGITS, 11)}-${pick(UPPER + DIGITS, 5)}-${pick(UPPER + DIGITS, 5)}-${pick(UPPER + DIGITS, 5)}`,
      ),
    decoy: "paper: A3-PORTRAIT",
  },
  { rule: "heroku-api-key-legacy", leak: () => token("heroku_api_key", uuid()), decoy: "heroku_app: shop-production" },
  { rule: "snyk-api-token", leak: () => token("snyk_token", uuid()), decoy: "snyk_org: acme" },
  { rule: "hubspot-api-key", leak: () => token("hubspot_api_key", uuid()), decoy: "hubspot_portal: 123456" },
  { rule: "okta-access-token", leak: () => token("okta_api_token", "00" + pick(ALNUM, 40)), decoy: "okta_domain: acme.okta.com" },
  { rule: "algolia-api-key", leak: () => token("algolia_admin_key", pick(LOWER + DIGITS, 32)), decoy: "algolia_app_id: ACME" },
  { rule: "ngrok-authtoken", leak: () => token("ngrok_authtoken", `${pick(ALNUM, 27)}_${pick(ALNUM, 21)}`), decoy: "ngrok_region: eu" },
  { rule: "new-relic-insights-key", leak: () => token("value", "NRIQ-" + pick(ALNUM, 32)), decoy: "value: NRIQ-example" },
  {
    rule: "base64-private-key",
    leak: () => {
      const s = base64Pem("RSA PRIVATE KEY");
      return { line: `  tls.key: ${s}`, secret: s };
    },
    decoy: `  tls.crt: ${base64Pem("CERTIFICATE")}`,
  },
  {
    rule: "putty-private-key",
    leak: () => {
      const key = `PuTTY-User-Key-File-3: ssh-ed25519\nEncryption: none\nComment: deploy\nPublic-Lines: 2\n${pick(B64, 64)}\n${pick(B64, 20)}\nPrivate-Lines: 2\n${pick(B64, 64)}`;
      return { line: `${key}\n${pick(B64, 40)}\nPrivate-MAC: ${pick(HEX, 64)}`, secret: key };
    },
    decoy: "# convert with puttygen: PuTTY-User-Key-File-3 files hold the key",
  },
];

test("every provider rule finds a fresh token of its format, alone, with the secret's fingerprint", () => {
  for (const c of cases) {
    assert.ok(
      secretRules.some((r) => r.id === c.rule),
      `no rule ${c.rule}`,
    );
    for (let i = 0; i < 10; i++) {
      const { line, secret } = c.leak();
      const findings = scanText(`kind: ConfigMap\nmetadata: { name: app }\n${line}\n`);
      assert.deepEqual(
        findings.map((f) => f.rule),
        [c.rule],
        line,
      );
      assert.equal(findings[0]!.line, 3, line);
      assert.equal(findings[0]!.fingerprint, fingerprintOf(c.rule, secret), `${c.rule}: the fingerprint is of the secret`);
    }
  }
});

test("every provider rule leaves its decoy alone", () => {
  for (const c of cases)
    assert.deepEqual(
      scanText(`kind: ConfigMap\n${c.decoy}\n`).map((f) => f.rule),
      [],
      `${c.rule}: ${c.decoy}`,
    );
});

test("the rule set covers the providers gitleaks' default set names and more: at least 120 rules, each with a description", () => {
  assert.ok(secretRules.length >= 120, `${secretRules.length} rules`);
  for (const r of secretRules) assert.ok(r.description.length > 5, r.id);
});

test("the bounded lazy expressions (SAS signatures, base64 and PuTTY keys) end over text built to make them backtrack", () => {
  const hostile = [
    "?sv=2024-01-01&".repeat(20_000) + "sig",
    ("LS0tLS1CRUdJTi" + "A".repeat(30)).repeat(5_000),
    "LS0tLS1CRUdJTiBSU0EgUFJJVkFURSBLRVkt" + "A".repeat(200_000) + "!",
    ("PuTTY-User-Key-File-3: " + "x".repeat(100) + "\n").repeat(2_000) + "Private-Lines: 1\n",
    "sl." + "a".repeat(100_000),
    ("pat" + "a".repeat(13) + ".").repeat(10_000),
  ].join("\n");
  const findings = scanText(hostile);
  assert.ok(
    findings.every((f) => f.rule !== "azure-sas-token" && f.rule !== "putty-private-key"),
    JSON.stringify(findings.map((f) => f.rule)),
  );
});
