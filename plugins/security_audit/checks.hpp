// SPDX-License-Identifier: AGPL-3.0-or-later
// The checks other than secrets. Each returns findings and appends to `notes`
// what it could not look at (a permission it lacks, a file it refused), so a
// skipped check is never mistaken for a clean one.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include <pqxx/connection>

#include "finding.hpp"
#include "ignore_rules.hpp"
#include "tree_walk.hpp"

namespace security_audit {

struct RuleInfo {
  std::string id;
  std::string title;
  Severity severity;
};

// File modes under `root` (symlinks are never followed), down to 256 levels;
// what it cannot look at goes to `gaps`. `plugin_dirs` are
// checked for trust: not writable by group/others, owned by root or us.
std::vector<Finding> check_permissions(const std::filesystem::path& root, const IgnoreRules& excludes,
                                       const std::vector<std::filesystem::path>& plugin_dirs,
                                       std::vector<std::string>& notes, Unexamined& gaps);

// Read-only queries on the configured database and its cluster.
std::vector<Finding> check_postgres(pqxx::connection& db, std::vector<std::string>& notes);

// requirements.txt and package-lock.json under `root` against OSV advisories
// (a file or a directory of *.json).
std::vector<Finding> check_dependencies(const std::filesystem::path& root, const IgnoreRules& excludes,
                                        const std::filesystem::path& advisories, std::vector<std::string>& notes,
                                        Unexamined& gaps);

// Compares versions the way the ecosystems do, for the common cases: numeric
// release segments, then pre-releases (1.0.0-rc.1 < 1.0.0, 2.0a1 < 2.0).
int compare_versions(const std::string& a, const std::string& b);

std::vector<RuleInfo> permission_rules();
std::vector<RuleInfo> postgres_rules();

}  // namespace security_audit
