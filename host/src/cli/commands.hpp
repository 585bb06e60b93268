// SPDX-License-Identifier: AGPL-3.0-or-later
// One entry point per subcommand. Each gets the arguments after its own name
// and the merged settings, parses its options with Boost.Program_options, and
// returns an exit code or throws HostError.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "config/settings.hpp"

namespace dihya::host {

using Args = std::vector<std::string>;

int cmd_list(const Args& args, const Settings& settings);
int cmd_info(const Args& args, const Settings& settings);
int cmd_validate(const Args& args, const Settings& settings);
int cmd_run(const Args& args, const Settings& settings);
int cmd_check(const Args& args, const Settings& settings);
int cmd_db(const Args& args, const Settings& settings);
int cmd_docs(const Args& args, const Settings& settings);
int cmd_history(const Args& args, const Settings& settings);
int cmd_show(const Args& args, const Settings& settings);
int cmd_logs(const Args& args, const Settings& settings);
int cmd_rollback(const Args& args, const Settings& settings);
int cmd_audit(const Args& args, const Settings& settings);
int cmd_schedule(const Args& args, const Settings& settings);
// `history --schedule`: the runs of one schedule, from the scheduler's tables,
// oldest first: those due at or after `since_ms` (ms since the epoch), the
// last `limit` of them (nullopt: the last 100,000).
int print_schedule_history(const std::string& id_or_name, const Settings& settings, bool json,
                           std::optional<std::int64_t> since_ms, std::optional<std::size_t> limit);
int cmd_complete(const Args& args, const Settings& settings);
// `__zygote` (hidden): forks run_scheduler's jobs; `entry` is main()'s body.
int run_zygote(int argc, char** argv, int (*entry)(int, char**));

}  // namespace dihya::host
