// SPDX-License-Identifier: AGPL-3.0-or-later
// libFuzzer target for the parsers and encoders that see operator input:
// the address and mailbox parsers, the MIME header/body encoders, the
// display-name, RFC 2231 file name and base64 attachment encoders. Beyond
// "no crash", it checks the promises the headers make: a parsed address holds
// no control character, space or angle bracket and fits RFC 5321 limits;
// encoded header values, mailboxes, file name parameters and bodies never
// carry a bare CR or LF and keep their line limits; a display name, a file
// name and attachment bytes decode back to exactly what was encoded; error
// texts stay valid UTF-8 on one line.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "../address.hpp"
#include "../attachment.hpp"
#include "../mime_message.hpp"

namespace {

void require(bool condition) {
  if (!condition) std::abort();
}

void check_folded(const std::string& text, std::size_t max_line) {
  std::size_t line = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c == '\r') {
      require(i + 1 < text.size() && text[i + 1] == '\n');
      ++i;
      line = 0;
      continue;
    }
    require(c != '\n' && c != '\0');
    require(++line <= max_line);
  }
}

std::string base64_decode(std::string_view text) {
  static const std::string kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  unsigned bits = 0;
  int count = 0;
  for (char c : text) {
    if (c == '=') break;
    const auto at = kAlphabet.find(c);
    require(at != std::string::npos);
    bits = (bits << 6) | static_cast<unsigned>(at);
    count += 6;
    if (count >= 8) {
      count -= 8;
      out += static_cast<char>((bits >> count) & 0xFFu);
    }
  }
  return out;
}

// Joins the encoded words "=?UTF-8?B?..?=" separated by CRLF SP and decodes them.
std::string decode_words(std::string_view words) {
  std::string out;
  std::size_t start = 0;
  for (;;) {
    const std::size_t end = words.find("\r\n ", start);
    const std::string_view word = words.substr(start, end == std::string_view::npos ? end : end - start);
    require(word.size() <= 75 && word.substr(0, 10) == "=?UTF-8?B?" && word.substr(word.size() - 2) == "?=");
    out += base64_decode(word.substr(10, word.size() - 12));
    if (end == std::string_view::npos) return out;
    start = end + 3;
  }
}

// A formatted mailbox decodes back to the display name and the address.
void check_mailbox(const send_test_mail::Mailbox& mailbox) {
  const std::string text = send_test_mail::format_mailbox(mailbox);
  check_folded(text, 998);
  const std::string address = mailbox.address.str();
  if (mailbox.display_name.empty()) {
    require(text == address);
    return;
  }
  const std::string tail = " <" + address + ">";
  require(text.size() > tail.size() && text.compare(text.size() - tail.size(), tail.size(), tail) == 0);
  const std::string phrase = text.substr(0, text.size() - tail.size());
  std::string name;
  if (phrase.rfind("=?", 0) == 0) {
    name = decode_words(phrase);
  } else if (phrase.front() == '"') {
    require(phrase.size() >= 2 && phrase.back() == '"');
    for (std::size_t i = 1; i + 1 < phrase.size(); ++i) {
      if (phrase[i] == '\\') ++i;
      else require(phrase[i] != '"');
      name += phrase[i];
    }
  } else {
    name = phrase;
  }
  require(name == mailbox.display_name);
}

// filename="..." or RFC 2231 sections decode back to the file name.
void check_filename(const std::string& filename) {
  const std::string text = send_test_mail::filename_parameter(filename);
  check_folded(text, 78 + 2 * 255);
  std::string decoded;
  if (text.rfind("filename=\"", 0) == 0) {
    for (std::size_t i = 10; i + 1 < text.size(); ++i) {
      if (text[i] == '\\') ++i;
      decoded += text[i];
    }
    require(text.back() == '"');
  } else {
    check_folded(text, 78);
    std::size_t n = 0;
    for (std::size_t at = 0; at < text.size();) {
      const std::size_t end = std::min(text.find(";\r\n ", at), text.size());
      std::string section = text.substr(at, end - at);
      const std::string single = "filename*=UTF-8''";
      const std::string numbered = "filename*" + std::to_string(n) + "*=" + (n == 0 ? "UTF-8''" : "");
      if (section.rfind(single, 0) == 0 && n == 0 && end == text.size()) {
        section = section.substr(single.size());
      } else {
        require(section.rfind(numbered, 0) == 0);
        section = section.substr(numbered.size());
      }
      for (std::size_t i = 0; i < section.size(); ++i) {
        const auto c = static_cast<unsigned char>(section[i]);
        require(c > 0x20 && c < 0x7F && c != '"' && c != ';' && c != '\'');
        if (c == '%') {
          require(i + 2 < section.size());
          decoded += static_cast<char>(std::stoi(section.substr(i + 1, 2), nullptr, 16));
          i += 2;
        } else {
          decoded += static_cast<char>(c);
        }
      }
      at = end == text.size() ? end : end + 4;
      ++n;
    }
  }
  require(decoded == filename);
}

void check_base64(const std::string& bytes) {
  const std::string text = send_test_mail::base64_lines(bytes);
  check_folded(text, 76);
  std::string flat;
  for (char c : text) {
    if (c != '\r' && c != '\n') flat += c;
  }
  require(base64_decode(flat) == bytes);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  send_test_mail::Address address;
  std::string error;
  if (send_test_mail::parse_address(input, &address, &error)) {
    const std::string text = address.str();
    require(address.local.size() <= 64 && address.domain.size() <= 255 && text.size() + 2 <= 256);
    // Only a local part flagged utf8_local (SMTPUTF8) may leave ASCII.
    for (unsigned char c : address.local) require(c > 0x20 && c != 0x7F && c != '<' && c != '>' && (c < 0x80 || address.utf8_local));
    for (unsigned char c : address.domain) require(c > 0x20 && c < 0x7F);
    require(dihya::valid_utf8(text));
    require(send_test_mail::check_ascii_domain(address.domain).empty());
  } else {
    require(!error.empty() && dihya::valid_utf8(error));
    require(!send_test_mail::has_line_break_or_nul(error));
  }
  send_test_mail::Mailbox mailbox;
  if (send_test_mail::parse_mailbox(input, &mailbox, &error)) {
    require(mailbox.display_name.size() <= send_test_mail::kMaxDisplayName);
    require(!send_test_mail::has_line_break_or_nul(mailbox.display_name));
    check_mailbox(mailbox);
  } else {
    require(!error.empty() && dihya::valid_utf8(error) && !send_test_mail::has_line_break_or_nul(error));
  }
  check_base64(input);
  if (send_test_mail::check_attachment_filename(input).empty()) check_filename(input);
  const std::string shown = send_test_mail::printable(input, 40);
  require(dihya::valid_utf8(shown) && !send_test_mail::has_line_break_or_nul(shown));

  // The encoders get only validated text in the plugin: mirror that.
  if (dihya::valid_utf8(input) && input.find('\0') == std::string::npos) {
    check_folded(send_test_mail::quoted_printable(input), 76);
    if (!send_test_mail::has_line_break_or_nul(input) && input.size() <= 2000) {
      const std::string header = send_test_mail::encode_header_value(input, 7);
      check_folded(header, 998);
    }
  }
  return 0;
}
