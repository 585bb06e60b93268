// SPDX-License-Identifier: AGPL-3.0-or-later
#include "secret_rules.hpp"

namespace security_audit {
namespace {

constexpr const char* kRotate = "Revoke and rotate this credential at its issuer, remove it from the file and its history, "
                                "and load it from the environment or a secret store.";
constexpr const char* kDsnFix =
    "Take the password out of the URL (a password file, PGPASSFILE or the environment) and change it.";

constexpr const char* kHexChars = "0123456789abcdefABCDEF";
constexpr const char* kAlnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
constexpr const char* kTok = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";
constexpr const char* kTokEq = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-=";
constexpr const char* kB64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=_-";
constexpr const char* kDigits = "0123456789";
constexpr const char* kUuid = "uuid";

// Values a service's keyword is assigned (gitleaks' keyword rules: the name
// of the service, an assignment, a value of the service's own length and
// alphabet). Each list ends with a null `chars`.
const ValueShape kAdafruit[] = {{"", kTok, 32, 32}, {}};
const ValueShape kHex32[] = {{"", kHexChars, 32, 32}, {}};
const ValueShape kAirtable[] = {{"", kAlnum, 17, 17}, {}};
const ValueShape kAlnum32[] = {{"", kAlnum, 32, 32}, {}};
const ValueShape kAlibaba[] = {{"", kAlnum, 30, 30}, {}};
const ValueShape kAsana[] = {{"", kDigits, 16, 16}, {"", kAlnum, 32, 32}, {}};
const ValueShape kAtlassian[] = {{"", kAlnum, 24, 24}, {}};
const ValueShape kBeamer[] = {{"b_", kTokEq, 44, 44}, {}};
const ValueShape kBitbucket[] = {{"", kAlnum, 32, 32}, {"", kTokEq, 64, 64}, {}};
const ValueShape kHex40[] = {{"", kHexChars, 40, 40}, {}};
const ValueShape kCloudflare[] = {{"", kTok, 40, 40}, {"", kHexChars, 37, 37}, {}};
const ValueShape kAlnum40[] = {{"", kAlnum, 40, 40}, {}};
const ValueShape kTok64[] = {{"", kTok, 64, 64}, {}};
const ValueShape kConfluent[] = {{"", kAlnum, 16, 16}, {"", kAlnum, 64, 64}, {}};
const ValueShape kContentful[] = {{"", kTokEq, 43, 43}, {}};
const ValueShape kDatadog[] = {{"", kAlnum, 40, 40}, {"", kHexChars, 32, 32}, {}};
const ValueShape kDiscord[] = {{"", kHexChars, 64, 64}, {"", kTokEq, 32, 32}, {}};
const ValueShape kDropbox[] = {{"sl.", kTokEq, 130, 140}, {"", kTokEq, 64, 64}, {"", kAlnum, 15, 15}, {}};
const ValueShape kAlnum24[] = {{"", kAlnum, 24, 24}, {}};
const ValueShape kTokEq32[] = {{"", kTokEq, 32, 32}, {}};
const ValueShape kFinicity[] = {{"", kHexChars, 32, 32}, {"", kAlnum, 20, 20}, {}};
const ValueShape kAlnum20[] = {{"", kAlnum, 20, 20}, {}};
const ValueShape kAlnum64[] = {{"", kAlnum, 64, 64}, {}};
const ValueShape kTok40[] = {{"", kTok, 40, 40}, {}};
const ValueShape kGocardless[] = {{"live_", kTokEq, 40, 40}, {}};
const ValueShape kUuidOnly[] = {{"", kUuid, 36, 36}, {}};
const ValueShape kTokEq60[] = {{"", kTokEq, 60, 60}, {}};
const ValueShape kJfrog[] = {{"", kAlnum, 73, 73}, {"", kAlnum, 64, 64}, {}};
const ValueShape kKraken[] = {{"", kB64, 80, 90}, {}};
const ValueShape kKucoin[] = {{"", kHexChars, 24, 24}, {"", kUuid, 36, 36}, {}};
const ValueShape kTokEq40[] = {{"", kTokEq, 40, 40}, {}};
const ValueShape kLinkedin[] = {{"", kAlnum, 14, 14}, {"", kAlnum, 16, 16}, {}};
const ValueShape kMailgun[] = {{"key-", kHexChars, 32, 32}, {"pubkey-", kHexChars, 32, 32}, {"", "0123456789abcdefgh-", 50, 50}, {}};
const ValueShape kMapbox[] = {{"pk.", "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.", 80, 90}, {}};
const ValueShape kMattermost[] = {{"", kAlnum, 26, 26}, {}};
const ValueShape kMessagebird[] = {{"", kAlnum, 25, 25}, {"", kUuid, 36, 36}, {}};
const ValueShape kNetlify[] = {{"", kTokEq, 40, 46}, {}};
const ValueShape kOkta[] = {{"00", kTokEq, 40, 40}, {}};
const ValueShape kPlaid[] = {{"access-", kTok, 40, 60}, {"", kAlnum, 24, 24}, {"", kAlnum, 30, 30}, {}};
const ValueShape kTok50[] = {{"", kTok, 50, 50}, {}};
const ValueShape kSendbird[] = {{"", kHexChars, 40, 40}, {"", kUuid, 36, 36}, {}};
const ValueShape kHex64[] = {{"", kHexChars, 64, 64}, {}};
const ValueShape kSumo[] = {{"su", kAlnum, 12, 12}, {"", kAlnum, 64, 64}, {}};
const ValueShape kAlnum22[] = {{"", kAlnum, 22, 22}, {}};
const ValueShape kAlnum30[] = {{"", kAlnum, 30, 30}, {}};
const ValueShape kTwitter[] = {{"", kAlnum, 25, 25}, {"", kAlnum, 45, 45}, {"", kAlnum, 50, 50},
                               {"", "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-", 36, 66},
                               {"AAAAAAAAAAAAAAAAAAAAAA", "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789%", 80, 100},
                               {}};
const ValueShape kYandex[] = {{"AQVN", kTok, 35, 38}, {"YC", kTok, 38, 38}, {"t1.", "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-=.", 90, 200}, {}};
const ValueShape kAlnum40Z[] = {{"", kAlnum, 40, 40}, {}};

Rule service(const char* id, const char* title, const char* keywords, const ValueShape* shapes) {
  Rule r{id, title, keywords, Severity::high, 2.8, Extract::service_value, kRotate};
  r.shapes = shapes;
  return r;
}

Rule token(const char* id, const char* title, const char* pattern, double entropy = 3.0,
           Severity severity = Severity::high) {
  return Rule{id, title, pattern, severity, entropy, Extract::whole, kRotate};
}

Rule checked(Rule r, Check c) {
  r.check = c;
  return r;
}

}  // namespace

// Order matters only for kDsnPasswordRule / kDefaultCredentialsRule below.
const Rule kRules[] = {
    // --- cloud providers ---------------------------------------------------------
    token("aws-access-key-id", "AWS access key id", R"(\b(?:AKIA|ASIA|ABIA|ACCA|A3T[A-Z0-9])[0-9A-Z]{16}\b)"),
    {"aws-secret-access-key", "AWS secret access key assigned to an AWS-looking name",
     R"((?i:aws)[A-Za-z0-9_.-]{0,20}(?i:secret|key)[A-Za-z0-9_.-]{0,20}["']?\s{0,5}(?::|=|:=|=>)\s{0,5}["']?[A-Za-z0-9/+]{40})",
     Severity::critical, 4.0, Extract::after_assign, kRotate},
    token("google-api-key", "Google API key", R"(\bAIza[0-9A-Za-z_-]{35})", 3.5),
    token("google-oauth-client-secret", "Google OAuth client secret", R"(\bGOCSPX-[A-Za-z0-9_-]{28})", 3.5),
    {"azure-storage-key", "Azure storage account key in a connection string", R"(AccountKey=[A-Za-z0-9+/]{86}==)",
     Severity::critical, 4.0, Extract::after_assign, kRotate},
    token("azure-ad-client-secret", "Azure AD (Entra ID) client secret", R"([A-Za-z0-9_~.]{3}[0-9]Q~[A-Za-z0-9_~.-]{31,34})"),
    token("alibaba-access-key-id", "Alibaba Cloud AccessKey id", R"(\bLTAI[A-Za-z0-9]{20}\b)"),
    token("digitalocean-token", "DigitalOcean personal access, OAuth or refresh token", R"(\bdo[opr]_v1_[a-f0-9]{64}\b)"),
    token("cloudflare-origin-ca-key", "Cloudflare Origin CA key", R"(\bv1\.0-[a-f0-9]{24}-[a-f0-9]{20})"),
    token("databricks-api-token", "Databricks API token", R"(\bdapi[a-f0-9]{32}(?:-[0-9])?\b)"),
    token("heroku-api-key", "Heroku API key", R"(\bHRKU-AA[0-9a-zA-Z_-]{58})", 3.5),
    token("flyio-access-token", "Fly.io access token", R"(\b(?:fo1_[A-Za-z0-9_-]{43}|fm[12][ar]?_[A-Za-z0-9+/]{40}))", 3.5),
    token("vercel-token", "Vercel access, integration, app or refresh token", R"(\bv(?:cp|ci|ca|cr|ck)_[A-Za-z0-9]{24,64}\b)", 3.5),
    token("netlify-token", "Netlify personal access token", R"(\bnfp_[A-Za-z0-9]{36}\b)", 3.5),
    token("scalingo-api-token", "Scalingo API token", R"(\btk-us-[A-Za-z0-9_-]{48})"),
    token("planetscale-token", "PlanetScale token or password", R"(\bpscale_(?:tkn|oauth|pw)_[A-Za-z0-9_=.-]{32,64})"),
    token("pulumi-api-token", "Pulumi access token", R"(\bpul-[a-f0-9]{40}\b)"),
    token("terraform-cloud-token", "HashiCorp Terraform Cloud API token", R"(\b[A-Za-z0-9]{14}\.atlasv1\.[A-Za-z0-9_=-]{60,70})", 3.5),
    token("hashicorp-vault-token", "HashiCorp Vault service token", R"(\bhvs\.[A-Za-z0-9_-]{24,200})", 3.5),
    // Legacy service tokens: "s." + 24 characters, which identifiers also match (s.AcceptanceTimeoutSeconds).
    checked(token("hashicorp-vault-token", "HashiCorp Vault service token", R"(\bs\.[A-Za-z0-9]{24}\b)", 3.5),
            Check::mixed_case),
    token("hashicorp-vault-batch-token", "HashiCorp Vault batch token", R"(\bhvb\.[A-Za-z0-9_-]{40})", 3.5),
    token("tailscale-key", "Tailscale API, auth, OAuth client, SCIM or webhook key",
          R"(\btskey-(?:api|auth|client|scim|webhook)-[A-Za-z0-9]{6,24}-[A-Za-z0-9]{20,64}\b)", 3.5),
    token("doppler-token", "Doppler token", R"(\bdp\.(?:pt|st|sa|ct|scim|audit)\.[A-Za-z0-9]{40,44}\b)", 3.5),
    token("infracost-api-token", "Infracost API token", R"(\bico-[A-Za-z0-9]{32}\b)"),
    token("openshift-user-token", "OpenShift user token", R"(\bsha256~[A-Za-z0-9_-]{43})", 3.5),
    // --- source hosting and CI -----------------------------------------------------
    token("github-pat", "GitHub personal access token (classic)", R"(\bghp_[A-Za-z0-9]{36}\b)", 3.5),
    token("github-fine-grained-pat", "GitHub fine-grained personal access token", R"(\bgithub_pat_[A-Za-z0-9_]{60})", 3.5),
    token("github-oauth-token", "GitHub OAuth access token", R"(\bgho_[A-Za-z0-9]{36}\b)", 3.5),
    token("github-app-token", "GitHub App user-to-server or server-to-server token", R"(\bgh[us]_[A-Za-z0-9]{36}\b)", 3.5),
    checked(token("github-app-installation-token", "GitHub App installation token (ghs_ with a JWT)",
                  R"(\bghs_[0-9]{1,12}_eyJ[A-Za-z0-9_-]{10})", 3.5),
            Check::github_app_jwt),
    token("github-refresh-token", "GitHub refresh token", R"(\bghr_[A-Za-z0-9]{36,76}\b)", 3.5),
    token("gitlab-pat", "GitLab personal access token", R"(\bglpat-[A-Za-z0-9_-]{20,50})"),
    token("gitlab-runner-token", "GitLab runner authentication or registration token",
          R"(\b(?:glrt-|GR1348941)[A-Za-z0-9_-]{20,50})"),
    token("gitlab-pipeline-trigger-token", "GitLab pipeline trigger token", R"(\bglptt-[0-9a-f]{40}\b)"),
    token("gitlab-token", "GitLab deploy, CI job, feed, mail, agent, OAuth, SCIM or feature-flag token",
          R"(\bgl(?:cbt-[0-9A-Za-z]{1,5}_|dt-|ffct-|ft-|imt-|agent-|oas-|soat-)[0-9A-Za-z_-]{20,64})"),
    token("gitlab-session-cookie", "GitLab session cookie", R"(_gitlab_session=[0-9a-z]{32}\b)"),
    token("bitbucket-app-password", "Atlassian / Bitbucket API token", R"(\bATATT3[A-Za-z0-9_=-]{40})", 3.5),
    token("artifactory-api-key", "JFrog Artifactory API key or reference token",
          R"(\b(?:AKCp[A-Za-z0-9]{69}|cmVmd[A-Za-z0-9]{59})\b)", 4.0),
    token("npm-token", "npm access token", R"(\bnpm_[A-Za-z0-9]{36}\b)", 3.5),
    token("pypi-token", "PyPI upload token", R"(\bpypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{20})", 3.5),
    token("rubygems-api-token", "RubyGems API key", R"(\brubygems_[a-f0-9]{48}\b)"),
    token("clojars-api-token", "Clojars deploy token", R"(\bCLOJARS_[A-Za-z0-9]{60}\b)"),
    token("docker-hub-token", "Docker Hub personal or organisation access token", R"(\bdckr_(?:pat|oat)_[A-Za-z0-9_-]{27,40})", 3.5),
    token("sonarqube-token", "SonarQube / SonarCloud token", R"(\bsq[pau]_[a-f0-9]{40}\b)"),
    token("octopus-deploy-api-key", "Octopus Deploy API key", R"(\bAPI-[A-Z0-9]{26}\b)"),
    token("postman-api-token", "Postman API key", R"(\bPMAK-[a-fA-F0-9]{24}-[a-fA-F0-9]{34}\b)"),
    token("prefect-api-token", "Prefect API key", R"(\bpnu_[A-Za-z0-9]{36}\b)", 3.5),
    token("readme-api-token", "ReadMe API key", R"(\brdme_[a-z0-9]{70}\b)"),
    token("harness-api-key", "Harness personal or service account token",
          R"(\b(?:pat|sat)\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9]{24}\.[A-Za-z0-9]{20}\b)", 3.5),
    // --- chat, mail, messaging -------------------------------------------------------
    token("slack-token", "Slack bot, user, workspace, configuration or refresh token", R"(\bxox(?:[bparose]|e\.xox[bp])-[0-9A-Za-z-]{10})"),
    token("slack-app-token", "Slack app-level token", R"(\bxapp-[0-9]-[A-Z0-9]{6,14}-[0-9]{6,16}-[A-Za-z0-9]{20,80}\b)"),
    {"slack-webhook", "Slack incoming webhook URL",
     R"(hooks\.slack\.com/(?:services|workflows|triggers)/T[A-Z0-9_]{6,12}/[AB0-9][A-Za-z0-9_]{6,12}/[A-Za-z0-9_]{20,32})",
     Severity::medium, 3.0, Extract::whole, "Revoke the webhook in Slack's app settings and keep its URL in a secret store."},
    {"discord-webhook", "Discord webhook URL",
     R"(discord(?:app)?\.com/api/webhooks/[0-9]{17,20}/[A-Za-z0-9_-]{60,68})", Severity::medium, 3.0, Extract::whole,
     "Delete the webhook in the Discord channel settings and keep its URL in a secret store."},
    {"microsoft-teams-webhook", "Microsoft Teams incoming webhook URL",
     R"(\.webhook\.office\.com/webhookb2/[a-f0-9-]{36}@[a-f0-9-]{36}/IncomingWebhook/[A-Za-z0-9]{32}/)", Severity::medium,
     3.0, Extract::whole, "Remove the connector in Teams and keep its URL in a secret store."},
    token("telegram-bot-token", "Telegram bot token", R"(\b[0-9]{8,10}:AA[0-9A-Za-z_-]{33})", 3.5, Severity::medium),
    token("sendgrid-api-key", "SendGrid API key", R"(\bSG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43})", 3.5),
    token("sendinblue-api-key", "Brevo (Sendinblue) API or SMTP key", R"(\bx(?:keysib|smtpsib)-[a-f0-9]{64}-[A-Za-z0-9]{16}\b)"),
    token("mailchimp-api-key", "Mailchimp API key", R"(\b[0-9a-f]{32}-us[0-9]{1,2}\b)", 3.0, Severity::medium),
    token("twilio-api-key", "Twilio API key", R"(\bSK[0-9a-fA-F]{32}\b)"),
    // --- payments and commerce --------------------------------------------------------
    token("stripe-secret-key", "Stripe live secret key", R"(\bsk_live_[0-9A-Za-z]{24,99})", 3.5, Severity::critical),
    token("stripe-restricted-key", "Stripe live restricted key", R"(\brk_live_[0-9A-Za-z]{24,99})", 3.5),
    token("shopify-token", "Shopify access token or shared secret", R"(\bshp(?:at|ca|pa|ss)_[a-zA-Z0-9]{32}\b)"),
    token("square-access-token", "Square access token or OAuth secret", R"(\b(?:EAAA|sq0atp-|sq0csp-)[A-Za-z0-9_-]{22,60}\b)", 3.5),
    token("braintree-access-token", "Braintree production access token",
          R"(access_token\$production\$[0-9a-z]{16}\$[0-9a-f]{32})"),
    token("flutterwave-key", "Flutterwave secret, public or encryption key",
          R"(\bFLW(?:SECK|PUBK)(?:_TEST)?-[a-hA-H0-9]{12,32}(?:-X)?)"),
    token("duffel-api-token", "Duffel API token", R"(\bduffel_(?:test|live)_[A-Za-z0-9_=-]{43})"),
    token("easypost-api-token", "EasyPost API key", R"(\bEZ[AT]K[A-Za-z0-9]{54}\b)"),
    token("shippo-api-token", "Shippo API token", R"(\bshippo_(?:live|test)_[a-fA-F0-9]{40}\b)"),
    token("adobe-client-secret", "Adobe client secret", R"(\bp8e-[A-Za-z0-9]{32}\b)"),
    token("facebook-access-token", "Facebook (Meta) page or user access token", R"(\bEAA[MC][A-Za-z0-9]{20})", 4.0),
    // --- AI, data, observability -------------------------------------------------------
    checked(token("openai-api-key", "OpenAI API key", R"(\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20})", 3.5),
            Check::openai),
    token("anthropic-api-key", "Anthropic API key", R"(\bsk-ant-(?:api|admin)[0-9]{2}-[A-Za-z0-9_-]{20})", 3.5),
    token("huggingface-token", "Hugging Face access or organisation token", R"(\b(?:hf_|api_org_)[A-Za-z]{34}\b)", 3.5),
    token("groq-api-key", "Groq API key", R"(\bgsk_[A-Za-z0-9]{52}\b)", 3.5),
    token("perplexity-api-key", "Perplexity API key", R"(\bpplx-[A-Za-z0-9]{48}\b)", 3.5),
    token("langsmith-api-key", "LangSmith API key", R"(\blsv2_(?:pt|sk)_[a-f0-9]{32}_[a-f0-9]{10}\b)"),
    token("grafana-token", "Grafana cloud, service account or API token",
          R"(\b(?:glc_[A-Za-z0-9+/]{32}|glsa_[A-Za-z0-9]{32}_[A-Fa-f0-9]{8}\b|eyJrIjoi[A-Za-z0-9]{30}))", 3.5),
    token("new-relic-key", "New Relic user, insert or browser key", R"(\bNR(?:AK-[A-Za-z0-9]{27}|JS-[a-f0-9]{19}|II-[A-Za-z0-9_-]{32})\b)"),
    token("dynatrace-api-token", "Dynatrace API token", R"(\bdt0c01\.[A-Za-z0-9]{24}\.[A-Za-z0-9]{64}\b)", 3.5),
    token("sentry-token", "Sentry user or organisation auth token", R"(\b(?:sntryu_[a-f0-9]{64}\b|sntrys_eyJ[A-Za-z0-9+/=_]{30}))", 3.5),
    token("linear-api-key", "Linear API key", R"(\blin_api_[A-Za-z0-9]{40}\b)", 3.5, Severity::medium),
    token("notion-token", "Notion integration token", R"(\b(?:ntn_[0-9]{11}[A-Za-z0-9]{35}|secret_[A-Za-z0-9]{43})\b)", 3.5),
    token("figma-token", "Figma personal access token", R"(\bfigd_[A-Za-z0-9_-]{38,46})", 3.5),
    token("airtable-pat", "Airtable personal access token", R"(\bpat[A-Za-z0-9]{14}\.[a-f0-9]{64}\b)", 3.5),
    token("frameio-api-token", "Frame.io API token", R"(\bfio-u-[A-Za-z0-9_=-]{64})"),
    token("typeform-api-token", "Typeform personal access token", R"(\btfp_[A-Za-z0-9_.=-]{59})"),
    token("maxmind-license-key", "MaxMind license key", R"(\b[A-Za-z0-9]{6}_[A-Za-z0-9]{29}_mmk\b)", 3.5),
    token("intra42-client-secret", "42 intra client secret", R"(\bs-s4t2(?:ud|af)-[a-f0-9]{64}\b)"),
    token("settlemint-token", "SettleMint access token", R"(\bsm_(?:aat|pat|sat)_[A-Za-z0-9]{16}\b)"),
    token("mapbox-secret-token", "Mapbox secret access token", R"(\bsk\.eyJ1Ijoi[A-Za-z0-9_-]{20})", 3.5),
    // --- password managers and keys -------------------------------------------------------
    token("1password-secret-key", "1Password account secret key",
          R"(\bA3-[A-Z0-9]{6}-(?:[A-Z0-9]{11}|[A-Z0-9]{6}-[A-Z0-9]{5})-[A-Z0-9]{5}-[A-Z0-9]{5}-[A-Z0-9]{5}\b)", 3.5,
          Severity::critical),
    token("1password-service-account-token", "1Password service account token", R"(\bops_eyJ[A-Za-z0-9+/]{40})", 4.0,
          Severity::critical),
    token("age-secret-key", "age encryption secret key", R"(\bAGE-SECRET-KEY-1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58})", 3.0,
          Severity::critical),
    {"private-key", "Private key block", R"(-----BEGIN[ A-Z0-9_-]{0,40}PRIVATE KEY(?: BLOCK)?-----)", Severity::critical,
     4.0, Extract::pem_block,
     "Remove the key from the tree, replace it (it must be considered compromised) and keep keys in a secret store "
     "with mode 0600."},
    {"secp256k1-private-key", "secp256k1 (Ethereum, Bitcoin) private key assigned to a key-looking name",
     R"((?i:priv(?:ate)?[_.-]?key|signing[_.-]?key|wallet[_.-]?(?:key|secret)|eth(?:ereum)?[_.-]?key|secp256k1)[A-Za-z0-9_.-]{0,20}["']?\s{0,5}(?::|=|:=|=>)\s{0,5}["']?(?:0x)?[0-9a-fA-F]{64})",
     Severity::critical, 3.0, Extract::after_assign,
     "Move the funds or the signing role to a new key at once (the key is compromised) and keep keys in a wallet or "
     "secret store."},
    {"secp256k1-private-key", "secp256k1 (Ethereum, Bitcoin) private key", R"(\b0x[0-9a-fA-F]{64}\b)", Severity::critical,
     3.0, Extract::whole,
     "Move the funds or the signing role to a new key at once (the key is compromised) and keep keys in a wallet or "
     "secret store.",
     Check::bare_hex_key},
    checked({"jwt", "JSON Web Token", R"(\beyJ[A-Za-z0-9_-]{10})", Severity::medium, 3.5, Extract::whole,
             "Do not commit tokens; if it is long-lived, revoke it or rotate the signing key."},
            Check::jwt),
    // --- connection strings -------------------------------------------------------------
    {"dsn-password", "Connection URL with a password",
     R"(\b[A-Za-z][A-Za-z0-9+.-]{1,15}://[^\s:@/"'<>]{1,64}:[^\s@/"'<>]{1,128}@[A-Za-z0-9_-])", Severity::high, 2.5,
     Extract::dsn_password, kDsnFix},
    {"dsn-default-credentials", "Connection URL with a default or guessable password (the user name, root, admin, ...)",
     nullptr, Severity::critical, 0.0, Extract::dsn_password,
     "Change the password now (a default password is the first one tried), then take it out of the URL."},
    // --- services known by name (gitleaks' keyword rules) ----------------------------------------
    service("adafruit-api-key", "Adafruit IO key", "(?i:adafruit)", kAdafruit),
    service("adobe-client-id", "Adobe OAuth client id", "(?i:adobe)", kHex32),
    service("airtable-api-key", "Airtable API key", "(?i:airtable)", kAirtable),
    service("algolia-api-key", "Algolia API key", "(?i:algolia)", kAlnum32),
    service("alibaba-secret-key", "Alibaba Cloud secret key", "(?i:alibaba)", kAlibaba),
    service("asana-secret", "Asana client id or secret", "(?i:asana)", kAsana),
    service("atlassian-api-token", "Atlassian, Jira or Confluence API token", "(?i:atlassian|confluence|jira)", kAtlassian),
    service("beamer-api-token", "Beamer API token", "(?i:beamer)", kBeamer),
    service("bitbucket-client-secret", "Bitbucket client id or secret", "(?i:bitbucket)", kBitbucket),
    service("bittrex-key", "Bittrex access or secret key", "(?i:bittrex)", kAlnum32),
    service("cisco-meraki-api-key", "Cisco Meraki API key", "(?i:meraki)", kHex40),
    service("cloudflare-api-key", "Cloudflare API token or global API key", "(?i:cloudflare)", kCloudflare),
    service("codecov-access-token", "Codecov access token", "(?i:codecov)", kAlnum32),
    service("cohere-api-token", "Cohere API key", "(?i:cohere|co_api_key)", kAlnum40),
    service("coinbase-access-token", "Coinbase access token", "(?i:coinbase)", kTok64),
    service("confluent-key", "Confluent access or secret key", "(?i:confluent)", kConfluent),
    service("contentful-delivery-api-token", "Contentful delivery API token", "(?i:contentful)", kContentful),
    service("datadog-access-token", "Datadog API or application key", "(?i:datadog)", kDatadog),
    service("discord-client-secret", "Discord API key or client secret", "(?i:discord)", kDiscord),
    service("droneci-access-token", "Drone CI access token", "(?i:droneci)", kAlnum32),
    service("dropbox-api-token", "Dropbox API token", "(?i:dropbox)", kDropbox),
    service("etsy-access-token", "Etsy access token", "(?i:etsy)", kAlnum24),
    service("facebook-secret", "Facebook application secret", "(?i:facebook)", kHex32),
    service("fastly-api-token", "Fastly API token", "(?i:fastly)", kTokEq32),
    service("finicity-secret", "Finicity API token or client secret", "(?i:finicity)", kFinicity),
    service("finnhub-access-token", "Finnhub access token", "(?i:finnhub)", kAlnum20),
    service("flickr-access-token", "Flickr access token", "(?i:flickr)", kAlnum32),
    service("freshbooks-access-token", "FreshBooks access token", "(?i:freshbooks)", kAlnum64),
    service("gitter-access-token", "Gitter access token", "(?i:gitter)", kTok40),
    service("gocardless-api-token", "GoCardless API token", "(?i:gocardless)", kGocardless),
    service("heroku-api-key-legacy", "Heroku API key (UUID)", "(?i:heroku)", kUuidOnly),
    service("hubspot-api-key", "HubSpot API key", "(?i:hubspot)", kUuidOnly),
    service("intercom-api-key", "Intercom access token", "(?i:intercom)", kTokEq60),
    service("jfrog-api-key", "JFrog API key or identity token", "(?i:jfrog|artifactory|bintray)", kJfrog),
    service("kraken-access-token", "Kraken API key", "(?i:kraken)", kKraken),
    service("kucoin-key", "KuCoin access or secret key", "(?i:kucoin)", kKucoin),
    service("launchdarkly-access-token", "LaunchDarkly access token", "(?i:launchdarkly)", kTokEq40),
    service("linear-client-secret", "Linear client secret", "(?i:linear)", kHex32),
    service("linkedin-client-secret", "LinkedIn client id or secret", "(?i:linked[_-]?in)", kLinkedin),
    service("mailgun-key", "Mailgun private, public or webhook signing key", "(?i:mailgun)", kMailgun),
    service("mapbox-api-token", "Mapbox access token", "(?i:mapbox)", kMapbox),
    service("mattermost-access-token", "Mattermost access token", "(?i:mattermost)", kMattermost),
    service("messagebird-api-token", "MessageBird API key or client id", "(?i:message[_-]?bird)", kMessagebird),
    service("netlify-access-token", "Netlify access token", "(?i:netlify)", kNetlify),
    service("nytimes-access-token", "New York Times API key", "(?i:nytimes|newyorktimes|new-york-times)", kTokEq32),
    service("okta-access-token", "Okta API token", "(?i:okta)", kOkta),
    service("plaid-secret", "Plaid client id, secret or access token", "(?i:plaid)", kPlaid),
    service("privateai-api-token", "Private AI API key", "(?i:private[_-]?ai)", kAlnum32),
    service("rapidapi-access-token", "RapidAPI key", "(?i:rapidapi)", kTok50),
    service("sendbird-access-token", "Sendbird access id or token", "(?i:sendbird)", kSendbird),
    service("sentry-access-token", "Sentry access token (old format)", "(?i:sentry)", kHex64),
    service("snyk-api-token", "Snyk API token", "(?i:snyk)", kUuidOnly),
    service("sonar-api-token", "Sonar login token", "(?i:sonar[_.-]?(?:login|token))", kTokEq40),
    service("squarespace-access-token", "Squarespace API key", "(?i:squarespace)", kUuidOnly),
    service("sumologic-access-token", "Sumo Logic access id or key", "(?i:sumologic|sumo_|sumo-)", kSumo),
    service("travisci-access-token", "Travis CI access token", "(?i:travis)", kAlnum22),
    service("twitch-api-token", "Twitch API token", "(?i:twitch)", kAlnum30),
    service("twitter-secret", "Twitter (X) API key, secret, access token or bearer token", "(?i:twitter)", kTwitter),
    service("yandex-key", "Yandex API key, access or AWS-compatible token", "(?i:yandex)", kYandex),
    service("zendesk-secret-key", "Zendesk secret key", "(?i:zendesk)", kAlnum40Z),
    // --- broad rules, last: they yield to every rule above on the same value ---------------------
    {"generic-secret-assignment", "High-entropy value assigned to a secret-looking name",
     R"((?i:secret|token|passw(?:or)?d|pwd|api[_-]?key|apikey|access[_-]?key|auth[_-]?key|private[_-]?key|credentials?)[A-Za-z0-9_.-]{0,20}["']?\s{0,5}(?::|=|:=|=>)\s{0,5}["']?[A-Za-z0-9_+/=.~!@#%^&*-]{8})",
     Severity::medium, 3.5, Extract::after_assign,
     "Move the value to the environment or a secret store; if it is a real credential, rotate it.", Check::generic,
     true},
};
const std::size_t kRuleCount = sizeof(kRules) / sizeof(kRules[0]);

namespace {
unsigned index_of(const char* id) {
  for (unsigned i = 0; i < sizeof(kRules) / sizeof(kRules[0]); ++i) {
    const char* a = kRules[i].id;
    const char* b = id;
    while (*a != '\0' && *a == *b) ++a, ++b;
    if (*a == *b) return i;
  }
  return 0;
}
}  // namespace

const unsigned kDsnPasswordRule = index_of("dsn-password");
const unsigned kDefaultCredentialsRule = index_of("dsn-default-credentials");

constexpr const char* kJwtChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-.";
const Extension kExtensions[] = {
    {"github-fine-grained-pat", kTok, 71, 255},
    {"slack-token", "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-", 15, 255},
    {"jwt", kJwtChars, 36, 16384},
    {"github-app-installation-token", kJwtChars, 40, 16384},
    {"pypi-token", kTok, 70, 300},
    {"openai-api-key", kTok, 40, 300},
    {"anthropic-api-key", kTok, 90, 200},
    {"cloudflare-origin-ca-key", kHexChars, 176, 176},
    {"flyio-access-token", "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=_-", 47, 1000},
    {"hashicorp-vault-batch-token", kTok, 142, 304},
    {"bitbucket-app-password", kTokEq, 150, 300},
    {"facebook-access-token", kAlnum, 104, 400},
    {"grafana-token", "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=_", 36, 408},
    {"sentry-token", "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=_", 71, 600},
    {"1password-service-account-token", "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=", 254, 4096},
    {"mapbox-secret-token", kJwtChars, 60, 400},
    {"generic-secret-assignment", "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_+/=.~!@#%^&*-", 8, 200},
};
const std::size_t kExtensionCount = sizeof(kExtensions) / sizeof(kExtensions[0]);

}  // namespace security_audit
