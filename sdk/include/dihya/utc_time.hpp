// SPDX-License-Identifier: AGPL-3.0-or-later
// Timestamps as plugins write them into manifests, reports and SQL: ISO-8601
// UTC to the second ("2026-11-25T21:50:00Z"). Use it with ctx.now() so tests
// that pin the clock get stable output. Header-only, thread-safe.
#pragma once

#include <chrono>
#include <ctime>
#include <string>

namespace dihya {

// `t` as "YYYY-MM-DDTHH:MM:SSZ" (sub-second part dropped).
inline std::string format_utc(std::chrono::system_clock::time_point t) {
  const std::time_t seconds = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char buffer[32];
  std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buffer;
}

}  // namespace dihya
