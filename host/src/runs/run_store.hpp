// SPDX-License-Identifier: AGPL-3.0-or-later
// The history of runs on disk, one directory per run:
//   <runs_dir>/<id>/record.json    the RunRecord, replaced atomically
//   <runs_dir>/<id>/journal.jsonl  the undo journal (journal/run_journal.hpp)
//   <runs_dir>/<id>/log.txt        the plugin's log
// Guarantees: a record is always either the old or the new version, never a
// mix (temporary file + fsync + rename + fsync of the directory); directories
// and files are private to the user (0700 / 0600); a user-supplied id is
// validated before it touches a path; a damaged record never stops `history`.
//
// A record still saying "running" whose host process is gone (crash, kill,
// power loss) is reported as "interrupted" by load() and list();
// mark_interrupted_runs() writes that down. Not thread-safe per instance, but
// several processes may use the same directory: each run has one writer.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "runs/run_record.hpp"

namespace dihya::host {

// A run directory list() could not read, and why.
struct SkippedRun {
  std::string id;
  std::string reason;
};

class RunStore {
 public:
  // `runs_dir` is usually <state_dir>/runs; it is created (0700) on first create().
  explicit RunStore(std::filesystem::path runs_dir);

  // The run's directory. Throws a usage error (HostError, exit 2) when `id` is
  // not a valid run id, so "../x" from a command line never becomes a path.
  std::filesystem::path dir(const std::string& id) const;
  std::filesystem::path record_file(const std::string& id) const { return dir(id) / "record.json"; }
  std::filesystem::path journal_file(const std::string& id) const { return dir(id) / "journal.jsonl"; }
  std::filesystem::path log_file(const std::string& id) const { return dir(id) / "log.txt"; }

  // Bytes set aside in each run directory (record.reserve) for its final record.
  static constexpr std::size_t kReserveBytes = 16 * 1024;

  // Creates the run's directory (0700), its record and the space its final
  // record will need. Throws std::runtime_error when the run already exists,
  // HostError (exit 1) naming the path when the disk refuses ("No space left
  // on device"); then nothing of the run is left on disk.
  void create(const RunRecord& record);

  // Removes a run that never started (its start could not be audited).
  void remove(const std::string& id);

  // Atomically replaces the record of an existing run. When the disk is full,
  // the record is written into the space create() set aside (the result data
  // dropped if it does not fit), so a finished run is never left "running".
  // The reserve is released once the run has ended. Throws HostError (exit 1)
  // naming the path when the disk refuses anyway.
  void update(const RunRecord& record);

  // The record, or nothing when there is no such run. Throws std::runtime_error
  // naming the file when record.json is damaged.
  std::optional<RunRecord> load(const std::string& id) const;

  // Records sorted by id (= by start time), optionally only those of `plugin`
  // and those started at or after `since_iso` (compared as strings, so a
  // prefix like "2026-11" or "2026-11-25T21" works). Damaged or incomplete run
  // directories are left out and, when `skipped` is given, listed there with
  // the reason. A missing runs_dir is an empty history.
  std::vector<RunRecord> list(std::optional<std::string> plugin = std::nullopt,
                              std::optional<std::string> since_iso = std::nullopt,
                              std::vector<SkippedRun>* skipped = nullptr) const;

  // Rewrites every "running" record whose host is gone as "interrupted", with
  // an empty (unknown) ended_at, and returns their ids. Run on host start so
  // `history` and `rollback` see the truth even for runs nobody looks at.
  std::vector<std::string> mark_interrupted_runs();

 private:
  std::optional<RunRecord> read_record(const std::string& id) const;
  std::vector<std::string> run_ids() const;
  void write_record(const RunRecord& record) const;
  bool write_into_reserve(const std::filesystem::path& run_dir, RunRecord record) const;
  static std::string record_bytes(const RunRecord& record);

  std::filesystem::path runs_dir_;
};

// True when `record` says "running" but its host process is gone.
bool is_interrupted(const RunRecord& record);

}  // namespace dihya::host
