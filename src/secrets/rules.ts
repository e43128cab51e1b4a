// The secret rules: the published formats of providers' keys and tokens (their prefixes, alphabets and
// lengths, as each provider documents them), private keys, credentials in connection strings, JWTs, and a
// generic rule for a high-entropy value assigned to a secret-sounding name. Together they cover the
// categories of gitleaks' default set (cloud keys, source-host and CI tokens, chat and payment APIs,
// package registries, observability, AI providers, private keys, connection strings, JWTs, entropy).
//
// Every expression runs over text an attacker may have written, so each is linear: bounded repetitions
// of single character classes, no nested or overlapping quantifiers. A rule's regex only runs on a file
// whose lower-cased text contains one of its keywords, which is what keeps a scan fast.

export interface SecretRule {
  id: string;
  description: string;
  /** Lower-case strings one of which the text must contain for the regex to run. */
  keywords: readonly string[];
  /** Global; capture group 1 is the secret when present, else the whole match. */
  regex: RegExp;
  /** The least Shannon entropy (bits per character) the secret must have. */
  entropy?: number;
  /** Values that read as placeholders or references (${VAR}, <password>, changeme) are not secrets. */
  skipPlaceholders?: boolean;
  /** Runs after the specific rules and is silent where one of them already matched the same characters. */
  generic?: boolean;
}

// A token ends where a token character does not follow (the regex's lookahead, \b for word alphabets).
const end = "(?![A-Za-z0-9_-])";
const start = "(?<![A-Za-z0-9_-])";

function rule(
  id: string,
  description: string,
  keywords: string[],
  source: string,
  options: Partial<SecretRule> & { flags?: string } = {},
): SecretRule {
  const { flags = "", ...rest } = options;
  return { id, description, keywords, regex: new RegExp(source, `g${flags}`), ...rest };
}

/** A generic assignment: NAME (containing a secret-sounding word) = VALUE, in code, YAML, env or JSON. */
function assignment(names: string, value: string): string {
  return `(?:${names})[\\w.-]{0,20}["']?[ \\t]{0,5}(?::=|=>|=|:)[ \\t]{0,5}["'\`]?(${value})["'\`]?`;
}

/** A UUID as providers that use them for keys write them (either case). */
const UUID = "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}";

/** Generic rules last: they stay silent where a specific rule matched the same characters. */
export const secretRules: readonly SecretRule[] = (
  [
    // Private keys: PEM (PKCS#1, PKCS#8, EC, DSA, OpenSSH, encrypted) and PGP secret key blocks.
    rule(
      "private-key",
      "Private key",
      ["private key"],
      "-----BEGIN[ A-Z0-9_-]{0,100}PRIVATE KEY(?: BLOCK)?-----[\\s\\S]{64,16384}?-----END[ A-Z0-9_-]{0,100}PRIVATE KEY(?: BLOCK)?-----",
    ),
    // A private key as Kubernetes stores it: a Secret's tls.key or a kubeconfig's client-key-data is the PEM
    // file in base64 (at each of base64's three alignments of " PRIVATE KEY").
    rule(
      "base64-private-key",
      "Base64-encoded PEM private key (Secret data, kubeconfig client-key-data)",
      ["ls0tls1crudjti"],
      "LS0tLS1CRUdJTi[A-Za-z0-9+/]{0,24}?(?:UFJJVkFURSBLRV|QUklWQVRFIEtFW|BSSVZBVEUgS0VZ)[A-Za-z0-9+/]{100,20000}={0,2}",
    ),
    rule(
      "putty-private-key",
      "PuTTY private key file (header to its first private line)",
      ["putty-user-key-file-"],
      "PuTTY-User-Key-File-[23]: [\\s\\S]{0,4000}?Private-Lines: \\d{1,3}\\r?\\n[A-Za-z0-9+/=]{20,80}",
    ),
    rule("age-secret-key", "age secret key", ["age-secret-key-1"], "AGE-SECRET-KEY-1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58}"),

    // Cloud providers.
    rule(
      "aws-access-token",
      "AWS access key id",
      ["akia", "asia", "abia", "acca", "a3t"],
      `${start}((?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16})${end}`,
    ),
    rule(
      "aws-secret-access-key",
      "AWS secret access key",
      ["aws"],
      assignment("aws[\\w.-]{0,20}secret|secret[\\w.-]{0,20}aws", "[A-Za-z0-9/+=]{40}") + end,
      { flags: "i", entropy: 3.5 },
    ),
    rule("gcp-api-key", "Google Cloud API key", ["aiza"], `${start}(AIza[\\w-]{35})${end}`),
    rule("gcp-oauth-client-secret", "Google OAuth client secret", ["gocspx-"], `${start}(GOCSPX-[\\w-]{28})${end}`),
    rule("azure-storage-key", "Azure storage account key", ["accountkey="], "AccountKey=([A-Za-z0-9+/]{86}==)", { flags: "i" }),
    rule("azure-ad-client-secret", "Azure AD client secret", ["q~"], `${start}([A-Za-z0-9_~.]{3}\\dQ~[A-Za-z0-9_~.-]{31,34})${end}`, {
      entropy: 3.5,
    }),
    rule("digitalocean-token", "DigitalOcean token", ["dop_v1_", "doo_v1_", "dor_v1_"], `${start}(do[opr]_v1_[a-f0-9]{64})${end}`),
    rule("alibaba-access-key-id", "Alibaba Cloud AccessKey ID", ["ltai"], `${start}(LTAI[a-zA-Z0-9]{20})${end}`),
    rule(
      "alibaba-secret-key",
      "Alibaba Cloud AccessKey secret",
      ["alibaba", "aliyun"],
      assignment("alibaba|aliyun", "[a-zA-Z0-9]{30}") + end,
      { flags: "i", entropy: 3.5 },
    ),
    rule(
      "aws-session-token",
      "AWS session token",
      ["session"],
      assignment("aws[_-]?session[_-]?token|x-amz-security-token", "[A-Za-z0-9/+=]{100,2048}") + "(?![A-Za-z0-9/+=])",
      { flags: "i", entropy: 4 },
    ),
    rule(
      "azure-shared-access-key",
      "Azure Service Bus, Event Hubs or Cosmos DB shared access key",
      ["sharedaccesskey=", "accountendpoint="],
      "(?:SharedAccessKey|AccountKey)=([A-Za-z0-9+/]{43}=|[A-Za-z0-9+/]{86}==)",
      { flags: "i" },
    ),
    rule(
      "azure-sas-token",
      "Azure shared access signature",
      ["sig="],
      "[?&]sv=\\d{4}-\\d\\d-\\d\\d&[^\\s\"'`]{0,300}?[?&]?sig=([A-Za-z0-9%+/]{40,100})",
      { entropy: 3.5 },
    ),
    rule("openshift-user-token", "OpenShift user token", ["sha256~"], `${start}(sha256~[\\w-]{43})${end}`),
    rule("cloudflare-origin-ca-key", "Cloudflare Origin CA key", ["v1.0-"], `${start}(v1\\.0-[a-f0-9]{24}-[a-f0-9]{146})${end}`),
    rule("yandex-api-key", "Yandex Cloud API key", ["aqvn"], `${start}(AQVN[A-Za-z0-9_-]{35,38})${end}`),
    rule("scalingo-api-token", "Scalingo API token", ["tk-us-"], `${start}(tk-us-[\\w-]{48})${end}`),
    rule(
      "tailscale-key",
      "Tailscale auth, API or OAuth client key",
      ["tskey-"],
      `${start}(tskey-(?:api|auth|client|webhook|scim)-[a-zA-Z0-9]{8,20}-[a-zA-Z0-9]{20,64})${end}`,
    ),
    rule("render-api-key", "Render API key", ["rnd_"], `${start}(rnd_[a-zA-Z0-9]{32})${end}`),
    rule("netlify-token", "Netlify personal access token", ["nfp_"], `${start}(nfp_[a-zA-Z0-9]{36})${end}`),
    rule("supabase-token", "Supabase personal access token", ["sbp_"], `${start}(sbp_[a-f0-9]{40})${end}`),
    rule("flyio-token", "Fly.io token", ["fo1_", "fm1", "fm2_"], `${start}((?:fo1_[\\w-]{43}|fm[12][ar]?_[a-zA-Z0-9+/]{100,1024}={0,3}))`),
    rule("heroku-api-key", "Heroku API key", ["hrku-"], `${start}(HRKU-AA[0-9a-zA-Z_-]{58})${end}`),

    // Source hosts and CI.
    rule("github-pat", "GitHub personal access token", ["ghp_"], `${start}(ghp_[0-9a-zA-Z]{36})${end}`),
    rule("github-fine-grained-pat", "GitHub fine-grained personal access token", ["github_pat_"], `${start}(github_pat_\\w{82})${end}`),
    rule("github-oauth", "GitHub OAuth access token", ["gho_"], `${start}(gho_[0-9a-zA-Z]{36})${end}`),
    rule("github-app-token", "GitHub App token", ["ghu_", "ghs_"], `${start}((?:ghu|ghs)_[0-9a-zA-Z]{36})${end}`),
    rule("github-refresh-token", "GitHub refresh token", ["ghr_"], `${start}(ghr_[0-9a-zA-Z]{36})${end}`),
    rule("gitlab-pat", "GitLab personal access token", ["glpat-"], `${start}(glpat-[\\w-]{20,})${end}`),
    rule("gitlab-pipeline-trigger-token", "GitLab pipeline trigger token", ["glptt-"], `${start}(glptt-[0-9a-f]{40})${end}`),
    rule(
      "gitlab-runner-token",
      "GitLab runner registration token",
      ["gr1348941", "glrt-"],
      `${start}((?:GR1348941|glrt-)[\\w-]{20,})${end}`,
    ),
    rule("gitlab-deploy-token", "GitLab deploy token", ["gldt-"], `${start}(gldt-[0-9a-zA-Z_-]{20})${end}`),
    rule("bitbucket-app-password", "Bitbucket app password", ["atbb"], `${start}(ATBB[a-zA-Z0-9]{32})${end}`),
    rule("atlassian-api-token", "Atlassian API token", ["atatt3"], `${start}(ATATT3[A-Za-z0-9_=-]{186})${end}`),
    rule(
      "circleci-token",
      "CircleCI personal token",
      ["circle"],
      assignment("circle", "CCIPAT_[a-zA-Z0-9]{22}_[a-f0-9]{40}|[a-f0-9]{40}") + end,
      { flags: "i" },
    ),
    rule("jfrog-api-key", "JFrog Artifactory API key", ["akcp"], `${start}(AKCp[A-Za-z0-9]{69})${end}`),
    rule(
      "jfrog-identity-token",
      "JFrog identity or access token assigned to a JFrog name",
      ["jfrog", "artifactory"],
      assignment("jfrog|artifactory", "[a-z0-9]{64}") + end,
      { flags: "i", entropy: 3.5 },
    ),
    rule("gitlab-cicd-job-token", "GitLab CI/CD job token", ["glcbt-"], `${start}(glcbt-[0-9a-zA-Z]{1,5}_[0-9a-zA-Z_-]{20})${end}`),
    rule("gitlab-feed-token", "GitLab feed token", ["glft-"], `${start}(glft-[0-9a-zA-Z_-]{20})${end}`),
    rule("gitlab-kubernetes-agent-token", "GitLab agent for Kubernetes token", ["glagent-"], `${start}(glagent-[0-9a-zA-Z_-]{50})${end}`),
    rule("gitlab-oauth-app-secret", "GitLab OAuth application secret", ["gloas-"], `${start}(gloas-[0-9a-zA-Z_-]{64})${end}`),
    rule("gitlab-scim-token", "GitLab SCIM token", ["glsoat-"], `${start}(glsoat-[0-9a-zA-Z_-]{20})${end}`),
    rule("gitlab-incoming-mail-token", "GitLab incoming mail token", ["glimt-"], `${start}(glimt-[0-9a-zA-Z_-]{25})${end}`),
    rule("gitlab-feature-flag-client-token", "GitLab feature flag client token", ["glffct-"], `${start}(glffct-[0-9a-zA-Z_-]{20})${end}`),
    rule("buildkite-token", "Buildkite API access token", ["bkua_"], `${start}(bkua_[a-f0-9]{40})${end}`),
    rule(
      "harness-api-key",
      "Harness personal or service account token",
      ["pat.", "sat."],
      `${start}((?:pat|sat)\\.[a-zA-Z0-9_-]{22}\\.[a-zA-Z0-9]{24}\\.[a-zA-Z0-9]{20})${end}`,
    ),
    rule("sourcegraph-access-token", "Sourcegraph access token", ["sgp_"], `${start}(sgp_(?:[a-fA-F0-9]{16}|local)_[a-fA-F0-9]{40})${end}`),
    rule("sonarqube-token", "SonarQube token", ["squ_", "sqp_", "sqa_"], `${start}(sq[upa]_[a-f0-9]{40})${end}`),

    // Chat, mail and payments.
    rule("slack-bot-token", "Slack bot token", ["xoxb"], `${start}(xoxb-[0-9]{10,13}-[0-9]{10,13}[a-zA-Z0-9-]{0,64})`),
    rule("slack-user-token", "Slack user token", ["xoxp", "xoxe"], `${start}(xox[pe](?:-[0-9]{10,13}){3}-[a-zA-Z0-9-]{28,34})`),
    rule("slack-app-token", "Slack app-level token", ["xapp"], `${start}(xapp-\\d-[A-Z0-9]{1,32}-\\d{1,32}-[a-z0-9]{1,128})`, {
      flags: "i",
    }),
    rule(
      "slack-legacy-token",
      "Slack legacy, workspace or refresh token",
      ["xoxo", "xoxs", "xoxa", "xoxr"],
      `${start}(xox[os]-\\d{1,14}-\\d{1,14}-\\d{1,14}-[a-fA-F\\d]{16,64}|xox[ar]-(?:\\d-)?[0-9a-zA-Z]{8,48})${end}`,
    ),
    rule(
      "slack-config-token",
      "Slack configuration access or refresh token",
      ["xoxe"],
      `${start}(xoxe\\.xox[bp]-\\d-[A-Z0-9]{163,166}|xoxe-\\d-[A-Z0-9]{146})${end}`,
      { flags: "i" },
    ),
    rule(
      "discord-bot-token",
      "Discord bot token",
      ["discord"],
      assignment("discord", "[MN][A-Za-z\\d]{23}\\.[\\w-]{6}\\.[\\w-]{27,38}") + end,
      { flags: "i" },
    ),
    rule(
      "slack-webhook-url",
      "Slack webhook URL",
      ["hooks.slack.com"],
      "(hooks\\.slack\\.com/(?:services|workflows|triggers)/[A-Za-z0-9+/]{43,56})",
    ),
    rule(
      "discord-webhook-url",
      "Discord webhook URL",
      ["discord"],
      "(discord(?:app)?\\.com/api/webhooks/[0-9]{17,20}/[A-Za-z0-9_-]{60,68})",
    ),
    rule(
      "telegram-bot-token",
      "Telegram bot token",
      ["telegram", "tg"],
      assignment("telegram|tg", "[0-9]{5,16}:A[a-zA-Z0-9_-]{34}") + end,
      { flags: "i" },
    ),
    rule(
      "microsoft-teams-webhook",
      "Microsoft Teams webhook URL",
      ["webhook.office.com"],
      "(https://[a-z0-9]{1,50}\\.webhook\\.office\\.com/webhookb2/[a-z0-9-]{36}@[a-z0-9-]{36}/IncomingWebhook/[a-z0-9]{32}/[a-z0-9-]{36})",
      { flags: "i" },
    ),
    rule("sendgrid-api-token", "SendGrid API key", ["sg."], `${start}(SG\\.[\\w-]{22}\\.[\\w-]{43})${end}`),
    rule("mailgun-api-key", "Mailgun API key", ["mailgun"], assignment("mailgun", "key-[a-f0-9]{32}") + end, { flags: "i" }),
    rule("mailchimp-api-key", "Mailchimp API key", ["mailchimp", "-us"], `${start}([0-9a-f]{32}-us[0-9]{1,2})${end}`),
    rule("twilio-api-key", "Twilio API key", ["twilio"], assignment("twilio", "SK[0-9a-fA-F]{32}") + end, { flags: "i" }),
    rule(
      "stripe-secret-key",
      "Stripe secret or restricted key",
      ["sk_live", "sk_test", "rk_live", "rk_test", "sk_prod", "rk_prod"],
      `${start}((?:sk|rk)_(?:test|live|prod)_[0-9a-zA-Z]{10,99})${end}`,
    ),
    rule("stripe-webhook-secret", "Stripe webhook signing secret", ["whsec_"], `${start}(whsec_[a-zA-Z0-9]{32,64})${end}`),
    rule("square-oauth-secret", "Square OAuth application secret", ["sq0csp-"], `${start}(sq0csp-[0-9A-Za-z_-]{43})${end}`),
    rule("brevo-api-key", "Brevo (Sendinblue) API key", ["xkeysib-"], `${start}(xkeysib-[a-f0-9]{64}-[a-zA-Z0-9]{16})${end}`),
    rule("shippo-api-token", "Shippo API token", ["shippo_"], `${start}(shippo_(?:live|test)_[a-fA-F0-9]{40})${end}`),
    rule("duffel-api-token", "Duffel API token", ["duffel_"], `${start}(duffel_(?:test|live)_[a-zA-Z0-9_=-]{43})${end}`),
    rule("easypost-api-token", "EasyPost API key", ["ezak", "eztk"], `${start}(EZ[AT]K[a-zA-Z0-9]{54})${end}`),
    rule(
      "flutterwave-secret-key",
      "Flutterwave secret or encryption key",
      ["flwseck"],
      `${start}(FLWSECK(?:_TEST)?(?:-[a-h0-9]{32}-X|[a-h0-9]{12}))${end}`,
    ),
    rule(
      "square-access-token",
      "Square access token",
      ["sq0atp-", "eaaa"],
      `${start}((?:sq0atp-[0-9A-Za-z_-]{22}|EAAA[\\w+=-]{60}))${end}`,
    ),
    rule(
      "shopify-token",
      "Shopify access token or shared secret",
      ["shpat_", "shpca_", "shppa_", "shpss_"],
      `${start}(shp(?:at|ca|pa|ss)_[a-fA-F0-9]{32})${end}`,
    ),
    rule("facebook-access-token", "Facebook (Meta) access token", ["eaa"], `${start}(EAA[MC][A-Za-z0-9]{100,512})${end}`),

    // Package registries and artifact stores.
    rule("npm-access-token", "npm access token", ["npm_"], `${start}(npm_[a-zA-Z0-9]{36})${end}`),
    rule("pypi-upload-token", "PyPI upload token", ["pypi-ageichlwas5vcmc"], `${start}(pypi-AgEIcHlwaS5vcmc[\\w-]{50,1000})`),
    rule("rubygems-api-token", "RubyGems API token", ["rubygems_"], `${start}(rubygems_[a-f0-9]{48})${end}`),
    rule("nuget-api-key", "NuGet API key", ["oy2"], `${start}(oy2[a-z0-9]{43})${end}`),
    rule("dockerhub-pat", "Docker Hub personal access token", ["dckr_pat_", "dckr_oat_"], `${start}(dckr_(?:pat|oat)_[\\w-]{27,32})${end}`),
    rule("clojars-api-token", "Clojars deploy token", ["clojars_"], `${start}(CLOJARS_[a-z0-9]{60})${end}`, { flags: "i" }),

    // Infrastructure and platforms.
    rule("dynatrace-api-token", "Dynatrace API token", ["dt0c01."], `${start}(dt0c01\\.[a-zA-Z0-9]{24}\\.[a-zA-Z0-9]{64})${end}`),
    rule("infracost-api-token", "Infracost API key", ["ico-"], `${start}(ico-[a-zA-Z0-9]{32})${end}`),
    rule("prefect-api-token", "Prefect API key", ["pnu_"], `${start}(pnu_[a-zA-Z0-9]{36})${end}`),
    rule("readme-api-token", "ReadMe API key", ["rdme_"], `${start}(rdme_[a-z0-9]{70})${end}`),
    rule("frameio-api-token", "Frame.io API token", ["fio-u-"], `${start}(fio-u-[\\w=-]{64})${end}`),
    rule("typeform-api-token", "Typeform personal access token", ["tfp_"], `${start}(tfp_[a-zA-Z0-9_.=-]{59})${end}`),
    rule("contentful-token", "Contentful personal access token", ["cfpat-"], `${start}(CFPAT-[a-zA-Z0-9_-]{43})${end}`),
    rule("airtable-pat", "Airtable personal access token", ["pat"], `${start}(pat[a-zA-Z0-9]{14}\\.[a-f0-9]{64})${end}`),
    rule("adobe-client-secret", "Adobe client secret", ["p8e-"], `${start}(p8e-[a-zA-Z0-9]{32})${end}`),
    rule(
      "defined-networking-api-token",
      "Defined Networking API token",
      ["dnkey-"],
      `${start}(dnkey-[a-z0-9=_-]{26}-[a-z0-9=_-]{52})${end}`,
    ),
    rule("mapbox-secret-token", "Mapbox secret access token", ["sk.eyj1"], `${start}(sk\\.eyJ1[\\w-]{40,160}\\.[\\w-]{22})${end}`),
    rule("dropbox-token", "Dropbox short-lived access token", ["sl."], `${start}(sl\\.[A-Za-z0-9_=-]{130,152})${end}`),
    rule(
      "onepassword-service-account-token",
      "1Password service account token",
      ["ops_eyj"],
      `${start}(ops_eyJ[a-zA-Z0-9+/]{250,2048}={0,3})`,
    ),
    rule(
      "onepassword-secret-key",
      "1Password account secret key",
      ["a3-"],
      `${start}(A3-[A-Z0-9]{6}-(?:[A-Z0-9]{11}|[A-Z0-9]{6}-[A-Z0-9]{5})-[A-Z0-9]{5}-[A-Z0-9]{5}-[A-Z0-9]{5})${end}`,
    ),
    rule("heroku-api-key-legacy", "Heroku API key (UUID form) assigned to a Heroku name", ["heroku"], assignment("heroku", UUID) + end, {
      flags: "i",
    }),
    rule("snyk-api-token", "Snyk API token", ["snyk"], assignment("snyk", UUID) + end, { flags: "i" }),
    rule("hubspot-api-key", "HubSpot API key (UUID form)", ["hubspot"], assignment("hubspot", UUID) + end, { flags: "i" }),
    rule("okta-access-token", "Okta API token", ["okta"], assignment("okta", "00[\\w=-]{40}") + end, { flags: "i", entropy: 3.5 }),
    rule("algolia-api-key", "Algolia admin API key", ["algolia"], assignment("algolia", "[a-z0-9]{32}") + end, {
      flags: "i",
      entropy: 3.5,
    }),
    rule("ngrok-authtoken", "ngrok authtoken", ["ngrok"], assignment("ngrok", "[0-9a-zA-Z]{25,27}_[0-9a-zA-Z]{20,22}") + end, {
      flags: "i",
    }),
    rule(
      "new-relic-insights-key",
      "New Relic Insights query or insert key",
      ["nriq-", "nrii-"],
      `${start}(NRI[QI]-[A-Za-z0-9_-]{32})${end}`,
    ),
    rule("hashicorp-vault-token", "HashiCorp Vault token", ["hvs.", "hvb."], `${start}((?:hvs|hvb)\\.[\\w-]{90,300})${end}`),
    rule("terraform-cloud-token", "Terraform Cloud API token", ["atlasv1"], `${start}([a-z0-9]{14}\\.atlasv1\\.[a-z0-9_=-]{60,70})${end}`, {
      flags: "i",
    }),
    rule("pulumi-api-token", "Pulumi access token", ["pul-"], `${start}(pul-[a-f0-9]{40})${end}`),
    rule(
      "doppler-token",
      "Doppler token",
      ["dp.pt.", "dp.st.", "dp.sa.", "dp.ct."],
      `${start}(dp\\.(?:pt|st|sa|ct|scim|audit)\\.[a-zA-Z0-9]{40,44})${end}`,
    ),
    rule("planetscale-token", "PlanetScale token or password", ["pscale_"], `${start}(pscale_(?:tkn|pw|oauth)_[\\w=.-]{32,64})${end}`),
    rule("databricks-token", "Databricks API token", ["dapi"], `${start}(dapi[a-f0-9]{32}(?:-\\d)?)${end}`),
    rule(
      "cloudflare-api-token",
      "Cloudflare API token or key",
      ["cloudflare"],
      assignment("cloudflare", "[a-zA-Z0-9_-]{40}|[a-f0-9]{37}") + end,
      { flags: "i", entropy: 3.5 },
    ),
    rule("linear-api-key", "Linear API key", ["lin_api_"], `${start}(lin_api_[a-zA-Z0-9]{40})${end}`),
    rule("postman-api-token", "Postman API key", ["pmak-"], `${start}(PMAK-[a-f0-9]{24}-[a-f0-9]{34})${end}`, { flags: "i" }),
    rule(
      "sentry-token",
      "Sentry auth token",
      ["sntrys_", "sntryu_"],
      `${start}((?:sntrys_eyJ[A-Za-z0-9+/=_-]{60,400}|sntryu_[a-f0-9]{64}))`,
    ),
    rule(
      "grafana-token",
      "Grafana API key, Cloud token or service account token",
      ["glc_", "glsa_", "eyjrijoi"],
      `${start}((?:glc_[A-Za-z0-9+/]{32,400}={0,2}|glsa_[A-Za-z0-9]{32}_[A-Fa-f0-9]{8}|eyJrIjoi[A-Za-z0-9]{70,400}={0,2}))`,
    ),
    rule(
      "new-relic-key",
      "New Relic API or license key",
      ["nrak-", "nrjs-", "nrii-"],
      `${start}((?:NRAK-[a-z0-9]{27}|NRJS-[a-f0-9]{19}|NRII-[a-z0-9-]{32}))${end}`,
      { flags: "i" },
    ),
    rule(
      "datadog-api-key",
      "Datadog API or application key",
      ["datadog", "dd_api", "dd_app"],
      assignment("datadog|dd_api|dd_app", "[a-f0-9]{32}|[a-f0-9]{40}") + end,
      { flags: "i" },
    ),
    rule("huggingface-token", "Hugging Face access token", ["hf_"], `${start}(hf_[a-zA-Z]{34})${end}`),
    rule(
      "openai-api-key",
      "OpenAI API key",
      ["t3blbkfj"],
      `${start}(sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,74}T3BlbkFJ[A-Za-z0-9_-]{20,74})${end}`,
    ),
    rule("anthropic-api-key", "Anthropic API key", ["sk-ant-"], `${start}(sk-ant-(?:api03|admin01)-[\\w-]{93}AA)${end}`),
    rule("kubernetes-token", "Kubernetes bootstrap token", ["token"], assignment("token", "[a-z0-9]{6}\\.[a-z0-9]{16}") + end, {
      flags: "i",
    }),

    // Credentials inside connection strings and URLs: the password between "user:" and "@".
    rule(
      "connection-string-password",
      "Password in a connection string or URL",
      ["://"],
      "://(?<=\\b[a-z][a-z0-9+.-]{1,20}://)[^\\s:@/\"'`]{1,100}:([^\\s@/\"'`]{6,200})@[a-z0-9.-]",
      { flags: "i", skipPlaceholders: true },
    ),
    rule(
      "jdbc-password",
      "Password in a JDBC or ADO.NET connection string",
      ["password="],
      "(?:;|\\?|&|^|\\s)password=([^;&\\s\"'`]{4,200})",
      { flags: "i", skipPlaceholders: true, entropy: 2.5, generic: true },
    ),

    // JWTs (header and payload are base64url JSON objects, so both start "ey").
    rule("jwt", "JSON Web Token", ["eyj"], `${start}(ey[a-zA-Z0-9]{17,4096}\\.ey[a-zA-Z0-9/_-]{17,8192}\\.[a-zA-Z0-9/_-]{10,4096}={0,2})`),

    // Entropy: a random-looking value assigned to a name that says it is secret.
    rule(
      "generic-secret",
      "High-entropy value assigned to a secret-sounding name",
      ["secret", "token", "passw", "pwd", "apikey", "api_key", "api-key", "access_key", "accesskey", "auth", "credential", "private_key"],
      assignment(
        "secret|token|passw(?:or)?d|pwd|api[_-]?key|access[_-]?key|auth[_-]?key|client[_-]?secret|private[_-]?key|credentials?",
        "[\\w=+/~@$%^&*!-][\\w.=+/~@#$%^&*!-]{9,149}",
      ) + "(?![\\w.=+/~@#$%^&*!-])",
      { flags: "i", entropy: 3.5, skipPlaceholders: true, generic: true },
    ),
  ] satisfies SecretRule[]
).sort((a, b) => Number(a.generic ?? false) - Number(b.generic ?? false));

/** Values that stand for a secret rather than being one: references, templates and well-known fillers. */
// A filler word alone, joined to another word by a separator ("my-password", "test_token"), or fused with a
// secret-sounding word ("mypassword"). Not a filler word followed by arbitrary characters: a random value
// that happens to start with "my" or "the" is a secret.
const placeholder =
  /^(?:\$\{?[\w.-]*\}?|\{\{.*\}\}|<[^>]*>|%[\w(]+.*|\*+|x+|\.+|-+|(?:my|your|the|some|dummy|fake|example|sample|test|changeme|change_me|placeholder|redacted|secret|password|passwd|token|none|null|undefined|true|false|todo|xxx)(?:[_.-][\w.-]{0,20}|(?:pass(?:word)?|passwd|pwd|secret|token|key|value|user)\d{0,3})?)$/i;

/** A value that is a reference, a template or a file path names a secret kept elsewhere. */
export function isPlaceholder(value: string): boolean {
  return (
    placeholder.test(value) ||
    isIdentifier(value) ||
    /^(?:\/|\.\/|~\/)[\w./-]+$/.test(value) ||
    /^[a-z]+(?:[A-Z][a-z]+)+$/.test(value) ||
    /secretKeyRef|valueFrom|secretName/i.test(value)
  );
}

/** Names in code and configuration (a.b.c, kebab-case, snake_case, PascalCase), not random values: every
 *  part is letters, optionally with digits inside a word (k8s, apache2, v1). */
function isIdentifier(value: string): boolean {
  const parts = value.split(/[-_.]/);
  return (
    (parts.length > 1 && parts.every((p) => /^[A-Za-z]*[a-z]\d{0,2}[a-z]*$|^[A-Z]?[a-z]+(?:[A-Z][a-z]+)*\d?$|^v?\d{1,2}$/.test(p))) ||
    /^[A-Z][a-z]+(?:[A-Z][a-z]+)+$/.test(value)
  );
}
