// SPDX-License-Identifier: AGPL-3.0-or-later
// libFuzzer target for the parsers and encoders that see operator input:
// the address parser and the MIME header/body encoders. Beyond "no crash",
// it checks the promises the headers make: a parsed address is printable
// ASCII without CR/LF/NUL/space and within RFC 5321 limits; encoded header
// values and quoted-printable bodies never carry a bare CR or LF and keep
// their line limits; error texts stay valid UTF-8 on one line.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "../address.hpp"
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

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  send_test_mail::Address address;
  std::string error;
  if (send_test_mail::parse_address(input, &address, &error)) {
    const std::string text = address.str();
    require(address.local.size() <= 64 && address.domain.size() <= 255 && text.size() + 2 <= 256);
    for (unsigned char c : text) require(c > 0x20 && c < 0x7F && c != '<' && c != '>');
    require(send_test_mail::check_ascii_domain(address.domain).empty());
  } else {
    require(!error.empty() && dihya::valid_utf8(error));
    require(!send_test_mail::has_line_break_or_nul(error));
  }
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
