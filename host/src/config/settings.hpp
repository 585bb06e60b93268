// SPDX-License-Identifier: AGPL-3.0-or-later
// The host's settings after merging every source, highest first:
// command-line flags > environment (DIHYA_*) > user config
// ($XDG_CONFIG_HOME/dihya/config.yaml) > system config (/etc/dihya/config.yaml)
// > built-in defaults.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace dihya::host {

// How the plugin's log is echoed on stderr (the run's log file always gets
// every line, redacted): `quiet` shows warnings and errors only, `verbose` adds
// debug lines; `json` prints one JSON object per line for log shippers.
struct LogStyle {
  enum class Verbosity { quiet, normal, verbose };
  Verbosity verbosity = Verbosity::normal;
  bool json = false;
};

// How much run history `history prune` keeps when given no limits
// (config: history_retention: {max_age: 90d, max_runs: 100000}).
struct HistoryRetention {
  std::optional<std::chrono::milliseconds> max_age;
  std::optional<std::size_t> max_runs;
};

// "90d", "12h", "30m", "45s", "2w" -> a duration (dihya/duration.hpp: 1 to 6
// digits, at most 100 years); nothing when malformed, too long or not positive.
std::optional<std::chrono::milliseconds> parse_age(const std::string& text);

struct Settings {
  std::vector<std::filesystem::path> plugin_path;  // searched in order; the install dir is last
  std::optional<std::string> database_url;         // none: the embedded cluster
  std::filesystem::path state_dir;                 // runs, journals, audit, embedded cluster
  std::filesystem::path cache_dir;                 // metadata cache
  std::optional<std::filesystem::path> metrics_dir;  // Prometheus textfile collector dir; none: no metrics
  // Whether plugins must carry a minisign signature by a trusted key
  // (loading/signature.hpp): "require", "if-present" (default) or "off".
  std::string signatures = "if-present";
  // How plugin children are confined (supervise/sandbox.hpp): "require",
  // "best-effort" or "off"; empty: require where the kernel has Landlock,
  // else best-effort with a warning.
  std::string sandbox;
  std::filesystem::path trusted_keys_dir;  // default: <system config dir>/trusted-keys
  bool audit_syslog = false;                         // also send each audit line to syslog(3)
  LogStyle log_style;
  HistoryRetention history_retention;  // the user config's, else the system config's
  // The most memory (RLIMIT_DATA: heap and private writable mappings) each
  // plugin child may hold, in bytes; 0: no limit. From --memory-max, the user
  // config or the system config; none of them: default_memory_max() (half
  // the RAM), asked only when a child is prepared. The system config's value
  // is also a ceiling no user setting or flag may exceed.
  std::optional<std::uint64_t> memory_max;
  std::uint64_t memory_ceiling = 0;  // the system config's memory_max (0: none)
  std::filesystem::path user_config_file;    // read or not: --config, DIHYA_CONFIG or the XDG default
  bool user_config_given = false;            // by --config or DIHYA_CONFIG (it must exist then)
};

// The environment that gives a host started by this one (`schedule run`,
// run_scheduler's jobs) these same settings, however they were given to
// this one (flags, environment, config files): the plugin path, state,
// cache and metrics dirs, and the user config file when one was named. Not
// the database URL: callers pass it their own way (a reference, not the
// password).
std::vector<std::pair<std::string, std::string>> settings_environment(const Settings& settings);

// Where the running binary is installed: `<prefix>/bin/dihya-host`. The bundled
// plugins and the system config are found relative to it, so an installed tree
// (or an unpacked .deb) works wherever it lies. The system config of a /usr
// install is /etc/dihya/config.yaml, as the FHS wants.
std::filesystem::path install_prefix();
std::filesystem::path installed_plugin_dir();
std::filesystem::path system_config_file();

// Flags given on the command line before the subcommand.
struct GlobalFlags {
  std::optional<std::filesystem::path> config_file;  // replaces the user config
  std::vector<std::string> plugin_path;
  std::optional<std::string> database_url;
  std::optional<std::filesystem::path> state_dir;
  LogStyle log_style;
};

// The state dir, created private when missing (0700; 0711 as root, so that
// the embedded cluster's postgres user can reach <state>/postgres while every
// entry inside stays 0700/0600) and refused when another user could change
// it (util/trusted_path.hpp). Throws a usage error with the fix.
void prepare_state_dir(const Settings& settings);

// The same checks for commands that only read the state dir: a missing one is
// an empty history.
void check_state_dir(const Settings& settings);

// Merges flags, environment, config files and defaults. Throws a usage error
// naming the file on an unreadable or malformed config file.
Settings load_settings(const GlobalFlags& flags);

}  // namespace dihya::host
