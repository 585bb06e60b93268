// SPDX-License-Identifier: AGPL-3.0-or-later
// What the host reads from plugin.json without running plugin code: which
// runs of a destructive plugin need a confirmation.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "loading/plugin_file.hpp"

using dihya::host::PluginFile;

TEST_CASE("read-only modes of a destructive plugin are not destructive", "[loading][metadata]") {
  PluginFile plugin;
  plugin.metadata = {{"destructive", true},
                     {"read_only_modes", {{"param", "mode"}, {"values", {"list", "verify"}}}}};
  CHECK_FALSE(plugin.destructive_with({{"mode", "list"}}));
  CHECK_FALSE(plugin.destructive_with({{"mode", "verify"}}));
  CHECK(plugin.destructive_with({{"mode", "restore"}}));
  CHECK(plugin.destructive_with(nlohmann::json::object()));
  CHECK(plugin.destructive_with({{"mode", 3}}));
}

TEST_CASE("a malformed read_only_modes keeps the plugin destructive", "[loading][metadata]") {
  PluginFile plugin;
  plugin.metadata = {{"destructive", true}, {"read_only_modes", {{"param", "mode"}, {"values", "list"}}}};
  CHECK(plugin.destructive_with({{"mode", "list"}}));
  plugin.metadata["read_only_modes"] = "list";
  CHECK(plugin.destructive_with({{"mode", "list"}}));
}

TEST_CASE("a plugin that is not destructive never is", "[loading][metadata]") {
  PluginFile plugin;
  plugin.metadata = {{"destructive", false}};
  CHECK_FALSE(plugin.destructive_with({{"mode", "restore"}}));
}
