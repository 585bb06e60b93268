// SPDX-License-Identifier: AGPL-3.0-or-later
#include "secrets.hpp"
#include "secret_rules.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstring>

#include <dihya/error.hpp>
#include <dihya/file_io.hpp>
#include <hs/hs.h>

namespace security_audit {
namespace {

const Extension* extension_of(const char* id) {
  for (std::size_t i = 0; i < kExtensionCount; ++i) {
    if (std::strcmp(kExtensions[i].id, id) == 0) return &kExtensions[i];
  }
  return nullptr;
}

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

bool in_set(const char* chars, char c) { return c != '\0' && std::strchr(chars, c) != nullptr; }

// After a service's name (ADAFRUIT_IO_KEY, "jira", twitter.bearer), the value
// assigned to it: the rest of the name, quotes, an operator (= : , => :=),
// quotes again, then a value that must have one of the rule's shapes and end
// there. Mirrors the assignment gitleaks' keyword rules accept.
bool service_value(const Rule& rule, const char* data, std::size_t size, std::size_t from, std::size_t& begin,
                   std::size_t& end) {
  std::size_t i = from;
  const std::size_t name_end = std::min(size, from + 30);
  while (i < name_end && (std::isalnum(static_cast<unsigned char>(data[i])) || in_set("_.- \t", data[i]))) ++i;
  const std::size_t quote_end = std::min(size, i + 3);
  while (i < quote_end && in_set("\"'`] \t", data[i])) ++i;
  if (i >= size || !in_set("=:,", data[i])) return false;
  const std::size_t op_end = std::min(size, i + 3);
  while (i < op_end && in_set("=:>,|?", data[i])) ++i;
  const std::size_t space_end = std::min(size, i + 5);
  while (i < space_end && in_set("\"'` \t", data[i])) ++i;
  for (const ValueShape* s = rule.shapes; s != nullptr && s->chars != nullptr; ++s) {
    const std::size_t plen = std::strlen(s->prefix);
    if (i + plen > size || std::memcmp(data + i, s->prefix, plen) != 0) continue;
    std::size_t run = 0;
    const std::size_t start = i + plen;
    if (std::strcmp(s->chars, "uuid") == 0) {
      if (start + 36 > size || !is_uuid(std::string_view(data + start, 36))) continue;
      run = 36;
    } else {
      while (start + run < size && run <= s->max_len && in_set(s->chars, data[start + run])) ++run;
      if (run < s->min_len || run > s->max_len) continue;
    }
    const std::size_t stop = start + run;
    if (stop < size && (std::isalnum(static_cast<unsigned char>(data[stop])) || in_set("_-+/", data[stop]))) continue;
    begin = i;
    end = stop;
    return true;
  }
  return false;
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
      if (end < size && extension_of(rule.id) == nullptr) {
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
    case Extract::service_value:
      return service_value(rule, data, size, end, begin, end);
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

// The value without the words a format itself carries (duffel_test_,
// FLWSECK_TEST-): "test" there names the key's mode, not a made-up value.
std::string without_format_words(std::string_view value) {
  std::string v(value);
  for (const char* w : {"_test_", "_TEST-", "_test-"}) {
    const auto at = v.find(w);
    if (at != std::string::npos && at < 16) v.erase(at, std::strlen(w));
  }
  return v;
}

// ghs_<app id>_<JWT>: the installation token GitHub Apps receive.
bool github_app_jwt(std::string_view v) {
  const auto second = v.find('_', 4);
  return second != std::string_view::npos && jwt_shaped(v.substr(second + 1));
}

// A bare 0x + 64 hex digits is a private key, or a hash, a transaction id, a
// storage slot... The line it is on tells them apart.
bool on_hash_line(const char* data, std::size_t begin) {
  std::size_t s = begin;
  const std::size_t limit = begin > 240 ? begin - 240 : 0;
  while (s > limit && data[s - 1] != '\n') --s;
  const std::string line = lower(std::string_view(data + s, begin - s));
  static const char* const kHashWords[] = {"hash", "tx", "block", "root", "digest", "checksum", "topic", "salt",
                                           "nonce", "sha", "keccak", "bytes32", "commit", "merkle", "slot", "storage",
                                           "sig", "data", "_id", "id\"", "id'", "id:", "id=", "id =", "ids", "event"};
  for (const char* w : kHashWords) {
    if (line.find(w) != std::string::npos) return true;
  }
  return false;
}

bool mixed_case(std::string_view v) {
  const auto has = [&](int (*f)(int)) {
    return std::any_of(v.begin(), v.end(), [&](char c) { return f(static_cast<unsigned char>(c)) != 0; });
  };
  return has(std::isdigit) && has(std::isupper) && has(std::islower);
}

// Values that are a server's default or trivially guessed: what an attacker
// tries first. "password" and "changeme" are not here: in a URL they are
// documentation placeholders (dropped by looks_like_placeholder).
bool default_password(std::string_view user, std::string_view password) {
  static const char* const kDefaults[] = {"root", "toor", "admin", "administrator", "postgres", "mysql", "mariadb",
                                          "guest", "redis", "mongo", "mongodb", "rabbitmq", "oracle", "sa", "default",
                                          "1234", "12345", "123456", "12345678", "qwerty", "letmein", "welcome",
                                          "master", "manager"};
  const std::string p = lower(password);
  const std::string u = lower(user);
  // user:user@ and name:name@ are how documentation writes "some user".
  if (!u.empty() && p == u && u != "user" && u != "username" && u != "name" && u != "login") return true;
  return std::any_of(std::begin(kDefaults), std::end(kDefaults), [&](const char* d) { return p == d; });
}

// A URL on example.com/.org/.net (RFC 2606) is documentation, whatever its password.
bool documentation_host(const char* data, std::size_t size, std::size_t at) {
  const std::size_t n = std::min<std::size_t>(size - at, 48);
  const std::string host = lower(std::string_view(data + at, n));
  const auto stop = host.find_first_of("/:?#\"' \t\r\n");
  const std::string name = host.substr(0, stop);
  return name.rfind("example.", 0) == 0 || name.find(".example.") != std::string::npos;
}

// scheme://USER:password@ of a connection URL whose password starts at `pass`.
std::string_view dsn_user(const char* data, std::size_t from, std::size_t pass) {
  const char* scheme_end = static_cast<const char*>(memmem(data + from, pass - from, "://", 3));
  if (scheme_end == nullptr) return {};
  const std::size_t user = static_cast<std::size_t>(scheme_end - data) + 3;
  return pass > user ? std::string_view(data + user, pass - 1 - user) : std::string_view();
}

// A PEM body made up as documentation: characters base64 never holds ("...",
// "<your key>"), one repeated character, or a long telltale word. Short stop
// words ("test", "fake") are not looked for: random base64 holds them by
// chance (about one real 1 KB key in a thousand contains "test" in some case).
bool pem_body_is_placeholder(const std::string& body) {
  const auto base64_or_space = [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '/' || c == '=' || c == '\n' || c == '\r' ||
           c == ' ' || c == '\t';
  };
  if (!std::all_of(body.begin(), body.end(), base64_or_space)) return true;
  if (std::all_of(body.begin(), body.end(), [&](char c) { return c == body.front(); })) return true;
  const std::string l = lower(body);
  for (const char* w : {"example", "placeholder", "redacted", "changeme", "notasecret"}) {
    if (l.find(w) != std::string::npos) return true;
  }
  return false;
}

bool confirmed(unsigned id, const char* data, std::size_t begin, std::size_t end) {
  const Rule& rule = kRules[id];
  const std::string_view value(data + begin, end - begin);
  if (rule.extract == Extract::pem_block) {
    const std::string body = pem_body(value);
    // Encrypted-key headers ("Proc-Type:") and real keys are long and random; "..." is not.
    return body.size() >= 64 && shannon_entropy(body) >= rule.min_entropy && !pem_body_is_placeholder(body);
  }
  if (id == kDefaultCredentialsRule) return true;
  if (rule.extract == Extract::dsn_password && value.size() < 6) return false;
  switch (rule.check) {
    case Check::none:
      break;
    case Check::jwt:
      if (!jwt_shaped(value)) return false;
      break;
    case Check::openai:
      if (value.find("T3BlbkFJ") == std::string_view::npos) return false;
      break;
    case Check::github_app_jwt:
      if (!github_app_jwt(value)) return false;
      break;
    case Check::generic:
      if (value.size() < 12 || generic_value_is_code(value)) return false;
      break;
    case Check::bare_hex_key:
      if (on_hash_line(data, begin)) return false;
      break;
    case Check::mixed_case:
      if (!mixed_case(value)) return false;
      break;
  }
  // Cheapest test first: most rejected candidates are low-entropy words.
  if (shannon_entropy(value) < rule.min_entropy) return false;
  // Service values may be UUIDs (Heroku, HubSpot, Snyk keys); elsewhere a UUID is an id.
  if (rule.extract == Extract::service_value && is_uuid(value)) return true;
  return !looks_like_placeholder(without_format_words(value));
}

struct Candidate {
  unsigned id;
  std::size_t begin;
  std::size_t end;
};

}  // namespace

std::vector<SecretRuleInfo> secret_rules() {
  std::vector<SecretRuleInfo> out;
  for (std::size_t i = 0; i < kRuleCount; ++i) {
    const Rule& r = kRules[i];
    // A rule may have several patterns (several entries): list it once.
    const bool listed = std::any_of(out.begin(), out.end(), [&](const SecretRuleInfo& o) { return o.id == r.id; });
    if (!listed) out.push_back({r.id, r.title, r.fix, r.severity});
  }
  return out;
}

SecretScanner::SecretScanner() {
  std::vector<const char*> patterns;
  std::vector<unsigned> flags;
  std::vector<unsigned> ids;
  for (unsigned i = 0; i < kRuleCount; ++i) {
    if (kRules[i].pattern == nullptr) continue;
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
    if (error != nullptr && error->expression >= 0) what += std::string(" (rule ") + kRules[ids[static_cast<std::size_t>(error->expression)]].id + ")";
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
  // An empty file holds nothing, and vectorscan refuses a null buffer (an empty vector's data()).
  if (size == 0) return {};
  std::vector<RawMatch> matches;
  MatchSink sink{&matches};
  const hs_error_t rc = hs_scan(db_, data, static_cast<unsigned>(size), 0, scratch, on_match, &sink);
  if (rc != HS_SUCCESS && rc != HS_SCAN_TERMINATED) {
    throw dihya::Error("security_audit: vectorscan scan failed (error " + std::to_string(rc) + ")");
  }
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
    unsigned id = matches[i].id;
    if (!extract_value(kRules[id], data, size, matches[i], begin, end)) continue;
    // One rule for weak credentials, whatever the scheme: postgres, mysql, mongodb, redis, amqp...
    if (id == kDsnPasswordRule && end + 1 < size && documentation_host(data, size, end + 1)) continue;
    if (id == kDsnPasswordRule &&
        default_password(dsn_user(data, static_cast<std::size_t>(matches[i].from), begin),
                         std::string_view(data + begin, end - begin))) {
      id = kDefaultCredentialsRule;
    }
    if (!confirmed(id, data, begin, end)) continue;
    // Two starts of one rule inside the same value (xoxb- inside xoxb-...) are one finding.
    if (!candidates.empty() && candidates.back().id == id && begin < candidates.back().end) continue;
    candidates.push_back({id, begin, end});
  }
  std::sort(candidates.begin(), candidates.end(), [](const Candidate& a, const Candidate& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end > b.end;
  });
  // A specific rule beats a broad one on the same value; one finding per rule
  // and value even when several of its patterns matched it.
  std::vector<Candidate> kept;
  for (const auto& c : candidates) {
    const auto overlaps = [&](const Candidate& o) { return o.begin < c.end && c.begin < o.end; };
    if (kRules[c.id].yields && std::any_of(candidates.begin(), candidates.end(), [&](const Candidate& o) {
          return !kRules[o.id].yields && overlaps(o);
        })) {
      continue;
    }
    if (std::any_of(kept.begin(), kept.end(), [&](const Candidate& o) {
          return overlaps(o) && std::strcmp(kRules[o.id].id, kRules[c.id].id) == 0;
        })) {
      continue;
    }
    kept.push_back(c);
  }

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

std::vector<ScanFile> list_files(const std::filesystem::path& root, const IgnoreRules& rules, Unexamined& gaps) {
  std::vector<ScanFile> out;
  walk_tree(root, kMaxScanDepth, gaps, [&](const TreeEntry& e) {
    if (S_ISDIR(e.st.st_mode)) return !rules.ignored(e.relative, true);
    if (S_ISREG(e.st.st_mode) && !rules.ignored(e.relative, false)) out.push_back({root / e.relative, e.relative});
    return false;
  });
  return out;
}

namespace {

enum class ReadOutcome { read, too_large, failed };

// Reads `fd` to its end into `buffer`, at most `limit` bytes. The size fstat
// gives is only a hint: procfs and sysfs files say 0 and have content, and a
// file may grow while it is read.
ReadOutcome read_to_end(int fd, std::uint64_t size_hint, std::uint64_t limit, std::vector<char>& buffer,
                        std::size_t& got) {
  constexpr std::size_t kFirstRead = 64 * 1024;
  // One byte over the limit tells a file of exactly `limit` bytes from a larger one.
  const std::size_t cap = static_cast<std::size_t>(limit) + 1;
  got = 0;
  buffer.resize(std::min(cap, std::max<std::size_t>(static_cast<std::size_t>(size_hint) + 1, kFirstRead)));
  for (;;) {
    if (got == buffer.size()) {
      if (buffer.size() >= cap) return ReadOutcome::too_large;
      buffer.resize(std::min(cap, buffer.size() * 2));
    }
    const ssize_t n = ::read(fd, buffer.data() + got, buffer.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ReadOutcome::failed;
    if (n == 0) return got > limit ? ReadOutcome::too_large : ReadOutcome::read;
    got += static_cast<std::size_t>(n);
  }
}

}  // namespace

void scan_one_file(const SecretScanner& scanner, const ScanFile& file, std::uint64_t max_file_size, hs_scratch* scratch,
                   std::vector<char>& buffer, std::vector<Finding>& out, SecretScanStats& stats) {
  const dihya::UniqueFd fd(open_long_path(file.absolute.string(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK));
  if (!fd) {
    ++stats.unreadable;
    return;
  }
  struct stat st {};
  if (fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) {
    ++stats.unreadable;
    return;
  }
  const auto size = static_cast<std::uint64_t>(st.st_size);
  if (size > max_file_size) {
    ++stats.skipped_large;
    return;
  }
  std::size_t got = 0;
  switch (read_to_end(fd.get(), size, max_file_size, buffer, got)) {
    case ReadOutcome::read:
      break;
    case ReadOutcome::too_large:
      ++stats.skipped_large;
      return;
    case ReadOutcome::failed:
      ++stats.unreadable;
      return;
  }
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
