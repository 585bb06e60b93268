// SPDX-License-Identifier: AGPL-3.0-or-later
#include "raw_bytes.hpp"

#include <algorithm>
#include <cstdint>

#include <dihya/utf8.hpp>
#include <openssl/evp.h>

namespace export_user_data {

namespace {

constexpr std::string_view kPrefix = "$bytes_base64:";

std::string base64(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return 0;  // PostgreSQL wrote the text: its escapes are well formed
}

std::uint32_t hex4(std::string_view s, std::size_t at) {
  std::uint32_t v = 0;
  for (std::size_t k = 0; k < 4 && at + k < s.size(); ++k) v = (v << 4) | static_cast<std::uint32_t>(hex_digit(s[at + k]));
  return v;
}

void append_utf8(std::uint32_t cp, std::string& out) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// The bytes of a JSON string's body (between its quotes).
std::string unescape(std::string_view body) {
  std::string out;
  out.reserve(body.size());
  for (std::size_t i = 0; i < body.size(); ++i) {
    if (body[i] != '\\' || i + 1 == body.size()) {
      out += body[i];
      continue;
    }
    const char e = body[++i];
    switch (e) {
      case 'b': out += '\b'; break;
      case 'f': out += '\f'; break;
      case 'n': out += '\n'; break;
      case 'r': out += '\r'; break;
      case 't': out += '\t'; break;
      case 'u': {
        std::uint32_t cp = hex4(body, i + 1);
        i += 4;
        // A surrogate pair is one character; a lone surrogate keeps its own three bytes.
        if (cp >= 0xD800 && cp <= 0xDBFF && i + 6 < body.size() && body[i + 1] == '\\' && body[i + 2] == 'u') {
          const std::uint32_t low = hex4(body, i + 3);
          if (low >= 0xDC00 && low <= 0xDFFF) {
            cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
            i += 6;
          }
        }
        append_utf8(cp, out);
        break;
      }
      default: out += e;  // \" \\ \/
    }
  }
  return out;
}

}  // namespace

const char* const kBytesBase64Note =
    "text that is not valid UTF-8 (a SQL_ASCII database stores any bytes) is written as "
    "{\"$bytes_base64\": \"<base64 of its bytes>\"} in the JSON files, and as the string "
    "\"$bytes_base64:<base64 of its bytes>\" where only a string fits (a CSV field, a JSON key, a name in this "
    "manifest); bytes_base64_columns lists, per table, the columns where that happened";

std::string utf8_or_marked(std::string_view s) {
  if (dihya::valid_utf8(s)) return std::string(s);
  return std::string(kPrefix) + base64(s);
}

void append_utf8_json(std::string_view json, std::string& out) {
  std::size_t i = 0;
  while (i < json.size()) {
    const auto quote = json.find('"', i);
    if (quote == std::string_view::npos) {
      out.append(json.substr(i));
      return;
    }
    out.append(json.substr(i, quote - i));
    std::size_t end = quote + 1;
    while (end < json.size() && json[end] != '"') end += json[end] == '\\' ? 2 : 1;
    const auto body = json.substr(quote + 1, std::min(end, json.size()) - quote - 1);
    if (dihya::valid_utf8(body)) {
      out.append(json.substr(quote, end - quote + 1));
    } else {
      const auto next = json.find_first_not_of(" \t\r\n", end + 1);
      const bool key = next != std::string_view::npos && json[next] == ':';
      const auto encoded = base64(unescape(body));
      out += key ? "\"" + std::string(kPrefix) + encoded + "\"" : "{\"$bytes_base64\":\"" + encoded + "\"}";
    }
    i = end + 1;
  }
}

}  // namespace export_user_data
