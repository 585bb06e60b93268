// SPDX-License-Identifier: AGPL-3.0-or-later
// The state log of a runs directory and its index: what `run` appends to and
// what `history`, `show`, `logs` and `rollback` read, so that reading the last
// runs costs the same at 100 runs as at 1,000,000.
//
//   <runs_dir>/state.log  append-only, one entry per line:
//                           "<len:8 hex> <crc32c:8 hex> <json>\n"
//                         The first entry is a header naming the log (a random
//                         id, changed whenever the log is rewritten). Every other
//                         entry is {"op":"put","run":{record},...} (the run's
//                         record as of then: the last put of a run wins) or
//                         {"op":"drop","id":...} (a run that never started).
//                         A put that starts or ends a run also carries the
//                         run.start or run.end line of the audit log ("audit":
//                         the line's text), written before the audit file, so
//                         that one fdatasync of this log makes both durable
//                         (audit/audit_log.hpp). An entry
//                         {"op":"audit","audit":...} carries a line that is
//                         no run's (a rollback's, a prune's) when it takes
//                         the seq of a carried line that never reached the
//                         audit file (AuditLog::OpenCarrier).
//                         Unknown keys are kept and ignored, so entries can grow.
//   <runs_dir>/state.idx  a derived sidecar: a 64-byte header (the log id and
//                         how many bytes of the log it covers) and one 56-byte
//                         entry per run, sorted by run id: start time, hashes of
//                         the plugin and schedule, flags, the offset of the run's
//                         last put. Readers bring it up to date from the log's
//                         tail (under a lock of the runs directory, released
//                         before they return: a long run that read the index
//                         never holds up another) and rebuild it when it is
//                         missing, damaged or names another log, by writing a
//                         new file and renaming it (a mapping held elsewhere
//                         stays valid); nothing ever fsyncs it.
//
// Crash consistency: an append is one write() under an exclusive flock() of
// the log. A crash can leave a torn last line; readers stop before it and the
// next writer truncates it before appending. A complete line whose checksum
// fails (a flipped bit) is skipped and counted. A missing log is rebuilt from
// the record.json files of the run directories (the layout before the log,
// and every run that keeps a directory keeps its record there too).
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "audit/audit_log.hpp"
#include "util/unique_fd.hpp"

namespace dihya::host {

// One run as the index knows it.
struct RunIndexEntry {
  std::uint64_t id_ms;       // the run id's timestamp: with id_suffix, sorts like the id
  std::uint32_t id_suffix;
  std::uint32_t flags;       // kIndex* below
  std::int64_t started_ms;   // started_at as ms since the epoch
  std::uint64_t plugin_hash;
  std::uint64_t schedule_hash;
  std::uint64_t offset;      // of the run's last put in state.log
  std::uint64_t audit_seq;
};
static_assert(sizeof(RunIndexEntry) == 56, "the index entry size is part of the file format");

inline constexpr std::uint32_t kIndexRunning = 1;       // the last put says "running"
inline constexpr std::uint32_t kIndexStartUnknown = 2;  // started_at did not parse: compare it as text
inline constexpr std::uint32_t kIndexDropped = 4;
inline constexpr std::uint32_t kIndexInterrupted = 8;  // marked interrupted (mark_interrupted_runs)

std::uint64_t run_log_hash(std::string_view text);
// The key of a run id; false when `id` is not a run id.
bool run_id_key(std::string_view id, std::uint64_t* ms, std::uint32_t* suffix);
// ISO UTC "2026-11-25T21:50:53.123Z" -> ms; false when not that exact shape.
bool parse_iso_ms(std::string_view iso, std::int64_t* ms);
// The smallest time whose ISO form compares >= `prefix` as a string (how
// `--since` has always compared).
std::int64_t since_threshold_ms(const std::string& prefix);

// The format of one line (exposed for the tests that tear it), from an entry
// or from the entry's JSON text (any text: for tests of damaged lines).
std::string run_log_line(const nlohmann::json& entry);
std::string run_log_line_of_text(std::string_view body);

class RunLog {
 public:
  explicit RunLog(std::filesystem::path runs_dir);
  ~RunLog();
  RunLog(const RunLog&) = delete;
  RunLog& operator=(const RunLog&) = delete;

  std::filesystem::path log_path() const { return runs_dir_ / "state.log"; }
  std::filesystem::path index_path() const { return runs_dir_ / "state.idx"; }

  // Appends `entry`; with `sync`, returns once it is on disk (fdatasync).
  // `reserve` sets aside kReserveBytes past the end of the log (fallocate,
  // KEEP_SIZE) so that the entry ending a run still fits when the disk fills
  // up meanwhile. Returns 0 on success, else the errno (the log then holds
  // nothing of the entry). Creates runs_dir's log (from its run directories)
  // when missing.
  int append(const nlohmann::json& entry, bool sync, bool reserve);
  static constexpr std::size_t kReserveBytes = 16 * 1024;
  // fdatasync of the log: makes the appends made without `sync` durable.
  // Returns 0 or the errno.
  int sync();

  // The audit lines the log's entries carry ("audit": a line of the audit
  // log, written here before the audit file; see AuditLog::Carrier), oldest
  // first: those with a seq >= `min_seq`, read backwards from the end of the
  // log down to the first carried line below `min_seq` (most often the last
  // entry or two: a few KiB). A torn last line, damaged lines and texts that
  // are not one line (a newline inside) are passed by.
  std::vector<std::string> carried_audit_lines(std::uint64_t min_seq) const;

  // Every audit line the log carries, read forward (AuditLog::verify's
  // cross-check): the log is opened now and read up to its size now, later
  // appends left out (the caller opens it under the audit file's lock).
  // nullptr when there is no log. Constant memory: one entry at a time.
  std::unique_ptr<CarriedCopies> open_carried_copies() const;

  // Brings the index up to date and maps it. False when there is no log and
  // no run directory to build one from (an empty history).
  bool open_index();
  const RunIndexEntry* begin() const { return entries_; }
  const RunIndexEntry* end() const { return entries_ + count_; }
  std::size_t size() const { return count_; }
  // Complete lines of the log whose checksum or JSON failed.
  std::uint64_t damaged() const { return damaged_; }
  const RunIndexEntry* find(std::string_view id) const;
  // find() by reading every entry: for telling "no such run" from an index
  // whose entries are out of order (damaged or edited), where the binary
  // search of find() misses runs it holds. Costs a pass over the index.
  bool holds(std::string_view id) const;

  // Drops the index and builds it again from the log, for a reader that
  // caught it lying (entries out of order, an entry whose offset holds
  // another run's record): it is derived, nothing is lost. Returns what
  // open_index() returns.
  bool rebuild_index();

  // The entry at `offset`; throws a state error (exit 1) naming the log when it
  // is damaged.
  nlohmann::json read_at(std::uint64_t offset) const;

  // Rewrites the log with only the runs `keep` accepts (asked of each put
  // kept, with its record: it must answer by the run's id), atomically, and
  // drops the index: of each run its last put, and the earlier puts that
  // carry an audit line (its run.start line stays for `audit verify` to
  // cross-check), but for a line whose seq a later put or "audit" entry
  // carries again (the line of a host that stopped before writing it to the
  // audit file: the later one took its seq). "audit" entries are left out
  // (the audit file, completed first, holds their lines). Returns how many
  // runs were left out.
  std::size_t compact(const std::function<bool(const nlohmann::json& run)>& keep);

 private:
  void create_log();
  void unmap();

  std::filesystem::path runs_dir_;
  UniqueFd log_fd_;  // read side, for read_at
  UniqueFd unsynced_fd_;  // the file of the last append made without sync
  UniqueFd idx_fd_;
  void* map_ = nullptr;
  std::size_t map_bytes_ = 0;
  const RunIndexEntry* entries_ = nullptr;
  std::size_t count_ = 0;
  std::uint64_t damaged_ = 0;
};

}  // namespace dihya::host
