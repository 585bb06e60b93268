// SPDX-License-Identifier: AGPL-3.0-or-later
// Run records in the state log; run directories only for what runs write.
// The start and the end of a run each cost one append and one fdatasync of
// the log (`run` syncs it after the audit line it wrote meanwhile: Flush::kLater);
// the run directory itself needs no fsync (nothing that must survive
// a crash is only there before its journal, which fsyncs itself).
#include "runs/run_store.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <stdexcept>
#include <system_error>
#include <tuple>
#include <utility>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <dihya/plugin.hpp>
#include <fmt/format.h>

#include "errors.hpp"
#include "journal/run_journal.hpp"
#include "runs/run_id.hpp"
#include "runs/run_log.hpp"
#include "util/atomic_file.hpp"
#include "util/trusted_path.hpp"
#include "util/unique_fd.hpp"

namespace dihya::host {
namespace {

// Reporting, not rewriting: a reader must not race the record's owner.
RunRecord with_liveness(RunRecord record) {
  if (is_interrupted(record)) record.outcome = kOutcomeInterrupted;
  return record;
}

// A small regular file (not a symlink) read whole, or nothing.
std::optional<std::string> small_file(const std::filesystem::path& file, std::size_t max) {
  UniqueFd fd(::open(file.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
  if (!fd) return std::nullopt;
  std::string text;
  if (read_regular_file(fd.get(), &text, max)) return std::nullopt;
  return text;
}

std::string id_of(const RunIndexEntry& e) {
  const auto t = std::chrono::system_clock::time_point(std::chrono::milliseconds(e.id_ms));
  const std::string iso = format_iso_utc(t);  // 2026-11-25T21:50:53.123Z
  return fmt::format("{}{}{}T{}{}{}.{}Z-{:06x}", iso.substr(0, 4), iso.substr(5, 2), iso.substr(8, 2),
                     iso.substr(11, 2), iso.substr(14, 2), iso.substr(17, 2), iso.substr(20, 3), e.id_suffix);
}

StoredRun stored_of(const nlohmann::json& entry, const std::filesystem::path& log) {
  StoredRun out;
  try {
    out.record = entry.at("run").get<RunRecord>();
  } catch (const std::exception& e) {
    throw state_error(fmt::format("run store: an entry of {} is damaged: {}", log.string(), e.what()));
  }
  if (auto it = entry.find("log"); it != entry.end() && it->is_string()) out.log = it->get<std::string>();
  if (auto it = entry.find("report"); it != entry.end() && it->is_string()) out.report = it->get<std::string>();
  return out;
}

// Whether `entry` (read at e's offset) is a put of the run `e` indexes.
bool is_put_of(const nlohmann::json& entry, const RunIndexEntry& e) {
  const auto run = entry.find("run");
  if (run == entry.end() || !run->is_object()) return false;
  const auto id = run->find("id");
  std::uint64_t ms = 0;
  std::uint32_t suffix = 0;
  return id != run->end() && id->is_string() && run_id_key(id->get_ref<const std::string&>(), &ms, &suffix) &&
         ms == e.id_ms && suffix == e.id_suffix;
}

}  // namespace

bool is_interrupted(const RunRecord& record) {
  return record.outcome == kOutcomeRunning && process_is_gone(host_process(record));
}

RunStore::RunStore(std::filesystem::path runs_dir)
    : runs_dir_(std::move(runs_dir)), log_(std::make_unique<RunLog>(runs_dir_)),
      spares_(runs_dir_.parent_path() / "spare") {}
RunStore::~RunStore() = default;
RunStore::RunStore(RunStore&&) noexcept = default;
RunStore& RunStore::operator=(RunStore&&) noexcept = default;

std::filesystem::path RunStore::dir(const std::string& id) const {
  if (!is_valid_run_id(id)) {
    throw usage_error(fmt::format(
        "invalid run id '{}': expected the shape 20261125T215053.123Z-3f9a1c (see `dihya-host "
        "history`)", id));
  }
  return runs_dir_ / id;
}

void RunStore::create(const RunRecord& record, Flush flush) {
  create_dir(record.id);
  append_start(record, flush);
}

void RunStore::create_dir(const std::string& id) {
  const auto run_dir = dir(id);
  // The state dir above was made private by the caller (prepare_state_dir).
  make_own_subdir(runs_dir_, "runs directory");
  if (const int err = spares_.make(run_dir)) {
    if (err == EEXIST) {
      throw state_error(fmt::format("run store: run {} already exists in {}", id, runs_dir_.string()));
    }
    throw HostError(kExitRunFailed,
                    fmt::format("run store: cannot create {}: {}", run_dir.string(), std::strerror(err)));
  }
}

void RunStore::append_start(const RunRecord& record, Flush flush, const std::string* audit_line) {
  nlohmann::json entry{{"op", "put"}, {"run", record}};
  if (audit_line) entry["audit"] = *audit_line;
  if (int err = log_->append(entry, durable_ && flush == Flush::kNow, true)) {
    // A run that could not be recorded did not start: leave nothing behind.
    ::rmdir(dir(record.id).c_str());
    throw HostError(kExitRunFailed, fmt::format("run store: cannot append to {}: {}", log_->log_path().string(),
                                                std::strerror(err)));
  }
}

void RunStore::remove(const std::string& id) {
  const auto run_dir = dir(id);
  // The start was recorded; the drop tells readers the run never happened.
  if (log_->append({{"op", "drop"}, {"id", id}}, durable_, false) != 0) {
    // Left as a start whose host is gone: `history` shows it as interrupted.
  }
  std::error_code ec;
  std::filesystem::remove_all(run_dir, ec);
}

void RunStore::update(const RunRecord& record, Flush flush, const std::string* audit_line) {
  auto run_dir = dir(record.id);
  struct stat st{};
  const bool has_dir = ::lstat(run_dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
  if (!has_dir && !load(record.id)) {
    throw state_error(fmt::format("run store: cannot update run {}: no such run in {}", record.id,
                                         runs_dir_.string()));
  }
  const bool ended = record.outcome != kOutcomeRunning;
  nlohmann::json entry{{"op", "put"}, {"run", record}};
  if (audit_line) entry["audit"] = *audit_line;
  std::vector<std::filesystem::path> inlined;
  if (ended && has_dir) {
    for (const char* name : {"log", "report"}) {
      const auto file = run_dir / (std::string(name) + ".txt");
      if (auto text = small_file(file, kInlineBytes)) {
        entry[name] = std::move(*text);
        inlined.push_back(file);
      }
    }
  }
  const bool sync_now = durable_ && flush == Flush::kNow;
  int err = log_->append(entry, sync_now, false);
  if (err == ENOSPC || err == EDQUOT) {
    // The reserve past the log's end takes the outcome; the plugin's data and
    // inline texts may not fit in it.
    RunRecord small = record;
    small.result = {{"truncated", "the disk was full: the result data was not recorded"}};
    if (small.summary.size() > 1024) small.summary.resize(1024);
    entry = {{"op", "put"}, {"run", small}};
    if (audit_line) entry["audit"] = *audit_line;
    inlined.clear();
    err = log_->append(entry, sync_now, false);
  }
  if (err) {
    throw HostError(kExitRunFailed, fmt::format("run store: run {}: cannot append to {}: {}", record.id,
                                                log_->log_path().string(), std::strerror(err)));
  }
  if (!ended || !has_dir) return;
  if (sync_now || !durable_) {
    tidy(run_dir, inlined, record);
  } else {
    pending_tidy_ = PendingTidy{run_dir, std::move(inlined), record};
  }
}

void RunStore::sync() {
  if (!durable_) return;
  if (int err = log_->sync()) {
    throw HostError(kExitRunFailed, fmt::format("run store: cannot sync {}: {}", log_->log_path().string(),
                                                std::strerror(err)));
  }
  if (pending_tidy_) {
    const PendingTidy pending = std::move(*pending_tidy_);
    pending_tidy_.reset();
    tidy(pending.run_dir, pending.inlined, pending.record);
  }
}

void RunStore::tidy(const std::filesystem::path& run_dir, const std::vector<std::filesystem::path>& inlined,
                    const RunRecord& record) {
  for (const auto& file : inlined) ::unlink(file.c_str());
  ::unlink((run_dir / "record.reserve").c_str());  // directories from before the log
  // An output dir the plugin wrote files into stays: neither call takes a
  // directory that is not empty.
  const auto output = run_dir / "output";
  if (!output_recyclable_ || !spares_.recycle(output)) ::rmdir(output.c_str());
  // The run dir itself was never the plugin's to write.
  if (spares_.recycle(run_dir)) return;
  // Kept (a journal, a long log, files): a copy of the record lets the log be
  // rebuilt from the directories. The log is the truth, so no error matters.
  try {
    write_file_atomically(run_dir / "record.json", record_bytes(record), 0600);
  } catch (const HostError&) {
  }
}

std::string RunStore::record_bytes(const RunRecord& record) {
  // Replace, not throw, on invalid UTF-8: a plugin's odd summary must not cost
  // the run its record.
  return nlohmann::json(record).dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

std::optional<StoredRun> RunStore::load_stored(const std::string& id) const {
  dir(id);  // validates the id
  if (!log_->open_index()) return std::nullopt;
  // The index is a cache of the log that anyone who can write the state dir
  // (or a bad disk) can garble: one that misses a run it holds (entries out
  // of order) or points at something else than the run's record is rebuilt
  // from the log before it is believed.
  for (bool rebuilt = false;; rebuilt = true) {
    const RunIndexEntry* e = log_->find(id);
    if (e == nullptr && !rebuilt && log_->holds(id)) {
      log_->rebuild_index();
      continue;
    }
    if (e == nullptr || (e->flags & kIndexDropped)) return std::nullopt;
    nlohmann::json entry;
    try {
      entry = log_->read_at(e->offset);
    } catch (const HostError&) {
      if (rebuilt) throw;
      log_->rebuild_index();
      continue;
    }
    if (!is_put_of(entry, *e) && !rebuilt) {
      log_->rebuild_index();
      continue;
    }
    StoredRun run = stored_of(entry, log_->log_path());
    if (run.record.id != id) {
      throw state_error(fmt::format("run store: {} names run {} where run {} was expected",
                                    log_->log_path().string(), run.record.id, id));
    }
    run.record = with_liveness(std::move(run.record));
    return run;
  }
}

std::optional<RunRecord> RunStore::load(const std::string& id) const {
  auto run = load_stored(id);
  if (!run) return std::nullopt;
  return std::move(run->record);
}

std::vector<RunRecord> RunStore::list(std::optional<std::string> plugin, std::optional<std::string> since_iso,
                                      std::vector<SkippedRun>* skipped) const {
  RunQuery q;
  q.plugin = std::move(plugin);
  q.since_iso = std::move(since_iso);
  return query(q, skipped);
}

std::vector<RunRecord> RunStore::query(const RunQuery& q, std::vector<SkippedRun>* skipped) const {
  if (!log_->open_index()) return {};
  const std::size_t skipped_before = skipped ? skipped->size() : 0;
  bool index_lied = false;
  std::vector<RunRecord> out = query_index(q, skipped, &index_lied);
  if (index_lied) {
    // Said, not hidden: an index that lists a run twice or leaves one out
    // would make `history` lie. It is derived from the log: rebuilt, asked again.
    if (skipped) skipped->resize(skipped_before);
    log_->rebuild_index();
    out = query_index(q, skipped, nullptr);
    if (skipped) {
      skipped->push_back({"state.idx", fmt::format("did not match {} (damaged or edited): rebuilt from it",
                                                   log_->log_path().string())});
    }
  }
  if (skipped && log_->damaged() > 0) {
    skipped->push_back({"state.log", fmt::format("{} damaged entr{} of {} skipped (a checksum failed)",
                                                 log_->damaged(), log_->damaged() == 1 ? "y" : "ies",
                                                 log_->log_path().string())});
  }
  return out;
}

std::vector<RunRecord> RunStore::query_index(const RunQuery& q, std::vector<SkippedRun>* skipped,
                                             bool* index_lied) const {
  std::vector<RunRecord> out;
  const std::uint64_t plugin_hash = q.plugin ? run_log_hash(*q.plugin) : 0;
  const std::uint64_t schedule_hash = q.schedule_id ? run_log_hash(*q.schedule_id) : 0;
  const std::int64_t since_ms = q.since_iso ? since_threshold_ms(*q.since_iso) : 0;
  // Each entry read is checked against the index's promises (sorted by id, the
  // offset of that run's record), at the cost of a comparison: the first
  // broken one stops the scan when `index_lied` is asked for.
  const auto lied = [index_lied] {
    if (index_lied != nullptr) *index_lied = true;
    return index_lied != nullptr;
  };
  const RunIndexEntry* later = nullptr;
  for (const RunIndexEntry* e = log_->end(); e != log_->begin(); later = e) {
    --e;
    if (later != nullptr && std::tie(e->id_ms, e->id_suffix) >= std::tie(later->id_ms, later->id_suffix) && lied()) {
      return {};
    }
    // The index narrows; the record decides (a hash can collide).
    if (e->flags & kIndexDropped) continue;
    if (q.plugin && e->plugin_hash != plugin_hash) continue;
    if (q.schedule_id && e->schedule_hash != schedule_hash) continue;
    if (q.since_iso && !(e->flags & kIndexStartUnknown) && e->started_ms < since_ms) continue;
    nlohmann::json entry;
    try {
      entry = log_->read_at(e->offset);
    } catch (const HostError& ex) {
      // The entry points at no whole line of the log.
      if (lied()) return {};
      if (skipped) skipped->push_back({id_of(*e), ex.what()});
      continue;
    }
    if (!is_put_of(entry, *e) && lied()) return {};
    RunRecord record;
    try {
      record = stored_of(entry, log_->log_path()).record;
    } catch (const std::exception& ex) {
      if (skipped) skipped->push_back({id_of(*e), ex.what()});
      continue;
    }
    if (q.plugin && record.plugin != *q.plugin) continue;
    if (q.schedule_id && record.schedule_id != *q.schedule_id) continue;
    if (q.since_iso && record.started_at < *q.since_iso) continue;
    out.push_back(with_liveness(std::move(record)));
    if (q.limit != 0 && out.size() == q.limit) break;
  }
  std::reverse(out.begin(), out.end());
  return out;
}

std::uint64_t RunStore::max_audit_seq(std::string* run_id) const {
  std::uint64_t max = 0;
  if (!log_->open_index()) return 0;
  for (const RunIndexEntry* e = log_->begin(); e != log_->end(); ++e) {
    if ((e->flags & kIndexDropped) || e->audit_seq <= max) continue;
    max = e->audit_seq;
    if (run_id) *run_id = id_of(*e);
  }
  return max;
}

std::vector<RunRecord> RunStore::mark_interrupted_runs() {
  std::vector<RunRecord> marked;
  std::vector<std::string> running;
  if (!log_->open_index()) return marked;
  for (const RunIndexEntry* e = log_->begin(); e != log_->end(); ++e) {
    if ((e->flags & kIndexRunning) && !(e->flags & kIndexDropped)) running.push_back(id_of(*e));
  }
  for (const auto& id : running) {
    if (auto record = mark_interrupted(id)) marked.push_back(std::move(*record));
  }
  return marked;
}

std::optional<RunRecord> RunStore::mark_interrupted(const std::string& id) {
  if (!log_->open_index()) return std::nullopt;
  // load_stored() reports a dead host's run as "interrupted" whether or not
  // that was written down: the index tells which record still says running.
  const RunIndexEntry* e = log_->find(id);
  if (e == nullptr || !(e->flags & kIndexRunning) || (e->flags & kIndexDropped)) return std::nullopt;
  std::optional<StoredRun> run;
  try {
    run = load_stored(id);
  } catch (const std::exception&) {
    return std::nullopt;  // list() reports it; nothing to mark
  }
  if (!run || run->record.outcome != kOutcomeInterrupted) return std::nullopt;
  RunRecord record = std::move(run->record);
  record.ended_at.clear();
  if (record.summary.empty()) record.summary = "the host stopped (crash, kill or power loss) before the run ended";
  update(record);
  return record;
}

// Whether the lock of run `id`'s plugin is held by this prune (taken now, or
// for an earlier run of the same plugin: `locked` maps the plugin to whether
// it could be taken). A rollback, or a run of the plugin that took its lock,
// holds it: the run is then left for a later prune. A record that cannot be
// read names no plugin, and no rollback can read it either.
bool RunStore::lock_plugin_of(const std::string& id, const std::filesystem::path& locks_dir,
                              std::map<std::string, bool>* locked, std::vector<PluginLock>* locks) const {
  std::optional<RunRecord> record;
  try {
    record = load(id);
  } catch (const std::exception&) {
    return true;
  }
  if (!record || !is_plugin_name(record->plugin)) return true;
  const auto known = locked->find(record->plugin);
  if (known != locked->end()) return known->second;
  auto lock = PluginLock::try_acquire(locks_dir, record->plugin, "history-prune");
  (*locked)[record->plugin] = lock.has_value();
  if (lock) locks->push_back(std::move(*lock));
  return lock.has_value();
}

PrunePlan RunStore::plan_prune(const PrunePolicy& policy) const {
  PrunePlan plan;
  if (!log_->open_index()) return plan;
  std::map<std::string, bool> locked;  // lock_plugin_of()
  const std::int64_t now_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(policy.now.time_since_epoch()).count();
  std::size_t rank = 0;  // 0: the newest run
  for (const RunIndexEntry* e = log_->end(); e != log_->begin();) {
    --e;
    if (e->flags & kIndexDropped) continue;
    const bool beyond_keep = policy.keep && rank >= *policy.keep;
    ++rank;
    const std::int64_t started =
        (e->flags & kIndexStartUnknown) ? static_cast<std::int64_t>(e->id_ms) : e->started_ms;
    const bool too_old = policy.max_age && started < now_ms - policy.max_age->count();
    if (!beyond_keep && !too_old) continue;
    if (e->flags & (kIndexRunning | kIndexInterrupted)) {
      ++plan.kept_running;
      continue;
    }
    const std::string id = id_of(*e);
    const auto journal = runs_dir_ / id / "journal.jsonl";
    struct stat st{};
    const bool has_journal = ::lstat(journal.c_str(), &st) == 0;
    if (has_journal && !policy.include_undoable) {
      bool undoable = true;
      try {
        const JournalContents contents = read_journal(journal);
        undoable = !contents.entries.empty() && !contents.rollback_done;
      } catch (const std::exception&) {
        undoable = true;  // a journal nobody can read yet: keep it for the operator
      }
      if (undoable) {
        ++plan.kept_undoable;
        continue;
      }
    }
    if (has_journal && policy.locks_dir && !lock_plugin_of(id, *policy.locks_dir, &locked, &plan.locks)) {
      ++plan.kept_locked;
      continue;
    }
    plan.ids.push_back(id);
  }
  plan.total = rank;
  std::reverse(plan.ids.begin(), plan.ids.end());
  return plan;
}

std::size_t RunStore::prune(const std::vector<std::string>& ids) {
  if (ids.empty()) return 0;
  std::vector<std::string> sorted = ids;
  std::sort(sorted.begin(), sorted.end());
  // Directories first: a crash before the log is rewritten leaves records
  // whose directory is gone, which the next prune removes again.
  for (const auto& id : sorted) {
    std::error_code ec;
    std::filesystem::remove_all(dir(id), ec);
  }
  return log_->compact([&](const nlohmann::json& run) {
    const auto id = run.value("id", std::string());
    return !std::binary_search(sorted.begin(), sorted.end(), id);
  });
}

void AuditPut::carry(const std::string& line, std::uint64_t seq) {
  if (kind_ == Kind::kStart) {
    // Named from the next record on: a start record whose line never reached
    // the audit file (its host killed in between) must not name it.
    store_.append_start(record_, RunStore::Flush::kLater, &line);
    record_.audit_seq = seq;
  } else {
    store_.update(record_, RunStore::Flush::kLater, &line);
  }
  carried_ = true;
}

namespace {

// The carrier of a line that is no run's (AuditLog::OpenCarrier): an entry
// {"op":"audit","audit":<line>} of the state log, flushed by sync().
class AuditEntry final : public AuditLog::Carrier {
 public:
  explicit AuditEntry(const std::filesystem::path& runs_dir) : log_(runs_dir) {}
  void carry(const std::string& line, std::uint64_t) override {
    if (int err = log_.append({{"op", "audit"}, {"audit", line}}, false, false)) {
      throw HostError(kExitRunFailed, fmt::format("run store: cannot append to {}: {}", log_.log_path().string(),
                                                  std::strerror(err)));
    }
  }
  void sync() override {
    if (int err = log_.sync()) {
      throw HostError(kExitRunFailed,
                      fmt::format("run store: cannot sync {}: {}", log_.log_path().string(), std::strerror(err)));
    }
  }

 private:
  RunLog log_;
};

}  // namespace

AuditLog state_audit_log(const std::filesystem::path& state_dir, bool to_syslog) {
  const std::filesystem::path runs_dir = state_dir / "runs";
  return AuditLog(
      state_dir / "audit.jsonl", to_syslog,
      [runs_dir](std::uint64_t min_seq) { return RunLog(runs_dir).carried_audit_lines(min_seq); },
      [runs_dir] { return RunLog(runs_dir).open_carried_copies(); },
      [runs_dir]() -> std::unique_ptr<AuditLog::Carrier> { return std::make_unique<AuditEntry>(runs_dir); });
}

}  // namespace dihya::host
