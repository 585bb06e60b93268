// SPDX-License-Identifier: AGPL-3.0-or-later
#include "util/printable.hpp"

#include <algorithm>

#include <dihya/utf8.hpp>

namespace dihya::host {

std::optional<std::size_t> find_invalid_utf8(std::string_view text) {
  const std::size_t bad = dihya::first_invalid_utf8(text);
  if (bad == std::string_view::npos) return std::nullopt;
  return bad;
}

std::string printable(std::string_view text, std::size_t max_chars) { return dihya::printable(text, max_chars); }

std::string one_line(std::string_view text) {
  const auto is_space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
  while (!text.empty() && is_space(text.front())) text.remove_prefix(1);
  while (!text.empty() && is_space(text.back())) text.remove_suffix(1);
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '\n' && text[i] != '\r') {
      out += text[i];
      continue;
    }
    while (!out.empty() && is_space(out.back())) out.pop_back();
    while (i + 1 < text.size() && is_space(text[i + 1])) ++i;
    if (!out.empty() && out.back() != ';' && out.back() != '.' && out.back() != ':') out += ';';
    out += ' ';
  }
  return out;
}

std::string printable_text(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  std::size_t start = 0;
  for (;;) {
    const std::size_t end = text.find_first_of("\n\t", start);
    out += printable(text.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start),
                     std::string_view::npos);
    if (end == std::string_view::npos) return out;
    out += text[end];
    start = end + 1;
  }
}

}  // namespace dihya::host
