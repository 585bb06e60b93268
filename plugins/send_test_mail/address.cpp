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

bool is_ldh(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
}

std::string_view trim_spaces(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
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

bool has_line_break_or_nul(std::string_view text) {
  return text.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos;
}

bool has_control_character(std::string_view text, bool allow_tab) {
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if ((c < 0x20 && !(allow_tab && c == '\t')) || c == 0x7F) return true;
    if (c == 0xC2 && i + 1 < text.size() && static_cast<unsigned char>(text[i + 1]) < 0xA0) return true;
  }
  return false;
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
    if (c == '<' || c == '>') return fail("holds a stray '<' or '>' (the form is Name <user@example.com>)");
  }
  if (!dihya::valid_utf8(text)) return fail("is not valid UTF-8");
  const std::size_t at = text.rfind('@');
  if (at == std::string_view::npos) return fail("has no '@'");
  const std::string_view local = text.substr(0, at);
  const std::string_view domain = text.substr(at + 1);
  if (local.empty()) return fail("the local part before '@' is empty");
  if (local.front() == '"') return fail("quoted local parts are not supported");
  if (local.size() > kMaxLocal) return fail("the local part is longer than 64 octets (RFC 5321)");
  if (local.front() == '.' || local.back() == '.' || local.find("..") != std::string_view::npos) {
    return fail("the local part has a leading, trailing or double dot");
  }
  // RFC 6531 3.3: a UTF-8 local part extends atext with any non-ASCII
  // character; C1 controls (U+0080..U+009F, C2 80..C2 9F) stay out.
  for (std::size_t i = 0; i < local.size(); ++i) {
    const auto c = static_cast<unsigned char>(local[i]);
    if (c == 0xC2 && i + 1 < local.size() && static_cast<unsigned char>(local[i + 1]) < 0xA0) {
      return fail("the local part contains a control character");
    }
    if (c >= 0x80) continue;
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
  out->utf8_local = !is_ascii(local);
  return true;
}

bool parse_mailbox(std::string_view text, Mailbox* out, std::string* error) {
  auto fail = [&](const std::string& why) {
    *error = "address '" + printable(text) + "': " + why;
    return false;
  };
  if (has_line_break_or_nul(text)) return fail("contains CR, LF or NUL (header injection refused)");
  for (unsigned char c : text) {
    if (c < 0x20 || c == 0x7F) return fail("contains a control character");
  }
  if (!dihya::valid_utf8(text)) return fail("is not valid UTF-8");
  const std::string_view trimmed = trim_spaces(text);
  if (trimmed.empty() || trimmed.back() != '>') {
    if (trimmed.find('<') != std::string_view::npos) return fail("has '<' without a closing '>' at the end");
    out->display_name.clear();
    return parse_address(trimmed, &out->address, error);
  }
  // An address never holds '<', so the last one opens it, whatever the name holds.
  const std::size_t open = trimmed.rfind('<');
  if (open == std::string_view::npos) return fail("has '>' without '<'");
  const std::string_view address = trimmed.substr(open + 1, trimmed.size() - open - 2);
  const std::string_view name = trim_spaces(trimmed.substr(0, open));
  std::string display;
  if (!name.empty() && name.front() == '"') {
    std::size_t i = 1;
    for (; i < name.size() && name[i] != '"'; ++i) {
      if (name[i] == '\\' && i + 1 < name.size()) ++i;
      display += name[i];
    }
    if (i >= name.size()) return fail("the quoted display name has no closing '\"'");
    if (i + 1 != name.size()) return fail("text after the closing '\"' of the display name");
  } else {
    if (name.find_first_of("\"<>") != std::string_view::npos) {
      return fail("an unquoted display name may not hold '\"', '<' or '>' (quote it: \"Name\" <user@example.com>)");
    }
    display = std::string(name);
  }
  if (has_control_character(display, false)) return fail("the display name contains a control character");
  if (display.size() > kMaxDisplayName) return fail("the display name is longer than 256 bytes");
  if (!parse_address(address, &out->address, error)) return false;
  out->display_name = display;
  return true;
}

}  // namespace send_test_mail
