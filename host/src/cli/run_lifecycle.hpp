// SPDX-License-Identifier: AGPL-3.0-or-later
// What `run` and `rollback` share: the sink that writes a run's events to its
// log (redacted), the terminal and its journal, and the rollback procedure
// that replays a run's journal through the plugin, newest entry first, with
// durable markers so that an interrupted rollback can simply be run again.
#pragma once

#include <cstdio>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "audit/audit_log.hpp"
#include "cli/progress_bar.hpp"
#include "config/settings.hpp"
#include "journal/run_journal.hpp"
#include "loading/plugin_file.hpp"
#include "params/redaction.hpp"
#include "util/unique_fd.hpp"
#include "runs/run_store.hpp"
#include "supervise/supervisor.hpp"

namespace dihya::host {

class RunSink final : public EventSink {
 public:
  // `log_file` is created on the first line and `journal_file` on the first
  // entry: a run that says nothing and changes nothing creates neither.
  RunSink(const std::filesystem::path& log_file, std::filesystem::path journal_file, const Redactor& redactor,
          const LogStyle& style, ProgressBar& bar);
  ~RunSink() override;
  RunSink(const RunSink&) = delete;
  RunSink& operator=(const RunSink&) = delete;

  void on_log(dihya::LogLevel level, const std::string& message) override;
  void on_output(const std::string& line) override;
  void on_progress(std::uint64_t done, std::uint64_t total, const std::string& what) override;
  // Refuses (throws dihya::Error, which the plugin's record() rethrows, so
  // the step it guards is not performed) an entry that would take the
  // journal past kMaxJournalBytes or kMaxJournalEntries: rolling back reads
  // the whole journal into the host's memory, several times its size.
  void on_journal(const dihya::UndoEntry& entry) override;

  // Host-side notes in the same log ("rollback started").
  void note(const std::string& message);
  std::uint64_t journal_entries() const { return journal_ ? journal_->entry_count() : 0; }
  // Each child (the run, then its rollback) may log kMaxLogBytes: the
  // rollback's lines are kept even after the run spent its budget.
  void reset_log_budget();

  // What one child may send through ctx.log(), counted as each message's
  // bytes plus kLogLineCost (a flood of empty messages costs lines too);
  // beyond it messages are dropped, with one notice. Each message kept is
  // cut at kMaxLogMessage bytes.
  static constexpr std::size_t kMaxLogBytes = 4u << 20;
  static constexpr std::size_t kLogLineCost = 64;
  static constexpr std::size_t kMaxLogMessage = 16u << 10;
  static constexpr std::uint64_t kMaxJournalBytes = dihya::host::kMaxJournalBytes;
  static constexpr std::uint64_t kMaxJournalEntries = 1000000;

 private:
  void write_line(const char* level, const std::string& text, bool echo);
  // write_line() of text already redacted.
  void write_redacted_line(const char* level, const std::string& text, bool echo);
  // The plugin's output is redacted as a stream, not line by line: a
  // multi-line secret (a PEM key read through @file:) is held back until it
  // can be masked as a whole. flush_output() writes what is held.
  void emit_output_lines();
  void flush_output();

  std::filesystem::path log_file_;
  std::FILE* log_ = nullptr;
  bool log_opened_ = false;  // tried once: a log that cannot be opened is not retried per line
  std::filesystem::path journal_file_;
  std::optional<RunJournal> journal_;
  std::uint64_t journal_bytes_ = 0;  // the journal file's size, as far as this sink knows
  std::size_t log_spent_ = 0;        // of kMaxLogBytes, by the current child
  bool log_dropped_ = false;         // the notice is written once per child
  bool journal_secret_said_ = false; // on_journal's warning, once per run
  const Redactor& redactor_;
  std::string output_pending_;  // output that may still turn out to hold a secret
  std::string output_ready_;    // redacted output not yet written (no newline yet)
  LogStyle style_;
  bool colour_;
  ProgressBar& bar_;
};

struct RollbackReport {
  bool ok = false;
  bool nothing_to_do = false;
  std::string summary;
  std::string text;                              // the plugin's Result.report (e.g. files kept because edited)
  nlohmann::json data = nlohmann::json::object();  // the plugin's Result.data
};

// How long a rollback child may take: the timeout (none: no limit) and the
// grace between its SIGTERM and SIGKILL (none: the supervisor's default).
struct RollbackLimits {
  std::optional<std::chrono::milliseconds> timeout;
  std::optional<std::chrono::milliseconds> grace;
};

// Rolls back the run whose files are in `run_dir` using `plugin`. Records
// rollback.start/rollback.end in the audit log. Never throws: a plugin's
// failure, and a rollback that cannot start (no space for its work
// directory, an unreadable journal), are a report with ok = false, whose
// summary names the cause. `params` are the run's when the
// rollback follows it in the same process (their secrets are blanked from the
// child's environment and given to it), empty for a later `rollback`; the
// child's secrets are added to `redactor`, which `sink` must share.
// `run_sandbox` is the run's record of its sandbox: the rollback may write
// where the run was granted to create what it undoes.
RollbackReport roll_back_run(const PluginFile& plugin, const Settings& settings, const std::string& run_id,
                             const std::filesystem::path& run_dir, const ResolvedParams& params,
                             const nlohmann::json& run_sandbox, Redactor& redactor, AuditLog& audit, RunSink& sink,
                             const RollbackLimits& limits);

// A run's ctx.work_dir(): <state>/work/<run-id>, made 0700 (a spare, see
// runs/spare_dirs.hpp), removed or recycled when the run ends. Kept apart
// from the run records so that what a run whose host was killed left there
// (a pgpass file: the child dies with the host and cleans nothing) is found
// by listing one small directory. Returns the run's hold on it (flock on the
// directory, taken before the directory appears there) for as long as the
// descriptor lives, which is the host's life during the run. The kernel lets
// go when the host dies, however it dies, so a held dir belongs to a live
// run: remove_abandoned_work_dirs() passes it by without reading its record.
UniqueFd make_run_work_dir(const std::filesystem::path& state_dir, const std::string& run_id, SpareDirs& spares);
// Its path, before it is made (the sandbox is planned before anything is recorded).
std::filesystem::path run_work_dir(const std::filesystem::path& state_dir, const std::string& run_id);

// Removes the work dir of every run that is not running any more (ended, or
// interrupted: its host is gone). A dir its run still holds costs one failed
// non-blocking flock; only one nobody holds (abandoned, or a run between its
// mkdir and its hold) has its record read. `run` and `rollback` call it.
// A run whose host died is written down as interrupted on the way (under the
// dir's flock: once), and returned, for count_in_metrics().
std::vector<RunRecord> remove_abandoned_work_dirs(const std::filesystem::path& state_dir, RunStore& store);

// Counts in the metrics (when metrics_dir is set) runs whose outcome was
// written after they ended: found interrupted, rolled back by `rollback`.
// A failure is a warning: metrics never fail a command.
void count_in_metrics(const Settings& settings, const std::vector<RunRecord>& records);

// `value` with every string inside, and every object key, passed through
// the redactor. Keys that redact to the same text are all kept: the later
// ones (in key order) get " (2)", " (3)"... appended.
nlohmann::json redact_strings(const nlohmann::json& value, const Redactor& redactor);

// What a run record keeps of the plugin's words, so that the record, with
// the audit lines it carries (each quoting the summary, escaped again),
// stays far below the state log's line limit: a summary (the run's, the
// rollback's) of at most kMaxSummaryBytes, and result data whose JSON is at
// most kMaxResultDataBytes.
inline constexpr std::size_t kMaxSummaryBytes = 64u << 10;
inline constexpr std::size_t kMaxResultDataBytes = 4u << 20;

// `text` when it is at most `max_bytes` long; else its first `max_bytes` at
// most, cut on a UTF-8 character boundary, followed by " [... cut: N bytes
// in all]".
std::string cut_text(std::string text, std::size_t max_bytes);
inline std::string cut_summary(std::string text) { return cut_text(std::move(text), kMaxSummaryBytes); }

// `data` when its JSON is at most kMaxResultDataBytes, else an object that
// says it was dropped ({"data_dropped": "..."}); `note` receives that message.
nlohmann::json bounded_result_data(nlohmann::json data, std::string* note);

}  // namespace dihya::host
