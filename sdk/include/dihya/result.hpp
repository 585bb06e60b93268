// SPDX-License-Identifier: AGPL-3.0-or-later
// What a run or a rollback returns: success or failure, a one-line summary for
// the operator and structured data for `--json` and the run record.
#pragma once

#include <string>
#include <utility>

#include <nlohmann/json.hpp>

namespace dihya {

struct Result {
  bool ok = true;
  std::string summary;
  nlohmann::json data = nlohmann::json::object();
  // Optional text for a person (a table, a plan, a report of damage), printed
  // on stdout before the summary line; `--json` prints `data` instead.
  std::string report;

  // `summary` says what was done, without the outcome: the host prints
  // "<plugin>: <outcome>: <summary>" ("expire_sessions: dry_run: would delete 3 sessions").
  static Result success(std::string summary, nlohmann::json data = nlohmann::json::object(), std::string report = {}) {
    return Result{true, std::move(summary), std::move(data), std::move(report)};
  }
  static Result failure(std::string summary, nlohmann::json data = nlohmann::json::object(), std::string report = {}) {
    return Result{false, std::move(summary), std::move(data), std::move(report)};
  }
};

// One semantic problem found by Plugin::validate.
struct ValidationError {
  std::string field;
  std::string message;
};

}  // namespace dihya
