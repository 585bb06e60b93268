// SPDX-License-Identifier: AGPL-3.0-or-later
// Mail addresses an operator types: parsed with a small, strict addr-spec
// grammar so that whatever reaches the SMTP envelope and the message headers
// is exactly one address and can never smuggle a header or a command.
// Guarantees: a parsed Address holds no control character, space or angle
// bracket; its domain is ASCII (a non-ASCII domain is converted to its IDNA
// A-label form); its local part is ASCII unless `utf8_local` says otherwise
// (then it needs SMTPUTF8, RFC 6531); it fits RFC 5321 length limits. A
// Mailbox adds a display name: valid UTF-8 without control characters.
#pragma once

#include <string>
#include <string_view>

#include <dihya/utf8.hpp>

namespace send_test_mail {

// RFC 5322 atext: the characters a dot-atom (a local part, a Message-ID's
// halves) is made of.
bool is_atext(unsigned char c);

struct Address {
  std::string local;           // dot-atom, ASCII
  std::string domain;          // ASCII (punycode A-labels for an IDN)
  std::string display_domain;  // the domain as given (may be UTF-8)
  bool utf8_local = false;     // the local part holds UTF-8: SMTPUTF8 needed

  std::string str() const { return local + "@" + domain; }
};

// An address with an optional display name ("Jane Doe <jane@example.com>").
struct Mailbox {
  std::string display_name;  // UTF-8, may be empty; never holds a control character
  Address address;
};

// Longest display name accepted, in bytes.
constexpr std::size_t kMaxDisplayName = 256;

// Parses `text` as `local@domain`. On failure returns false and sets `error`
// to one printable line (control characters shown escaped, never raw).
bool parse_address(std::string_view text, Address* out, std::string* error);

// Parses `address`, `<address>`, `Display Name <address>` or
// `"Quoted, Name" <address>` (backslash escapes \" and \\ inside quotes).
// An unquoted name is taken literally up to the '<'. On failure returns
// false and sets `error` to one printable line.
bool parse_mailbox(std::string_view text, Mailbox* out, std::string* error);

// True when `text` holds CR, LF or NUL: a header or command injection attempt.
bool has_line_break_or_nul(std::string_view text);

// True when `text` (valid UTF-8) holds a control character: C0 (TAB allowed
// when `allow_tab`: it is white space in a header value), DEL or C1.
bool has_control_character(std::string_view text, bool allow_tab);

// `text` with control and non-printable bytes escaped (\r, \n, \x00), cut to
// `max` bytes, for error messages that must stay one harmless line.
std::string printable(std::string_view text, std::size_t max = 80);

// Checks a domain name (EHLO name, server host): LDH labels of 1..63 chars,
// 255 at most. Returns an empty string when valid, else the problem.
std::string check_ascii_domain(std::string_view domain);

}  // namespace send_test_mail
