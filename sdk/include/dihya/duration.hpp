// SPDX-License-Identifier: AGPL-3.0-or-later
// Durations as operators write them in parameters and settings: 30d, 12h,
// 90m, 45s, 2w (1 to 6 digits, then one unit), at most 100 years. The bound
// is what a clock can honour: a time point is nanoseconds since 1970 in a
// 64-bit count, which ends about 292 years either side, and a cutoff computed
// past that wraps into the future (everything would be "older"). One
// definition for the host's history retention and the plugins' ages and
// windows. Header-only.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include <dihya/error.hpp>

namespace dihya {

inline constexpr long long kMaxDurationSeconds = 36500LL * 86400;  // 100 years

// The duration `text` stands for, or nothing when it is not 1 to 6 digits and
// one of s m h d w, or is longer than 100 years; `why` (when given) then says
// which, as the end of a sentence that names the value ("older_than 99999w ").
inline std::optional<std::chrono::seconds> parse_duration(std::string_view text, std::string* why = nullptr) {
  const bool shaped = text.size() >= 2 && text.size() <= 7 &&
                      text.find_first_not_of("0123456789") == text.size() - 1 &&
                      std::string_view("smhdw").find(text.back()) != std::string_view::npos;
  if (!shaped) {
    if (why != nullptr) *why = "must look like 30d (1 to 6 digits, then s m h d or w)";
    return std::nullopt;
  }
  long long n = 0;
  for (const char c : text.substr(0, text.size() - 1)) n = n * 10 + (c - '0');
  long long unit = 7 * 86400;
  switch (text.back()) {
    case 's': unit = 1; break;
    case 'm': unit = 60; break;
    case 'h': unit = 3600; break;
    case 'd': unit = 86400; break;
    default: break;
  }
  // n has at most 6 digits, so n * unit fits a long long.
  if (n * unit > kMaxDurationSeconds) {
    if (why != nullptr) *why = "is longer than 100 years (36500d): give at most 36500d";
    return std::nullopt;
  }
  return std::chrono::seconds(n * unit);
}

// The same, for a value that must be a duration: throws dihya::Error naming
// `what` and the value ("older_than 5x must look like 30d ...").
inline std::chrono::seconds require_duration(std::string_view text, const std::string& what) {
  std::string why;
  if (auto d = parse_duration(text, &why)) return *d;
  throw Error(what + (text.empty() ? std::string(" ") : " " + std::string(text) + " ") + why);
}

}  // namespace dihya
