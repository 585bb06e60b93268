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
// `exercise`, the first example is run on a scratch copy of the configured
// database (DIHYA_DATABASE_URL), which is never changed: the role needs
// CREATEDB and the database no other session. A destructive example must
// change data, or the exercise proves nothing and fails.
#pragma once

#include <algorithm>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <dihya/child_process.hpp>
#include <nlohmann/json.hpp>

namespace dihya::testing {

// The dihya-host to run: $DIHYA_HOST, else the first on PATH.
inline std::string host_program() {
  const char* host = std::getenv("DIHYA_HOST");
  const std::string name = host != nullptr && *host != '\0' ? host : "dihya-host";
  if (name.find('/') != std::string::npos) return name;
  const char* path = std::getenv("PATH");
  std::string dirs = path != nullptr ? path : "/usr/bin:/bin";
  for (std::size_t start = 0; start <= dirs.size();) {
    const std::size_t colon = std::min(dirs.find(':', start), dirs.size());
    const std::string candidate = dirs.substr(start, colon - start) + "/" + name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    start = colon + 1;
  }
  return name;
}

// Runs `dihya-host check` on `plugin_path` and returns its JSON report.
// Throws std::runtime_error when the host cannot be started or answers no JSON.
inline nlohmann::json check_report(const std::string& plugin_path, bool exercise = false) {
  std::vector<std::string> argv{host_program(), "check", plugin_path, "--json"};
  if (exercise) argv.emplace_back("--exercise");
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("cannot create a pipe");
  UniqueFd read_end(fds[0]);
  UniqueFd write_end(fds[1]);
  SpawnOptions options;
  options.stdout_fd = write_end.get();
  options.stderr_fd = write_end.get();
  pid_t pid = 0;
  if (const std::error_code ec = spawn_process(argv, options, &pid)) {
    throw std::runtime_error("cannot run " + argv[0] + ": " + ec.message());
  }
  write_end.reset();
  std::string output;
  const std::error_code read_error = read_all(read_end.get(), &output);
  wait_process(pid);
  if (read_error) throw std::runtime_error("cannot read the output of " + argv[0] + ": " + read_error.message());
  auto report = nlohmann::json::parse(output, nullptr, false);
  if (!report.is_object()) throw std::runtime_error("dihya-host check failed: " + output);
  return report;
}

// One Catch2 assertion per check of a check_report(); skipped checks are
// reported, not failed.
inline void require_passes(const nlohmann::json& report) {
  for (const auto& item : report.at("checks")) {
    INFO(item.value("check", "") << ": " << item.value("detail", ""));
    CHECK(item.value("status", "") != "fail");
  }
  REQUIRE(report.value("ok", false));
}

// check_report() then require_passes().
inline void require_conformance(const std::string& plugin_path, bool exercise = false) {
  require_passes(check_report(plugin_path, exercise));
}

// What an exercise did to one table: row versions the run changed (deleted +
// inserted; an update is one of each) and how many the rollback put back.
struct TableChange {
  std::string table;  // "public.sessions"
  long long changed_by_run = 0;
  long long restored_by_rollback = 0;
};

// The per-table counts of a check_report(path, true); empty when the
// exercise changed no table.
inline std::vector<TableChange> exercised_tables(const nlohmann::json& report) {
  std::vector<TableChange> tables;
  for (const auto& t : report.value("tables", nlohmann::json::array())) {
    tables.push_back({t.value("table", ""), t.value("changed_by_run", 0LL), t.value("restored_by_rollback", 0LL)});
  }
  return tables;
}

}  // namespace dihya::testing
