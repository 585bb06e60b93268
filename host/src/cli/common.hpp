// SPDX-License-Identifier: AGPL-3.0-or-later
// What every subcommand shares: option parsing that turns every mistake into a
// one-line usage error, `--help` text, tables for people and JSON for programs,
// and the terminal checks that decide whether to draw a progress bar.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include <boost/program_options.hpp>
#include <nlohmann/json.hpp>

#include "cli/commands.hpp"

namespace dihya::host {

namespace po = boost::program_options;

struct CommandSpec {
  std::string usage;        // "dihya-host info <plugin> [--json]"
  std::string description;  // a paragraph shown by --help
  po::options_description options{"Options"};
  po::positional_options_description positional;
  po::options_description hidden;  // positional arguments
};

// Parses `args`. Returns nullopt after printing help for --help/-h. Throws a
// usage error (exit 2) for unknown options, missing values, extra arguments.
std::optional<po::variables_map> parse_command(const Args& args, CommandSpec& spec);

// spec.usage on one line, for an error: its lines joined by " or " (errors
// are one line, and a newline in one is printed escaped, as `\n`).
std::string usage_line(const CommandSpec& spec);

// The positional <plugin> (name or path) and <run-id> arguments.
void add_plugin_argument(CommandSpec& spec);
void add_run_id_argument(CommandSpec& spec);

// Prints rows as aligned columns; the first row is the header.
void print_table(const std::vector<std::vector<std::string>>& rows);

// Prints `value` as pretty JSON on stdout.
void print_json(const nlohmann::json& value);

// True when stderr is a terminal and NO_COLOR is not set: draw progress bars.
bool stderr_is_interactive();

// True when stdin and stderr are terminals: the operator can be asked.
bool can_prompt();

// `seconds` given to `flag` (--timeout, --grace) as a duration: a usage error
// unless it is a finite number from 0.001 to kMaxTimeoutSeconds (one week);
// NaN and infinities are refused.
std::chrono::milliseconds checked_seconds(double seconds, const std::string& flag);

// How long validate() and `check --exercise`'s steps may take for a plugin
// that declares no timeout_seconds.
inline constexpr std::chrono::minutes kDefaultPluginTimeout{5};

// The option `key` (--timeout, --grace) when given, else the number
// metadata[metadata_key] (a plugin's timeout_seconds), else nothing; checked
// by checked_seconds either way.
std::optional<std::chrono::milliseconds> seconds_option(const po::variables_map& vm, const char* key,
                                                        const nlohmann::json& metadata, const char* metadata_key);

// The --memory-max option (run, rollback) and what it does to `settings`:
// the plugin child's memory limit for this command. A usage error when it is
// malformed, below 32M, or above the system config's memory_max (the
// operator's ceiling; "off" is above any).
void add_memory_option(CommandSpec& spec);
Settings with_memory_option(const Settings& settings, const po::variables_map& vm);

// Throws a usage error unless `since` is an ISO-8601 UTC time or a prefix of
// one cut at a field boundary: 2026, 2026-11, 2026-11-25, 2026-11-25T10,
// 2026-11-25T10:00, 2026-11-25T10:00:00(.123)(Z).
void check_since(const std::string& since);

// The exit codes paragraph shared by every --help.
const char* exit_codes_help();

}  // namespace dihya::host
