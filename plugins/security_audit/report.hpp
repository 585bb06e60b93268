// SPDX-License-Identifier: AGPL-3.0-or-later
// The three renderings of a finished audit: a text table for people, JSON for
// scripts and SARIF 2.1.0 for code-scanning services. All of them take the
// already-masked findings, so none can print a secret.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "checks.hpp"
#include "finding.hpp"

namespace security_audit {

// What marks a file as this plugin's own, so that it may be replaced
// (write_target.hpp): the `tool` field of the JSON report and of the baseline,
// SARIF's tool.driver.name, the first line of a text report file (followed by
// ", run <run id>").
inline constexpr const char* kToolName = "dihya security_audit";
inline constexpr const char* kSarifDriverName = "dihya-security_audit";
inline constexpr const char* kTextReportTitle = "dihya security_audit report";

struct AuditSummary {
  std::vector<Finding> findings;
  std::vector<std::string> notes;
  std::vector<std::string> checks_run;
  std::size_t suppressed_baseline = 0;
  std::size_t suppressed_allow = 0;
  // Paths the checks could not look at (directories and files, unreadable
  // files included): when not 0 the audit is incomplete, and says so.
  std::uint64_t not_examined = 0;
  nlohmann::json scanned = nlohmann::json::object();
};

std::string text_report(const AuditSummary& audit);
nlohmann::json json_report(const AuditSummary& audit);
// `root` becomes the SRCROOT base of the relative artifact URIs.
nlohmann::json sarif_report(const AuditSummary& audit, const std::string& root, const std::vector<RuleInfo>& rules,
                            const std::string& version);
// Counts per severity, highest first: "2 high, 1 low".
std::string severity_counts(const std::vector<Finding>& findings);

}  // namespace security_audit
