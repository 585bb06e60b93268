// SPDX-License-Identifier: AGPL-3.0-or-later
// Time-zone offsets after the last transition a TZif file lists. A TZif file
// (RFC 8536) lists transitions up to some year (2037 in Debian's "fat" files)
// and ends, from version 2 on, with a footer: a POSIX TZ string such as
// `EST5EDT,M3.2.0,M11.1.0` that gives the offsets for every later instant.
// Howard Hinnant's date/tz reads the list but not the footer, so without this
// New York stays at -05:00 for ever after November 2037. Header-only and
// shared by the host and the run_scheduler plugin through <dihya/cron.hpp>
// (SDK support, Dihya::cron: no stability promise).
//
// Both parsers take hostile bytes (they are fuzzed: tests/fuzz/fuzz_tz_rule.cpp):
// they return nullopt with a one-line reason, never throw, never read out of
// bounds. Accepted TZ strings: POSIX `std offset [dst [offset] [,rule]]` with
// the RFC 8536 extensions (transition times from -167 to 167 hours); a DST
// name without a rule is refused (POSIX leaves its meaning to the system).
#pragma once

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <date/date.h>
#include <date/tz.h>

namespace dihya::tz {

using Instant = date::sys_seconds;

// A parsed POSIX TZ string. Offsets are seconds EAST of UTC (POSIX writes
// them west-positive; the parser flips the sign).
struct PosixRule {
  // When a transition happens: a day of the year plus a local time of day.
  struct When {
    enum class Kind { kJulianNoLeap, kZeroBased, kMonthWeekDay };  // Jn, n, Mm.w.d
    Kind kind = Kind::kMonthWeekDay;
    int day = 0;        // Jn: 1..365 (Feb 29 never counted); n: 0..365
    int month = 0;      // Mm.w.d
    int week = 0;       // 1..5, 5 = the last such weekday of the month
    int weekday = 0;    // 0 = Sunday
    int time = 7200;    // seconds after local midnight, -167h..167h; default 02:00
  };
  std::string std_abbrev;
  std::string dst_abbrev;
  int std_offset = 0;
  int dst_offset = 0;
  bool has_dst = false;
  When dst_start;  // in local standard time
  When dst_end;    // in local daylight time
};

namespace detail {

class TzStringReader {
 public:
  explicit TzStringReader(std::string_view s) : s_(s) {}
  bool done() const { return pos_ == s_.size(); }
  bool peek(char c) const { return pos_ < s_.size() && s_[pos_] == c; }
  bool peek_offset_start() const {
    return pos_ < s_.size() && (s_[pos_] == '+' || s_[pos_] == '-' || (s_[pos_] >= '0' && s_[pos_] <= '9'));
  }
  bool eat(char c) {
    if (!peek(c)) return false;
    ++pos_;
    return true;
  }

  // An abbreviation: 3+ letters, or <...> of 3+ letters, digits, '+' and '-'.
  bool abbrev(std::string* out) {
    out->clear();
    if (eat('<')) {
      while (pos_ < s_.size() && s_[pos_] != '>') {
        const char c = s_[pos_++];
        if (!is_alpha(c) && !is_digit(c) && c != '+' && c != '-') return false;
        *out += c;
      }
      if (!eat('>')) return false;
    } else {
      while (pos_ < s_.size() && is_alpha(s_[pos_])) *out += s_[pos_++];
    }
    return out->size() >= 3 && out->size() <= 16;
  }

  // [+-]h[h...][:mm[:ss]] with the hours at most `max_hours`; seconds, signed.
  bool hms(int max_hours, int* out) {
    int sign = 1;
    if (eat('-')) {
      sign = -1;
    } else {
      eat('+');
    }
    int h = 0, m = 0, sec = 0;
    if (!number(3, &h) || h > max_hours) return false;
    if (eat(':')) {
      if (!number(2, &m) || m > 59) return false;
      if (eat(':') && (!number(2, &sec) || sec > 59)) return false;
    }
    *out = sign * (h * 3600 + m * 60 + sec);
    return true;
  }

  bool when(PosixRule::When* w) {
    if (eat('J')) {
      w->kind = PosixRule::When::Kind::kJulianNoLeap;
      if (!number(3, &w->day) || w->day < 1 || w->day > 365) return false;
    } else if (eat('M')) {
      w->kind = PosixRule::When::Kind::kMonthWeekDay;
      if (!number(2, &w->month) || w->month < 1 || w->month > 12 || !eat('.')) return false;
      if (!number(1, &w->week) || w->week < 1 || w->week > 5 || !eat('.')) return false;
      if (!number(1, &w->weekday) || w->weekday > 6) return false;
    } else {
      w->kind = PosixRule::When::Kind::kZeroBased;
      if (!number(3, &w->day) || w->day > 365) return false;
    }
    w->time = 7200;
    if (eat('/')) return hms(167, &w->time);
    return true;
  }

 private:
  static bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
  static bool is_digit(char c) { return c >= '0' && c <= '9'; }
  bool number(int max_digits, int* out) {
    int v = 0, n = 0;
    while (pos_ < s_.size() && is_digit(s_[pos_]) && n < max_digits) v = v * 10 + (s_[pos_++] - '0'), ++n;
    if (n == 0 || (pos_ < s_.size() && is_digit(s_[pos_]))) return false;
    *out = v;
    return true;
  }

  std::string_view s_;
  std::size_t pos_ = 0;
};

inline std::int64_t read_be(std::string_view b, std::size_t at, int bytes) {
  std::uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v = (v << 8) | static_cast<unsigned char>(b[at + static_cast<std::size_t>(i)]);
  if (bytes == 4) return static_cast<std::int32_t>(static_cast<std::uint32_t>(v));
  return static_cast<std::int64_t>(v);
}

// The day (UTC midnight of that local date) a transition falls on in year `y`.
inline date::sys_days day_of(const PosixRule::When& w, date::year y) {
  using date::days;
  const date::sys_days jan1{y / date::January / 1};
  switch (w.kind) {
    case PosixRule::When::Kind::kJulianNoLeap:
      return jan1 + days(w.day - 1 + (y.is_leap() && w.day >= 60 ? 1 : 0));
    case PosixRule::When::Kind::kZeroBased:
      return jan1 + days(w.day);
    case PosixRule::When::Kind::kMonthWeekDay:
    default: {
      const auto m = date::month(static_cast<unsigned>(w.month));
      const date::weekday wd(static_cast<unsigned>(w.weekday));
      if (w.week == 5) return date::sys_days(date::year_month_weekday_last(y, m, date::weekday_last(wd)));
      return date::sys_days(date::year_month_weekday(y, m, wd[static_cast<unsigned>(w.week)]));
    }
  }
}

}  // namespace detail

// Parses a POSIX TZ string; nullopt (and `*error` set) if it is malformed.
inline std::optional<PosixRule> parse_posix_tz(std::string_view s, std::string* error) {
  const auto fail = [&](const char* why) -> std::optional<PosixRule> {
    if (error != nullptr) *error = std::string("TZ rule '") + std::string(s.substr(0, 64)) + "': " + why;
    return std::nullopt;
  };
  detail::TzStringReader r(s);
  PosixRule rule;
  int west = 0;
  if (!r.abbrev(&rule.std_abbrev)) return fail("bad standard time name");
  if (!r.hms(24, &west)) return fail("bad standard time offset");
  rule.std_offset = -west;
  if (r.done()) return rule;
  rule.has_dst = true;
  if (!r.abbrev(&rule.dst_abbrev)) return fail("bad daylight time name");
  rule.dst_offset = rule.std_offset + 3600;
  if (r.peek_offset_start()) {
    if (!r.hms(24, &west)) return fail("bad daylight time offset");
    rule.dst_offset = -west;
  }
  if (!r.eat(',')) return fail("daylight time without a rule");
  if (!r.when(&rule.dst_start)) return fail("bad daylight time start");
  if (!r.eat(',')) return fail("daylight time without an end");
  if (!r.when(&rule.dst_end)) return fail("bad daylight time end");
  if (!r.done()) return fail("trailing characters");
  return rule;
}

// The offset period holding `t` by `rule` alone (begin <= t < end).
inline date::sys_info info_at(const PosixRule& rule, Instant t) {
  using std::chrono::seconds;
  date::sys_info info;
  if (!rule.has_dst) {
    info.begin = Instant::min();
    info.end = Instant::max();
    info.offset = seconds(rule.std_offset);
    info.save = std::chrono::minutes(0);
    info.abbrev = rule.std_abbrev;
    return info;
  }
  // Transitions of the years around t, in time order. A transition time may
  // be up to 167 h off its day, so two years either side always bracket t.
  // Ties go to the later year: "0/0,J365/25" (DST all year) ends one year at
  // the instant the next one starts, and DST must stay on.
  struct Transition {
    Instant at;
    int year;
    bool to_dst;
  };
  const auto day = std::chrono::floor<date::days>(t);
  if (day.time_since_epoch().count() > 10'000'000 || day.time_since_epoch().count() < -10'000'000) {
    return info_at(PosixRule{rule.std_abbrev, {}, rule.std_offset, 0, false, {}, {}}, t);  // beyond year ±27000
  }
  const auto y = static_cast<int>(date::year_month_day(day).year());
  std::array<Transition, 10> all{};
  std::size_t n = 0;
  for (int year = y - 2; year <= y + 2; ++year) {
    const date::year yy(year);
    all[n++] = {Instant(detail::day_of(rule.dst_start, yy)) + seconds(rule.dst_start.time - rule.std_offset), year, true};
    all[n++] = {Instant(detail::day_of(rule.dst_end, yy)) + seconds(rule.dst_end.time - rule.dst_offset), year, false};
  }
  std::sort(all.begin(), all.end(), [](const Transition& a, const Transition& b) {
    return a.at != b.at ? a.at < b.at : a.year != b.year ? a.year < b.year : (!a.to_dst && b.to_dst);
  });
  std::size_t last = 0;  // the last transition at or before t
  for (std::size_t i = 0; i < n; ++i) {
    if (all[i].at <= t) last = i;
  }
  const bool dst = all[last].to_dst;
  info.begin = all[last].at;
  info.end = Instant::max();
  for (std::size_t i = last + 1; i < n; ++i) {
    if (all[i].at > t && all[i].to_dst != dst) {
      info.end = all[i].at;
      break;
    }
  }
  info.offset = seconds(dst ? rule.dst_offset : rule.std_offset);
  info.save = std::chrono::minutes(dst ? std::max(1, (rule.dst_offset - rule.std_offset) / 60) : 0);
  info.abbrev = dst ? rule.dst_abbrev : rule.std_abbrev;
  return info;
}

// What a TZif file says about the time after its table.
struct TzifTail {
  std::optional<Instant> last_transition;  // none: the footer rules all time
  std::string footer;                      // the POSIX TZ string, may be empty
};

// Reads the v2+ part of a TZif file (RFC 8536); nullopt (and `*error` set) if
// it is not one or is truncated. A version 1 file has no footer.
inline std::optional<TzifTail> parse_tzif(std::string_view b, std::string* error) {
  const auto fail = [&](const char* why) -> std::optional<TzifTail> {
    if (error != nullptr) *error = std::string("TZif file: ") + why;
    return std::nullopt;
  };
  constexpr std::size_t kHeader = 44;
  // Sizes of the data block that follows a header at `at`, with `time_size`-byte times.
  const auto block = [&](std::size_t at, std::uint64_t time_size, std::uint64_t* size, std::uint64_t* timecnt) {
    if (b.size() < at || b.size() - at < kHeader || b.substr(at, 4) != "TZif") return false;
    std::array<std::uint64_t, 6> c{};
    for (std::size_t i = 0; i < 6; ++i) c[i] = static_cast<std::uint32_t>(detail::read_be(b, at + 20 + 4 * i, 4));
    const auto [isut, isstd, leap, tc, types, chars] = c;
    *timecnt = tc;
    *size = tc * time_size + tc + types * 6 + chars + leap * (time_size + 4) + isstd + isut;
    return *size <= b.size() - at - kHeader;
  };
  std::uint64_t size1 = 0, tc1 = 0;
  if (!block(0, 4, &size1, &tc1)) return fail("bad or truncated header");
  if (b[4] < '2') return TzifTail{};  // version 1: no 64-bit data, no footer
  const std::size_t at2 = kHeader + static_cast<std::size_t>(size1);
  std::uint64_t size2 = 0, tc2 = 0;
  if (!block(at2, 8, &size2, &tc2)) return fail("bad or truncated version 2 header");
  TzifTail tail;
  if (tc2 > 0) tail.last_transition = Instant(std::chrono::seconds(detail::read_be(b, at2 + kHeader + (tc2 - 1) * 8, 8)));
  const std::size_t foot = at2 + kHeader + static_cast<std::size_t>(size2);
  if (foot >= b.size() || b[foot] != '\n') return fail("missing footer");
  const std::size_t close = b.find('\n', foot + 1);
  if (close == std::string_view::npos) return fail("unterminated footer");
  tail.footer = std::string(b.substr(foot + 1, close - foot - 1));
  return tail;
}

}  // namespace dihya::tz
