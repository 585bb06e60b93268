// SPDX-License-Identifier: AGPL-3.0-or-later
// The Catch2 conformance helper used the way a plugin author would.
#include <catch2/catch.hpp>

#include "conformance.hpp"

namespace {

std::string test_plugin(const std::string& name) {
  const char* dir = std::getenv("DIHYA_TEST_PLUGIN_DIR");
  REQUIRE(dir != nullptr);
  return std::string(dir) + "/lib" + name + ".so";
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
