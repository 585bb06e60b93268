// SPDX-License-Identifier: AGPL-3.0-or-later
// What the host knows of one plugin file without running its code: the
// plugin.json and ABI tag embedded by dihya_add_plugin, and whether the file
// may be trusted. Every refusal is a load error (exit 3) naming the file.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include <dihya/plugin.hpp>  // dihya::is_plugin_name
#include <nlohmann/json.hpp>

#include "util/unique_fd.hpp"

namespace dihya::host {

inline constexpr const char* kMetadataSection = ".dihya_meta";
inline constexpr const char* kAbiSection = ".dihya_abi";
// The longest timeout a plugin may declare or an operator give (one week).
inline constexpr int kMaxTimeoutSeconds = 7 * 24 * 3600;
// A timeout from a millisecond (below, it would be 0 ms: no time at all) to
// kMaxTimeoutSeconds; false for NaN.
inline constexpr bool valid_timeout_seconds(double seconds) {
  return seconds >= 0.001 && seconds <= kMaxTimeoutSeconds;
}

struct PluginFile {
  std::filesystem::path path;       // as the operator or the search path named it
  std::filesystem::path real_path;  // symlinks resolved: the file that was checked
  // The descriptor that was trust-checked and read: the child loads this one
  // (dlopen of /proc/self/fd/N), never the path, so a file swapped after the
  // check is not the file that runs. Shared so that copies stay cheap.
  std::shared_ptr<const UniqueFd> fd;
  std::uint64_t size = 0;
  std::int64_t mtime_ns = 0;
  std::int64_t ctime_ns = 0;
  dev_t device = 0;
  ino_t inode = 0;
  std::string abi_tag;
  nlohmann::json metadata;  // the whole plugin.json
  std::string signed_by;    // the trusted key its signature was verified with ("" none): PluginCatalog

  std::string name() const { return metadata.value("name", ""); }
  std::string version() const { return metadata.value("version", ""); }
  std::string summary() const { return metadata.value("summary", ""); }
  bool destructive() const { return metadata.value("destructive", false); }
  // Whether a run with `params` may change things: a destructive plugin can
  // name read-only modes, `"read_only_modes": {"param": "mode", "values": [...]}`,
  // which run without confirmation (backup_db's list and verify).
  bool destructive_with(const nlohmann::json& params) const;
  bool reversible() const { return metadata.value("reversible", false); }
  bool needs(const std::string& what) const;
  const nlohmann::json& parameters() const;  // the draft-07 schema; {} when absent
};

// Opens `path` once and checks that descriptor: its real path trusted (see
// util/trusted_path.hpp), an ELF shared library, carrying a well-formed
// plugin.json and an ABI tag this host accepts. Throws a load error.
PluginFile read_plugin_file(const std::filesystem::path& path);

// Why this host cannot load a plugin carrying ABI tag `tag`, or "" when it
// can: a tag that is not exactly "dihya-abi <major>.<minor> <C++ library
// ABI>", another SDK major, a newer SDK minor (the plugin may call what this
// host lacks; an older minor is fine), or another C++ library ABI. The reason
// names both versions.
std::string abi_tag_problem(const std::string& tag);

// Throws a load error naming `path` when abi_tag_problem(tag) is not empty.
void check_abi_tag(const std::string& tag, const std::filesystem::path& path);

// Minimal checks every plugin.json must pass to be listed or run: a valid
// name, a version, a parameter schema that is an object, and the keys the
// host reads of the type it reads them as (summary, description, security,
// rollback and concurrency strings; destructive, reversible and dry_run
// booleans; needs and examples arrays), when present. `dihya-host check`
// goes further (see conformance).
void check_metadata_shape(const nlohmann::json& metadata, const std::filesystem::path& path);

}  // namespace dihya::host
