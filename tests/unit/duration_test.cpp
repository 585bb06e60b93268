// SPDX-License-Identifier: AGPL-3.0-or-later
// The SDK's one duration parser (dihya/duration.hpp).
#include <catch2/catch.hpp>

#include <string>

#include <dihya/duration.hpp>
#include <dihya/error.hpp>

using namespace std::chrono;

TEST_CASE("durations: each unit, and the 100-year bound", "[duration]") {
  CHECK(dihya::parse_duration("45s") == seconds(45));
  CHECK(dihya::parse_duration("30m") == minutes(30));
  CHECK(dihya::parse_duration("12h") == hours(12));
  CHECK(dihya::parse_duration("90d") == hours(90 * 24));
  CHECK(dihya::parse_duration("2w") == hours(14 * 24));
  CHECK(dihya::parse_duration("0d") == seconds(0));
  CHECK(dihya::parse_duration("36500d") == seconds(dihya::kMaxDurationSeconds));
  std::string why;
  CHECK_FALSE(dihya::parse_duration("36501d", &why));
  CHECK(why.find("longer than 100 years") != std::string::npos);
  CHECK_FALSE(dihya::parse_duration("999999w", &why));
  CHECK(why.find("longer than 100 years") != std::string::npos);
}

TEST_CASE("durations: malformed ones say what is expected", "[duration]") {
  for (const char* bad : {"", "d", "5", "5x", "-5d", "+5d", "5 d", " 5d", "5d ", "1.5h", "1234567s", "5D", "5dd", "d5"}) {
    INFO(bad);
    std::string why;
    CHECK_FALSE(dihya::parse_duration(bad, &why));
    CHECK(why.find("must look like 30d") != std::string::npos);
  }
  try {
    dihya::require_duration("5x", "items: older_than");
    FAIL("no throw");
  } catch (const dihya::Error& e) {
    CHECK(std::string(e.what()) == "items: older_than 5x must look like 30d (1 to 6 digits, then s m h d or w)");
  }
  CHECK(dihya::require_duration("7d", "x") == hours(7 * 24));
}
