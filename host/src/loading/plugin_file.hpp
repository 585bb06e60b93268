// SPDX-License-Identifier: AGPL-3.0-or-later
// What the host knows of one plugin file without running its code: the
// plugin.json and ABI tag embedded by dihya_add_plugin, and whether the file
// may be trusted. Every refusal is a load error (exit 3) naming the file.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

namespace dihya::host {

inline constexpr const char* kMetadataSection = ".dihya_meta";
inline constexpr const char* kAbiSection = ".dihya_abi";

struct PluginFile {
  std::filesystem::path path;
  std::uint64_t size = 0;
  std::int64_t mtime_ns = 0;
  std::string abi_tag;
  nlohmann::json metadata;  // the whole plugin.json

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

// Reads and checks `path`: trusted, an ELF shared library, carrying a
// well-formed plugin.json and an ABI tag this host accepts. Throws a load error.
PluginFile read_plugin_file(const std::filesystem::path& path);

// Refuses a file or directory that others could have replaced: writable by
// group or others, or owned by neither root nor the current user.
void check_trusted(const std::filesystem::path& path);

// Refuses an ABI tag of another SDK major version or another C++ library ABI,
// naming both versions.
void check_abi_tag(const std::string& tag, const std::filesystem::path& path);

// Minimal checks every plugin.json must pass to be listed or run: a valid
// name, a version, a parameter schema that is an object. `dihya-host check`
// goes further (see conformance).
void check_metadata_shape(const nlohmann::json& metadata, const std::filesystem::path& path);

}  // namespace dihya::host
