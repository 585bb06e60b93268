// SPDX-License-Identifier: AGPL-3.0-or-later
#include "backup_check.hpp"

#include <chrono>
#include <map>
#include <optional>

#include <dihya/error.hpp>
#include <fmt/format.h>

#include "manifest.hpp"

namespace backup_db {
namespace fs = std::filesystem;

Damage check_files(const BackupEntry& backup, int jobs, dihya::Context& ctx) {
  Damage d;
  if (backup.manifest.is_null()) {
    d.problems.push_back("manifest.json: cannot be read: " + backup.manifest_error);
    return d;
  }
  const auto& m = backup.manifest;
  const std::string recorded = text_field(m, "manifest_sha256");
  const std::string actual = manifest_checksum(m);
  if (recorded != actual) {
    d.problems.push_back(fmt::format("manifest.json: manifest checksum mismatch: expected {}, actual {} (the manifest was edited)",
                                     recorded.empty() ? "(none recorded)" : recorded, actual));
  }
  std::map<std::string, std::string> expected;
  const auto files = m.find("files");
  if (files == m.end() || !files->is_array()) d.problems.push_back("manifest.json: has no list of files");
  for (const auto& f : files != m.end() && files->is_array() ? *files : nlohmann::json::array()) {
    const std::string path = text_field(f, "path");
    const fs::path rel(path);
    if (path.empty() || rel.is_absolute() || path.find("..") != std::string::npos) {
      d.problems.push_back("manifest.json: lists an unsafe or empty file path '" + path + "'");
      continue;
    }
    expected[path] = text_field(f, "sha256");
  }
  const auto present = content_files(backup.path);
  const auto hash_start = std::chrono::steady_clock::now();
  const auto digests = hash_files(
      backup.path, present, jobs,
      [&](std::uint64_t done, std::uint64_t total) { ctx.progress(done, total, "bytes checksummed"); },
      [&] { return ctx.cancelled(); });
  d.hash_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - hash_start).count();
  // A file that could not be hashed (a symlink, a fifo) has no checksum to
  // compare: its "unreadable" line says what it is instead.
  std::map<std::string, std::optional<std::string>> actual_sums;
  for (const auto& dg : digests) {
    if (!dg.error.empty()) d.problems.push_back("unreadable: " + dg.path + " (" + dg.error + ")");
    actual_sums[dg.path] = dg.error.empty() ? std::optional<std::string>(dg.sha256) : std::nullopt;
    d.bytes_checked += dg.size;
  }
  d.files_checked = digests.size();
  for (const auto& [path, sum] : expected) {
    const auto it = actual_sums.find(path);
    if (it == actual_sums.end()) {
      d.problems.push_back(fmt::format("missing: {} (expected sha256 {})", path, sum));
    } else if (it->second && *it->second != sum) {
      d.problems.push_back(fmt::format("changed: {}: expected sha256 {}, actual {}", path, sum, *it->second));
    }
  }
  for (const auto& [path, sum] : actual_sums) {
    if (expected.count(path) != 0) continue;
    d.problems.push_back(sum ? fmt::format("extra: {} (sha256 {}, not in the manifest)", path, *sum)
                             : fmt::format("extra: {} (not in the manifest)", path));
  }
  return d;
}

fs::path dump_path_of(const BackupEntry& backup) {
  const std::string rel = text_field(backup.manifest, "dump_path");
  if (rel.empty() || rel.find("..") != std::string::npos || rel[0] == '/') {
    throw dihya::Error("manifest of " + backup.name + " names an unsafe dump_path '" + rel + "'");
  }
  return backup.path / rel;
}

}  // namespace backup_db
