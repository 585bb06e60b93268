// SPDX-License-Identifier: AGPL-3.0-or-later
// Log-file retention. Files of a directory matching glob patterns are
// gzipped once older than compress_after, and removed once older than
// max_age or when the matching files exceed max_total_size (oldest first).
// "Removed" means moved into <dir>/.dihya-quarantine/<run-id>/ (same file
// system: a rename), so rollback moves them back; purge deletes quarantine
// directories whose expiry has passed. Symlinks and non-regular files are
// never touched, and nothing outside the configured directory is: whoever may
// write the directory may plant a symlink or a FIFO at any name cleanup uses
// (the temporary .<name>.gz.partial, .dihya-quarantine, .expires_at), so
// every file operation is relative to a descriptor of the directory, opened
// without following a symlink, and new files are created O_EXCL|O_NOFOLLOW.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace cleanup {

struct LogRule {
  std::filesystem::path dir;
  std::vector<std::string> patterns;
  long long max_age_seconds = 0;         // 0: no age limit
  long long compress_after_seconds = 0;  // 0: never gzip
  std::uint64_t max_total_bytes = 0;     // 0: no size limit
};

struct LogAction {
  std::filesystem::path file;
  std::string action;  // "gzip" or "remove"
  std::uint64_t bytes = 0;
  std::string reason;
};

// Throws dihya::Error naming the bad field.
LogRule log_rule_from_json(const nlohmann::json& j);

// What a run would do now, oldest first.
std::vector<LogAction> plan_logs(const LogRule& rule, std::chrono::system_clock::time_point now);

inline const char* kLogQuarantineDir = ".dihya-quarantine";

// Moves `file` into the run's quarantine dir; returns the new path. Throws
// dihya::Error, also when <dir>/.dihya-quarantine is a symlink or not a
// directory (it is refused, never followed).
std::filesystem::path quarantine_file(const std::filesystem::path& file, const std::string& run_id,
                                      std::chrono::system_clock::time_point expires_at);
// Writes file.gz next to `file` (same mtime, mode 0600 unless the original's), fsynced. A
// leftover .<name>.gz.partial (a crashed run's, or a planted symlink or FIFO) is removed,
// never written through; a directory there is refused. Throws dihya::Error.
std::filesystem::path gzip_file(const std::filesystem::path& file);
// Moves a file quarantine_file() moved back to `original`: `restored`; `already_back`
// when a file is at `original` (a rollback run twice, or a new log of that name: it is
// kept); `gone` when it is in neither place (purged, or the quarantine is no longer a
// real directory: a symlink there is not followed). Throws dihya::Error when the move fails.
enum class LogRestore { restored, already_back, gone };
LogRestore restore_log_file(const std::filesystem::path& quarantined, const std::filesystem::path& original);

// Deletes quarantine run dirs under `dir` whose expiry is <= now; returns files deleted.
// An .expires_at that is not a regular file (a symlink, a FIFO) marks no run of ours: left
// alone, never opened for reading in a way that could block. Throws dihya::Error when
// <dir>/.dihya-quarantine is a symlink or not a directory.
std::uint64_t purge_log_quarantine(const std::filesystem::path& dir, std::chrono::system_clock::time_point now,
                                   bool dry_run);

}  // namespace cleanup
