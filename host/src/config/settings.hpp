// SPDX-License-Identifier: AGPL-3.0-or-later
// The host's settings after merging every source, highest first:
// command-line flags > environment (DIHYA_*) > user config
// ($XDG_CONFIG_HOME/dihya/config.yaml) > system config (/etc/dihya/config.yaml)
// > built-in defaults.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
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

struct Settings {
  std::vector<std::filesystem::path> plugin_path;  // searched in order; the install dir is last
  std::optional<std::string> database_url;         // none: the embedded cluster
  std::filesystem::path state_dir;                 // runs, journals, audit, embedded cluster
  std::filesystem::path cache_dir;                 // metadata cache
  std::optional<std::filesystem::path> metrics_dir;  // Prometheus textfile collector dir; none: no metrics
  bool audit_syslog = false;                         // also send each audit line to syslog(3)
  LogStyle log_style;
};

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

// Merges flags, environment, config files and defaults. Throws a usage error
// naming the file on an unreadable or malformed config file.
Settings load_settings(const GlobalFlags& flags);

}  // namespace dihya::host
