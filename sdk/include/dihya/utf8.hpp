// SPDX-License-Identifier: AGPL-3.0-or-later
// Strict UTF-8 validation, shared by the host's parameter checks and the
// plugins that read text: one definition of what "valid UTF-8" means.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace dihya {

// Offset of the first byte that does not start a valid UTF-8 sequence, or
// npos. Overlong forms, surrogates (U+D800..U+DFFF), values past U+10FFFF and
// truncated sequences are invalid.
inline std::size_t first_invalid_utf8(std::string_view s) {
  std::size_t i = 0;
  const std::size_t n = s.size();
  while (i < n) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    std::size_t len = 0;
    std::uint32_t cp = 0;
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
      cp = c & 0x1Fu;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      cp = c & 0x0Fu;
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      cp = c & 0x07u;
    } else {
      return i;  // continuation byte, C0/C1 (always overlong) or F5..FF
    }
    if (n - i < len) return i;
    for (std::size_t k = 1; k < len; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0u) != 0x80u) return i;
      cp = (cp << 6) | (cc & 0x3Fu);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || (cp >= 0xD800 && cp <= 0xDFFF) ||
        cp > 0x10FFFF) {
      return i;
    }
    i += len;
  }
  return std::string_view::npos;
}

inline bool valid_utf8(std::string_view s) { return first_invalid_utf8(s) == std::string_view::npos; }

// The longest prefix of `s` of at most `max_bytes` that does not end inside
// a character: the cut moves back over at most 3 continuation bytes (a
// character has no more), so in text that is not UTF-8 it stays near where it fell.
inline std::string_view utf8_prefix(std::string_view s, std::size_t max_bytes) {
  if (s.size() <= max_bytes) return s;
  std::size_t end = max_bytes;
  for (int i = 0; i < 3 && end > 0 && (static_cast<unsigned char>(s[end]) & 0xC0u) == 0x80u; ++i) --end;
  return s.substr(0, end);
}

// Whether `sequence` (one valid UTF-8 character) is a bidirectional
// formatting character (U+061C, U+200E, U+200F, U+202A..U+202E,
// U+2066..U+2069): valid text, but a terminal that renders bidi lays out
// what follows it backwards, and a summary or a file name holding U+202E
// ("Trojan Source") would show other words than it holds.
inline bool is_bidi_control(std::string_view sequence) {
  const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(sequence[i]); };
  if (sequence.size() == 2) return byte(0) == 0xD8 && byte(1) == 0x9C;
  if (sequence.size() != 3 || byte(0) != 0xE2) return false;
  return (byte(1) == 0x80 && (byte(2) == 0x8E || byte(2) == 0x8F || (byte(2) >= 0xAA && byte(2) <= 0xAE))) ||
         (byte(1) == 0x81 && byte(2) >= 0xA6 && byte(2) <= 0xA9);
}

// `text` made safe for a one-line message or report line: a newline and a
// tab become \n and \t, other control characters (C0, DEL, C1) and bytes
// that are not UTF-8 become \xNN (a newline in a file name cannot forge a
// line, an escape sequence cannot reach a terminal), and what would pass
// `max_bytes` is cut and marked "...". Text already made safe is left as it
// is. The host's messages and every plugin's use this one.
inline std::string printable(std::string_view text, std::size_t max_bytes = std::string::npos) {
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(std::min(text.size(), max_bytes) + 3);
  for (std::size_t i = 0; i < text.size();) {
    const auto c = static_cast<unsigned char>(text[i]);
    std::string_view unit = text.substr(i, 1);
    std::size_t consumed = 1;
    const char escaped[4] = {'\\', 'x', kHex[c >> 4], kHex[c & 0xF]};
    if (c == '\n') {
      unit = "\\n";
    } else if (c == '\t') {
      unit = "\\t";
    } else if (c < 0x20 || c == 0x7f) {
      unit = std::string_view(escaped, 4);
    } else if (c >= 0x80) {
      // A whole valid UTF-8 sequence is kept, a lone bad byte escaped. C1
      // controls (U+0080..U+009F), which some terminals act on, and bidi
      // formatting characters are escaped too, byte by byte (\xe2\x80\xae).
      const std::size_t length = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
      const std::string_view sequence = text.substr(i, length);
      const bool valid = sequence.size() == length && valid_utf8(sequence);
      const bool control = valid && ((c == 0xC2 && static_cast<unsigned char>(sequence[1]) < 0xA0) ||
                                     is_bidi_control(sequence));
      unit = valid && !control ? sequence : std::string_view(escaped, 4);
      if (valid && !control) consumed = length;
    }
    if (out.size() + unit.size() > max_bytes) return out + "...";
    out += unit;
    i += consumed;
  }
  return out;
}

}  // namespace dihya
