// SPDX-License-Identifier: AGPL-3.0-or-later
#include "mime_message.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdio>
#include <ctime>

namespace send_test_mail {
namespace {

constexpr std::size_t kQpLine = 76;
// An encoded word is at most 75 characters (RFC 2047 2): "=?UTF-8?B?" + 60 + "?=".
constexpr std::size_t kEncodedWordBytes = 45;
// Beyond this an ASCII value is encoded too, so folding keeps lines short.
constexpr std::size_t kMaxPlainHeader = 900;

constexpr std::size_t kBase64Line = 76;
// Characters per RFC 2231 section: with " filename*0*=UTF-8''" before and
// ";" after, a section's line stays under 78 columns.
constexpr std::size_t kParameterSection = 50;

const char kHexDigits[] = "0123456789ABCDEF";

std::string base64(std::string_view bytes) {
  static const char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const auto n = (static_cast<unsigned>(static_cast<unsigned char>(bytes[i])) << 16) |
                   (static_cast<unsigned>(static_cast<unsigned char>(bytes[i + 1])) << 8) |
                   static_cast<unsigned>(static_cast<unsigned char>(bytes[i + 2]));
    out += kAlphabet[(n >> 18) & 63u];
    out += kAlphabet[(n >> 12) & 63u];
    out += kAlphabet[(n >> 6) & 63u];
    out += kAlphabet[n & 63u];
  }
  if (i < bytes.size()) {
    unsigned n = static_cast<unsigned>(static_cast<unsigned char>(bytes[i])) << 16;
    if (i + 1 < bytes.size()) n |= static_cast<unsigned>(static_cast<unsigned char>(bytes[i + 1])) << 8;
    out += kAlphabet[(n >> 18) & 63u];
    out += kAlphabet[(n >> 12) & 63u];
    out += i + 1 < bytes.size() ? kAlphabet[(n >> 6) & 63u] : '=';
    out += '=';
  }
  return out;
}

// Length of the UTF-8 sequence starting with `lead` (1 for anything odd, so
// a bad byte never stalls the loop; inputs are validated before).
std::size_t utf8_length(unsigned char lead) {
  if (lead >= 0xF0) return 4;
  if (lead >= 0xE0) return 3;
  if (lead >= 0xC0) return 2;
  return 1;
}

// RFC 2047 encoded words of `utf8`, the first holding at most
// `first_budget` bytes, the rest kEncodedWordBytes, on continuation lines.
std::string encoded_words(std::string_view utf8, std::size_t first_budget) {
  std::string out;
  std::size_t i = 0;
  std::size_t budget = first_budget;
  while (i < utf8.size()) {
    std::size_t end = i;
    // Never split a UTF-8 character across two encoded words (RFC 2047 5.3).
    while (end < utf8.size()) {
      const std::size_t n = utf8_length(static_cast<unsigned char>(utf8[end]));
      if (end + n - i > budget) break;
      end += n;
    }
    if (end == i) end = std::min(utf8.size(), i + utf8_length(static_cast<unsigned char>(utf8[i])));
    if (!out.empty()) out += "\r\n ";
    out += "=?UTF-8?B?" + base64(utf8.substr(i, end - i)) + "?=";
    i = end;
    budget = kEncodedWordBytes;
  }
  return out;
}

// A display name that RFC 5322 3.2.5 lets stand unquoted: atoms and spaces.
bool is_atom_phrase(std::string_view name) {
  if (name.empty() || name.front() == ' ' || name.back() == ' ') return false;
  for (unsigned char c : name) {
    if (c != ' ' && !is_atext(c)) return false;
  }
  return true;
}

// RFC 2231 7: attribute-char, what may stand unencoded in an extended value.
bool is_attribute_char(unsigned char c) {
  if (c <= 0x20 || c >= 0x7F) return false;
  return std::string_view("*'%()<>@,;:\\\"/[]?=").find(static_cast<char>(c)) == std::string_view::npos;
}

bool needs_encoding(std::string_view value) {
  if (value.size() > kMaxPlainHeader || value.find("=?") != std::string_view::npos) return true;
  for (unsigned char c : value) {
    if (c < 0x20 || c >= 0x7F) return true;
  }
  return false;
}

std::string to_crlf(std::string_view text) {
  std::string out;
  out.reserve(text.size() + text.size() / 32);
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\r') {
      out += "\r\n";
      if (i + 1 < text.size() && text[i + 1] == '\n') ++i;
    } else if (text[i] == '\n') {
      out += "\r\n";
    } else {
      out += text[i];
    }
  }
  return out;
}

void append_part(std::string& out, std::string_view type, std::string_view body) {
  out += "Content-Type: ";
  out += type;
  out += "; charset=UTF-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n";
  out += quoted_printable(body);
}

void append_mailbox_list(std::string& out, std::string_view name, const std::vector<Mailbox>& list) {
  if (list.empty()) return;
  out += name;
  out += ": ";
  for (std::size_t i = 0; i < list.size(); ++i) {
    if (i > 0) out += ",\r\n ";
    out += format_mailbox(list[i]);
  }
  out += "\r\n";
}

// The text and/or HTML body: its Content-Type headers and content. At the top
// of the message (`top`) a single part without a final newline gets a soft
// break; inside multipart/mixed the boundary line brings the CRLF.
void append_body(std::string& out, const MailContent& content, const std::string& boundary, bool top) {
  if (content.text && content.html) {
    out += "Content-Type: multipart/alternative;\r\n boundary=\"" + boundary + "\"\r\n\r\n";
    if (top) out += "This is a multi-part message in MIME format.\r\n";
    out += "\r\n--" + boundary + "\r\n";
    append_part(out, "text/plain", *content.text);
    out += "\r\n--" + boundary + "\r\n";
    append_part(out, "text/html", *content.html);
    out += "\r\n--" + boundary + "--" + (top ? "\r\n" : "");
    return;
  }
  append_part(out, content.html ? "text/html" : "text/plain", content.html ? *content.html : content.text.value_or(""));
  // SMTP ends the data with a line break; a soft break (RFC 2045 6.7)
  // keeps a body without a final newline exactly as it was.
  if (top && (out.size() < 2 || out.compare(out.size() - 2, 2, "\r\n") != 0)) out += "=\r\n";
}

void append_attachment(std::string& out, const Attachment& attachment, bool preview) {
  out += "Content-Type: " + attachment.content_type;
  // The legacy name parameter, for readers that ignore Content-Disposition;
  // only when it needs no RFC 2231 encoding.
  const std::string filename = filename_parameter(attachment.filename);
  if (filename.rfind("filename=", 0) == 0) out += ";\r\n name=" + filename.substr(9);
  out += "\r\nContent-Disposition: attachment;\r\n " + filename + "\r\n";
  out += "Content-Transfer-Encoding: base64\r\n\r\n";
  out += preview ? attachment.data : base64_lines(attachment.data);
}

}  // namespace

std::string rfc5322_date(std::chrono::system_clock::time_point when) {
  static const std::array<const char*, 7> kDays = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static const std::array<const char*, 12> kMonths = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  const std::time_t t = std::chrono::system_clock::to_time_t(when);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%s, %02d %s %04d %02d:%02d:%02d +0000", kDays.at(static_cast<std::size_t>(tm.tm_wday)),
                tm.tm_mday, kMonths.at(static_cast<std::size_t>(tm.tm_mon)), tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
                tm.tm_sec);
  return buffer;
}

std::string quoted_printable(std::string_view utf8) {
  const std::string text = to_crlf(utf8);
  std::string out;
  out.reserve(text.size() + text.size() / 8);
  std::size_t column = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') {
      out += "\r\n";
      column = 0;
      ++i;
      continue;
    }
    const bool at_line_end = i + 1 == text.size() || text[i + 1] == '\r';
    // Trailing white space would be stripped in transit: encode it.
    const bool literal = (c >= 33 && c <= 126 && c != '=') || ((c == ' ' || c == '\t') && !at_line_end);
    const std::size_t width = literal ? 1 : 3;
    // A soft break keeps room for the '=' itself.
    if (column + width > kQpLine - 1) {
      out += "=\r\n";
      column = 0;
    }
    if (literal) {
      out += static_cast<char>(c);
    } else {
      out += '=';
      out += kHexDigits[c >> 4];
      out += kHexDigits[c & 0xFu];
    }
    column += width;
  }
  return out;
}

std::string encode_header_value(std::string_view utf8, std::size_t name_length) {
  if (!needs_encoding(utf8)) return std::string(utf8);
  // The first word shares its line with "Name: ": a shorter word keeps
  // that line near 78 characters (RFC 5322 2.1.1).
  return encoded_words(utf8, name_length > 24 ? 24 : kEncodedWordBytes - (name_length + 5) / 4 * 3);
}

std::string format_mailbox(const Mailbox& mailbox) {
  const std::string address = mailbox.address.str();
  const std::string& name = mailbox.display_name;
  if (name.empty()) return address;
  if (!needs_encoding(name)) {
    if (is_atom_phrase(name)) return name + " <" + address + ">";
    std::string quoted = "\"";
    for (char c : name) {
      if (c == '"' || c == '\\') quoted += '\\';
      quoted += c;
    }
    return quoted + "\" <" + address + ">";
  }
  // The name may open a line after "From: " or after other mailboxes: a
  // short first word keeps it under 78 columns either way.
  return encoded_words(name, 30) + " <" + address + ">";
}

std::string base64_lines(std::string_view bytes) {
  const std::string flat = base64(bytes);
  std::string out;
  out.reserve(flat.size() + flat.size() / kBase64Line * 2);
  for (std::size_t i = 0; i < flat.size(); i += kBase64Line) {
    if (i > 0) out += "\r\n";
    out.append(flat, i, kBase64Line);
  }
  return out;
}

std::string filename_parameter(std::string_view utf8) {
  bool plain = !utf8.empty();
  for (unsigned char c : utf8) {
    if (c < 0x20 || c >= 0x7F) plain = false;
  }
  if (plain) {
    std::string quoted = "filename=\"";
    for (char c : utf8) {
      if (c == '"' || c == '\\') quoted += '\\';
      quoted += c;
    }
    return quoted + "\"";
  }
  // RFC 2231 3-4: percent-encode every octet that is not an attribute-char,
  // then cut into numbered sections, never inside a %XX triplet.
  std::string encoded;
  for (unsigned char c : utf8) {
    if (is_attribute_char(c)) {
      encoded += static_cast<char>(c);
    } else {
      encoded += '%';
      encoded += kHexDigits[c >> 4];
      encoded += kHexDigits[c & 0xFu];
    }
  }
  std::vector<std::string> sections;
  std::size_t i = 0;
  while (i < encoded.size()) {
    std::size_t end = std::min(encoded.size(), i + kParameterSection);
    if (end < encoded.size()) {
      if (encoded[end - 1] == '%') end -= 1;
      else if (end >= 2 && encoded[end - 2] == '%') end -= 2;
    }
    sections.push_back(encoded.substr(i, end - i));
    i = end;
  }
  if (sections.size() <= 1) return "filename*=UTF-8''" + encoded;
  std::string out;
  for (std::size_t n = 0; n < sections.size(); ++n) {
    if (n > 0) out += ";\r\n ";
    out += "filename*" + std::to_string(n) + "*=" + (n == 0 ? "UTF-8''" : "") + sections[n];
  }
  return out;
}

bool is_field_name(std::string_view name) {
  if (name.empty() || name.size() > 76) return false;
  for (unsigned char c : name) {
    if (c < 33 || c > 126 || c == ':') return false;
  }
  return true;
}

bool is_reserved_header(std::string_view name) {
  std::string lower;
  for (char c : name) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  static const std::array<const char*, 12> kReserved = {
      "from", "to", "cc", "bcc", "subject", "date", "message-id", "mime-version", "x-dihya-run-id",
      "sender", "return-path", "received"};
  for (const char* r : kReserved) {
    if (lower == r) return true;
  }
  return lower.rfind("content-", 0) == 0;
}

std::string build_message(const MailContent& content, const MessageIdentity& identity, bool preview) {
  std::string out;
  out += "Date: " + rfc5322_date(identity.date) + "\r\n";
  out += "From: " + format_mailbox(content.from) + "\r\n";
  append_mailbox_list(out, "To", content.to);
  append_mailbox_list(out, "Cc", content.cc);
  out += "Subject: " + encode_header_value(content.subject, 7) + "\r\n";
  out += "Message-ID: <" + identity.message_id + ">\r\n";
  out += "X-Dihya-Run-Id: " + identity.run_id + "\r\n";
  for (const auto& [name, value] : content.extra_headers) {
    out += name + ": " + encode_header_value(value, name.size()) + "\r\n";
  }
  out += "MIME-Version: 1.0\r\n";
  if (content.attachments.empty()) {
    append_body(out, content, identity.boundary, true);
    return out;
  }
  // The inner boundary is not a prefix of the outer one nor the reverse, so
  // even a parser that matches boundaries by prefix splits correctly.
  const std::string& mixed = identity.boundary;
  out += "Content-Type: multipart/mixed;\r\n boundary=\"" + mixed + "\"\r\n\r\n";
  out += "This is a multi-part message in MIME format.\r\n";
  out += "\r\n--" + mixed + "\r\n";
  append_body(out, content, "a" + identity.boundary, false);
  for (const auto& attachment : content.attachments) {
    out += "\r\n--" + mixed + "\r\n";
    append_attachment(out, attachment, preview);
  }
  out += "\r\n--" + mixed + "--\r\n";
  return out;
}

}  // namespace send_test_mail
