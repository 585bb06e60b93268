// SPDX-License-Identifier: AGPL-3.0-or-later
// The example's own test, through the SDK's conformance helper: the host's
// `check --exercise` runs the first example on a scratch copy of the database
// in DIHYA_DATABASE_URL (the platform schema, with expired sessions), then
// rolls it back; the helper turns each check into an assertion.
#include <catch2/catch.hpp>
#include <dihya/testing/conformance.hpp>

TEST_CASE("expire_sessions conforms: its example deletes sessions and the rollback restores each one",
          "[expire_sessions]") {
  const nlohmann::json report = dihya::testing::check_report(EXPIRE_SESSIONS_SO, /*exercise=*/true);
  dihya::testing::require_passes(report);
  const auto tables = dihya::testing::exercised_tables(report);
  REQUIRE(tables.size() == 1);  // the example touches sessions and nothing else
  CHECK(tables[0].table == "public.sessions");
  CHECK(tables[0].changed_by_run > 0);
  CHECK(tables[0].restored_by_rollback == tables[0].changed_by_run);
}
