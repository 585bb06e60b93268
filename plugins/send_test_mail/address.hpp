// SPDX-License-Identifier: AGPL-3.0-or-later
// Mail addresses an operator types: parsed with a small, strict addr-spec
// grammar so that whatever reaches the SMTP envelope and the message headers
// is exactly one address and can never smuggle a header or a command.
// Guarantees: a parsed Address holds only printable ASCII (a non-ASCII domain
// is converted to its IDNA A-label form), fits RFC 5321 length limits, and
// contains no CR, LF, NUL, space or angle bracket.
#pragma once

#include <string>
#include <string_view>

#include <dihya/utf8.hpp>

namespace send_test_mail {

struct Address {
  std::string local;           // dot-atom, ASCII
  std::string domain;          // ASCII (punycode A-labels for an IDN)
  std::string display_domain;  // the domain as given (may be UTF-8)

  std::string str() const { return local + "@" + domain; }
};

// Parses `text` as `local@domain`. On failure returns false and sets `error`
// to one printable line (control characters shown escaped, never raw).
bool parse_address(std::string_view text, Address* out, std::string* error);

// True when `text` holds CR, LF or NUL: a header or command injection attempt.
bool has_line_break_or_nul(std::string_view text);

// `text` with control and non-printable bytes escaped (\r, \n, \x00), cut to
// `max` bytes, for error messages that must stay one harmless line.
std::string printable(std::string_view text, std::size_t max = 80);

// Checks a domain name (EHLO name, server host): LDH labels of 1..63 chars,
// 255 at most. Returns an empty string when valid, else the problem.
std::string check_ascii_domain(std::string_view domain);

}  // namespace send_test_mail
