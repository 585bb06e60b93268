// SPDX-License-Identifier: AGPL-3.0-or-later
// libFuzzer target for the TZif footer reader and the POSIX TZ rule parser
// (<dihya/tz_rule.hpp>). Zone files come from the OS, but a parser that
// trusts its input turns one damaged file into a crash of every scheduler.
// Each must return a value or nullopt with a reason; a parsed rule must give,
// for any instant, a period that holds it and an offset within RFC 8536's
// -24:59:59..+25:59:59.
#include <cstddef>
#include <cstdint>
#include <string>

#include <dihya/tz_rule.hpp>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  std::string error;
  if (auto tail = dihya::tz::parse_tzif(bytes, &error)) {
    if (tail->footer.find('\n') != std::string::npos) __builtin_trap();
  } else if (error.empty()) {
    __builtin_trap();
  }
  error.clear();
  const auto rule = dihya::tz::parse_posix_tz(bytes, &error);
  if (!rule) {
    if (error.empty()) __builtin_trap();
    return 0;
  }
  using std::chrono::hours;
  for (long long s : {0LL, 2145916800LL, 2208988800LL, 4102444800LL, -2208988800LL, 253402300799LL, 1LL << 40}) {
    for (long long step = 0; step < 366 * 24; step += 97) {
      const dihya::tz::Instant t{std::chrono::seconds(s) + hours(step)};
      const auto info = dihya::tz::info_at(*rule, t);
      if (!(info.begin <= t && t < info.end)) __builtin_trap();
      if (info.offset.count() > 93599 || info.offset.count() < -89999) __builtin_trap();
    }
  }
  return 0;
}
