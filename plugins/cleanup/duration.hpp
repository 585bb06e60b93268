// SPDX-License-Identifier: AGPL-3.0-or-later
// The policy's durations (older_than, max_age, compress_after): "N" followed
// by s m h d or w, at most 100 years. The bound is what the code can honour
// exactly: a time point is nanoseconds since 1970 in a 64-bit count, which
// ends about 292 years either side, and a cutoff computed past that wraps
// into the future (every row would be "older"). Header-only.
#pragma once

#include <string>

#include <dihya/error.hpp>

namespace cleanup {

inline constexpr long long kMaxDurationSeconds = 36500LL * 86400;  // 100 years

// Seconds in `text`, which must look like 30d. Throws dihya::Error naming
// `what` when it does not, or when it is longer than 100 years.
inline long long parse_duration(const std::string& text, const std::string& what) {
  const bool shaped = text.size() >= 2 && text.size() <= 7 &&
                      text.find_first_not_of("0123456789") == text.size() - 1 &&
                      std::string("smhdw").find(text.back()) != std::string::npos;
  if (!shaped) throw dihya::Error(what + " must look like 30d (1 to 6 digits, then s m h d or w)");
  const long long n = std::stoll(text.substr(0, text.size() - 1));
  long long unit = 7 * 86400;
  switch (text.back()) {
    case 's': unit = 1; break;
    case 'm': unit = 60; break;
    case 'h': unit = 3600; break;
    case 'd': unit = 86400; break;
    default: break;
  }
  // n has at most 6 digits, so n * unit fits a long long; the bound is the clock's.
  if (n * unit > kMaxDurationSeconds) {
    throw dihya::Error(what + " " + text + " is longer than 100 years (36500d): give at most 36500d");
  }
  return n * unit;
}

}  // namespace cleanup
