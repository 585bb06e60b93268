// SPDX-License-Identifier: AGPL-3.0-or-later
// Masking of secrets in text and parameter values.
#include "params/redaction.hpp"

#include <algorithm>
#include <cctype>
#include <optional>
#include <utility>

#include "params/param_builder.hpp"

namespace dihya::host {
namespace {

using nlohmann::json;

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }
bool is_word(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_'; }
char lower(char c) { return static_cast<char>(std::tolower(static_cast<unsigned char>(c))); }

// Where a URL's authority (user:password@host:port) ends. libpq stops at '/'
// too; quotes and '<>' end a URL embedded in a log line or a message.
bool ends_authority(char c) { return c == '/' || is_space(c) || c == '"' || c == '\'' || c == '<' || c == '>' || c == '`'; }

// Whether text[0, scheme_end) is a URL scheme: then the text is a URL from
// its first byte (a parameter, a setting), and libpq or libcurl take a quote
// or a blank before the '@' as part of the password.
bool is_scheme(std::string_view text, std::size_t scheme_end) {
  if (scheme_end == 0 || std::isalpha(static_cast<unsigned char>(text[0])) == 0) return false;
  return std::all_of(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(scheme_end), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '+' || c == '.' || c == '-';
  });
}

// scheme://user:secret@host -> scheme://user:***@host. The last '@' of the
// authority is taken, so an unencoded '@' in the password is masked as well.
std::string mask_url_passwords(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  std::size_t copied = 0;
  std::size_t search = 0;
  for (;;) {
    const std::size_t scheme_end = text.find("://", search);
    if (scheme_end == std::string_view::npos) break;
    const std::size_t begin = scheme_end + 3;
    const bool whole = copied == 0 && search == 0 && is_scheme(text, scheme_end);
    std::size_t end = begin;
    while (end < text.size() && (whole ? text[end] != '/' : !ends_authority(text[end]))) ++end;
    const std::string_view authority = text.substr(begin, end - begin);
    const std::size_t at = authority.rfind('@');
    const std::size_t colon = authority.find(':');
    search = begin;
    if (at == std::string_view::npos || colon == std::string_view::npos || colon + 1 >= at) continue;
    if (authority.substr(colon + 1, at - colon - 1) == kRedacted) continue;
    out.append(text.substr(copied, begin + colon + 1 - copied));
    out.append(kRedacted);
    copied = begin + at;
    search = end;
  }
  out.append(text.substr(copied));
  return out;
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (lower(c) >= 'a' && lower(c) <= 'f') return lower(c) - 'a' + 10;
  return -1;
}

// The end of "password" at `i` (any case), or npos. libpq decodes a URL
// query's keys, so "?%70assword=" names the password too: each letter may be
// percent-encoded.
std::size_t password_keyword_end(std::string_view text, std::size_t i) {
  constexpr std::string_view kKeyword = "password";
  for (const char want : kKeyword) {
    if (i < text.size() && lower(text[i]) == want) {
      ++i;
    } else if (i + 2 < text.size() && text[i] == '%' && hex_digit(text[i + 1]) >= 0 && hex_digit(text[i + 2]) >= 0 &&
               lower(static_cast<char>(hex_digit(text[i + 1]) * 16 + hex_digit(text[i + 2]))) == want) {
      i += 3;
    } else {
      return std::string_view::npos;
    }
  }
  return i;
}

// Where the next "password" keyword from `from` starts; *end gets its end.
std::size_t find_password_keyword(std::string_view text, std::size_t from, std::size_t* end) {
  for (std::size_t i = from; i < text.size(); ++i) {
    if (lower(text[i]) != 'p' && text[i] != '%') continue;
    if (const std::size_t e = password_keyword_end(text, i); e != std::string_view::npos) {
      *end = e;
      return i;
    }
  }
  return std::string_view::npos;
}

// The end of a password value starting at `begin`: a quoted value runs to its
// closing quote, a bare one to the next blank or quote (both with backslash
// escapes, as libpq reads them: "pass\ word" is one value), and inside a URL
// query (no escapes there) to '&' or '#'.
std::size_t password_value_end(std::string_view text, std::size_t begin, bool in_query) {
  if (begin < text.size() && (text[begin] == '\'' || text[begin] == '"')) {
    const char quote = text[begin];
    std::size_t i = begin + 1;
    while (i < text.size() && text[i] != quote) i += text[i] == '\\' ? 2 : 1;
    return std::min(i + 1, text.size());
  }
  std::size_t i = begin;
  while (i < text.size() && !is_space(text[i]) && text[i] != '"' && text[i] != '\'' &&
         !(in_query && (text[i] == '&' || text[i] == '#'))) {
    i += !in_query && text[i] == '\\' ? 2 : 1;
  }
  return std::min(i, text.size());
}

// The next "password=value" at or after *search (key=value forms:
// "password=x", "PGPASSWORD=x", "?password=x&..."), the value as written,
// quotes included; *search moves past it. nullopt when there is none.
struct PasswordValue {
  std::size_t begin, end;
  bool in_query;
};
std::optional<PasswordValue> next_password_value(std::string_view text, std::size_t* search) {
  for (;;) {
    std::size_t keyword_end = 0;
    const std::size_t keyword = find_password_keyword(text, *search, &keyword_end);
    if (keyword == std::string_view::npos) return std::nullopt;
    *search = keyword_end;
    std::size_t i = keyword_end;
    while (i < text.size() && (text[i] == ' ' || text[i] == '\t')) ++i;
    if (i >= text.size() || text[i] != '=') continue;
    ++i;
    while (i < text.size() && (text[i] == ' ' || text[i] == '\t')) ++i;
    std::size_t word_start = keyword;
    while (word_start > 0 && is_word(text[word_start - 1])) --word_start;
    const bool in_query = word_start > 0 && (text[word_start - 1] == '?' || text[word_start - 1] == '&');
    const std::size_t end = password_value_end(text, i, in_query);
    *search = std::max(*search, end);
    return PasswordValue{i, end, in_query};
  }
}

std::string mask_password_keywords(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  std::size_t copied = 0;
  std::size_t search = 0;
  while (const auto found = next_password_value(text, &search)) {
    const std::string_view value = text.substr(found->begin, found->end - found->begin);
    if (value.empty() || value == kRedacted) continue;
    out.append(text.substr(copied, found->begin - copied));
    out.append(kRedacted);
    copied = found->end;
  }
  out.append(text.substr(copied));
  return out;
}

// A cheap test so redact_params leaves ordinary strings alone.
bool may_hold_password(std::string_view text) {
  std::size_t end = 0;
  return text.find("://") != std::string_view::npos || find_password_keyword(text, 0, &end) != std::string_view::npos;
}

json redact_value(const json& value, const json& root, const json* schema, const Redactor* redactor) {
  if (is_write_only(schema)) return json(kRedacted);
  if (value.is_object()) {
    json out = json::object();
    for (const auto& [key, item] : value.items()) {
      out[key] = redact_value(item, root, property_schema(root, schema, key), redactor);
    }
    return out;
  }
  if (value.is_array()) {
    json out = json::array();
    for (std::size_t i = 0; i < value.size(); ++i) {
      out.push_back(redact_value(value[i], root, item_schema(root, schema, i), redactor));
    }
    return out;
  }
  if (!value.is_string()) return value;
  std::string text = value.get<std::string>();
  if (redactor != nullptr) return json(redactor->redact(text));  // redact() masks connection strings too
  return json(may_hold_password(text) ? redact_connection_string(text) : std::move(text));
}

}  // namespace

std::string redact_connection_string(std::string_view text) {
  if (!may_hold_password(text)) return std::string(text);
  return mask_password_keywords(mask_url_passwords(text));
}

std::vector<std::string> password_spellings(std::string_view conninfo) {
  std::vector<std::string> found;
  auto keep = [&found](std::string_view value) {
    if (value.empty() || value == kRedacted) return;
    if (std::find(found.begin(), found.end(), value) == found.end()) found.emplace_back(value);
  };
  // user:password@ of a URL, as written (percent-encoded).
  if (const std::size_t scheme_end = conninfo.find("://"); scheme_end != std::string_view::npos) {
    const std::size_t begin = scheme_end + 3;
    std::size_t end = begin;
    while (end < conninfo.size() && !ends_authority(conninfo[end]) && conninfo[end] != '?') ++end;
    const std::string_view authority = conninfo.substr(begin, end - begin);
    const std::size_t at = authority.rfind('@');
    const std::size_t colon = authority.find(':');
    if (at != std::string_view::npos && colon != std::string_view::npos && colon < at) {
      keep(authority.substr(colon + 1, at - colon - 1));
    }
    // As libpq reads it: the user info ends at the first '@' before a '/',
    // whatever it holds ('?', "%ZZ"), and a message that it cannot decode
    // quotes it whole.
    const std::size_t first_colon = conninfo.find(':', begin);
    std::size_t p = begin;
    while (p < conninfo.size() && conninfo[p] != '@' && conninfo[p] != '/') ++p;
    if (p < conninfo.size() && conninfo[p] == '@' && first_colon < p) {
      keep(conninfo.substr(first_colon + 1, p - first_colon - 1));
    }
    // A password with an unencoded '/' ends both readings early, and libpq
    // then takes its first piece for a port and quotes it: up to the last '@'
    // before the query, and each piece of it between '/'s of 8 bytes or more.
    const std::size_t query = std::min(conninfo.find('?', begin), conninfo.size());
    const std::size_t last_at = conninfo.rfind('@', query);
    if (last_at != std::string_view::npos && last_at > begin && first_colon < last_at) {
      const std::string_view whole = conninfo.substr(first_colon + 1, last_at - first_colon - 1);
      keep(whole);
      for (std::size_t from = 0; from < whole.size();) {
        const std::size_t slash = std::min(whole.find('/', from), whole.size());
        if (slash - from >= Redactor::kMinSecretLine) keep(whole.substr(from, slash - from));
        from = slash + 1;
      }
    }
  }
  // password=... as a keyword or in a URL query, as written.
  std::size_t search = 0;
  while (const auto found_value = next_password_value(conninfo, &search)) {
    std::string_view value = conninfo.substr(found_value->begin, found_value->end - found_value->begin);
    if (value.size() >= 2 && (value.front() == '\'' || value.front() == '"') && value.back() == value.front()) {
      value = value.substr(1, value.size() - 2);
    }
    keep(value);
    if (!found_value->in_query && value.find('\\') != std::string_view::npos) {  // and as libpq reads it
      std::string plain;
      for (std::size_t k = 0; k < value.size(); ++k) {
        if (value[k] == '\\' && k + 1 < value.size()) ++k;
        plain += value[k];
      }
      keep(plain);
    }
  }
  return found;
}

void Redactor::add_spelling(std::string spelling) {
  if (spelling.empty() || std::find(secrets_.begin(), secrets_.end(), spelling) != secrets_.end()) return;
  first_bytes_[static_cast<unsigned char>(spelling.front())] = true;
  secrets_.push_back(std::move(spelling));
}

void Redactor::add_secret(std::string value) {
  if (value.empty()) return;
  std::vector<std::string> spellings{value};
  // A multi-line secret may be printed or logged one line at a time.
  if (value.find('\n') != std::string::npos) {
    std::size_t begin = 0;
    while (begin < value.size()) {
      std::size_t end = value.find('\n', begin);
      if (end == std::string::npos) end = value.size();
      std::string line = value.substr(begin, end - begin);
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (line.size() >= kMinSecretLine) spellings.push_back(std::move(line));
      begin = end + 1;
    }
  }
  // Inside JSON output a secret appears escaped ("a\"b"); mask that spelling too.
  const std::size_t plain = spellings.size();
  for (std::size_t i = 0; i < plain; ++i) {
    std::string escaped = json(spellings[i]).dump(-1, ' ', false, json::error_handler_t::replace);
    spellings.push_back(escaped.substr(1, escaped.size() - 2));
  }
  for (auto& spelling : spellings) add_spelling(std::move(spelling));
  std::stable_sort(secrets_.begin(), secrets_.end(),
                   [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
}

std::size_t Redactor::redact_prefix(std::string_view text, bool final, std::string* out) const {
  std::size_t copied = 0;
  std::size_t i = 0;
  while (i < text.size()) {
    if (!first_bytes_[static_cast<unsigned char>(text[i])]) {
      ++i;
      continue;
    }
    // Longest first: a longer secret whose end has not arrived yet (the
    // tail is its start) wins over a shorter one that matches already.
    const std::size_t rest = text.size() - i;
    const std::string* match = nullptr;
    for (const auto& secret : secrets_) {
      if (text.compare(i, secret.size(), secret) == 0) {
        match = &secret;
        break;
      }
      if (!final && rest < secret.size() && text.compare(i, rest, secret, 0, rest) == 0) {
        out->append(text.substr(copied, i - copied));
        return i;
      }
    }
    if (match != nullptr) {
      out->append(text.substr(copied, i - copied));
      out->append(kRedacted);
      i += match->size();
      copied = i;
      continue;
    }
    ++i;
  }
  out->append(text.substr(copied));
  return text.size();
}

std::string Redactor::redact(std::string_view text) const {
  if (secrets_.empty()) return redact_connection_string(text);
  std::string out;
  out.reserve(text.size());
  redact_prefix(text, true, &out);
  return redact_connection_string(out);
}

std::string mask_passwords(std::string_view text) {
  Redactor redactor;
  for (auto& spelling : password_spellings(text)) redactor.add_secret(std::move(spelling));
  return redactor.redact(text);
}

nlohmann::json redact_params(const nlohmann::json& values, const nlohmann::json& schema) {
  return redact_value(values, schema, resolve_schema_ref(schema, &schema), nullptr);
}

nlohmann::json redact_params(const nlohmann::json& values, const nlohmann::json& schema, const Redactor& redactor) {
  return redact_value(values, schema, resolve_schema_ref(schema, &schema), &redactor);
}

nlohmann::json redact_resolved_params(const ResolvedParams& params, const nlohmann::json& schema, const Redactor& redactor) {
  json out = redact_params(params.values, schema, redactor);
  for (const auto& key : params.referenced_keys) {
    if (out.is_object() && out.contains(key)) out[key] = kRedacted;
  }
  return out;
}

}  // namespace dihya::host
