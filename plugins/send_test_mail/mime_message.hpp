// SPDX-License-Identifier: AGPL-3.0-or-later
// Builds the RFC 5322 / MIME text of the test message: headers (Date,
// Message-ID, X-Dihya-Run-Id, From/To/Cc with display names, RFC 2047
// encoded-words for non-ASCII text), a multipart/alternative body of
// quoted-printable UTF-8 parts and, when there are attachments, a
// multipart/mixed wrapper with base64 parts named per RFC 2231. The output
// uses CRLF line ends, keeps every line under 998 octets and, given inputs
// free of CR/LF/NUL in header values (the caller validates), cannot produce a
// header the caller did not ask for. Bcc recipients are not part of the
// content at all: they exist only in the envelope, so no header can leak them.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "address.hpp"

namespace send_test_mail {

struct Attachment {
  std::string filename;      // UTF-8, no control characters, no '/'
  std::string content_type;  // "type/subtype", lower case
  std::string data;          // the bytes as read
  std::string sha256;        // hex of `data`
};

struct MailContent {
  Mailbox from;
  std::vector<Mailbox> to;
  std::vector<Mailbox> cc;
  std::string subject;              // UTF-8
  std::optional<std::string> text;  // UTF-8, any line ends
  std::optional<std::string> html;  // UTF-8, any line ends
  std::vector<std::pair<std::string, std::string>> extra_headers;  // name, UTF-8 value
  std::vector<Attachment> attachments;
};

struct MessageIdentity {
  std::string run_id;
  std::string message_id;  // without angle brackets
  std::string boundary;
  std::chrono::system_clock::time_point date;
};

// The full message, CRLF line ends, ready for SMTP DATA (curl dot-stuffs it).
// With `preview`, each attachment's data stands in its part as it is (the
// dry run puts a one-line description there) instead of base64.
std::string build_message(const MailContent& content, const MessageIdentity& identity, bool preview = false);

// "Thu, 26 Nov 2026 00:21:39 +0000" (RFC 5322 3.3, always UTC).
std::string rfc5322_date(std::chrono::system_clock::time_point when);

// Quoted-printable (RFC 2045 6.7): hard line breaks become CRLF, lines at most 76.
std::string quoted_printable(std::string_view utf8);

// A header field value: as is when it is short printable ASCII, else RFC 2047
// "=?UTF-8?B?...?=" words folded onto continuation lines.
std::string encode_header_value(std::string_view utf8, std::size_t name_length);

// "Name <local@domain>" for a header: an atom phrase as is, other ASCII as a
// quoted-string (\" and \\ escaped), non-ASCII as RFC 2047 encoded-words
// folded onto continuation lines; the bare address when there is no name.
std::string format_mailbox(const Mailbox& mailbox);

// Base64 (RFC 2045 6.8) in lines of at most 76 characters joined by CRLF
// (no CRLF after the last line: the caller's boundary line brings it).
std::string base64_lines(std::string_view bytes);

// The filename parameter of Content-Disposition: `filename="name"` for
// printable ASCII, else RFC 2231 `filename*=UTF-8''%XX..` split into
// `filename*0*=..; filename*1*=..` sections that keep lines short. Starts with
// "filename"; sections after the first are preceded by ";\r\n ".
std::string filename_parameter(std::string_view utf8);

// True when `name` is a valid RFC 5322 field name (printable ASCII, no colon).
bool is_field_name(std::string_view name);

// Header names the plugin writes itself; extra headers may not override them.
bool is_reserved_header(std::string_view name);

}  // namespace send_test_mail
