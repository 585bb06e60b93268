// SPDX-License-Identifier: AGPL-3.0-or-later
// The Catch2 conformance helper used the way a plugin author would.
#include <catch2/catch.hpp>

#include "conformance.hpp"

namespace {

std::string test_plugin(const std::string& name) {
  // The kit finds the host through DIHYA_HOST, as a plugin author's CI would set it.
  ::setenv("DIHYA_HOST", DIHYA_TEST_HOST, 1);
  ::setenv("DIHYA_CACHE_DIR", (std::string(DIHYA_TEST_PG_DIR) + "-cache").c_str(), 1);
  ::setenv("DIHYA_STATE_DIR", (std::string(DIHYA_TEST_PG_DIR) + "-state").c_str(), 1);
  return std::string(DIHYA_TEST_PLUGIN_DIR) + "/lib" + name + ".so";
}

}  // namespace

TEST_CASE("bundled test plugins pass the conformance kit", "[conformance]") {
  SECTION("noop") { dihya::testing::require_conformance(test_plugin("noop")); }
  SECTION("echo_params") { dihya::testing::require_conformance(test_plugin("echo_params")); }
  SECTION("hostile") { dihya::testing::require_conformance(test_plugin("hostile")); }
}

TEST_CASE("the conformance kit reports a plugin that cannot load", "[conformance]") {
  REQUIRE_THROWS_WITH(dihya::testing::check_report(test_plugin("not_a_plugin")),
                      Catch::Contains("not a dihya plugin"));
}
