// SPDX-License-Identifier: AGPL-3.0-or-later
// The cron engine of the scheduler (sdk/support/include/dihya/cron.hpp): syntax, the
// Vixie DOM/DOW rule, leap days and the DST rule in two zones.
#include <catch2/catch.hpp>

#include <dihya/cron.hpp>

namespace {

using dihya::cron::CronError;

// The next `count` fire times after `after` (an ISO time), as ISO with offsets.
std::vector<std::string> next(const std::string& expr, const std::string& zone_name, const std::string& after,
                              int count) {
  const auto* tz = dihya::cron::zone(zone_name);
  const auto e = dihya::cron::parse(expr);
  auto t = dihya::cron::parse_iso(after, tz);
  std::vector<std::string> out;
  for (int i = 0; i < count; ++i) {
    auto n = dihya::cron::next_after(e, tz, t);
    REQUIRE(n);
    out.push_back(dihya::cron::format_iso(*n, tz));
    t = *n;
  }
  return out;
}

// How often "* * * * *" fires in `zone` in the two real hours after `from`
// (each fire strictly later than the one before).
int every_minute_fires(const char* zone, const char* from) {
  const auto* tz = dihya::cron::zone(zone);
  const auto e = dihya::cron::parse("* * * * *");
  auto t = dihya::cron::parse_iso(from, tz);
  const auto start = t;
  int fires = 0;
  while (true) {
    auto n = dihya::cron::next_after(e, tz, t);
    REQUIRE(n);
    REQUIRE(*n > t);
    if (*n > start + std::chrono::hours(2)) return fires;
    ++fires;
    t = *n;
  }
}

}  // namespace

TEST_CASE("cron: basic fields, steps, ranges, lists", "[cron]") {
  CHECK(next("*/15 * * * *", "UTC", "2026-01-01T00:07:00Z", 3) ==
        std::vector<std::string>{"2026-01-01T00:15:00+00:00", "2026-01-01T00:30:00+00:00", "2026-01-01T00:45:00+00:00"});
  CHECK(next("10-50/20 9,17 * * *", "UTC", "2026-01-01T00:00:00Z", 4) ==
        std::vector<std::string>{"2026-01-01T09:10:00+00:00", "2026-01-01T09:30:00+00:00", "2026-01-01T09:50:00+00:00",
                                 "2026-01-01T17:10:00+00:00"});
  CHECK(next("5/20 0 * * *", "UTC", "2026-01-01T00:00:00Z", 3) ==
        std::vector<std::string>{"2026-01-01T00:05:00+00:00", "2026-01-01T00:25:00+00:00", "2026-01-01T00:45:00+00:00"});
  // Strictly after: a fire time equal to `after` is not returned.
  CHECK(next("0 * * * *", "UTC", "2026-01-01T10:00:00Z", 1) == std::vector<std::string>{"2026-01-01T11:00:00+00:00"});
}

TEST_CASE("cron: month and day names, 7 is Sunday", "[cron]") {
  // 2026-01-01 is a Thursday.
  CHECK(next("0 12 * JAN-feb mon-FRI", "UTC", "2026-01-01T13:00:00Z", 2) ==
        std::vector<std::string>{"2026-01-02T12:00:00+00:00", "2026-01-05T12:00:00+00:00"});
  CHECK(next("0 0 * * 7", "UTC", "2026-01-01T00:00:00Z", 1) == std::vector<std::string>{"2026-01-04T00:00:00+00:00"});
  CHECK(next("0 0 * * sun", "UTC", "2026-01-01T00:00:00Z", 1) == std::vector<std::string>{"2026-01-04T00:00:00+00:00"});
  CHECK(next("0 0 1 dec *", "UTC", "2026-01-01T00:00:00Z", 1) == std::vector<std::string>{"2026-12-01T00:00:00+00:00"});
}

TEST_CASE("cron: macros", "[cron]") {
  CHECK(next("@hourly", "UTC", "2026-01-01T00:30:00Z", 1) == std::vector<std::string>{"2026-01-01T01:00:00+00:00"});
  CHECK(next("@daily", "UTC", "2026-01-01T00:30:00Z", 1) == std::vector<std::string>{"2026-01-02T00:00:00+00:00"});
  CHECK(next("@weekly", "UTC", "2026-01-01T00:30:00Z", 1) == std::vector<std::string>{"2026-01-04T00:00:00+00:00"});
  CHECK(next("@monthly", "UTC", "2026-01-01T00:30:00Z", 1) == std::vector<std::string>{"2026-02-01T00:00:00+00:00"});
  CHECK(next("@yearly", "UTC", "2026-01-01T00:30:00Z", 1) == std::vector<std::string>{"2027-01-01T00:00:00+00:00"});
  CHECK(next("@ANNUALLY", "UTC", "2026-01-01T00:30:00Z", 1) == std::vector<std::string>{"2027-01-01T00:00:00+00:00"});
}

TEST_CASE("cron: Vixie OR rule when both day fields are restricted", "[cron]") {
  // The 13th OR any Friday; January 2026: Fri 2, Fri 9, Tue 13, Fri 16.
  CHECK(next("0 0 13 * 5", "UTC", "2026-01-01T00:00:00Z", 4) ==
        std::vector<std::string>{"2026-01-02T00:00:00+00:00", "2026-01-09T00:00:00+00:00", "2026-01-13T00:00:00+00:00",
                                 "2026-01-16T00:00:00+00:00"});
  // A star-prefixed day field makes it AND: odd days that are Fridays (2026-01-09 is a Friday, 9 odd).
  CHECK(next("0 0 */2 * 5", "UTC", "2026-01-01T00:00:00Z", 2) ==
        std::vector<std::string>{"2026-01-09T00:00:00+00:00", "2026-01-23T00:00:00+00:00"});
  // Day of week unrestricted: only the day of month counts.
  CHECK(next("0 0 13 * *", "UTC", "2026-01-01T00:00:00Z", 1) == std::vector<std::string>{"2026-01-13T00:00:00+00:00"});
}

TEST_CASE("cron: leap day", "[cron]") {
  CHECK(next("0 0 29 2 *", "UTC", "2026-01-01T00:00:00Z", 3) ==
        std::vector<std::string>{"2028-02-29T00:00:00+00:00", "2032-02-29T00:00:00+00:00", "2036-02-29T00:00:00+00:00"});
  // 2100 is not a leap year: 2096 is followed by 2104 (offsets frozen past 2037, UTC has none).
  CHECK(next("0 0 29 2 *", "UTC", "2096-03-01T00:00:00Z", 1) == std::vector<std::string>{"2104-02-29T00:00:00+00:00"});
  CHECK(next("0 0 31 * *", "UTC", "2026-04-01T00:00:00Z", 1) == std::vector<std::string>{"2026-05-31T00:00:00+00:00"});
}

TEST_CASE("cron: DST in Europe/Paris", "[cron][dst]") {
  // Spring forward 2026-03-29 02:00 CET -> 03:00 CEST: 02:30 does not exist and fires at 03:00 CEST.
  CHECK(next("30 2 * * *", "Europe/Paris", "2026-03-28T12:00:00Z", 3) ==
        std::vector<std::string>{"2026-03-29T03:00:00+02:00", "2026-03-30T02:30:00+02:00", "2026-03-31T02:30:00+02:00"});
  // Several gap times (02:00, 02:15, 02:30, 02:45) and 03:00 itself collapse into one run at 03:00.
  CHECK(next("*/15 2-3 * * *", "Europe/Paris", "2026-03-29T00:50:00Z", 4) ==
        std::vector<std::string>{"2026-03-29T03:00:00+02:00", "2026-03-29T03:15:00+02:00", "2026-03-29T03:30:00+02:00",
                                 "2026-03-29T03:45:00+02:00"});
  // Fall back 2026-10-25 03:00 CEST -> 02:00 CET: 02:30 happens twice and fires once, the first time.
  CHECK(next("30 2 * * *", "Europe/Paris", "2026-10-24T12:00:00Z", 2) ==
        std::vector<std::string>{"2026-10-25T02:30:00+02:00", "2026-10-26T02:30:00+01:00"});
  // Hourly across the fall-back: the repeated 02:00 fires only at its first occurrence.
  CHECK(next("0 * * * *", "Europe/Paris", "2026-10-24T22:30:00Z", 4) ==
        std::vector<std::string>{"2026-10-25T01:00:00+02:00", "2026-10-25T02:00:00+02:00", "2026-10-25T03:00:00+01:00",
                                 "2026-10-25T04:00:00+01:00"});
  // Asked from inside the second 02:xx hour, the already fired 02:30 is not repeated.
  CHECK(next("30 2 * * *", "Europe/Paris", "2026-10-25T01:10:00Z", 1) ==
        std::vector<std::string>{"2026-10-26T02:30:00+01:00"});
  // Every minute never doubles nor loses across the fall-back: 60 + 60 distinct minutes over two real hours.
  // The repeated hour's second pass (01:00Z..02:00Z local 02:xx CET) matches times already fired.
  CHECK(every_minute_fires("Europe/Paris", "2026-10-25T00:00:00Z") == 60);
}

TEST_CASE("cron: DST in America/New_York", "[cron][dst]") {
  // Spring forward 2026-03-08 02:00 EST -> 03:00 EDT.
  CHECK(next("30 2 * * *", "America/New_York", "2026-03-07T12:00:00Z", 2) ==
        std::vector<std::string>{"2026-03-08T03:00:00-04:00", "2026-03-09T02:30:00-04:00"});
  // Fall back 2026-11-01 02:00 EDT -> 01:00 EST: 01:30 happens twice, fires at the first (EDT).
  CHECK(next("30 1 * * *", "America/New_York", "2026-10-31T12:00:00Z", 2) ==
        std::vector<std::string>{"2026-11-01T01:30:00-04:00", "2026-11-02T01:30:00-05:00"});
  CHECK(next("0,30 1 1 11 *", "America/New_York", "2026-10-31T12:00:00Z", 2) ==
        std::vector<std::string>{"2026-11-01T01:00:00-04:00", "2026-11-01T01:30:00-04:00"});
}

TEST_CASE("cron: ISO times", "[cron]") {
  const auto* paris = dihya::cron::zone("Europe/Paris");
  CHECK(dihya::cron::format_iso(dihya::cron::parse_iso("2026-07-01T12:00:00+02:00", paris), paris) ==
        "2026-07-01T12:00:00+02:00");
  CHECK(dihya::cron::format_iso(dihya::cron::parse_iso("2026-07-01T10:00Z", paris), paris) == "2026-07-01T12:00:00+02:00");
  CHECK(dihya::cron::format_iso(dihya::cron::parse_iso("2026-07-01", paris), paris) == "2026-07-01T00:00:00+02:00");
  CHECK(dihya::cron::format_iso(dihya::cron::parse_iso("2026-07-01T12:00:00.250Z", paris), paris) ==
        "2026-07-01T14:00:00+02:00");
  // A leap second is the last second of its minute: the midnight after it is
  // the next fire time of a daily schedule (it read as that midnight, and the
  // next fire time was a day later).
  const auto* utc = dihya::cron::zone("UTC");
  CHECK(dihya::cron::format_iso(dihya::cron::parse_iso("2026-12-31T23:59:60Z", utc), utc) == "2026-12-31T23:59:59+00:00");
  CHECK(next("0 0 * * *", "UTC", "2026-12-31T23:59:60Z", 1) == std::vector<std::string>{"2027-01-01T00:00:00+00:00"});
  for (const char* bad : {"", "2026", "2026-13-01", "2026-02-30", "2026-01-01T25:00", "2026-01-01T10:00+2", "yesterday",
                          "2026-01-01T10:00:00Zjunk",
                          // signs and blanks where digits belong (sscanf's %d took them: "+9" was day 9,
                          // "T-1:30" the day before at 23:30, "+-5:00" an offset of the other sign)
                          "2026-03-+9", " 202-01-01", "2026-01-01T-1:30", "2026-01-01T10: 5", "2026-01-01T10:00:-1",
                          "2026-01-01T10:00+-5:00", "2026-01-01T10:00+05: 0"}) {
    CAPTURE(bad);
    CHECK_THROWS_AS(dihya::cron::parse_iso(bad, paris), CronError);
  }
}

TEST_CASE("cron: bad expressions are refused with a clear reason", "[cron]") {
  const auto msg = [](const char* text) {
    try {
      dihya::cron::parse(text);
    } catch (const CronError& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  CHECK(msg("* * * *") == "expected 5 fields (minute hour day-of-month month day-of-week), got 4");
  CHECK(msg("60 * * * *") == "minute field: 60 is out of range 0-59");
  CHECK(msg("* 24 * * *") == "hour field: 24 is out of range 0-23");
  CHECK(msg("* * 0 * *") == "day-of-month field: 0 is out of range 1-31");
  CHECK(msg("* * * 13 *") == "month field: 13 is out of range 1-12");
  CHECK(msg("* * * * 8") == "day-of-week field: 8 is out of range 0-7");
  CHECK(msg("* * * foo *") == "month field: unknown name 'foo'");
  CHECK(msg("*/0 * * * *") == "minute field: step 0 is out of range 1-59");
  CHECK(msg("5-1 * * * *") == "minute field: range '5-1' goes backwards");
  CHECK(msg("1,,2 * * * *") == "minute field: empty list item in '1,,2'");
  CHECK(msg("0 0 30 2 *") == "'0 0 30 2 *' never fires: no such day in the selected months");
  CHECK(msg("@reboot") == "unknown macro '@reboot' (expected @yearly, @monthly, @weekly, @daily or @hourly)");
  CHECK(msg("a-b * * * *") == "minute field: 'a' is not a number");
  CHECK(msg("* * * * * *") == "expected 5 fields (minute hour day-of-month month day-of-week), got 6");
  CHECK(msg("-1 * * * *") == "minute field: empty value");
  // Seconds only where allowed (tests).
  const auto e = dihya::cron::parse("*/10 * * * * *", true);
  CHECK(e.has_seconds);
  CHECK(e.seconds.count() == 6);
  CHECK_THROWS_WITH(dihya::cron::zone("Mars/Olympus"),
                    "unknown time zone 'Mars/Olympus' (expected an IANA name like Europe/Paris)");
  CHECK_THROWS_AS(dihya::cron::zone("../../etc/passwd"), CronError);
}

TEST_CASE("cron: only zones of the tz database, not files beside them", "[cron]") {
  // localtime (each machine's /etc/localtime) was accepted and stored.
  for (const char* name : {"localtime", "posixrules", "right/UTC", "posix/Europe/Paris"}) {
    CAPTURE(name);
    CHECK_THROWS_AS(dihya::cron::zone(name), CronError);
  }
  CHECK_THROWS_WITH(dihya::cron::zone("localtime"), Catch::Contains("not a zone"));
  for (const char* name : {"UTC", "Europe/Paris", "US/Eastern", "EST5EDT", "Etc/GMT+5"}) {
    CAPTURE(name);
    CHECK_NOTHROW(dihya::cron::zone(name));
  }
}

// After the last transition of the TZif table (2037-11-01 in Debian's files)
// offsets come from the file's POSIX footer. Expected values: glibc, which
// reads the footer (`zdump -v -c 2040,2041 ZONE`, `TZ=ZONE date -d ...`).
TEST_CASE("cron: offsets after 2037 follow the zone's rule", "[cron][dst]") {
  CHECK(next("0 12 1 7 *", "America/New_York", "2038-01-01T00:00:00Z", 1) ==
        std::vector<std::string>{"2038-07-01T12:00:00-04:00"});  // was -05:00 before the footer was read
  CHECK(next("0 12 15 1,7 *", "America/New_York", "2040-01-01T00:00:00Z", 2) ==
        std::vector<std::string>{"2040-01-15T12:00:00-05:00", "2040-07-15T12:00:00-04:00"});
  CHECK(next("0 12 15 1,7 *", "America/New_York", "2100-01-01T00:00:00Z", 2) ==
        std::vector<std::string>{"2100-01-15T12:00:00-05:00", "2100-07-15T12:00:00-04:00"});
  CHECK(next("0 12 15 1,7 *", "Europe/Paris", "2100-01-01T00:00:00Z", 2) ==
        std::vector<std::string>{"2100-01-15T12:00:00+01:00", "2100-07-15T12:00:00+02:00"});
  CHECK(next("0 12 15 1,7 *", "Australia/Sydney", "2040-01-01T00:00:00Z", 2) ==
        std::vector<std::string>{"2040-01-15T12:00:00+11:00", "2040-07-15T12:00:00+10:00"});
  CHECK(next("0 12 15 1,7 *", "Australia/Sydney", "2100-01-01T00:00:00Z", 2) ==
        std::vector<std::string>{"2100-01-15T12:00:00+11:00", "2100-07-15T12:00:00+10:00"});
  CHECK(next("0 12 15 1,7 *", "Asia/Tokyo", "2100-01-01T00:00:00Z", 2) ==
        std::vector<std::string>{"2100-01-15T12:00:00+09:00", "2100-07-15T12:00:00+09:00"});
  const auto* ny = dihya::cron::zone("America/New_York");
  CHECK(dihya::cron::format_iso(dihya::cron::parse_iso("2040-07-15T12:00:00Z", ny), ny) == "2040-07-15T08:00:00-04:00");
}

// The DST rule of the current years (tests above) holds in 2040 and 2100.
TEST_CASE("cron: DST gaps and overlaps after 2037", "[cron][dst]") {
  // New York 2040: spring forward 03-11 02:00 EST, fall back 11-04 02:00 EDT (zdump).
  CHECK(next("30 2 * * *", "America/New_York", "2040-03-10T12:00:00Z", 2) ==
        std::vector<std::string>{"2040-03-11T03:00:00-04:00", "2040-03-12T02:30:00-04:00"});
  CHECK(next("30 1 * * *", "America/New_York", "2040-11-03T12:00:00Z", 2) ==
        std::vector<std::string>{"2040-11-04T01:30:00-04:00", "2040-11-05T01:30:00-05:00"});
  // New York 2100: 03-14 and 11-07.
  CHECK(next("30 2 * * *", "America/New_York", "2100-03-13T12:00:00Z", 2) ==
        std::vector<std::string>{"2100-03-14T03:00:00-04:00", "2100-03-15T02:30:00-04:00"});
  CHECK(next("0,30 1 7 11 *", "America/New_York", "2100-11-06T12:00:00Z", 2) ==
        std::vector<std::string>{"2100-11-07T01:00:00-04:00", "2100-11-07T01:30:00-04:00"});
  // Paris 2040: 03-25 02:00 CET -> 03:00 CEST; 10-28 03:00 CEST -> 02:00 CET.
  CHECK(next("*/15 2-3 * * *", "Europe/Paris", "2040-03-25T00:50:00Z", 2) ==
        std::vector<std::string>{"2040-03-25T03:00:00+02:00", "2040-03-25T03:15:00+02:00"});
  CHECK(next("0 * * * *", "Europe/Paris", "2040-10-27T22:30:00Z", 4) ==
        std::vector<std::string>{"2040-10-28T01:00:00+02:00", "2040-10-28T02:00:00+02:00", "2040-10-28T03:00:00+01:00",
                                 "2040-10-28T04:00:00+01:00"});
  // Paris 2100: 10-31.
  CHECK(next("30 2 * * *", "Europe/Paris", "2100-10-30T12:00:00Z", 2) ==
        std::vector<std::string>{"2100-10-31T02:30:00+02:00", "2100-11-01T02:30:00+01:00"});
  // Sydney 2040: 04-01 03:00 AEDT -> 02:00 AEST (overlap); 10-07 02:00 AEST -> 03:00 AEDT (gap).
  CHECK(next("30 2 * * *", "Australia/Sydney", "2040-03-31T00:00:00Z", 2) ==
        std::vector<std::string>{"2040-04-01T02:30:00+11:00", "2040-04-02T02:30:00+10:00"});
  CHECK(next("30 2 * * *", "Australia/Sydney", "2040-10-06T00:00:00Z", 2) ==
        std::vector<std::string>{"2040-10-07T03:00:00+11:00", "2040-10-08T02:30:00+11:00"});
  // Every minute across the 2040 Paris fall-back: 60 distinct minutes in two real hours, as in 2026.
  CHECK(every_minute_fires("Europe/Paris", "2040-10-28T00:00:00Z") == 60);
}

// Property: around the hand-over from the table to the rule and in later
// years, every local time maps back to itself (or past its gap), and sys
// periods hold the instant asked for.
TEST_CASE("cron: zone periods are consistent across the table's end", "[cron][dst]") {
  for (const char* name : {"America/New_York", "Europe/Paris", "Australia/Sydney", "Asia/Tokyo", "UTC"}) {
    CAPTURE(name);
    const auto* tz = dihya::cron::zone(name);
    for (const char* from : {"2037-01-01T00:00:00Z", "2040-01-01T00:00:00Z"}) {
      auto t = dihya::cron::parse_iso(from, tz);
      for (int i = 0; i < 2 * 365 * 4; ++i, t += std::chrono::hours(6) + std::chrono::minutes(7)) {
        const auto info = tz->get_info(t);
        REQUIRE(info.begin <= t);
        REQUIRE(t < info.end);
        const date::local_seconds local{t.time_since_epoch() + info.offset};
        const auto back = dihya::cron::to_instant(local, tz);
        // Either t itself, or (t in the repeated hour's second pass) its first occurrence one DST step earlier.
        REQUIRE((back == t || (back < t && t - back <= std::chrono::hours(2))));
      }
    }
  }
}
