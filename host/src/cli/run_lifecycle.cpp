// SPDX-License-Identifier: AGPL-3.0-or-later
#include "cli/run_lifecycle.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <algorithm>
#include <chrono>
#include <iostream>
#include <iterator>
#include <map>

#include <dihya/error.hpp>
#include <dihya/utf8.hpp>
#include <fmt/format.h>

#include "cli/common.hpp"
#include "cli/plugin_ops.hpp"
#include "errors.hpp"
#include "metrics/textfile.hpp"
#include "util/printable.hpp"
#include "util/trusted_path.hpp"
#include "runs/run_id.hpp"
#include "runs/run_record.hpp"

namespace dihya::host {
namespace {

const char* level_name(dihya::LogLevel level) {
  switch (level) {
    case dihya::LogLevel::debug: return "debug";
    case dihya::LogLevel::info: return "info";
    case dihya::LogLevel::warn: return "warn";
    case dihya::LogLevel::error: return "error";
  }
  return "info";
}

const char* level_colour(const char* level) {
  const std::string_view l(level);
  if (l == "error") return "\033[31m";
  if (l == "warn") return "\033[33m";
  if (l == "debug") return "\033[2m";
  if (l == "host") return "\033[36m";
  return "\033[32m";
}

RollbackReport failed_rollback(std::string summary) {
  RollbackReport report;
  report.summary = std::move(summary);
  return report;
}

}  // namespace

RunSink::RunSink(const std::filesystem::path& log_file, std::filesystem::path journal_file, const Redactor& redactor,
                 const LogStyle& style, ProgressBar& bar)
    : log_file_(log_file),
      journal_file_(std::move(journal_file)),
      redactor_(redactor),
      style_(style),
      colour_(!style.json && stderr_is_interactive()),
      bar_(bar) {
  if (std::filesystem::exists(journal_file_)) {
    journal_.emplace(RunJournal::reopen(journal_file_));
    std::error_code ec;
    const auto size = std::filesystem::file_size(journal_file_, ec);
    journal_bytes_ = ec ? 0 : size;
  }
}

RunSink::~RunSink() {
  flush_output();
  if (log_ != nullptr) std::fclose(log_);
}

void RunSink::write_line(const char* level, const std::string& text, bool echo) {
  write_redacted_line(level, redactor_.redact(text), echo);
}

void RunSink::write_redacted_line(const char* level, const std::string& text, bool echo) {
  // One line of text, whatever the plugin wrote: control characters (C0,
  // C1: a CSI would drive the terminal; a newline would forge a log line) and
  // invalid UTF-8 escaped, for the terminal and log.txt alike.
  const std::string clean = printable(text, std::string::npos);
  const std::string time = format_iso_utc(std::chrono::system_clock::now());
  if (!log_opened_) {
    // Opened on the first line, not with the run: a noop run would create
    // the file only for the end of the run to delete it again.
    log_opened_ = true;
    int fd = ::open(log_file_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0600);
    if (fd >= 0 && (log_ = ::fdopen(fd, "a")) == nullptr) ::close(fd);
  }
  if (log_ != nullptr) {
    std::fprintf(log_, "%s %-5s %s\n", time.c_str(), level, clean.c_str());
    std::fflush(log_);
  }
  if (!echo) return;
  bar_.clear();
  if (style_.json) {
    const nlohmann::json line{{"time", time}, {"level", level}, {"message", clean}};
    std::fprintf(stderr, "%s\n", line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
  } else if (colour_) {
    std::fprintf(stderr, "%s[%s]\033[0m %s\n", level_colour(level), level, clean.c_str());
  } else {
    std::fprintf(stderr, "[%s] %s\n", level, clean.c_str());
  }
}

void RunSink::on_log(dihya::LogLevel level, const std::string& message) {
  // Counted as received, before redaction: a flood past the budget costs
  // the host no redaction, and no byte of log.txt or of the terminal.
  if (log_dropped_) return;
  log_spent_ += std::min(message.size(), kMaxLogBytes) + kLogLineCost;
  if (log_spent_ > kMaxLogBytes) {
    log_dropped_ = true;
    flush_output();
    write_line("host", fmt::format("plugin log beyond {} MiB dropped", kMaxLogBytes >> 20), true);
    return;
  }
  bool echo = true;
  switch (style_.verbosity) {
    case LogStyle::Verbosity::quiet: echo = level == dihya::LogLevel::warn || level == dihya::LogLevel::error; break;
    case LogStyle::Verbosity::normal: echo = level != dihya::LogLevel::debug; break;
    case LogStyle::Verbosity::verbose: break;
  }
  // Cut after redaction: a secret across the cut is masked whole.
  write_redacted_line(level_name(level), cut_text(redactor_.redact(message), kMaxLogMessage), echo);
}

void RunSink::reset_log_budget() {
  log_spent_ = 0;
  log_dropped_ = false;
}

void RunSink::on_output(const std::string& line) {
  output_pending_ += line;
  output_pending_ += '\n';
  const std::size_t done = redactor_.redact_prefix(output_pending_, false, &output_ready_);
  output_pending_.erase(0, done);
  emit_output_lines();
}

void RunSink::emit_output_lines() {
  std::size_t begin = 0;
  for (std::size_t end; (end = output_ready_.find('\n', begin)) != std::string::npos; begin = end + 1) {
    write_line("out", output_ready_.substr(begin, end - begin), style_.verbosity == LogStyle::Verbosity::verbose);
  }
  output_ready_.erase(0, begin);
}

void RunSink::flush_output() {
  redactor_.redact_prefix(output_pending_, true, &output_ready_);
  output_pending_.clear();
  if (!output_ready_.empty() && output_ready_.back() != '\n') output_ready_ += '\n';
  emit_output_lines();
}

void RunSink::on_progress(std::uint64_t done, std::uint64_t total, const std::string& what) {
  bar_.update(done, total, redactor_.redact(what));
}

void RunSink::on_journal(const dihya::UndoEntry& entry) {
  std::string line = RunJournal::encode(journal_entries(), entry, journal_file_);
  const std::uint64_t size = line.size() + 1;
  std::string refusal;
  if (journal_entries() >= kMaxJournalEntries) {
    refusal = fmt::format("entry refused: the run's journal holds {} entries, its limit", kMaxJournalEntries);
  } else if (journal_bytes_ + size > kMaxJournalBytes) {
    refusal = fmt::format("entry of {:.1f} MiB refused: the run's journal would pass its limit of {} MiB "
                          "({:.1f} MiB recorded)",
                          size / 1048576.0, kMaxJournalBytes >> 20, journal_bytes_ / 1048576.0);
  }
  if (!refusal.empty()) {
    note("journal " + refusal);
    throw dihya::Error(refusal);
  }
  // The journal keeps entries as recorded (the rollback reads them back):
  // a secret in one is on disk in clear. Said once, without the secret.
  const bool secret = !journal_secret_said_ && !redactor_.empty() && redactor_.redact(line) != line;
  if (!journal_) journal_.emplace(RunJournal::create(journal_file_));
  journal_->append_entry(std::move(line));
  journal_bytes_ += size;
  if (secret) {
    journal_secret_said_ = true;
    note(fmt::format("warning: journal entry {} holds a secret, kept in clear in {} (mode 0600) for the rollback; "
                     "a plugin should journal only what undoing its step needs",
                     journal_entries(), journal_file_.string()));
  }
}

void RunSink::note(const std::string& message) {
  flush_output();
  write_line("host", message, true);
}

RollbackReport roll_back_run(const PluginFile& plugin, const Settings& settings, const std::string& run_id,
                             const std::filesystem::path& run_dir, const ResolvedParams& params,
                             const nlohmann::json& run_sandbox, Redactor& redactor, AuditLog& audit, RunSink& sink,
                             const RollbackLimits& limits) {
  // What can fail before the rollback is marked started fails it without
  // a mark: nothing was tried, `dihya-host rollback` can start it later.
  const auto journal_file = run_dir / "journal.jsonl";
  std::optional<RunJournal> journal;
  std::optional<ScratchDir> work;
  ChildRequest request;
  try {
    JournalContents contents = read_journal(journal_file);
    if (contents.entries.empty()) {
      RollbackReport report;
      report.ok = true;
      report.nothing_to_do = true;
      report.summary = "nothing to roll back (the journal is empty)";
      return report;
    }
    journal.emplace(RunJournal::reopen(journal_file));
    request = prepare_child_request(plugin, settings, Operation::rollback, params, redactor);
    request.run_id = run_id;
    // Moved, not copied: the entries are most of the host's memory here.
    request.undo_entries.assign(std::make_move_iterator(contents.entries.rbegin()),
                                std::make_move_iterator(contents.entries.rend()));
    // rollback() is not given parameters; the sandbox plan is built from them
    // (the paths the run was granted).
    request.params = params.values;
    if (run_sandbox.is_object() && run_sandbox.contains("rules") && run_sandbox["rules"].is_array()) {
      for (const auto& rule : run_sandbox["rules"]) {
        if (rule.is_object() && rule.value("access", "") == "write" && rule.contains("why") && rule["why"].is_string() &&
            rule.contains("path") && rule["path"].is_string()) {
          request.run_write_grants.emplace_back(rule["why"].get<std::string>(), rule["path"].get<std::string>());
        }
      }
    }
    // Not the run's work dir: after the run a concurrent `run` may sweep it.
    // On a full disk (TMPDIR on the state dir's filesystem) this is what fails.
    work.emplace();
    request.work_dir = work->path();
  } catch (const std::exception& e) {
    auto report = failed_rollback(cut_summary(redactor.redact(fmt::format("cannot start the rollback: {}", e.what()))));
    sink.note(fmt::format("rollback FAILED: {}", report.summary));
    return report;
  }
  const std::size_t entries = request.undo_entries.size();
  bool started = false;
  RollbackReport report;
  try {
    hold_cancel_signals();  // a rollback marked started is finished by supervise(), cancelled or not
    journal->mark_rollback_started();
    started = true;
    audit.append("rollback.start", {{"run_id", run_id}, {"plugin", plugin.name()}, {"entries", entries}});
    sink.note(fmt::format("rolling back {} journal entr{}", entries, entries == 1 ? "y" : "ies"));
    SupervisorOptions options;
    options.timeout = limits.timeout;
    if (limits.grace) options.grace = *limits.grace;
    sink.reset_log_budget();
    const ChildOutcome outcome = supervise(request, options, sink);

    report.ok = outcome.kind == ChildOutcome::Kind::completed && outcome.result.value("ok", false);
    report.summary = cut_summary(redactor.redact(
        outcome.kind == ChildOutcome::Kind::completed ? outcome.result.value("summary", "") : outcome.message));
    if (outcome.kind == ChildOutcome::Kind::completed) {
      report.text = redactor.redact(outcome.result.value("report", ""));
      std::string dropped;
      report.data =
          bounded_result_data(redact_strings(outcome.result.value("data", nlohmann::json::object()), redactor), &dropped);
      if (!dropped.empty()) sink.note(dropped);
    }
    if (report.ok) journal->mark_rollback_done();
  } catch (const std::exception& e) {
    report = failed_rollback(cut_summary(redactor.redact(fmt::format("rollback stopped: {}", e.what()))));
  }
  if (started) {
    try {
      audit.append("rollback.end",
                   {{"run_id", run_id}, {"plugin", plugin.name()}, {"ok", report.ok}, {"summary", report.summary}});
    } catch (const std::exception& e) {
      // The rollback happened (or failed) all the same: say so, and that the log lacks its end.
      report.summary = cut_summary(report.summary + fmt::format("; its rollback.end audit entry was not written: {}",
                                                                redactor.redact(e.what())));
    }
  }
  sink.note(fmt::format("rollback {}: {}", report.ok ? "done" : "FAILED", report.summary));
  return report;
}

std::filesystem::path run_work_dir(const std::filesystem::path& state_dir, const std::string& run_id) {
  return state_dir / "work" / run_id;
}

UniqueFd make_run_work_dir(const std::filesystem::path& state_dir, const std::string& run_id, SpareDirs& spares) {
  const auto dir = run_work_dir(state_dir, run_id);
  const auto root = dir.parent_path();
  make_own_subdir(root, "work directory");
  UniqueFd held;
  const int err = spares.make_held(dir, &held);
  if (err != 0 && err != EEXIST) {
    throw HostError(kExitRunFailed, fmt::format("cannot make the work directory {}: {}", dir.string(), std::strerror(err)));
  }
  // The plugin writes secrets there (pgpass): never through a planted link.
  if (!is_own_dir(dir)) {
    throw HostError(kExitRunFailed, fmt::format("work directory {} is not a directory of yours (a symlink?); "
                                                "remove it", dir.string()));
  }
  if (!held) {
    throw HostError(kExitRunFailed, fmt::format("work directory {} exists already", dir.string()));
  }
  return held;
}

std::vector<RunRecord> remove_abandoned_work_dirs(const std::filesystem::path& state_dir, RunStore& store) {
  std::vector<RunRecord> interrupted;
  std::error_code ec;
  for (std::filesystem::directory_iterator it(state_dir / "work", ec), end; !ec && it != end; it.increment(ec)) {
    const std::string id = it->path().filename().string();
    if (!is_valid_run_id(id)) continue;
    // Held by its run: alive, nothing to read. (With many runs at once,
    // reading each one's record at every start made starts O(runs in progress).)
    UniqueFd held(::open(it->path().c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    // Gone since the listing (its run ended and recycled it): nothing to do.
    if (!held && errno == ENOENT) continue;
    if (held && ::flock(held.get(), LOCK_EX | LOCK_NB) != 0) continue;
    std::optional<RunRecord> record;
    try {
      // Its host died (kill -9, a crash): the next command is the first to
      // know, and says so in the metrics, or no alert on interrupted runs fired.
      if (auto marked = store.mark_interrupted(id)) {
        interrupted.push_back(std::move(*marked));
      } else {
        record = store.load(id);
      }
    } catch (const std::exception&) {
      continue;  // an unreadable record: leave its files for the operator
    }
    if (record && record->outcome == kOutcomeRunning) continue;
    std::error_code ignored;
    std::filesystem::remove_all(it->path(), ignored);
  }
  return interrupted;
}

void count_in_metrics(const Settings& settings, const std::vector<RunRecord>& records) {
  if (!settings.metrics_dir) return;
  for (const auto& record : records) {
    try {
      count_run_outcome(*settings.metrics_dir, settings.state_dir, record);
    } catch (const HostError& e) {
      std::cerr << fmt::format("dihya-host: warning: metrics not written: {}\n", e.what());
    }
  }
}

nlohmann::json redact_strings(const nlohmann::json& value, const Redactor& redactor) {
  if (value.is_string()) return redactor.redact(value.get_ref<const std::string&>());
  if (value.is_array()) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& item : value) out.push_back(redact_strings(item, redactor));
    return out;
  }
  if (!value.is_object()) return value;
  // A key may be a secret too (a plugin's data keyed by a user name or a
  // token). Two keys may redact alike ("k-s1", "k-s2" → "k-***"): neither
  // value may silently replace the other.
  nlohmann::json out = nlohmann::json::object();
  std::map<std::string, std::size_t> next_suffix;  // a key already taken → the suffix to try next
  for (auto it = value.begin(); it != value.end(); ++it) {
    std::string key = redactor.redact(it.key());
    if (out.contains(key)) {
      std::size_t& n = next_suffix.try_emplace(key, 2).first->second;
      std::string candidate;
      do {
        candidate = fmt::format("{} ({})", key, n++);
      } while (out.contains(candidate));
      key = std::move(candidate);
    }
    out[key] = redact_strings(it.value(), redactor);
  }
  return out;
}

std::string cut_text(std::string text, std::size_t max_bytes) {
  if (text.size() <= max_bytes) return text;
  const std::size_t size = text.size();
  text.resize(dihya::utf8_prefix(text, max_bytes).size());
  text += fmt::format(" [... cut: {} bytes in all]", size);
  return text;
}

nlohmann::json bounded_result_data(nlohmann::json data, std::string* note) {
  const std::size_t size = data.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).size();
  if (size <= kMaxResultDataBytes) return data;
  *note = fmt::format("the plugin's result data ({} bytes of JSON) was dropped: a run record keeps at most {} MiB",
                      size, kMaxResultDataBytes >> 20);
  return {{"data_dropped", *note}};
}

}  // namespace dihya::host
