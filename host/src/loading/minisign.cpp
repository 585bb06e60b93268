// SPDX-License-Identifier: AGPL-3.0-or-later
#include "loading/minisign.hpp"

#include <algorithm>
#include <cctype>
#include <sstream>
#include <vector>

#include "errors.hpp"
#include "loading/libcrypto.hpp"

namespace dihya::host {
namespace {

constexpr std::size_t kKeyIdBytes = 8;
constexpr std::size_t kPublicKeyBytes = 32;
constexpr std::size_t kSignatureBytes = 64;

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    lines.push_back(line);
  }
  return lines;
}

// minisign prints key ids as the little-endian number they encode.
// minisign prints a key id as a hexadecimal number (PRIX64): no leading zeros. Ids are compared in
// that form, so a revocation line copied from minisign's output or written with all 16 digits matches.
std::string without_leading_zeros(const std::string& hex) {
  const auto first = hex.find_first_not_of('0');
  return first == std::string::npos ? std::string("0") : hex.substr(first);
}

std::string key_id_text(const std::string& raw) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string hex;
  for (auto it = raw.rbegin(); it != raw.rend(); ++it) {
    const auto byte = static_cast<unsigned char>(*it);
    hex += kHex[byte >> 4];
    hex += kHex[byte & 0x0f];
  }
  return without_leading_zeros(hex);
}

bool is_date(const std::string& s) {
  if (s.size() != 10 || s[4] != '-' || s[7] != '-') return false;
  for (std::size_t i : {0, 1, 2, 3, 5, 6, 8, 9}) {
    if (!std::isdigit(static_cast<unsigned char>(s[i]))) return false;
  }
  return true;
}

}  // namespace

std::optional<std::string> base64_decode(const std::string& text) {
  if (text.empty() || text.size() % 4 != 0 || text.size() > 4096) return std::nullopt;
  std::size_t padding = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '=') {
      // Padding only at the very end, at most two.
      if (i + 2 < text.size()) return std::nullopt;
      ++padding;
    } else if (padding > 0 || (!std::isalnum(static_cast<unsigned char>(c)) && c != '+' && c != '/')) {
      return std::nullopt;
    }
  }
  std::string out(text.size() / 4 * 3, '\0');
  const int n = libcrypto().decode_block(reinterpret_cast<unsigned char*>(out.data()),
                                          reinterpret_cast<const unsigned char*>(text.data()), static_cast<int>(text.size()));
  if (n < 0 || static_cast<std::size_t>(n) < padding) return std::nullopt;
  out.resize(static_cast<std::size_t>(n) - padding);
  return out;
}

MinisignPublicKey parse_minisign_public_key(const std::string& text) {
  const auto lines = lines_of(text);
  if (lines.size() < 2 || lines[0].rfind("untrusted comment:", 0) != 0) {
    throw load_error("no 'untrusted comment:' line");
  }
  const auto blob = base64_decode(lines[1]);
  if (!blob || blob->size() != 2 + kKeyIdBytes + kPublicKeyBytes || blob->compare(0, 2, "Ed") != 0) {
    throw load_error("the second line is not an Ed25519 key");
  }
  MinisignPublicKey key;
  key.id = key_id_text(blob->substr(2, kKeyIdBytes));
  key.key = blob->substr(2 + kKeyIdBytes);
  for (std::size_t i = 2; i < lines.size(); ++i) {
    const std::string& line = lines[i];
    if (line.empty() || line[0] == '#') continue;
    if (line.rfind("expires: ", 0) == 0 && is_date(line.substr(9)) && key.expires.empty()) {
      key.expires = line.substr(9);
      continue;
    }
    throw load_error("after the key, only one line 'expires: YYYY-MM-DD' is allowed");
  }
  return key;
}

std::set<std::string> parse_revoked_key_ids(const std::string& text) {
  std::set<std::string> ids;
  for (std::string line : lines_of(text)) {
    line.erase(std::find(line.begin(), line.end(), '#'), line.end());
    std::string id;
    for (char c : line) {
      if (!std::isspace(static_cast<unsigned char>(c))) id += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    }
    if (!id.empty()) ids.insert(without_leading_zeros(id));
  }
  return ids;
}

MinisignSignature parse_minisign_signature(const std::string& text) {
  const auto lines = lines_of(text);
  if (lines.size() < 4 || lines[0].rfind("untrusted comment:", 0) != 0) {
    throw load_error("expected 4 lines, the first an 'untrusted comment:'");
  }
  const auto blob = base64_decode(lines[1]);
  if (!blob || blob->size() != 2 + kKeyIdBytes + kSignatureBytes) {
    throw load_error("the signature line is malformed");
  }
  MinisignSignature sig;
  sig.algorithm = blob->substr(0, 2);
  if (sig.algorithm != "ED" && sig.algorithm != "Ed") throw load_error("unknown signature algorithm");
  sig.key_id = key_id_text(blob->substr(2, kKeyIdBytes));
  sig.signature = blob->substr(2 + kKeyIdBytes);
  const std::string prefix = "trusted comment: ";
  if (lines[2].rfind(prefix, 0) != 0) throw load_error("no 'trusted comment:' line");
  sig.trusted_comment = lines[2].substr(prefix.size());
  const auto global = base64_decode(lines[3]);
  if (!global || global->size() != kSignatureBytes) {
    throw load_error("the comment signature is malformed");
  }
  sig.global_signature = *global;
  return sig;
}

}  // namespace dihya::host
