// SPDX-License-Identifier: AGPL-3.0-or-later
// `dihya-host rollback <run-id>`: undoes a finished or interrupted run from its
// journal. Safe to repeat: a rollback killed half-way is simply run again.
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <iostream>

#include <fmt/format.h>

#include "cli/commands.hpp"
#include "cli/common.hpp"
#include "cli/run_lifecycle.hpp"
#include "errors.hpp"
#include "loading/catalog.hpp"
#include "util/atomic_file.hpp"
#include "util/printable.hpp"
#include "runs/run_id.hpp"
#include "runs/run_lock.hpp"
#include "runs/run_store.hpp"

namespace dihya::host {
namespace {

// A finished run's log and report were moved into its record (their files
// removed, and the directory with them when nothing else was left in it, as
// for a run marked interrupted): put back first, the rollback's lines follow
// the run's, and the record written after it keeps both (`logs` and `show`).
void put_back_inlined(const RunStore& store, const std::string& id, const std::filesystem::path& run_dir) {
  const auto stored = store.load_stored(id);
  if (!stored) return;
  for (const auto& [name, text] : {std::pair{"log.txt", stored->log}, std::pair{"report.txt", stored->report}}) {
    std::error_code ec;
    if (!text || text->empty() || std::filesystem::exists(run_dir / name, ec)) continue;
    if (::mkdir(run_dir.c_str(), 0700) != 0 && errno != EEXIST) {
      throw state_error(fmt::format("cannot create {}: {}", run_dir.string(), std::strerror(errno)));
    }
    write_file_atomically(run_dir / name, *text, 0600);
  }
}

// Records the run as rolled back, `summary` saying how, and counts it in the
// metrics (the alert on rolled back runs hears of a manual rollback too).
void record_rolled_back(RunStore& store, const Settings& settings, RunRecord& record, const std::string& summary) {
  record.outcome = std::string(kOutcomeRolledBack);
  record.summary += " (rolled back: " + summary + ")";
  store.update(record);
  count_in_metrics(settings, {record});
}

// The journal says the rollback is done. A host stopped after that marker
// and before the rollback's end was recorded (its rollback.end audit line,
// then the record) left the run as it was (failed, interrupted): recorded
// here, under the plugin's lock, the audit line written unless it was.
void record_done_rollback(RunStore& store, const Settings& settings, const std::string& id) {
  auto record = store.load(id);
  if (!record || record->outcome == kOutcomeRolledBack) return;
  const std::string summary = "done, but its host stopped before recording it";
  AuditLog audit = state_audit_log(settings.state_dir, settings.audit_syslog);
  if (audit.last_event_of_run(id, "rollback.") != "rollback.end") {
    audit.append("rollback.end", {{"run_id", id}, {"plugin", record->plugin}, {"ok", true}, {"summary", summary}});
  }
  record_rolled_back(store, settings, *record, summary);
}

int say_already_rolled_back(const std::string& id, bool json) {
  if (json) {
    print_json({{"run_id", id}, {"ok", true}, {"already_rolled_back", true}, {"summary", "already rolled back"}});
  } else {
    std::cout << fmt::format("run {}: already rolled back\n", id);
  }
  return 0;
}

}  // namespace

int cmd_rollback(const Args& args, const Settings& given_settings) {
  CommandSpec spec;
  spec.usage = "dihya-host rollback <run-id> [--timeout SECONDS] [--grace SECONDS] [--memory-max SIZE] [--force] [--json]";
  spec.description =
      "Replays the run's journal through its plugin, newest entry first. Refuses a run that is\n"
      "still running. Running it again after a completed rollback does nothing but record it\n"
      "when its host stopped first; after an interrupted rollback it completes it (plugins'\n"
      "rollbacks are idempotent). Refuses, unless --force, when the plugin file's sha256\n"
      "differs from the one the run recorded: another build may read the journal differently.";
  spec.options.add_options()("timeout", po::value<double>(),
                             "seconds before the rollback is cancelled (default: the plugin's timeout_seconds)")(
      "grace", po::value<double>(), "seconds between the cancellation (SIGTERM) and SIGKILL (default 5)")(
      "force", "roll back even though the plugin file changed since the run")("json", "print JSON");
  add_memory_option(spec);
  add_run_id_argument(spec);
  auto vm = parse_command(args, spec);
  if (!vm) return 0;
  const Settings settings = with_memory_option(given_settings, *vm);
  const std::string id = (*vm)["run-id"].as<std::string>();
  if (!is_valid_run_id(id)) throw usage_error(fmt::format("'{}' is not a run id (see dihya-host history)", id));
  RollbackLimits limits;
  if (vm->count("timeout")) limits.timeout = checked_seconds((*vm)["timeout"].as<double>(), "--timeout");
  if (vm->count("grace")) limits.grace = checked_seconds((*vm)["grace"].as<double>(), "--grace");

  prepare_state_dir(settings);
  RunStore store(settings.state_dir / "runs");
  count_in_metrics(settings, store.mark_interrupted_runs());
  count_in_metrics(settings, remove_abandoned_work_dirs(settings.state_dir, store));
  auto record = store.load(id);
  if (!record) throw usage_error(fmt::format("no run {} (see dihya-host history)", id));
  // The record is read back from the state dir: it names the plugin by name
  // (run records hold plugin.name()), never by path, or an edited record
  // would roll back with whatever file it points to.
  if (!is_plugin_name(record->plugin)) {
    throw state_error(fmt::format("run {}: its record names the plugin '{}', which is not a plugin name; the record "
                                  "is damaged and nothing was rolled back",
                                  id, printable(record->plugin, 80)));
  }
  if (record->outcome == kOutcomeRunning) {
    throw usage_error(fmt::format("run {} is still running (host pid {}); stop it first", id, record->pid_of_host));
  }
  const auto run_dir = store.dir(id);
  // The rollback writes into the run's directory (its log, the journal's
  // rollback marker): one replaced by a symlink would have it write wherever
  // the link points, as root as often as not.
  struct stat dir_status{};
  if (::lstat(run_dir.c_str(), &dir_status) == 0 && !S_ISDIR(dir_status.st_mode)) {
    throw state_error(fmt::format("run {}: {} is not a directory (a symlink or a file in its place); nothing was "
                                  "rolled back",
                                  id, run_dir.string()));
  }
  const JournalContents contents = read_journal(run_dir / "journal.jsonl");
  if (contents.rollback_done) {
    if (record->outcome != kOutcomeRolledBack) {
      const auto lock = PluginLock::acquire_wait(settings.state_dir / "locks", record->plugin, id);
      record_done_rollback(store, settings, id);
    }
    return say_already_rolled_back(id, vm->count("json") != 0);
  }
  // Nothing journalled, nothing to undo, and no plugin needed to undo it. An
  // interrupted run's directory may be gone already (marking it interrupted
  // moved its log into the record and recycled the directory): putting the
  // log back into it failed, at every retry, and the run stayed interrupted,
  // which `history prune` never removes.
  if (contents.entries.empty()) {
    const std::string summary = "nothing to roll back (the journal is empty)";
    if (record->outcome == kOutcomeInterrupted) {
      put_back_inlined(store, id, run_dir);
      record_rolled_back(store, settings, *record, summary);
    }
    if (vm->count("json")) {
      print_json({{"run_id", id}, {"ok", true}, {"summary", summary}, {"result", nlohmann::json::object()}});
    } else {
      std::cout << fmt::format("run {}: rolled back: {}\n", id, summary);
    }
    return 0;
  }

  PluginCatalog catalog(settings);
  const PluginFile plugin = catalog.find(record->plugin);
  if (plugin.version() != record->plugin_version) {
    std::cerr << printable(fmt::format("dihya-host: warning: run {} used {} {}, rolling back with {}", id,
                                       record->plugin, record->plugin_version, plugin.version()),
                           std::string::npos)
              << "\n";
  }
  const std::string sha256 = catalog.sha256(plugin);
  if (!record->plugin_sha256.empty() && sha256 != record->plugin_sha256) {
    std::cerr << printable(fmt::format("dihya-host: warning: {} is not the file run {} used (sha256 {}, the run "
                                       "recorded {})",
                                       plugin.path.string(), id, sha256, record->plugin_sha256),
                           std::string::npos)
              << "\n";
    if (!vm->count("force")) {
      throw usage_error(fmt::format("run {}: the plugin file changed since the run; nothing was rolled back "
                                    "(use --force to roll back with this file)", id));
    }
  }
  // As `run`: a rollback that never returns is cancelled, not waited for.
  if (!limits.timeout && plugin.metadata.contains("timeout_seconds") && plugin.metadata["timeout_seconds"].is_number()) {
    limits.timeout = checked_seconds(plugin.metadata["timeout_seconds"].get<double>(), "timeout_seconds");
  }
  // Rolling back while another run of the plugin works on the same data would race it.
  const auto lock = PluginLock::acquire_wait(settings.state_dir / "locks", plugin.name(), id);
  // `history prune` holds the lock while it removes a run with a journal: one
  // that held it meanwhile may have removed this run.
  if (!store.load(id)) {
    throw usage_error(fmt::format("run {} was pruned meanwhile (history prune); nothing was rolled back", id));
  }
  // Another `rollback` of this run may have held the lock meanwhile: done then.
  if (read_journal(run_dir / "journal.jsonl").rollback_done) {
    record_done_rollback(store, settings, id);
    return say_already_rolled_back(id, vm->count("json") != 0);
  }
  put_back_inlined(store, id, run_dir);
  Redactor redactor;
  AuditLog audit = state_audit_log(settings.state_dir, settings.audit_syslog);
  ProgressBar bar(stderr_is_interactive());
  RunSink sink(run_dir / "log.txt", run_dir / "journal.jsonl", redactor, settings.log_style, bar);
  // The run's recorded parameters (secrets redacted, paths intact): the
  // rollback's sandbox grants the paths the run was granted.
  ResolvedParams recorded;
  recorded.values = record->params.is_object() ? record->params : nlohmann::json::object();
  const RollbackReport report = roll_back_run(plugin, settings, id, run_dir, recorded, record->sandbox, redactor, audit, sink, limits);

  // The run counted once more, under what its rollback made of it: the
  // alert on rolled_back and rollback_failed hears of a manual one too.
  if (report.ok && !report.nothing_to_do) {
    record_rolled_back(store, settings, *record, report.summary);
  } else if (!report.nothing_to_do) {
    RunRecord counted = *record;
    counted.outcome = std::string(kOutcomeRollbackFailed);
    count_in_metrics(settings, {counted});
  }
  if (vm->count("json")) {
    print_json({{"run_id", id}, {"ok", report.ok}, {"summary", report.summary}, {"result", report.data}});
  } else {
    const std::string text = printable_text(report.text);
    std::cout << text << (text.empty() || text.back() == '\n' ? "" : "\n");
    std::cout << printable_text(
        fmt::format("run {}: {}\n", id, report.ok ? "rolled back: " + report.summary : "rollback FAILED: " + report.summary));
  }
  return report.ok ? 0 : kExitRunFailed;
}

}  // namespace dihya::host
