// SPDX-License-Identifier: AGPL-3.0-or-later
// Builds the RFC 5322 / MIME text of the test message: headers (Date,
// Message-ID, X-Dihya-Run-Id, RFC 2047 encoded-words for non-ASCII text) and a
// multipart/alternative body of quoted-printable UTF-8 parts. The output uses
// CRLF line ends, keeps every line under 998 octets and, given inputs free of
// CR/LF/NUL in header values (the caller validates), cannot produce a header
// the caller did not ask for.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "address.hpp"

namespace send_test_mail {

struct MailContent {
  Address from;
  std::vector<Address> to;
  std::string subject;              // UTF-8
  std::optional<std::string> text;  // UTF-8, any line ends
  std::optional<std::string> html;  // UTF-8, any line ends
  std::vector<std::pair<std::string, std::string>> extra_headers;  // name, UTF-8 value
};

struct MessageIdentity {
  std::string run_id;
  std::string message_id;  // without angle brackets
  std::string boundary;
  std::chrono::system_clock::time_point date;
};

// The full message, CRLF line ends, ready for SMTP DATA (curl dot-stuffs it).
std::string build_message(const MailContent& content, const MessageIdentity& identity);

// "Thu, 26 Nov 2026 00:21:39 +0000" (RFC 5322 3.3, always UTC).
std::string rfc5322_date(std::chrono::system_clock::time_point when);

// Quoted-printable (RFC 2045 6.7): hard line breaks become CRLF, lines at most 76.
std::string quoted_printable(std::string_view utf8);

// A header field value: as is when it is short printable ASCII, else RFC 2047
// "=?UTF-8?B?...?=" words folded onto continuation lines.
std::string encode_header_value(std::string_view utf8, std::size_t name_length);

// True when `name` is a valid RFC 5322 field name (printable ASCII, no colon).
bool is_field_name(std::string_view name);

// Header names the plugin writes itself; extra headers may not override them.
bool is_reserved_header(std::string_view name);

}  // namespace send_test_mail
