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
  std::string out;
  std::size_t i = 0;
  // The first word shares its line with "Name: ": a shorter word keeps
  // that line near 78 characters (RFC 5322 2.1.1).
  std::size_t budget = name_length > 24 ? 24 : kEncodedWordBytes - (name_length + 5) / 4 * 3;
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

std::string build_message(const MailContent& content, const MessageIdentity& identity) {
  std::string out;
  out += "Date: " + rfc5322_date(identity.date) + "\r\n";
  out += "From: " + content.from.str() + "\r\n";
  out += "To: ";
  for (std::size_t i = 0; i < content.to.size(); ++i) {
    if (i > 0) out += ",\r\n ";
    out += content.to[i].str();
  }
  out += "\r\n";
  out += "Subject: " + encode_header_value(content.subject, 7) + "\r\n";
  out += "Message-ID: <" + identity.message_id + ">\r\n";
  out += "X-Dihya-Run-Id: " + identity.run_id + "\r\n";
  for (const auto& [name, value] : content.extra_headers) {
    out += name + ": " + encode_header_value(value, name.size()) + "\r\n";
  }
  out += "MIME-Version: 1.0\r\n";
  if (content.text && content.html) {
    out += "Content-Type: multipart/alternative; boundary=\"" + identity.boundary + "\"\r\n\r\n";
    out += "This is a multi-part message in MIME format.\r\n";
    out += "\r\n--" + identity.boundary + "\r\n";
    append_part(out, "text/plain", *content.text);
    out += "\r\n--" + identity.boundary + "\r\n";
    append_part(out, "text/html", *content.html);
    out += "\r\n--" + identity.boundary + "--\r\n";
  } else {
    append_part(out, content.html ? "text/html" : "text/plain", content.html ? *content.html : content.text.value_or(""));
    // SMTP ends the data with a line break; a soft break (RFC 2045 6.7)
    // keeps a body without a final newline exactly as it was.
    if (out.size() < 2 || out.compare(out.size() - 2, 2, "\r\n") != 0) out += "=\r\n";
  }
  return out;
}

}  // namespace send_test_mail
