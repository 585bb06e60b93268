// SPDX-License-Identifier: AGPL-3.0-or-later
// The conformance kit for a plugin's own Catch2 tests. It runs the same checks
// as `dihya-host check --json` (the host, not this header, is the judge, so a
// plugin is held to one standard everywhere) and turns each into an assertion:
//
//   #include <catch2/catch.hpp>
//   #include <dihya/testing/conformance.hpp>
//   TEST_CASE("my_plugin conforms", "[conformance]") {
//     dihya::testing::require_conformance("build/libmy_plugin.so");
//   }
//
// The host is found in $DIHYA_HOST, else `dihya-host` on PATH. With
// `exercise`, the first example is run against the configured database
// (DIHYA_DATABASE_URL): use a test database.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

namespace dihya::testing {

// Runs `dihya-host check` on `plugin_path` and returns its JSON report.
// Throws std::runtime_error when the host cannot be started or answers no JSON.
inline nlohmann::json check_report(const std::string& plugin_path, bool exercise = false) {
  const char* host = std::getenv("DIHYA_HOST");
  std::string command = std::string(host != nullptr && *host != '\0' ? host : "dihya-host") + " check '";
  for (char c : plugin_path) command += c == '\'' ? std::string("'\\''") : std::string(1, c);
  command += "' --json";
  if (exercise) command += " --exercise";
  command += " 2>&1";
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) throw std::runtime_error("cannot run " + command);
  std::string output;
  char buffer[4096];
  for (std::size_t n; (n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0;) output.append(buffer, n);
  ::pclose(pipe);
  auto report = nlohmann::json::parse(output, nullptr, false);
  if (!report.is_object()) throw std::runtime_error("dihya-host check failed: " + output);
  return report;
}

// One Catch2 assertion per conformance check; skipped checks are reported, not failed.
inline void require_conformance(const std::string& plugin_path, bool exercise = false) {
  const nlohmann::json report = check_report(plugin_path, exercise);
  for (const auto& item : report.at("checks")) {
    INFO(item.value("check", "") << ": " << item.value("detail", ""));
    CHECK(item.value("status", "") != "fail");
  }
  REQUIRE(report.value("ok", false));
}

}  // namespace dihya::testing
