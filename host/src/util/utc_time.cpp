// SPDX-License-Identifier: AGPL-3.0-or-later
#include "util/utc_time.hpp"

#include <fmt/format.h>

namespace dihya::host {

UtcTime utc_time(std::chrono::system_clock::time_point when) {
  using namespace std::chrono;
  const auto ms = floor<milliseconds>(when).time_since_epoch();
  const auto whole = floor<seconds>(ms);
  const auto t = static_cast<std::time_t>(whole.count());
  UtcTime result{};
  gmtime_r(&t, &result.fields);
  result.milliseconds = static_cast<int>((ms - whole).count());
  return result;
}

std::string format_iso_utc(std::chrono::system_clock::time_point when) {
  const UtcTime u = utc_time(when);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", u.fields.tm_year + 1900, u.fields.tm_mon + 1,
                     u.fields.tm_mday, u.fields.tm_hour, u.fields.tm_min, u.fields.tm_sec, u.milliseconds);
}

}  // namespace dihya::host
