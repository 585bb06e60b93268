// SPDX-License-Identifier: AGPL-3.0-or-later
// Run ids: UTC timestamp + random suffix drawn from the kernel's entropy
// source, so hosts started in the same millisecond on one machine still draw
// different suffixes. getrandom(2), not std::random_device: the latter first
// probes the CPU with cpuid, which a virtual machine traps (measurable in
// every run's CPU time there).
#include "runs/run_id.hpp"

#include <sys/random.h>

#include <cerrno>
#include <chrono>
#include <ctime>

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
  unsigned char bytes[3] = {};
  // 3 bytes never block once the pool is initialised and are never cut short.
  // Without them (seccomp'd, ENOSYS) the clock's nanoseconds keep ids apart.
  ssize_t got;
  do {
    got = ::getrandom(bytes, sizeof bytes, 0);
  } while (got < 0 && errno == EINTR);
  unsigned suffix = static_cast<unsigned>(bytes[0]) << 16 | static_cast<unsigned>(bytes[1]) << 8 | bytes[2];
  if (got != static_cast<ssize_t>(sizeof bytes)) {
    suffix = static_cast<unsigned>(std::chrono::steady_clock::now().time_since_epoch().count()) & 0xffffffu;
  }
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
