// SPDX-License-Identifier: AGPL-3.0-or-later
// The history of runs. Records live in the state log of the runs directory
// (runs/run_log.hpp: <runs_dir>/state.log and its index state.idx); a run
// also gets a directory for what it writes while it runs:
//   <runs_dir>/<id>/journal.jsonl  the undo journal (journal/run_journal.hpp)
//   <runs_dir>/<id>/log.txt        the plugin's log
//   <runs_dir>/<id>/report.txt     the plugin's report, for `show`
//   <runs_dir>/<id>/output/        the default output directory
//   <runs_dir>/<id>/record.json    a copy of the final record, for rebuilding
//                                  the log (only in directories that are kept)
// When the run ends, a log and a report of up to kInlineBytes go into the
// final record's log entry, empty files and directories are removed, and a
// run that leaves nothing else (a read-only run) keeps no directory at all:
// a noop run costs one start and one end entry in the log (~3.2 KB with the
// audit lines they carry and the sandbox plan).
//
// Guarantees: the start record is on disk (fdatasync of the log) before
// create() returns (or sync(), see Flush), so before the plugin can change
// anything; the end record is on disk before update() (or sync()) returns; directories and files are private to
// the user (0700 / 0600); a user-supplied id is validated before it touches a
// path; a damaged entry never stops `history`.
//
// A record still saying "running" whose host process is gone (crash, kill,
// power loss) is reported as "interrupted" by load() and list();
// mark_interrupted_runs() writes that down. Not thread-safe per instance, but
// several processes may use the same directory: each run has one writer and
// appends are serialised by a lock on the log.
#pragma once

#include <cstdint>
#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "audit/audit_log.hpp"
#include "runs/run_lock.hpp"
#include "runs/run_record.hpp"
#include "runs/spare_dirs.hpp"


namespace dihya::host {

class RunLog;

// An entry list() could not read, and why.
struct SkippedRun {
  std::string id;
  std::string reason;
};

// What `history` asks for: the last `limit` runs (0: all) that match every
// filter given, oldest first.
struct RunQuery {
  std::optional<std::string> plugin;
  std::optional<std::string> schedule_id;
  std::optional<std::string> since_iso;  // compared as strings, as list() does
  std::size_t limit = 0;
};

// A record with what its final log entry holds inline.
struct StoredRun {
  RunRecord record;
  std::optional<std::string> log;     // the plugin's log, when it was kept inline
  std::optional<std::string> report;  // the plugin's report, when it was kept inline
};

// Which runs `history prune` removes: those started before now - max_age, and
// all but the newest keep. Never a running or interrupted run; never a run
// whose journal can still be rolled back unless include_undoable.
struct PrunePolicy {
  std::optional<std::chrono::milliseconds> max_age;
  std::optional<std::size_t> keep;
  bool include_undoable = false;
  std::chrono::system_clock::time_point now;
  // Set for a prune that removes: a run with a journal is planned only when
  // the lock of its plugin (runs/run_lock.hpp) is free, and the plan holds
  // that lock, so no rollback of it can start until the prune is done. A
  // rollback holds it while it runs: its run is passed over (kept_locked).
  std::optional<std::filesystem::path> locks_dir;
};

struct PrunePlan {
  std::vector<std::string> ids;  // oldest first
  std::size_t kept_running = 0;   // running or interrupted runs the policy matched
  std::size_t kept_undoable = 0;  // runs with a journal that can still be rolled back
  std::size_t kept_locked = 0;    // runs with a journal whose plugin's lock is held (a rollback running)
  std::size_t total = 0;          // runs in the history
  std::vector<PluginLock> locks;  // see PrunePolicy::locks_dir: held until the plan is dropped
};

class RunStore {
 public:
  // `runs_dir` is usually <state_dir>/runs; it is created (0700) on first create().
  explicit RunStore(std::filesystem::path runs_dir);
  ~RunStore();
  RunStore(RunStore&&) noexcept;
  RunStore& operator=(RunStore&&) noexcept;

  // The run's directory. Throws a usage error (HostError, exit 2) when `id` is
  // not a valid run id, so "../x" from a command line never becomes a path.
  std::filesystem::path dir(const std::string& id) const;
  std::filesystem::path record_file(const std::string& id) const { return dir(id) / "record.json"; }
  std::filesystem::path journal_file(const std::string& id) const { return dir(id) / "journal.jsonl"; }
  std::filesystem::path log_file(const std::string& id) const { return dir(id) / "log.txt"; }

  // Bytes set aside past the end of the state log for the final records of
  // running runs (fallocate KEEP_SIZE: no file, nothing left per run).
  static constexpr std::size_t kReserveBytes = 16 * 1024;
  // The largest log or report kept inline in the final record.
  static constexpr std::size_t kInlineBytes = 2048;

  // When create() and update() make their entry durable. kLater leaves the
  // fdatasync (and, for a final record, the tidying of the run directory) to
  // sync(), so that the run's audit line is written to the audit file between
  // the append and the flush that makes both durable (AuditPut).
  enum class Flush { kNow, kLater };

  // Creates the run's directory (0700; a spare, see spare_dirs.hpp), appends its record to the state log
  // (durable on return, or once sync() returns with kLater) and sets aside the
  // space its final record will need.
  // Throws a state error (errors.hpp, exit 1) when the run already exists, or
  // naming the path when the disk refuses ("No space left on device"); then
  // nothing of the run is left on disk.
  void create(const RunRecord& record, Flush flush = Flush::kNow);
  // create() in two steps, for a start record that carries its audit line
  // (AuditPut): the directory, then the record (`audit_line`: the run.start
  // line of the audit log, kept in the entry).
  void create_dir(const std::string& id);
  void append_start(const RunRecord& record, Flush flush, const std::string* audit_line = nullptr);

  // Removes a run that never started (its start could not be audited).
  void remove(const std::string& id);

  // Appends the new record of an existing run (durable on return); a record
  // that ends the run also tidies its directory (see above). When the disk is
  // full, the record goes into the space create() set aside (the result data
  // dropped if it does not fit), so a finished run is never left "running".
  // Throws HostError (exit 1) naming the path when the disk refuses anyway.
  // `audit_line`: the run.end line of the audit log, kept in the entry.
  void update(const RunRecord& record, Flush flush = Flush::kNow, const std::string* audit_line = nullptr);

  // Makes what create() and update() appended with kLater durable. Throws
  // HostError (exit 1) naming the log when it cannot.
  void sync();

  // The record, or nothing when there is no such run. Throws a state error (exit 1)
  // naming the file when its entry is damaged.
  std::optional<RunRecord> load(const std::string& id) const;
  std::optional<StoredRun> load_stored(const std::string& id) const;

  // Records sorted by id (= by start time), optionally only those of `plugin`
  // and those started at or after `since_iso` (compared as strings, so a
  // prefix like "2026-11" or "2026-11-25T21" works). Damaged entries are left
  // out and, when `skipped` is given, listed there with the reason. A missing
  // runs_dir is an empty history.
  std::vector<RunRecord> list(std::optional<std::string> plugin = std::nullopt,
                              std::optional<std::string> since_iso = std::nullopt,
                              std::vector<SkippedRun>* skipped = nullptr) const;
  // The same from the newest backwards, stopping at query.limit: the cost of
  // `history --limit 5` does not grow with the history.
  std::vector<RunRecord> query(const RunQuery& query, std::vector<SkippedRun>* skipped = nullptr) const;

  // The highest audit seq any record names, and its run (for `audit verify`).
  std::uint64_t max_audit_seq(std::string* run_id) const;

  PrunePlan plan_prune(const PrunePolicy& policy) const;
  // Removes the runs' directories, then their records (one rewrite of the
  // log). Returns how many records went.
  std::size_t prune(const std::vector<std::string>& ids);

  // Off only for generating test histories (bench/gen_runs): the same code
  // path without the fdatasyncs.
  void set_durable(bool durable) { durable_ = durable; }

  // Rewrites every "running" record whose host is gone as "interrupted", with
  // an empty (unknown) ended_at, and returns the records written. Run on host
  // start so `history` and `rollback` see the truth even for runs nobody looks at.
  std::vector<RunRecord> mark_interrupted_runs();
  // The same for one run: its record written, or nothing when it does not
  // still say "running" with its host gone (alive, ended, already marked).
  std::optional<RunRecord> mark_interrupted(const std::string& id);

  // Empty directories kept for the next runs (<runs_dir>/../spare): the run
  // dir comes from there and goes back when the run leaves nothing in it.
  SpareDirs& spares() { return spares_; }
  // The run's default output dir (<run dir>/output) may go back to the spares
  // when the run leaves it empty: no process that could write to it is left
  // (see spare_dirs.hpp). Otherwise an empty one is removed.
  void set_output_recyclable(bool recyclable) { output_recyclable_ = recyclable; }

 private:
  void tidy(const std::filesystem::path& run_dir, const std::vector<std::filesystem::path>& inlined,
            const RunRecord& record);
  static std::string record_bytes(const RunRecord& record);
  bool lock_plugin_of(const std::string& id, const std::filesystem::path& locks_dir, std::map<std::string, bool>* locked,
                      std::vector<PluginLock>* locks) const;
  // query() over the index as it is. When `index_lied` is given, an entry that
  // breaks the index's promises (order, offset) sets it and ends the scan.
  std::vector<RunRecord> query_index(const RunQuery& query, std::vector<SkippedRun>* skipped, bool* index_lied) const;

  std::filesystem::path runs_dir_;
  std::unique_ptr<RunLog> log_;
  SpareDirs spares_;
  bool output_recyclable_ = false;
  bool durable_ = true;
  // What update(kLater) of a final record left for sync(): the run directory
  // is tidied (inlined files removed) only once the record holding them is
  // on disk.
  struct PendingTidy {
    std::filesystem::path run_dir;
    std::vector<std::filesystem::path> inlined;
    RunRecord record;
  };
  std::optional<PendingTidy> pending_tidy_;
};

// The carrier of a run's run.start or run.end audit line (AuditLog::Carrier):
// the record that starts the run (after create_dir()) or ends it is appended
// with the line, and the one fdatasync of the state log makes both durable.
class AuditPut final : public AuditLog::Carrier {
 public:
  enum class Kind { kStart, kEnd };
  AuditPut(RunStore& store, RunRecord& record, Kind kind) : store_(store), record_(record), kind_(kind) {}
  // kStart then sets the record's audit_seq to the line's seq (for the end record).
  void carry(const std::string& line, std::uint64_t seq) override;
  void sync() override { store_.sync(); }
  // Whether the record was appended (with the line).
  bool carried() const { return carried_; }

 private:
  RunStore& store_;
  RunRecord& record_;
  Kind kind_;
  bool carried_ = false;
};

// The audit log of a state dir (<state_dir>/audit.jsonl), completed from the
// lines its state log (<state_dir>/runs/state.log) carries.
AuditLog state_audit_log(const std::filesystem::path& state_dir, bool to_syslog);

// True when `record` says "running" but its host process is gone.
bool is_interrupted(const RunRecord& record);

}  // namespace dihya::host
