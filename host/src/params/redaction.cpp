// SPDX-License-Identifier: AGPL-3.0-or-later
// Masking of secrets in text and parameter values.
#include "params/redaction.hpp"

#include <algorithm>
#include <cctype>
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
    std::size_t end = begin;
    while (end < text.size() && !ends_authority(text[end])) ++end;
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

std::size_t find_password_keyword(std::string_view text, std::size_t from) {
  constexpr std::string_view kKeyword = "password";
  for (std::size_t i = from; i + kKeyword.size() <= text.size(); ++i) {
    if (lower(text[i]) != 'p') continue;
    std::size_t k = 1;
    while (k < kKeyword.size() && lower(text[i + k]) == kKeyword[k]) ++k;
    if (k == kKeyword.size()) return i;
  }
  return std::string_view::npos;
}

// The end of a password value starting at `begin`: a quoted value runs to its
// closing quote (backslash escapes, as libpq reads them), a bare one to the
// next blank or quote, and inside a URL query also to '&' or '#'.
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
    ++i;
  }
  return i;
}

// key=value forms: "password=x", "PGPASSWORD=x", "?password=x&...".
std::string mask_password_keywords(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  std::size_t copied = 0;
  std::size_t search = 0;
  for (;;) {
    const std::size_t keyword = find_password_keyword(text, search);
    if (keyword == std::string_view::npos) break;
    search = keyword + 8;
    std::size_t i = search;
    while (i < text.size() && (text[i] == ' ' || text[i] == '\t')) ++i;
    if (i >= text.size() || text[i] != '=') continue;
    ++i;
    while (i < text.size() && (text[i] == ' ' || text[i] == '\t')) ++i;
    std::size_t word_start = keyword;
    while (word_start > 0 && is_word(text[word_start - 1])) --word_start;
    const bool in_query = word_start > 0 && (text[word_start - 1] == '?' || text[word_start - 1] == '&');
    const std::size_t end = password_value_end(text, i, in_query);
    search = std::max(search, end);
    const std::string_view value = text.substr(i, end - i);
    if (value.empty() || value == kRedacted) continue;
    out.append(text.substr(copied, i - copied));
    out.append(kRedacted);
    copied = end;
  }
  out.append(text.substr(copied));
  return out;
}

// A cheap test so redact_params leaves ordinary strings alone.
bool may_hold_password(std::string_view text) {
  return text.find("://") != std::string_view::npos || find_password_keyword(text, 0) != std::string_view::npos;
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

void Redactor::add_secret(std::string value) {
  if (value.empty()) return;
  // Inside JSON output a secret appears escaped ("a\"b"); mask that spelling too.
  std::string escaped = json(value).dump(-1, ' ', false, json::error_handler_t::replace);
  escaped = escaped.substr(1, escaped.size() - 2);
  for (std::string* secret : {&value, &escaped}) {
    if (std::find(secrets_.begin(), secrets_.end(), *secret) != secrets_.end()) continue;
    first_bytes_[static_cast<unsigned char>(secret->front())] = true;
    secrets_.push_back(std::move(*secret));
  }
  std::stable_sort(secrets_.begin(), secrets_.end(),
                   [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
}

std::string Redactor::redact(std::string_view text) const {
  if (secrets_.empty()) return redact_connection_string(text);
  std::string out;
  out.reserve(text.size());
  std::size_t copied = 0;
  std::size_t i = 0;
  while (i < text.size()) {
    if (!first_bytes_[static_cast<unsigned char>(text[i])]) {
      ++i;
      continue;
    }
    const auto match = std::find_if(secrets_.begin(), secrets_.end(), [&](const std::string& secret) {
      return text.compare(i, secret.size(), secret) == 0;
    });
    if (match == secrets_.end()) {
      ++i;
      continue;
    }
    out.append(text.substr(copied, i - copied));
    out.append(kRedacted);
    i += match->size();
    copied = i;
  }
  out.append(text.substr(copied));
  return redact_connection_string(out);
}

nlohmann::json redact_params(const nlohmann::json& values, const nlohmann::json& schema) {
  return redact_value(values, schema, resolve_schema_ref(schema, &schema), nullptr);
}

nlohmann::json redact_params(const nlohmann::json& values, const nlohmann::json& schema, const Redactor& redactor) {
  return redact_value(values, schema, resolve_schema_ref(schema, &schema), &redactor);
}

}  // namespace dihya::host
