// SPDX-License-Identifier: AGPL-3.0-or-later
#include "util/memory_size.hpp"

#include <unistd.h>

#include <algorithm>

#include <fmt/format.h>

namespace dihya::host {

std::optional<std::uint64_t> parse_memory_size(const std::string& text) {
  if (text == "off") return 0;
  if (text.empty() || text.size() > 20) return std::nullopt;
  std::string digits = text;
  int shift = 0;
  switch (text.back()) {
    case 'K': case 'k': shift = 10; break;
    case 'M': case 'm': shift = 20; break;
    case 'G': case 'g': shift = 30; break;
    case 'T': case 't': shift = 40; break;
    default: break;
  }
  if (shift != 0) digits.pop_back();
  if (digits.empty() || digits.size() > 19 || digits.find_first_not_of("0123456789") != std::string::npos) {
    return std::nullopt;
  }
  const std::uint64_t n = std::stoull(digits);
  if (n > (1ULL << (60 - shift))) return std::nullopt;
  const std::uint64_t bytes = n << shift;
  if (bytes < kMinMemoryMax) return std::nullopt;
  return bytes;
}

std::string memory_size_text(std::uint64_t bytes) {
  if (bytes == 0) return "no limit";
  static const char* const kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  int unit = 0;
  double value = static_cast<double>(bytes);
  while (value >= 1024 && unit < 5) {
    value /= 1024;
    ++unit;
  }
  return value == static_cast<double>(static_cast<std::uint64_t>(value)) ? fmt::format("{:.0f} {}", value, kUnits[unit])
                                                                          : fmt::format("{:.1f} {}", value, kUnits[unit]);
}

std::uint64_t default_memory_max() {
  const long pages = ::sysconf(_SC_PHYS_PAGES);
  const long page_size = ::sysconf(_SC_PAGESIZE);
  if (pages <= 0 || page_size <= 0) return 0;
  return std::max<std::uint64_t>(kMinMemoryMax, static_cast<std::uint64_t>(pages) * static_cast<std::uint64_t>(page_size) / 2);
}

}  // namespace dihya::host
