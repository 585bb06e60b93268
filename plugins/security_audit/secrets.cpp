// SPDX-License-Identifier: AGPL-3.0-or-later
#include "secrets.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <cstring>

#include <dihya/error.hpp>
#include <hs/hs.h>

namespace security_audit {
namespace {

// How the exact secret is cut out of a vectorscan match [from, to).
enum class Extract {
  whole,         // the match is the token
  after_assign,  // keyword ... `=`/`:` ... value: the value is after the operator
  dsn_password,  // scheme://user:PASSWORD@host
  pem_block,     // BEGIN header: the block up to its END line
};

struct Rule {
  const char* id;
  const char* title;
  const char* pattern;
  Severity severity;
  double min_entropy;  // Shannon bits per character of the value
  Extract extract;
  const char* fix;
};

constexpr const char* kRotate = "Revoke and rotate this credential at its issuer, remove it from the file and its history, "
                                "and load it from the environment or a secret store.";

// Patterns avoid lookaround and backreferences (vectorscan has neither) and
// keep every repeat bounded, so a hostile file cannot make one start produce
// an unbounded number of match ends.
const Rule kRules[] = {
    {"aws-access-key-id", "AWS access key id", R"(\b(?:AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16}\b)", Severity::high, 3.0,
     Extract::whole, kRotate},
    {"aws-secret-access-key", "AWS secret access key assigned to an AWS-looking name",
     R"((?i:aws)[A-Za-z0-9_.-]{0,20}(?i:secret|key)[A-Za-z0-9_.-]{0,20}["']?\s{0,5}(?::|=|:=|=>)\s{0,5}["']?[A-Za-z0-9/+]{40})",
     Severity::critical, 4.0, Extract::after_assign, kRotate},
    {"github-pat", "GitHub personal access token (classic)", R"(\bghp_[A-Za-z0-9]{36}\b)", Severity::high, 3.5,
     Extract::whole, kRotate},
    {"github-fine-grained-pat", "GitHub fine-grained personal access token", R"(\bgithub_pat_[A-Za-z0-9_]{60})",
     Severity::high, 3.5, Extract::whole, kRotate},
    {"github-oauth-token", "GitHub OAuth access token", R"(\bgho_[A-Za-z0-9]{36}\b)", Severity::high, 3.5,
     Extract::whole, kRotate},
    {"github-app-token", "GitHub App user-to-server or server-to-server token", R"(\bgh[us]_[A-Za-z0-9]{36}\b)",
     Severity::high, 3.5, Extract::whole, kRotate},
    {"github-refresh-token", "GitHub refresh token", R"(\bghr_[A-Za-z0-9]{36,76}\b)", Severity::high, 3.5,
     Extract::whole, kRotate},
    {"gitlab-pat", "GitLab personal access token", R"(\bglpat-[A-Za-z0-9_-]{20,50})", Severity::high, 3.0,
     Extract::whole, kRotate},
    {"gitlab-runner-token", "GitLab runner authentication token", R"(\bglrt-[A-Za-z0-9_-]{20,50})", Severity::high,
     3.0, Extract::whole, kRotate},
    {"gitlab-pipeline-trigger-token", "GitLab pipeline trigger token", R"(\bglptt-[0-9a-f]{40}\b)", Severity::high,
     3.0, Extract::whole, kRotate},
    {"slack-token", "Slack bot, user, app or refresh token", R"(\bxox[bpars]-[0-9A-Za-z-]{10})", Severity::high,
     3.0, Extract::whole, kRotate},
    {"slack-webhook", "Slack incoming webhook URL",
     R"(hooks\.slack\.com/(?:services|workflows)/T[A-Z0-9_]{6,12}/[AB][A-Z0-9_]{6,12}/[A-Za-z0-9_]{20,32})",
     Severity::medium, 3.0, Extract::whole, "Revoke the webhook in Slack's app settings and keep its URL in a secret store."},
    {"discord-webhook", "Discord webhook URL",
     R"(discord(?:app)?\.com/api/webhooks/[0-9]{17,20}/[A-Za-z0-9_-]{60,68})", Severity::medium, 3.0, Extract::whole,
     "Delete the webhook in the Discord channel settings and keep its URL in a secret store."},
    {"stripe-secret-key", "Stripe live secret key", R"(\bsk_live_[0-9A-Za-z]{24,99})", Severity::critical, 3.5,
     Extract::whole, kRotate},
    {"stripe-restricted-key", "Stripe live restricted key", R"(\brk_live_[0-9A-Za-z]{24,99})", Severity::high, 3.5,
     Extract::whole, kRotate},
    {"google-api-key", "Google API key", R"(\bAIza[0-9A-Za-z_-]{35})", Severity::high, 3.5, Extract::whole, kRotate},
    {"google-oauth-client-secret", "Google OAuth client secret", R"(\bGOCSPX-[A-Za-z0-9_-]{28})", Severity::high,
     3.5, Extract::whole, kRotate},
    {"private-key", "Private key block", R"(-----BEGIN[ A-Z0-9]{0,40}PRIVATE KEY(?: BLOCK)?-----)", Severity::critical,
     4.0, Extract::pem_block,
     "Remove the key from the tree, replace it (it must be considered compromised) and keep keys in a secret store "
     "with mode 0600."},
    {"jwt", "JSON Web Token", R"(\beyJ[A-Za-z0-9_-]{10})",
     Severity::medium, 3.5, Extract::whole,
     "Do not commit tokens; if it is long-lived, revoke it or rotate the signing key."},
    {"dsn-password", "Connection URL with a password",
     R"(\b[A-Za-z][A-Za-z0-9+.-]{1,15}://[^\s:@/"'<>]{1,64}:[^\s@/"'<>]{1,128}@[A-Za-z0-9_-])",
     Severity::high, 2.5, Extract::dsn_password,
     "Take the password out of the URL (a password file, PGPASSFILE or the environment) and change it."},
    {"sendgrid-api-key", "SendGrid API key", R"(\bSG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43})", Severity::high, 3.5,
     Extract::whole, kRotate},
    {"twilio-api-key", "Twilio API key", R"(\bSK[0-9a-fA-F]{32}\b)", Severity::high, 3.0, Extract::whole, kRotate},
    {"npm-token", "npm access token", R"(\bnpm_[A-Za-z0-9]{36}\b)", Severity::high, 3.5, Extract::whole, kRotate},
    {"pypi-token", "PyPI upload token", R"(\bpypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{20})", Severity::high, 3.5,
     Extract::whole, kRotate},
    {"mailchimp-api-key", "Mailchimp API key", R"(\b[0-9a-f]{32}-us[0-9]{1,2}\b)", Severity::medium, 3.0,
     Extract::whole, kRotate},
    {"shopify-token", "Shopify access token", R"(\bshp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}\b)", Severity::high, 3.0,
     Extract::whole, kRotate},
    {"digitalocean-token", "DigitalOcean personal access token", R"(\bdo[opr]_v1_[a-f0-9]{64}\b)", Severity::high,
     3.0, Extract::whole, kRotate},
    {"azure-storage-key", "Azure storage account key in a connection string",
     R"(AccountKey=[A-Za-z0-9+/]{86}==)", Severity::critical, 4.0, Extract::after_assign, kRotate},
    {"telegram-bot-token", "Telegram bot token", R"(\b[0-9]{8,10}:AA[0-9A-Za-z_-]{33}\b)", Severity::medium, 3.5,
     Extract::whole, kRotate},
    {"openai-api-key", "OpenAI API key", R"(\bsk-(?:proj-)?[A-Za-z0-9_-]{20})",
     Severity::high, 3.5, Extract::whole, kRotate},
    {"anthropic-api-key", "Anthropic API key", R"(\bsk-ant-(?:api|admin)[0-9]{2}-[A-Za-z0-9_-]{20})",
     Severity::high, 3.5, Extract::whole, kRotate},
    {"hashicorp-vault-token", "HashiCorp Vault service token", R"(\bhvs\.[A-Za-z0-9_-]{24,200})", Severity::high,
     3.5, Extract::whole, kRotate},
    {"linear-api-key", "Linear API key", R"(\blin_api_[A-Za-z0-9]{40}\b)", Severity::medium, 3.5, Extract::whole,
     kRotate},
    {"generic-secret-assignment", "High-entropy value assigned to a secret-looking name",
     R"((?i:secret|token|passw(?:or)?d|pwd|api[_-]?key|apikey|access[_-]?key|auth[_-]?key|private[_-]?key|credentials?)[A-Za-z0-9_.-]{0,20}["']?\s{0,5}(?::|=|:=|=>)\s{0,5}["']?[A-Za-z0-9_+/=.~!@#%^&*-]{8})",
     Severity::medium, 3.5, Extract::after_assign,
     "Move the value to the environment or a secret store; if it is a real credential, rotate it."},
};

// Rules whose full pattern is too wide for vectorscan's start-of-match
// tracking ("Pattern is too large") match a narrow head instead; the value is
// then extended over these characters, up to max_len, and checked for its
// minimum length (and shape, for JWTs and OpenAI keys) in confirmed().
struct Extension {
  const char* id;
  const char* chars;
  std::size_t min_len;
  std::size_t max_len;
};

constexpr const char* kTokenChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";
const Extension kExtensions[] = {
    {"github-fine-grained-pat", kTokenChars, 71, 255},
    {"slack-token", "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-", 15, 255},
    {"jwt", "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-.", 36, 16384},
    {"pypi-token", kTokenChars, 70, 300},
    {"openai-api-key", kTokenChars, 40, 300},
    {"anthropic-api-key", kTokenChars, 90, 200},
    {"generic-secret-assignment", "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_+/=.~!@#%^&*-", 8, 200},
};

const Extension* extension_of(const char* id) {
  for (const auto& e : kExtensions) {
    if (std::strcmp(e.id, id) == 0) return &e;
  }
  return nullptr;
}

constexpr std::size_t kRuleCount = sizeof(kRules) / sizeof(kRules[0]);
constexpr unsigned kGenericRule = kRuleCount - 1;

double shannon_entropy(std::string_view s) {
  if (s.empty()) return 0.0;
  std::array<unsigned, 256> counts{};
  for (unsigned char c : s) ++counts[c];
  double h = 0.0;
  const double n = static_cast<double>(s.size());
  for (unsigned c : counts) {
    if (c == 0) continue;
    const double p = c / n;
    h -= p * std::log2(p);
  }
  return h;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool is_uuid(std::string_view v) {
  if (v.size() != 36) return false;
  for (std::size_t i = 0; i < 36; ++i) {
    const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? v[i] != '-' : !std::isxdigit(static_cast<unsigned char>(v[i]))) return false;
  }
  return true;
}

// A run of 6+ consecutive ascending characters (abcdef, 123456) is a made-up value.
bool has_sequence(std::string_view v) {
  int run = 1;
  for (std::size_t i = 1; i < v.size(); ++i) {
    run = (static_cast<unsigned char>(v[i]) == static_cast<unsigned char>(v[i - 1]) + 1) ? run + 1 : 1;
    if (run >= 6) return true;
  }
  return false;
}

// Placeholders, documentation values and template syntax: what people write
// where a secret will go, never a secret.
bool looks_like_placeholder(std::string_view value) {
  static const char* const kStopWords[] = {
      "example", "xxxx", "changeme", "change_me", "change-me", "dummy", "sample", "placeholder", "your_", "your-",
      "yourkey", "password", "test", "fake", "redacted", "replace", "insert", "<", ">", "${", "{{", "}}", "$(", "%(", "%s",
      "****", "....", "sha512-", "sha384-", "sha256-", "sha1-", "notasecret", "not-a-secret", "secret_here",
      "process.env", "os.environ", "getenv"};
  const std::string l = lower(value);
  for (const char* w : kStopWords) {
    if (l.find(w) != std::string::npos) return true;
  }
  if (std::all_of(value.begin(), value.end(), [&](char c) { return c == value.front(); })) return true;
  if (is_uuid(value)) return true;
  return has_sequence(value);
}

// The generic rule sees code as much as secrets: references, identifiers and
// dotted names are not values.
bool generic_value_is_code(std::string_view v) {
  if (v.front() == '$' || v.front() == '%' || v.front() == '&' || v.front() == '*') return true;
  bool digit = false;
  bool alpha = false;
  for (char c : v) {
    digit = digit || std::isdigit(static_cast<unsigned char>(c));
    alpha = alpha || std::isalpha(static_cast<unsigned char>(c));
  }
  if (!digit || !alpha) return true;
  // a.b.c identifiers (settings.SECRET_KEY2, self.token1)
  bool dotted = v.find('.') != std::string_view::npos;
  for (char c : v) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.')) dotted = false;
  }
  return dotted && std::isalpha(static_cast<unsigned char>(v.front()));
}

struct RawMatch {
  unsigned id;
  unsigned long long from;
  unsigned long long to;
};

struct MatchSink {
  std::vector<RawMatch>* matches;
};

constexpr std::size_t kMaxRawMatches = 200000;

int on_match(unsigned int id, unsigned long long from, unsigned long long to, unsigned int, void* context) {
  auto* sink = static_cast<MatchSink*>(context);
  sink->matches->push_back({id, from, to});
  // A file made of nothing but near-matches is hostile or generated: stop.
  return sink->matches->size() >= kMaxRawMatches ? 1 : 0;
}

bool extract_base(const Rule& rule, const char* data, std::size_t size, const RawMatch& m, std::size_t& begin,
                   std::size_t& end) {
  begin = static_cast<std::size_t>(m.from);
  end = static_cast<std::size_t>(m.to);
  switch (rule.extract) {
    case Extract::whole:
      return true;
    case Extract::after_assign: {
      std::size_t i = begin;
      while (i < end && data[i] != '=' && data[i] != ':') ++i;
      while (i < end && (data[i] == '=' || data[i] == ':' || data[i] == '>' || data[i] == ' ' || data[i] == '\t' ||
                         data[i] == '"' || data[i] == '\'')) {
        ++i;
      }
      if (i >= end) return false;
      begin = i;
      // A value that runs on into more value characters was cut by the bound: not a token of this shape.
      if (end < size && rule.extract == Extract::after_assign && &rule != &kRules[kGenericRule]) {
        const char next = data[end];
        if (std::isalnum(static_cast<unsigned char>(next)) || next == '/' || next == '+') return false;
      }
      return true;
    }
    case Extract::dsn_password: {
      const char* scheme_end = static_cast<const char*>(memmem(data + begin, end - begin, "://", 3));
      if (scheme_end == nullptr) return false;
      std::size_t i = static_cast<std::size_t>(scheme_end - data) + 3;
      while (i < end && data[i] != ':') ++i;
      const std::size_t pass = i + 1;
      std::size_t at = pass;
      while (at < end && data[at] != '@') ++at;
      if (pass >= at || at >= end) return false;
      begin = pass;
      end = at;
      return true;
    }
    case Extract::pem_block: {
      const std::size_t window = std::min<std::size_t>(size - end, 1 << 20);
      const char* stop = static_cast<const char*>(memmem(data + end, window, "-----END", 8));
      if (stop == nullptr) return false;
      const std::size_t after = static_cast<std::size_t>(stop - data) + 8;
      const char* close = static_cast<const char*>(memmem(data + after, std::min<std::size_t>(size - after, 80), "-----", 5));
      end = close == nullptr ? after : static_cast<std::size_t>(close - data) + 5;
      return true;
    }
  }
  return false;
}

// Cuts the secret out of a match; false when the match is not one.
bool extract_value(const Rule& rule, const char* data, std::size_t size, const RawMatch& m, std::size_t& begin,
                   std::size_t& end) {
  if (!extract_base(rule, data, size, m, begin, end)) return false;
  if (const Extension* ext = extension_of(rule.id)) {
    while (end < size && end - begin < ext->max_len && data[end] != '\0' && std::strchr(ext->chars, data[end]) != nullptr) {
      ++end;
    }
    if (end - begin < ext->min_len) return false;
  }
  return true;
}

// A JWT is three base64url segments, the first two JSON objects ("eyJ").
bool jwt_shaped(std::string_view v) {
  const auto d1 = v.find('.');
  if (d1 == std::string_view::npos || d1 < 10) return false;
  const auto d2 = v.find('.', d1 + 1);
  if (d2 == std::string_view::npos || d2 - d1 - 1 < 10 || v.compare(d1 + 1, 3, "eyJ") != 0) return false;
  const auto d3 = v.find('.', d2 + 1);
  const std::size_t last = (d3 == std::string_view::npos ? v.size() : d3) - d2 - 1;
  return last >= 10;
}

// The base64 body of a PEM block, without header, footer and whitespace.
std::string pem_body(std::string_view block) {
  const auto first = block.find("-----", 5);
  const auto last = block.rfind("-----END");
  if (first == std::string_view::npos || last == std::string_view::npos || last <= first + 5) return {};
  std::string body;
  for (char c : block.substr(first + 5, last - first - 5)) {
    if (!std::isspace(static_cast<unsigned char>(c))) body.push_back(c);
  }
  return body;
}

bool confirmed(unsigned id, std::string_view value) {
  const Rule& rule = kRules[id];
  if (rule.extract == Extract::pem_block) {
    const std::string body = pem_body(value);
    // Encrypted-key headers ("Proc-Type:") and real keys are long and random; "..." is not.
    return body.size() >= 64 && shannon_entropy(body) >= rule.min_entropy && !looks_like_placeholder(body);
  }
  if (rule.extract == Extract::dsn_password && value.size() < 6) return false;
  if (std::strcmp(rule.id, "jwt") == 0 && !jwt_shaped(value)) return false;
  if (std::strcmp(rule.id, "openai-api-key") == 0 && value.find("T3BlbkFJ") == std::string_view::npos) return false;
  if (id == kGenericRule) {
    if (value.size() < 12 || generic_value_is_code(value)) return false;
  }
  // Cheapest test first: most rejected candidates are low-entropy words.
  return shannon_entropy(value) >= rule.min_entropy && !looks_like_placeholder(value);
}

struct Candidate {
  unsigned id;
  std::size_t begin;
  std::size_t end;
};

}  // namespace

std::vector<SecretRuleInfo> secret_rules() {
  std::vector<SecretRuleInfo> out;
  for (const auto& r : kRules) out.push_back({r.id, r.title, r.fix, r.severity});
  return out;
}

SecretScanner::SecretScanner() {
  std::vector<const char*> patterns;
  std::vector<unsigned> flags;
  std::vector<unsigned> ids;
  for (unsigned i = 0; i < kRuleCount; ++i) {
    patterns.push_back(kRules[i].pattern);
    // SOM gives the start of each match; the rest of the flags keep the
    // patterns' meaning on any byte (files may not be UTF-8).
    flags.push_back(HS_FLAG_SOM_LEFTMOST);
    ids.push_back(i);
  }
  hs_compile_error_t* error = nullptr;
  if (hs_compile_multi(patterns.data(), flags.data(), ids.data(), static_cast<unsigned>(patterns.size()), HS_MODE_BLOCK,
                       nullptr, &db_, &error) != HS_SUCCESS) {
    std::string what = error != nullptr ? error->message : "unknown error";
    if (error != nullptr && error->expression >= 0) what += std::string(" (rule ") + kRules[error->expression].id + ")";
    hs_free_compile_error(error);
    throw dihya::Error("security_audit: cannot compile the secret rules: " + what);
  }
  if (hs_alloc_scratch(db_, &scratch_) != HS_SUCCESS) {
    hs_free_database(db_);
    throw dihya::Error("security_audit: cannot allocate vectorscan scratch space");
  }
}

SecretScanner::~SecretScanner() {
  hs_free_scratch(scratch_);
  hs_free_database(db_);
}

std::vector<Finding> SecretScanner::scan(const char* data, std::size_t size, const std::string& relative,
                                         hs_scratch* scratch) const {
  std::vector<RawMatch> matches;
  MatchSink sink{&matches};
  const hs_error_t rc = hs_scan(db_, data, static_cast<unsigned>(size), 0, scratch, on_match, &sink);
  if (rc != HS_SUCCESS && rc != HS_SCAN_TERMINATED) throw dihya::Error("security_audit: vectorscan scan failed");
  if (matches.empty()) return {};

  // Patterns ending in a repeat report every end; keep the longest per start.
  std::sort(matches.begin(), matches.end(), [](const RawMatch& a, const RawMatch& b) {
    return a.id != b.id ? a.id < b.id : a.from != b.from ? a.from < b.from : a.to > b.to;
  });
  std::vector<Candidate> candidates;
  for (std::size_t i = 0; i < matches.size(); ++i) {
    if (i > 0 && matches[i].id == matches[i - 1].id && matches[i].from == matches[i - 1].from) continue;
    std::size_t begin = 0;
    std::size_t end = 0;
    if (!extract_value(kRules[matches[i].id], data, size, matches[i], begin, end)) continue;
    if (!confirmed(matches[i].id, std::string_view(data + begin, end - begin))) continue;
    // Two starts of one rule inside the same value (xoxb- inside xoxb-...) are one finding.
    if (!candidates.empty() && candidates.back().id == matches[i].id && begin < candidates.back().end) continue;
    candidates.push_back({matches[i].id, begin, end});
  }
  // A specific rule beats the generic one on the same value.
  std::vector<Candidate> kept;
  for (const auto& c : candidates) {
    if (c.id == kGenericRule) {
      const bool covered = std::any_of(candidates.begin(), candidates.end(), [&](const Candidate& o) {
        return o.id != kGenericRule && o.begin < c.end && c.begin < o.end;
      });
      if (covered) continue;
    }
    kept.push_back(c);
  }
  std::sort(kept.begin(), kept.end(), [](const Candidate& a, const Candidate& b) { return a.begin < b.begin; });

  std::vector<Finding> out;
  std::size_t line = 1;
  std::size_t line_start = 0;
  std::size_t pos = 0;
  for (const auto& c : kept) {
    for (; pos < c.begin; ++pos) {
      if (data[pos] == '\n') {
        ++line;
        line_start = pos + 1;
      }
    }
    const Rule& rule = kRules[c.id];
    const std::string_view value(data + c.begin, c.end - c.begin);
    Finding f;
    f.rule = rule.id;
    f.check = "secrets";
    f.severity = rule.severity;
    f.title = rule.title;
    f.message = std::string(rule.title) + " found";
    f.path = relative;
    f.line = static_cast<int>(line);
    f.column = static_cast<int>(c.begin - line_start + 1);
    f.evidence = mask(value);
    f.fix = rule.fix;
    f.fingerprint = fingerprint(rule.id, relative, value);
    out.push_back(std::move(f));
  }
  return out;
}

std::vector<ScanFile> list_files(const std::filesystem::path& root, const IgnoreRules& rules) {
  namespace fs = std::filesystem;
  std::vector<ScanFile> out;
  std::vector<std::pair<fs::path, std::string>> stack{{root, ""}};
  while (!stack.empty()) {
    auto [dir, prefix] = std::move(stack.back());
    stack.pop_back();
    std::error_code ec;
    fs::directory_iterator it(dir, fs::directory_options::skip_permission_denied, ec);
    if (ec) continue;
    std::vector<std::pair<fs::path, std::string>> subdirs;
    for (const auto& entry : it) {
      const std::string name = entry.path().filename().string();
      const std::string relative = prefix.empty() ? name : prefix + "/" + name;
      const auto status = entry.symlink_status(ec);
      if (ec) continue;
      if (fs::is_directory(status)) {
        if (name == ".git" || rules.ignored(relative, true)) continue;
        subdirs.emplace_back(entry.path(), relative);
      } else if (fs::is_regular_file(status)) {
        if (!rules.ignored(relative, false)) out.push_back({entry.path(), relative});
      }
    }
    // Depth-first in name order, so reports come out in a stable order.
    std::sort(subdirs.begin(), subdirs.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
    for (auto& d : subdirs) stack.push_back(std::move(d));
  }
  return out;
}

void scan_one_file(const SecretScanner& scanner, const ScanFile& file, std::uint64_t max_file_size, hs_scratch* scratch,
                   std::vector<char>& buffer, std::vector<Finding>& out, SecretScanStats& stats) {
  const int fd = ::open(file.absolute.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    ++stats.unreadable;
    return;
  }
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    ++stats.unreadable;
    return;
  }
  const auto size = static_cast<std::uint64_t>(st.st_size);
  if (size > max_file_size) {
    ::close(fd);
    ++stats.skipped_large;
    return;
  }
  buffer.resize(static_cast<std::size_t>(size));
  std::size_t got = 0;
  while (got < buffer.size()) {
    const ssize_t n = ::read(fd, buffer.data() + got, buffer.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<std::size_t>(n);
  }
  ::close(fd);
  // Binary files (a NUL in the first 8 KiB, as git decides) are skipped.
  if (std::memchr(buffer.data(), '\0', std::min<std::size_t>(got, 8192)) != nullptr) {
    ++stats.skipped_binary;
    return;
  }
  ++stats.files;
  stats.bytes += got;
  auto found = scanner.scan(buffer.data(), got, file.relative, scratch);
  for (auto& f : found) out.push_back(std::move(f));
}

}  // namespace security_audit
