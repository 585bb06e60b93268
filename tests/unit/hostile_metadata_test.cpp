// SPDX-License-Identifier: AGPL-3.0-or-later
// A plugin author's plugin.json as the host reads it without running the
// plugin: a key of the wrong type makes the plugin unusable (never an internal
// error of `list` or `run`), and no word of it reaches the terminal as a
// control sequence or a forged line of `info`.
#include <catch2/catch.hpp>

#include <string>

#include <nlohmann/json.hpp>

#include "cli/plugin_page.hpp"
#include "errors.hpp"
#include "loading/plugin_file.hpp"

namespace {

using dihya::host::check_metadata_shape;
using dihya::host::HostError;
using dihya::host::PluginFile;

const std::string kTerminalAttack = "\x1b]52;c;SGVsbG8=\x07\x1b[2J\x1b]0;pwned\x07\r\xc2\x9b" "31m";

nlohmann::json valid_metadata() {
  return {{"name", "evil"},         {"version", "1.0.0"},   {"summary", "s"},  {"description", "d"},
          {"destructive", false},   {"reversible", false},  {"needs", nlohmann::json::array()},
          {"examples", nlohmann::json::array()}, {"parameters", {{"type", "object"}}}};
}

int load_exit_code(const nlohmann::json& metadata) {
  try {
    check_metadata_shape(metadata, "/plugins/libevil.so");
  } catch (const HostError& e) {
    return e.exit_code();
  }
  return 0;
}

bool is_terminal_safe(const std::string& text) {
  for (unsigned char c : text) {
    if ((c < 0x20 && c != '\n') || c == 0x7f) return false;
  }
  return text.find("\xc2\x9b") == std::string::npos;
}

}  // namespace

TEST_CASE("a plugin.json key of the wrong type makes the plugin unusable", "[loading][metadata][hostile]") {
  CHECK(load_exit_code(valid_metadata()) == 0);
  auto metadata = valid_metadata();
  SECTION("summary") { metadata["summary"] = 5; }
  SECTION("description") { metadata["description"] = nlohmann::json::array({"a"}); }
  SECTION("security") { metadata["security"] = nlohmann::json::object(); }
  SECTION("rollback") { metadata["rollback"] = true; }
  SECTION("concurrency") { metadata["concurrency"] = 3; }
  SECTION("destructive") { metadata["destructive"] = "yes"; }
  SECTION("reversible") { metadata["reversible"] = 1; }
  SECTION("dry_run") { metadata["dry_run"] = "no"; }
  SECTION("needs") { metadata["needs"] = "database"; }
  SECTION("examples") { metadata["examples"] = "run it"; }
  CHECK(load_exit_code(metadata) == dihya::host::kExitLoad);
}

TEST_CASE("info's page shows a hostile plugin.json without a control sequence", "[cli][info][hostile]") {
  PluginFile plugin;
  plugin.metadata = valid_metadata();
  for (const char* key : {"version", "summary", "description", "security", "rollback"}) {
    plugin.metadata[key] = key + kTerminalAttack;
  }
  plugin.metadata["summary"] = "harmless\n- destructive: no";
  plugin.metadata["examples"] = {{{"description", "ex" + kTerminalAttack}, {"command", "cmd" + kTerminalAttack}},
                                 {{"description", 1}, {"command", nlohmann::json::array()}}};
  plugin.metadata["parameters"] = {
      {"type", "object"},
      {"properties",
       {{"k" + kTerminalAttack, {{"type", "string"}, {"description", "d" + kTerminalAttack}, {"enum", {"v" + kTerminalAttack}}}},
        {"a\nb", {{"type", nlohmann::json::array({"integer", 7})}, {"description", 5}, {"writeOnly", "yes"}}}}}};

  const std::string page = dihya::host::plugin_markdown(plugin);
  CHECK(is_terminal_safe(page));
  CHECK_THAT(page, Catch::Contains("# evil version\\x1b]52;c;SGVsbG8=\\x07"));
  // The summary's line break cannot forge a line of the page: the one line
  // that starts "- destructive:" is the host's.
  CHECK_THAT(page, Catch::Contains("harmless\\n- destructive: no"));
  const auto line_start = page.find("\n- destructive: ");
  REQUIRE(line_start != std::string::npos);
  CHECK(page.find("\n- destructive: ", line_start + 1) == std::string::npos);
  // A mistyped nested key reads as nothing, not as an internal error.
  CHECK_THAT(page, Catch::Contains("| `a\\nb` | integer\\|7 | no |"));
}
