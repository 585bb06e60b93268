// SPDX-License-Identifier: AGPL-3.0-or-later
// libFuzzer target for cron expressions and their fire times (<dihya/cron.hpp>).
// A schedule's expression comes from an operator or from the database, and
// one that crashes or hangs the computation of its next fire time stops every
// schedule of the scheduler.
//
// Input: up to three lines:
//   EXPRESSION \n ISO-8601 TIME \n ZONE NAME
// The expression is parsed with and without a seconds field; the time goes to
// parse_iso() and, when it parses, is one more instant to start from; the
// zone name goes to zone() and, when known, is one more zone besides UTC and
// America/New_York.
//
// Checked (__builtin_trap() when broken), besides no crash or sanitizer report:
//  - parse(), parse_iso() and zone() return or throw CronError, nothing else;
//    next_after() and format_iso() throw nothing;
//  - parse(text) and parse(text, true) agree on a 5-field expression;
//  - parse_iso() accepts only the forms its contract lists;
//  - next_after() finds a fire time (parse() refuses an expression that never
//    fires) strictly after the instant given, at which the expression fires by
//    the header's DST rule, and none fires in the first steps between the two;
//  - format_iso() of a fire time reads back, through parse_iso(), as that instant.
#include <cctype>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <dihya/cron.hpp>

#include "fuzz_support.hpp"

namespace cron_fuzz {

using dihya::cron::CronError;
using dihya::cron::Expression;
using dihya::cron::Instant;
using dihya::cron::Zone;
using std::chrono::seconds;

// Steps (minutes, or seconds with a seconds field) after the start instant in
// which no fire time may be found before next_after()'s answer.
constexpr int kStepsChecked = 90;

[[noreturn]] void fail(const char* what) { dihya::fuzz::fail("fuzz_cron", what); }

// Runs `fn`; a CronError is an allowed answer (false) when `may_refuse`, anything else a bug.
template <typename F>
bool cron_call(const char* name, bool may_refuse, F&& fn) {
  return dihya::fuzz::call<CronError>("fuzz_cron", name, may_refuse, std::forward<F>(fn));
}

std::vector<std::string> lines_of(std::string_view input) {
  std::vector<std::string> lines;
  for (;;) {
    const std::size_t nl = input.find('\n');
    lines.emplace_back(input.substr(0, nl));
    if (nl == std::string_view::npos || lines.size() == 3) return lines;
    input.remove_prefix(nl + 1);
  }
}

bool same(const Expression& a, const Expression& b) {
  return a.seconds == b.seconds && a.minutes == b.minutes && a.hours == b.hours &&
         a.days_of_month == b.days_of_month && a.months == b.months && a.days_of_week == b.days_of_week &&
         a.dom_star == b.dom_star && a.dow_star == b.dow_star && a.has_seconds == b.has_seconds;
}

// What parse_iso()'s contract accepts: YYYY-MM-DD, then optionally T (or a
// space) HH:MM[:SS[.fff]], then optionally Z or +HH:MM / -HH:MM. Digits only
// where digits stand: no sign, no blank.
bool is_iso_form(const std::string& s) {
  const auto digits = [&](std::size_t at, std::size_t n) {
    if (at + n > s.size()) return false;
    for (std::size_t i = at; i < at + n; ++i) {
      if (!std::isdigit(static_cast<unsigned char>(s[i]))) return false;
    }
    return true;
  };
  const auto is = [&](std::size_t at, char c) { return at < s.size() && s[at] == c; };
  if (!digits(0, 4) || !is(4, '-') || !digits(5, 2) || !is(7, '-') || !digits(8, 2)) return false;
  std::size_t pos = 10;
  if (is(pos, 'T') || is(pos, ' ')) {
    if (!digits(pos + 1, 2) || !is(pos + 3, ':') || !digits(pos + 4, 2)) return false;
    pos += 6;
    if (is(pos, ':')) {
      if (!digits(pos + 1, 2)) return false;
      pos += 3;
      if (is(pos, '.')) {
        for (++pos; pos < s.size() && std::isdigit(static_cast<unsigned char>(s[pos])); ++pos) {
        }
      }
    }
  }
  if (pos == s.size()) return true;
  if (is(pos, 'Z')) return pos + 1 == s.size();
  return (is(pos, '+') || is(pos, '-')) && pos + 6 == s.size() && digits(pos + 1, 2) && is(pos + 3, ':') &&
         digits(pos + 4, 2);
}

date::local_seconds local_of(const Zone* z, Instant t) {
  return date::local_seconds(t.time_since_epoch() + z->get_info(t).offset);
}

// Whether the wall-clock time `l` is one the expression names.
bool names(const Expression& e, date::local_seconds l) {
  const auto day = std::chrono::floor<date::days>(l);
  const date::year_month_day ymd(day);
  const date::hh_mm_ss<seconds> hms(l - date::local_seconds(day));
  return e.months[static_cast<unsigned>(ymd.month())] && e.matches_day(ymd) &&
         e.hours[static_cast<std::size_t>(hms.hours().count())] &&
         e.minutes[static_cast<std::size_t>(hms.minutes().count())] &&
         e.seconds[static_cast<std::size_t>(hms.seconds().count())];
}

// Whether the expression fires at `t` by the header's DST rule, read from the
// zone's periods only: at the first occurrence of a wall-clock time it names,
// and at the end of a spring-forward gap holding a time it names.
bool fires_at(const Expression& e, const Zone* z, Instant t) {
  const auto info = z->get_info(t);
  const Instant start{info.begin};
  const auto local = date::local_seconds(t.time_since_epoch() + info.offset);
  if (names(e, local)) {
    // Not its first occurrence if the period before reached that wall-clock time too.
    if (start == Instant::min()) return true;  // no period before (UTC)
    const auto prev = z->get_info(start - seconds(1));
    const Instant in_prev{local.time_since_epoch() - prev.offset};
    if (in_prev < Instant{prev.begin} || in_prev >= start) return true;
  }
  if (start != t) return false;
  const auto prev = z->get_info(t - seconds(1));
  if (prev.offset >= info.offset) return false;
  // t ends a gap: the wall-clock times [t + old offset, t + new offset) never happened.
  auto l = date::local_seconds(t.time_since_epoch() + prev.offset);
  if (!e.has_seconds) l = std::chrono::ceil<std::chrono::minutes>(l);
  for (; l < local; l += e.has_seconds ? seconds(1) : seconds(60)) {
    if (names(e, l)) return true;
  }
  return false;
}

// The next instant after `t` at which the expression could fire: the start of
// the next wall-clock minute (second, with a seconds field) or of the next period.
Instant next_candidate(const Expression& e, const Zone* z, Instant t) {
  const auto info = z->get_info(t);
  Instant next = t + seconds(1);
  if (!e.has_seconds) {
    const auto l = date::local_seconds(t.time_since_epoch() + info.offset);
    next = t + (std::chrono::ceil<std::chrono::minutes>(l + seconds(1)) - l);
  }
  return Instant{info.end} < next ? Instant{info.end} : next;
}

bool in_four_digit_years(const Zone* z, Instant t) {
  const date::year_month_day ymd(std::chrono::floor<date::days>(local_of(z, t)));
  return ymd.year() >= date::year(0) && ymd.year() <= date::year(9999);
}

// next_after(e, z, after), checked; returns its answer.
Instant check_next(const Expression& e, const Zone* z, Instant after) {
  std::optional<Instant> fire;
  cron_call("next_after", false, [&] { fire = dihya::cron::next_after(e, z, after); });
  if (!fire) fail("next_after() found no fire time for an expression parse() accepted");
  if (*fire <= after) fail("next_after() returned an instant not after the one given");
  if (!fires_at(e, z, *fire)) fail("next_after() returned an instant at which the expression does not fire");
  Instant t = after;
  for (int i = 0; i < kStepsChecked; ++i) {
    t = next_candidate(e, z, t);
    if (t >= *fire) break;
    if (fires_at(e, z, t)) fail("next_after() skipped an earlier fire time");
  }
  // An offset with seconds (local mean time) is cut to minutes in print.
  if (in_four_digit_years(z, *fire) && z->get_info(*fire).offset.count() % 60 == 0) {
    std::string text;
    Instant back{};
    cron_call("format_iso", false, [&] { text = dihya::cron::format_iso(*fire, z); });
    cron_call("parse_iso (format_iso's text)", false, [&] { back = dihya::cron::parse_iso(text, z); });
    if (back != *fire) fail("format_iso() does not read back as the same instant");
  }
  return *fire;
}

const Zone* known_zone(const char* name) {
  const Zone* z = nullptr;
  cron_call("zone", false, [&] { z = dihya::cron::zone(name); });
  return z;
}

void run_one(std::string_view input) {
  static const Zone* const utc = known_zone("UTC");
  static const Zone* const new_york = known_zone("America/New_York");
  const std::vector<std::string> lines = lines_of(input);
  std::vector<const Zone*> zones{utc, new_york};
  if (lines.size() > 2) {
    const Zone* z = nullptr;
    if (cron_call("zone", true, [&] { z = dihya::cron::zone(lines[2]); })) zones.push_back(z);
  }

  using date::sys_days;
  using std::chrono::hours;
  using std::chrono::minutes;
  using namespace date::literals;
  std::vector<Instant> starts{
      Instant{sys_days(2026_y / 3 / 8) + hours(6) + minutes(59) + seconds(30)},  // 30 s before New York springs forward
      Instant{sys_days(2026_y / 11 / 1) + hours(6) + minutes(30)},  // in New York's repeated hour, second time
      Instant{sys_days(2037_y / 11 / 1) + hours(5) + minutes(59)},  // New York's last TZif transition, then the rule
      Instant{sys_days(2038_y / 1 / 19) + hours(3) + minutes(14) + seconds(7)},
      Instant{sys_days(2100_y / 2 / 28) + hours(23)},  // 2100 is no leap year
  };
  if (lines.size() > 1) {
    for (const Zone* z : zones) {
      Instant t{};
      if (!cron_call("parse_iso", true, [&] { t = dihya::cron::parse_iso(lines[1], z); })) continue;
      if (!is_iso_form(lines[1])) fail("parse_iso() accepted a text its contract does not");
      if (in_four_digit_years(z, t)) starts.push_back(t);
    }
  }

  std::optional<Expression> five;
  std::optional<Expression> any;
  cron_call("parse", true, [&] { five = dihya::cron::parse(lines[0]); });
  cron_call("parse (seconds allowed)", true, [&] { any = dihya::cron::parse(lines[0], true); });
  if (five && (!any || !same(*five, *any))) fail("parse() and parse(text, true) disagree on a 5-field expression");
  if (!any) return;
  for (const Zone* z : zones) {
    for (const Instant start : starts) check_next(*any, z, start);
    check_next(*any, z, check_next(*any, z, starts[0]));  // from a fire time, the next one
  }
}

}  // namespace cron_fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  cron_fuzz::run_one(std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
