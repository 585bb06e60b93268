// SPDX-License-Identifier: AGPL-3.0-or-later
#include "address.hpp"

#include <cctype>
#include <cstdint>
#include <cstdlib>
#include <memory>

#include <idn2.h>

namespace send_test_mail {
namespace {

// RFC 5321 4.5.3.1: local part 64 octets, domain 255, reverse/forward path
// 256 including the angle brackets.
constexpr std::size_t kMaxLocal = 64;
constexpr std::size_t kMaxDomain = 255;
constexpr std::size_t kMaxPath = 256;
constexpr std::size_t kMaxLabel = 63;

bool is_atext(unsigned char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+': case '-':
    case '/': case '=': case '?': case '^': case '_': case '`': case '{': case '|': case '}': case '~':
      return true;
    default:
      return false;
  }
}

bool is_ldh(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
}

bool is_ascii(std::string_view text) {
  for (unsigned char c : text) {
    if (c >= 0x80) return false;
  }
  return true;
}

// Non-ASCII domain -> A-labels (IDNA2008, UTS#46 non-transitional, NFC input),
// the way browsers and MTAs look such names up.
bool to_a_labels(const std::string& domain, std::string* ascii, std::string* error) {
  char* out = nullptr;
  const int rc = idn2_to_ascii_8z(domain.c_str(), &out, IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL);
  std::unique_ptr<char, decltype(&std::free)> owned(out, &std::free);
  if (rc != IDN2_OK) {
    *error = std::string("the domain is not a valid international domain name (IDNA2008: ") + idn2_strerror(rc) + ")";
    return false;
  }
  *ascii = out;
  return true;
}

}  // namespace

bool has_line_break_or_nul(std::string_view text) {
  return text.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos;
}

std::string printable(std::string_view text, std::size_t max) {
  static const char kHex[] = "0123456789abcdef";
  // Invalid UTF-8 would break the JSON the host writes: escape every high
  // byte then, and keep valid UTF-8 readable.
  const bool escape_high = !dihya::valid_utf8(text);
  std::string out;
  for (unsigned char c : text) {
    // Cut only before a lead byte, so the text stays valid UTF-8.
    if (out.size() >= max && (c & 0xC0u) != 0x80u) {
      out += "...";
      break;
    }
    if (c == '\r') {
      out += "\\r";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c < 0x20 || c == 0x7F || (escape_high && c >= 0x80)) {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 0xFu];
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

std::string check_ascii_domain(std::string_view domain) {
  if (domain.empty()) return "the domain is empty";
  if (domain.size() > kMaxDomain) return "the domain is longer than 255 characters";
  std::size_t start = 0;
  for (;;) {
    const std::size_t dot = domain.find('.', start);
    const std::string_view label = domain.substr(start, dot == std::string_view::npos ? dot : dot - start);
    if (label.empty()) return "the domain has an empty label (two dots, or a leading or trailing dot)";
    if (label.size() > kMaxLabel) return "a domain label is longer than 63 characters";
    for (unsigned char c : label) {
      if (!is_ldh(c)) return "the domain may hold only letters, digits, '-' and '.'";
    }
    if (label.front() == '-' || label.back() == '-') return "a domain label starts or ends with '-'";
    if (dot == std::string_view::npos) return {};
    start = dot + 1;
  }
}

bool parse_address(std::string_view text, Address* out, std::string* error) {
  const std::string shown = "'" + printable(text) + "'";
  auto fail = [&](const std::string& why) {
    *error = "address " + shown + ": " + why;
    return false;
  };
  if (text.empty()) {
    *error = "the address is empty";
    return false;
  }
  if (has_line_break_or_nul(text)) return fail("contains CR, LF or NUL (header injection refused)");
  for (unsigned char c : text) {
    if (c < 0x20 || c == 0x7F) return fail("contains a control character");
    if (c == ' ' || c == '\t') return fail("contains a space; give the bare address, like user@example.com");
    if (c == '<' || c == '>') return fail("give the bare address without angle brackets or a display name");
  }
  if (!dihya::valid_utf8(text)) return fail("is not valid UTF-8");
  const std::size_t at = text.rfind('@');
  if (at == std::string_view::npos) return fail("has no '@'");
  const std::string_view local = text.substr(0, at);
  const std::string_view domain = text.substr(at + 1);
  if (local.empty()) return fail("the local part before '@' is empty");
  if (local.front() == '"') return fail("quoted local parts are not supported");
  if (!is_ascii(local)) {
    return fail("the local part is not ASCII; that needs SMTPUTF8, which send_test_mail does not use");
  }
  if (local.size() > kMaxLocal) return fail("the local part is longer than 64 characters (RFC 5321)");
  if (local.front() == '.' || local.back() == '.' || local.find("..") != std::string_view::npos) {
    return fail("the local part has a leading, trailing or double dot");
  }
  for (unsigned char c : local) {
    if (c != '.' && !is_atext(c)) {
      return fail(std::string("the local part may not contain '") + static_cast<char>(c) + "'");
    }
  }
  if (domain.empty()) return fail("the domain after '@' is empty");
  if (domain.front() == '[') return fail("address literals like [192.0.2.1] are not supported; use a domain name");
  std::string ascii(domain);
  std::string lower;
  for (char c : domain) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  // A-labels given directly are checked like U-labels: "xn--zz" must decode.
  if (!is_ascii(domain) || lower.rfind("xn--", 0) == 0 || lower.find(".xn--") != std::string::npos) {
    std::string why;
    if (!to_a_labels(std::string(domain), &ascii, &why)) return fail(why);
  }
  if (const std::string why = check_ascii_domain(ascii); !why.empty()) return fail(why);
  if (local.size() + 1 + ascii.size() + 2 > kMaxPath) {
    return fail("the address is longer than RFC 5321 allows (256 characters with the angle brackets)");
  }
  out->local = std::string(local);
  out->domain = ascii;
  out->display_domain = std::string(domain);
  return true;
}

}  // namespace send_test_mail
