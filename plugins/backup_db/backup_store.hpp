// SPDX-License-Identifier: AGPL-3.0-or-later
// The backup directory as a set of backups: each complete backup is a
// subdirectory `<UTC timestamp>_<database>` holding manifest.json (and
// verified.json once verified). Names starting with '.' are ours (partial
// backups, trash, snapshots) and never count as backups, nor does a directory
// named otherwise: backup_dir may be shared. Also the retention rules of
// prune (Barman's redundancy + recovery window), which only ever delete a
// backup whose manifest is backup_db's own, seal intact.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace backup_db {

struct BackupEntry {
  std::string name;
  std::filesystem::path path;
  nlohmann::json manifest;  // null when manifest.json cannot be read
  std::string manifest_error;
  std::optional<std::chrono::system_clock::time_point> finished;  // from the manifest
  // Written by backup_db and unedited (created_by, seal, finished_at): the
  // only kind of backup prune may delete. Otherwise `unsealed_why` says why.
  bool sealed = false;
  std::string unsealed_why;
  std::uint64_t size = 0;                                          // bytes of dump files
  std::string verified_state = "never";                            // never | ok | failed | stale
  std::string verified_at;                                         // ISO UTC, when verified
};

// A database name as part of a directory name: [A-Za-z0-9_.-], never hidden.
std::string file_safe(const std::string& name);

// Creates `dir` and each missing parent with mode 0700, whatever the umask,
// since backups hold every row in clear. Returns the directories it created,
// outermost first. Throws dihya::Error.
std::vector<std::filesystem::path> make_private_dirs(const std::filesystem::path& dir);

// Refuses (dihya::Error) a directory of ours that another user could have
// written: not a directory (a symlink included), not owned by us, or group- or
// other-writable. For what a rollback puts back (a snapshot, the trash).
void require_private_dir(const std::filesystem::path& dir);

// Whether `name` is one backup_db gives a backup: "20261126T002138Z_<db>[_N]".
bool is_backup_name(const std::string& name);

// Backups in `dir` (directories named as backups, holding manifest.json),
// oldest first by the manifest's finished_at (the name's time when the
// manifest cannot be read).
std::vector<BackupEntry> list_backups(const std::filesystem::path& dir);

// The backup named `name` (a name in `dir` or an absolute path) or, when
// `name` is empty or "latest", the newest one. Throws dihya::Error with the fix.
BackupEntry find_backup(const std::filesystem::path& dir, const std::string& name);

// "2026-11-26T00:21:38Z" (written by dihya::format_utc) back to a time;
// nullopt when malformed or beyond what a time_point holds.
std::optional<std::chrono::system_clock::time_point> parse_utc(const std::string& text);
// "20261126T002138Z", for directory names.
std::string compact_utc(std::chrono::system_clock::time_point t);
// now - then in seconds, computed without overflow for any two time points
// (a time_point difference in nanoseconds overflows past ~292 years).
std::chrono::seconds age_at(std::chrono::system_clock::time_point now, std::chrono::system_clock::time_point then);
// "3d 4h", "12m", "40s".
std::string human_age(std::chrono::seconds age);
// "1.2 GiB".
std::string human_size(std::uint64_t bytes);

struct RetentionPlan {
  std::vector<const BackupEntry*> keep;
  std::vector<const BackupEntry*> remove;
  // Not sealed by backup_db (foreign, damaged or edited manifest): never
  // deleted and not counted by keep_last.
  std::vector<const BackupEntry*> skip;
  // Set when the plan would delete every verified backup: why prune refuses.
  std::string refusal;
};

// A sealed backup is kept when it is among the `keep_last` newest (by
// finished_at) or finished within `keep_within` of `now`; either rule keeps it.
RetentionPlan plan_retention(const std::vector<BackupEntry>& backups, std::optional<long long> keep_last,
                             std::optional<std::chrono::seconds> keep_within,
                             std::chrono::system_clock::time_point now);

}  // namespace backup_db
