// SPDX-License-Identifier: AGPL-3.0-or-later
// Whether a backup is still what its manifest says: every file present, no
// file added, every SHA-256 equal, and the manifest's own seal intact. Shared
// by verify (which reports) and restore (which refuses a damaged backup).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <dihya/context.hpp>

#include "backup_store.hpp"

namespace backup_db {

struct Damage {
  std::vector<std::string> problems;  // one line each, naming the file
  std::size_t files_checked = 0;
  std::uint64_t bytes_checked = 0;
  double hash_seconds = 0;
};

// Compares the files of `backup` with its manifest, hashing with `jobs`
// threads; reports progress and honours cancellation through `ctx`.
Damage check_files(const BackupEntry& backup, int jobs, dihya::Context& ctx);

// The dump inside `backup` (directory or file). Throws dihya::Error when the
// manifest names a path outside the backup.
std::filesystem::path dump_path_of(const BackupEntry& backup);

}  // namespace backup_db
