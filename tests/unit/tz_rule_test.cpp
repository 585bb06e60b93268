// SPDX-License-Identifier: AGPL-3.0-or-later
// The POSIX TZ rule of TZif footers (sdk/support/include/dihya/tz_rule.hpp): every
// form RFC 8536 allows, and the offsets it gives after the table ends.
// Expected instants were computed once with glibc 2.36 (which reads the
// footer) on Debian 12, tzdata 2025b: `zdump -v -c 2040,2041 ZONE` for the
// zones, `TZ='RULE' date -d 2040-03-23T00:00Z +%z` for the hand-written rules.
#include <catch2/catch.hpp>

#include <dihya/tz_rule.hpp>

namespace {

using dihya::tz::Instant;
using dihya::tz::PosixRule;

Instant at(int y, unsigned m, unsigned d, int h, int mi = 0, int s = 0) {
  return Instant(date::sys_days(date::year(y) / date::month(m) / date::day(d))) + std::chrono::hours(h) +
         std::chrono::minutes(mi) + std::chrono::seconds(s);
}

PosixRule rule(const char* text) {
  std::string error;
  auto r = dihya::tz::parse_posix_tz(text, &error);
  INFO(error);
  REQUIRE(r);
  return *r;
}

long offset(const PosixRule& r, Instant t) { return static_cast<long>(dihya::tz::info_at(r, t).offset.count()); }

}  // namespace

TEST_CASE("tz rule: Mm.w.d with the default 02:00 (America/New_York)", "[tz]") {
  const auto r = rule("EST5EDT,M3.2.0,M11.1.0");
  CHECK(r.std_offset == -18000);
  CHECK(r.dst_offset == -14400);
  // zdump: 2040-03-11 07:00:00 UT = 03:00 EDT; 2040-11-04 06:00:00 UT = 01:00 EST.
  CHECK(offset(r, at(2040, 3, 11, 6, 59, 59)) == -18000);
  CHECK(offset(r, at(2040, 3, 11, 7)) == -14400);
  CHECK(offset(r, at(2040, 11, 4, 5, 59, 59)) == -14400);
  CHECK(offset(r, at(2040, 11, 4, 6)) == -18000);
  // zdump: 2100-03-14 07:00:00 UT and 2100-11-07 06:00:00 UT.
  CHECK(offset(r, at(2100, 3, 14, 6, 59, 59)) == -18000);
  CHECK(offset(r, at(2100, 3, 14, 7)) == -14400);
  CHECK(offset(r, at(2100, 11, 7, 6)) == -18000);
  const auto info = dihya::tz::info_at(r, at(2040, 7, 15, 12));
  CHECK(info.begin == at(2040, 3, 11, 7));
  CHECK(info.end == at(2040, 11, 4, 6));
  CHECK(info.abbrev == "EDT");
}

TEST_CASE("tz rule: last week and /time (Europe/Paris)", "[tz]") {
  const auto r = rule("CET-1CEST,M3.5.0,M10.5.0/3");
  // zdump: 2040-03-25 01:00:00 UT -> CEST, 2040-10-28 01:00:00 UT -> CET; 2100: 03-28 and 10-31.
  CHECK(offset(r, at(2040, 3, 25, 0, 59, 59)) == 3600);
  CHECK(offset(r, at(2040, 3, 25, 1)) == 7200);
  CHECK(offset(r, at(2040, 10, 28, 0, 59, 59)) == 7200);
  CHECK(offset(r, at(2040, 10, 28, 1)) == 3600);
  CHECK(offset(r, at(2100, 3, 28, 1)) == 7200);
  CHECK(offset(r, at(2100, 10, 31, 0, 59, 59)) == 7200);
  CHECK(offset(r, at(2100, 10, 31, 1)) == 3600);
}

TEST_CASE("tz rule: southern hemisphere, DST across the new year (Australia/Sydney)", "[tz]") {
  const auto r = rule("AEST-10AEDT,M10.1.0,M4.1.0/3");
  // zdump: 2040-03-31 16:00:00 UT -> AEST, 2040-10-06 16:00:00 UT -> AEDT; 2100: 04-03 and 10-02.
  CHECK(offset(r, at(2040, 1, 15, 12)) == 39600);
  CHECK(offset(r, at(2040, 3, 31, 15, 59, 59)) == 39600);
  CHECK(offset(r, at(2040, 3, 31, 16)) == 36000);
  CHECK(offset(r, at(2040, 10, 6, 15, 59, 59)) == 36000);
  CHECK(offset(r, at(2040, 10, 6, 16)) == 39600);
  CHECK(offset(r, at(2100, 4, 3, 16)) == 36000);
  CHECK(offset(r, at(2100, 10, 2, 16)) == 39600);
  const auto summer = dihya::tz::info_at(r, at(2040, 12, 31, 23));
  CHECK(summer.begin == at(2040, 10, 6, 16));
  CHECK(summer.end == at(2041, 4, 6, 16));  // zdump -c 2041,2042: Sat Apr 6 16:00:00 2041 UT
}

TEST_CASE("tz rule: zones without DST and quoted names", "[tz]") {
  CHECK(offset(rule("JST-9"), at(2100, 7, 15, 12)) == 32400);  // Asia/Tokyo
  CHECK(offset(rule("IST-5:30"), at(2100, 7, 15, 12)) == 19800);  // Asia/Kolkata
  const auto r = rule("<-03>3");  // America/Sao_Paulo
  CHECK(r.std_abbrev == "-03");
  CHECK(offset(r, at(2040, 1, 1, 0)) == -10800);
  CHECK(offset(rule("<+0545>-5:45"), at(2040, 1, 1, 0)) == 20700);  // Asia/Kathmandu
  const auto utc = dihya::tz::info_at(rule("UTC0"), at(2040, 1, 1, 0));
  CHECK(utc.begin == Instant::min());
  CHECK(utc.end == Instant::max());
}

TEST_CASE("tz rule: Jn, n, explicit DST offset, negative and >24 h times", "[tz]") {
  // Jn never counts Feb 29: J60 is Mar 1 in 2040 (leap) as in 2041.
  auto r = rule("XST3XDT,J60/0,J300/0");
  CHECK(offset(r, at(2040, 3, 1, 2, 59)) == -10800);
  CHECK(offset(r, at(2040, 3, 1, 3)) == -7200);
  // n counts from 0 and does count Feb 29: day 59 is Feb 29 in 2040, Mar 1 in 2041.
  r = rule("XST3XDT,59/0,300/0");
  CHECK(offset(r, at(2040, 2, 29, 3)) == -7200);
  CHECK(offset(r, at(2041, 2, 28, 23)) == -10800);
  CHECK(offset(r, at(2041, 3, 1, 3)) == -7200);
  // An explicit DST offset of two hours (Antarctica/Troll: "<+00>0<+02>-2,M3.5.0/1,M10.5.0/3").
  r = rule("<+00>0<+02>-2,M3.5.0/1,M10.5.0/3");
  CHECK(r.dst_offset == 7200);
  CHECK(offset(r, at(2040, 3, 25, 0, 59)) == 0);
  CHECK(offset(r, at(2040, 3, 25, 1)) == 7200);
  CHECK(offset(r, at(2040, 10, 28, 0, 59)) == 7200);
  CHECK(offset(r, at(2040, 10, 28, 1)) == 0);
  // Negative time (America/Godthab 2023+: "<-02>2<-01>,M3.5.0/-1,M10.5.0/0"): the day before at 23:00.
  r = rule("<-02>2<-01>,M3.5.0/-1,M10.5.0/0");
  CHECK(r.dst_start.time == -3600);
  CHECK(offset(r, at(2040, 3, 25, 0, 59, 59)) == -7200);  // 2040-03-24 23:00 local -02 = 2040-03-25 01:00Z
  CHECK(offset(r, at(2040, 3, 25, 1)) == -3600);
  // Times beyond 24 h (Asia/Jerusalem once: "IST-2IDT,M3.4.4/26,M10.5.0"): Thursday 26:00 = Friday 02:00.
  r = rule("IST-2IDT,M3.4.4/26,M10.5.0");
  CHECK(r.dst_start.time == 26 * 3600);
  CHECK(offset(r, at(2040, 3, 22, 23, 59, 59)) == 7200);  // 4th Thursday of March 2040 is the 22nd
  CHECK(offset(r, at(2040, 3, 23, 0)) == 10800);
  // DST all year (RFC 8536 3.3.1): "EST5EDT,0/0,J365/25" never leaves DST. Here we
  // follow the RFC, not glibc 2.36, which gives EST from 00:00Z to 05:00Z on Jan 1.
  r = rule("EST5EDT,0/0,J365/25");
  for (int y : {2039, 2040, 2041}) {
    CHECK(offset(r, at(y, 1, 1, 5)) == -14400);
    CHECK(offset(r, at(y, 1, 1, 4, 59, 59)) == -14400);
    CHECK(offset(r, at(y, 7, 1, 0)) == -14400);
  }
}

TEST_CASE("tz rule: malformed strings are refused with a reason", "[tz]") {
  const auto why = [](const char* text) {
    std::string error;
    return dihya::tz::parse_posix_tz(text, &error) ? std::string("accepted") : error;
  };
  CHECK(why("") == "TZ rule '': bad standard time name");
  CHECK(why("ES5") == "TZ rule 'ES5': bad standard time name");
  CHECK(why("EST") == "TZ rule 'EST': bad standard time offset");
  CHECK(why("EST25") == "TZ rule 'EST25': bad standard time offset");
  CHECK(why("EST5EDT") == "TZ rule 'EST5EDT': daylight time without a rule");
  CHECK(why("EST5EDT,M13.2.0,M11.1.0") == "TZ rule 'EST5EDT,M13.2.0,M11.1.0': bad daylight time start");
  CHECK(why("EST5EDT,M3.6.0,M11.1.0") == "TZ rule 'EST5EDT,M3.6.0,M11.1.0': bad daylight time start");
  CHECK(why("EST5EDT,M3.2.0,J0") == "TZ rule 'EST5EDT,M3.2.0,J0': bad daylight time end");
  CHECK(why("EST5EDT,M3.2.0,M11.1.0/168") == "TZ rule 'EST5EDT,M3.2.0,M11.1.0/168': bad daylight time end");
  CHECK(why("EST5EDT,M3.2.0") == "TZ rule 'EST5EDT,M3.2.0': daylight time without an end");
  CHECK(why("EST5EDT,M3.2.0,M11.1.0x") == "TZ rule 'EST5EDT,M3.2.0,M11.1.0x': trailing characters");
  CHECK(why("<EST5") == "TZ rule '<EST5': bad standard time name");
  CHECK(why("<E_T>5") == "TZ rule '<E_T>5': bad standard time name");
  // From the fuzz target: +24:05:09 plus the default hour is +25:05:09, within RFC 8536's
  // -24:59:59..+25:59:59 (the target's own bound was ±25 h); hours above 24 are refused.
  CHECK(why("XXX-24:5:9YYY,M12.5.6/167,J1/-167") == "accepted");
  CHECK(why("XXX24:59:59YYY25,M3.2.0,M11.1.0") == "TZ rule 'XXX24:59:59YYY25,M3.2.0,M11.1.0': bad daylight time offset");
}

TEST_CASE("tz rule: TZif footers and the last transition", "[tz]") {
  std::string error;
  CHECK_FALSE(dihya::tz::parse_tzif("not a tzif file", &error));
  CHECK(error == "TZif file: bad or truncated header");
  // A minimal v2 file: empty v1 block, one 64-bit transition, one type, footer.
  std::string b = "TZif2" + std::string(15, '\0');
  const auto counts = [](unsigned tc, unsigned types, unsigned chars) {
    std::string c;
    for (unsigned v : {0u, 0u, 0u, tc, types, chars}) {
      c += static_cast<char>(v >> 24), c += static_cast<char>(v >> 16), c += static_cast<char>(v >> 8),
          c += static_cast<char>(v);
    }
    return c;
  };
  b += counts(0, 1, 4) + std::string(6, '\0') + "UTC" + std::string(1, '\0');  // v1 block: one type, "UTC\0"
  b += "TZif2" + std::string(15, '\0') + counts(1, 1, 4);
  const std::int64_t t = 2145916800;  // 2038-01-01T00:00:00Z
  for (int i = 7; i >= 0; --i) b += static_cast<char>((t >> (8 * i)) & 0xff);
  b += std::string(1, '\0') + std::string(6, '\0') + "UTC" + std::string(1, '\0');
  auto tail = dihya::tz::parse_tzif(b + "\nEST5EDT,M3.2.0,M11.1.0\n", &error);
  REQUIRE(tail);
  REQUIRE(tail->last_transition);
  CHECK(tail->last_transition->time_since_epoch().count() == t);
  CHECK(tail->footer == "EST5EDT,M3.2.0,M11.1.0");
  CHECK_FALSE(dihya::tz::parse_tzif(b + "\nEST5EDT", &error));
  CHECK(error == "TZif file: unterminated footer");
  CHECK_FALSE(dihya::tz::parse_tzif(b.substr(0, b.size() - 3), &error));
  CHECK(error == "TZif file: bad or truncated version 2 header");
}
