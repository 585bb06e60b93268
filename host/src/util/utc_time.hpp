// SPDX-License-Identifier: AGPL-3.0-or-later
// UTC time as every record of the host writes it: millisecond precision,
// never local time, so records from several machines sort together.
#pragma once

#include <chrono>
#include <ctime>
#include <string>

namespace dihya::host {

struct UtcTime {
  std::tm fields;    // broken-down UTC time
  int milliseconds;  // 0..999
};

UtcTime utc_time(std::chrono::system_clock::time_point when);

// "2026-11-25T21:50:53.123Z"
std::string format_iso_utc(std::chrono::system_clock::time_point when);

}  // namespace dihya::host
