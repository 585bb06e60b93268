// SPDX-License-Identifier: AGPL-3.0-or-later
// Cron expressions and their fire times in an IANA time zone. SDK support
// (Dihya::cron, links date-tz), not plugin API: no stability promise. Header-only and
// shared by the host (`dihya-host schedule ...`) and the run_scheduler plugin,
// so both compute exactly the same instants. Time zones come from Howard
// Hinnant's date/tz reading the OS database (/usr/share/zoneinfo): link
// `date::date-tz` (Debian: libhowardhinnant-date-dev).
//
// Syntax: 5 fields "minute hour day-of-month month day-of-week", each a list
// of items separated by commas; an item is `*`, `N`, `A-B`, with an optional
// `/STEP` (`*/15`, `10-50/20`, `5/10` = `5-max/10`). Months take jan..dec and
// days of week sun..sat (case-insensitive); day of week 0 and 7 are Sunday.
// Macros: @yearly (@annually), @monthly, @weekly, @daily (@midnight), @hourly.
// When both day-of-month and day-of-week are restricted (neither starts with
// `*`), a day matches if EITHER matches (Vixie cron); otherwise both must.
// Parsing with `allow_seconds` (test use only) also accepts a 6th, leading,
// seconds field.
//
// DST, one rule for every expression: fire times are matched against local
// wall-clock time in the zone, then mapped to instants:
//  * a local time inside a spring-forward gap (it never happens) fires once, at
//    the first instant after the gap; several gap times collapse into that one
//    fire time (and into a match at the gap's end, if any);
//  * a local time that happens twice (fall-back) fires once, at its first
//    occurrence. An hourly job thus fires once in the repeated hour.
// No fire time is lost and none is doubled. date/tz reads the TZif
// transitions only; after the last one (2037 with Debian's files) the offsets
// come from the file's POSIX TZ footer (<dihya/tz_rule.hpp>), as in glibc.
#pragma once

#include <array>
#include <bitset>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <date/date.h>
#include <date/tz.h>

#include "dihya/error.hpp"
#include "dihya/tz_rule.hpp"

namespace dihya::cron {

using Instant = date::sys_seconds;

// A malformed expression, zone or time: the message is one line for the operator.
// A bad expression, time or zone: a dihya::Error, so a plugin that lets it
// through reports it to the operator as is.
class CronError : public Error {
 public:
  using Error::Error;
};

struct Expression {
  std::bitset<60> seconds;  // {0} unless a seconds field was given
  std::bitset<60> minutes;
  std::bitset<24> hours;
  std::bitset<32> days_of_month;  // 1..31
  std::bitset<13> months;         // 1..12
  std::bitset<7> days_of_week;    // 0 = Sunday
  bool dom_star = false;          // the field started with '*': not a restriction for the OR rule
  bool dow_star = false;
  bool has_seconds = false;
  std::string text;

  bool matches_day(const date::year_month_day& ymd) const {
    const bool dom = days_of_month.test(static_cast<unsigned>(ymd.day()));
    const bool dow = days_of_week.test(date::weekday(date::sys_days(ymd)).c_encoding());
    return (dom_star || dow_star) ? (dom && dow) : (dom || dow);
  }
};

namespace detail {

inline std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

struct FieldSpec {
  const char* name;
  int min;
  int max;
  const char* const* names;  // names[i] stands for min + i, or nullptr
  int name_count;
};

inline int parse_value(std::string_view token, const FieldSpec& spec) {
  if (token.empty()) throw CronError(std::string(spec.name) + " field: empty value");
  if (spec.names != nullptr && std::isalpha(static_cast<unsigned char>(token[0]))) {
    const std::string t = lower(token);
    for (int i = 0; i < spec.name_count; ++i) {
      if (t == spec.names[i]) return (spec.min == 1 ? 1 : 0) + i;
    }
    throw CronError(std::string(spec.name) + " field: unknown name '" + std::string(token) + "'");
  }
  if (token.size() > 4) throw CronError(std::string(spec.name) + " field: '" + std::string(token) + "' is out of range");
  int v = 0;
  for (char c : token) {
    if (!std::isdigit(static_cast<unsigned char>(c))) {
      throw CronError(std::string(spec.name) + " field: '" + std::string(token) + "' is not a number");
    }
    v = v * 10 + (c - '0');
  }
  if (v < spec.min || v > spec.max) {
    throw CronError(std::string(spec.name) + " field: " + std::to_string(v) + " is out of range " +
                    std::to_string(spec.min) + "-" + std::to_string(spec.max));
  }
  return v;
}

// Returns the set of values of one field (indexes min..max, as in the spec).
inline std::vector<bool> parse_field(std::string_view field, const FieldSpec& spec) {
  std::vector<bool> set(static_cast<std::size_t>(spec.max) + 1, false);
  if (field.empty()) throw CronError(std::string(spec.name) + " field is empty");
  std::size_t start = 0;
  while (start <= field.size()) {
    const std::size_t comma = field.find(',', start);
    const std::string_view item = field.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
    if (item.empty()) throw CronError(std::string(spec.name) + " field: empty list item in '" + std::string(field) + "'");
    std::string_view range = item;
    int step = 1;
    bool has_step = false;
    if (const auto slash = item.find('/'); slash != std::string_view::npos) {
      range = item.substr(0, slash);
      const std::string_view s = item.substr(slash + 1);
      if (s.empty() || s.size() > 4 || s.find_first_not_of("0123456789") != std::string_view::npos) {
        throw CronError(std::string(spec.name) + " field: bad step in '" + std::string(item) + "'");
      }
      step = std::stoi(std::string(s));
      if (step < 1 || step > spec.max) {
        throw CronError(std::string(spec.name) + " field: step " + std::string(s) + " is out of range 1-" + std::to_string(spec.max));
      }
      has_step = true;
    }
    int lo = spec.min;
    int hi = spec.max;
    if (range != "*") {
      const auto dash = range.find('-');
      if (dash == std::string_view::npos) {
        lo = parse_value(range, spec);
        hi = has_step ? spec.max : lo;  // "5/10" means 5-max/10
      } else {
        lo = parse_value(range.substr(0, dash), spec);
        hi = parse_value(range.substr(dash + 1), spec);
        if (lo > hi) {
          throw CronError(std::string(spec.name) + " field: range '" + std::string(range) + "' goes backwards");
        }
      }
    }
    for (int v = lo; v <= hi; v += step) set[static_cast<std::size_t>(v)] = true;
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return set;
}

template <std::size_t N>
std::bitset<N> to_bits(const std::vector<bool>& v) {
  std::bitset<N> b;
  for (std::size_t i = 0; i < v.size() && i < N; ++i) b[i] = v[i];
  return b;
}

inline constexpr const char* kMonthNames[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                              "jul", "aug", "sep", "oct", "nov", "dec"};
inline constexpr const char* kDayNames[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};

}  // namespace detail

// Parses `text`; throws CronError with a one-line reason.
inline Expression parse(std::string_view text, bool allow_seconds = false) {
  std::vector<std::string> fields;
  {
    std::string cur;
    for (char c : text) {
      if (std::isspace(static_cast<unsigned char>(c))) {
        if (!cur.empty()) fields.push_back(std::move(cur)), cur.clear();
      } else {
        cur += c;
      }
    }
    if (!cur.empty()) fields.push_back(std::move(cur));
  }
  if (fields.size() == 1 && !fields[0].empty() && fields[0][0] == '@') {
    static const std::array<std::pair<const char*, const char*>, 7> kMacros{{{"@yearly", "0 0 1 1 *"},
                                                                             {"@annually", "0 0 1 1 *"},
                                                                             {"@monthly", "0 0 1 * *"},
                                                                             {"@weekly", "0 0 * * 0"},
                                                                             {"@daily", "0 0 * * *"},
                                                                             {"@midnight", "0 0 * * *"},
                                                                             {"@hourly", "0 * * * *"}}};
    const std::string m = detail::lower(fields[0]);
    for (const auto& [name, expansion] : kMacros) {
      if (m == name) {
        Expression e = parse(expansion);
        e.text = fields[0];
        return e;
      }
    }
    throw CronError("unknown macro '" + fields[0] + "' (expected @yearly, @monthly, @weekly, @daily or @hourly)");
  }
  const bool with_seconds = allow_seconds && fields.size() == 6;
  if (fields.size() != 5 && !with_seconds) {
    throw CronError("expected 5 fields (minute hour day-of-month month day-of-week), got " +
                    std::to_string(fields.size()));
  }
  const std::size_t o = with_seconds ? 1 : 0;
  Expression e;
  e.text = std::string(text);
  e.has_seconds = with_seconds;
  if (with_seconds) {
    e.seconds = detail::to_bits<60>(detail::parse_field(fields[0], {"second", 0, 59, nullptr, 0}));
  } else {
    e.seconds.set(0);
  }
  e.minutes = detail::to_bits<60>(detail::parse_field(fields[o + 0], {"minute", 0, 59, nullptr, 0}));
  e.hours = detail::to_bits<24>(detail::parse_field(fields[o + 1], {"hour", 0, 23, nullptr, 0}));
  e.days_of_month = detail::to_bits<32>(detail::parse_field(fields[o + 2], {"day-of-month", 1, 31, nullptr, 0}));
  e.months = detail::to_bits<13>(detail::parse_field(fields[o + 3], {"month", 1, 12, detail::kMonthNames, 12}));
  const auto dow = detail::parse_field(fields[o + 4], {"day-of-week", 0, 7, detail::kDayNames, 7});
  for (std::size_t d = 0; d < 7; ++d) e.days_of_week[d] = dow[d];
  if (dow[7]) e.days_of_week[0] = true;  // 7 is Sunday too
  e.dom_star = fields[o + 2][0] == '*';
  e.dow_star = fields[o + 4][0] == '*';
  // An expression that can never fire (e.g. "0 0 30 2 *") is a mistake: say so now.
  if (e.dom_star || e.dow_star) {
    static constexpr int kMaxDays[13] = {0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool possible = false;
    for (int m = 1; m <= 12 && !possible; ++m) {
      if (!e.months[static_cast<std::size_t>(m)]) continue;
      for (int d = 1; d <= kMaxDays[m] && !possible; ++d) possible = e.days_of_month[static_cast<std::size_t>(d)];
    }
    if (!possible) throw CronError("'" + e.text + "' never fires: no such day in the selected months");
  }
  return e;
}

// An IANA zone: date/tz's transitions, then the TZif footer's rule after the
// last of them. Immutable once built; get_info() answers like date::time_zone.
class Zone {
 public:
  Zone(const date::time_zone* tz, std::optional<tz::PosixRule> rule, std::optional<Instant> rule_from)
      : tz_(tz), rule_(std::move(rule)), rule_from_(rule_from) {}

  const std::string& name() const { return tz_->name(); }

  date::sys_info get_info(Instant t) const {
    if (rule_ && (!rule_from_ || t >= *rule_from_)) {
      auto info = tz::info_at(*rule_, t);
      if (rule_from_ && info.begin < *rule_from_) info.begin = *rule_from_;
      return info;
    }
    auto info = tz_->get_info(t);
    if (rule_ && rule_from_ && info.end > *rule_from_) info.end = *rule_from_;
    return info;
  }

  // The periods a local time falls in: one (unique), two (ambiguous, first
  // the earlier) or none (nonexistent: first ends where the gap begins).
  date::local_info get_info(date::local_seconds l) const {
    using std::chrono::hours;
    const Instant probe{l.time_since_epoch()};
    // UTC offsets stay within ±26 h, so only periods overlapping that window can hold l.
    if (!rule_ || (rule_from_ && probe + hours(26) < *rule_from_)) return tz_->get_info(l);
    date::local_info out{};
    date::sys_info before{};
    bool have_before = false;
    int found = 0;
    auto p = get_info(probe - hours(26));
    for (int i = 0; i < 16; ++i) {
      const Instant at = probe - p.offset;  // l read with this period's offset
      if (p.begin <= at && at < p.end) {
        (found == 0 ? out.first : out.second) = p;
        ++found;
      } else if (at >= p.end) {
        before = p;
        have_before = true;
      } else if (found == 0 && have_before) {
        out.result = date::local_info::nonexistent;
        out.first = before;
        out.second = p;
        return out;
      }
      if (p.end == Instant::max() || p.end > probe + hours(26)) break;
      p = get_info(p.end);
    }
    if (found == 0) return tz_->get_info(l);  // not reachable with offsets within ±26 h; never a zero offset
    out.result = found >= 2 ? date::local_info::ambiguous : date::local_info::unique;
    return out;
  }

 private:
  const date::time_zone* tz_;
  std::optional<tz::PosixRule> rule_;
  std::optional<Instant> rule_from_;  // the last TZif transition; none: the rule rules all time
};

namespace detail {

// The footer rule of the zone's TZif file, if it has a usable one. date/tz
// reads the same directory (Debian builds it with the OS tzdb).
inline std::pair<std::optional<tz::PosixRule>, std::optional<Instant>> footer_rule(const std::string& name) {
  std::ifstream in("/usr/share/zoneinfo/" + name, std::ios::binary);
  std::string bytes;
  char buf[4096];
  while (in && bytes.size() < (1u << 20)) {
    in.read(buf, sizeof buf);
    bytes.append(buf, static_cast<std::size_t>(in.gcount()));
  }
  const auto tail = tz::parse_tzif(bytes, nullptr);
  if (!tail || tail->footer.empty()) return {};
  auto rule = tz::parse_posix_tz(tail->footer, nullptr);
  if (!rule) return {};
  return {std::move(rule), tail->last_transition};
}

}  // namespace detail

// The zone named `name` ("Europe/Paris", "UTC"); throws CronError if unknown.
// The pointer stays valid for the life of the process (zones are built once
// and kept, like date/tz's own database); thread-safe.
inline const Zone* zone(const std::string& name) {
  if (name.empty() || name.size() > 64 || name.find("..") != std::string::npos) {
    throw CronError("unknown time zone '" + name.substr(0, 64) + "' (expected an IANA name like Europe/Paris)");
  }
  // Files a zoneinfo directory holds beside the zones: `localtime` is each
  // machine's own /etc/localtime (a schedule stored with it fired at another
  // hour on each machine that ran it), `posixrules` the default of POSIX TZ
  // strings, posix/ and right/ copies of the zones (right/ counting leap
  // seconds). date/tz skips some of them, by its version's list: all are refused here.
  if (name == "localtime" || name == "posixrules" || name.rfind("posix/", 0) == 0 || name.rfind("right/", 0) == 0) {
    throw CronError("time zone '" + name.substr(0, 64) +
                    "' is a file of the zone directory, not a zone: each machine may read it differently "
                    "(expected an IANA name like Europe/Paris)");
  }
  const date::time_zone* tz = nullptr;
  try {
    tz = date::locate_zone(name);
  } catch (const std::exception&) {
    throw CronError("unknown time zone '" + name + "' (expected an IANA name like Europe/Paris)");
  }
  // Keyed by date/tz's canonical names, so bounded by the zone database.
  static std::mutex mu;
  static std::map<std::string, std::unique_ptr<const Zone>> zones;
  const std::lock_guard<std::mutex> lock(mu);
  auto& z = zones[tz->name()];
  if (!z) {
    auto [rule, from] = detail::footer_rule(tz->name());
    z = std::make_unique<const Zone>(tz, std::move(rule), from);
  }
  return z.get();
}

// The instant a local time stands for, by the DST rule above.
inline Instant to_instant(date::local_seconds local, const Zone* tz) {
  const auto info = tz->get_info(local);
  switch (info.result) {
    case date::local_info::nonexistent:
      return std::chrono::time_point_cast<std::chrono::seconds>(info.first.end);  // first instant after the gap
    case date::local_info::ambiguous:
    case date::local_info::unique:
    default:
      return Instant{local.time_since_epoch() - info.first.offset};  // the first occurrence
  }
}

// The first fire time strictly after `after`, or nullopt if none in the next
// 400 years.
inline std::optional<Instant> next_after(const Expression& e, const Zone* tz, Instant after) {
  using namespace std::chrono;
  const auto offset = tz->get_info(after).offset;
  date::local_seconds l{after.time_since_epoch() + offset};
  if (!e.has_seconds) l = floor<minutes>(l);
  const auto limit_year = date::year_month_day(floor<date::days>(l)).year() + date::years(400);
  // Candidates are visited in local order; mapping local->instant is
  // monotonic, so the first candidate whose instant is after `after` is the answer.
  for (;;) {
    const auto day = floor<date::days>(l);
    const date::year_month_day ymd(day);
    if (ymd.year() > limit_year) return std::nullopt;
    if (!e.months[static_cast<unsigned>(ymd.month())]) {
      const auto next_month = date::year_month{ymd.year(), ymd.month()} + date::months(1);
      l = date::local_seconds(date::local_days(next_month / 1));
      continue;
    }
    if (!e.matches_day(ymd)) {
      l = date::local_seconds(day + date::days(1));
      continue;
    }
    const auto tod = l - date::local_seconds(day);
    const auto h = duration_cast<hours>(tod);
    const auto m = duration_cast<minutes>(tod - h);
    const auto s = duration_cast<seconds>(tod - h - m);
    if (!e.hours[static_cast<std::size_t>(h.count())]) {
      l = date::local_seconds(day) + h + hours(1);
      continue;
    }
    if (!e.minutes[static_cast<std::size_t>(m.count())]) {
      l = date::local_seconds(day) + h + m + minutes(1);
      continue;
    }
    if (!e.seconds[static_cast<std::size_t>(s.count())]) {
      l += seconds(1);
      continue;
    }
    const Instant at = to_instant(l, tz);
    if (at > after) return at;
    l += e.has_seconds ? seconds(1) : seconds(60);
  }
}

// "2026-03-29T03:00:00+02:00": the instant as local time in `tz` with its offset.
inline std::string format_iso(Instant t, const Zone* tz) {
  const auto info = tz->get_info(t);
  const auto local = date::local_seconds(t.time_since_epoch() + info.offset);
  const auto day = std::chrono::floor<date::days>(local);
  const date::year_month_day ymd(day);
  const date::hh_mm_ss<std::chrono::seconds> hms(local - date::local_seconds(day));
  const int off = static_cast<int>(info.offset.count());
  const int a = off < 0 ? -off : off;
  char buf[128];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02d%c%02d:%02d", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()) % 100, static_cast<unsigned>(ymd.day()) % 100,
                static_cast<int>(hms.hours().count()) % 100, static_cast<int>(hms.minutes().count()) % 100,
                static_cast<int>(hms.seconds().count()) % 100, off < 0 ? '-' : '+', (a / 3600) % 100, (a % 3600) / 60);
  return buf;
}

// Parses "YYYY-MM-DD", "YYYY-MM-DDTHH:MM[:SS[.fff]]" with "Z", "+HH:MM" or no
// offset; without an offset the time is local to `tz` (DST rule above). A
// leap second, :60, reads as :59 of its minute.
inline Instant parse_iso(const std::string& text, const Zone* tz) {
  const auto bad = [&] {
    return CronError("'" + text.substr(0, 64) + "' is not an ISO-8601 time (e.g. 2026-03-29T01:30:00Z)");
  };
  // sscanf's %d also takes a sign and leading blanks ("2026-01-+9", "T-1:30"): digits are checked first.
  const auto digits_at = [&](std::size_t at, std::size_t count) {
    if (at + count > text.size()) return false;
    for (std::size_t i = at; i < at + count; ++i) {
      if (!std::isdigit(static_cast<unsigned char>(text[i]))) return false;
    }
    return true;
  };
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0, n = 0;
  if (!digits_at(0, 4) || !digits_at(5, 2) || !digits_at(8, 2) ||
      std::sscanf(text.c_str(), "%4d-%2d-%2d%n", &y, &mo, &d, &n) != 3 || n != 10) {
    throw bad();
  }
  std::size_t pos = 10;
  if (pos < text.size() && (text[pos] == 'T' || text[pos] == ' ')) {
    int n2 = 0;
    if (!digits_at(pos + 1, 2) || !digits_at(pos + 4, 2) ||
        std::sscanf(text.c_str() + pos + 1, "%2d:%2d%n", &h, &mi, &n2) != 2 || n2 != 5) {
      throw bad();
    }
    pos += 6;
    if (pos < text.size() && text[pos] == ':') {
      if (!digits_at(pos + 1, 2) || std::sscanf(text.c_str() + pos + 1, "%2d%n", &s, &n2) != 1 || n2 != 2) throw bad();
      pos += 3;
      if (pos < text.size() && text[pos] == '.') {
        ++pos;
        while (pos < text.size() && std::isdigit(static_cast<unsigned char>(text[pos]))) ++pos;  // sub-seconds dropped
      }
    }
  }
  const date::year_month_day ymd{date::year(y), date::month(static_cast<unsigned>(mo)), date::day(static_cast<unsigned>(d))};
  if (!ymd.ok() || h > 23 || mi > 59 || s > 60) throw bad();
  // A leap second (23:59:60) still belongs to its minute, which the epoch's
  // seconds have no room for: read as :59, not as the next minute's :00,
  // which "after" it skipped the midnight that follows.
  if (s == 60) s = 59;
  const auto local = date::local_seconds(date::local_days(ymd)) + std::chrono::hours(h) + std::chrono::minutes(mi) +
                     std::chrono::seconds(s);
  if (pos == text.size()) return to_instant(local, tz);
  if (text[pos] == 'Z' && pos + 1 == text.size()) return Instant{local.time_since_epoch()};
  int oh = 0, om = 0, n3 = 0;
  if ((text[pos] == '+' || text[pos] == '-') && digits_at(pos + 1, 2) && digits_at(pos + 4, 2) &&
      std::sscanf(text.c_str() + pos + 1, "%2d:%2d%n", &oh, &om, &n3) == 2 && n3 == 5 &&
      pos + 6 == text.size() && oh <= 23 && om <= 59) {
    const auto off = std::chrono::hours(oh) + std::chrono::minutes(om);
    return Instant{local.time_since_epoch() - (text[pos] == '-' ? -off : off)};
  }
  throw bad();
}

}  // namespace dihya::cron
