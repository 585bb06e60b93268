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

struct Settings {
  std::vector<std::filesystem::path> plugin_path;  // searched in order; the install dir is last
  std::optional<std::string> database_url;         // none: the embedded cluster
  std::filesystem::path state_dir;                 // runs, journals, audit, embedded cluster
  std::filesystem::path cache_dir;                 // metadata cache
};

// Flags given on the command line before the subcommand.
struct GlobalFlags {
  std::optional<std::filesystem::path> config_file;  // replaces the user config
  std::vector<std::string> plugin_path;
  std::optional<std::string> database_url;
  std::optional<std::filesystem::path> state_dir;
};

// Merges flags, environment, config files and defaults. Throws a usage error
// naming the file on an unreadable or malformed config file.
Settings load_settings(const GlobalFlags& flags);

}  // namespace dihya::host
