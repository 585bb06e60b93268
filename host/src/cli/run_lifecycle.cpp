// SPDX-License-Identifier: AGPL-3.0-or-later
#include "cli/run_lifecycle.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <chrono>

#include <fmt/format.h>

#include "cli/common.hpp"
#include "cli/plugin_ops.hpp"
#include "errors.hpp"
#include "util/printable.hpp"
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

}  // namespace

RunSink::RunSink(const std::filesystem::path& log_file, std::filesystem::path journal_file, const Redactor& redactor,
                 const LogStyle& style, ProgressBar& bar)
    : log_file_(log_file),
      journal_file_(std::move(journal_file)),
      redactor_(redactor),
      style_(style),
      colour_(!style.json && stderr_is_interactive()),
      bar_(bar) {
  if (std::filesystem::exists(journal_file_)) journal_.emplace(RunJournal::reopen(journal_file_));
}

RunSink::~RunSink() {
  flush_output();
  if (log_ != nullptr) std::fclose(log_);
}

void RunSink::write_line(const char* level, const std::string& text, bool echo) {
  // One line of text, whatever the plugin wrote: control characters (C0,
  // C1: a CSI would drive the terminal; a newline would forge a log line) and
  // invalid UTF-8 escaped, for the terminal and log.txt alike.
  const std::string clean = printable(redactor_.redact(text), std::string::npos);
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
  bool echo = true;
  switch (style_.verbosity) {
    case LogStyle::Verbosity::quiet: echo = level == dihya::LogLevel::warn || level == dihya::LogLevel::error; break;
    case LogStyle::Verbosity::normal: echo = level != dihya::LogLevel::debug; break;
    case LogStyle::Verbosity::verbose: break;
  }
  write_line(level_name(level), message, echo);
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
  if (!journal_) journal_.emplace(RunJournal::create(journal_file_));
  journal_->record(entry);
}

void RunSink::note(const std::string& message) {
  flush_output();
  write_line("host", message, true);
}

RollbackReport roll_back_run(const PluginFile& plugin, const Settings& settings, const std::string& run_id,
                             const std::filesystem::path& run_dir, const ResolvedParams& params, Redactor& redactor,
                             AuditLog& audit, RunSink& sink, std::optional<std::chrono::milliseconds> timeout) {
  const auto journal_file = run_dir / "journal.jsonl";
  const JournalContents contents = read_journal(journal_file);
  RollbackReport report;
  if (contents.entries.empty()) {
    report.ok = true;
    report.nothing_to_do = true;
    report.summary = "nothing to roll back (the journal is empty)";
    return report;
  }
  RunJournal journal = RunJournal::reopen(journal_file);
  hold_cancel_signals();  // a rollback marked started is finished by supervise(), cancelled or not
  journal.mark_rollback_started();
  audit.append("rollback.start", {{"run_id", run_id}, {"plugin", plugin.name()}, {"entries", contents.entries.size()}});
  sink.note(fmt::format("rolling back {} journal entr{}", contents.entries.size(), contents.entries.size() == 1 ? "y" : "ies"));

  ChildRequest request = prepare_child_request(plugin, settings, Operation::rollback, params, redactor);
  request.run_id = run_id;
  request.undo_entries.assign(contents.entries.rbegin(), contents.entries.rend());
  // rollback() is not given parameters; the sandbox plan is built from them
  // (the paths the run was granted).
  request.params = params.values;
  // Not the run's work dir: after the run a concurrent `run` may sweep it.
  const ScratchDir work;
  request.work_dir = work.path();
  SupervisorOptions options;
  options.timeout = timeout;
  const ChildOutcome outcome = supervise(request, options, sink);

  report.ok = outcome.kind == ChildOutcome::Kind::completed && outcome.result.value("ok", false);
  report.summary = redactor.redact(outcome.kind == ChildOutcome::Kind::completed ? outcome.result.value("summary", "")
                                                                                   : outcome.message);
  if (outcome.kind == ChildOutcome::Kind::completed) {
    report.text = redactor.redact(outcome.result.value("report", ""));
    report.data = redact_strings(outcome.result.value("data", nlohmann::json::object()), redactor);
  }
  if (report.ok) journal.mark_rollback_done();
  audit.append("rollback.end", {{"run_id", run_id}, {"plugin", plugin.name()}, {"ok", report.ok}, {"summary", report.summary}});
  sink.note(fmt::format("rollback {}: {}", report.ok ? "done" : "FAILED", report.summary));
  return report;
}

std::filesystem::path run_work_dir(const std::filesystem::path& state_dir, const std::string& run_id) {
  return state_dir / "work" / run_id;
}

UniqueFd make_run_work_dir(const std::filesystem::path& state_dir, const std::string& run_id, SpareDirs& spares) {
  const auto dir = run_work_dir(state_dir, run_id);
  const auto root = dir.parent_path();
  UniqueFd held;
  for (const auto& d : {root, dir}) {
    const int err = d == root ? (::mkdir(d.c_str(), 0700) == 0 ? 0 : errno) : spares.make_held(d, &held);
    if (err != 0 && err != EEXIST) {
      throw HostError(kExitRunFailed, fmt::format("cannot make the work directory {}: {}", d.string(), std::strerror(err)));
    }
    // The plugin writes secrets there (pgpass): never through a planted link.
    struct stat st{};
    if (::lstat(d.c_str(), &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != ::geteuid()) {
      throw HostError(kExitRunFailed, fmt::format("work directory {} is not a directory of yours (a symlink?); "
                                                  "remove it", d.string()));
    }
  }
  if (!held) {
    throw HostError(kExitRunFailed, fmt::format("work directory {} exists already", dir.string()));
  }
  return held;
}

void remove_abandoned_work_dirs(const std::filesystem::path& state_dir, const RunStore& store) {
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
      record = store.load(id);
    } catch (const std::exception&) {
      continue;  // an unreadable record: leave its files for the operator
    }
    if (record && record->outcome == kOutcomeRunning) continue;
    std::error_code ignored;
    std::filesystem::remove_all(it->path(), ignored);
  }
}

nlohmann::json redact_strings(const nlohmann::json& value, const Redactor& redactor) {
  if (value.is_string()) return redactor.redact(value.get<std::string>());
  if (value.is_array() || value.is_object()) {
    nlohmann::json out = value;
    for (auto& item : out) item = redact_strings(item, redactor);
    return out;
  }
  return value;
}

}  // namespace dihya::host
