// SPDX-License-Identifier: AGPL-3.0-or-later
// One plugin operation in a supervised child, without run records: what
// `validate` and `check` need. Log lines and journal entries are kept in memory.
#pragma once

#include <string>
#include <vector>

#include "config/settings.hpp"
#include "loading/plugin_file.hpp"
#include "supervise/supervisor.hpp"

namespace dihya::host {

struct OperationReport {
  ChildOutcome outcome;
  std::vector<dihya::UndoEntry> journal;  // oldest first
  std::vector<std::string> log;
};

// The request every operation on `plugin` starts from: its path and, when it
// needs a database, the configured URL (starting the embedded cluster).
ChildRequest base_request(const PluginFile& plugin, const Settings& settings, Operation op);

OperationReport run_operation(const ChildRequest& request, std::optional<std::chrono::milliseconds> timeout);

// Throws a load error (exit 3) when the child could not load the plugin or
// crashed while loading it.
void require_loaded(const ChildOutcome& outcome, const PluginFile& plugin);

// The plugin's validate(): throws a usage error (exit 2) listing the problems.
void require_semantically_valid(const ChildOutcome& outcome, const std::string& plugin_name);

}  // namespace dihya::host
