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

function rule(id: string, description: string, keywords: string[], source: string, options: Partial<SecretRule> & { flags?: string } = {}): SecretRule {
  const { flags = "", ...rest } = options;
  return { id, description, keywords, regex: new RegExp(source, `g${flags}`), ...rest };
}

/** A generic assignment: NAME (containing a secret-sounding word) = VALUE, in code, YAML, env or JSON. */
function assignment(names: string, value: string): string {
  return `(?:${names})[\\w.-]{0,20}["']?[ \\t]{0,5}(?::=|=>|=|:)[ \\t]{0,5}["'\`]?(${value})["'\`]?`;
}

/** Generic rules last: they stay silent where a specific rule matched the same characters. */
export const secretRules: readonly SecretRule[] = ([
  // Private keys: PEM (PKCS#1, PKCS#8, EC, DSA, OpenSSH, encrypted) and PGP secret key blocks.
  rule("private-key", "Private key", ["private key"], "-----BEGIN[ A-Z0-9_-]{0,100}PRIVATE KEY(?: BLOCK)?-----[\\s\\S]{64,16384}?-----END[ A-Z0-9_-]{0,100}PRIVATE KEY(?: BLOCK)?-----"),
  rule("age-secret-key", "age secret key", ["age-secret-key-1"], "AGE-SECRET-KEY-1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58}"),

  // Cloud providers.
  rule("aws-access-token", "AWS access key id", ["akia", "asia", "abia", "acca", "a3t"], `${start}((?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16})${end}`),
  rule("aws-secret-access-key", "AWS secret access key", ["aws"], assignment("aws[\\w.-]{0,20}secret|secret[\\w.-]{0,20}aws", "[A-Za-z0-9/+=]{40}") + end, { flags: "i", entropy: 3.5 }),
  rule("gcp-api-key", "Google Cloud API key", ["aiza"], `${start}(AIza[\\w-]{35})${end}`),
  rule("gcp-oauth-client-secret", "Google OAuth client secret", ["gocspx-"], `${start}(GOCSPX-[\\w-]{28})${end}`),
  rule("azure-storage-key", "Azure storage account key", ["accountkey="], "AccountKey=([A-Za-z0-9+/]{86}==)", { flags: "i" }),
  rule("azure-ad-client-secret", "Azure AD client secret", ["q~"], `${start}([A-Za-z0-9_~.]{3}\\dQ~[A-Za-z0-9_~.-]{31,34})${end}`, { entropy: 3.5 }),
  rule("digitalocean-token", "DigitalOcean token", ["dop_v1_", "doo_v1_", "dor_v1_"], `${start}(do[opr]_v1_[a-f0-9]{64})${end}`),
  rule("alibaba-access-key-id", "Alibaba Cloud AccessKey ID", ["ltai"], `${start}(LTAI[a-zA-Z0-9]{20})${end}`),
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
  rule("gitlab-runner-token", "GitLab runner registration token", ["gr1348941", "glrt-"], `${start}((?:GR1348941|glrt-)[\\w-]{20,})${end}`),
  rule("gitlab-deploy-token", "GitLab deploy token", ["gldt-"], `${start}(gldt-[0-9a-zA-Z_-]{20})${end}`),
  rule("bitbucket-app-password", "Bitbucket app password", ["atbb"], `${start}(ATBB[a-zA-Z0-9]{32})${end}`),
  rule("atlassian-api-token", "Atlassian API token", ["atatt3"], `${start}(ATATT3[A-Za-z0-9_=-]{186})${end}`),
  rule("circleci-token", "CircleCI personal token", ["circle"], assignment("circle", "CCIPAT_[a-zA-Z0-9]{22}_[a-f0-9]{40}|[a-f0-9]{40}") + end, { flags: "i" }),
  rule("jfrog-api-key", "JFrog Artifactory API key", ["akcp"], `${start}(AKCp[A-Za-z0-9]{69})${end}`),

  // Chat, mail and payments.
  rule("slack-bot-token", "Slack bot token", ["xoxb"], `${start}(xoxb-[0-9]{10,13}-[0-9]{10,13}[a-zA-Z0-9-]{0,64})`),
  rule("slack-user-token", "Slack user token", ["xoxp", "xoxe"], `${start}(xox[pe](?:-[0-9]{10,13}){3}-[a-zA-Z0-9-]{28,34})`),
  rule("slack-app-token", "Slack app-level token", ["xapp"], `${start}(xapp-\\d-[A-Z0-9]{1,32}-\\d{1,32}-[a-z0-9]{1,128})`, { flags: "i" }),
  rule("slack-webhook-url", "Slack webhook URL", ["hooks.slack.com"], "(hooks\\.slack\\.com/(?:services|workflows|triggers)/[A-Za-z0-9+/]{43,56})"),
  rule("discord-webhook-url", "Discord webhook URL", ["discord"], "(discord(?:app)?\\.com/api/webhooks/[0-9]{17,20}/[A-Za-z0-9_-]{60,68})"),
  rule("telegram-bot-token", "Telegram bot token", ["telegram", "tg"], assignment("telegram|tg", "[0-9]{5,16}:A[a-zA-Z0-9_-]{34}") + end, { flags: "i" }),
  rule("microsoft-teams-webhook", "Microsoft Teams webhook URL", ["webhook.office.com"], "(https://[a-z0-9]{1,50}\\.webhook\\.office\\.com/webhookb2/[a-z0-9-]{36}@[a-z0-9-]{36}/IncomingWebhook/[a-z0-9]{32}/[a-z0-9-]{36})", { flags: "i" }),
  rule("sendgrid-api-token", "SendGrid API key", ["sg."], `${start}(SG\\.[\\w-]{22}\\.[\\w-]{43})${end}`),
  rule("mailgun-api-key", "Mailgun API key", ["mailgun"], assignment("mailgun", "key-[a-f0-9]{32}") + end, { flags: "i" }),
  rule("mailchimp-api-key", "Mailchimp API key", ["mailchimp", "-us"], `${start}([0-9a-f]{32}-us[0-9]{1,2})${end}`),
  rule("twilio-api-key", "Twilio API key", ["twilio"], assignment("twilio", "SK[0-9a-fA-F]{32}") + end, { flags: "i" }),
  rule("stripe-secret-key", "Stripe secret or restricted key", ["sk_live", "sk_test", "rk_live", "rk_test", "sk_prod", "rk_prod"], `${start}((?:sk|rk)_(?:test|live|prod)_[0-9a-zA-Z]{10,99})${end}`),
  rule("square-access-token", "Square access token", ["sq0atp-", "eaaa"], `${start}((?:sq0atp-[0-9A-Za-z_-]{22}|EAAA[\\w+=-]{60}))${end}`),
  rule("shopify-token", "Shopify access token or shared secret", ["shpat_", "shpca_", "shppa_", "shpss_"], `${start}(shp(?:at|ca|pa|ss)_[a-fA-F0-9]{32})${end}`),
  rule("facebook-access-token", "Facebook (Meta) access token", ["eaa"], `${start}(EAA[MC][A-Za-z0-9]{100,512})${end}`),

  // Package registries and artifact stores.
  rule("npm-access-token", "npm access token", ["npm_"], `${start}(npm_[a-zA-Z0-9]{36})${end}`),
  rule("pypi-upload-token", "PyPI upload token", ["pypi-ageichlwas5vcmc"], `${start}(pypi-AgEIcHlwaS5vcmc[\\w-]{50,1000})`),
  rule("rubygems-api-token", "RubyGems API token", ["rubygems_"], `${start}(rubygems_[a-f0-9]{48})${end}`),
  rule("nuget-api-key", "NuGet API key", ["oy2"], `${start}(oy2[a-z0-9]{43})${end}`),
  rule("dockerhub-pat", "Docker Hub personal access token", ["dckr_pat_", "dckr_oat_"], `${start}(dckr_(?:pat|oat)_[\\w-]{27,32})${end}`),
  rule("clojars-api-token", "Clojars deploy token", ["clojars_"], `${start}(CLOJARS_[a-z0-9]{60})${end}`, { flags: "i" }),

  // Infrastructure and platforms.
  rule("hashicorp-vault-token", "HashiCorp Vault token", ["hvs.", "hvb."], `${start}((?:hvs|hvb)\\.[\\w-]{90,300})${end}`),
  rule("terraform-cloud-token", "Terraform Cloud API token", ["atlasv1"], `${start}([a-z0-9]{14}\\.atlasv1\\.[a-z0-9_=-]{60,70})${end}`, { flags: "i" }),
  rule("pulumi-api-token", "Pulumi access token", ["pul-"], `${start}(pul-[a-f0-9]{40})${end}`),
  rule("doppler-token", "Doppler token", ["dp.pt.", "dp.st.", "dp.sa.", "dp.ct."], `${start}(dp\\.(?:pt|st|sa|ct|scim|audit)\\.[a-zA-Z0-9]{40,44})${end}`),
  rule("planetscale-token", "PlanetScale token or password", ["pscale_"], `${start}(pscale_(?:tkn|pw|oauth)_[\\w=.-]{32,64})${end}`),
  rule("databricks-token", "Databricks API token", ["dapi"], `${start}(dapi[a-f0-9]{32}(?:-\\d)?)${end}`),
  rule("cloudflare-api-token", "Cloudflare API token or key", ["cloudflare"], assignment("cloudflare", "[a-zA-Z0-9_-]{40}|[a-f0-9]{37}") + end, { flags: "i", entropy: 3.5 }),
  rule("linear-api-key", "Linear API key", ["lin_api_"], `${start}(lin_api_[a-zA-Z0-9]{40})${end}`),
  rule("postman-api-token", "Postman API key", ["pmak-"], `${start}(PMAK-[a-f0-9]{24}-[a-f0-9]{34})${end}`, { flags: "i" }),
  rule("sentry-token", "Sentry auth token", ["sntrys_", "sntryu_"], `${start}((?:sntrys_eyJ[A-Za-z0-9+/=_-]{60,400}|sntryu_[a-f0-9]{64}))`),
  rule("grafana-token", "Grafana API key, Cloud token or service account token", ["glc_", "glsa_", "eyjrijoi"], `${start}((?:glc_[A-Za-z0-9+/]{32,400}={0,2}|glsa_[A-Za-z0-9]{32}_[A-Fa-f0-9]{8}|eyJrIjoi[A-Za-z0-9]{70,400}={0,2}))`),
  rule("new-relic-key", "New Relic API or license key", ["nrak-", "nrjs-", "nrii-"], `${start}((?:NRAK-[a-z0-9]{27}|NRJS-[a-f0-9]{19}|NRII-[a-z0-9-]{32}))${end}`, { flags: "i" }),
  rule("datadog-api-key", "Datadog API or application key", ["datadog", "dd_api", "dd_app"], assignment("datadog|dd_api|dd_app", "[a-f0-9]{32}|[a-f0-9]{40}") + end, { flags: "i" }),
  rule("huggingface-token", "Hugging Face access token", ["hf_"], `${start}(hf_[a-zA-Z]{34})${end}`),
  rule("openai-api-key", "OpenAI API key", ["t3blbkfj"], `${start}(sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,74}T3BlbkFJ[A-Za-z0-9_-]{20,74})${end}`),
  rule("anthropic-api-key", "Anthropic API key", ["sk-ant-"], `${start}(sk-ant-(?:api03|admin01)-[\\w-]{93}AA)${end}`),
  rule("kubernetes-token", "Kubernetes bootstrap token", ["token"], assignment("token", "[a-z0-9]{6}\\.[a-z0-9]{16}") + end, { flags: "i" }),

  // Credentials inside connection strings and URLs: the password between "user:" and "@".
  rule("connection-string-password", "Password in a connection string or URL", ["://"], "://(?<=\\b[a-z][a-z0-9+.-]{1,20}://)[^\\s:@/\"'`]{1,100}:([^\\s@/\"'`]{6,200})@[a-z0-9.-]", { flags: "i", skipPlaceholders: true }),
  rule("jdbc-password", "Password in a JDBC or ADO.NET connection string", ["password="], "(?:;|\\?|&|^|\\s)password=([^;&\\s\"'`]{4,200})", { flags: "i", skipPlaceholders: true, entropy: 2.5, generic: true }),

  // JWTs (header and payload are base64url JSON objects, so both start "ey").
  rule("jwt", "JSON Web Token", ["eyj"], `${start}(ey[a-zA-Z0-9]{17,4096}\\.ey[a-zA-Z0-9/_-]{17,8192}\\.[a-zA-Z0-9/_-]{10,4096}={0,2})`),

  // Entropy: a random-looking value assigned to a name that says it is secret.
  rule("generic-secret", "High-entropy value assigned to a secret-sounding name", ["secret", "token", "passw", "pwd", "apikey", "api_key", "api-key", "access_key", "accesskey", "auth", "credential", "private_key"],
    assignment("secret|token|passw(?:or)?d|pwd|api[_-]?key|access[_-]?key|auth[_-]?key|client[_-]?secret|private[_-]?key|credentials?", "[\\w=+/~@$%^&*!-][\\w.=+/~@#$%^&*!-]{9,149}") + "(?![\\w.=+/~@#$%^&*!-])",
    { flags: "i", entropy: 3.5, skipPlaceholders: true, generic: true }),
] satisfies SecretRule[]).sort((a, b) => Number(a.generic ?? false) - Number(b.generic ?? false));

/** Values that stand for a secret rather than being one: references, templates and well-known fillers. */
// A filler word alone, joined to another word by a separator ("my-password", "test_token"), or fused with a
// secret-sounding word ("mypassword"). Not a filler word followed by arbitrary characters: a random value
// that happens to start with "my" or "the" is a secret.
const placeholder = /^(?:\$\{?[\w.-]*\}?|\{\{.*\}\}|<[^>]*>|%[\w(]+.*|\*+|x+|\.+|-+|(?:my|your|the|some|dummy|fake|example|sample|test|changeme|change_me|placeholder|redacted|secret|password|passwd|token|none|null|undefined|true|false|todo|xxx)(?:[_.-][\w.-]{0,20}|(?:pass(?:word)?|passwd|pwd|secret|token|key|value|user)\d{0,3})?)$/i;

/** A value that is a reference, a template or a file path names a secret kept elsewhere. */
export function isPlaceholder(value: string): boolean {
  return placeholder.test(value) || isIdentifier(value) || /^(?:\/|\.\/|~\/)[\w./-]+$/.test(value) || /^[a-z]+(?:[A-Z][a-z]+)+$/.test(value) || /secretKeyRef|valueFrom|secretName/i.test(value);
}

/** Names in code and configuration (a.b.c, kebab-case, snake_case, PascalCase), not random values: every
 *  part is letters, optionally with digits inside a word (k8s, apache2, v1). */
function isIdentifier(value: string): boolean {
  const parts = value.split(/[-_.]/);
  return (parts.length > 1 && parts.every((p) => /^[A-Za-z]*[a-z]\d{0,2}[a-z]*$|^[A-Z]?[a-z]+(?:[A-Z][a-z]+)*\d?$|^v?\d{1,2}$/.test(p))) || /^[A-Z][a-z]+(?:[A-Z][a-z]+)+$/.test(value);
}
