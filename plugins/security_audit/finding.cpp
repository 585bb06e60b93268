// SPDX-License-Identifier: AGPL-3.0-or-later
#include "finding.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <algorithm>
#include <cstring>
#include <fstream>
#include <sstream>

#include <dihya/error.hpp>
#include <dihya/file_io.hpp>

namespace security_audit {

const char* severity_name(Severity s) {
  switch (s) {
    case Severity::info: return "info";
    case Severity::low: return "low";
    case Severity::medium: return "medium";
    case Severity::high: return "high";
    case Severity::critical: return "critical";
  }
  return "unknown";
}

bool parse_severity(std::string_view name, int& level) {
  static const char* const kNames[] = {"info", "low", "medium", "high", "critical"};
  if (name == "none") {
    level = 99;
    return true;
  }
  for (int i = 0; i < 5; ++i) {
    if (name == kNames[i]) {
      level = i;
      return true;
    }
  }
  return false;
}

std::string fingerprint(std::string_view rule, std::string_view path, std::string_view value) {
  std::string input;
  input.reserve(rule.size() + path.size() + value.size() + 2);
  input.append(rule).push_back('\0');
  input.append(path).push_back('\0');
  input.append(value);
  return sha256_hex(input);
}

namespace {

// Length of the valid UTF-8 sequence at s[i] (RFC 3629, as strict as
// nlohmann's dump), or 0.
std::size_t utf8_sequence(std::string_view s, std::size_t i) {
  const auto at = [&](std::size_t k) { return i + k < s.size() ? static_cast<unsigned char>(s[i + k]) : 0u; };
  const unsigned c = at(0);
  const auto cont = [&](std::size_t k, unsigned lo = 0x80, unsigned hi = 0xBF) { return at(k) >= lo && at(k) <= hi; };
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) return cont(1) ? 2 : 0;
  if (c == 0xE0) return cont(1, 0xA0) && cont(2) ? 3 : 0;
  if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF) return cont(1) && cont(2) ? 3 : 0;
  if (c == 0xED) return cont(1, 0x80, 0x9F) && cont(2) ? 3 : 0;
  if (c == 0xF0) return cont(1, 0x90) && cont(2) && cont(3) ? 4 : 0;
  if (c >= 0xF1 && c <= 0xF3) return cont(1) && cont(2) && cont(3) ? 4 : 0;
  if (c == 0xF4) return cont(1, 0x80, 0x8F) && cont(2) && cont(3) ? 4 : 0;
  return 0;
}

}  // namespace

std::string mask(std::string_view secret) {
  // Count characters, not bytes, and never cut a UTF-8 sequence in half; an
  // invalid byte counts as one character, so the head is at most 4 sequences.
  std::string head;
  std::size_t chars = 0;
  for (std::size_t i = 0; i < secret.size(); ++chars) {
    const std::size_t n = std::max<std::size_t>(utf8_sequence(secret, i), 1);
    if (chars < 4) head.append(secret.substr(i, n));
    i += n;
  }
  return head + "\xE2\x80\xA6(" + std::to_string(chars) + " chars)";
}


std::string printable(std::string_view s) {
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    const std::size_t n = utf8_sequence(s, i);
    if (n == 0 || (n == 1 && ((c < 0x20 && c != '\t') || c == 0x7F))) {
      out += "\\x";
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
      ++i;
    } else {
      out.append(s.substr(i, n));
      i += n;
    }
  }
  return out;
}

std::string shell_quote(std::string_view s) {
  const bool plain = printable(s) == s && s.find('\t') == std::string_view::npos;
  if (plain) {
    std::string out = "'";
    for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return out + "'";
  }
  // bash's ANSI-C quoting: the real bytes, written in printable ASCII.
  static const char kHex[] = "0123456789abcdef";
  std::string out = "$'";
  for (unsigned char c : s) {
    if (c == '\'' || c == '\\') {
      out.push_back('\\');
      out.push_back(static_cast<char>(c));
    } else if (c == '\n') {
      out += "\\n";
    } else if (c < 0x20 || c >= 0x7F) {
      out += "\\x";
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  return out + "'";
}

void make_printable(Finding& f) {
  // The path stays raw (SARIF encodes its bytes); location() and to_json() print it.
  for (std::string* field : {&f.rule, &f.title, &f.message, &f.object, &f.evidence, &f.fix}) {
    *field = printable(*field);
  }
}

std::string location(const Finding& f) {
  if (f.path.empty()) return f.object;
  if (f.line == 0) return printable(f.path);
  return printable(f.path) + ":" + std::to_string(f.line) + ":" + std::to_string(f.column);
}

nlohmann::json to_json(const Finding& f) {
  nlohmann::json j = {{"id", f.rule},         {"check", f.check},       {"severity", severity_name(f.severity)},
                      {"title", f.title},     {"message", f.message},   {"location", location(f)},
                      {"evidence", f.evidence}, {"fix", f.fix},         {"fingerprint", f.fingerprint}};
  if (!f.path.empty()) {
    j["path"] = printable(f.path);
    if (f.line > 0) {
      j["line"] = f.line;
      j["column"] = f.column;
    }
  }
  if (!f.object.empty()) j["object"] = f.object;
  return j;
}

nlohmann::json read_json_file(const std::filesystem::path& file, std::uintmax_t max_bytes, int max_depth) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(file, ec);
  if (ec) throw dihya::Error("security_audit: cannot read " + file.string() + ": " + ec.message());
  if (size > max_bytes) {
    throw dihya::Error("security_audit: " + file.string() + " is " + std::to_string(size) + " bytes, over the limit of " +
                       std::to_string(max_bytes));
  }
  std::ifstream in(file, std::ios::binary);
  if (!in) throw dihya::Error("security_audit: cannot open " + file.string());
  std::ostringstream text;
  text << in.rdbuf();
  const auto limit_depth = [max_depth](int depth, nlohmann::json::parse_event_t, nlohmann::json&) {
    if (depth > max_depth) throw std::length_error("nesting deeper than " + std::to_string(max_depth));
    return true;
  };
  try {
    return nlohmann::json::parse(text.str(), limit_depth);
  } catch (const std::exception& e) {
    throw dihya::Error("security_audit: " + file.string() + " is not usable JSON: " + e.what());
  }
}

void write_atomically(const std::filesystem::path& file, const std::string& content) {
  // Reports are read by people and CI: not private, but not world-writable either.
  if (const std::error_code ec = dihya::replace_file(file, content, 0644)) {
    throw dihya::Error("security_audit: cannot write " + file.string() + ": " + ec.message());
  }
}

}  // namespace security_audit
