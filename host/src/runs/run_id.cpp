// SPDX-License-Identifier: AGPL-3.0-or-later
// Run ids: UTC timestamp + random suffix. std::random_device reads the kernel's
// entropy source on Linux, so hosts started in the same millisecond on one
// machine still draw different suffixes.
#include "runs/run_id.hpp"

#include <ctime>
#include <random>

#include <fmt/format.h>

#include "util/utc_time.hpp"

namespace dihya::host {
namespace {

// "YYYYMMDDTHHMMSS.mmmZ-xxxxxx": what each position may hold.
constexpr std::string_view kShape = "DDDDDDDDTDDDDDD.DDDZ-XXXXXX";

bool matches(char c, char kind) {
  switch (kind) {
    case 'D': return c >= '0' && c <= '9';
    case 'X': return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
    default: return c == kind;
  }
}

}  // namespace

std::string new_run_id(std::chrono::system_clock::time_point now) {
  const UtcTime u = utc_time(now);
  std::random_device entropy;
  const unsigned suffix = entropy() & 0xffffffu;
  return fmt::format("{:04}{:02}{:02}T{:02}{:02}{:02}.{:03}Z-{:06x}", u.fields.tm_year + 1900, u.fields.tm_mon + 1,
                     u.fields.tm_mday, u.fields.tm_hour, u.fields.tm_min, u.fields.tm_sec, u.milliseconds, suffix);
}

bool is_valid_run_id(std::string_view id) {
  if (id.size() != kShape.size()) return false;
  for (std::size_t i = 0; i < id.size(); ++i) {
    if (!matches(id[i], kShape[i])) return false;
  }
  return true;
}

}  // namespace dihya::host
