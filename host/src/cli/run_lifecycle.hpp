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
  void on_journal(const dihya::UndoEntry& entry) override;

  // Host-side notes in the same log ("rollback started").
  void note(const std::string& message);
  std::uint64_t journal_entries() const { return journal_ ? journal_->entry_count() : 0; }

 private:
  void write_line(const char* level, const std::string& text, bool echo);
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

// Rolls back the run whose files are in `run_dir` using `plugin`. Records
// rollback.start/rollback.end in the audit log. Never throws for a plugin
// failure: that is a report with ok = false. `params` are the run's when the
// rollback follows it in the same process (their secrets are blanked from the
// child's environment and given to it), empty for a later `rollback`; the
// child's secrets are added to `redactor`, which `sink` must share.
RollbackReport roll_back_run(const PluginFile& plugin, const Settings& settings, const std::string& run_id,
                             const std::filesystem::path& run_dir, const ResolvedParams& params, Redactor& redactor,
                             AuditLog& audit, RunSink& sink, std::optional<std::chrono::milliseconds> timeout);

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
void remove_abandoned_work_dirs(const std::filesystem::path& state_dir, const RunStore& store);

// `value` with every string inside passed through the redactor.
nlohmann::json redact_strings(const nlohmann::json& value, const Redactor& redactor);

}  // namespace dihya::host
